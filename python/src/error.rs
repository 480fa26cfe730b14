//! The one conversion of errors into Python exceptions. The engine names options by
//! their neutral key (`` `api_key` ``), which is how Python spells them (but `signal`,
//! which Python calls `cancel`), so engine messages are worded through `PyNames`.
//!
//! Misuse (a bad option, a bad argument, an unknown session) raises `ValueError`, or
//! `TypeError` when a value has the wrong type; a failure of the machine (a session
//! file that cannot be read) raises `RuntimeError`.

use std::fmt::Display;

use std::borrow::Cow;

use harnext_core::protocol::OptionKey;
use harnext_core::protocol::OptionNames;
use pyo3::exceptions::PyRuntimeError;
use pyo3::exceptions::PyTypeError;
use pyo3::exceptions::PyValueError;
use pyo3::PyErr;

/// How the Python API spells each option: the neutral key, but the run's `signal`
/// (an `AbortSignal` in Node) is the `cancel` token here.
pub(crate) struct PyNames;

impl OptionNames for PyNames {
    fn name(&self, key: OptionKey) -> Cow<'static, str> {
        match key {
            OptionKey::Signal => Cow::Borrowed("cancel"),
            other => Cow::Borrowed(other.key()),
        }
    }
}

/// An engine message, worded for Python.
pub(crate) fn word(message: &str) -> String {
    // A store object's time limit is its `timeout_ms` attribute here (`timeoutMs` in Node).
    OptionKey::reword(message, &PyNames).replace("`timeoutMs`", "`timeout_ms`")
}

/// Misuse: `ValueError`.
pub(crate) fn invalid(e: impl Display) -> PyErr {
    PyValueError::new_err(word(&e.to_string()))
}

/// A value of the wrong type for `option`: `TypeError` naming it.
pub(crate) fn wrong_type(option: &str, expected: &str, got: impl Display) -> PyErr {
    PyTypeError::new_err(format!(
        "invalid option `{option}`: expected {expected}, got {got}"
    ))
}

/// A failure that is not the caller's doing: `RuntimeError`.
pub(crate) fn failed(e: impl Display) -> PyErr {
    PyRuntimeError::new_err(word(&e.to_string()))
}

/// A run that could not start. A session store that failed (a resumed session that could
/// not be loaded) is a failure of the machine: `RuntimeError` whose `code` is
/// `"session_store"`, as a run's `error.code` and Node's rejection say; any other reason
/// is misuse (`ValueError`).
pub(crate) fn run_error(py: pyo3::Python<'_>, e: harnext_core::RunError) -> PyErr {
    if !matches!(e, harnext_core::RunError::SessionStore(_)) {
        return invalid(e);
    }
    let err = failed(e);
    // Best effort: the exception is raised with its message whatever happens here.
    let _ = pyo3::types::PyAnyMethods::setattr(err.value(py).as_any(), "code", "session_store");
    err
}

/// `result.or_invalid()` / `result.or_failed()`.
pub(crate) trait OrPy<T> {
    fn or_invalid(self) -> Result<T, PyErr>;
    fn or_failed(self) -> Result<T, PyErr>;
}

impl<T, E: Display> OrPy<T> for Result<T, E> {
    fn or_invalid(self) -> Result<T, PyErr> {
        self.map_err(invalid)
    }
    fn or_failed(self) -> Result<T, PyErr> {
        self.map_err(failed)
    }
}
