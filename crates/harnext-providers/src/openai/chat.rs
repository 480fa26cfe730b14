//! OpenAI Chat Completions (`POST {base}/chat/completions`, streamed): OpenAI itself and
//! every OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio, OpenRouter, …).
//!
//! The parser is written for what those servers really send: tool calls assembled by
//! `index` (which may start at 1, or be missing), names and ids taken only from
//! non-empty values, whole calls in one chunk, reasoning in `reasoning_content` or
//! `reasoning`, usage in a trailing `include_usage` chunk or inside the finish chunk
//! (with cached and reasoning tokens, DeepSeek's `prompt_cache_hit_tokens` included),
//! first chunks with no choices, and errors as `{"error":{...}}` data events.
//!
//! **Output cap.** `maxOutputTokens` goes out as `max_completion_tokens` to OpenAI's own
//! service (api.openai.com, Azure OpenAI), whose reasoning models reject `max_tokens`,
//! and as `max_tokens` to every other server: the spec keeps both, and `max_tokens` is
//! the one every compatible server documents (Ollama documents only it).

use crate::schema::strict_schema;
use crate::StructuredOutputMode;
use crate::FINAL_ANSWER_TOOL;
use std::collections::HashMap;
use std::sync::Arc;

use harnext_protocol::ContentBlock;
use harnext_protocol::ImageSource;
use harnext_protocol::Message;
use harnext_protocol::Role;
use harnext_protocol::Usage;
use reqwest::header::HeaderMap;
use serde_json::json;
use serde_json::Value;

use super::generated_call_id;
use super::parse_arguments;
use super::parse_json;
use super::str_of;
use super::stream_error;
use super::tool_output;
use super::truncated;
use super::u64_of;
use super::usage_from;
use super::wire_call_id;
use crate::http::WireParser;
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

pub const PROVIDER: &str = "openai-chat";

/// The request field that caps the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTokensField {
    /// `max_completion_tokens`: OpenAI's current field, required by its reasoning models.
    MaxCompletionTokens,
    /// `max_tokens`: deprecated by OpenAI, the one compatible servers know.
    MaxTokens,
}

impl MaxTokensField {
    /// The field for the server at `url` (see the module docs).
    pub fn for_url(url: &str) -> MaxTokensField {
        if super::is_openai_service(url) {
            MaxTokensField::MaxCompletionTokens
        } else {
            MaxTokensField::MaxTokens
        }
    }

    fn key(self) -> &'static str {
        match self {
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
            MaxTokensField::MaxTokens => "max_tokens",
        }
    }
}

pub struct ChatProvider {
    client: reqwest::Client,
    settings: Arc<HttpSettings>,
    /// Why the settings cannot work, when built with [`ChatProvider::new`].
    invalid: Option<SettingsError>,
}

impl ChatProvider {
    /// A provider with `settings`, which are not checked: invalid ones (a header
    /// value with a line break, ...) make every call fail at once, without retrying.
    /// Prefer [`ChatProvider::try_new`].
    pub fn new(client: reqwest::Client, settings: HttpSettings) -> Self {
        let invalid = settings.validate().err();
        ChatProvider {
            client,
            settings: Arc::new(settings),
            invalid,
        }
    }

    /// A provider with `settings`, refused when [`HttpSettings::validate`] finds them
    /// invalid.
    pub fn try_new(client: reqwest::Client, settings: HttpSettings) -> Result<Self, SettingsError> {
        settings.validate()?;
        Ok(ChatProvider::new(client, settings))
    }

    /// The endpoint this provider posts to.
    pub fn url(&self) -> String {
        super::endpoint_url(self.settings.base_url.as_deref(), "chat/completions")
    }
}

impl ModelProvider for ChatProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    /// Chat Completions has no server-side web search tool: only its search-preview
    /// models search (by themselves, with `web_search_options`), which harnext does not
    /// drive.
    fn check_web_search(&self, _search: &crate::WebSearch) -> Result<(), String> {
        Err(format!(
            "the `{PROVIDER}` provider (Chat Completions) has no server-side web search tool (only OpenAI's search-preview models search, through `web_search_options`, which harnext does not send); use an `openai/...` model (the Responses API) or an `anthropic/...` model"
        ))
    }

    fn structured_output_mode(&self) -> StructuredOutputMode {
        StructuredOutputMode::JsonText
    }

    fn stream(&self, request: ModelRequest) -> ModelStream {
        let url = self.url();
        let field = MaxTokensField::for_url(&url);
        let body = Box::new(move || request_body(&request, field));
        super::spawn(
            PROVIDER,
            &self.client,
            &self.settings,
            self.invalid.as_ref(),
            url,
            body,
            Box::new(|| Box::new(ChatParser::default())),
        )
    }
}

