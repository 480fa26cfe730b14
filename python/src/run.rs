//! A run, as the Python layer drives it: `run()` (blocking, the GIL released), the
//! batches of `stream()` (blocking), and their asyncio twins; plus `CancelToken`.
//!
//! Blocking waits release the GIL and wake every 50 ms to run Python's signal handlers
//! (`Python::check_signals`): a `KeyboardInterrupt` (or any exception a handler raises)
//! cancels the run, waits for it to end (running commands killed, open tool calls ended
//! `cancelled`, the session saved), and is then raised again with the cancelled
//! result attached as `_harnext_result` (the Python layer turns it into `.result`).

use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use harnext_core::permissions::Decision;
use harnext_core::permissions::PendingPermissions;
use harnext_core::protocol::AgentEvent as CoreEvent;
use harnext_core::protocol::RunResult as CoreResult;
use harnext_core::EventSink;
use harnext_core::Run;
use harnext_core::RunControl;
use pyo3::exceptions::PyRuntimeError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::word;

/// Most events handed over by one batch.
const MAX_BATCH: usize = 4096;
/// How often a blocking wait looks at Python's signals.
const SIGNAL_SLICE: Duration = Duration::from_millis(50);
/// The longest `close()` waits for a cancelled run to end.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// Waits for `fut` up to `limit` on this thread (also from inside a runtime thread,
/// where tokio's own `block_on` would refuse); `None` when the time ran out.
pub(crate) fn wait<F: Future>(fut: F, limit: Duration) -> Option<F::Output> {
    let _context = runtime().enter();
    futures::executor::block_on(tokio::time::timeout(limit, fut)).ok()
}

/// Cancels runs: `cancel()` may be called from any thread or a signal handler, any
/// number of times; `cancelled` tells whether it was. One token may serve many runs.
#[pyclass(frozen, module = "harnext._native")]
pub struct CancelToken {
    pub(crate) token: CancellationToken,
}

#[pymethods]
impl CancelToken {
    #[new]
    fn new() -> Self {
        CancelToken {
            token: CancellationToken::new(),
        }
    }

    /// Cancels every run this token was given to (and those it will be given to).
    fn cancel(&self) {
        self.token.cancel();
    }

    #[getter]
    fn cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    fn __repr__(&self) -> String {
        format!("CancelToken(cancelled={})", self.cancelled())
    }
}

/// A core event (or result) as the Python layer reads it: a dict, snake_case keys, with
/// error messages worded for Python.
fn event_value(mut e: CoreEvent) -> Value {
    reword_event(&mut e);
    serde_json::to_value(&e).unwrap_or(Value::Null)
}

fn reword_event(e: &mut CoreEvent) {
    match e {
        CoreEvent::Error { error } => error.message = word(&error.message),
        CoreEvent::RunEnd { result } => reword_result(result),
        CoreEvent::Subagent { event, .. } => reword_event(event),
        _ => {}
    }
}

fn reword_result(r: &mut CoreResult) {
    if let Some(e) = &mut r.error {
        e.message = word(&e.message);
    }
}

fn result_value(mut r: CoreResult) -> Value {
    reword_result(&mut r);
    serde_json::to_value(&r).unwrap_or(Value::Null)
}

fn to_py(py: Python<'_>, v: &Value) -> PyResult<Py<PyAny>> {
    Ok(pythonize::pythonize(py, v)?.unbind())
}

fn batch_to_py(py: Python<'_>, batch: Vec<CoreEvent>) -> PyResult<Py<PyAny>> {
    let list = PyList::empty(py);
    for e in batch {
        list.append(pythonize::pythonize(py, &event_value(e))?)?;
    }
    Ok(list.into_any().unbind())
}

type Receiver = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<CoreEvent>>>;

enum State {
    /// Not started yet.
    Pending(Box<Run>),
    /// Streaming: the events, up to `run_end` (the channel closes when the run is over).
    Streaming(Receiver),
    /// `run()`: the result comes through the channel `result_channel` returned.
    Running,
    Done,
}

