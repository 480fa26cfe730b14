//! The Anthropic Messages API (`POST {base}/v1/messages`, streamed).

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;

use harnext_protocol::ContentBlock;
use harnext_protocol::Usage;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::json;
use serde_json::Value;

use crate::classify_http;
use crate::classify_stream_error;
use crate::http;
use crate::http::HttpCall;
use crate::http::WireParser;
use crate::lenient;
use crate::retry;
use crate::sse::SseEvent;
use crate::HttpSettings;
use crate::ModelEvent;
use crate::ModelProvider;
use crate::ModelRequest;
use crate::ModelResponse;
use crate::ModelStopReason;
use crate::ModelStream;
use crate::ProviderError;
use crate::SettingsError;
use crate::StopDetails;
use crate::API_KEY_OPTION;

const PROVIDER: &str = "anthropic";
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const API_KEY_ENV: &str = "ANTHROPIC_API_KEY";
pub const BASE_URL_ENV: &str = "ANTHROPIC_BASE_URL";
const API_VERSION: &str = "2023-06-01";

pub struct AnthropicProvider {
    client: reqwest::Client,
    settings: Arc<HttpSettings>,
    /// Why the settings cannot work, when built with [`AnthropicProvider::new`]:
    /// every call fails with it at once instead of being sent.
    invalid: Option<SettingsError>,
}

impl AnthropicProvider {
    /// A provider with `settings`, which are not checked: invalid ones (a header
    /// value with a line break, ...) make every call fail at once, without retrying.
    /// Prefer [`AnthropicProvider::try_new`].
    pub fn new(client: reqwest::Client, settings: HttpSettings) -> Self {
        let invalid = settings.validate().err();
        AnthropicProvider {
            client,
            settings: Arc::new(settings),
            invalid,
        }
    }

    /// A provider with `settings`, refused when [`HttpSettings::validate`] finds them
    /// invalid.
    pub fn try_new(client: reqwest::Client, settings: HttpSettings) -> Result<Self, SettingsError> {
        settings.validate()?;
        Ok(AnthropicProvider::new(client, settings))
    }

    /// The endpoint this provider posts to: `{base}/v1/messages`, the path joined
    /// before a query string the base URL may have.
    pub fn url(&self) -> String {
        endpoint_url(self.settings.base_url.as_deref())
    }
}

/// `{base}/v1/messages`; a query string on the base is kept after the path.
pub fn endpoint_url(base: Option<&str>) -> String {
    let base = base.unwrap_or(DEFAULT_BASE_URL).trim();
    match reqwest::Url::parse(base) {
        Ok(mut url) => {
            let path = format!("{}/v1/messages", url.path().trim_end_matches('/'));
            url.set_path(&path);
            url.to_string()
        }
        // Checked by `HttpSettings::validate`; keep a plain join for anything else.
        Err(_) => format!("{}/v1/messages", base.trim_end_matches('/')),
    }
}

impl ModelProvider for AnthropicProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn check_web_search(&self, search: &crate::WebSearch) -> Result<(), String> {
        web_search::check(search)
    }

    fn stream(&self, request: ModelRequest) -> ModelStream {
        if let Some(error) = &self.invalid {
            return http::failed(ProviderError::Settings {
                provider: PROVIDER,
                error: error.clone(),
            });
        }
        let Some(api_key) = self.settings.api_key.clone().filter(|k| !k.is_empty()) else {
            return http::failed(ProviderError::MissingApiKey {
                provider: PROVIDER,
                env_var: API_KEY_ENV,
                option: API_KEY_OPTION,
            });
        };
        let client = self.client.clone();
        let settings = self.settings.clone();
        let url = self.url();
        let target = url.clone();
        // The request (its history shared with the run loop) is kept for retries, and
        // each attempt serialises its own body, freed once sent.
        let build = move |_retry: u32| {
            let body =
                request::body_bytes(&request).map_err(|e| http::unserialisable(PROVIDER, &e))?;
            let mut rb = client
                .post(&target)
                .header("x-api-key", &api_key)
                .header("anthropic-version", API_VERSION)
                .header("accept", "text/event-stream");
            for (k, v) in &settings.headers {
                rb = rb.header(k.as_str(), v.as_str());
            }
            Ok(http::JsonBody::from_vec(body).attach(rb, &settings.headers))
        };
        http::spawn(HttpCall::new(
            PROVIDER,
            &self.settings,
            &url,
            Box::new(build),
            parse_error,
            Box::new(|| Box::new(AnthropicParser::default())),
        ))
    }
}

