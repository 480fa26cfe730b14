//! Custom tools: the definitions `tool()` (index.js) hands over, run as the core's
//! `harnext_tools::Tool` through JavaScript functions; and the tool names for index.js.
//!
//! Every function is a weak `ThreadsafeFunction` (it never keeps Node alive) called with
//! `call_async_catch`, so a JS throw or rejection comes back as an error instead of
//! crashing the process.

use std::sync::Arc;

use futures::future::BoxFuture;
use harnext_core::cancel::OrCancel;
use harnext_core::schema::SchemaValidator;
use harnext_tools::Tool;
use harnext_tools::ToolContext;
use harnext_tools::ToolError;
use napi::bindgen_prelude::FnArgs;
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
            let outcome = call
                .or_cancel(&ctx.cancel)
                .await
                .map_err(|_| ToolError::Cancelled)?;
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

/// Internal: the built-in tool names, for `builtinTools` in index.js.
#[napi(skip_typescript)]
pub fn builtin_tool_names() -> Vec<String> {
    harnext_tools::BUILTIN_TOOL_NAMES
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

/// Internal: what is wrong with a tool name (`null` when it is valid), for `tool()` in
/// index.js. The rule itself is the core's, written once.
#[napi(skip_typescript)]
pub fn tool_name_problem(name: String) -> Option<String> {
    harnext_core::check_tool_name(&name)
        .err()
        .map(|e| e.to_string())
}
