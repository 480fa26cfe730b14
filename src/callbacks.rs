//! JavaScript functions serving core traits: `onPermissionRequest`
//! (`PermissionHandler`) and the validation of a Standard Schema `outputSchema`
//! (`OutputValidator`).
//!
//! Every function is a weak `ThreadsafeFunction` (it never keeps Node alive) called with
//! `call_async_catch`, so a JS throw or rejection comes back as an error instead of
//! crashing the process.

use std::sync::Arc;

use futures::future::BoxFuture;
use harnext_core::output::OutputRequest;
use harnext_core::output::OutputValidator;
use harnext_core::permissions::Decision;
use harnext_core::permissions::PermissionError;
use harnext_core::permissions::PermissionHandler;
use harnext_core::permissions::PermissionRequest as CorePermissionRequest;
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use napi::Status;
use napi_derive::napi;

use crate::events::CallSandbox;
use serde_json::Value;

/// `onPermissionRequest`, made async by the JS facade (`index.js`), so a sync callback
/// works too.
pub type PermissionFn =
    ThreadsafeFunction<PermissionRequest, Promise<Value>, PermissionRequest, Status, false, true>;

/// What `onPermissionRequest` receives.
#[napi(object)]
pub struct PermissionRequest {
    /// The tool call's id (the `id` of its `tool_call` event).
    pub id: String,
    pub tool: String,
    #[napi(ts_type = "Record<string, unknown>")]
    pub args: Value,
    /// Whether the call would run in the OS sandbox (`bash` with a sandbox in force);
    /// only such a call can be approved with `escalate`.
    pub sandboxed: bool,
    /// How it would be sandboxed, when it would.
    pub sandbox: Option<CallSandbox>,
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
    ) -> BoxFuture<'static, Result<Decision, PermissionError>> {
        let callback = self.callback.clone();
        Box::pin(async move {
            let failed = |e: napi::Error| PermissionError::Failed(e.reason.clone());
            let promise = callback
                .call_async_catch(PermissionRequest {
                    id: request.id,
                    tool: request.tool,
                    args: request.args,
                    sandboxed: request.sandbox.is_some(),
                    sandbox: request.sandbox.map(CallSandbox::from),
                })
                .await
                .map_err(failed)?;
            let value = promise.await.map_err(failed)?;
            Ok(Decision::from_json(&value)?)
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

/// Internal: `outputSchema` as `index.js` hands it over (its JSON Schema, and for a
/// Standard Schema the function that validates an answer with it).
#[napi(object, object_to_js = false)]
pub struct OutputSchemaSpec {
    #[napi(ts_type = "Record<string, unknown>")]
    pub schema: Value,
    #[napi(ts_type = "(value: unknown) => Promise<{ value: unknown } | { issues: string[] }>")]
    pub validate: Option<OutputValidateFn>,
}

/// The core's output request for a run's `outputSchema`.
pub fn output_request(spec: OutputSchemaSpec, max_retries: u32) -> OutputRequest {
    OutputRequest {
        schema: spec.schema,
        validator: spec.validate.map(|f| -> Arc<dyn OutputValidator> {
            Arc::new(JsOutputValidator {
                validate: Arc::new(f),
            })
        }),
        max_retries,
    }
}
