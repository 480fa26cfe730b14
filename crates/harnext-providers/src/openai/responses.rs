//! The OpenAI Responses API (`POST {base}/responses`, streamed, stateless).
//!
//! Requests are stateless (`store: false`): the whole history goes out each time as
//! `input` items. When thinking is on, the request asks for `reasoning.encrypted_content`,
//! and each reasoning item comes back whole in an [`ContentBlock::OpaqueReasoning`]
//! block, which the next request sends again (other providers skip it).
//!
//! The stream parser keys its state by `output_index`, never by item id (proxies rotate
//! ids on every event), accepts function calls whose arguments come only in
//! `.done` / `output_item.done`, reads reasoning from summary deltas and from
//! `response.reasoning_text.delta`, and takes anything it did not see streamed from the
//! `output_item.done` items and the final `response.output`.

use crate::schema::strict_schema;
use crate::StructuredOutputMode;
use crate::FINAL_ANSWER_TOOL;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;

use harnext_protocol::ContentBlock;
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

pub const PROVIDER: &str = "openai";

pub struct ResponsesProvider {
    client: reqwest::Client,
    settings: Arc<HttpSettings>,
}

impl ResponsesProvider {
    pub fn new(client: reqwest::Client, settings: HttpSettings) -> Self {
        ResponsesProvider {
            client,
            settings: Arc::new(settings),
        }
    }

    /// The endpoint this provider posts to.
    pub fn url(&self) -> String {
        super::endpoint_url(self.settings.base_url.as_deref(), "responses")
    }
}

impl ModelProvider for ResponsesProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    fn structured_output_mode(&self) -> StructuredOutputMode {
        StructuredOutputMode::JsonText
    }

    fn stream(&self, request: ModelRequest) -> ModelStream {
        super::spawn(
            PROVIDER,
            &self.client,
            &self.settings,
            self.url(),
            request_body(&request),
            Box::new(|| Box::new(ResponsesParser::default())),
        )
    }
}

/// The JSON body of a streamed, stateless Responses request.
pub fn request_body(req: &ModelRequest) -> Value {
    let mut body = serde_json::Map::new();
    body.insert("model".into(), json!(req.model));
    if !req.system.is_empty() {
        body.insert("instructions".into(), json!(req.system));
    }
    body.insert("input".into(), Value::Array(input_items(&req.messages)));
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.input_schema,
                    "strict": false,
                })
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    body.insert("stream".into(), json!(true));
    body.insert("store".into(), json!(false));
    if let Some(max) = req.max_output_tokens {
        body.insert("max_output_tokens".into(), json!(max));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(budget) = req.thinking_budget {
        body.insert(
            "reasoning".into(),
            json!({ "effort": super::reasoning_effort(budget), "summary": "auto" }),
        );
        // Stateless reasoning: the encrypted items come back and are sent again.
        body.insert("include".into(), json!(["reasoning.encrypted_content"]));
    }
    if let Some(output) = &req.output {
        // Native structured output: the reply text is JSON matching the schema, in
        // strict mode (the loop reverses the strict-mode rewrite before validating).
        body.insert(
            "text".into(),
            json!({ "format": {
                "type": "json_schema",
                "name": FINAL_ANSWER_TOOL,
                "schema": strict_schema(&output.schema),
                "strict": true,
            } }),
        );
    }
    Value::Object(body)
}

/// A reasoning item to send back: only ours (`provider: "openai"`) with its encrypted
/// content and id; without them the API could not use it.
fn reasoning_item(data: &Value) -> Option<Value> {
    let encrypted = data.get("encrypted_content")?.as_str()?;
    let id = data.get("id")?.as_str()?;
    if encrypted.is_empty() || id.is_empty() {
        return None;
    }
    let summary: Vec<Value> = data
        .get("summary")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .map(|text| json!({ "type": "summary_text", "text": text }))
                .collect()
        })
        .unwrap_or_default();
    Some(json!({
        "type": "reasoning",
        "id": id,
        "summary": summary,
        "encrypted_content": encrypted,
    }))
}

