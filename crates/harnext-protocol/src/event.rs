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
    /// The run reached its `max_cost_usd` after a step.
    CostBudget,
    /// The run reached its `max_tokens` after a step.
    TokenBudget,
    /// The run reached its `max_duration_ms` after a step.
    TimeBudget,
    /// A `user_prompt_submit` hook blocked the run before the model saw the input.
    Blocked,
    /// Tool calls wait for approvals given later (`result.pending_approvals`); the run
    /// goes on when a run of the session answers them.
    AwaitingApproval,
}

impl StopReason {
    /// The name in events and results (`end_turn`, `cost_budget`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::MaxSteps => "max_steps",
            StopReason::Cancelled => "cancelled",
            StopReason::Error => "error",
            StopReason::MaxTokens => "max_tokens",
            StopReason::Refusal => "refusal",
            StopReason::ContentFilter => "content_filter",
            StopReason::CostBudget => "cost_budget",
            StopReason::TokenBudget => "token_budget",
            StopReason::TimeBudget => "time_budget",
            StopReason::Blocked => "blocked",
            StopReason::AwaitingApproval => "awaiting_approval",
        }
    }
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

/// A tool call whose approval was deferred: the session keeps it until a later run
/// answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingApproval {
    pub id: String,
    pub tool: String,
    pub args: Value,
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
    /// What the run's model calls cost in USD at list prices; absent (not zero) when the
    /// price of the model or of one of the calls is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
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
    /// With stop reason `awaiting_approval`: the calls waiting for a decision.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_approvals: Vec<PendingApproval>,
}

/// What the sandbox of a run is, for `run_start` and a header line.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RunSandbox {
    /// The mode the user chose (`"workspace-write"`, `"read-only"` or `"off"`).
    pub requested: String,
    /// The mode in force: the chosen one, or `"off"` when nothing confines commands.
    pub enforced: String,
    /// Whether commands may open network connections.
    pub network: bool,
    /// Whether part of the chosen mode is not enforced (best effort).
    pub partial: bool,
}

/// How a call waiting for approval would run in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSandbox {
    /// The enforced mode (`"workspace-write"` or `"read-only"`).
    pub mode: String,
    /// Whether the command would have network access.
    pub network: bool,
}

// ---- The plan (issue 18): the task list `todo_write` keeps ----

/// Where an item of the task list stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TodoStatus {
    Pending,
    InProgress,
    Completed,
}

impl TodoStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TodoStatus::Pending => "pending",
            TodoStatus::InProgress => "in_progress",
            TodoStatus::Completed => "completed",
        }
    }
}

/// One item of the task list the model keeps with `todo_write`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodoItem {
    pub content: String,
    pub status: TodoStatus,
}

// ---- end of the plan ----

// ---- Server-side web search (issue 18): the `web_search` option ----

/// Where a server-side web search stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebSearchStatus {
    /// The provider started searching (the query may not be known yet).
    Searching,
    /// The search returned its results.
    Completed,
    /// The search failed; `error` says why (the provider's error code).
    Failed,
}

impl WebSearchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WebSearchStatus::Searching => "searching",
            WebSearchStatus::Completed => "completed",
            WebSearchStatus::Failed => "failed",
        }
    }
}

/// One page a server-side web search found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSearchResult {
    pub url: String,
    /// The page's title (Anthropic gives one; OpenAI's sources have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// How old the page is, as the provider words it (`"3 days ago"`), when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_age: Option<String>,
}

// ---- end of server-side web search ----

/// The events of a run, in the order the public contract gives: `run_start` first,
/// `run_end` last and exactly once, `error` just before `run_end` on failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    RunStart {
        session_id: String,
        /// The sandbox the run's commands are in: the chosen and the enforced mode.
        #[serde(default)]
        sandbox: RunSandbox,
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
        /// How the call would run if allowed: in the OS sandbox (`Some`, the `bash`
        /// tool with a sandbox in force) or not (`None`: other tools, or no sandbox).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sandbox: Option<CallSandbox>,
    },
    /// Usage of the model call that just ended, and what it cost in USD at list prices
    /// (absent, not zero, when the price is unknown).
    Usage {
        #[serde(flatten)]
        usage: Usage,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
    },
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
    /// A message sent to the run while it worked (`send`, `interrupt`) was taken in: it
    /// is in the history from here on, before the next model call.
    UserMessage {
        text: String,
    },
    /// A hook failed (threw, timed out, or answered something it may not): `hook` is
    /// its event (`pre_tool_use`, ...), `message` what happened and what the run did
    /// (a failed `pre_tool_use` hook denies the call; any other is passed over).
    HookError {
        hook: String,
        message: String,
    },
    /// Something the user should know that does not stop the run: a skill left out
    /// (its `SKILL.md` front matter is malformed), a project instructions file cut to
    /// its size cap. `path` is the file it is about, when there is one.
    Warning {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    /// The model changed its task list (`todo_write`): the whole list as it is now.
    Todo {
        todos: Vec<TodoItem>,
    },
    /// A server-side web search (the `web_search` option): the provider ran it on its
    /// own servers, not this machine. `id` is the provider's id of the search (one
    /// search gives a `searching` event, then a `completed` or `failed` one).
    WebSearch {
        id: String,
        status: WebSearchStatus,
        /// The query, once known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<String>,
        /// With `completed`: the pages found.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        results: Vec<WebSearchResult>,
        /// With `failed`: the provider's error code (`max_uses_exceeded`, ...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The reply's text cites a web page found by a server-side web search; sent once
    /// the cited passage has been streamed as `text`.
    Citation {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// The passage of the reply (or of the page) the citation is for, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cited_text: Option<String>,
    },
    Error {
        error: HarnextError,
    },
    RunEnd {
        result: Box<RunResult>,
    },
    /// An event of a subagent (the `task` tool): `agent` is its name, `call_id` the id
    /// of the parent's `task` call that runs it, `event` the subagent's own event (its
    /// `run_start` first and its `run_end` last).
    Subagent {
        agent: String,
        call_id: String,
        event: Box<AgentEvent>,
    },
}
