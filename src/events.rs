//! The JavaScript shapes of events and results, converted from the core's types.

use std::sync::Arc;

use harnext_core::permissions::Decision;
use harnext_core::permissions::PendingPermissions;
use harnext_core::protocol as core;
use napi::bindgen_prelude::Function;
use napi::bindgen_prelude::JsValue;
use napi::bindgen_prelude::ToNapiValue;
use napi::Env;
use napi_derive::napi;
use serde::Serialize;
use serde_json::Value;

use crate::error::word;
use crate::error::Invalid;
use crate::error::OrJs;

#[napi(string_enum = "snake_case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    Ok,
    Error,
    Denied,
    Cancelled,
}

#[napi(string_enum = "snake_case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndTurn,
    MaxSteps,
    Cancelled,
    Error,
    MaxTokens,
    Refusal,
    ContentFilter,
    CostBudget,
    TokenBudget,
    TimeBudget,
    Blocked,
    AwaitingApproval,
}

#[napi(string_enum = "snake_case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Auth,
    RateLimit,
    Overloaded,
    BadRequest,
    ContextOverflow,
    Network,
    Timeout,
    Server,
    MaxSteps,
    MaxTokens,
    Refusal,
    ContentFilter,
    OutputInvalid,
    Tool,
    Internal,
    CostBudget,
    TokenBudget,
    TimeBudget,
    Blocked,
    SessionStore,
}

/// Token accounting: one model call's in a `usage` event, the run's totals in `RunResult.usage`.
#[napi(object)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub reasoning_tokens: i64,
    /// `true` when the server did not report usable counts (for the call, or for at least
    /// one call of the run): the zeros mean "unknown", not "free". Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreported: Option<bool>,
    /// Server-side web searches the provider ran (the `webSearch` option; billed per
    /// search). Absent when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_search_requests: Option<i64>,
}

/// What the provider said about a refusal or a filtered output.
#[napi(object)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StopDetails {
    /// The policy category, when the provider names one (`"cyber"`, `"bio"`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The provider's explanation, when it gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// The details as the provider sent them.
    #[napi(ts_type = "unknown")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<Value>,
}

/// A run-time failure: in an `error` event, and in `RunResult.error`.
#[napi(object)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HarnextError {
    pub code: ErrorCode,
    pub message: String,
    /// Whether the same request may succeed if tried again later.
    pub retryable: bool,
    /// The provider's HTTP status, when it answered with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u32>,
}

/// One tool call of a run, with its outcome.
#[napi(object)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolStep {
    pub id: String,
    pub tool: String,
    #[napi(ts_type = "unknown")]
    pub args: Value,
    pub status: ToolStatus,
    pub output: String,
    pub duration_ms: i64,
}

/// The result of a run, handed to JS as a plain object (through serde). Its TypeScript
/// declaration is in `js/header.d.ts`, where it is generic over the structured output's
/// type; keep the two in step (the Node tests check every field).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    /// The final assistant message.
    pub text: String,
    /// Every tool call of the run, in order.
    pub steps: Vec<ToolStep>,
    /// Paths relative to `cwd`, sorted, created, modified or deleted during the run.
    pub files_changed: Vec<String>,
    /// Totals over every model call of the run.
    pub usage: Usage,
    /// What the run cost in USD at list prices; absent when the price is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// `"sess_"` followed by 12 random `[0-9a-z]`.
    pub session_id: String,
    pub success: bool,
    pub cancelled: bool,
    pub stop_reason: StopReason,
    /// With `refusal` and `content_filter`: what the provider said about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_details: Option<StopDetails>,
    /// Validated structured output, when `outputSchema` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Present when `success` is false and the run was not cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<HarnextError>,
    pub duration_ms: i64,
    /// With stop reason `awaiting_approval`: the calls waiting for a decision.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending_approvals: Vec<core::PendingApproval>,
}

