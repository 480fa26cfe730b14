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
use harnext_core::Run;
use napi_derive::napi;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::events::AgentEvent;

/// Most events handed over by one `nextBatch()`.
const MAX_BATCH: usize = 4096;

type Receiver = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<CoreEvent>>>;

enum State {
    /// Not iterated yet: the run has not started.
    Pending(Run),
    Started(Receiver),
    Done,
}

struct Inner {
    state: Mutex<State>,
    token: CancellationToken,
    /// Set when permission requests are answered with `respond()` on the events.
    pending: Option<Arc<PendingPermissions>>,
}

/// Internal: the native side of `agent.stream()`. Iterate what `stream()` returns.
#[napi]
pub struct EventStream {
    inner: Arc<Inner>,
}

impl EventStream {
    pub(crate) fn new(run: Run, pending: Option<Arc<PendingPermissions>>) -> Self {
        EventStream {
            inner: Arc::new(Inner {
                state: Mutex::new(State::Pending(run)),
                token: CancellationToken::new(),
                pending,
            }),
        }
    }

    fn stop(&self) {
        self.inner.token.cancel();
        *self.inner.state.lock().unwrap_or_else(|e| e.into_inner()) = State::Done;
    }
}

#[napi]
impl EventStream {
    /// The events ready now (waiting for at least one), or `null` after `run_end`.
    /// The first call starts the run.
    #[napi(skip_typescript)]
    pub async fn next_batch(&self) -> napi::Result<Option<Vec<AgentEvent>>> {
        let inner = self.inner.clone();
        let rx = {
            let mut state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
            match std::mem::replace(&mut *state, State::Done) {
                State::Pending(run) => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    let token = inner.token.clone();
                    tokio::spawn(run.execute(token, EventSink::channel(tx)));
                    let rx: Receiver = Arc::new(tokio::sync::Mutex::new(rx));
                    *state = State::Started(rx.clone());
                    rx
                }
                State::Started(rx) => {
                    *state = State::Started(rx.clone());
                    rx
                }
                State::Done => return Ok(None),
            }
        };
        let mut rx = rx.lock().await;
        let mut batch = Vec::new();
        if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return Ok(None);
        }
        Ok(Some(
            batch
                .into_iter()
                .map(|e| AgentEvent::from_core(e, &inner.pending))
                .collect(),
        ))
    }

    /// Cancels the run like an aborted signal: it goes on to its `run_end` (at once,
    /// without a model request, when it has not started).
    #[napi(skip_typescript)]
    pub fn abort(&self) {
        self.inner.token.cancel();
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
