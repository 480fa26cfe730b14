//! Python functions serving the core's traits: custom tools (`Tool`),
//! `on_permission_request` (`PermissionHandler`), the validation of a pydantic
//! `output_schema` (`OutputValidator`) and hooks (`HookFn`).
//!
//! Each call runs on a blocking thread of the runtime that takes the GIL for the call
//! and gives it back after (the engine's async workers never wait for the GIL). A Python
//! exception becomes the call's error (a tool's `error` result, a denial, an issue of
//! the answer): it never crosses into Rust as a panic. Async functions are run by the
//! Python layer (`harnext/_callbacks.py`), on the event loop of the run that called them.

use std::sync::Arc;

use futures::future::BoxFuture;
use harnext_core::cancel::OrCancel;
use harnext_core::hooks::HookFn;
use harnext_core::output::OutputValidator;
use harnext_core::permissions::Decision;
use harnext_core::permissions::PermissionError;
use harnext_core::permissions::PermissionHandler;
use harnext_core::permissions::PermissionRequest;
use harnext_core::schema::SchemaValidator;
use harnext_tools::Tool;
use harnext_tools::ToolContext;
use harnext_tools::ToolError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

use crate::values::json;
use crate::values::string;

/// How a Python exception reads in a tool output or a denial: `ValueError: message`.
pub(crate) fn describe(py: Python<'_>, e: &PyErr) -> String {
    let name = e
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".to_owned());
    let message = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    if message.is_empty() {
        name
    } else {
        format!("{name}: {message}")
    }
}

/// Runs `f` with the GIL on a blocking thread; its Python error as text.
pub(crate) async fn with_python<T: Send + 'static>(
    f: impl FnOnce(Python<'_>) -> PyResult<T> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(move || Python::attach(|py| f(py).map_err(|e| describe(py, &e))))
        .await
        .map_err(|e| format!("the Python callback failed: {e}"))?
}

/// A custom tool made with `@tool` (a `harnext.Tool`).
pub struct PyTool {
    name: String,
    description: String,
    schema: Value,
    read_only: bool,
    validator: Arc<SchemaValidator>,
    /// `Tool._invoke(args, tool_call_id) -> str`.
    invoke: Arc<Py<PyAny>>,
}

impl PyTool {
    /// Reads a `harnext.Tool`: `name`, `description`, `input_schema`, `read_only`, `_invoke`.
    pub fn new(obj: &Bound<'_, PyAny>) -> Result<PyTool, String> {
        let attr = |name: &str| {
            obj.getattr(name).map_err(|_| {
                format!(
                    "expected a tool name or a function decorated with @tool, got {}",
                    crate::values::type_name(obj)
                )
            })
        };
        let name = string("tools", &attr("name")?).map_err(|e| e.to_string())?;
        harnext_core::check_tool_name(&name).map_err(|e| e.to_string())?;
        let description =
            string("tools", &attr("description")?).map_err(|e| format!("tool {name:?}: {e}"))?;
        let schema =
            json("tools", &attr("input_schema")?).map_err(|e| format!("tool {name:?}: {e}"))?;
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            return Err(format!(
                "tool {name:?}: input_schema must describe an object (JSON Schema \"type\": \"object\")"
            ));
        }
        let read_only = attr("read_only")?.is_truthy().map_err(|e| e.to_string())?;
        let invoke = attr("_invoke")?;
        if !invoke.is_callable() {
            return Err(format!("tool {name:?}: _invoke is not callable"));
        }
        let validator = SchemaValidator::new(&schema).map_err(|e| format!("tool {name:?}: {e}"))?;
        Ok(PyTool {
            name,
            description,
            schema,
            read_only,
            validator: Arc::new(validator),
            invoke: Arc::new(invoke.unbind()),
        })
    }
}

