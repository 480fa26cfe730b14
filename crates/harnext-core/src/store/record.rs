//! The session format: the records a session is made of, one JSON object per line on
//! disk, and what they mean when read back.

use std::collections::HashSet;

use harnext_protocol::ContentBlock;
use harnext_protocol::HarnextError;
use harnext_protocol::Message;
use harnext_protocol::PendingApproval;
use harnext_protocol::StopReason;
use harnext_protocol::ToolStatus;
use harnext_protocol::Usage;
use serde::Deserialize;
use serde::Serialize;

/// The version written in each session header.
pub const FORMAT_VERSION: u32 = 1;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One line of a session file. Field names are snake_case on disk; `ts` is milliseconds
/// since the Unix epoch. Unknown record types are skipped when a session is read, so
/// later versions can add records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionRecord {
    /// The first record of a session.
    Session {
        v: u32,
        id: String,
        ts: u64,
        /// The agent's model string (`anthropic/claude-sonnet-4-5`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        /// The agent's workspace.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
        /// Set when the session was forked from another.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        forked_from: Option<ForkOrigin>,
    },
    /// A run began.
    RunStart { ts: u64 },
    /// A completed message of the conversation: the user's input, an assistant turn
    /// (with its tool calls), the results of a turn's tool calls, a partial reply.
    Message { ts: u64, message: Message },
    /// The usage of one model call (summarizing calls included).
    Usage { ts: u64, usage: Usage },
    /// The history was made smaller. Replayed in order: first the tool results whose
    /// call ids are in `trimmed` get the trimmed note instead of their content
    /// ([`trimmed_note`]), then, when `summary` is present, the history becomes
    /// `[summary] + its last `kept` messages`.
    Compaction {
        ts: u64,
        before_tokens: u64,
        after_tokens: u64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        trimmed: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<Message>,
        #[serde(default)]
        kept: usize,
        /// How many messages the summary replaced.
        #[serde(default)]
        summarized: usize,
    },
    /// The user allowed `tool` without asking for the rest of the session (a permission
    /// decision with `remember`).
    Permission { ts: u64, tool: String },
    /// Tool calls of the last assistant turn wait for approvals given later (a
    /// deferred decision). `results` are those of the turn's calls that already ended
    /// (they do not run again); the turn's results message closes the wait.
    ApprovalsPending {
        ts: u64,
        calls: Vec<PendingApproval>,
        #[serde(default)]
        results: Vec<ContentBlock>,
    },
    /// An approved call is about to run (a later run never starts it again).
    ApprovalStarted { ts: u64, id: String },
    /// An approved or denied call ended; its result.
    ApprovalDone { ts: u64, result: ContentBlock },
    /// The model changed its task list (`todo_write`): the whole list now. The last
    /// one is the session's list.
    Todos {
        ts: u64,
        todos: Vec<harnext_protocol::TodoItem>,
    },
    /// A run ended.
    RunEnd {
        ts: u64,
        stop_reason: StopReason,
        success: bool,
        /// The run's totals (also in the `usage` records).
        usage: Usage,
        /// The run's tool calls (their arguments and outputs are in the messages).
        #[serde(default)]
        steps: Vec<StepRecord>,
        #[serde(default)]
        files_changed: Vec<String>,
        duration_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<HarnextError>,
    },
    /// A subagent's run (a `task` call) ended: its transcript, kept beside the
    /// conversation (the `task` call's result is in the messages).
    Subagent {
        ts: u64,
        #[serde(flatten)]
        transcript: SubagentTranscript,
    },
}

/// A subagent's run, as its parent's session keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubagentTranscript {
    /// The parent's `task` call that ran it.
    pub call_id: String,
    /// The agent's name (a key of the `agents` option).
    pub agent: String,
    /// Its conversation: the prompt first, then its turns and tool results.
    pub messages: Vec<Message>,
    /// Its model calls' usage (also counted in the parent's).
    pub usage: Usage,
    pub stop_reason: StopReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkOrigin {
    pub id: String,
    /// How many messages of the original's history the fork kept.
    pub at_message: usize,
}

/// A tool call of a run, as `run_end` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub id: String,
    pub tool: String,
    pub status: ToolStatus,
    pub duration_ms: u64,
}

/// How every trimmed note begins.
pub const TRIMMED_PREFIX: &str = "[Output trimmed to save context:";

/// The text that replaces a trimmed tool result.
pub fn trimmed_note(original: &str, status: ToolStatus) -> String {
    let status = match status {
        ToolStatus::Ok => "ok",
        ToolStatus::Error => "error",
        ToolStatus::Denied => "denied",
        ToolStatus::Cancelled => "cancelled",
    };
    format!(
        "{TRIMMED_PREFIX} {} characters (status {status}). Run the tool again if you need it.]",
        original.chars().count()
    )
}

impl SessionRecord {
    pub fn ts(&self) -> u64 {
        match self {
            SessionRecord::ApprovalsPending { ts, .. }
            | SessionRecord::ApprovalStarted { ts, .. }
            | SessionRecord::ApprovalDone { ts, .. }
            | SessionRecord::Todos { ts, .. } => *ts,
            SessionRecord::Session { ts, .. }
            | SessionRecord::RunStart { ts }
            | SessionRecord::Message { ts, .. }
            | SessionRecord::Usage { ts, .. }
            | SessionRecord::Compaction { ts, .. }
            | SessionRecord::Permission { ts, .. }
            | SessionRecord::RunEnd { ts, .. }
            | SessionRecord::Subagent { ts, .. } => *ts,
        }
    }
}

/// Parses JSONL, skipping lines that are not a known record (a torn last line, a line
/// of a later format).
pub fn parse_records(bytes: &[u8]) -> Vec<SessionRecord> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .filter_map(|line| serde_json::from_slice::<SessionRecord>(line).ok())
        .collect()
}

/// The tool calls of `message` (an assistant turn), in order.
pub(crate) fn tool_use_ids(message: &Message) -> Vec<&str> {
    message
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ToolUse { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_torn_lines_are_skipped() {
        let header = SessionRecord::Session {
            v: FORMAT_VERSION,
            id: "sess_a".into(),
            ts: 10,
            model: Some("scripted".into()),
            cwd: None,
            forked_from: None,
        };
        let good = serde_json::to_string(&header).unwrap();
        let text = format!("{good}\n{{\"type\":\"later_kind\",\"ts\":1}}\n{{\"type\":\"run_st");
        let records = parse_records(text.as_bytes());
        assert_eq!(records, vec![header]);
    }
}
