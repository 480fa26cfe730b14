//! A `session_store` written in Python: the engine's `CallbackStore` (its rules, time
//! limits and answer checks are there) calling the object's methods through the
//! dispatcher the Python layer hands over (`harnext/_store.py`: `call(method, args)`,
//! which calls the method, runs it to its end when it is async, and answers JSON).
//!
//! Each call runs on a blocking thread of the engine's runtime that takes the GIL for the
//! call. The engine never waits for an answer on a thread that holds the GIL (the call
//! could never take it): every native entry point that may reach the store releases the
//! GIL first, and a call made anyway from a thread holding it is a `session_store` error
//! (`may_wait`), never a hang.

use std::os::raw::c_int;
use std::sync::Arc;

use futures::future::BoxFuture;
use harnext_core::protocol::OptionKey;
use harnext_core::store::check_timeout_ms;
use harnext_core::store::CallbackStore;
use harnext_core::store::StoreCalls;
use harnext_core::store::StoreMethod;
use harnext_core::store::DEFAULT_CALL_TIMEOUT;
use harnext_core::ConfigError;
use harnext_core::SessionStore;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::types::PyString;
use serde_json::Value;

use crate::callbacks::with_python;
use crate::error::invalid;

#[allow(unsafe_code)]
extern "C" {
    // Exported by every CPython since 3.4 (not part of the limited API's headers, hence
    // declared here): whether the calling thread holds the GIL.
    fn PyGILState_Check() -> c_int;
}

struct PyCalls {
    /// `call(method: str, args: list) -> JSON answer`.
    call: Arc<Py<PyAny>>,
}

impl StoreCalls for PyCalls {
    fn call(
        &self,
        method: StoreMethod,
        args: Vec<Value>,
    ) -> BoxFuture<'static, Result<Value, String>> {
        let call = self.call.clone();
        Box::pin(with_python(move |py| {
            let args = pythonize::pythonize(py, &Value::Array(args))?;
            let answer = call.call1(py, (method.name(), args))?;
            Ok(pythonize::depythonize::<Value>(answer.bind(py))?)
        }))
    }

    #[allow(unsafe_code)]
    fn may_wait(&self) -> bool {
        // SAFETY: a plain query of the interpreter's state, valid on any thread once the
        // interpreter runs (it does: this module was imported).
        unsafe { PyGILState_Check() == 0 }
    }
}

/// The engine's store for a `session_store` option: a `postgres://` / `redis://` URL, or
/// the Python layer's `{"key", "call", "timeout_ms"}` for a store object.
pub fn store_option(v: &Bound<'_, PyAny>) -> PyResult<Arc<dyn SessionStore>> {
    if let Ok(url) = v.cast::<PyString>() {
        return harnext_core::store::store_option(&url.to_cow()?).map_err(invalid);
    }
    let spec = v.cast::<PyDict>().map_err(|_| {
        invalid(ConfigError::invalid(
            OptionKey::SessionStore,
            "expected a \"postgres://...\" or \"redis://...\" URL or a SessionStore object",
        ))
    })?;
    let key: String = spec
        .get_item("key")?
        .ok_or_else(|| invalid("invalid option `session_store`: no key"))?
        .extract()?;
    let call: Py<PyAny> = spec
        .get_item("call")?
        .ok_or_else(|| invalid("invalid option `session_store`: no call"))?
        .unbind();
    let timeout = match spec.get_item("timeout_ms")? {
        None => DEFAULT_CALL_TIMEOUT,
        Some(ms) if ms.is_none() => DEFAULT_CALL_TIMEOUT,
        Some(ms) => check_timeout_ms(ms.extract::<f64>()?).map_err(|problem| {
            invalid(ConfigError::invalid(
                OptionKey::SessionStore,
                problem.replace("timeoutMs", "timeout_ms"),
            ))
        })?,
    };
    Ok(Arc::new(CallbackStore::new(
        Arc::new(PyCalls {
            call: Arc::new(call),
        }),
        key,
        "(a Python object)",
        timeout,
    )))
}