/// An event of a run. `run_start` is always first and `run_end` always last, exactly once.
#[napi(
    discriminant = "type",
    discriminant_case = "snake_case",
    object_from_js = false
)]
pub enum AgentEvent {
    /// The loop begins.
    RunStart {
        session_id: String,
        /// The sandbox of the run's commands: the chosen and the enforced mode.
        sandbox: RunSandbox,
    },
    /// A chunk of model reasoning (providers that expose it).
    Thinking { text: String },
    /// A chunk of the assistant's reply.
    Text { text: String },
    /// The model invokes a tool.
    ToolCall {
        id: String,
        tool: String,
        #[napi(ts_type = "Record<string, unknown>")]
        args: Value,
    },
    /// A tool finished: exactly one per `tool_call`, with the same `id`.
    ToolResult {
        id: String,
        status: ToolStatus,
        output: String,
    },
    /// A tool call needs approval (manual permission modes); the run waits for the answer.
    PermissionRequest {
        id: String,
        tool: String,
        #[napi(ts_type = "Record<string, unknown>")]
        args: Value,
        /// Whether the call would run in the OS sandbox (`bash` with a sandbox in force);
        /// only such a call can be approved with `escalate`.
        sandboxed: bool,
        /// How it would be sandboxed, when it would.
        sandbox: Option<CallSandbox>,
        /// Answers the request (when the agent has no `onPermissionRequest`): call it from
        /// inside the `for await` body; the run goes on when it has the decision.
        #[napi(ts_type = "(decision: Decision) => void")]
        respond: Responder,
    },
    /// The usage of the model call that just ended.
    Usage {
        input_tokens: i64,
        output_tokens: i64,
        cache_read_tokens: i64,
        cache_write_tokens: i64,
        reasoning_tokens: i64,
        unreported: Option<bool>,
        /// Server-side web searches of the call (the `webSearch` option); absent when none.
        web_search_requests: Option<i64>,
        /// What the call cost in USD at list prices; absent (not zero) when the model's
        /// price, or the call's usage, is unknown.
        cost_usd: Option<f64>,
    },
    /// A provider request failed and is tried again after `delayMs`.
    Retry {
        attempt: u32,
        delay_ms: i64,
        reason: String,
    },
    /// The history was made smaller to fit the model's context window: `trimmed` old tool
    /// results lost their content and a summary replaced the first `summarized` messages
    /// (0 when trimming was enough). Token counts are estimates.
    Compaction {
        before_tokens: i64,
        after_tokens: i64,
        trimmed: u32,
        summarized: u32,
    },
    /// An MCP server could not be started or stopped answering: the run goes on without
    /// its tools. `message` names the server and why (`MCP server \`x\` is unavailable: ...`).
    McpServerError { server: String, message: String },
    /// A tool of a usable MCP server is left out (its `inputSchema` is invalid, it has no
    /// name, or its name is taken); reported once per run, as soon as it is known.
    McpWarning {
        server: String,
        tool: Option<String>,
        message: String,
    },
    /// A message sent to the run while it worked (`send()`, `interrupt(message)`) was taken
    /// in: the model sees it from its next call on.
    UserMessage { text: String },
    /// A hook failed (threw, rejected, timed out, or answered something it may not): `hook`
    /// is its event (`pre_tool_use`, ...), `message` what happened and what the run did. A
    /// failed `preToolUse` hook denies the call; any other is passed over.
    HookError { hook: String, message: String },
    /// Something to know that does not stop the run: a skill left out (its `SKILL.md`
    /// front matter is malformed, its name taken), a project instructions file cut to its
    /// size cap. `path` is the file it is about.
    Warning {
        message: String,
        path: Option<String>,
    },
    /// The model changed its task list (`todo_write`): the whole list as it is now, in
    /// order. At most one item is `in_progress`.
    Todo { todos: Vec<TodoItem> },
    /// A server-side web search (the `webSearch` option): the provider ran it on its own
    /// servers, not this machine. `id` is the provider's id of the search: a `searching`
    /// event, then a `completed` (with `results`) or `failed` (with `error`, the
    /// provider's code such as `max_uses_exceeded`) one. `query` once known.
    WebSearch {
        id: String,
        status: WebSearchStatus,
        query: Option<String>,
        /// The pages found (at most 100 shown; the model sees them all).
        results: Vec<WebSearchResult>,
        error: Option<String>,
    },
    /// The reply cites a page found by a server-side web search. `citedText`: the
    /// passage quoted from the page (Anthropic) or the part of the reply that cites it
    /// (OpenAI), when known.
    Citation {
        url: String,
        title: Option<String>,
        cited_text: Option<String>,
    },
    /// A non-recoverable error ends the run; `run_end` follows.
    Error { error: HarnextError },
    /// The run is over: always the last event.
    RunEnd {
        #[napi(ts_type = "RunResult")]
        result: Value,
    },
    /// An event of a subagent (the `agents` option): `agent` is its name, `callId` the
    /// parent's `task` call that runs it, `event` its own event (its `run_start` first
    /// and its `run_end` last; a `permission_request` in it is answered as the parent's).
    Subagent {
        agent: String,
        call_id: String,
        #[napi(ts_type = "AgentEvent")]
        event: NestedEvent,
    },
}

