//! The `Agent` class: every method JavaScript sees, in one `#[napi] impl`. Each one
//! converts its arguments (`options.rs`, `sessions.rs`), calls the engine, and converts
//! the outcome back (`events.rs`); errors go through `error.rs`.

use std::sync::Arc;

use harnext_core::permissions::PendingPermissions;
use harnext_core::Agent as CoreAgent;
use harnext_core::EventSink;
use harnext_core::RunControl;
use napi::bindgen_prelude::Either3;
use napi::bindgen_prelude::Function;
use napi::bindgen_prelude::PromiseRaw;
use napi::Env;
use napi_derive::napi;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::callbacks::JsPermissionHandler;
use crate::error::Invalid;
use crate::error::OrJs;
use crate::events::RunResult;
use crate::events::SandboxStatus;
use crate::options::agent_config;
use crate::options::run_request;
use crate::options::AgentOptions;
use crate::options::ApprovalsInput;
use crate::options::InputMessage;
use crate::options::RunOptions;
use crate::sessions;
use crate::sessions::ForkSessionOptions;
use crate::sessions::SessionData;
use crate::sessions::SessionDirOptions;
use crate::sessions::SessionInfo;
use crate::store::Start;
use crate::stream::EventStream;

/// Options of `send()`.
#[napi(object)]
pub struct SendOptions {
    /// Also before the next tool call: the calls of the current turn that have not started
    /// are not run (status `cancelled`), and the model gets the message right after.
    pub urgent: Option<bool>,
}

/// Options of `rewind()`.
#[napi(object, object_to_js = false)]
pub struct RewindOptions {
    /// How many messages of `loadSession(sessionId).messages` to keep.
    pub to_message: f64,
    /// Leave the session as it is and start a new one from that point (the files are
    /// restored all the same); `sessionId` of the result is the new session.
    pub fork: Option<bool>,
}

/// A file `rewind()` could not put back.
#[napi(object)]
pub struct NotRestored {
    pub path: String,
    /// Why: not checkpointed (too large, binary, a limit reached, changed by a shell
    /// command in a workspace too large for the baseline), or the restore failed (a
    /// directory replaced by a link, a permission error).
    pub reason: String,
}

/// What `rewind()` did.
#[napi(object)]
pub struct RewindResult {
    /// The session that continues from the point: the rewound one, or the fork.
    pub session_id: String,
    /// The messages kept.
    pub to_message: u32,
    /// How many messages were cut from the conversation.
    pub messages_removed: u32,
    /// Files written back (content and permissions, or a link), relative to `cwd`, sorted.
    pub restored: Vec<String>,
    /// Files created after the point, removed, sorted.
    pub removed: Vec<String>,
    /// Files that could not be put back, with the reason.
    pub not_restored: Vec<NotRestored>,
}

impl From<harnext_core::RewindResult> for RewindResult {
    fn from(r: harnext_core::RewindResult) -> Self {
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        RewindResult {
            session_id: r.session_id,
            to_message: n(r.to_message),
            messages_removed: n(r.messages_removed),
            restored: r.restored,
            removed: r.removed,
            not_restored: r
                .not_restored
                .into_iter()
                .map(|x| NotRestored {
                    path: x.path,
                    reason: x.reason,
                })
                .collect(),
        }
    }
}

/// A coding agent: a model, a workspace, tools, and the sessions of its runs.
#[napi]
pub struct Agent {
    inner: CoreAgent,
    permission_handler: Option<Arc<JsPermissionHandler>>,
    /// The session store is a JavaScript object: a run is prepared (its session taken and
    /// read) off the JavaScript thread, which answers the store's calls.
    js_store: bool,
}

/// `index.js` links a run's `signal` through this: it is called once, before the run
/// starts, with the function that cancels the run.
type LinkFn<'env> = Function<'env, Function<'env, (), ()>, ()>;

