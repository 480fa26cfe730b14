//! Sessions: the conversations runs continue, kept in a [`SessionStore`] as they happen.
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

use std::collections::BTreeSet;
use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::Mutex;

use harnext_protocol::ContentBlock;
use harnext_protocol::Message;
use harnext_protocol::Role;
use harnext_protocol::RunResult;
use harnext_protocol::ToolStatus;
use harnext_protocol::ToolStep;
use harnext_protocol::Usage;

use crate::agent::RunError;
use crate::store::now_ms;
use crate::store::tool_use_ids;
use crate::store::trimmed_note;
use crate::store::ForkOrigin;
use crate::store::SessionRecord;
use crate::store::SessionStore;
use crate::store::SessionSummary;
use crate::store::SessionWriter;
use crate::store::StepRecord;
use crate::store::StoreError;
use crate::store::FORMAT_VERSION;

/// The output of a tool call that never got its result (the process stopped first).
pub const INTERRUPTED_OUTPUT: &str =
    "Cancelled: the run stopped before this tool call finished, so it has no result.";

/// `sess_` followed by 12 random characters from `[0-9a-z]`.
pub fn new_session_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut id = String::from("sess_");
    for _ in 0..12 {
        id.push(char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]));
    }
    id
}

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
            if let Some(header) = self.header.take() {
                writer.append(&header)?;
            }
            writer.append(record)
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
            state: Mutex::new(LeaseState {
                store: store.clone(),
                writer: None,
                header: Some(Box::new(header)),
                failure: None,
                len: 0,
                reported: None,
                allowed: BTreeSet::new(),
            }),
            _running: running,
        })));
    };
    let unknown = || RunError::UnknownSession(id.to_owned());
    if !crate::store::is_valid_id(id) {
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
        state: Mutex::new(state),
        _running: running,
    })))
}

/// A session read back: its current history and what its runs did.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionData {
    pub id: String,
    /// The history a resumed run continues from: compactions applied, and repaired
    /// (tool calls without results get `cancelled` results).
    pub messages: Vec<Message>,
    /// Every tool call of the session, in order, also those a compaction summarized.
    pub steps: Vec<ToolStep>,
    /// The sum of every model call's usage (summarizing calls included).
    pub usage: Usage,
    /// Union of the runs' `filesChanged`, sorted.
    pub files_changed: Vec<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    pub updated_at: u64,
    pub model: Option<String>,
    pub cwd: Option<String>,
    pub forked_from: Option<ForkOrigin>,
    /// How many runs the session had.
    pub runs: u32,
    /// How many compactions its history went through.
    pub compactions: u32,
    /// The tools the user allowed for the rest of the session, sorted.
    pub allowed_tools: Vec<String>,
}

struct Replayed {
    data: SessionData,
    /// Results added at the end of the history for tool calls that had none.
    tail_fix: Option<Message>,
}

fn replay(id: &str, records: &[SessionRecord]) -> Replayed {
    let mut history: Vec<Message> = Vec::new();
    let mut data = SessionData {
        id: id.to_owned(),
        messages: Vec::new(),
        steps: Vec::new(),
        usage: Usage::default(),
        files_changed: Vec::new(),
        created_at: records.first().map_or(0, SessionRecord::ts),
        updated_at: 0,
        model: None,
        cwd: None,
        forked_from: None,
        runs: 0,
        compactions: 0,
        allowed_tools: Vec::new(),
    };
    let mut allowed = BTreeSet::new();
    let mut header_seen = false;
    let mut files = BTreeSet::new();
    let mut open_steps: HashMap<String, usize> = HashMap::new();
    let mut durations: HashMap<String, u64> = HashMap::new();
    for record in records {
        data.updated_at = data.updated_at.max(record.ts());
        match record {
            SessionRecord::Session {
                ts,
                model,
                cwd,
                forked_from,
                ..
            } => {
                if !header_seen {
                    header_seen = true;
                    data.created_at = *ts;
                    data.model = model.clone();
                    data.cwd = cwd.clone();
                    data.forked_from = forked_from.clone();
                }
            }
            SessionRecord::RunStart { .. } => data.runs += 1,
            SessionRecord::Message { message, .. } => {
                for block in &message.content {
                    match block {
                        ContentBlock::ToolUse { id, name, input } => {
                            open_steps.insert(id.clone(), data.steps.len());
                            data.steps.push(ToolStep {
                                id: id.clone(),
                                tool: name.clone(),
                                args: input.clone(),
                                status: ToolStatus::Cancelled,
                                output: INTERRUPTED_OUTPUT.to_owned(),
                                duration_ms: 0,
                            });
                        }
                        ContentBlock::ToolResult {
                            tool_use_id,
                            content,
                            status,
                        } => {
                            if let Some(step) = open_steps
                                .remove(tool_use_id)
                                .and_then(|i| data.steps.get_mut(i))
                            {
                                step.status = *status;
                                step.output = content.clone();
                            }
                        }
                        ContentBlock::Text { .. }
                        | ContentBlock::Thinking { .. }
                        | ContentBlock::RedactedThinking { .. }
                        | ContentBlock::OpaqueReasoning { .. } => {}
                    }
                }
                history.push(message.clone());
            }
            SessionRecord::Usage { usage, .. } => data.usage += *usage,
            SessionRecord::Permission { tool, .. } => {
                allowed.insert(tool.clone());
            }
            SessionRecord::Compaction { .. } => {
                apply_compaction(&mut history, record);
                data.compactions += 1;
            }
            SessionRecord::RunEnd {
                steps,
                files_changed,
                ..
            } => {
                files.extend(files_changed.iter().cloned());
                for s in steps {
                    durations.insert(s.id.clone(), s.duration_ms);
                }
            }
        }
    }
    for step in &mut data.steps {
        if let Some(d) = durations.get(&step.id) {
            step.duration_ms = *d;
        }
    }
    data.files_changed = files.into_iter().collect();
    data.allowed_tools = allowed.into_iter().collect();
    let (messages, tail_fix) = normalize(history);
    data.messages = messages;
    Replayed { data, tail_fix }
}

