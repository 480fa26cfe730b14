//! The body of a Responses request: stateless (`store: false`), the whole history as
//! `input` items, flat function tools, reasoning asked with its encrypted content.

use harnext_protocol::ContentBlock;
use harnext_protocol::ImageSource;
use harnext_protocol::Message;
use harnext_protocol::Role;
use serde_json::json;
use serde_json::Value;

use super::PROVIDER;
use crate::openai::tool_output;
use crate::openai::wire_call_id;
use crate::schema::strict_schema;
use crate::ModelRequest;
use crate::FINAL_ANSWER_TOOL;

/// The JSON body of a streamed, stateless Responses request.
pub fn request_body(req: &ModelRequest) -> Value {
    let mut body = serde_json::Map::new();
    body.insert("model".into(), json!(req.model));
    if !req.system.is_empty() {
        body.insert("instructions".into(), json!(req.system));
    }
    body.insert("input".into(), Value::Array(input_items(&req.messages)));
    if !req.tools.is_empty() || req.web_search.is_some() {
        let mut tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "name": t.name,
                    "description": t.description,
                    "parameters": &*t.input_schema,
                    "strict": false,
                })
            })
            .collect();
        if let Some(search) = &req.web_search {
            tools.push(super::web_search::tool(search));
        }
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
            json!({ "effort": crate::openai::reasoning_effort(budget), "summary": "auto" }),
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
    if req.web_search.is_some() {
        // The pages each search used, for the `web_search` events.
        include(&mut body, super::web_search::INCLUDE_SOURCES);
    }
    Value::Object(body)
}

/// Adds `what` to the body's `include` list.
fn include(body: &mut serde_json::Map<String, Value>, what: &str) {
    match body
        .entry("include")
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        Value::Array(list) => list.push(json!(what)),
        other => *other = json!([what]),
    }
}

/// A reasoning item to send back: only ours (`provider: "openai"`) with its encrypted
/// content and id; without them the API could not use it.
pub(super) fn reasoning_item(data: &Value) -> Option<Value> {
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
/// A Responses image part: `{type:"input_image", image_url, detail:"auto"}`, bytes as a
/// data URL. A path the engine did not load becomes a text note.
fn input_image(source: &ImageSource) -> Value {
    match source {
        ImageSource::Base64 { media_type, data } => json!({
            "type": "input_image",
            "image_url": harnext_protocol::image::data_url(media_type, data),
            "detail": "auto",
        }),
        ImageSource::Url { url } => {
            json!({ "type": "input_image", "image_url": url, "detail": "auto" })
        }
        ImageSource::Path { path } => {
            json!({ "type": "input_text", "text": format!("[image `{path}` was not loaded]") })
        }
    }
}

fn input_items(messages: &[Message]) -> Vec<Value> {
    let mut items: Vec<Value> = Vec::new();
    for m in messages {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let mut text = String::new();
        // Image parts of a user message: the message's content becomes a list of
        // `input_text` and `input_image` parts.
        let mut images: Vec<Value> = Vec::new();
        let flush = |text: &mut String, images: &mut Vec<Value>, items: &mut Vec<Value>| {
            if !images.is_empty() {
                let mut parts = Vec::new();
                if !text.trim().is_empty() {
                    parts.push(json!({ "type": "input_text", "text": std::mem::take(text) }));
                }
                parts.append(images);
                items.push(json!({ "role": role, "content": parts }));
            } else if !text.trim().is_empty() {
                items.push(json!({ "role": role, "content": std::mem::take(text) }));
            }
            text.clear();
        };
        for block in &m.content {
            match block {
                ContentBlock::Image {
                    source,
                    tool_use_id: Some(id),
                } => {
                    // Into that call's `function_call_output`, whose `output` becomes
                    // a list: the text, then the images.
                    let call_id = wire_call_id(id);
                    let output = items.iter_mut().rev().find(|i| {
                        i["type"] == "function_call_output" && i["call_id"] == call_id.as_str()
                    });
                    match output.and_then(|o| o.get_mut("output")) {
                        Some(Value::Array(parts)) => parts.push(input_image(source)),
                        Some(out) => {
                            let text = out.take();
                            *out = json!([{ "type": "input_text", "text": text }, input_image(source)]);
                        }
                        None => images.push(input_image(source)),
                    }
                }
                ContentBlock::Image {
                    source,
                    tool_use_id: None,
                } => images.push(input_image(source)),
                ContentBlock::Text { text: t } => {
                    if !text.is_empty() {
                        text.push_str("\n\n");
                    }
                    text.push_str(t);
                }
                ContentBlock::ToolUse { id, name, input } => {
                    flush(&mut text, &mut images, &mut items);
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
                    flush(&mut text, &mut images, &mut items);
                    items.push(json!({
                        "type": "function_call_output",
                        "call_id": wire_call_id(tool_use_id),
                        "output": tool_output(content, *status),
                    }));
                }
                ContentBlock::OpaqueReasoning { provider, data, .. } => {
                    if provider == PROVIDER {
                        if let Some(item) = reasoning_item(data) {
                            flush(&mut text, &mut images, &mut items);
                            items.push(item);
                        }
                    }
                }
                ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. } => {}
                ContentBlock::ProviderBlock {
                    provider,
                    text: t,
                    data,
                } => match super::web_search::input_item(provider, data) {
                    Some(item) => {
                        flush(&mut text, &mut images, &mut items);
                        items.push(item);
                    }
                    // Another provider's cited text goes as text.
                    None if !t.trim().is_empty() => {
                        if !text.is_empty() {
                            text.push_str("\n\n");
                        }
                        text.push_str(t);
                    }
                    None => {}
                },
            }
        }
        flush(&mut text, &mut images, &mut items);
    }
    items
}
