//! Sessions read back: a session's records replayed into its history and what its runs
//! did, and the functions that list, load and fork sessions.
//!
//! Replaying applies messages in order and compactions as they happened. The history is
//! then made valid for every provider: a tool call without a result (a process killed
//! between an assistant turn and its tool results) gets a `cancelled` result, and a
//! result without its call is dropped. When a run resumes such a session, the synthetic
//! results are appended to the store too (see the lease).

use std::collections::BTreeSet;
use std::collections::HashMap;
use std::collections::HashSet;

use harnext_protocol::ContentBlock;
use harnext_protocol::Message;
use harnext_protocol::PendingApproval;
use harnext_protocol::Role;
use harnext_protocol::ToolStatus;
use harnext_protocol::ToolStep;
use harnext_protocol::Usage;

use crate::store::apply_compaction;
use crate::store::is_valid_id;
use crate::store::new_session_id;
use crate::store::now_ms;
use crate::store::tool_use_ids;
use crate::store::CheckpointFile;
use crate::store::ForkOrigin;
use crate::store::SessionRecord;
use crate::store::SessionStore;
use crate::store::SessionSummary;
use crate::store::StoreError;
use crate::store::FORMAT_VERSION;

/// The output of a tool call that never got its result (the process stopped first).
pub const INTERRUPTED_OUTPUT: &str =
    "Cancelled: the run stopped before this tool call finished, so it has no result.";

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
    /// Tool calls waiting for an approval given later (a deferred decision).
    pub pending_approvals: Vec<PendingApproval>,
    /// The task list the model keeps with `todo_write`, as it is now.
    pub todos: Vec<harnext_protocol::TodoItem>,
    /// The transcripts of the subagents its `task` calls ran, in the order they ended.
    pub subagents: Vec<crate::store::SubagentTranscript>,
}

/// A turn whose tool calls wait for approvals (see `SessionRecord::ApprovalsPending`).
#[derive(Debug, Clone, Default)]
pub(crate) struct PendingTurn {
    /// Every deferred call of the turn, in order.
    pub calls: Vec<PendingApproval>,
    /// The results the turn has so far (calls that ended, before or after the wait).
    pub results: Vec<ContentBlock>,
    /// Approved calls that were started and never ended (their process stopped).
    pub started: Vec<String>,
}

impl PendingTurn {
    /// The calls still waiting for a decision.
    pub fn waiting(&self) -> Vec<PendingApproval> {
        self.calls
            .iter()
            .filter(|c| !self.started.contains(&c.id) && !self.has_result(&c.id))
            .cloned()
            .collect()
    }

    pub fn has_result(&self, id: &str) -> bool {
        self.results
            .iter()
            .any(|r| matches!(r, ContentBlock::ToolResult { tool_use_id, .. } if tool_use_id == id))
    }
}

pub(crate) struct Replayed {
    pub data: SessionData,
    /// The last turn's calls waiting for approvals, if they are.
    pub pending: Option<PendingTurn>,
    /// Results added at the end of the history for tool calls that had none.
    pub tail_fix: Option<Message>,
    /// The checkpoints a rewind can still restore, in order, each with the history
    /// position it belongs to now (compactions and rewinds applied).
    pub checkpoints: Vec<(usize, Vec<CheckpointFile>)>,
    /// The hashes of the blobs the session holds.
    pub blobs: HashSet<String>,
}