/// Applies a `compaction` record to `history` (the loop and the replay share it, so a
/// resumed session sees exactly the history the run had).
pub(crate) fn apply_compaction(history: &mut Vec<Message>, record: &SessionRecord) {
    let SessionRecord::Compaction {
        trimmed,
        summary,
        kept,
        ..
    } = record
    else {
        return;
    };
    if !trimmed.is_empty() {
        let ids: HashSet<&str> = trimmed.iter().map(String::as_str).collect();
        for message in history.iter_mut() {
            for block in &mut message.content {
                if let ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    status,
                } = block
                {
                    if ids.contains(tool_use_id.as_str()) {
                        *content = trimmed_note(content, *status);
                    }
                }
            }
        }
    }
    if let Some(summary) = summary {
        let keep_from = history.len().saturating_sub(*kept);
        let tail = history.split_off(keep_from);
        *history = std::iter::once(summary.clone()).chain(tail).collect();
    }
}

fn cancelled_results(ids: &[String]) -> Vec<ContentBlock> {
    ids.iter()
        .map(|id| ContentBlock::ToolResult {
            tool_use_id: id.clone(),
            content: INTERRUPTED_OUTPUT.to_owned(),
            status: ToolStatus::Cancelled,
        })
        .collect()
}

/// Makes a history valid for every provider: each assistant turn's tool calls get
/// their results in the next (user) message, `cancelled` ones where they are missing;
/// results that answer no call of the turn before are dropped, as are empty messages.
/// Returns the history and, when the last turn's calls had no results at all, the
/// message of results added at the end.
pub fn normalize(history: Vec<Message>) -> (Vec<Message>, Option<Message>) {
    let mut out: Vec<Message> = Vec::with_capacity(history.len() + 1);
    let mut open: Vec<String> = Vec::new();
    for message in history {
        match message.role {
            Role::Assistant => {
                if !open.is_empty() {
                    out.push(Message {
                        role: Role::User,
                        content: cancelled_results(&std::mem::take(&mut open)),
                    });
                }
                if message.content.is_empty() {
                    continue;
                }
                open = tool_use_ids(&message)
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                out.push(message);
            }
            Role::User => {
                let mut waiting: Vec<String> = std::mem::take(&mut open);
                let mut results = Vec::new();
                let mut other = Vec::new();
                for block in message.content {
                    match block {
                        ContentBlock::ToolResult {
                            ref tool_use_id, ..
                        } => {
                            if let Some(i) = waiting.iter().position(|w| w == tool_use_id) {
                                waiting.remove(i);
                                results.push(block);
                            }
                        }
                        ContentBlock::Text { .. }
                        | ContentBlock::Thinking { .. }
                        | ContentBlock::RedactedThinking { .. }
                        | ContentBlock::OpaqueReasoning { .. }
                        | ContentBlock::ToolUse { .. } => other.push(block),
                    }
                }
                results.extend(cancelled_results(&waiting));
                results.extend(other);
                if !results.is_empty() {
                    out.push(Message {
                        role: Role::User,
                        content: results,
                    });
                }
            }
        }
    }
    let tail_fix = (!open.is_empty()).then(|| Message {
        role: Role::User,
        content: cancelled_results(&open),
    });
    if let Some(fix) = &tail_fix {
        out.push(fix.clone());
    }
    (out, tail_fix)
}

