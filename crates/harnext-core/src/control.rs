//! Steering a run while it works: user messages sent to it ([`RunControl::send`]), taken
//! in before its next model call (an urgent one also keeps the calls of the current turn
//! that have not started from running), and interrupts ([`RunControl::interrupt`]), which stop
//! the model call and the tool calls in progress at once and go on with a new message
//! (or, without one, end the run as cancelled). The session stays valid either way.
//!
//! A leaf of the crate.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::MutexGuard;

use tokio_util::sync::CancellationToken;

/// Why a message could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the run has ended; continue its session with a new run (`session_id`)")]
    Ended,
    #[error("the message is empty")]
    Empty,
}

/// The handle that steers one run; cheap to clone, usable from any thread.
#[derive(Clone, Default)]
pub struct RunControl {
    inner: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<String>,
    /// An urgent message is queued: the turn's calls not started yet are not run.
    urgent: bool,
    /// The current step's cancellation, which an interrupt triggers.
    step: Option<CancellationToken>,
    /// An interrupt asked for while no step was running.
    interrupted: bool,
    ended: bool,
}

impl RunControl {
    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a user message: the run takes it in before its next model call (a run
    /// whose model just ended its turn goes on with it).
    pub fn send(&self, message: impl Into<String>) -> Result<(), SendError> {
        self.queue(message.into(), false)
    }

    /// Queues a user message that also comes before the next tool call: the calls of the
    /// current turn that have not started are not run (they end `cancelled`, saying so),
    /// and the model gets the message right after the results.
    pub fn send_urgent(&self, message: impl Into<String>) -> Result<(), SendError> {
        self.queue(message.into(), true)
    }

    fn queue(&self, message: String, urgent: bool) -> Result<(), SendError> {
        if message.trim().is_empty() {
            return Err(SendError::Empty);
        }
        let mut s = self.state();
        if s.ended {
            return Err(SendError::Ended);
        }
        s.queue.push_back(message);
        s.urgent |= urgent;
        Ok(())
    }

    /// Stops the model call and the tool calls in progress (they end `cancelled`); the
    /// run goes on with `message` (and any message queued before it), or, with none,
    /// ends as cancelled.
    pub fn interrupt(&self, message: Option<String>) -> Result<(), SendError> {
        let mut s = self.state();
        if s.ended {
            return Err(SendError::Ended);
        }
        if let Some(m) = message.filter(|m| !m.trim().is_empty()) {
            s.queue.push_back(m);
        }
        match &s.step {
            Some(token) => token.cancel(),
            None => s.interrupted = true,
        }
        Ok(())
    }

    /// The cancellation of a new step: a child of the run's, cancelled by an interrupt
    /// (at once, when one came between steps).
    pub(crate) fn step_token(&self, run: &CancellationToken) -> CancellationToken {
        let token = run.child_token();
        let mut s = self.state();
        if std::mem::take(&mut s.interrupted) {
            token.cancel();
        }
        s.step = Some(token.clone());
        token
    }

    /// The messages sent since the last call, in order.
    pub(crate) fn take(&self) -> Vec<String> {
        let mut s = self.state();
        s.urgent = false;
        s.queue.drain(..).collect()
    }

    /// Whether an urgent message waits: the turn's calls not started yet are skipped.
    pub(crate) fn has_urgent(&self) -> bool {
        self.state().urgent
    }

    pub(crate) fn has_messages(&self) -> bool {
        !self.state().queue.is_empty()
    }

    /// The run is over (or will never run, when its owner drops it unstarted): later
    /// sends fail instead of queueing messages no one will read.
    pub fn end(&self) {
        let mut s = self.state();
        s.ended = true;
        s.step = None;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn messages_queue_in_order_an_interrupt_cancels_the_step_and_an_ended_run_refuses() {
        let c = RunControl::default();
        let run = CancellationToken::new();
        // An interrupt between steps cancels the next step at once.
        c.interrupt(None).unwrap();
        assert!(c.step_token(&run).is_cancelled());
        let step = c.step_token(&run);
        assert!(!step.is_cancelled());
        c.send("one").unwrap();
        c.interrupt(Some("two".into())).unwrap();
        assert!(step.is_cancelled() && !run.is_cancelled());
        assert!(c.has_messages());
        assert_eq!(c.take(), ["one", "two"]);
        assert_eq!(c.send("  "), Err(SendError::Empty));
        c.end();
        assert_eq!(c.send("late"), Err(SendError::Ended));
        assert_eq!(c.interrupt(None), Err(SendError::Ended));
    }
}

/// The runs of an agent going on now, by session id: how a message reaches a run
/// started with `run()` (`Agent::send`).
#[derive(Default)]
pub(crate) struct Running {
    runs: Mutex<std::collections::HashMap<String, RunControl>>,
    /// The workspaces of the runs going on, whose background shells `close()` kills.
    workspaces: Mutex<Vec<std::sync::Weak<harnext_tools::Workspace>>>,
}

/// Takes a run off [`Running`] when dropped.
pub(crate) struct Registered<'a> {
    running: &'a Running,
    session: String,
}

impl Running {
    fn map(&self) -> MutexGuard<'_, std::collections::HashMap<String, RunControl>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn register<'a>(&'a self, session: &str, control: &RunControl) -> Registered<'a> {
        self.map().insert(session.to_owned(), control.clone());
        Registered {
            running: self,
            session: session.to_owned(),
        }
    }

    /// Keeps `workspace` (a run's) for [`Running::kill_background_shells`] while it lives.
    pub fn register_workspace(&self, workspace: &Arc<harnext_tools::Workspace>) {
        let mut list = self.workspaces.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(workspace));
    }

    /// Kills the background shells of the runs going on (`Agent::close`).
    pub async fn kill_background_shells(&self) {
        let live: Vec<Arc<harnext_tools::Workspace>> = self
            .workspaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect();
        for workspace in live {
            workspace
                .background_shells()
                .kill_all("the agent was closed")
                .await;
        }
    }

    /// The control of the run going on on `session`.
    pub fn get(&self, session: &str) -> Option<RunControl> {
        self.map().get(session).cloned()
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.running.map().remove(&self.session);
    }
}