#[derive(Deserialize)]
struct WireErrorBody {
    error: WireError,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
}

fn parse_error(status: u16, headers: &HeaderMap, body: &str) -> ProviderError {
    let (kind, message) = match serde_json::from_str::<WireErrorBody>(body) {
        Ok(b) => (b.error.kind, b.error.message),
        Err(_) => {
            let snippet: String = body.trim().chars().take(300).collect();
            let message = if snippet.is_empty() {
                format!("HTTP {status} with no body")
            } else {
                snippet
            };
            (String::new(), message)
        }
    };
    ProviderError::Http {
        provider: PROVIDER,
        status,
        code: classify_http(status, &kind, &message),
        message,
        retry_after: retry::retry_after(headers),
        should_retry: retry::should_retry(headers),
    }
}

/// A usage object; a count that is not a plausible number is read as absent
/// ([`lenient::count`]), like the OpenAI parsers do.
#[derive(Deserialize, Default, Clone, Copy)]
struct WireUsage {
    #[serde(default, deserialize_with = "lenient::de_count")]
    input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient::de_count")]
    output_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient::de_count")]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient::de_count")]
    cache_read_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_details")]
    output_tokens_details: Option<WireOutputDetails>,
    #[serde(default, deserialize_with = "lenient_server_use")]
    server_tool_use: Option<WireServerToolUse>,
}

/// `usage.server_tool_use`: the server tools' requests of the call.
#[derive(Deserialize, Default, Clone, Copy)]
struct WireServerToolUse {
    #[serde(default, deserialize_with = "lenient::de_count")]
    web_search_requests: Option<u64>,
}

fn lenient_server_use<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<WireServerToolUse>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

#[derive(Deserialize, Default, Clone, Copy)]
struct WireOutputDetails {
    #[serde(default, deserialize_with = "lenient::de_count")]
    thinking_tokens: Option<u64>,
}

/// A usage object of the wrong shape is no usage.
fn lenient_usage<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<WireUsage>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

