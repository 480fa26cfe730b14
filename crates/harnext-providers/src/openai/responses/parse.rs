//! The Responses stream parser: typed, serde-tagged events ([`WireEvent`]), items
//! kept by `output_index`, and the final response assembled at the terminal event.
//!
//! Fields that real or hostile servers get wrong (a missing `output_index`, a number
//! where a string belongs) are read leniently: a field of the wrong type counts as
//! absent, as in the other parsers, rather than failing the turn.

use std::collections::BTreeMap;
use std::collections::HashMap;

use harnext_protocol::ContentBlock;
use harnext_protocol::Usage;
use serde::Deserialize;
use serde_json::json;
use serde_json::Value;

use super::web_search;
use super::PROVIDER;
use crate::http::WireParser;
use crate::lenient::de_count;
use crate::lenient::de_string;
use crate::openai::generated_call_id;
use crate::openai::parse_arguments;
use crate::openai::parse_json;
use crate::openai::stream_error;
use crate::openai::truncated;
use crate::openai::u64_of;
use crate::openai::usage_from;
use crate::sse::SseEvent;
use crate::ModelEvent;
use crate::ModelResponse;
use crate::ModelStopReason;
use crate::ProviderError;
use crate::StopDetails;

/// Where an event points: its output index and item id, when it gives them.
#[derive(Deserialize, Default)]
struct At {
    #[serde(default, deserialize_with = "de_count")]
    output_index: Option<u64>,
    #[serde(default, deserialize_with = "de_string")]
    item_id: Option<String>,
}

/// The stream events harnext reads, by their `type` (or, when the data has none, the
/// SSE event name). Others (`response.created`, `content_part.*`, `summary_part.*`,
/// annotations, web search progress, types added later) are [`WireEvent::Unknown`].
#[derive(Deserialize)]
#[serde(tag = "type")]
enum WireEvent {
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded {
        #[serde(default)]
        item: Option<Value>,
    },
    #[serde(rename = "response.output_item.done")]
    OutputItemDone {
        #[serde(default)]
        item: Option<Value>,
    },
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        #[serde(default, deserialize_with = "de_string")]
        delta: Option<String>,
    },
    #[serde(rename = "response.refusal.delta")]
    RefusalDelta {
        #[serde(default, deserialize_with = "de_string")]
        delta: Option<String>,
    },
    #[serde(rename = "response.output_text.done")]
    OutputTextDone {
        #[serde(default, deserialize_with = "de_string")]
        text: Option<String>,
    },
    #[serde(rename = "response.refusal.done")]
    RefusalDone {
        #[serde(default, deserialize_with = "de_string")]
        refusal: Option<String>,
    },
    #[serde(rename = "response.reasoning_summary_text.delta")]
    ReasoningSummaryTextDelta {
        #[serde(default, deserialize_with = "de_count")]
        summary_index: Option<u64>,
        #[serde(default, deserialize_with = "de_string")]
        delta: Option<String>,
    },
    #[serde(rename = "response.reasoning_text.delta")]
    ReasoningTextDelta {
        #[serde(default, deserialize_with = "de_count")]
        content_index: Option<u64>,
        #[serde(default, deserialize_with = "de_string")]
        delta: Option<String>,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta {
        #[serde(default, deserialize_with = "de_string")]
        delta: Option<String>,
    },
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallArgumentsDone {
        #[serde(default, deserialize_with = "de_string")]
        arguments: Option<String>,
        /// Real streams omit it although the spec requires it.
        #[serde(default, deserialize_with = "de_string")]
        name: Option<String>,
    },
    #[serde(rename = "response.web_search_call.searching")]
    WebSearchSearching {},
    #[serde(rename = "response.completed")]
    Completed {
        #[serde(default)]
        response: Option<Value>,
    },
    #[serde(rename = "response.incomplete")]
    Incomplete {
        #[serde(default)]
        response: Option<Value>,
    },
    #[serde(rename = "response.failed")]
    Failed {
        #[serde(default)]
        response: Option<Value>,
    },
    /// Nested (`{"type":"error","error":{…}}`) or flat (`{"type":"error","code",
    /// "message"}`): read from the whole event by [`stream_error`].
    #[serde(rename = "error")]
    Error {},
    #[serde(other)]
    Unknown,
}

