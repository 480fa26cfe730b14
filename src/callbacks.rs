//! JavaScript functions serving core traits: custom tools (`harnext_tools::Tool`) and
//! `onPermissionRequest` (`PermissionHandler`).
//!
//! Every function is a weak `ThreadsafeFunction` (it never keeps Node alive) called with
//! `call_async_catch`, so a JS throw or rejection comes back as an error instead of
//! crashing the process.

use std::sync::Arc;

use futures::future::BoxFuture;
use harnext_core::output::OutputRequest;
use harnext_core::output::OutputValidator;
use harnext_core::permissions::Decision;
use harnext_core::permissions::PermissionHandler;
use harnext_core::permissions::PermissionRequest as CorePermissionRequest;
use harnext_core::schema::SchemaValidator;
use harnext_tools::Tool;
use harnext_tools::ToolContext;
use harnext_tools::ToolError;
use napi::bindgen_prelude::FnArgs;
use napi::bindgen_prelude::Function;
use napi::bindgen_prelude::JsObjectValue;
use napi::bindgen_prelude::Object;
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::Status;
use napi_derive::napi;
use serde_json::Value;

/// `(args, toolCallId) => Promise<output>`: the facade's wrapper around `execute`, which
/// validates Standard Schema arguments first.
pub type ExecuteFn = ThreadsafeFunction<
    FnArgs<(Value, String)>,
    Promise<Value>,
    FnArgs<(Value, String)>,
    Status,
    false,
    true,
>;
/// `(toolCallId) => void`: aborts the signal given to that call's `execute`.
pub type CancelFn = ThreadsafeFunction<String, (), String, Status, false, true>;
/// `onPermissionRequest`, made async by the JS facade (`index.js`), so a sync callback
/// works too.
pub type PermissionFn =
    ThreadsafeFunction<PermissionRequest, Promise<Value>, PermissionRequest, Status, false, true>;

/// A custom tool as the `tool()` helper hands it over (internal shape).
#[napi(object, object_to_js = false)]
pub struct JsToolDefinition {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub input_schema: Value,
    pub read_only: Option<bool>,
    /// Validate arguments against `inputSchema` in Rust (for `jsonSchema()`); Standard
    /// Schemas are validated in JS by `execute`.
    pub validate_in_rust: Option<bool>,
    #[napi(ts_type = "(args: unknown, toolCallId: string) => Promise<unknown>")]
    pub execute: ExecuteFn,
    #[napi(ts_type = "(toolCallId: string) => void")]
    pub cancel: CancelFn,
}

/// What `onPermissionRequest` receives.
#[napi(object)]
pub struct PermissionRequest {
    /// The tool call's id (the `id` of its `tool_call` event).
    pub id: String,
    pub tool: String,
    #[napi(ts_type = "Record<string, unknown>")]
    pub args: Value,
}

pub struct JsTool {
    name: String,
    description: String,
    schema: Value,
    read_only: bool,
    validator: Option<Arc<SchemaValidator>>,
    execute: Arc<ExecuteFn>,
    cancel: Arc<CancelFn>,
}

impl JsTool {
    pub fn new(def: JsToolDefinition) -> Result<JsTool, String> {
        let validator = if def.validate_in_rust.unwrap_or(false) {
            Some(Arc::new(
                SchemaValidator::new(&def.input_schema)
                    .map_err(|e| format!("tool {:?}: {e}", def.name))?,
            ))
        } else {
            None
        };
        Ok(JsTool {
            name: def.name,
            description: def.description,
            schema: def.input_schema,
            read_only: def.read_only.unwrap_or(false),
            validator,
            execute: Arc::new(def.execute),
            cancel: Arc::new(def.cancel),
        })
    }
}

/// Tells JS to abort a call's signal unless the call finished first.
struct CancelOnDrop {
    cancel: Arc<CancelFn>,
    id: String,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.cancel.call(
                std::mem::take(&mut self.id),
                ThreadsafeFunctionCallMode::NonBlocking,
            );
        }
    }
}