/// A run prepared by `NativeAgent.start()`; started by the first `run`, `next_batch` or
/// their async twins. Internal: the Python layer wraps it.
#[pyclass(frozen, module = "harnext._native")]
pub struct NativeRun {
    state: Mutex<State>,
    token: CancellationToken,
    /// Answers `respond()` on `permission_request` events (a stream without
    /// `on_permission_request`).
    pending: Option<Arc<PendingPermissions>>,
    /// Messages for the run and its interrupts (`send()`, `interrupt()`).
    control: RunControl,
}

impl NativeRun {
    pub(crate) fn new(
        run: Run,
        cancel: Option<&CancelToken>,
        pending: Option<Arc<PendingPermissions>>,
    ) -> Self {
        NativeRun {
            control: run.control(),
            state: Mutex::new(State::Pending(Box::new(run))),
            token: cancel.map_or_else(CancellationToken::new, |c| c.token.child_token()),
            pending,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The event channel, starting the run when it has not started.
    fn events(&self) -> Option<Receiver> {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Done) {
            State::Pending(run) => {
                let (tx, rx) = mpsc::unbounded_channel();
                runtime().spawn(run.execute(self.token.clone(), EventSink::channel(tx)));
                let rx: Receiver = Arc::new(tokio::sync::Mutex::new(rx));
                *state = State::Streaming(rx.clone());
                Some(rx)
            }
            State::Streaming(rx) => {
                *state = State::Streaming(rx.clone());
                Some(rx)
            }
            other => {
                *state = other;
                None
            }
        }
    }

    /// The result's channel, starting the run (without events) when it has not started.
    fn result_channel(&self) -> PyResult<tokio::sync::oneshot::Receiver<CoreResult>> {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Done) {
            State::Pending(run) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let token = self.token.clone();
                runtime().spawn(async move {
                    let result = run.execute(token, EventSink::none()).await;
                    let _ = tx.send(result);
                });
                *state = State::Running;
                Ok(rx)
            }
            other => {
                *state = other;
                Err(PyRuntimeError::new_err("this run was already started"))
            }
        }
    }

    /// After an exception from a signal handler: cancel, wait for the end, and raise it
    /// again with the cancelled result attached.
    fn interrupted(&self, py: Python<'_>, e: PyErr, result: Option<CoreResult>) -> PyErr {
        self.token.cancel();
        let result = result.or_else(|| py.detach(|| self.drain()));
        if let Some(r) = result {
            if let Ok(v) = to_py(py, &result_value(r)) {
                let _ = e.value(py).setattr("_harnext_result", v);
            }
        }
        e
    }

    /// Waits (at most `CLOSE_WAIT`) for a cancelled stream to end; its result.
    fn drain(&self) -> Option<CoreResult> {
        let rx = match &*self.lock() {
            State::Streaming(rx) => rx.clone(),
            _ => return None,
        };
        let result = wait(
            async move {
                let mut rx = rx.lock().await;
                let mut result = None;
                while let Some(e) = rx.recv().await {
                    if let CoreEvent::RunEnd { result: r } = e {
                        result = Some(*r);
                    }
                }
                result
            },
            CLOSE_WAIT,
        )
        .flatten();
        *self.lock() = State::Done;
        result
    }
}

#[pymethods]
impl NativeRun {
    /// Runs to the end with the GIL released; the result as a dict.
    fn run(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let mut rx = self.result_channel()?;
        let result = loop {
            match py.detach(|| wait(&mut rx, SIGNAL_SLICE)) {
                Some(Ok(result)) => break result,
                Some(Err(_)) => {
                    return Err(PyRuntimeError::new_err(
                        "the run's task ended without a result",
                    ))
                }
                None => {
                    if let Err(e) = py.check_signals() {
                        self.token.cancel();
                        let r = py.detach(|| wait(&mut rx, CLOSE_WAIT)).and_then(Result::ok);
                        *self.lock() = State::Done;
                        return Err(self.interrupted(py, e, r));
                    }
                }
            }
        };
        *self.lock() = State::Done;
        to_py(py, &result_value(result))
    }

