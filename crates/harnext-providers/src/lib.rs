//! Model providers for harnext.
//!
//! A provider turns a provider-neutral [`ModelRequest`] into a stream of
//! [`ModelEvent`]s: text and reasoning deltas as they arrive, usage updates, retry
//! notices, and finally [`ModelEvent::Completed`] with the assembled assistant message.
//! Wire types stay private to each provider module; the run loop sees only this module's
//! types. Dropping the stream cancels the request at once (the HTTP connection is closed).

pub mod anthropic;
mod error;
#[cfg(test)]
mod fuzz;
mod http;
mod lenient;
pub mod openai;
pub mod redact;
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
pub use error::SettingsError;
pub use error::API_KEY_OPTION;
pub use error::IDLE_TIMEOUT_OPTION;
pub use error::STREAM_TIMEOUT_OPTION;
pub use harnext_protocol::redact::Redactor;
pub use http::panic_message;
pub use http::DEFAULT_IDLE_TIMEOUT;
pub use http::DEFAULT_STREAM_TIMEOUT;

/// A tool offered to the model.
///
/// The schema is shared (`Arc`): every request of every run offers the same tools, and
/// agents built with the same tools share one copy of each schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: Arc<Value>,
}

/// One model call, provider-neutral.
#[derive(Debug, Clone, Default)]
pub struct ModelRequest {
    /// The model name without its provider prefix (`claude-sonnet-4-5`).
    pub model: String,
    pub system: String,
    /// The history, shared with the run loop (a request does not copy it). An HTTP
    /// provider keeps it for the turn and serialises the body for each attempt, so no
    /// copy of the body outlives its sending.
    pub messages: Arc<Vec<Message>>,
    /// The tools, shared with the run loop.
    pub tools: Arc<Vec<ToolSpec>>,
    pub max_output_tokens: Option<u32>,
    pub temperature: Option<f64>,
    /// Reasoning budget in tokens, when thinking is on.
    pub thinking_budget: Option<u32>,
    /// The shape the final answer must have, when structured output was asked for.
    pub output: Option<OutputSpec>,
    /// The provider's own server-side web search, when it is on (see [`WebSearch`]).
    pub web_search: Option<WebSearch>,
}

// ---- Server-side web search (issue 18) ----

/// The providers' own server-side web search for a model call: Anthropic's
/// `web_search_20250305` server tool, OpenAI Responses' hosted `web_search` tool. The
/// search runs on the provider's servers; its blocks come back in the response as
/// [`ContentBlock::ProviderBlock`]s and its progress as [`ModelEvent::WebSearch`] and
/// [`ModelEvent::Citation`]. Check it with [`ModelProvider::check_web_search`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebSearch {
    /// At most this many searches per model call (Anthropic's `max_uses`).
    pub max_uses: Option<u32>,
    /// Only results from these domains (and their subdomains).
    pub allowed_domains: Vec<String>,
    /// Never results from these domains (Anthropic only).
    pub blocked_domains: Vec<String>,
    /// Where the user is, to localize results.
    pub user_location: Option<UserLocation>,
}

/// An approximate user location for web search (`{type:"approximate", ...}` on both
/// wires).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserLocation {
    pub city: Option<String>,
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 country code (`US`).
    pub country: Option<String>,
    /// IANA time zone (`America/Los_Angeles`).
    pub timezone: Option<String>,
}

impl UserLocation {
    /// `{type:"approximate", city?, region?, country?, timezone?}`.
    pub fn wire(&self) -> Value {
        let mut o = serde_json::Map::new();
        o.insert("type".into(), Value::String("approximate".into()));
        for (key, v) in [
            ("city", &self.city),
            ("region", &self.region),
            ("country", &self.country),
            ("timezone", &self.timezone),
        ] {
            if let Some(v) = v {
                o.insert(key.into(), Value::String(v.clone()));
            }
        }
        Value::Object(o)
    }
}