/// The event a `subagent` event carries.
pub struct NestedEvent(Box<AgentEvent>);

impl ToNapiValue for NestedEvent {
    // napi's conversion trait is unsafe by signature; this only hands the inner event
    // to its own conversion.
    #[allow(unsafe_code)]
    unsafe fn to_napi_value(
        env: napi::sys::napi_env,
        val: Self,
    ) -> napi::Result<napi::sys::napi_value> {
        AgentEvent::to_napi_value(env, *val.0)
    }
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl From<core::ToolStatus> for ToolStatus {
    fn from(s: core::ToolStatus) -> Self {
        match s {
            core::ToolStatus::Ok => ToolStatus::Ok,
            core::ToolStatus::Error => ToolStatus::Error,
            core::ToolStatus::Denied => ToolStatus::Denied,
            core::ToolStatus::Cancelled => ToolStatus::Cancelled,
        }
    }
}

impl From<core::StopReason> for StopReason {
    fn from(s: core::StopReason) -> Self {
        match s {
            core::StopReason::EndTurn => StopReason::EndTurn,
            core::StopReason::MaxSteps => StopReason::MaxSteps,
            core::StopReason::Cancelled => StopReason::Cancelled,
            core::StopReason::Error => StopReason::Error,
            core::StopReason::MaxTokens => StopReason::MaxTokens,
            core::StopReason::Refusal => StopReason::Refusal,
            core::StopReason::ContentFilter => StopReason::ContentFilter,
            core::StopReason::CostBudget => StopReason::CostBudget,
            core::StopReason::TokenBudget => StopReason::TokenBudget,
            core::StopReason::TimeBudget => StopReason::TimeBudget,
            core::StopReason::Blocked => StopReason::Blocked,
            core::StopReason::AwaitingApproval => StopReason::AwaitingApproval,
        }
    }
}

impl From<core::ErrorCode> for ErrorCode {
    fn from(c: core::ErrorCode) -> Self {
        match c {
            core::ErrorCode::Auth => ErrorCode::Auth,
            core::ErrorCode::RateLimit => ErrorCode::RateLimit,
            core::ErrorCode::Overloaded => ErrorCode::Overloaded,
            core::ErrorCode::BadRequest => ErrorCode::BadRequest,
            core::ErrorCode::ContextOverflow => ErrorCode::ContextOverflow,
            core::ErrorCode::Network => ErrorCode::Network,
            core::ErrorCode::Timeout => ErrorCode::Timeout,
            core::ErrorCode::Server => ErrorCode::Server,
            core::ErrorCode::MaxSteps => ErrorCode::MaxSteps,
            core::ErrorCode::MaxTokens => ErrorCode::MaxTokens,
            core::ErrorCode::Refusal => ErrorCode::Refusal,
            core::ErrorCode::ContentFilter => ErrorCode::ContentFilter,
            core::ErrorCode::OutputInvalid => ErrorCode::OutputInvalid,
            core::ErrorCode::Tool => ErrorCode::Tool,
            core::ErrorCode::Internal => ErrorCode::Internal,
            core::ErrorCode::CostBudget => ErrorCode::CostBudget,
            core::ErrorCode::TokenBudget => ErrorCode::TokenBudget,
            core::ErrorCode::TimeBudget => ErrorCode::TimeBudget,
            core::ErrorCode::Blocked => ErrorCode::Blocked,
            core::ErrorCode::SessionStore => ErrorCode::SessionStore,
        }
    }
}

impl From<core::Usage> for Usage {
    fn from(u: core::Usage) -> Self {
        Usage {
            input_tokens: int(u.input_tokens),
            output_tokens: int(u.output_tokens),
            cache_read_tokens: int(u.cache_read_tokens),
            cache_write_tokens: int(u.cache_write_tokens),
            reasoning_tokens: int(u.reasoning_tokens),
            unreported: u.unreported.then_some(true),
            web_search_requests: (u.web_search_requests > 0).then(|| int(u.web_search_requests)),
        }
    }
}

impl From<core::HarnextError> for HarnextError {
    fn from(e: core::HarnextError) -> Self {
        HarnextError {
            code: e.code.into(),
            message: word(&e.message),
            retryable: e.retryable,
            status: e.status.map(u32::from),
        }
    }
}

impl From<core::ToolStep> for ToolStep {
    fn from(s: core::ToolStep) -> Self {
        ToolStep {
            id: s.id,
            tool: s.tool,
            args: s.args,
            status: s.status.into(),
            output: s.output,
            duration_ms: int(s.duration_ms),
        }
    }
}

impl RunResult {
    /// The plain JS object (camelCase keys) of the result.
    pub fn to_js(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl From<core::RunResult> for RunResult {
    fn from(r: core::RunResult) -> Self {
        RunResult {
            text: r.text,
            steps: r.steps.into_iter().map(ToolStep::from).collect(),
            files_changed: r.files_changed,
            usage: r.usage.into(),
            cost_usd: r.cost_usd,
            session_id: r.session_id,
            success: r.success,
            cancelled: r.cancelled,
            stop_reason: r.stop_reason.into(),
            stop_details: r.stop_details.map(|d| StopDetails {
                category: d.category,
                explanation: d.explanation,
                raw: d.raw,
            }),
            output: r.output,
            error: r.error.map(HarnextError::from),
            duration_ms: int(r.duration_ms),
            pending_approvals: r.pending_approvals,
        }
    }
}

/// The `respond` function of a `permission_request` event.
pub struct Responder {
    pending: Option<Arc<PendingPermissions>>,
    id: String,
}

impl ToNapiValue for Responder {
    // Implementing napi's conversion trait is unsafe by signature; the body only calls
    // napi's safe API on the env it was given.
    #[allow(unsafe_code)]
    unsafe fn to_napi_value(
        env: napi::sys::napi_env,
        val: Self,
    ) -> napi::Result<napi::sys::napi_value> {
        let env = Env::from_raw(env);
        let Responder { pending, id } = val;
        let f: Function<'_, Value, ()> = env.create_function_from_closure("respond", move |ctx| {
            let value: Value = ctx.get(0).unwrap_or(Value::Null);
            let decision = Decision::from_json(&value)
                .map_err(|e| Invalid(format!("respond(): {e}")))
                .or_js()?;
            let Some(pending) = &pending else {
                return Err(Invalid(
                    "respond(): this agent answers permission requests with its onPermissionRequest callback".to_owned(),
                ))
                .or_js();
            };
            pending
                .respond(&id, decision)
                .map_err(|e| Invalid(format!("respond(): {e}")))
                .or_js()
        })?;
        Ok(f.raw())
    }
}

// ---- The plan (issue 18): `todo_write`'s task list ----

/// Where an item of the task list stands.
#[napi(string_enum = "snake_case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TodoStatus {
    Pending,
    InProgress,
    Completed,
}