    /// The events ready now (waiting for at least one, with the GIL released), or `None`
    /// after `run_end`. The first call starts the run.
    fn next_batch(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let Some(rx) = self.events() else {
            return Ok(None);
        };
        loop {
            let rx = rx.clone();
            let got = py.detach(|| {
                wait(
                    async move {
                        let mut rx = rx.lock().await;
                        let mut batch = Vec::new();
                        rx.recv_many(&mut batch, MAX_BATCH).await;
                        batch
                    },
                    SIGNAL_SLICE,
                )
            });
            match got {
                Some(batch) if batch.is_empty() => {
                    *self.lock() = State::Done;
                    return Ok(None);
                }
                Some(batch) => return batch_to_py(py, batch).map(Some),
                None => {
                    if let Err(e) = py.check_signals() {
                        return Err(self.interrupted(py, e, None));
                    }
                }
            }
        }
    }

    /// `next_batch` for asyncio: an awaitable of the batch (or `None`).
    fn next_batch_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rx = self.events();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let Some(rx) = rx else {
                return Ok(None);
            };
            let mut rx = rx.lock().await;
            let mut batch = Vec::new();
            if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return Ok(None);
            }
            Python::attach(|py| batch_to_py(py, batch)).map(Some)
        })
    }

    /// `run` for asyncio: an awaitable of the result dict. Cancel with `cancel()`.
    fn run_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rx = self.result_channel()?;
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let result = rx
                .await
                .map_err(|_| PyRuntimeError::new_err("the run's task ended without a result"))?;
            Python::attach(|py| to_py(py, &result_value(result)))
        })
    }

    /// Cancels the run (it goes on to its `run_end`); a run not started never starts.
    fn cancel(&self) {
        self.token.cancel();
        // A run cancelled (or never started) takes no more messages.
        self.control.end();
        let mut state = self.lock();
        if matches!(*state, State::Pending(_)) {
            *state = State::Done;
        }
    }

    /// Cancels the run and waits (GIL released, at most 10 s) until it has ended, so
    /// its session is complete when this returns.
    fn close(&self, py: Python<'_>) {
        self.cancel();
        py.detach(|| self.drain());
    }

    /// `close` for asyncio.
    fn close_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.cancel();
        let rx = match &*self.lock() {
            State::Streaming(rx) => Some(rx.clone()),
            _ => None,
        };
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            if let Some(rx) = rx {
                let mut rx = rx.lock().await;
                let _ =
                    tokio::time::timeout(CLOSE_WAIT, async { while rx.recv().await.is_some() {} })
                        .await;
            }
            Ok(())
        })
    }

    /// Queues a user message the run takes in before its next model call (`urgent`:
    /// also before the next tool call). `ValueError` once the run has ended.
    #[pyo3(signature = (message, urgent=false))]
    fn send(&self, message: String, urgent: bool) -> PyResult<()> {
        send(&self.control, message, urgent)
    }

    /// Stops the model call and tool calls in progress; the run goes on with `message`,
    /// or without one ends cancelled.
    #[pyo3(signature = (message=None))]
    fn interrupt(&self, message: Option<String>) -> PyResult<()> {
        interrupt(&self.control, message)
    }

    /// Answers permission request `id` (the `respond()` of a `permission_request` event).
    fn respond(&self, id: &str, decision: &Bound<'_, PyAny>) -> PyResult<()> {
        let value: Value = pythonize::depythonize(decision)
            .map_err(|e| PyValueError::new_err(format!("respond(): {e}")))?;
        let decision = Decision::from_json(&value)
            .map_err(|e| PyValueError::new_err(format!("respond(): {e}")))?;
        let Some(pending) = &self.pending else {
            return Err(PyValueError::new_err(
                "respond(): this agent answers permission requests with its on_permission_request callback",
            ));
        };
        pending
            .respond(id, decision)
            .map_err(|e| PyValueError::new_err(format!("respond(): {e}")))
    }
}

/// `send()` of a run's control, its error worded for Python.
pub(crate) fn send(control: &RunControl, message: String, urgent: bool) -> PyResult<()> {
    if urgent {
        control.send_urgent(message)
    } else {
        control.send(message)
    }
    .map_err(|e| PyValueError::new_err(format!("send(): {}", word(&e.to_string()))))
}

/// `interrupt()` of a run's control, its error worded for Python.
pub(crate) fn interrupt(control: &RunControl, message: Option<String>) -> PyResult<()> {
    control
        .interrupt(message)
        .map_err(|e| PyValueError::new_err(format!("interrupt(): {}", word(&e.to_string()))))
}

impl Drop for NativeRun {
    fn drop(&mut self) {
        self.token.cancel();
        self.control.end();
    }
}
