use serde::Deserialize;
use serde::Serialize;

/// The public classification of a run-time failure (`HarnextError.code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Missing or rejected credentials (HTTP 401/403, or no API key configured).
    Auth,
    /// The provider throttled us (HTTP 429, `rate_limit_error`).
    RateLimit,
    /// The provider is overloaded (HTTP 529, `overloaded_error`).
    Overloaded,
    /// The provider rejected the request as malformed (HTTP 400/404/413/422).
    BadRequest,
    /// The conversation no longer fits the model's context window.
    ContextOverflow,
    /// The connection failed or broke.
    Network,
    /// A stream stalled past its idle timeout.
    Timeout,
    /// The provider failed (HTTP 5xx, `api_error`).
    Server,
    /// The run reached `maxSteps` model calls.
    MaxSteps,
    /// The model's output was cut at its output token limit.
    MaxTokens,
    /// The model declined to answer for a policy reason.
    Refusal,
    /// The provider's content filter stopped or withheld the output.
    ContentFilter,
    /// Structured output stayed invalid after every repair attempt.
    OutputInvalid,
    /// A tool failed in a way that ends the run.
    Tool,
    /// A bug or an unexpected condition inside harnext.
    Internal,
    /// The run reached its `max_cost_usd` (or its cost could no longer be known).
    CostBudget,
    /// The run reached its `max_tokens` (input, output and cache tokens together).
    TokenBudget,
    /// The run reached its `max_duration_ms`.
    TimeBudget,
    /// A hook blocked the run (`user_prompt_submit`).
    Blocked,
    /// The session store failed (unreachable, timed out, lease lost): the run stopped
    /// rather than go on unsaved.
    SessionStore,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Auth => "auth",
            ErrorCode::RateLimit => "rate_limit",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::ContextOverflow => "context_overflow",
            ErrorCode::Network => "network",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Server => "server",
            ErrorCode::MaxSteps => "max_steps",
            ErrorCode::MaxTokens => "max_tokens",
            ErrorCode::Refusal => "refusal",
            ErrorCode::ContentFilter => "content_filter",
            ErrorCode::OutputInvalid => "output_invalid",
            ErrorCode::Tool => "tool",
            ErrorCode::Internal => "internal",
            ErrorCode::CostBudget => "cost_budget",
            ErrorCode::TokenBudget => "token_budget",
            ErrorCode::TimeBudget => "time_budget",
            ErrorCode::Blocked => "blocked",
            ErrorCode::SessionStore => "session_store",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error a user sees in an `error` event and in `RunResult.error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HarnextError {
    pub code: ErrorCode,
    pub message: String,
    /// Whether trying the same request again later may succeed.
    pub retryable: bool,
    /// The HTTP status the provider answered with, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

impl HarnextError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let retryable = matches!(
            code,
            ErrorCode::RateLimit
                | ErrorCode::Overloaded
                | ErrorCode::Network
                | ErrorCode::Timeout
                | ErrorCode::Server
        );
        HarnextError {
            code,
            message: message.into(),
            retryable,
            status: None,
        }
    }

    pub fn with_status(mut self, status: Option<u16>) -> Self {
        self.status = status;
        self
    }
}

impl std::fmt::Display for HarnextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for HarnextError {}