/// Converts the history to `input` items, in order: messages, `function_call` echoes,
/// `function_call_output`s and our own reasoning items. Thinking from Anthropic (signed
/// or redacted) cannot be sent to OpenAI and is skipped, as is unsigned thinking.
fn input_items(messages: &[Message]) -> Vec<Value> {
    let mut items = Vec::new();
    for m in messages {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let mut text = String::new();
        let flush = |text: &mut String, items: &mut Vec<Value>| {
            if !text.trim().is_empty() {
                items.push(json!({ "role": role, "content": std::mem::take(text) }));
            }
            text.clear();
        };
        for block in &m.content {
            match block {
                ContentBlock::Text { text: t } => {
                    if !text.is_empty() {
                        text.push_str("\n\n");
                    }
                    text.push_str(t);
                }
                ContentBlock::ToolUse { id, name, input } => {
                    flush(&mut text, &mut items);
                    items.push(json!({
                        "type": "function_call",
                        "call_id": wire_call_id(id),
                        "name": name,
                        "arguments": input.to_string(),
                    }));
                }
                ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    status,
                } => {
                    flush(&mut text, &mut items);
                    items.push(json!({
                        "type": "function_call_output",
                        "call_id": wire_call_id(tool_use_id),
                        "output": tool_output(content, *status),
                    }));
                }
                ContentBlock::OpaqueReasoning { provider, data, .. } => {
                    if provider == PROVIDER {
                        if let Some(item) = reasoning_item(data) {
                            flush(&mut text, &mut items);
                            items.push(item);
                        }
                    }
                }
                ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. } => {}
            }
        }
        flush(&mut text, &mut items);
    }
    items
}

pub(crate) fn parse_error(status: u16, headers: &HeaderMap, body: &str) -> ProviderError {
    super::parse_http_error(PROVIDER, status, headers, body)
}

/// One output item, by `output_index`.
enum Item {
    Message {
        text: String,
        refusal: bool,
    },
    Reasoning {
        text: String,
        /// The summary part (or reasoning content part) the last delta belonged to.
        part: Option<(bool, u64)>,
        /// The finished item, from `output_item.done`.
        done_item: Option<Value>,
    },
    FunctionCall {
        call_id: String,
        name: String,
        /// Concatenated argument deltas.
        streamed: String,
        /// The complete arguments from `.done` or `output_item.done`, which win.
        complete: Option<String>,
    },
    /// An item type harnext does not use (web search, ...): ignored.
    Other,
}

impl Item {
    fn from_added(item: &Value) -> Item {
        match str_of(item, "type") {
            "message" => Item::Message {
                text: String::new(),
                refusal: false,
            },
            "reasoning" => Item::Reasoning {
                text: String::new(),
                part: None,
                done_item: None,
            },
            "function_call" => Item::FunctionCall {
                call_id: str_of(item, "call_id").to_owned(),
                name: str_of(item, "name").to_owned(),
                streamed: String::new(),
                complete: None,
            },
            _ => Item::Other,
        }
    }
}

struct Slot {
    item: Item,
    done: bool,
}

/// Assembles one streamed response.
#[derive(Default)]
pub(crate) struct ResponsesParser {
    items: BTreeMap<u64, Slot>,
    /// Item id → output index, for events that lack `output_index`.
    ids: HashMap<String, u64>,
    last_index: Option<u64>,
    usage: Option<Usage>,
}

/// How the response ended.
enum Ending {
    Completed,
    Incomplete(String),
}

impl ResponsesParser {
    /// The output index an event refers to: its `output_index`, else its item's, else
    /// the latest item.
    fn index_of(&self, event: &Value) -> u64 {
        if let Some(i) = event.get("output_index").and_then(Value::as_u64) {
            return i;
        }
        if let Some(i) = event
            .get("item_id")
            .and_then(Value::as_str)
            .and_then(|id| self.ids.get(id))
        {
            return *i;
        }
        self.last_index.unwrap_or(0)
    }

    /// The item at `index`, created from `template` when it does not exist yet.
    fn slot(&mut self, index: u64, template: impl FnOnce() -> Item) -> &mut Slot {
        self.last_index = Some(self.last_index.map_or(index, |l| l.max(index)));
        self.items.entry(index).or_insert_with(|| Slot {
            item: template(),
            done: false,
        })
    }

