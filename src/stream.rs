//! The native side of `agent.stream()`: a run's events, handed to JavaScript in batches.
//!
//! Each `nextBatch()` crosses the napi boundary once and returns every event that is
//! ready (at least one, waiting if none is), so the per-event cost is a JS array read,
//! not a promise round trip through the native runtime. `index.js` flattens the batches
//! into the `AsyncIterable<AgentEvent>` users iterate, links the run's `signal` to
//! `abort()`, and calls `cancel()` when the iteration stops early (`break`, `return()`,
//! a throw).

use std::sync::Arc;
use std::sync::Mutex;

use harnext_core::permissions::PendingPermissions;
use harnext_core::protocol::AgentEvent as CoreEvent;
use harnext_core::EventSink;
use harnext_core::RunControl;
use napi::bindgen_prelude::PromiseRaw;
use napi::Env;
use napi_derive::napi;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::Invalid;
use crate::error::OrJs;
use crate::error::StartError;
use crate::events::AgentEvent;
use crate::store::Start;

/// Most events handed over by one `nextBatch()`.
const MAX_BATCH: usize = 4096;

type Receiver = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<CoreEvent>>>;

enum State {
    /// Not iterated yet: the run has not started (nor been prepared, with a JavaScript
    /// session store).
    Pending(Start),
    Started(Receiver),
    Done,
}

struct Inner {
    state: Mutex<State>,
    token: CancellationToken,
    /// Set when permission requests are answered with `respond()` on the events.
    pending: Option<Arc<PendingPermissions>>,
    /// Messages for the run and its interrupts (`send()`, `interrupt()`).
    control: RunControl,
}

/// Internal: the native side of `agent.stream()`. Iterate what `stream()` returns.
#[napi]
pub struct EventStream {
    inner: Arc<Inner>,
}

impl EventStream {
    pub(crate) fn new(start: Start, pending: Option<Arc<PendingPermissions>>) -> Self {
        // The run prepared later is steered by the control handed out now.
        let (control, start) = match start {
            Start::Ready(run) => (run.control(), Start::Ready(run)),
            Start::Later(prepare) => {
                let control = RunControl::default();
                let c = control.clone();
                let prepare = move || prepare().map(|run| run.with_control(c));
                (control, Start::Later(Box::new(prepare)))
            }
        };
        EventStream {
            inner: Arc::new(Inner {
                control,
                state: Mutex::new(State::Pending(start)),
                token: CancellationToken::new(),
                pending,
            }),
        }
    }

    fn stop(&self) {
        self.inner.token.cancel();
        // A run cancelled (or never started) takes no more messages.
        self.inner.control.end();
        *self.inner.state.lock().unwrap_or_else(|e| e.into_inner()) = State::Done;
    }
}

#[napi]
impl EventStream {
    /// The events ready now (waiting for at least one), or `null` after `run_end`.
    /// The first call starts the run.
    #[napi(skip_typescript)]
    pub fn next_batch<'env>(
        &self,
        env: &'env Env,
    ) -> napi::Result<PromiseRaw<'env, Option<Vec<AgentEvent>>>> {
        env.spawn_future_with_callback(next_batch(self.inner.clone()), |env, batch| {
            batch.map_err(|e| e.into_js(env))
        })
    }

    /// Cancels the run like an aborted signal: it goes on to its `run_end` (at once,
    /// without a model request, when it has not started).
    #[napi(skip_typescript)]
    pub fn abort(&self) {
        self.inner.token.cancel();
    }

    /// Queues a user message the run takes in before its next model call (`urgent`: also
    /// before the next tool call).
    #[napi(skip_typescript)]
    pub fn send(&self, message: String, urgent: Option<bool>) -> napi::Result<()> {
        let control = &self.inner.control;
        if urgent == Some(true) {
            control.send_urgent(message)
        } else {
            control.send(message)
        }
        .map_err(|e| Invalid(format!("send(): {e}")))
        .or_js()
    }

    /// Stops the model call and tool calls in progress; the run goes on with `message`,
    /// or without one ends cancelled.
    #[napi(skip_typescript)]
    pub fn interrupt(&self, message: Option<String>) -> napi::Result<()> {
        self.inner
            .control
            .interrupt(message)
            .map_err(|e| Invalid(format!("interrupt(): {e}")))
            .or_js()
    }

    /// Cancels the run (or keeps it from starting) and ends the iteration.
    #[napi(skip_typescript)]
    pub fn cancel(&self) {
        self.stop();
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `next_batch()` off the JavaScript thread: the events ready now, or why the run
/// (prepared late, for a JavaScript session store) could not start.
async fn next_batch(
    inner: Arc<Inner>,
) -> napi::Result<Result<Option<Vec<AgentEvent>>, StartError>> {
    let mut later = None;
    let rx = {
        let mut state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *state, State::Done) {
            State::Pending(start) => {
                let (tx, rx) = mpsc::unbounded_channel();
                let token = inner.token.clone();
                let rx: Receiver = Arc::new(tokio::sync::Mutex::new(rx));
                *state = State::Started(rx.clone());
                match start {
                    Start::Ready(run) => {
                        tokio::spawn((*run).execute(token, EventSink::channel(tx)));
                    }
                    later_start => later = Some((later_start, token, tx)),
                }
                rx
            }
            State::Started(rx) => {
                *state = State::Started(rx.clone());
                rx
            }
            State::Done => return Ok(Ok(None)),
        }
    };
    if let Some((start, token, tx)) = later {
        // Prepared off the JavaScript thread (a JavaScript session store): a failure is
        // the iteration's error, as a failed start is with other stores.
        match start.run().await {
            Ok(run) => {
                tokio::spawn(run.execute(token, EventSink::channel(tx)));
            }
            Err(e) => {
                inner.control.end();
                *inner.state.lock().unwrap_or_else(|e| e.into_inner()) = State::Done;
                return Ok(Err(e));
            }
        }
    }
    let mut rx = rx.lock().await;
    let mut batch = Vec::new();
    if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
        return Ok(Ok(None));
    }
    Ok(Ok(Some(
        batch
            .into_iter()
            .map(|e| AgentEvent::from_core(e, &inner.pending))
            .collect(),
    )))
}