// ---- end of server-side web search ----

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
///
/// A turn that ends for any reason but [`ModelStopReason::EndTurn`],
/// [`ModelStopReason::ToolUse`] or [`ModelStopReason::StopSequence`] did not end
/// normally, and the loop should say so rather than report success:
///
/// | variant | Anthropic | Chat Completions | Responses |
/// |---|---|---|---|
/// | `MaxTokens` | `stop_reason: "max_tokens"` | `finish_reason: "length"` | `response.incomplete`, `incomplete_details.reason: "max_output_tokens"` |
/// | `Refusal` | `stop_reason: "refusal"` with `stop_details` | a `refusal` in the message | a `refusal` content part |
/// | `ContentFilter` | — | `finish_reason: "content_filter"` (with the choice's `content_filter_results`) | `response.incomplete`, `incomplete_details.reason: "content_filter"` |
/// | `ContextWindowExceeded` | `model_context_window_exceeded` | — | — |
/// | `PauseTurn` | `pause_turn` | — | — |
///
/// A refusal's or a filter's text (if any) is also in the response's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelStopReason {
    EndTurn,
    ToolUse,
    /// The output was cut at the output token limit.
    MaxTokens,
    StopSequence,
    /// The model declined to answer, for a policy reason.
    Refusal(StopDetails),
    /// The provider's content filter stopped or withheld the output.
    ContentFilter(StopDetails),
    PauseTurn,
    ContextWindowExceeded,
    Other(String),
}

/// What a provider said about a refusal or a filtered output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopDetails {
    /// The policy category, when the provider names one (Anthropic's
    /// `stop_details.category`: `"cyber"`, `"bio"`, ...).
    pub category: Option<String>,
    /// The provider's explanation (Anthropic's `stop_details.explanation`, the text of
    /// an OpenAI refusal).
    pub explanation: Option<String>,
    /// The details as the provider sent them: Anthropic's `stop_details`, Chat's
    /// `content_filter_results` of the choice, Responses' `incomplete_details`.
    pub raw: Option<Value>,
}

impl StopDetails {
    /// Details from a JSON object with optional `category` and `explanation` strings.
    pub fn from_wire(raw: &Value) -> StopDetails {
        let field = |key: &str| {
            raw.get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        StopDetails {
            category: field("category"),
            explanation: field("explanation"),
            raw: (!raw.is_null()).then(|| raw.clone()),
        }
    }

    pub(crate) fn redact(&mut self, redactor: &Redactor) {
        for text in [&mut self.category, &mut self.explanation]
            .into_iter()
            .flatten()
        {
            redactor.redact_string(text);
        }
        if let Some(raw) = &mut self.raw {
            redactor.redact_json(raw);
        }
    }
}

impl ModelStopReason {
    /// Anthropic's `stop_reason` values (a refusal without details).
    pub fn from_wire(s: &str) -> Self {
        match s {
            "end_turn" => ModelStopReason::EndTurn,
            "tool_use" => ModelStopReason::ToolUse,
            "max_tokens" => ModelStopReason::MaxTokens,
            "stop_sequence" => ModelStopReason::StopSequence,
            "refusal" => ModelStopReason::Refusal(StopDetails::default()),
            "pause_turn" => ModelStopReason::PauseTurn,
            "model_context_window_exceeded" => ModelStopReason::ContextWindowExceeded,
            other => ModelStopReason::Other(other.to_owned()),
        }
    }

    /// The stop reason's snake_case name: `end_turn`, `tool_use`, `max_tokens`,
    /// `stop_sequence`, `refusal`, `content_filter`, `pause_turn`,
    /// `context_window_exceeded`, or the provider's own word.
    pub fn as_str(&self) -> &str {
        match self {
            ModelStopReason::EndTurn => "end_turn",
            ModelStopReason::ToolUse => "tool_use",
            ModelStopReason::MaxTokens => "max_tokens",
            ModelStopReason::StopSequence => "stop_sequence",
            ModelStopReason::Refusal(_) => "refusal",
            ModelStopReason::ContentFilter(_) => "content_filter",
            ModelStopReason::PauseTurn => "pause_turn",
            ModelStopReason::ContextWindowExceeded => "context_window_exceeded",
            ModelStopReason::Other(s) => s,
        }
    }