/// The JSON body of a streamed Chat Completions request.
pub fn request_body(req: &ModelRequest, max_tokens: MaxTokensField) -> Value {
    let mut body = serde_json::Map::new();
    body.insert("model".into(), json!(req.model));
    let mut messages = Vec::new();
    if !req.system.is_empty() {
        messages.push(json!({ "role": "system", "content": req.system }));
    }
    messages.extend(wire_messages(&req.messages));
    body.insert("messages".into(), Value::Array(messages));
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": &*t.input_schema,
                    },
                })
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    body.insert("stream".into(), json!(true));
    body.insert("stream_options".into(), json!({ "include_usage": true }));
    if let Some(max) = req.max_output_tokens {
        body.insert(max_tokens.key().into(), json!(max));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(budget) = req.thinking_budget {
        body.insert(
            "reasoning_effort".into(),
            json!(super::reasoning_effort(budget)),
        );
    }
    if let Some(output) = &req.output {
        // Native structured output, in strict mode (reversed by the loop before validating).
        body.insert(
            "response_format".into(),
            json!({ "type": "json_schema", "json_schema": {
                "name": FINAL_ANSWER_TOOL,
                "schema": strict_schema(&output.schema),
                "strict": true,
            } }),
        );
    }
    Value::Object(body)
}

/// Converts the history: a user message's tool results become `tool` messages (which
/// must follow the assistant message that called them) before its text; an assistant
/// message carries its text and `tool_calls` with JSON-string arguments. Reasoning of
/// any kind is not sent back (Chat has no field for it in requests).
fn wire_messages(messages: &[Message]) -> Vec<Value> {
    let mut out = Vec::new();
    for m in messages {
        let mut texts: Vec<&str> = Vec::new();
        let mut calls = Vec::new();
        let mut results = Vec::new();
        // Image parts of the user message, and images tools returned (Chat's tool
        // messages hold text only: they follow the tool messages in a user message).
        let mut images = Vec::new();
        let mut tool_images = Vec::new();
        for block in &m.content {
            match block {
                ContentBlock::Image {
                    source,
                    tool_use_id: None,
                } => images.push(image_part(source)),
                ContentBlock::Image {
                    source,
                    tool_use_id: Some(id),
                } => {
                    tool_images.push(json!({ "type": "text", "text": format!(
                        "The image returned by tool call {}:", wire_call_id(id)
                    ) }));
                    tool_images.push(image_part(source));
                }
                ContentBlock::Text { text } if !text.trim().is_empty() => texts.push(text),
                ContentBlock::Text { .. } => {}
                // Another provider's web search: its cited text goes as text.
                ContentBlock::ProviderBlock { text, .. } if !text.trim().is_empty() => {
                    texts.push(text)
                }
                ContentBlock::ProviderBlock { .. } => {}
                ContentBlock::ToolUse { id, name, input } => calls.push(json!({
                    "id": wire_call_id(id),
                    "type": "function",
                    "function": { "name": name, "arguments": input.to_string() },
                })),
                ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    status,
                } => results.push(json!({
                    "role": "tool",
                    "tool_call_id": wire_call_id(tool_use_id),
                    "content": tool_output(content, *status),
                })),
                ContentBlock::Thinking { .. }
                | ContentBlock::RedactedThinking { .. }
                | ContentBlock::OpaqueReasoning { .. } => {}
            }
        }
        out.extend(results);
        if !tool_images.is_empty() {
            out.push(json!({ "role": "user", "content": tool_images }));
        }
        let text = texts.join("\n\n");
        match m.role {
            Role::User if !images.is_empty() => {
                let mut parts = Vec::new();
                if !text.is_empty() {
                    parts.push(json!({ "type": "text", "text": text }));
                }
                parts.extend(images);
                out.push(json!({ "role": "user", "content": parts }));
            }
            Role::User => {
                if !text.is_empty() {
                    out.push(json!({ "role": "user", "content": text }));
                }
            }
            Role::Assistant => {
                if text.is_empty() && calls.is_empty() {
                    continue;
                }
                let mut msg = serde_json::Map::new();
                msg.insert("role".into(), json!("assistant"));
                // `null` content beside tool calls, as the API itself returns it.
                msg.insert(
                    "content".into(),
                    if text.is_empty() {
                        Value::Null
                    } else {
                        json!(text)
                    },
                );
                if !calls.is_empty() {
                    msg.insert("tool_calls".into(), Value::Array(calls));
                }
                out.push(Value::Object(msg));
            }
        }
    }
    out
}

