//! `Agent.list_sessions()`, `Agent.load_session()`, `Agent.fork_session()`: the sessions
//! of a session directory read back as dicts (the Python layer makes them dataclasses).
//! File work runs with the GIL released.

use std::path::PathBuf;

use harnext_core::protocol::OptionKey;
use harnext_core::session;
use harnext_core::store::ForkOrigin;
use harnext_core::FileStore;
use harnext_core::SessionStore;
use pyo3::prelude::*;
use serde_json::json;
use serde_json::Value;
use std::sync::Arc;

use crate::error::invalid;
use crate::error::OrPy;
use crate::values::integer;

/// The store of `session_store` (a `postgres://` or `redis://` URL, or a store object as
/// the Python layer hands it over), else of the session directory.
fn store(
    session_dir: Option<PathBuf>,
    session_store: Option<Bound<'_, PyAny>>,
) -> PyResult<Arc<dyn SessionStore>> {
    if let Some(v) = session_store.filter(|v| !v.is_none()) {
        return crate::store::store_option(&v);
    }
    Ok(Arc::new(file_store(session_dir)?))
}

fn file_store(session_dir: Option<PathBuf>) -> PyResult<FileStore> {
    let dir = match session_dir {
        Some(d) if d.as_os_str().is_empty() => {
            return Err(invalid(format!(
                "invalid option `{}`: expected a directory path, got an empty string",
                OptionKey::SessionDir
            )))
        }
        Some(d) => d,
        None => FileStore::default_dir().or_failed()?,
    };
    Ok(FileStore::new(dir))
}

fn forked_from(f: Option<ForkOrigin>) -> Value {
    f.map_or(
        Value::Null,
        |f| json!({ "id": f.id, "at_message": f.at_message }),
    )
}

fn to_py(py: Python<'_>, v: &Value) -> PyResult<Py<PyAny>> {
    Ok(pythonize::pythonize(py, v)?.unbind())
}

/// The sessions in a session directory, newest (last updated) first.
#[pyfunction]
#[pyo3(signature = (session_dir=None, session_store=None))]
pub fn list_sessions(
    py: Python<'_>,
    session_dir: Option<PathBuf>,
    session_store: Option<Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let store = store(session_dir, session_store)?;
    let list = py.detach(|| session::list(store.as_ref())).or_failed()?;
    let v: Vec<Value> = list
        .into_iter()
        .map(|s| {
            json!({
                "id": s.id, "created_at": s.created_at, "updated_at": s.updated_at,
                "model": s.model, "cwd": s.cwd, "title": s.title,
                "forked_from": forked_from(s.forked_from),
            })
        })
        .collect();
    to_py(py, &Value::Array(v))
}

/// A session read back; `ValueError` for an unknown session.
#[pyfunction]
#[pyo3(signature = (id, session_dir=None, session_store=None))]
pub fn load_session(
    py: Python<'_>,
    id: String,
    session_dir: Option<PathBuf>,
    session_store: Option<Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let store = store(session_dir, session_store)?;
    let d = py
        .detach(|| session::load(store.as_ref(), &id))
        .or_invalid()?;
    let v = json!({
        "id": d.id,
        "messages": d.messages,
        "steps": d.steps,
        "usage": d.usage,
        "files_changed": d.files_changed,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "model": d.model,
        "cwd": d.cwd,
        "forked_from": forked_from(d.forked_from),
        "runs": d.runs,
        "compactions": d.compactions,
        "allowed_tools": d.allowed_tools,
        "pending_approvals": d.pending_approvals,
        "todos": d.todos,
        "subagents": d.subagents,
    });
    to_py(py, &v)
}

/// Copies a session into a new one in the same directory; the new id.
#[pyfunction]
#[pyo3(signature = (id, at_message=None, session_dir=None, session_store=None))]
pub fn fork_session(
    py: Python<'_>,
    id: String,
    at_message: Option<Bound<'_, PyAny>>,
    session_dir: Option<PathBuf>,
    session_store: Option<Bound<'_, PyAny>>,
) -> PyResult<String> {
    let at = match at_message {
        Some(v) if !v.is_none() => Some(
            usize::try_from(integer(
                OptionKey::AtMessage.key(),
                &v,
                0,
                u64::from(u32::MAX),
            )?)
            .unwrap_or(usize::MAX),
        ),
        _ => None,
    };
    let store = store(session_dir, session_store)?;
    py.detach(|| session::fork(store.as_ref(), &id, at))
        .or_invalid()
}