pub(crate) fn replay(id: &str, records: &[SessionRecord]) -> Replayed {
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
        pending_approvals: Vec::new(),
        todos: Vec::new(),
        subagents: Vec::new(),
    };
    let mut pending: Option<PendingTurn> = None;
    let mut allowed = BTreeSet::new();
    let mut header_seen = false;
    let mut files = BTreeSet::new();
    let mut open_steps: HashMap<String, usize> = HashMap::new();
    let mut durations: HashMap<String, u64> = HashMap::new();
    let mut checkpoints: Vec<(usize, Vec<CheckpointFile>)> = Vec::new();
    let mut blobs = HashSet::new();
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
            SessionRecord::ApprovalsPending { calls, results, .. } => {
                pending = Some(PendingTurn {
                    calls: calls.clone(),
                    results: results.clone(),
                    started: Vec::new(),
                });
            }
            SessionRecord::ApprovalStarted { id, .. } => {
                if let Some(p) = pending.as_mut() {
                    p.started.push(id.clone());
                }
            }
            SessionRecord::ApprovalDone { result, .. } => {
                if let Some(p) = pending.as_mut() {
                    if let ContentBlock::ToolResult { tool_use_id, .. } = result {
                        p.started.retain(|s| s != tool_use_id);
                    }
                    p.results.push(result.clone());
                }
            }
            SessionRecord::Message { message, .. } => {
                // The turn's results message ends a wait for approvals.
                pending = None;
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
                        | ContentBlock::OpaqueReasoning { .. }
                        | ContentBlock::ProviderBlock { .. }
                        | ContentBlock::Image { .. } => {}
                    }
                }
                history.push(message.clone());
            }
            SessionRecord::Usage { usage, .. } => data.usage += *usage,
            SessionRecord::Subagent { transcript, .. } => data.subagents.push(transcript.clone()),
            SessionRecord::Permission { tool, .. } => {
                allowed.insert(tool.clone());
            }
            SessionRecord::Todos { todos, .. } => data.todos.clone_from(todos),
            SessionRecord::Compaction { summary, kept, .. } => {
                if summary.is_some() {
                    // Positions move with the history: those the summary replaced
                    // become 0 (only a rewind to the very start restores them).
                    let keep_from = history.len().saturating_sub(*kept);
                    for (at, _) in &mut checkpoints {
                        *at = if *at >= keep_from {
                            *at - keep_from + 1
                        } else {
                            0
                        };
                    }
                }
                apply_compaction(&mut history, record);
                data.compactions += 1;
            }
            SessionRecord::Blob { hash, .. } => {
                blobs.insert(hash.clone());
            }
            SessionRecord::Checkpoint { at, files, .. } => {
                checkpoints.push((*at, files.clone()));
            }
            SessionRecord::Rewind { to_message, .. } => {
                history = normalize(std::mem::take(&mut history)).0;
                history.truncate(*to_message);
                checkpoints.retain(|(at, _)| *at < *to_message);
                pending = None;
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
    let (mut messages, mut tail_fix) = normalize(history);
    if let Some(p) = &pending {
        // The last turn's calls are not interrupted: they wait (their results so far
        // are in the steps).
        if tail_fix.take().is_some() {
            messages.pop();
        }
        for r in &p.results {
            if let ContentBlock::ToolResult {
                tool_use_id,
                content,
                status,
            } = r
            {
                if let Some(step) = open_steps
                    .get(tool_use_id)
                    .and_then(|i| data.steps.get_mut(*i))
                {
                    step.status = *status;
                    step.output = content.clone();
                }
            }
        }
        data.pending_approvals = p.waiting();
    }
    data.messages = messages;
    Replayed {
        data,
        pending,
        tail_fix,
        checkpoints,
        blobs,
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
                        | ContentBlock::ToolUse { .. }
                        | ContentBlock::ProviderBlock { .. }
                        | ContentBlock::Image { .. } => other.push(block),
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
    if !is_valid_id(id) {
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
    copy_checkpoints(store, id, at, writer.as_mut(), ts)?;
    // The task list goes with the whole history; a fork cut earlier starts without one
    // (the list of that point is not kept apart from the calls in its history).
    if at == len && !data.todos.is_empty() {
        writer.append(&SessionRecord::Todos {
            ts,
            todos: data.todos,
        })?;
    }
    writer.sync()?;
    Ok(new_id)
}

/// The checkpoints of the steps a fork keeps (those before message `at`), with their
/// blobs, so that the fork can be rewound too.
fn copy_checkpoints(
    store: &dyn SessionStore,
    id: &str,
    at: usize,
    writer: &mut dyn crate::store::SessionWriter,
    ts: u64,
) -> Result<(), SessionError> {
    let Some(records) = store.read(id)? else {
        return Ok(());
    };
    let kept: Vec<(usize, Vec<CheckpointFile>)> = replay(id, &records)
        .checkpoints
        .into_iter()
        .filter(|(p, _)| *p < at)
        .collect();
    if kept.is_empty() {
        return Ok(());
    }
    let needed: HashSet<&str> = kept
        .iter()
        .flat_map(|(_, files)| files.iter())
        .filter_map(|f| match &f.state {
            crate::store::FileState::File { blob, .. } => Some(blob.as_str()),
            _ => None,
        })
        .collect();
    let mut written = HashSet::new();
    for r in &records {
        if let SessionRecord::Blob { hash, .. } = r {
            if needed.contains(hash.as_str()) && written.insert(hash.clone()) {
                writer.append(r)?;
            }
        }
    }
    for (p, files) in kept {
        writer.append(&SessionRecord::Checkpoint { ts, at: p, files })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
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