fn lenient_details<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<WireOutputDetails>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    MessageStart {
        message: WireStartMessage,
    },
    ContentBlockStart {
        index: usize,
        content_block: Value,
    },
    ContentBlockDelta {
        index: usize,
        delta: Value,
    },
    ContentBlockStop {
        #[serde(default)]
        index: Option<usize>,
    },
    MessageDelta {
        #[serde(default)]
        delta: WireMessageDelta,
        #[serde(default, deserialize_with = "lenient_usage")]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Ping,
    Error {
        error: WireError,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
struct WireStartMessage {
    #[serde(default, deserialize_with = "lenient_usage")]
    usage: Option<WireUsage>,
}

#[derive(Deserialize, Default)]
struct WireMessageDelta {
    #[serde(default, deserialize_with = "lenient::de_string")]
    stop_reason: Option<String>,
    /// `{type, category, explanation, ...}` beside a `refusal`.
    #[serde(default)]
    stop_details: Option<Value>,
}

enum Block {
    Text(String),
    /// A text block with `citations` (web search): kept verbatim.
    CitedText {
        text: String,
        citations: Vec<Value>,
    },
    /// A `server_tool_use` block (`start` as received, its input streamed as JSON).
    ServerToolUse {
        start: Value,
        json: String,
        shown: bool,
    },
    /// A server tool's result block (`web_search_tool_result`), complete at its start.
    ServerResult(Value),
    Thinking {
        thinking: String,
        signature: String,
    },
    Redacted(String),
    ToolUse {
        id: String,
        name: String,
        json: String,
    },
    /// A block type we do not use (server tools, compaction...): ignored.
    Other,
}

/// Assembles one streamed message.
#[derive(Default)]
pub(crate) struct AnthropicParser {
    blocks: BTreeMap<usize, Block>,
    start_usage: WireUsage,
    delta_usage: WireUsage,
    stop_reason: Option<String>,
    stop_details: Option<Value>,
}

impl AnthropicParser {
    fn usage(&self) -> Usage {
        let (s, d) = (&self.start_usage, &self.delta_usage);
        let pick = |a: Option<u64>, b: Option<u64>| b.or(a).unwrap_or(0);
        let input = d.input_tokens.or(s.input_tokens);
        let output = d.output_tokens.or(s.output_tokens);
        Usage {
            unreported: input.is_none() || output.is_none(),
            input_tokens: input.unwrap_or(0),
            output_tokens: output.unwrap_or(0),
            cache_read_tokens: pick(s.cache_read_input_tokens, d.cache_read_input_tokens),
            cache_write_tokens: pick(s.cache_creation_input_tokens, d.cache_creation_input_tokens),
            reasoning_tokens: pick(
                s.output_tokens_details.and_then(|o| o.thinking_tokens),
                d.output_tokens_details.and_then(|o| o.thinking_tokens),
            ),
            web_search_requests: pick(
                s.server_tool_use.and_then(|u| u.web_search_requests),
                d.server_tool_use.and_then(|u| u.web_search_requests),
            ),
        }
    }

    fn finish(&mut self) -> ModelResponse {
        let mut content = Vec::new();
        let mut invalid_tool_inputs = HashMap::new();
        for (_, block) in std::mem::take(&mut self.blocks) {
            match block {
                Block::Text(text) => content.push(ContentBlock::Text { text }),
                Block::CitedText { text, citations } => {
                    content.push(web_search::cited_text(text, citations))
                }
                Block::ServerToolUse { start, json, .. } => {
                    content.push(web_search::server_tool_use(start, &json))
                }
                Block::ServerResult(data) => content.push(ContentBlock::ProviderBlock {
                    provider: PROVIDER.to_owned(),
                    text: String::new(),
                    data,
                }),
                Block::Thinking {
                    thinking,
                    signature,
                } => content.push(ContentBlock::Thinking {
                    thinking,
                    signature: (!signature.is_empty()).then_some(signature),
                }),
                Block::Redacted(data) => content.push(ContentBlock::RedactedThinking { data }),
                Block::ToolUse { id, name, json } => {
                    let input = if json.trim().is_empty() {
                        Value::Object(serde_json::Map::new())
                    } else {
                        match serde_json::from_str::<Value>(&json) {
                            Ok(v @ Value::Object(_)) => v,
                            Ok(other) => {
                                invalid_tool_inputs.insert(
                                    id.clone(),
                                    format!("arguments must be a JSON object, got {other}"),
                                );
                                Value::Object(serde_json::Map::new())
                            }
                            Err(e) => {
                                invalid_tool_inputs.insert(
                                    id.clone(),
                                    format!("arguments are not valid JSON ({e})"),
                                );
                                Value::Object(serde_json::Map::new())
                            }
                        }
                    };
                    content.push(ContentBlock::ToolUse { id, name, input });
                }
                Block::Other => {}
            }
        }
        let stop_reason = match self.stop_reason.as_deref() {
            Some("refusal") => ModelStopReason::Refusal(
                self.stop_details
                    .as_ref()
                    .map(StopDetails::from_wire)
                    .unwrap_or_default(),
            ),
            Some(s) => ModelStopReason::from_wire(s),
            None => ModelStopReason::EndTurn,
        };
        ModelResponse {
            content,
            stop_reason,
            usage: self.usage(),
            invalid_tool_inputs,
        }
    }
}

fn str_field(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

impl WireParser for AnthropicParser {
    fn on_event(
        &mut self,
        event: SseEvent,
        out: &mut Vec<ModelEvent>,
    ) -> Result<Option<ModelResponse>, ProviderError> {
        let parsed: WireEvent =
            serde_json::from_str(&event.data).map_err(|e| ProviderError::Protocol {
                provider: PROVIDER,
                message: format!("bad `{}` event: {e}", event.event),
            })?;
        match parsed {
            WireEvent::MessageStart { message } => {
                self.start_usage = message.usage.unwrap_or_default();
                out.push(ModelEvent::UsageUpdate(self.usage()));
            }
            WireEvent::ContentBlockStart {
                index,
                content_block,
            } => {
                let block = match content_block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let text = str_field(&content_block, "text");
                        if !text.is_empty() {
                            out.push(ModelEvent::TextDelta(text.clone()));
                        }
                        let citations = web_search::start_citations(&content_block, out);
                        if citations.is_empty() {
                            Block::Text(text)
                        } else {
                            Block::CitedText { text, citations }
                        }
                    }
                    Some("server_tool_use") => Block::ServerToolUse {
                        start: content_block,
                        json: String::new(),
                        shown: false,
                    },
                    Some(kind) if web_search::is_result_type(kind) => {
                        web_search::result_event(&content_block, &self.blocks, out);
                        Block::ServerResult(content_block)
                    }
                    Some("thinking") => {
                        let thinking = str_field(&content_block, "thinking");
                        if !thinking.is_empty() {
                            out.push(ModelEvent::ThinkingDelta(thinking.clone()));
                        }
                        Block::Thinking {
                            thinking,
                            signature: str_field(&content_block, "signature"),
                        }
                    }
                    Some("redacted_thinking") => Block::Redacted(str_field(&content_block, "data")),
                    Some("tool_use") => Block::ToolUse {
                        id: str_field(&content_block, "id"),
                        name: str_field(&content_block, "name"),
                        json: String::new(),
                    },
                    _ => Block::Other,
                };
                self.blocks.insert(index, block);
            }
            WireEvent::ContentBlockDelta { index, delta } => {
                let kind = delta
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match (self.blocks.get_mut(&index), kind) {
                    (Some(Block::Text(text)), "text_delta") => {
                        let piece = str_field(&delta, "text");
                        if !piece.is_empty() {
                            text.push_str(&piece);
                            out.push(ModelEvent::TextDelta(piece));
                        }
                    }
                    (Some(Block::Thinking { thinking, .. }), "thinking_delta") => {
                        let piece = str_field(&delta, "thinking");
                        if !piece.is_empty() {
                            thinking.push_str(&piece);
                            out.push(ModelEvent::ThinkingDelta(piece));
                        }
                    }
                    (Some(Block::Thinking { signature, .. }), "signature_delta") => {
                        signature.push_str(&str_field(&delta, "signature"));
                    }
                    (Some(Block::ToolUse { json, .. }), "input_json_delta")
                    | (Some(Block::ServerToolUse { json, .. }), "input_json_delta") => {
                        json.push_str(&str_field(&delta, "partial_json"));
                    }
                    (Some(Block::CitedText { text, .. }), "text_delta") => {
                        let piece = str_field(&delta, "text");
                        if !piece.is_empty() {
                            text.push_str(&piece);
                            out.push(ModelEvent::TextDelta(piece));
                        }
                    }
                    (
                        Some(block @ (Block::Text(_) | Block::CitedText { .. })),
                        "citations_delta",
                    ) => {
                        web_search::citation_delta(block, &delta, out);
                    }
                    // citations, compaction and future delta types, or deltas for blocks we ignore.
                    _ => {}
                }
            }
            WireEvent::ContentBlockStop { index } => {
                if let Some(Block::ServerToolUse { start, json, shown }) =
                    index.and_then(|i| self.blocks.get_mut(&i))
                {
                    if !*shown {
                        *shown = true;
                        web_search::searching_event(start, json, out);
                    }
                }
            }
            WireEvent::Ping | WireEvent::Unknown => {}
            WireEvent::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.stop_reason {
                    self.stop_reason = Some(reason);
                }
                if let Some(details) = delta.stop_details.filter(|d| !d.is_null()) {
                    self.stop_details = Some(details);
                }
                if let Some(u) = usage {
                    let d = &mut self.delta_usage;
                    d.input_tokens = u.input_tokens.or(d.input_tokens);
                    d.output_tokens = u.output_tokens.or(d.output_tokens);
                    d.cache_creation_input_tokens = u
                        .cache_creation_input_tokens
                        .or(d.cache_creation_input_tokens);
                    d.cache_read_input_tokens =
                        u.cache_read_input_tokens.or(d.cache_read_input_tokens);
                    d.output_tokens_details = u.output_tokens_details.or(d.output_tokens_details);
                    d.server_tool_use = u.server_tool_use.or(d.server_tool_use);
                    out.push(ModelEvent::UsageUpdate(self.usage()));
                }
            }
            WireEvent::MessageStop => return Ok(Some(self.finish())),
            WireEvent::Error { error } => {
                return Err(ProviderError::Stream {
                    provider: PROVIDER,
                    code: classify_stream_error(&error.kind, &error.message),
                    kind: error.kind,
                    message: error.message,
                })
            }
        }
        Ok(None)
    }

    /// A complete Messages response (`{"type":"message","content":[…],"stop_reason",
    /// "stop_details","usage"}`), or an error object, replayed as the events of a stream.
    fn on_json(
        &mut self,
        body: Value,
        out: &mut Vec<ModelEvent>,
    ) -> Result<ModelResponse, ProviderError> {
        if body.get("type").and_then(Value::as_str) == Some("error") || body.get("error").is_some()
        {
            let error = body.get("error").cloned().unwrap_or(Value::Null);
            let kind = str_field(&error, "type");
            let message = match str_field(&error, "message") {
                m if m.is_empty() => "the response was an error without a message".to_owned(),
                m => m,
            };
            return Err(ProviderError::Stream {
                provider: PROVIDER,
                code: classify_stream_error(&kind, &message),
                kind,
                message,
            });
        }
        let Some(blocks) = body.get("content").and_then(Value::as_array) else {
            return Err(ProviderError::Protocol {
                provider: PROVIDER,
                message: "the JSON response is not a message: it has no `content` array".into(),
            });
        };
        let mut events =
            vec![json!({ "type": "message_start", "message": { "usage": body.get("usage") } })];
        for (index, block) in blocks.iter().enumerate() {
            let mut start = block.clone();
            if let Some(o) = start.as_object_mut() {
                if matches!(
                    o.get("type").and_then(Value::as_str),
                    Some("tool_use" | "server_tool_use")
                ) {
                    // The input arrives as one JSON delta, as if streamed.
                    let input = o.remove("input").unwrap_or(Value::Null);
                    events.push(json!({ "type": "content_block_start", "index": index, "content_block": start }));
                    if !input.is_null() {
                        events.push(json!({ "type": "content_block_delta", "index": index,
                            "delta": { "type": "input_json_delta", "partial_json": input.to_string() } }));
                    }
                    events.push(json!({ "type": "content_block_stop", "index": index }));
                    continue;
                }
            }
            events.push(
                json!({ "type": "content_block_start", "index": index, "content_block": start }),
            );
            events.push(json!({ "type": "content_block_stop", "index": index }));
        }

        events.push(json!({ "type": "message_delta",
            "delta": { "stop_reason": body.get("stop_reason"), "stop_details": body.get("stop_details") },
            "usage": body.get("usage") }));
        for event in events {
            let data = event.to_string();
            let event = SseEvent {
                event: String::new(),
                data,
            };
            if let Some(response) = self.on_event(event, out)? {
                return Ok(response);
            }
        }
        // A message without a stop reason is complete too: nothing more will come.
        Ok(self.finish())
    }

    fn on_eof(&mut self) -> Result<ModelResponse, ProviderError> {
        // A message whose stop reason arrived is complete even if `message_stop` was
        // lost; anything else is a broken connection.
        if self.stop_reason.is_some() {
            Ok(self.finish())
        } else {
            Err(ProviderError::Network {
                provider: PROVIDER,
                message: "the stream ended before the message was complete".into(),
            })
        }
    }
}

mod request;
mod web_search;
pub use request::request_body;

#[cfg(test)]
mod tests;