/// A Chat Completions image part: `{type:"image_url", image_url:{url}}`, bytes as a data
/// URL. A path the engine did not load becomes a text note.
fn image_part(source: &ImageSource) -> Value {
    match source {
        ImageSource::Base64 { media_type, data } => json!({
            "type": "image_url",
            "image_url": { "url": harnext_protocol::image::data_url(media_type, data) },
        }),
        ImageSource::Url { url } => json!({ "type": "image_url", "image_url": { "url": url } }),
        ImageSource::Path { path } => {
            json!({ "type": "text", "text": format!("[image `{path}` was not loaded]") })
        }
    }
}

pub(crate) fn parse_error(status: u16, headers: &HeaderMap, body: &str) -> ProviderError {
    super::parse_http_error(PROVIDER, status, headers, body)
}

/// One tool call being assembled from fragments.
struct Call {
    /// The fragments' `index`, when they have one.
    index: Option<u64>,
    id: String,
    name: String,
    arguments: String,
}

/// Assembles one streamed completion (choice 0; other choices are ignored).
#[derive(Default)]
pub(crate) struct ChatParser {
    thinking: String,
    text: String,
    /// The refusal text, when the model refused.
    refusal: Option<String>,
    calls: Vec<Call>,
    finish_reason: Option<String>,
    /// The choice's `content_filter_results` (Azure), kept for a `content_filter` stop.
    filter_results: Option<Value>,
    usage: Option<Usage>,
}

/// `CompletionUsage`: `prompt_tokens` includes the cached tokens
/// (`prompt_tokens_details.cached_tokens`, DeepSeek's `prompt_cache_hit_tokens`);
/// `completion_tokens` includes reasoning, except on servers whose `total_tokens` says
/// otherwise (see [`usage_from`]).
fn wire_usage(u: &Value) -> Usage {
    let cached = u64_of(u, &["prompt_tokens_details", "cached_tokens"])
        .or_else(|| u64_of(u, &["prompt_cache_hit_tokens"]))
        .unwrap_or(0);
    usage_from(
        u64_of(u, &["prompt_tokens"]),
        cached,
        u64_of(u, &["completion_tokens"]),
        u64_of(u, &["completion_tokens_details", "reasoning_tokens"]).unwrap_or(0),
        u64_of(u, &["total_tokens"]),
    )
}

impl ChatParser {
    /// The call a fragment belongs to: by `index`; without one, by a known `id`, else a
    /// new call when it has an id, else the latest call.
    fn call_for(&mut self, fragment: &Value) -> &mut Call {
        let index = fragment.get("index").and_then(Value::as_u64);
        let id = str_of(fragment, "id");
        let found = match index {
            Some(i) => self.calls.iter().position(|c| c.index == Some(i)),
            None if !id.is_empty() => self.calls.iter().position(|c| c.id == id),
            None => self.calls.len().checked_sub(1),
        };
        let at = match found {
            Some(at) => at,
            None => {
                self.calls.push(Call {
                    index,
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                });
                self.calls.len() - 1
            }
        };
        &mut self.calls[at]
    }

    fn on_tool_fragment(&mut self, fragment: &Value) {
        let call = self.call_for(fragment);
        let id = str_of(fragment, "id");
        if call.id.is_empty() && !id.is_empty() {
            call.id = id.to_owned();
        }
        let function = fragment.get("function").unwrap_or(&Value::Null);
        // Later fragments may repeat `name: ""`: never let that erase the name.
        let name = str_of(function, "name");
        if call.name.is_empty() && !name.is_empty() {
            call.name = name.to_owned();
        }
        match function.get("arguments") {
            Some(Value::String(part)) => call.arguments.push_str(part),
            // A server that sends the arguments as an object sends them whole.
            Some(v @ Value::Object(_)) => call.arguments = v.to_string(),
            _ => {}
        }
    }

