//! The Python binding of harnext (`harnext._native`): option conversion, runs, events,
//! callbacks, sessions, session stores written in Python, errors. No engine logic lives here; it is all in `harnext-core`.
//! The public API is the pure-Python package `python/harnext/`, which wraps this module.
//!
//! Modules, leaves first: `error` (the one error conversion), `values` (Python values
//! read as options), `callbacks` (Python
//! functions as tools, permission handlers, output validators), `options`, `run` (a
//! run's blocking and async drivers, `CancelToken`), `sessions`, `store` (a `session_store` object),
//! `agent`.

mod agent;
mod callbacks;
mod error;
mod options;
mod run;
mod sessions;
mod store;
mod values;

use pyo3::prelude::*;

/// The built-in tool names, in the order they are offered to the model.
#[pyfunction]
fn builtin_tool_names() -> Vec<String> {
    harnext_tools::BUILTIN_TOOL_NAMES
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

/// What is wrong with a tool name (`None` when it is valid): the core's rule.
#[pyfunction]
fn tool_name_problem(name: &str) -> Option<String> {
    harnext_core::check_tool_name(name)
        .err()
        .map(|e| e.to_string())
}

/// Kills every MCP stdio server of this process at once (at interpreter exit).
#[pyfunction]
fn kill_mcp_servers() {
    harnext_core::mcp::kill_all_stdio_servers();
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<agent::NativeAgent>()?;
    m.add_class::<run::NativeRun>()?;
    m.add_class::<run::CancelToken>()?;
    m.add_function(wrap_pyfunction!(sessions::list_sessions, m)?)?;
    m.add_function(wrap_pyfunction!(sessions::load_session, m)?)?;
    m.add_function(wrap_pyfunction!(sessions::fork_session, m)?)?;
    m.add_function(wrap_pyfunction!(builtin_tool_names, m)?)?;
    m.add_function(wrap_pyfunction!(tool_name_problem, m)?)?;
    m.add_function(wrap_pyfunction!(kill_mcp_servers, m)?)?;
    m.add_function(wrap_pyfunction!(options::option_names_problem, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
