//! Model providers for harnext.
//!
//! A provider turns a provider-neutral [`ModelRequest`] into a stream of
//! [`ModelEvent`]s: text and reasoning deltas as they arrive, usage updates, retry
//! notices, and finally [`ModelEvent::Completed`] with the assembled assistant message.
//! Wire types stay private to each provider module; the run loop sees only this module's
//! types. Dropping the stream cancels the request at once (the HTTP connection is closed).

pub mod anthropic;
mod error;
mod http;
pub mod openai;
pub mod retry;
pub mod schema;
pub mod scripted;
pub mod sse;
#[cfg(test)]
mod testing;

use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use harnext_protocol::ContentBlock;
use harnext_protocol::Message;
use harnext_protocol::Usage;
use serde_json::Value;

pub use error::classify_http;
pub use error::classify_stream_error;
pub use error::ProviderError;

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: Value,
}

/// One model call, provider-neutral.
#[derive(Debug, Clone, Default)]
pub struct ModelRequest {
    /// The model name without its provider prefix (`claude-sonnet-4-5`).
    pub model: String,
    pub system: String,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    pub max_output_tokens: Option<u32>,
    pub temperature: Option<f64>,
    /// Reasoning budget in tokens, when thinking is on.
    pub thinking_budget: Option<u32>,
    /// The shape the final answer must have, when structured output was asked for.
    pub output: Option<OutputSpec>,
}

/// Structured output for one model call. The schema constrains only the final answer,
/// never a tool step: providers with a native JSON mode apply it to the reply text; the
/// others offer a [`FINAL_ANSWER_TOOL`] whose input is the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    /// The JSON Schema of the answer, as the user gave it.
    pub schema: Value,
    /// Require the answer now (the model ended its turn without giving one).
    pub force: bool,
}

/// The tool through which providers without a native JSON mode return the final answer.
pub const FINAL_ANSWER_TOOL: &str = "final_answer";

/// How a provider returns structured output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructuredOutputMode {
    /// The answer is the input of a call to [`FINAL_ANSWER_TOOL`].
    FinalAnswerTool,
    /// The answer is the reply text, as JSON.
    JsonText,
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelStopReason {
    EndTurn,
    ToolUse,
    MaxTokens,
    StopSequence,
    Refusal,
    PauseTurn,
    ContextWindowExceeded,
    Other(String),
}

impl ModelStopReason {
    pub fn from_wire(s: &str) -> Self {
        match s {
            "end_turn" => ModelStopReason::EndTurn,
            "tool_use" => ModelStopReason::ToolUse,
            "max_tokens" => ModelStopReason::MaxTokens,
            "stop_sequence" => ModelStopReason::StopSequence,
            "refusal" => ModelStopReason::Refusal,
            "pause_turn" => ModelStopReason::PauseTurn,
            "model_context_window_exceeded" => ModelStopReason::ContextWindowExceeded,
            other => ModelStopReason::Other(other.to_owned()),
        }
    }
}

/// The assembled result of one model call.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelResponse {
    /// The assistant message's blocks, in order (text, thinking with signatures,
    /// tool_use with parsed input).
    pub content: Vec<ContentBlock>,
    pub stop_reason: ModelStopReason,
    pub usage: Usage,
    /// Tool calls whose streamed arguments were not valid JSON (for instance cut by
    /// `max_tokens`), by call id. Their `ToolUse.input` is `{}`; the loop answers them
    /// with an error result instead of running the tool.
    pub invalid_tool_inputs: HashMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ModelEvent {
    TextDelta(String),
    ThinkingDelta(String),
    /// The usage known so far for this call (the final figure is in `Completed`).
    UsageUpdate(Usage),
    /// The request failed and is tried again after `delay_ms`.
    Retry {
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
    Completed(ModelResponse),
}

pub type ModelStream = BoxStream<'static, Result<ModelEvent, ProviderError>>;

/// A source of model turns.
pub trait ModelProvider: Send + Sync {
    /// The provider's name as used in model strings (`anthropic`, `scripted`).
    fn name(&self) -> &'static str;
    /// Starts one streamed model call. Must be called inside a tokio runtime.
    fn stream(&self, request: ModelRequest) -> ModelStream;
    /// How this provider returns structured output.
    fn structured_output_mode(&self) -> StructuredOutputMode {
        StructuredOutputMode::FinalAnswerTool
    }
}

impl<P: ModelProvider + ?Sized> ModelProvider for Arc<P> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn stream(&self, request: ModelRequest) -> ModelStream {
        (**self).stream(request)
    }
    fn structured_output_mode(&self) -> StructuredOutputMode {
        (**self).structured_output_mode()
    }
}

/// Connection settings shared by the HTTP providers.
#[derive(Clone, Default)]
pub struct HttpSettings {
    /// Overrides the provider's default endpoint; may carry a path prefix.
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    /// Extra headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// How long a stream may stay silent before it counts as stalled.
    pub idle_timeout: Option<std::time::Duration>,
}

impl std::fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print credentials: header values may carry tokens too.
        f.debug_struct("HttpSettings")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, _)| (k.as_str(), "<redacted>"))
                    .collect::<Vec<_>>(),
            )
            .field("max_retries", &self.max_retries)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}