    fn remember_id(&mut self, event: &Value, index: u64) {
        let id = event
            .get("item")
            .map(|item| str_of(item, "id"))
            .filter(|id| !id.is_empty())
            .or_else(|| event.get("item_id").and_then(Value::as_str));
        if let Some(id) = id {
            self.ids.insert(id.to_owned(), index);
        }
    }

    fn text_delta(
        &mut self,
        index: u64,
        delta: &str,
        refusal_part: bool,
        out: &mut Vec<ModelEvent>,
    ) {
        let slot = self.slot(index, || Item::Message {
            text: String::new(),
            refusal: false,
        });
        if let Item::Message { text, refusal } = &mut slot.item {
            *refusal |= refusal_part;
            if !delta.is_empty() {
                text.push_str(delta);
                out.push(ModelEvent::TextDelta(delta.to_owned()));
            }
        }
    }

    fn reasoning_delta(
        &mut self,
        index: u64,
        part: (bool, u64),
        delta: &str,
        out: &mut Vec<ModelEvent>,
    ) {
        let slot = self.slot(index, || Item::Reasoning {
            text: String::new(),
            part: None,
            done_item: None,
        });
        if let Item::Reasoning {
            text, part: last, ..
        } = &mut slot.item
        {
            if delta.is_empty() {
                return;
            }
            let mut piece = String::new();
            if last.is_some_and(|l| l != part) && !text.is_empty() {
                // A new summary part: keep the parts apart as paragraphs.
                piece.push_str("\n\n");
            }
            *last = Some(part);
            piece.push_str(delta);
            text.push_str(&piece);
            out.push(ModelEvent::ThinkingDelta(piece));
        }
    }

