//! The `Agent` class.

use harnext_core::Agent as CoreAgent;
use harnext_core::EventSink;
use harnext_core::Run;
use harnext_core::RunRequest;
use napi::bindgen_prelude::Either;
use napi::bindgen_prelude::Function;
use napi::bindgen_prelude::JsObjectValue;
use napi::bindgen_prelude::Object;
use napi::bindgen_prelude::PromiseRaw;
use napi::bindgen_prelude::Unknown;
use napi::Env;
use napi::Status;
use napi_derive::napi;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::abort;
use crate::callbacks::output_request;
use crate::callbacks::JsPermissionHandler;
use crate::events::RunResult;
use crate::options::agent_config;
use crate::options::run_input;
use crate::options::AgentOptions;
use crate::options::InputMessage;
use crate::stream::EventStream;
use harnext_core::output::DEFAULT_OUTPUT_RETRIES;
use harnext_core::permissions::PendingPermissions;
use std::sync::Arc;

fn invalid(message: impl std::fmt::Display) -> napi::Error {
    napi::Error::new(Status::InvalidArg, message.to_string())
}

/// A coding agent: a model, a workspace, tools, and the sessions of its runs.
#[napi]
pub struct Agent {
    inner: CoreAgent,
    permission_handler: Option<Arc<JsPermissionHandler>>,
}

/// A run ready to start, with the function that unlinks its abort signal.
pub(crate) struct Begun<'env> {
    pub run: Run,
    pub token: CancellationToken,
    pub unlink: Option<Function<'env, (), ()>>,
    /// Set when permission requests are answered with `respond()` on the events.
    pub pending: Option<Arc<PendingPermissions>>,
}

#[napi]
impl Agent {
    /// Bad options throw here with a message naming the option and what was expected.
    #[napi(constructor)]
    pub fn new(options: AgentOptions) -> napi::Result<Self> {
        let (config, on_permission_request) = agent_config(options).map_err(invalid)?;
        let inner = CoreAgent::new(config).map_err(invalid)?;
        Ok(Agent {
            inner,
            permission_handler: on_permission_request
                .map(|f| Arc::new(JsPermissionHandler::new(f))),
        })
    }

    /// The system prompt sent with every model call.
    #[napi(getter)]
    pub fn system_prompt(&self) -> String {
        self.inner.system_prompt().to_owned()
    }

    /// The workspace directory, resolved.
    #[napi(getter)]
    pub fn cwd(&self) -> String {
        self.inner.cwd().display().to_string()
    }

    /// Shuts down the agent's MCP servers: stdio servers get their stdin closed, then
    /// SIGTERM, then SIGKILL, and are gone when the promise resolves. A later run starts
    /// them again. Garbage collection of the agent kills them too.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let agent = self.inner.clone();
        env.spawn_future(async move {
            agent.close().await;
            Ok(())
        })
    }

    /// Runs the agent loop to the end. Resolves however the run ends (success, cancellation,
    /// provider error, max steps); rejects only for misuse detected before it starts.
    #[napi(
        ts_generic_types = "S extends OutputSchema | undefined = undefined",
        ts_args_type = "input: string | Message[], options?: RunOptions<S>",
        ts_return_type = "Promise<RunResult<OutputOf<S>>>"
    )]
    pub fn run<'env>(
        &self,
        env: &'env Env,
        input: Either<String, Vec<InputMessage>>,
        options: Option<Object<'env>>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let begun = match self.begin(env, input, options, false) {
            Ok(b) => b,
            Err(e) => return env.spawn_future(async move { Err::<Value, _>(e) }),
        };
        let unlink = begun.unlink.map(|f| f.create_ref()).transpose()?;
        let Begun { run, token, .. } = begun;
        env.spawn_future_with_callback(
            // Infallible, so that the callback (which removes the abort listener) always runs.
            async move { Ok(run.execute(token, EventSink::none()).await) },
            move |env, result| {
                if let Some(unlink) = unlink {
                    unlink.borrow_back(env)?.call(())?;
                }
                Ok(RunResult::from(result).to_js())
            },
        )
    }

    /// Streams the run's events. Returns at once; the run starts when iteration starts.
    /// Breaking out of `for await` cancels the run like an abort.
    #[napi(
        ts_generic_types = "S extends OutputSchema | undefined = undefined",
        ts_args_type = "input: string | Message[], options?: RunOptions<S>",
        ts_return_type = "AsyncIterable<AgentEvent>"
    )]
    pub fn stream<'env>(
        &self,
        env: &'env Env,
        input: Either<String, Vec<InputMessage>>,
        options: Option<Object<'env>>,
    ) -> napi::Result<EventStream> {
        match self.begin(env, input, options, true) {
            Ok(begun) => EventStream::new(begun),
            Err(e) => Ok(EventStream::failed(e)),
        }
    }
}

impl Agent {
    fn begin<'env>(
        &self,
        env: &'env Env,
        input: Either<String, Vec<InputMessage>>,
        options: Option<Object<'env>>,
        streaming: bool,
    ) -> napi::Result<Begun<'env>> {
        let input = run_input(input).map_err(invalid)?;
        let mut signal: Option<Unknown<'env>> = None;
        let mut request = RunRequest {
            input,
            session_id: None,
            max_steps: None,
            permission_handler: None,
            output: None,
        };
        let mut pending = None;
        match &self.permission_handler {
            Some(h) => request.permission_handler = Some(h.clone()),
            None if streaming => {
                let p = Arc::new(PendingPermissions::new());
                request.permission_handler = Some(p.clone());
                pending = Some(p);
            }
            None => {}
        }
        if let Some(o) = options {
            signal = o.get_named_property::<Option<Unknown<'env>>>("signal")?;
            request.session_id = o
                .get_named_property::<Option<String>>("sessionId")
                .map_err(|_| invalid("options.sessionId must be a string"))?;
            if let Some(v) = o
                .get_named_property::<Option<f64>>("maxSteps")
                .map_err(|_| invalid("options.maxSteps must be a number"))?
            {
                if v.fract() != 0.0 || !(1.0..=f64::from(u32::MAX)).contains(&v) {
                    return Err(invalid(format!(
                        "invalid option `maxSteps`: expected an integer >= 1, got {v}"
                    )));
                }
                // Checked above: an integer within u32's range.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let steps = v as u32;
                request.max_steps = Some(steps);
            }
            if let Some(spec) = o.get_named_property::<Option<Object<'env>>>("outputSchema")? {
                let retries = match o
                    .get_named_property::<Option<f64>>("maxOutputRetries")
                    .map_err(|_| invalid("options.maxOutputRetries must be a number"))?
                {
                    None => DEFAULT_OUTPUT_RETRIES,
                    Some(v) if v.fract() == 0.0 && (0.0..=100.0).contains(&v) => {
                        // Checked above: a small non-negative integer.
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        let n = v as u32;
                        n
                    }
                    Some(v) => {
                        return Err(invalid(format!(
                            "invalid option `maxOutputRetries`: expected an integer from 0 to 100, got {v}"
                        )))
                    }
                };
                request.output = Some(output_request(spec, retries)?);
            }
        }
        let run = self.inner.start(request).map_err(invalid)?;
        let token = CancellationToken::new();
        let unlink = abort::link(env, signal, &token)?;
        Ok(Begun {
            run,
            token,
            unlink,
            pending,
        })
    }
}

/// Internal: the built-in tool names, for `builtinTools` in index.js.
#[napi(skip_typescript)]
pub fn builtin_tool_names() -> Vec<String> {
    harnext_tools::BUILTIN_TOOL_NAMES
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}
