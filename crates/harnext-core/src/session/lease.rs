//! The lease of a running session: the right to run it, held by one run for its whole
//! life, and the only writer of its records.
//!
//! Every completed message goes to the store before the loop takes its next step, with a
//! `run_start` record first and a `run_end` record (usage, steps, files changed) last.
//! Only one run may hold a session at a time, across every agent of the process (a
//! process-wide registry of running sessions) and, for the file store on Unix, across
//! processes (an exclusive `flock` on the session file).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::Mutex;

use harnext_protocol::Message;
use harnext_protocol::RunResult;
use harnext_protocol::Usage;

use crate::error::RunError;
use crate::session::replay::replay;
use crate::session::replay::PendingTurn;
use crate::store::is_valid_id;
use crate::store::new_session_id;
use crate::store::now_ms;
use crate::store::SessionRecord;
use crate::store::SessionStore;
use crate::store::SessionWriter;
use crate::store::StepRecord;
use crate::store::StoreError;
use crate::store::FORMAT_VERSION;

/// The ids of the sessions a run holds right now, in this process, by store.
static RUNNING: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// A session's place in [`RUNNING`], given up on drop.
struct Running(String);

impl Running {
    fn claim(store: &dyn SessionStore, id: &str) -> Option<Running> {
        let key = format!("{}\u{0}{id}", store.key());
        let inserted = RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone());
        // Only a successful claim makes a `Running` (whose drop gives the claim up).
        if inserted {
            Some(Running(key))
        } else {
            None
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

/// What the header of a new session says about the agent that started it.
#[derive(Debug, Clone, Default)]
pub struct SessionMeta {
    pub model: Option<String>,
    pub cwd: Option<String>,
}

/// The right to run a session, held by one run; it appends to the session's store.
/// (Boxed: a prepared `Run` stays small.)
pub struct SessionLease(Box<Lease>);

struct Lease {
    id: String,
    /// The history when the run started.
    history: Vec<Message>,
    /// The task list when the run started.
    todos: Vec<harnext_protocol::TodoItem>,
    state: Mutex<LeaseState>,
    _running: Running,
}

struct LeaseState {
    store: Arc<dyn SessionStore>,
    /// Opened on the first write for a new session, at once for an existing one.
    writer: Option<Box<dyn SessionWriter>>,
    /// The header of a new session, written with its first record.
    header: Option<Box<SessionRecord>>,
    /// The first failure to write; nothing is written after it.
    failure: Option<String>,
    /// How many messages the history has now.
    len: usize,
    /// The input tokens the last model call reported, with the history length it saw.
    reported: Option<(u64, usize)>,
    /// Tools allowed for the rest of the session.
    allowed: BTreeSet<String>,
    /// The last turn's calls waiting for approvals, when they are.
    pending: Option<PendingTurn>,
    /// The decisions this run was given for them.
    answers: Option<crate::permissions::Answers>,
}

impl LeaseState {
    fn write(&mut self, record: &SessionRecord, id: &str) {
        if self.failure.is_some() {
            return;
        }
        let result = (|| -> Result<(), StoreError> {
            if self.writer.is_none() {
                self.writer = Some(self.store.open(id, true)?);
            }
            let Some(writer) = self.writer.as_mut() else {
                return Ok(());
            };
            match self.header.take() {
                // A new session's header goes with its first record, in one write.
                Some(header) => writer.append_all(&[*header, record.clone()]),
                None => writer.append(record),
            }
        })();
        if let Err(e) = result {
            self.failure = Some(e.to_string());
        }
    }
}

impl SessionLease {
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// The history the run starts from (valid for every provider).
    pub fn messages(&self) -> Vec<Message> {
        self.0.history.clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LeaseState> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that a run began.
    pub fn begin(&self) {
        self.state()
            .write(&SessionRecord::RunStart { ts: now_ms() }, &self.0.id);
    }

    /// Appends a completed message to the history.
    pub fn append(&self, message: Message) {
        let mut state = self.state();
        state.len += 1;
        state.write(
            &SessionRecord::Message {
                ts: now_ms(),
                message,
            },
            &self.0.id,
        );
    }

    /// Records the usage of a model call of the loop; its input tokens become the
    /// measure of the history's size that the compaction estimate starts from.
    pub fn record_usage(&self, usage: Usage) {
        let mut state = self.state();
        let input = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens;
        if input > 0 {
            state.reported = Some((input, state.len));
        }
        if !usage.is_zero() {
            state.write(
                &SessionRecord::Usage {
                    ts: now_ms(),
                    usage,
                },
                &self.0.id,
            );
        }
    }

    /// Records the usage of a model call outside the conversation (a summary).
    pub(crate) fn record_side_usage(&self, usage: Usage) {
        if !usage.is_zero() {
            self.state().write(
                &SessionRecord::Usage {
                    ts: now_ms(),
                    usage,
                },
                &self.0.id,
            );
        }
    }

    /// The input tokens of the last model call and the history length it saw.
    pub(crate) fn reported_input(&self) -> Option<(u64, usize)> {
        self.state().reported
    }

    /// Whether the user allowed `tool` for the rest of the session.
    pub fn is_allowed(&self, tool: &str) -> bool {
        self.state().allowed.contains(tool)
    }

    /// Allows `tool` for the rest of the session, on disk too (a resume keeps it).
    pub fn allow(&self, tool: &str) {
        let mut state = self.state();
        if state.allowed.insert(tool.to_owned()) {
            let record = SessionRecord::Permission {
                ts: now_ms(),
                tool: tool.to_owned(),
            };
            state.write(&record, &self.0.id);
        }
    }

    /// The task list when the run started (`todo_write`'s, from an earlier run).
    pub fn todos(&self) -> Vec<harnext_protocol::TodoItem> {
        self.0.todos.clone()
    }

    /// Records the task list as it is now.
    pub(crate) fn record_todos(&self, todos: Vec<harnext_protocol::TodoItem>) {
        self.state().write(
            &SessionRecord::Todos {
                ts: now_ms(),
                todos,
            },
            &self.0.id,
        );
    }

    /// Records a compaction, after which the history has `len` messages.
    pub(crate) fn record_compaction(&self, record: &SessionRecord, len: usize) {
        let mut state = self.state();
        state.len = len;
        state.reported = None;
        state.write(record, &self.0.id);
    }

    /// Records how the run ended and makes the session durable (fsync).
    pub fn finish(&self, result: &RunResult) {
        let mut state = self.state();
        state.write(
            &SessionRecord::RunEnd {
                ts: now_ms(),
                stop_reason: result.stop_reason,
                success: result.success,
                usage: result.usage,
                steps: result
                    .steps
                    .iter()
                    .map(|s| StepRecord {
                        id: s.id.clone(),
                        tool: s.tool.clone(),
                        status: s.status,
                        duration_ms: s.duration_ms,
                    })
                    .collect(),
                files_changed: result.files_changed.clone(),
                duration_ms: result.duration_ms,
                error: result.error.clone(),
            },
            &self.0.id,
        );
        if state.failure.is_none() {
            if let Some(Err(e)) = state.writer.as_mut().map(|w| w.sync()) {
                state.failure = Some(e.to_string());
            }
        }
    }

    /// Appends a record (the approvals' records).
    pub(crate) fn record(&self, record: &SessionRecord) {
        self.state().write(record, &self.0.id);
    }

    /// The calls of the last turn waiting for approvals, when they are.
    pub(crate) fn pending(&self) -> Option<PendingTurn> {
        self.state().pending.clone()
    }

    /// Gives the run decisions for the calls its session waits for.
    pub(crate) fn set_answers(&self, answers: crate::permissions::Answers) {
        self.state().answers = Some(answers);
    }

    pub(crate) fn take_answers(&self) -> Option<crate::permissions::Answers> {
        self.state().answers.take()
    }

    /// Why the session could not be written, once a write failed.
    pub fn failure(&self) -> Option<String> {
        self.state().failure.clone()
    }
}

/// Takes a session for one run: a new one (`id` is `None`), or an existing one of
/// `store`, loaded and repaired.
pub(crate) fn acquire(
    store: &Arc<dyn SessionStore>,
    id: Option<&str>,
    meta: SessionMeta,
) -> Result<SessionLease, RunError> {
    let Some(id) = id else {
        let id = new_session_id();
        let running =
            Running::claim(store.as_ref(), &id).ok_or_else(|| RunError::SessionBusy(id.clone()))?;
        let header = SessionRecord::Session {
            v: FORMAT_VERSION,
            id: id.clone(),
            ts: now_ms(),
            model: meta.model,
            cwd: meta.cwd,
            forked_from: None,
        };
        return Ok(SessionLease(Box::new(Lease {
            id,
            history: Vec::new(),
            todos: Vec::new(),
            state: Mutex::new(LeaseState {
                store: store.clone(),
                writer: None,
                header: Some(Box::new(header)),
                failure: None,
                len: 0,
                reported: None,
                allowed: BTreeSet::new(),
                pending: None,
                answers: None,
            }),
            _running: running,
        })));
    };
    let unknown = || RunError::UnknownSession(id.to_owned());
    if !is_valid_id(id) {
        return Err(unknown());
    }
    let running =
        Running::claim(store.as_ref(), id).ok_or_else(|| RunError::SessionBusy(id.to_owned()))?;
    let writer = match store.open(id, false) {
        Ok(w) => w,
        Err(StoreError::NotFound(_) | StoreError::InvalidId(_)) => return Err(unknown()),
        Err(StoreError::Locked(_)) => return Err(RunError::SessionLocked(id.to_owned())),
        Err(e) => return Err(RunError::SessionStore(e.to_string())),
    };
    let records = match store.read(id) {
        Ok(Some(records)) if !records.is_empty() => records,
        Ok(_) => return Err(unknown()),
        Err(e) => return Err(RunError::SessionStore(e.to_string())),
    };
    let replayed = replay(id, &records);
    let mut state = LeaseState {
        store: store.clone(),
        writer: Some(writer),
        header: None,
        failure: None,
        len: replayed.data.messages.len(),
        reported: None,
        allowed: replayed.data.allowed_tools.iter().cloned().collect(),
        pending: replayed.pending,
        answers: None,
    };
    if let Some(fix) = replayed.tail_fix {
        state.write(
            &SessionRecord::Message {
                ts: now_ms(),
                message: fix,
            },
            id,
        );
        if let Some(problem) = state.failure.take() {
            return Err(RunError::SessionStore(problem));
        }
    }
    Ok(SessionLease(Box::new(Lease {
        id: id.to_owned(),
        history: replayed.data.messages,
        todos: replayed.data.todos,
        state: Mutex::new(state),
        _running: running,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn one_run_per_session_in_the_process_released_on_drop() {
        let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
        let lease = acquire(&store, None, SessionMeta::default()).unwrap();
        lease.begin();
        lease.append(Message::user_text("hi"));
        let id = lease.id().to_owned();
        // Another handle on the same store (as another agent would have) is refused.
        assert_eq!(
            acquire(&store.clone(), Some(&id), SessionMeta::default()).err(),
            Some(RunError::SessionBusy(id.clone()))
        );
        drop(lease);
        let again = acquire(&store, Some(&id), SessionMeta::default()).unwrap();
        assert_eq!(again.messages(), vec![Message::user_text("hi")]);
    }
}