/// One item of the task list the model keeps with `todo_write`.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct TodoItem {
    /// What to do, in a few words.
    pub content: String,
    pub status: TodoStatus,
}

impl From<core::TodoItem> for TodoItem {
    fn from(t: core::TodoItem) -> Self {
        TodoItem {
            content: t.content,
            status: match t.status {
                core::TodoStatus::Pending => TodoStatus::Pending,
                core::TodoStatus::InProgress => TodoStatus::InProgress,
                core::TodoStatus::Completed => TodoStatus::Completed,
            },
        }
    }
}

// ---- end of the plan ----

// ---- Server-side web search (issue 18): the `webSearch` option ----

/// Where a server-side web search stands.
#[napi(string_enum = "snake_case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebSearchStatus {
    Searching,
    Completed,
    Failed,
}

impl From<core::WebSearchStatus> for WebSearchStatus {
    fn from(s: core::WebSearchStatus) -> Self {
        match s {
            core::WebSearchStatus::Searching => WebSearchStatus::Searching,
            core::WebSearchStatus::Completed => WebSearchStatus::Completed,
            core::WebSearchStatus::Failed => WebSearchStatus::Failed,
        }
    }
}

/// One page a server-side web search found.
#[napi(object, object_from_js = false)]
#[derive(Debug, Clone)]
pub struct WebSearchResult {
    pub url: String,
    /// The page's title (Anthropic gives one; OpenAI's sources have none).
    pub title: Option<String>,
    /// How old the page is, as the provider words it (`"3 days ago"`).
    pub page_age: Option<String>,
}

