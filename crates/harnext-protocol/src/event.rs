use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

use crate::HarnextError;
use crate::Usage;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    Ok,
    Error,
    Denied,
    Cancelled,
}

impl ToolStatus {
    /// Whether the provider should see this result flagged as an error.
    pub fn is_error(self) -> bool {
        !matches!(self, ToolStatus::Ok)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    MaxSteps,
    Cancelled,
    Error,
    /// The model's output was cut at its output token limit (`max_output_tokens`).
    MaxTokens,
    /// The model declined to answer for a policy reason; see `stop_details`.
    Refusal,
    /// The provider's content filter stopped or withheld the output; see `stop_details`.
    ContentFilter,
}

/// What the provider said about a refusal or a filtered output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StopDetails {
    /// The policy category, when the provider names one (`"cyber"`, `"bio"`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The provider's explanation, when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// The details as the provider sent them (Anthropic's `stop_details`, Chat's
    /// `content_filter_results`, Responses' `incomplete_details`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<Value>,
}

/// One tool call of a run, with its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolStep {
    pub id: String,
    pub tool: String,
    pub args: Value,
    pub status: ToolStatus,
    pub output: String,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The final assistant message: the text of the last model call.
    pub text: String,
    pub steps: Vec<ToolStep>,
    /// Paths relative to the workspace, sorted, that the run created, modified or deleted.
    pub files_changed: Vec<String>,
    /// Totals over every model call of the run.
    pub usage: Usage,
    pub session_id: String,
    pub success: bool,
    pub cancelled: bool,
    pub stop_reason: StopReason,
    /// With `refusal` and `content_filter`: what the provider said about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_details: Option<StopDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<HarnextError>,
    pub duration_ms: u64,
}

/// The events of a run, in the order the public contract gives: `run_start` first,
/// `run_end` last and exactly once, `error` just before `run_end` on failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    RunStart {
        session_id: String,
    },
    Thinking {
        text: String,
    },
    Text {
        text: String,
    },
    ToolCall {
        id: String,
        tool: String,
        args: Value,
    },
    ToolResult {
        id: String,
        status: ToolStatus,
        output: String,
    },
    /// A tool call needs approval before it runs (manual permission modes).
    PermissionRequest {
        /// The tool call's id.
        id: String,
        tool: String,
        args: Value,
        /// The engine's key for this request, unique in the process: what an answer
        /// from outside the run is given for (`PendingPermissions::respond`), so a
        /// model that reuses a tool call id cannot mix two requests up.
        request_id: String,
    },
    /// Usage of the model call that just ended.
    Usage(Usage),
    /// A provider request failed and will be tried again after `delay_ms`.
    Retry {
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
    /// The history was made smaller to fit the model's context window: `trimmed` old
    /// tool results lost their content, and a summary replaced the first `summarized`
    /// messages (0 when trimming was enough). Token counts are estimates.
    Compaction {
        before_tokens: u64,
        after_tokens: u64,
        trimmed: u32,
        summarized: u32,
    },
    /// An MCP server could not be started, or stopped answering: its tools are not
    /// offered, and the run goes on without them. `message` names the server and why
    /// ("MCP server `x` is unavailable: ..."); the model gets the same note.
    McpServerError {
        server: String,
        message: String,
    },
    /// Something about a usable MCP server the user should know: a tool left out (its
    /// `inputSchema` is invalid, it has no name, or its name is taken). Reported once
    /// per run, as soon as it is known.
    McpWarning {
        server: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool: Option<String>,
        message: String,
    },
    Error {
        error: HarnextError,
    },
    RunEnd {
        result: Box<RunResult>,
    },
}