    /// Merges a finished item (`output_item.done`, or an entry of the final
    /// `response.output`): what was not streamed is emitted now.
    fn item_done(&mut self, index: u64, item: &Value, out: &mut Vec<ModelEvent>) {
        let slot = self.slot(index, || Item::from_added(item));
        if slot.done {
            return;
        }
        slot.done = true;
        match &mut slot.item {
            Item::Message { text, refusal } => {
                if text.is_empty() {
                    let mut full = String::new();
                    for part in item
                        .get("content")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        match str_of(part, "type") {
                            "output_text" => full.push_str(str_of(part, "text")),
                            "refusal" => {
                                *refusal = true;
                                full.push_str(str_of(part, "refusal"));
                            }
                            _ => {}
                        }
                    }
                    if !full.is_empty() {
                        text.push_str(&full);
                        out.push(ModelEvent::TextDelta(full));
                    }
                }
            }
            Item::Reasoning {
                text, done_item, ..
            } => {
                if text.is_empty() {
                    let parts: Vec<&str> = ["summary", "content"]
                        .iter()
                        .flat_map(|key| {
                            item.get(*key)
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten()
                        })
                        .filter_map(|p| p.get("text").and_then(Value::as_str))
                        .filter(|t| !t.is_empty())
                        .collect();
                    let full = parts.join("\n\n");
                    if !full.is_empty() {
                        text.push_str(&full);
                        out.push(ModelEvent::ThinkingDelta(full));
                    }
                }
                *done_item = Some(item.clone());
            }
            Item::FunctionCall {
                call_id,
                name,
                complete,
                ..
            } => {
                if call_id.is_empty() {
                    *call_id = str_of(item, "call_id").to_owned();
                }
                if name.is_empty() {
                    *name = str_of(item, "name").to_owned();
                }
                if let Some(args) = item.get("arguments").and_then(Value::as_str) {
                    *complete = Some(args.to_owned());
                }
            }
            Item::Other => {}
        }
    }

    /// `response.completed` / `response.incomplete`: the final output and usage.
    fn finish_with(
        &mut self,
        response: Option<&Value>,
        ending: Ending,
        out: &mut Vec<ModelEvent>,
    ) -> ModelResponse {
        if let Some(response) = response {
            for (i, item) in response
                .get("output")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                self.item_done(i as u64, item, out);
            }
            if let Some(usage) = response.get("usage").filter(|u| u.is_object()) {
                let u = wire_usage(usage);
                self.usage = Some(u);
                out.push(ModelEvent::UsageUpdate(u));
            }
        }
        self.finish(ending)
    }

    fn finish(&mut self, ending: Ending) -> ModelResponse {
        let mut content = Vec::new();
        let mut invalid_tool_inputs = HashMap::new();
        let mut calls = false;
        let mut refused = false;
        for (_, slot) in std::mem::take(&mut self.items) {
            match slot.item {
                Item::Message { text, refusal } => {
                    refused |= refusal;
                    if !text.is_empty() {
                        content.push(ContentBlock::Text { text });
                    }
                }
                Item::Reasoning {
                    text, done_item, ..
                } => {
                    let encrypted = done_item
                        .as_ref()
                        .map(|item| str_of(item, "encrypted_content"))
                        .is_some_and(|e| !e.is_empty());
                    match done_item {
                        Some(data) if encrypted => content.push(ContentBlock::OpaqueReasoning {
                            provider: PROVIDER.to_owned(),
                            text,
                            data,
                        }),
                        _ if !text.is_empty() => content.push(ContentBlock::Thinking {
                            thinking: text,
                            signature: None,
                        }),
                        _ => {}
                    }
                }
                Item::FunctionCall {
                    call_id,
                    name,
                    streamed,
                    complete,
                } => {
                    calls = true;
                    let id = if call_id.is_empty() {
                        generated_call_id()
                    } else {
                        call_id
                    };
                    let args = complete.unwrap_or(streamed);
                    let input = parse_arguments(&id, &args, &mut invalid_tool_inputs);
                    content.push(ContentBlock::ToolUse { id, name, input });
                }
                Item::Other => {}
            }
        }
        let stop_reason = match ending {
            Ending::Incomplete(reason) => match reason.as_str() {
                "max_output_tokens" => ModelStopReason::MaxTokens,
                "content_filter" => ModelStopReason::Refusal,
                _ => ModelStopReason::Other(reason),
            },
            Ending::Completed if calls => ModelStopReason::ToolUse,
            Ending::Completed if refused => ModelStopReason::Refusal,
            Ending::Completed => ModelStopReason::EndTurn,
        };
        ModelResponse {
            content,
            stop_reason,
            usage: self.usage.unwrap_or_default(),
            invalid_tool_inputs,
        }
    }
}

/// `ResponseUsage`: `input_tokens` includes `input_tokens_details.cached_tokens`.
fn wire_usage(u: &Value) -> Usage {
    usage_from(
        u64_of(u, &["input_tokens"]).unwrap_or(0),
        u64_of(u, &["input_tokens_details", "cached_tokens"]).unwrap_or(0),
        u64_of(u, &["output_tokens"]).unwrap_or(0),
        u64_of(u, &["output_tokens_details", "reasoning_tokens"]).unwrap_or(0),
    )
}