/// Why a session could not be listed, loaded or forked.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("unknown session `{id}`: there is no such session in {location}")]
    NotFound { id: String, location: String },
    #[error("cannot fork session `{id}` at message {at}: its history has {len} messages")]
    ForkOutOfRange { id: String, at: usize, len: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every session of `store` with a header, newest (last updated) first.
pub fn list(store: &dyn SessionStore) -> Result<Vec<SessionSummary>, SessionError> {
    Ok(store.list()?)
}

/// Reads a session back. Never writes: the repair of a history whose last tool calls
/// have no results is in the returned messages, and is appended when a run resumes it.
pub fn load(store: &dyn SessionStore, id: &str) -> Result<SessionData, SessionError> {
    let not_found = || SessionError::NotFound {
        id: id.to_owned(),
        location: store.location(),
    };
    if !crate::store::is_valid_id(id) {
        return Err(not_found());
    }
    match store.read(id)? {
        Some(records) if !records.is_empty() => Ok(replay(id, &records).data),
        _ => Err(not_found()),
    }
}

/// Copies session `id` into a new session of the same store and returns the new id.
/// The fork keeps the first `at_message` messages of the history (`load(id).messages`;
/// all of them when `None`); tool calls left without results by the cut get `cancelled`
/// results. Usage, steps and files changed start afresh in the fork.
pub fn fork(
    store: &dyn SessionStore,
    id: &str,
    at_message: Option<usize>,
) -> Result<String, SessionError> {
    let data = load(store, id)?;
    let len = data.messages.len();
    let at = at_message.unwrap_or(len);
    if at > len {
        return Err(SessionError::ForkOutOfRange {
            id: id.to_owned(),
            at,
            len,
        });
    }
    let (messages, _) = normalize(data.messages.into_iter().take(at).collect());
    let new_id = new_session_id();
    let mut writer = store.open(&new_id, true)?;
    let ts = now_ms();
    writer.append(&SessionRecord::Session {
        v: FORMAT_VERSION,
        id: new_id.clone(),
        ts,
        model: data.model,
        cwd: data.cwd,
        forked_from: Some(ForkOrigin {
            id: id.to_owned(),
            at_message: at,
        }),
    })?;
    for message in messages {
        writer.append(&SessionRecord::Message { ts, message })?;
    }
    writer.sync()?;
    Ok(new_id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::MemoryStore;
    use serde_json::json;

    fn tool_use(id: &str) -> ContentBlock {
        ContentBlock::ToolUse {
            id: id.into(),
            name: "bash".into(),
            input: json!({"command": "ls"}),
        }
    }

    fn result(id: &str) -> ContentBlock {
        ContentBlock::ToolResult {
            tool_use_id: id.into(),
            content: "ok".into(),
            status: ToolStatus::Ok,
        }
    }

    fn assistant(blocks: Vec<ContentBlock>) -> Message {
        Message {
            role: Role::Assistant,
            content: blocks,
        }
    }

    fn user(blocks: Vec<ContentBlock>) -> Message {
        Message {
            role: Role::User,
            content: blocks,
        }
    }

    #[test]
    fn ids_have_the_documented_shape_and_differ() {
        let a = new_session_id();
        assert!(a.starts_with("sess_") && a.len() == 17, "{a}");
        assert!(a[5..]
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        assert_ne!(a, new_session_id());
    }

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

    #[test]
    fn normalize_closes_open_calls_and_drops_orphan_results() {
        let history = vec![
            Message::user_text("go"),
            assistant(vec![tool_use("a"), tool_use("b")]),
            user(vec![result("a"), result("zzz")]),
            assistant(vec![tool_use("c")]),
            assistant(vec![ContentBlock::Text { text: "x".into() }]),
            assistant(vec![tool_use("d")]),
        ];
        let (fixed, tail) = normalize(history);
        let shape: Vec<(Role, Vec<String>)> = fixed
            .iter()
            .map(|m| {
                (
                    m.role,
                    m.content
                        .iter()
                        .map(|b| match b {
                            ContentBlock::ToolUse { id, .. } => format!("use:{id}"),
                            ContentBlock::ToolResult {
                                tool_use_id,
                                status,
                                ..
                            } => format!("result:{tool_use_id}:{status:?}"),
                            _ => "text".into(),
                        })
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (Role::User, vec!["text".into()]),
                (Role::Assistant, vec!["use:a".into(), "use:b".into()]),
                (
                    Role::User,
                    vec!["result:a:Ok".into(), "result:b:Cancelled".into()]
                ),
                (Role::Assistant, vec!["use:c".into()]),
                (Role::User, vec!["result:c:Cancelled".into()]),
                (Role::Assistant, vec!["text".into()]),
                (Role::Assistant, vec!["use:d".into()]),
                (Role::User, vec!["result:d:Cancelled".into()]),
            ]
        );
        assert_eq!(tail, fixed.last().cloned());
    }

    #[test]
    fn compaction_records_replay_to_the_same_history() {
        let mut history = vec![
            Message::user_text("one"),
            assistant(vec![tool_use("a")]),
            user(vec![result("a")]),
            assistant(vec![ContentBlock::Text { text: "two".into() }]),
            Message::user_text("three"),
        ];
        let record = SessionRecord::Compaction {
            ts: 1,
            before_tokens: 10,
            after_tokens: 5,
            trimmed: vec!["a".into()],
            summary: Some(Message::user_text("summary")),
            kept: 2,
            summarized: 3,
        };
        apply_compaction(&mut history, &record);
        assert_eq!(
            history,
            vec![
                Message::user_text("summary"),
                assistant(vec![ContentBlock::Text { text: "two".into() }]),
                Message::user_text("three"),
            ]
        );
    }
}