impl Tool for JsTool {
    fn name(&self) -> &str {
        &self.name
    }
    fn description(&self) -> &str {
        &self.description
    }
    fn input_schema(&self) -> Value {
        self.schema.clone()
    }
    fn read_only(&self) -> bool {
        self.read_only
    }

    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'static, Result<String, ToolError>> {
        let validator = self.validator.clone();
        let execute = self.execute.clone();
        let cancel = self.cancel.clone();
        Box::pin(async move {
            if let Some(v) = validator {
                let issues = v.issues(&args);
                if !issues.is_empty() {
                    return Err(ToolError::InvalidArgs(issues.join("; ")));
                }
            }
            let mut guard = CancelOnDrop {
                cancel,
                id: ctx.call_id.clone(),
                armed: true,
            };
            let call = async {
                let promise = execute
                    .call_async_catch(FnArgs::from((args, ctx.call_id.clone())))
                    .await?;
                promise.await
            };
            let outcome = tokio::select! {
                r = call => r,
                _ = ctx.cancel.cancelled() => return Err(ToolError::Cancelled),
            };
            guard.armed = false;
            match outcome {
                Ok(Value::String(s)) => Ok(s),
                Ok(Value::Null) => Ok(String::new()),
                Ok(other) => Ok(other.to_string()),
                Err(e) => Err(ToolError::Failed(e.reason.clone())),
            }
        })
    }
}

pub struct JsPermissionHandler {
    callback: Arc<PermissionFn>,
}

impl JsPermissionHandler {
    pub fn new(callback: PermissionFn) -> Self {
        JsPermissionHandler {
            callback: Arc::new(callback),
        }
    }
}

impl PermissionHandler for JsPermissionHandler {
    fn decide(
        &self,
        request: CorePermissionRequest,
    ) -> BoxFuture<'static, Result<Decision, String>> {
        let callback = self.callback.clone();
        Box::pin(async move {
            let promise = callback
                .call_async_catch(PermissionRequest {
                    id: request.id,
                    tool: request.tool,
                    args: request.args,
                })
                .await
                .map_err(|e| e.reason.clone())?;
            let value = promise.await.map_err(|e| e.reason.clone())?;
            Decision::from_json(&value)
        })
    }
}

/// `(value) => Promise<{ value } | { issues: string[] }>`: a Standard Schema's validation,
/// wrapped by the JS facade.
pub type OutputValidateFn = ThreadsafeFunction<Value, Promise<Value>, Value, Status, false, true>;

struct JsOutputValidator {
    validate: Arc<OutputValidateFn>,
}

impl OutputValidator for JsOutputValidator {
    fn validate(&self, value: Value) -> BoxFuture<'static, Result<Value, Vec<String>>> {
        let validate = self.validate.clone();
        Box::pin(async move {
            let promise = validate
                .call_async_catch(value)
                .await
                .map_err(|e| vec![format!("the output validator failed: {}", e.reason)])?;
            let verdict = promise
                .await
                .map_err(|e| vec![format!("the output validator failed: {}", e.reason)])?;
            match verdict {
                Value::Object(mut o) => match o.remove("issues") {
                    Some(Value::Array(issues)) if !issues.is_empty() => Err(issues
                        .into_iter()
                        .map(|i| {
                            i.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| i.to_string())
                        })
                        .collect()),
                    _ => Ok(o.remove("value").unwrap_or(Value::Null)),
                },
                other => Err(vec![format!(
                    "the output validator returned {other}, not {{ value }} or {{ issues }}"
                )]),
            }
        })
    }
}

/// Reads the facade's normalized `outputSchema`: `{ schema, validate? }`.
pub fn output_request(spec: Object<'_>, max_retries: u32) -> napi::Result<OutputRequest> {
    let bad = |m: &str| {
        napi::Error::new(
            Status::InvalidArg,
            format!("invalid option `outputSchema`: {m}"),
        )
    };
    let schema: Value = spec
        .get_named_property_unchecked::<Value>("schema")
        .map_err(|_| {
            bad("expected jsonSchema({...}) or a Standard Schema that can produce JSON Schema")
        })?;
    if !schema.is_object() {
        return Err(bad(
            "expected jsonSchema({...}) or a Standard Schema that can produce JSON Schema",
        ));
    }
    let validator: Option<Arc<dyn OutputValidator>> =
        match spec.get_named_property::<Option<Function<'_, Value, Promise<Value>>>>("validate")? {
            Some(f) => Some(Arc::new(JsOutputValidator {
                validate: Arc::new(
                    f.build_threadsafe_function::<Value>()
                        .weak::<true>()
                        .build()?,
                ),
            })),
            None => None,
        };
    Ok(OutputRequest {
        schema,
        validator,
        max_retries,
    })
}