    fn on_chunk(&mut self, chunk: &Value, out: &mut Vec<ModelEvent>) {
        for choice in chunk
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if choice.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
                continue;
            }
            if let Some(delta) = choice.get("delta") {
                // vLLM sends the reasoning under both names; take one.
                let reasoning = match str_of(delta, "reasoning_content") {
                    "" => str_of(delta, "reasoning"),
                    r => r,
                };
                if !reasoning.is_empty() {
                    self.thinking.push_str(reasoning);
                    out.push(ModelEvent::ThinkingDelta(reasoning.to_owned()));
                }
                for key in ["content", "refusal"] {
                    let piece = str_of(delta, key);
                    if !piece.is_empty() {
                        if key == "refusal" {
                            self.refusal.get_or_insert_with(String::new).push_str(piece);
                        }
                        self.text.push_str(piece);
                        out.push(ModelEvent::TextDelta(piece.to_owned()));
                    }
                }
                for fragment in delta
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    self.on_tool_fragment(fragment);
                }
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish_reason = Some(reason.to_owned());
            }
            if let Some(results) = choice
                .get("content_filter_results")
                .filter(|r| r.as_object().is_some_and(|o| !o.is_empty()))
            {
                self.filter_results = Some(results.clone());
            }
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            let u = wire_usage(usage);
            self.usage = Some(u);
            out.push(ModelEvent::UsageUpdate(u));
        }
    }

    fn finish(&mut self) -> ModelResponse {
        let mut content = Vec::new();
        if !self.thinking.is_empty() {
            content.push(ContentBlock::Thinking {
                thinking: std::mem::take(&mut self.thinking),
                signature: None,
            });
        }
        if !self.text.is_empty() {
            content.push(ContentBlock::Text {
                text: std::mem::take(&mut self.text),
            });
        }
        let mut invalid_tool_inputs = HashMap::new();
        let calls = std::mem::take(&mut self.calls);
        let has_calls = !calls.is_empty();
        for call in calls {
            let id = if call.id.is_empty() {
                generated_call_id()
            } else {
                call.id
            };
            let input = parse_arguments(&id, &call.arguments, &mut invalid_tool_inputs);
            content.push(ContentBlock::ToolUse {
                id,
                name: call.name,
                input,
            });
        }
        let refusal = self.refusal.take();
        let stop_reason = match self.finish_reason.as_deref() {
            Some("length") => ModelStopReason::MaxTokens,
            Some("content_filter") => ModelStopReason::ContentFilter(StopDetails {
                raw: self.filter_results.take(),
                ..StopDetails::default()
            }),
            _ if has_calls => ModelStopReason::ToolUse,
            _ if refusal.is_some() => ModelStopReason::Refusal(StopDetails {
                explanation: refusal,
                ..StopDetails::default()
            }),
            Some("stop") | None => ModelStopReason::EndTurn,
            Some("tool_calls" | "function_call") => ModelStopReason::ToolUse,
            Some(other) => ModelStopReason::Other(other.to_owned()),
        };
        ModelResponse {
            content,
            stop_reason,
            usage: self.usage.unwrap_or_else(Usage::unreported),
            invalid_tool_inputs,
        }
    }
}

impl WireParser for ChatParser {
    fn on_event(
        &mut self,
        event: SseEvent,
        out: &mut Vec<ModelEvent>,
    ) -> Result<Option<ModelResponse>, ProviderError> {
        if super::is_done_marker(&event.data) {
            return Ok(Some(self.finish()));
        }
        if event.event == "error" {
            // An event named `error` fails the call whatever its data (the SDKs do the same).
            let data = serde_json::from_str::<Value>(&event.data)
                .unwrap_or_else(|_| Value::String(event.data.clone()));
            return Err(stream_error(PROVIDER, &json!({ "error": data })));
        }
        let chunk = parse_json(PROVIDER, &event.event, &event.data)?;
        if chunk.get("error").is_some_and(|e| !e.is_null()) {
            return Err(stream_error(PROVIDER, &chunk));
        }
        self.on_chunk(&chunk, out);
        Ok(None)
    }

    /// A complete `chat.completion` (`{"choices":[{"message":{…},"finish_reason"}],
    /// "usage"}`), read as one chunk whose delta is the message; or an error object.
    fn on_json(
        &mut self,
        body: Value,
        out: &mut Vec<ModelEvent>,
    ) -> Result<ModelResponse, ProviderError> {
        if body.get("error").is_some_and(|e| !e.is_null()) {
            return Err(stream_error(PROVIDER, &body));
        }
        let Some(choices) = body.get("choices").and_then(Value::as_array) else {
            return Err(ProviderError::Protocol {
                provider: PROVIDER,
                message: "the JSON response is not a chat completion: it has no `choices`".into(),
            });
        };
        let choices: Vec<Value> = choices
            .iter()
            .map(|choice| {
                let mut choice = choice.clone();
                if let Some(o) = choice.as_object_mut() {
                    let mut message = o.remove("message").unwrap_or(Value::Null);
                    // Whole tool calls, numbered as stream fragments are.
                    if let Some(calls) = message.get_mut("tool_calls").and_then(Value::as_array_mut)
                    {
                        for (i, call) in calls.iter_mut().enumerate() {
                            if let Some(c) = call.as_object_mut() {
                                c.entry("index").or_insert(json!(i));
                            }
                        }
                    }
                    o.insert("delta".into(), message);
                }
                choice
            })
            .collect();
        let chunk = json!({ "choices": choices, "usage": body.get("usage") });
        self.on_chunk(&chunk, out);
        Ok(self.finish())
    }

    fn on_eof(&mut self) -> Result<ModelResponse, ProviderError> {
        // Without `[DONE]`, a completion whose finish reason arrived is complete;
        // anything else is a broken connection.
        if self.finish_reason.is_some() {
            Ok(self.finish())
        } else {
            Err(truncated(PROVIDER))
        }
    }
}

#[cfg(test)]
mod tests;
