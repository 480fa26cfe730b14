//! `agent.stream()`: an async iterable of events over a channel fed by the run.

use std::sync::Arc;
use std::sync::Mutex;

use harnext_core::permissions::PendingPermissions;
use harnext_core::protocol::AgentEvent as CoreEvent;
use harnext_core::EventSink;
use harnext_core::Run;
use napi::bindgen_prelude::AsyncGenerator;
use napi::threadsafe_function::ThreadsafeFunction;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::Status;
use napi_derive::napi;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::agent::Begun;
use crate::events::AgentEvent;

type UnlinkFn = ThreadsafeFunction<(), (), (), Status, false, true>;

/// Removes the abort listener once, from any thread: the run's task when it ends, or
/// the stream when it is dropped or returned before the run started.
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
    /// Misuse found before the run: the first `next()` rejects with it.
    Failed(napi::Error),
    Done,
}

/// The events of one run, for `for await`. Breaking out of the loop (or calling
/// `return()`) cancels the run.
#[napi(async_iterator)]
pub struct EventStream {
    state: State,
    token: CancellationToken,
    unlink: Unlink,
    pending: Option<Arc<PendingPermissions>>,
}

impl EventStream {
    pub(crate) fn new(begun: Begun<'_>) -> napi::Result<Self> {
        let unlink = match begun.unlink {
            Some(f) => Some(f.build_threadsafe_function::<()>().weak::<true>().build()?),
            None => None,
        };
        Ok(EventStream {
            state: State::Pending(begun.run),
            token: begun.token,
            unlink: Unlink(Arc::new(Mutex::new(unlink))),
            pending: begun.pending,
        })
    }

    pub(crate) fn failed(error: napi::Error) -> Self {
        EventStream {
            state: State::Failed(error),
            token: CancellationToken::new(),
            unlink: Unlink::default(),
            pending: None,
        }
    }

    fn stop(&mut self) {
        self.token.cancel();
        if matches!(self.state, State::Pending(_)) {
            // Never started: nothing will fire the unlink but us.
            self.unlink.fire();
        }
        self.state = State::Done;
    }
}

#[napi]
impl AsyncGenerator for EventStream {
    type Yield = AgentEvent;
    type Next = ();
    type Return = ();

    fn next(
        &mut self,
        _value: Option<()>,
    ) -> impl std::future::Future<Output = napi::Result<Option<AgentEvent>>> + Send + 'static {
        if let State::Pending(_) = self.state {
            if let State::Pending(run) = std::mem::replace(&mut self.state, State::Done) {
                let (tx, rx) = mpsc::unbounded_channel();
                let token = self.token.clone();
                let unlink = self.unlink.clone();
                napi::bindgen_prelude::spawn(async move {
                    run.execute(token, EventSink::channel(tx)).await;
                    unlink.fire();
                });
                self.state = State::Started(Arc::new(tokio::sync::Mutex::new(rx)));
            }
        }
        let pending = self.pending.clone();
        let step = match &self.state {
            State::Started(rx) => Ok(Some(rx.clone())),
            State::Failed(_) => match std::mem::replace(&mut self.state, State::Done) {
                State::Failed(e) => Err(e),
                _ => Ok(None),
            },
            State::Pending(_) | State::Done => Ok(None),
        };
        async move {
            match step? {
                Some(rx) => Ok(rx
                    .lock()
                    .await
                    .recv()
                    .await
                    .map(|e| AgentEvent::from_core(e, &pending))),
                None => Ok(None),
            }
        }
    }

    fn complete(
        &mut self,
        _value: Option<()>,
    ) -> impl std::future::Future<Output = napi::Result<Option<AgentEvent>>> + Send + 'static {
        self.stop();
        async move { Ok(None) }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.stop();
    }
}
