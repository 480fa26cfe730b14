//! Sessions: the conversations runs continue, kept in a [`SessionStore`](crate::store::SessionStore) as they happen.
//!
//! A run holds a [`SessionLease`] for its whole life. The lease is the only writer of
//! its session: every completed message goes to the store before the loop takes its
//! next step, with a `run_start` record first and a `run_end` record (usage, steps,
//! files changed) last. Only one run may hold a session at a time, across every agent
//! of the process (a process-wide registry of running sessions) and, for the file store
//! on Unix, across processes (an exclusive `flock` on the session file).
//!
//! Loading a session replays its records: messages in order, compactions applied. The
//! history is then made valid for every provider: a tool call without a result (a
//! process killed between an assistant turn and its tool results) gets a `cancelled`
//! result, and a result without its call is dropped. When a run resumes such a session,
//! the synthetic results are appended to the store too.
//!
//! The parts: `lease` (a running session: the registry, the writes) and `replay`
//! (sessions read back: replay, repair, list, load, fork).

mod lease;
pub(crate) mod replay;

pub use crate::store::new_session_id;
pub use lease::SessionLease;
pub use lease::SessionMeta;
pub use replay::fork;
pub use replay::list;
pub use replay::load;
pub use replay::normalize;
pub use replay::SessionData;
pub use replay::SessionError;
pub use replay::INTERRUPTED_OUTPUT;

pub(crate) use lease::acquire;

/// A run whose session could not be saved (a session store that failed on the last
/// records) does not end as a success: its result says `session_store`.
pub(crate) fn fail_if_unsaved(
    session: &SessionLease,
    result: &mut harnext_protocol::RunResult,
    events: &crate::context::EventSink,
) {
    let Some(problem) = session.failure() else {
        return;
    };
    if result.error.is_some() || result.cancelled {
        return;
    }
    let error = harnext_protocol::HarnextError::new(
        harnext_protocol::ErrorCode::SessionStore,
        format!("the session could not be saved: {problem}"),
    );
    events.emit(harnext_protocol::AgentEvent::Error {
        error: error.clone(),
    });
    result.success = false;
    result.stop_reason = harnext_protocol::StopReason::Error;
    result.output = None;
    result.error = Some(error);
}