impl WireParser for ResponsesParser {
    fn on_event(
        &mut self,
        event: SseEvent,
        out: &mut Vec<ModelEvent>,
    ) -> Result<Option<ModelResponse>, ProviderError> {
        if super::is_done_marker(&event.data) {
            // Some proxies end with `[DONE]`; after `response.completed` it is never
            // reached. Before it, the response is complete only if every item is.
            return if !self.items.is_empty() && self.items.values().all(|s| s.done) {
                Ok(Some(self.finish(Ending::Completed)))
            } else {
                Err(truncated(PROVIDER))
            };
        }
        let v = parse_json(PROVIDER, &event.event, &event.data)?;
        let kind = match v.get("type").and_then(Value::as_str) {
            Some(t) => t.to_owned(),
            None => event.event.clone(),
        };
        match kind.as_str() {
            "response.output_item.added" => {
                let index = self.index_of(&v);
                self.remember_id(&v, index);
                if let Some(item) = v.get("item") {
                    let slot = self.slot(index, || Item::from_added(item));
                    // A delta that came first created the item without its call id and name.
                    if let Item::FunctionCall { call_id, name, .. } = &mut slot.item {
                        if call_id.is_empty() {
                            *call_id = str_of(item, "call_id").to_owned();
                        }
                        if name.is_empty() {
                            *name = str_of(item, "name").to_owned();
                        }
                    }
                }
            }
            "response.output_item.done" => {
                let index = self.index_of(&v);
                self.remember_id(&v, index);
                if let Some(item) = v.get("item") {
                    self.item_done(index, item, out);
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                let index = self.index_of(&v);
                let refusal = kind == "response.refusal.delta";
                self.text_delta(index, str_of(&v, "delta"), refusal, out);
            }
            "response.output_text.done" | "response.refusal.done" => {
                // Text that was never streamed as deltas.
                let index = self.index_of(&v);
                let full = match kind.as_str() {
                    "response.refusal.done" => str_of(&v, "refusal"),
                    _ => str_of(&v, "text"),
                };
                let empty = match self.items.get(&index).map(|s| &s.item) {
                    Some(Item::Message { text, .. }) => text.is_empty(),
                    Some(_) => false,
                    None => true,
                };
                if empty {
                    let refusal = kind == "response.refusal.done";
                    self.text_delta(index, full, refusal, out);
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                let index = self.index_of(&v);
                let part = if kind == "response.reasoning_text.delta" {
                    (true, u64_of(&v, &["content_index"]).unwrap_or(0))
                } else {
                    (false, u64_of(&v, &["summary_index"]).unwrap_or(0))
                };
                self.reasoning_delta(index, part, str_of(&v, "delta"), out);
            }
            "response.function_call_arguments.delta" => {
                let index = self.index_of(&v);
                let delta = str_of(&v, "delta").to_owned();
                let slot = self.slot(index, || Item::FunctionCall {
                    call_id: String::new(),
                    name: String::new(),
                    streamed: String::new(),
                    complete: None,
                });
                if let Item::FunctionCall { streamed, .. } = &mut slot.item {
                    streamed.push_str(&delta);
                }
            }
            "response.function_call_arguments.done" => {
                let index = self.index_of(&v);
                let slot = self.slot(index, || Item::FunctionCall {
                    call_id: String::new(),
                    name: String::new(),
                    streamed: String::new(),
                    complete: None,
                });
                if let Item::FunctionCall { name, complete, .. } = &mut slot.item {
                    if let Some(args) = v.get("arguments").and_then(Value::as_str) {
                        *complete = Some(args.to_owned());
                    }
                    // Real streams omit `name` here although the spec requires it.
                    let n = str_of(&v, "name");
                    if name.is_empty() && !n.is_empty() {
                        *name = n.to_owned();
                    }
                }
            }
            "response.completed" => {
                return Ok(Some(self.finish_with(
                    v.get("response"),
                    Ending::Completed,
                    out,
                )));
            }
            "response.incomplete" => {
                let response = v.get("response");
                let reason = response
                    .and_then(|r| r.get("incomplete_details"))
                    .map(|d| str_of(d, "reason").to_owned())
                    .unwrap_or_default();
                return Ok(Some(self.finish_with(
                    response,
                    Ending::Incomplete(reason),
                    out,
                )));
            }
            "response.failed" => {
                let response = v.get("response");
                if let Some(usage) = response
                    .and_then(|r| r.get("usage"))
                    .filter(|u| u.is_object())
                {
                    out.push(ModelEvent::UsageUpdate(wire_usage(usage)));
                }
                let error = response
                    .and_then(|r| r.get("error"))
                    .filter(|e| e.is_object())
                    .cloned()
                    .unwrap_or_else(
                        || json!({ "code": "server_error", "message": "the response failed" }),
                    );
                return Err(stream_error(PROVIDER, &error));
            }
            "error" => return Err(stream_error(PROVIDER, &v)),
            // response.created / in_progress / queued, content_part.*, summary_part.*,
            // annotations, web search progress, and event types added later.
            _ => {}
        }
        Ok(None)
    }

    fn on_eof(&mut self) -> Result<ModelResponse, ProviderError> {
        Err(truncated(PROVIDER))
    }
}

#[cfg(test)]
mod tests;