impl Tool for PyTool {
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
        let invoke = self.invoke.clone();
        Box::pin(async move {
            let issues = validator.issues(&args);
            if !issues.is_empty() {
                return Err(ToolError::InvalidArgs(issues.join("; ")));
            }
            let call_id = ctx.call_id.clone();
            let call = with_python(move |py| {
                let args = pythonize::pythonize(py, &args)?;
                invoke.call1(py, (args, call_id))?.extract::<String>(py)
            });
            // A cancelled run does not wait for the function (a Python thread cannot be
            // stopped from outside); its result is dropped.
            call.or_cancel(&ctx.cancel)
                .await
                .map_err(|_| ToolError::Cancelled)?
                .map_err(ToolError::Failed)
        })
    }
}

/// `on_permission_request`, wrapped by the Python layer so that it returns a JSON
/// decision (`"allow"`, `"deny"` or a dict), whether the user's function is sync or async.
pub struct PyPermissionHandler {
    callback: Arc<Py<PyAny>>,
}

impl PyPermissionHandler {
    pub fn new(callback: Py<PyAny>) -> Self {
        PyPermissionHandler {
            callback: Arc::new(callback),
        }
    }
}

impl PermissionHandler for PyPermissionHandler {
    fn decide(
        &self,
        request: PermissionRequest,
    ) -> BoxFuture<'static, Result<Decision, PermissionError>> {
        let callback = self.callback.clone();
        Box::pin(async move {
            let value = with_python(move |py| {
                let req = PyDict::new(py);
                req.set_item("id", request.id)?;
                req.set_item("tool", request.tool)?;
                req.set_item("args", pythonize::pythonize(py, &request.args)?)?;
                req.set_item("sandbox", pythonize::pythonize(py, &request.sandbox)?)?;
                let answer = callback.call1(py, (req,))?;
                Ok(pythonize::depythonize::<Value>(answer.bind(py))?)
            })
            .await
            .map_err(PermissionError::Failed)?;
            Ok(Decision::from_json(&value)?)
        })
    }
}

/// The validation of an answer by pydantic (`TypeAdapter.validate_python`), wrapped by
/// the Python layer: it returns `{"value": <JSON>}` or `{"issues": [str, ...]}`.
pub struct PyOutputValidator {
    validate: Arc<Py<PyAny>>,
}

impl PyOutputValidator {
    pub fn new(validate: Py<PyAny>) -> Self {
        PyOutputValidator {
            validate: Arc::new(validate),
        }
    }
}

impl OutputValidator for PyOutputValidator {
    fn validate(&self, value: Value) -> BoxFuture<'static, Result<Value, Vec<String>>> {
        let validate = self.validate.clone();
        Box::pin(async move {
            let verdict = with_python(move |py| {
                let v = pythonize::pythonize(py, &value)?;
                let out = validate.call1(py, (v,))?;
                Ok(pythonize::depythonize::<Value>(out.bind(py))?)
            })
            .await
            .map_err(|e| vec![format!("the output validator failed: {e}")])?;
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
                    "the output validator returned {other}, not {{\"value\"}} or {{\"issues\"}}"
                )]),
            }
        })
    }
}

/// A hook of the `hooks` option, wrapped by the Python layer so that it takes the
/// engine's input (a dict) and answers JSON (`None` for no opinion), whether the user's
/// function is sync or async. A Python exception is the hook's failure (`hook_error`).
pub struct PyHook {
    callback: Arc<Py<PyAny>>,
}

impl PyHook {
    pub fn new(callback: Py<PyAny>) -> Self {
        PyHook {
            callback: Arc::new(callback),
        }
    }
}

impl HookFn for PyHook {
    fn call(&self, input: Value) -> BoxFuture<'static, Result<Value, String>> {
        let callback = self.callback.clone();
        Box::pin(with_python(move |py| {
            let arg = pythonize::pythonize(py, &input)?;
            let answer = callback.call1(py, (arg,))?;
            Ok(pythonize::depythonize::<Value>(answer.bind(py))?)
        }))
    }
}