/// An output item (`output_item.added` / `.done`, an entry of `response.output`).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireItem {
    Message {
        #[serde(default)]
        content: Vec<Value>,
    },
    Reasoning {
        #[serde(default)]
        summary: Vec<Value>,
        #[serde(default)]
        content: Vec<Value>,
    },
    FunctionCall {
        #[serde(default, deserialize_with = "de_string")]
        call_id: Option<String>,
        #[serde(default, deserialize_with = "de_string")]
        name: Option<String>,
        #[serde(default, deserialize_with = "de_string")]
        arguments: Option<String>,
    },
    WebSearchCall {},
    /// File search, images, ... and items added later: ignored.
    #[serde(other)]
    Other,
}

impl WireItem {
    /// An item of a shape that does not parse counts as one harnext does not use.
    fn read(item: &Value) -> WireItem {
        WireItem::deserialize(item).unwrap_or(WireItem::Other)
    }
}

/// A part of a message's or a reasoning item's content.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WirePart {
    OutputText {
        #[serde(default, deserialize_with = "de_string")]
        text: Option<String>,
    },
    Refusal {
        #[serde(default, deserialize_with = "de_string")]
        refusal: Option<String>,
    },
    SummaryText {
        #[serde(default, deserialize_with = "de_string")]
        text: Option<String>,
    },
    ReasoningText {
        #[serde(default, deserialize_with = "de_string")]
        text: Option<String>,
    },
    #[serde(other)]
    Other,
}

impl WirePart {
    fn read(part: &Value) -> WirePart {
        WirePart::deserialize(part).unwrap_or(WirePart::Other)
    }
}

/// One output item, by `output_index`.
enum Item {
    Message {
        text: String,
        /// The refusal text, when the model refused.
        refusal: Option<String>,
        /// The finished item, when its text carries annotations (web search
        /// citations): kept verbatim.
        cited: Option<Value>,
    },
    /// A hosted web search; the finished item is kept verbatim.
    WebSearchCall { done_item: Option<Value> },
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
    fn message() -> Item {
        Item::Message {
            text: String::new(),
            refusal: None,
            cited: None,
        }
    }

    fn reasoning() -> Item {
        Item::Reasoning {
            text: String::new(),
            part: None,
            done_item: None,
        }
    }

    fn function_call() -> Item {
        Item::FunctionCall {
            call_id: String::new(),
            name: String::new(),
            streamed: String::new(),
            complete: None,
        }
    }