#[napi]
impl Agent {
    /// Bad options throw here with a message naming the option and what was expected.
    #[napi(constructor)]
    pub fn new(options: AgentOptions) -> napi::Result<Self> {
        let js_store = matches!(
            options.session_store,
            Some(napi::bindgen_prelude::Either::B(_))
        );
        let (config, on_permission_request) = agent_config(options).or_js()?;
        let inner = CoreAgent::new(config).or_js()?;
        Ok(Agent {
            inner,
            permission_handler: on_permission_request
                .map(|f| Arc::new(JsPermissionHandler::new(f))),
            js_store,
        })
    }

    /// The system prompt sent with every model call.
    #[napi(getter)]
    pub fn system_prompt(&self) -> String {
        self.inner.system_prompt().to_owned()
    }

    /// What the sandbox of the agent's commands enforces (the chosen and the enforced
    /// mode, network, what is missing), as `run_start` and the system prompt say it.
    #[napi]
    pub fn sandbox_status(&self) -> SandboxStatus {
        SandboxStatus::from(self.inner.sandbox_status())
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
        ts_args_type = "input: string | Message[] | ApprovalsInput, options?: RunOptions & { outputSchema?: S }",
        ts_return_type = "Promise<RunResult<OutputOf<S>>>"
    )]
    pub fn run<'env>(
        &self,
        env: &'env Env,
        input: Either3<String, Vec<InputMessage>, ApprovalsInput>,
        options: Option<RunOptions>,
        link: Option<LinkFn<'env>>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let start = self.start(env, input, options, false)?.0;
        let token = CancellationToken::new();
        if let Some(link) = link {
            let t = token.clone();
            let cancel: Function<'env, (), ()> =
                env.create_function_from_closure("cancel", move |_| {
                    t.cancel();
                    Ok(())
                })?;
            link.call(cancel)?;
        }
        env.spawn_future_with_callback(
            async move {
                let run = match start.run().await {
                    Ok(run) => run,
                    Err(e) => return Ok(Err(e)),
                };
                let result = run.execute(token, EventSink::none()).await;
                Ok(Ok(RunResult::from(result).to_js()))
            },
            |env, result| result.map_err(|e| e.into_js(env)),
        )
    }

    /// Streams the run's events. Returns at once; the run starts when iteration starts.
    /// Breaking out of `for await` cancels the run like an abort.
    #[napi(
        ts_generic_types = "S extends OutputSchema | undefined = undefined",
        ts_args_type = "input: string | Message[] | ApprovalsInput, options?: RunOptions & { outputSchema?: S }",
        ts_return_type = "AgentStream"
    )]
    pub fn stream(
        &self,
        env: &Env,
        input: Either3<String, Vec<InputMessage>, ApprovalsInput>,
        options: Option<RunOptions>,
    ) -> napi::Result<EventStream> {
        let (run, pending) = self.start(env, input, options, true)?;
        Ok(EventStream::new(run, pending))
    }

    /// Sends a user message to this agent's run going on on `sessionId` (started with `run()`
    /// or `stream()`): the run takes it in before its next model call. Throws when no run
    /// of this agent is going on on that session.
    #[napi(ts_args_type = "sessionId: string, message: string, options?: SendOptions")]
    pub fn send(
        &self,
        session_id: String,
        message: String,
        options: Option<SendOptions>,
    ) -> napi::Result<()> {
        let control = self.control(&session_id, "send")?;
        if options.and_then(|o| o.urgent) == Some(true) {
            control.send_urgent(message)
        } else {
            control.send(message)
        }
        .map_err(|e| Invalid(format!("send(): {e}")))
        .or_js()
    }

    /// Interrupts this agent's run going on on `sessionId`: the model call and tool calls in
    /// progress stop at once (status `cancelled`), and the run goes on with `message`, or,
    /// without one, ends cancelled. The session stays valid.
    #[napi]
    pub fn interrupt(&self, session_id: String, message: Option<String>) -> napi::Result<()> {
        self.control(&session_id, "interrupt")?
            .interrupt(message)
            .map_err(|e| Invalid(format!("interrupt(): {e}")))
            .or_js()
    }

    /// The sessions in a session directory, newest (last updated) first.
    #[napi(ts_return_type = "Promise<SessionInfo[]>")]
    pub async fn list_sessions(
        options: Option<SessionDirOptions>,
    ) -> napi::Result<Vec<SessionInfo>> {
        sessions::list(options).await
    }

    /// Reads a session back: its history (valid to continue on any provider), every tool
    /// step, usage totals and files changed. Rejects for an unknown session.
    #[napi(ts_return_type = "Promise<SessionData>")]
    pub async fn load_session(
        id: String,
        options: Option<SessionDirOptions>,
    ) -> napi::Result<SessionData> {
        sessions::load(id, options).await
    }

    /// Copies a session into a new one in the same directory and resolves with the new
    /// id. `atMessage` keeps that many messages of its history (default: all); tool
    /// calls left without results by the cut get `cancelled` results.
    #[napi(ts_return_type = "Promise<string>")]
    pub async fn fork_session(
        id: String,
        options: Option<ForkSessionOptions>,
    ) -> napi::Result<String> {
        sessions::fork(id, options).await
    }

    /// Puts session `sessionId` and the workspace's files back to the point before message
    /// `toMessage` (an index into `loadSession(sessionId).messages`: the first `toMessage`
    /// messages are kept). Every file a later step changed (edits, writes, shell commands)
    /// goes back to its checkpointed state: created files are removed, deleted ones come
    /// back, content, permissions and links as they were. The conversation is cut there
    /// (a later run continues from it), or, with `fork: true`, left as it is while a new
    /// session starts from that point. Files that could not be restored are listed in
    /// `notRestored` with the reason. Rejects for an unknown session, a `toMessage` past
    /// the end, and a session a run holds.
    #[napi(ts_return_type = "Promise<RewindResult>")]
    pub fn rewind<'env>(
        &self,
        env: &'env Env,
        session_id: String,
        options: RewindOptions,
    ) -> napi::Result<PromiseRaw<'env, RewindResult>> {
        let to_message = crate::options::integer(options.to_message, 0, u32::MAX)
            .map_err(|p| Invalid(format!("rewind(): `toMessage`: {p}")))
            .or_js()?;
        let request = harnext_core::RewindRequest {
            to_message: to_message as usize,
            fork: options.fork.unwrap_or(false),
        };
        let agent = self.inner.clone();
        env.spawn_future(async move {
            let result = tokio::task::spawn_blocking(move || agent.rewind(&session_id, &request))
                .await
                .or_js()?
                .or_js()?;
            Ok(RewindResult::from(result))
        })
    }

    /// Kills every MCP stdio server of this process at once. Internal: `index.js` calls
    /// it on process exit, since `process.exit()` runs no finalizers.
    #[napi(js_name = "killMcpServers", skip_typescript)]
    pub fn kill_mcp_servers() {
        harnext_core::mcp::kill_all_stdio_servers();
    }
}

impl Agent {
    fn control(&self, session_id: &str, what: &str) -> napi::Result<RunControl> {
        self.inner
            .running(session_id)
            .ok_or_else(|| {
                Invalid(format!(
                    "{what}(): no run of this agent is going on on session {session_id:?}"
                ))
            })
            .or_js()
    }

    /// Checks the run's input and options and prepares it (later, off this thread, for a
    /// JavaScript session store). A stream without `onPermissionRequest` answers permission
    /// requests through `respond()`.
    fn start(
        &self,
        env: &Env,
        input: Either3<String, Vec<InputMessage>, ApprovalsInput>,
        options: Option<RunOptions>,
        streaming: bool,
    ) -> napi::Result<(Start, Option<Arc<PendingPermissions>>)> {
        let mut request = run_request(input, options).or_js()?;
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
        if self.js_store {
            let agent = self.inner.clone();
            let prepare = move || agent.start(request);
            return Ok((Start::Later(Box::new(prepare)), pending));
        }
        let run = self
            .inner
            .start(request)
            .map_err(|e| crate::error::run_error_to_js(env, e))?;
        Ok((Start::Ready(Box::new(run)), pending))
    }
}