impl From<core::WebSearchResult> for WebSearchResult {
    fn from(r: core::WebSearchResult) -> Self {
        WebSearchResult {
            url: r.url,
            title: r.title,
            page_age: r.page_age,
        }
    }
}

// ---- end of server-side web search ----

/// The sandbox of a run (`run_start`).
#[napi(object, object_from_js = false)]
pub struct RunSandbox {
    /// The mode chosen with the `sandbox` option.
    #[napi(ts_type = "'workspace-write' | 'read-only' | 'off'")]
    pub requested: String,
    /// The mode in force: the chosen one, or `"off"` when nothing confines commands.
    #[napi(ts_type = "'workspace-write' | 'read-only' | 'off'")]
    pub enforced: String,
    /// Whether commands may open network connections.
    pub network: bool,
    /// Whether part of the chosen mode is not enforced (`sandboxBestEffort`).
    pub partial: bool,
}

impl From<core::RunSandbox> for RunSandbox {
    fn from(s: core::RunSandbox) -> Self {
        RunSandbox {
            requested: s.requested,
            enforced: s.enforced,
            network: s.network,
            partial: s.partial,
        }
    }
}

/// What the agent's sandbox enforces (`agent.sandboxStatus()`).
#[napi(object, object_from_js = false)]
pub struct SandboxStatus {
    /// The mode chosen with the `sandbox` option.
    #[napi(ts_type = "'workspace-write' | 'read-only' | 'off'")]
    pub requested: String,
    /// The mode in force: the chosen one, or `"off"` when nothing confines commands.
    #[napi(ts_type = "'workspace-write' | 'read-only' | 'off'")]
    pub enforced: String,
    /// Whether commands may open network connections.
    pub network: bool,
    /// Whether part of the chosen mode is not enforced (`sandboxBestEffort`).
    pub partial: bool,
    /// One paragraph: what commands can and cannot do, and how it is enforced.
    pub summary: String,
    /// What the system could not enforce.
    pub missing: Vec<String>,
}

impl From<&harnext_core::sandbox::SandboxStatus> for SandboxStatus {
    fn from(s: &harnext_core::sandbox::SandboxStatus) -> Self {
        SandboxStatus {
            requested: s.requested.as_str().to_owned(),
            enforced: s.enforced.as_str().to_owned(),
            network: s.network,
            partial: s.partial,
            summary: s.summary.clone(),
            missing: s.missing.clone(),
        }
    }
}

/// How a call waiting for approval would be sandboxed.
#[napi(object)]
pub struct CallSandbox {
    /// The enforced mode.
    #[napi(ts_type = "'workspace-write' | 'read-only'")]
    pub mode: String,
    /// Whether the command would have network access.
    pub network: bool,
}

