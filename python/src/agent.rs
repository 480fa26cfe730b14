//! The native agent the Python `Agent` wraps: construction from the checked options,
//! runs prepared for `run()` / `stream()` and their asyncio twins, `close()`.

use std::sync::Arc;

use harnext_core::permissions::PendingPermissions;
use harnext_core::Agent as CoreAgent;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::callbacks::PyPermissionHandler;
use crate::error::OrPy;
use crate::options::agent_config;
use crate::options::run_request;
use crate::run::runtime;
use crate::run::CancelToken;
use crate::run::NativeRun;

/// Internal: the engine's agent. Use `harnext.Agent`.
#[pyclass(frozen, module = "harnext._native")]
pub struct NativeAgent {
    inner: CoreAgent,
    permission_handler: Option<Arc<PyPermissionHandler>>,
}

impl NativeAgent {
    fn control(&self, session_id: &str, what: &str) -> PyResult<harnext_core::RunControl> {
        self.inner.running(session_id).ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(format!(
                "{what}(): no run of this agent is going on on session {session_id:?}"
            ))
        })
    }
}

#[pymethods]
impl NativeAgent {
    /// Bad options raise here, naming the option and what was expected.
    #[new]
    fn new(options: &Bound<'_, PyDict>) -> PyResult<Self> {
        let (config, on_permission_request) = agent_config(options)?;
        let _context = runtime().enter();
        let inner = CoreAgent::new(config).or_invalid()?;
        Ok(NativeAgent {
            inner,
            permission_handler: on_permission_request
                .map(|f| Arc::new(PyPermissionHandler::new(f))),
        })
    }

    /// The workspace directory, resolved.
    #[getter]
    fn cwd(&self) -> String {
        self.inner.cwd().display().to_string()
    }

    /// The system prompt sent with every model call.
    #[getter]
    fn system_prompt(&self) -> String {
        self.inner.system_prompt().to_owned()
    }

    /// What the agent's sandbox enforces (the engine's `SandboxStatus`, snake_case keys).
    fn sandbox_status(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(pythonize::pythonize(py, self.inner.sandbox_status())?.unbind())
    }

    /// Checks a run's input and options and prepares it (misuse raises here). A stream
    /// without `on_permission_request` answers permission requests through `respond()`.
    #[pyo3(signature = (input, options, cancel=None, streaming=false))]
    fn start(
        &self,
        py: Python<'_>,
        input: &Bound<'_, PyAny>,
        options: &Bound<'_, PyDict>,
        cancel: Option<PyRef<'_, CancelToken>>,
        streaming: bool,
    ) -> PyResult<NativeRun> {
        let mut request = run_request(input, options)?;
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
        // The GIL released: preparing a run may call a `session_store` object's methods,
        // which take it on another thread.
        let agent = self.inner.clone();
        let run = py
            .detach(move || {
                let _context = runtime().enter();
                agent.start(request)
            })
            .map_err(|e| crate::error::run_error(py, e))?;
        Ok(NativeRun::new(run, cancel.as_deref(), pending))
    }

    /// Sends a user message to this agent's run going on on `session_id` (any run of
    /// it: `run()`, `stream()` or their asyncio twins).
    #[pyo3(signature = (session_id, message, urgent=false))]
    fn send(&self, session_id: &str, message: String, urgent: bool) -> PyResult<()> {
        crate::run::send(&self.control(session_id, "send")?, message, urgent)
    }

    /// Interrupts this agent's run going on on `session_id`.
    #[pyo3(signature = (session_id, message=None))]
    fn interrupt(&self, session_id: &str, message: Option<String>) -> PyResult<()> {
        crate::run::interrupt(&self.control(session_id, "interrupt")?, message)
    }

    /// Ends the agent's MCP servers (GIL released); a later run starts them again.
    fn close(&self, py: Python<'_>) {
        let agent = self.inner.clone();
        py.detach(|| {
            let _context = runtime().enter();
            futures::executor::block_on(agent.close());
        });
    }

    /// Rewinds a session and the workspace's files to message `to_message` (or forks from
    /// there): the engine's `RewindResult` as a dict (GIL released while it works).
    #[pyo3(signature = (session_id, to_message, fork=false))]
    fn rewind(
        &self,
        py: Python<'_>,
        session_id: String,
        to_message: &Bound<'_, PyAny>,
        fork: bool,
    ) -> PyResult<Py<PyAny>> {
        let to_message = crate::values::integer("to_message", to_message, 0, u64::from(u32::MAX))?;
        let request = harnext_core::RewindRequest {
            to_message: usize::try_from(to_message).unwrap_or(usize::MAX),
            fork,
        };
        let agent = self.inner.clone();
        let r = py
            .detach(move || agent.rewind(&session_id, &request))
            .or_invalid()?;
        let value = serde_json::json!({
            "session_id": r.session_id,
            "to_message": r.to_message,
            "messages_removed": r.messages_removed,
            "restored": r.restored,
            "removed": r.removed,
            "not_restored": r
                .not_restored
                .iter()
                .map(|n| serde_json::json!({"path": n.path, "reason": n.reason}))
                .collect::<Vec<_>>(),
        });
        Ok(pythonize::pythonize(py, &value)?.unbind())
    }

    /// `close` for asyncio.
    fn close_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let agent = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            agent.close().await;
            Ok(())
        })
    }
}