    /// The details of a refusal or a content-filter stop.
    pub fn details(&self) -> Option<&StopDetails> {
        match self {
            ModelStopReason::Refusal(d) | ModelStopReason::ContentFilter(d) => Some(d),
            _ => None,
        }
    }

    pub(crate) fn details_mut(&mut self) -> Option<&mut StopDetails> {
        match self {
            ModelStopReason::Refusal(d) | ModelStopReason::ContentFilter(d) => Some(d),
            _ => None,
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
    /// A server-side web search started, ended or failed (see [`WebSearch`]).
    WebSearch {
        /// The provider's id of the search.
        id: String,
        status: harnext_protocol::WebSearchStatus,
        query: Option<String>,
        results: Vec<harnext_protocol::WebSearchResult>,
        /// The provider's error code, when it failed.
        error: Option<String>,
    },
    /// The reply cites a page found by a server-side web search.
    Citation {
        url: String,
        title: Option<String>,
        cited_text: Option<String>,
    },
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
    /// Whether this provider can run `search` (its own server-side web search), and if
    /// not, why: the problem, in a sentence naming the provider. The default: it has none.
    fn check_web_search(&self, search: &WebSearch) -> Result<(), String> {
        let _ = search;
        Err(format!(
            "the `{}` provider has no server-side web search; it is offered by `anthropic/...` (Messages) and `openai/...` (Responses) models",
            self.name()
        ))
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
    fn check_web_search(&self, search: &WebSearch) -> Result<(), String> {
        (**self).check_web_search(search)
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
    /// How long a stream may stay silent before it counts as stalled (neutral option
    /// key `idle_timeout_ms`). `None`: [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Option<std::time::Duration>,
    /// How long one model call may take in all, from the first request to the end of
    /// the response, retries and their waits included, however steadily data arrives
    /// (neutral option key `stream_timeout_ms`). Past it the call fails with a
    /// `timeout` error ([`ProviderError::Deadline`]). `None`:
    /// [`DEFAULT_STREAM_TIMEOUT`].
    pub stream_timeout: Option<std::time::Duration>,
}

impl HttpSettings {
    /// Checks what would otherwise fail every request: the base URL (an http(s) URL),
    /// header names, header values (no CR, LF or other control character) and the
    /// timeouts (at least 1 ms). Messages never show a credential.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if let Some(base) = &self.base_url {
            let ok = reqwest::Url::parse(base.trim())
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
            if !ok {
                return Err(SettingsError::InvalidBaseUrl {
                    shown: format!("{:?}", redact::redact_url(base)),
                });
            }
        }
        for (name, value) in &self.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(SettingsError::InvalidHeaderName { name: name.clone() });
            }
            if reqwest::header::HeaderValue::from_str(value).is_err() {
                let problem = if value.contains(['\r', '\n']) {
                    "contains a line break (CR or LF)"
                } else {
                    "contains a control character"
                };
                return Err(SettingsError::InvalidHeaderValue {
                    name: name.clone(),
                    problem,
                });
            }
        }
        if let Some(key) = &self.api_key {
            if reqwest::header::HeaderValue::from_str(key).is_err() {
                return Err(SettingsError::InvalidApiKey {
                    problem: if key.contains(['\r', '\n']) {
                        "contains a line break (CR or LF)"
                    } else {
                        "contains a control character"
                    },
                });
            }
        }
        for (timeout, option) in [
            (self.idle_timeout, IDLE_TIMEOUT_OPTION),
            (self.stream_timeout, STREAM_TIMEOUT_OPTION),
        ] {
            if timeout.is_some_and(|t| t.is_zero()) {
                return Err(SettingsError::ZeroTimeout { option });
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print credentials: header values may carry tokens too, and the base
        // URL user info and query.
        f.debug_struct("HttpSettings")
            .field(
                "base_url",
                &self.base_url.as_deref().map(redact::redact_url),
            )
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
            .field("stream_timeout", &self.stream_timeout)
            .finish()
    }
}