    fn from_added(item: &Value) -> Item {
        match WireItem::read(item) {
            WireItem::Message { .. } => Item::message(),
            WireItem::Reasoning { .. } => Item::reasoning(),
            WireItem::FunctionCall { call_id, name, .. } => Item::FunctionCall {
                call_id: call_id.unwrap_or_default(),
                name: name.unwrap_or_default(),
                streamed: String::new(),
                complete: None,
            },
            WireItem::WebSearchCall {} => Item::WebSearchCall { done_item: None },
            WireItem::Other => Item::Other,
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
    /// `response.incomplete`, with its `incomplete_details`.
    Incomplete(Option<Value>),
}

/// `ResponseUsage`: `input_tokens` includes `input_tokens_details.cached_tokens`;
/// `output_tokens` includes reasoning, except on servers whose `total_tokens` says
/// otherwise (see [`usage_from`]).
fn wire_usage(u: &Value) -> Usage {
    usage_from(
        u64_of(u, &["input_tokens"]),
        u64_of(u, &["input_tokens_details", "cached_tokens"]).unwrap_or(0),
        u64_of(u, &["output_tokens"]),
        u64_of(u, &["output_tokens_details", "reasoning_tokens"]).unwrap_or(0),
        u64_of(u, &["total_tokens"]),
    )
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

impl ResponsesParser {
    /// The output index an event refers to: its `output_index`, else its item's, else
    /// the latest item.
    fn index_of(&self, at: &At) -> u64 {
        if let Some(i) = at.output_index {
            return i;
        }
        if let Some(i) = at.item_id.as_ref().and_then(|id| self.ids.get(id)) {
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

    /// Notes the id of the item an event carries (or names), for later events
    /// without an `output_index`.
    fn remember_id(&mut self, item: Option<&Value>, at: &At, index: u64) {
        let id = item
            .and_then(|item| item.get("id"))
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .or(at.item_id.as_deref());
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
        let slot = self.slot(index, Item::message);
        if let Item::Message { text, refusal, .. } = &mut slot.item {
            if refusal_part {
                refusal.get_or_insert_with(String::new).push_str(delta);
            }
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
        let slot = self.slot(index, Item::reasoning);
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
    fn item_done(&mut self, index: u64, raw: &Value, out: &mut Vec<ModelEvent>) {
        let slot = self.slot(index, || Item::from_added(raw));
        if slot.done {
            return;
        }
        slot.done = true;
        match (&mut slot.item, WireItem::read(raw)) {
            (
                Item::Message {
                    text,
                    refusal,
                    cited,
                },
                WireItem::Message { content },
            ) => {
                if !web_search::annotations(&content).is_empty() {
                    *cited = Some(raw.clone());
                }
                // Text that was streamed stays as it was.
                if !text.is_empty() {
                    web_search::citation_events(&content, out);
                    return;
                }
                let mut full = String::new();
                for part in &content {
                    match WirePart::read(part) {
                        WirePart::OutputText { text: Some(t) } => full.push_str(&t),
                        WirePart::Refusal { refusal: r } => {
                            let r = r.unwrap_or_default();
                            refusal.get_or_insert_with(String::new).push_str(&r);
                            full.push_str(&r);
                        }
                        _ => {}
                    }
                }
                if !full.is_empty() {
                    text.push_str(&full);
                    out.push(ModelEvent::TextDelta(full));
                }
                web_search::citation_events(&content, out);
            }
            (Item::WebSearchCall { done_item }, WireItem::WebSearchCall {}) => {
                web_search::done_event(raw, out);
                *done_item = Some(raw.clone());
            }
            (
                Item::Reasoning {
                    text, done_item, ..
                },
                WireItem::Reasoning {
                    summary, content, ..
                },
            ) => {
                if text.is_empty() {
                    let parts: Vec<String> = summary
                        .iter()
                        .chain(content.iter())
                        .filter_map(|p| match WirePart::read(p) {
                            WirePart::SummaryText { text }
                            | WirePart::ReasoningText { text }
                            | WirePart::OutputText { text } => non_empty(text),
                            WirePart::Refusal { .. } | WirePart::Other => None,
                        })
                        .collect();
                    let full = parts.join("\n\n");
                    if !full.is_empty() {
                        text.push_str(&full);
                        out.push(ModelEvent::ThinkingDelta(full));
                    }
                }
                *done_item = Some(raw.clone());
            }
            (
                Item::FunctionCall {
                    call_id,
                    name,
                    complete,
                    ..
                },
                WireItem::FunctionCall {
                    call_id: id,
                    name: n,
                    arguments,
                },
            ) => {
                if call_id.is_empty() {
                    *call_id = id.unwrap_or_default();
                }
                if name.is_empty() {
                    *name = n.unwrap_or_default();
                }
                if let Some(args) = arguments {
                    *complete = Some(args);
                }
            }
            // An item whose kind changed between its events, or one harnext ignores.
            _ => {}
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
        let mut refused: Option<String> = None;
        let mut searches = 0u64;
        for (_, slot) in std::mem::take(&mut self.items) {
            match slot.item {
                Item::Message {
                    text,
                    refusal,
                    cited,
                } => {
                    if let Some(r) = refusal {
                        refused.get_or_insert_with(String::new).push_str(&r);
                    }
                    match cited {
                        Some(item) => content.push(web_search::cited_message(text, item)),
                        None if !text.is_empty() => content.push(ContentBlock::Text { text }),
                        None => {}
                    }
                }
                Item::WebSearchCall { done_item } => {
                    if let Some(item) = done_item {
                        searches += u64::from(web_search::is_billed(&item));
                        content.push(web_search::search_call(item));
                    }
                }
                Item::Reasoning {
                    text, done_item, ..
                } => {
                    let encrypted = done_item
                        .as_ref()
                        .and_then(|item| item.get("encrypted_content"))
                        .and_then(Value::as_str)
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
            Ending::Incomplete(details) => {
                let reason = details
                    .as_ref()
                    .and_then(|d| d.get("reason"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                match reason.as_str() {
                    "max_output_tokens" => ModelStopReason::MaxTokens,
                    "content_filter" => ModelStopReason::ContentFilter(StopDetails {
                        raw: details,
                        ..StopDetails::default()
                    }),
                    _ => ModelStopReason::Other(reason),
                }
            }
            Ending::Completed if calls => ModelStopReason::ToolUse,
            Ending::Completed if refused.is_some() => ModelStopReason::Refusal(StopDetails {
                explanation: non_empty(refused),
                ..StopDetails::default()
            }),
            Ending::Completed => ModelStopReason::EndTurn,
        };
        let mut usage = self.usage.unwrap_or_else(Usage::unreported);
        usage.web_search_requests = searches;
        ModelResponse {
            content,
            stop_reason,
            usage,
            invalid_tool_inputs,
        }
    }

    /// Handles one parsed event.
    fn on_wire_event(
        &mut self,
        event: WireEvent,
        at: &At,
        raw: &Value,
        out: &mut Vec<ModelEvent>,
    ) -> Result<Option<ModelResponse>, ProviderError> {
        match event {
            WireEvent::OutputItemAdded { item } => {
                let index = self.index_of(at);
                self.remember_id(item.as_ref(), at, index);
                if let Some(item) = item {
                    let slot = self.slot(index, || Item::from_added(&item));
                    // A delta that came first created the item without its call id and name.
                    if let (
                        Item::FunctionCall { call_id, name, .. },
                        WireItem::FunctionCall {
                            call_id: id,
                            name: n,
                            ..
                        },
                    ) = (&mut slot.item, WireItem::read(&item))
                    {
                        if call_id.is_empty() {
                            *call_id = id.unwrap_or_default();
                        }
                        if name.is_empty() {
                            *name = n.unwrap_or_default();
                        }
                    }
                }
            }
            WireEvent::OutputItemDone { item } => {
                let index = self.index_of(at);
                self.remember_id(item.as_ref(), at, index);
                if let Some(item) = item {
                    self.item_done(index, &item, out);
                }
            }
            WireEvent::OutputTextDelta { delta } => {
                let index = self.index_of(at);
                self.text_delta(index, &delta.unwrap_or_default(), false, out);
            }
            WireEvent::RefusalDelta { delta } => {
                let index = self.index_of(at);
                self.text_delta(index, &delta.unwrap_or_default(), true, out);
            }
            WireEvent::OutputTextDone { text: full } | WireEvent::RefusalDone { refusal: full } => {
                // Text that was never streamed as deltas.
                let refusal = matches!(
                    raw.get("type").and_then(Value::as_str),
                    Some("response.refusal.done")
                );
                let index = self.index_of(at);
                let empty = match self.items.get(&index).map(|s| &s.item) {
                    Some(Item::Message { text, .. }) => text.is_empty(),
                    Some(_) => false,
                    None => true,
                };
                if empty {
                    self.text_delta(index, &full.unwrap_or_default(), refusal, out);
                }
            }
            WireEvent::ReasoningSummaryTextDelta {
                summary_index,
                delta,
            } => {
                let index = self.index_of(at);
                let part = (false, summary_index.unwrap_or(0));
                self.reasoning_delta(index, part, &delta.unwrap_or_default(), out);
            }
            WireEvent::ReasoningTextDelta {
                content_index,
                delta,
            } => {
                let index = self.index_of(at);
                let part = (true, content_index.unwrap_or(0));
                self.reasoning_delta(index, part, &delta.unwrap_or_default(), out);
            }
            WireEvent::FunctionCallArgumentsDelta { delta } => {
                let index = self.index_of(at);
                let slot = self.slot(index, Item::function_call);
                if let (Item::FunctionCall { streamed, .. }, Some(delta)) = (&mut slot.item, delta)
                {
                    streamed.push_str(&delta);
                }
            }
            WireEvent::FunctionCallArgumentsDone { arguments, name: n } => {
                let index = self.index_of(at);
                let slot = self.slot(index, Item::function_call);
                if let Item::FunctionCall { name, complete, .. } = &mut slot.item {
                    if let Some(args) = arguments {
                        *complete = Some(args);
                    }
                    if let Some(n) = non_empty(n) {
                        if name.is_empty() {
                            *name = n;
                        }
                    }
                }
            }
            WireEvent::WebSearchSearching {} => {
                let index = self.index_of(at);
                let slot = self.slot(index, || Item::WebSearchCall { done_item: None });
                if matches!(slot.item, Item::WebSearchCall { .. }) {
                    let id = at.item_id.clone().unwrap_or_default();
                    web_search::searching_event(id, out);
                }
            }
            WireEvent::Completed { response } => {
                return Ok(Some(self.finish_with(
                    response.as_ref(),
                    Ending::Completed,
                    out,
                )));
            }
            WireEvent::Incomplete { response } => {
                let details = response
                    .as_ref()
                    .and_then(|r| r.get("incomplete_details"))
                    .filter(|d| !d.is_null())
                    .cloned();
                return Ok(Some(self.finish_with(
                    response.as_ref(),
                    Ending::Incomplete(details),
                    out,
                )));
            }
            WireEvent::Failed { response } => {
                if let Some(usage) = response
                    .as_ref()
                    .and_then(|r| r.get("usage"))
                    .filter(|u| u.is_object())
                {
                    out.push(ModelEvent::UsageUpdate(wire_usage(usage)));
                }
                let error = response
                    .as_ref()
                    .and_then(|r| r.get("error"))
                    .filter(|e| e.is_object())
                    .cloned()
                    .unwrap_or_else(
                        || json!({ "code": "server_error", "message": "the response failed" }),
                    );
                return Err(stream_error(PROVIDER, &error));
            }
            WireEvent::Error {} => return Err(stream_error(PROVIDER, raw)),
            WireEvent::Unknown => {}
        }
        Ok(None)
    }
}

/// Parses an event's data, naming it by the SSE event name when the data has no
/// `type`.
fn typed(event_name: &str, data: &str) -> Result<Value, ProviderError> {
    let mut v = parse_json(PROVIDER, event_name, data)?;
    if let Some(o) = v.as_object_mut() {
        if !o.get("type").is_some_and(Value::is_string) {
            o.insert("type".into(), Value::String(event_name.to_owned()));
        }
    }
    Ok(v)
}

impl WireParser for ResponsesParser {
    fn on_event(
        &mut self,
        event: SseEvent,
        out: &mut Vec<ModelEvent>,
    ) -> Result<Option<ModelResponse>, ProviderError> {
        if super::super::is_done_marker(&event.data) {
            // Some proxies end with `[DONE]`; after `response.completed` it is never
            // reached. Before it, the response is complete only if every item is.
            return if !self.items.is_empty() && self.items.values().all(|s| s.done) {
                Ok(Some(self.finish(Ending::Completed)))
            } else {
                Err(truncated(PROVIDER))
            };
        }
        let raw = typed(&event.event, &event.data)?;
        let at = At::deserialize(&raw).unwrap_or_default();
        // An event whose fields do not fit its type is one harnext cannot use.
        let parsed = WireEvent::deserialize(&raw).unwrap_or(WireEvent::Unknown);
        self.on_wire_event(parsed, &at, &raw, out)
    }

    fn on_eof(&mut self) -> Result<ModelResponse, ProviderError> {
        Err(truncated(PROVIDER))
    }

    /// A complete response object (`{"object":"response","status","output",
    /// "usage","incomplete_details","error"}`), read as its terminal event; or an
    /// error object.
    fn on_json(
        &mut self,
        body: Value,
        out: &mut Vec<ModelEvent>,
    ) -> Result<ModelResponse, ProviderError> {
        if body.get("error").is_some_and(|e| !e.is_null())
            && body.get("status").and_then(Value::as_str) != Some("failed")
            && body.get("output").is_none()
        {
            return Err(stream_error(PROVIDER, &body));
        }
        if !body.get("output").is_some_and(Value::is_array) {
            return Err(ProviderError::Protocol {
                provider: PROVIDER,
                message: "the JSON response is not a response object: it has no `output`".into(),
            });
        }
        let kind = match body.get("status").and_then(Value::as_str) {
            Some("incomplete") => "response.incomplete",
            Some("failed") => "response.failed",
            _ => "response.completed",
        };
        let event = json!({ "type": kind, "response": body });
        let at = At::default();
        let parsed = WireEvent::deserialize(&event).unwrap_or(WireEvent::Unknown);
        match self.on_wire_event(parsed, &at, &event, out)? {
            Some(response) => Ok(response),
            None => Ok(self.finish(Ending::Completed)),
        }
    }
}