impl From<core::CallSandbox> for CallSandbox {
    fn from(s: core::CallSandbox) -> Self {
        CallSandbox {
            mode: s.mode,
            network: s.network,
        }
    }
}

impl AgentEvent {
    /// Converts a core event; `pending` answers the `respond()` of permission requests.
    pub fn from_core(e: core::AgentEvent, pending: &Option<Arc<PendingPermissions>>) -> Self {
        match e {
            core::AgentEvent::PermissionRequest {
                id,
                tool,
                args,
                request_id,
                sandbox,
            } => AgentEvent::PermissionRequest {
                respond: Responder {
                    pending: pending.clone(),
                    id: request_id,
                },
                id,
                tool,
                args,
                sandboxed: sandbox.is_some(),
                sandbox: sandbox.map(CallSandbox::from),
            },
            core::AgentEvent::RunStart {
                session_id,
                sandbox,
            } => AgentEvent::RunStart {
                session_id,
                sandbox: sandbox.into(),
            },
            core::AgentEvent::Thinking { text } => AgentEvent::Thinking { text },
            core::AgentEvent::Text { text } => AgentEvent::Text { text },
            core::AgentEvent::ToolCall { id, tool, args } => {
                AgentEvent::ToolCall { id, tool, args }
            }
            core::AgentEvent::ToolResult { id, status, output } => AgentEvent::ToolResult {
                id,
                status: status.into(),
                output,
            },
            core::AgentEvent::Usage { usage: u, cost_usd } => AgentEvent::Usage {
                input_tokens: int(u.input_tokens),
                output_tokens: int(u.output_tokens),
                cache_read_tokens: int(u.cache_read_tokens),
                cache_write_tokens: int(u.cache_write_tokens),
                reasoning_tokens: int(u.reasoning_tokens),
                unreported: u.unreported.then_some(true),
                web_search_requests: (u.web_search_requests > 0)
                    .then(|| int(u.web_search_requests)),
                cost_usd,
            },
            core::AgentEvent::Retry {
                attempt,
                delay_ms,
                reason,
            } => AgentEvent::Retry {
                attempt,
                delay_ms: int(delay_ms),
                reason,
            },
            core::AgentEvent::Compaction {
                before_tokens,
                after_tokens,
                trimmed,
                summarized,
            } => AgentEvent::Compaction {
                before_tokens: int(before_tokens),
                after_tokens: int(after_tokens),
                trimmed,
                summarized,
            },
            core::AgentEvent::McpServerError { server, message } => {
                AgentEvent::McpServerError { server, message }
            }
            core::AgentEvent::McpWarning {
                server,
                tool,
                message,
            } => AgentEvent::McpWarning {
                server,
                tool,
                message,
            },
            core::AgentEvent::HookError { hook, message } => {
                AgentEvent::HookError { hook, message }
            }
            core::AgentEvent::UserMessage { text } => AgentEvent::UserMessage { text },
            core::AgentEvent::Warning { message, path } => AgentEvent::Warning { message, path },
            core::AgentEvent::Todo { todos } => AgentEvent::Todo {
                todos: todos.into_iter().map(TodoItem::from).collect(),
            },
            core::AgentEvent::WebSearch {
                id,
                status,
                query,
                results,
                error,
            } => AgentEvent::WebSearch {
                id,
                status: status.into(),
                query,
                results: results.into_iter().map(WebSearchResult::from).collect(),
                error,
            },
            core::AgentEvent::Citation {
                url,
                title,
                cited_text,
            } => AgentEvent::Citation {
                url,
                title,
                cited_text,
            },
            core::AgentEvent::Error { error } => AgentEvent::Error {
                error: error.into(),
            },
            core::AgentEvent::RunEnd { result } => AgentEvent::RunEnd {
                result: RunResult::from(*result).to_js(),
            },
            core::AgentEvent::Subagent {
                agent,
                call_id,
                event,
            } => AgentEvent::Subagent {
                agent,
                call_id,
                event: NestedEvent(Box::new(AgentEvent::from_core(*event, pending))),
            },
        }
    }
}
