//! The native side of `agent.stream()`: a run's events, handed to JavaScript in batches.
//!
//! Each `nextBatch()` crosses the napi boundary once and returns every event that is
//! ready (at least one, waiting if none is), so the per-event cost is a JS array read,
//! not a promise round trip through the native runtime. `index.js` flattens the batches
//! into the `AsyncIterable<AgentEvent>` users iterate, and calls `cancel()` when the
//! iteration stops early (`break`, `return()`, a throw).

use std::sync::Arc;
use std::sync::Mutex;

use harnext_core::permissions::PendingPermissions;
use harnext_core::protocol::AgentEvent as CoreEvent;
use harnext_core::EventSink;
use harnext_core::Run;
use napi::threadsafe_function::ThreadsafeFunction;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::Status;
use napi_derive::napi;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::agent::Begun;
use crate::events::AgentEvent;

/// Most events handed over by one `nextBatch()`.
const MAX_BATCH: usize = 4096;

type UnlinkFn = ThreadsafeFunction<(), (), (), Status, false, true>;

/// Removes the abort listener once, from any thread: the run's task when it ends, or
/// the stream when it is cancelled or dropped before the run started.
#[derive(Clone, Default)]
struct Unlink(Arc<Mutex<Option<UnlinkFn>>>);

impl Unlink {
    fn fire(&self) {
        let f = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(f) = f {
            let _ = f.call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

type Receiver = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<CoreEvent>>>;

enum State {
    /// Not iterated yet: the run has not started.
    Pending(Run),
    Started(Receiver),
    /// Misuse found before the run: the first `nextBatch()` rejects with it.
    Failed(napi::Error),
    Done,
}

struct Inner {
    state: Mutex<State>,
    token: CancellationToken,
    unlink: Unlink,
    pending: Option<Arc<PendingPermissions>>,
}

impl Inner {
    fn stop(&self) {
        self.token.cancel();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(*state, State::Pending(_)) {
            // Never started: nothing will fire the unlink but us.
            self.unlink.fire();
        }
        *state = State::Done;
    }
}

/// Internal: the native side of `agent.stream()`. Iterate what `stream()` returns.
#[napi]
pub struct EventStream {
    inner: Arc<Inner>,
}

impl EventStream {
    pub(crate) fn new(begun: Begun<'_>) -> napi::Result<Self> {
        let unlink = match begun.unlink {
            Some(f) => Some(f.build_threadsafe_function::<()>().weak::<true>().build()?),
            None => None,
        };
        Ok(EventStream {
            inner: Arc::new(Inner {
                state: Mutex::new(State::Pending(begun.run)),
                token: begun.token,
                unlink: Unlink(Arc::new(Mutex::new(unlink))),
                pending: begun.pending,
            }),
        })
    }

    pub(crate) fn failed(error: napi::Error) -> Self {
        EventStream {
            inner: Arc::new(Inner {
                state: Mutex::new(State::Failed(error)),
                token: CancellationToken::new(),
                unlink: Unlink::default(),
                pending: None,
            }),
        }
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
                    let unlink = inner.unlink.clone();
                    tokio::spawn(async move {
                        run.execute(token, EventSink::channel(tx)).await;
                        unlink.fire();
                    });
                    let rx: Receiver = Arc::new(tokio::sync::Mutex::new(rx));
                    *state = State::Started(rx.clone());
                    rx
                }
                State::Started(rx) => {
                    *state = State::Started(rx.clone());
                    rx
                }
                State::Failed(e) => return Err(e),
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

    /// Cancels the run (or keeps it from starting) and removes the abort listener.
    #[napi(skip_typescript)]
    pub fn cancel(&self) {
        self.inner.stop();
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.inner.stop();
    }
}
