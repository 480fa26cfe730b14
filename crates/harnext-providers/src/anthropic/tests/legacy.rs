//! The request body as it was built before it was serialised straight from the history
//! (a `serde_json::Value` tree), kept as the reference the new bytes must equal.

use harnext_protocol::ContentBlock;
use harnext_protocol::ImageSource;
use harnext_protocol::Message;
use harnext_protocol::Role;
use serde_json::json;
use serde_json::Value;

use crate::ModelRequest;
use crate::FINAL_ANSWER_TOOL;

/// Default `max_tokens` by model family: the request must name one, and older models
/// reject values above their limit.
fn default_max_tokens(model: &str) -> u32 {
    if model.starts_with("claude-3-haiku")
        || model.starts_with("claude-3-opus")
        || model.starts_with("claude-3-sonnet")
    {
        4096
    } else if model.starts_with("claude-3-5") {
        8192
    } else {
        16384
    }
}

/// The JSON body of a streamed Messages request.
pub(super) fn request_body(req: &ModelRequest) -> Value {
    let mut max_tokens = req
        .max_output_tokens
        .unwrap_or_else(|| default_max_tokens(&req.model));
    let mut body = serde_json::Map::new();
    body.insert("model".into(), json!(req.model));
    if let Some(budget) = req.thinking_budget {
        // The budget must be below max_tokens.
        if max_tokens <= budget {
            max_tokens = budget.saturating_add(4096);
        }
        body.insert(
            "thinking".into(),
            json!({ "type": "enabled", "budget_tokens": budget }),
        );
    }
    body.insert("max_tokens".into(), json!(max_tokens));
    body.insert("stream".into(), json!(true));
    if !req.system.is_empty() {
        body.insert(
            "system".into(),
            json!([{ "type": "text", "text": req.system, "cache_control": { "type": "ephemeral" } }]),
        );
    }
    body.insert(
        "messages".into(),
        Value::Array(wire_messages(&req.messages)),
    );
    let mut tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| json!({ "name": t.name, "description": t.description, "input_schema": &*t.input_schema }))
        .collect();
    if let Some(output) = &req.output {
        // Structured output through a final-answer tool: the schema constrains only the
        // answer, and the model keeps its other tools.
        tools.push(json!({
            "name": FINAL_ANSWER_TOOL,
            "description": "Give your final answer to the user's task. Call this exactly once, when the task is done, with the answer in the required shape; do not write the answer as text.",
            "input_schema": output.schema,
        }));
        if output.force {
            body.insert(
                "tool_choice".into(),
                json!({ "type": "tool", "name": FINAL_ANSWER_TOOL }),
            );
            // Extended thinking cannot be combined with a forced tool choice.
            body.remove("thinking");
        }
    }
    if let Some(search) = &req.web_search {
        tools.push(crate::anthropic::web_search::tool(search));
    }
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    Value::Object(body)
}

/// Anthropic requires tool ids matching `^[a-zA-Z0-9_-]+$`; ids minted by other
/// providers may not.
fn wire_tool_id(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn wire_block(block: &ContentBlock) -> Option<Value> {
    match block {
        ContentBlock::Text { text } if text.trim().is_empty() => None,
        ContentBlock::Text { text } => Some(json!({ "type": "text", "text": text })),
        ContentBlock::Thinking {
            thinking,
            signature: Some(signature),
        } => Some(json!({ "type": "thinking", "thinking": thinking, "signature": signature })),
        // Reasoning without Anthropic's signature (from another provider, or the scripted
        // model) cannot be sent back; the API would reject it.
        ContentBlock::Thinking {
            signature: None, ..
        } => None,
        ContentBlock::RedactedThinking { data } => {
            Some(json!({ "type": "redacted_thinking", "data": data }))
        }
        // Another provider's reasoning (OpenAI's encrypted items): only it can read it.
        ContentBlock::OpaqueReasoning { .. } => None,
        ContentBlock::ToolUse { id, name, input } => Some(
            json!({ "type": "tool_use", "id": wire_tool_id(id), "name": name, "input": input }),
        ),
        ContentBlock::ToolResult {
            tool_use_id,
            content,
            status,
        } => {
            let content = if content.is_empty() {
                "(no output)"
            } else {
                content.as_str()
            };
            Some(json!({
                "type": "tool_result",
                "tool_use_id": wire_tool_id(tool_use_id),
                "content": content,
                "is_error": status.is_error(),
            }))
        }
        ContentBlock::Image { source, .. } => Some(wire_image(source)),
        ContentBlock::ProviderBlock {
            provider,
            text,
            data,
        } => legacy_kept_block(provider, text, data),
    }
}

/// An image block: `{type:"image", source:{type:"base64", media_type, data}}` or
/// `{type:"image", source:{type:"url", url}}`. A path the engine did not load (never
/// sent by the run loop) becomes a text note rather than a request the API rejects.
fn wire_image(source: &ImageSource) -> Value {
    match source {
        ImageSource::Base64 { media_type, data } => json!({
            "type": "image",
            "source": { "type": "base64", "media_type": media_type, "data": data },
        }),
        ImageSource::Url { url } => json!({
            "type": "image",
            "source": { "type": "url", "url": url },
        }),
        ImageSource::Path { path } => {
            json!({ "type": "text", "text": format!("[image `{path}` was not loaded]") })
        }
    }
}

/// Puts each image a tool returned (an `Image` block with `tool_use_id`) into the
/// content of that call's `tool_result` (text first, then the images), which Anthropic
/// allows; the rest of the message is converted block by block.
fn wire_blocks(blocks: &[ContentBlock]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for block in blocks {
        if let ContentBlock::Image {
            source,
            tool_use_id: Some(id),
        } = block
        {
            let wire_id = wire_tool_id(id);
            let result = out
                .iter_mut()
                .rev()
                .find(|b| b["type"] == "tool_result" && b["tool_use_id"] == wire_id.as_str());
            if let Some(result) = result {
                let image = wire_image(source);
                match result.get_mut("content") {
                    Some(Value::Array(parts)) => parts.push(image),
                    Some(content) => {
                        let text = content.take();
                        *content = json!([{ "type": "text", "text": text }, image]);
                    }
                    None => {}
                }
                continue;
            }
        }
        out.extend(wire_block(block));
    }
    out
}

/// Converts the history, merging consecutive messages of one role (the API wants
/// alternation) and marking the last block as a cache breakpoint.
fn wire_messages(messages: &[Message]) -> Vec<Value> {
    let mut merged: Vec<(Role, Vec<Value>)> = Vec::new();
    for m in messages {
        let blocks: Vec<Value> = wire_blocks(&m.content);
        if blocks.is_empty() {
            continue;
        }
        match merged.last_mut() {
            Some((role, content)) if *role == m.role => {
                // Tool results must lead a user message.
                let (mut results, rest): (Vec<Value>, Vec<Value>) = content
                    .drain(..)
                    .chain(blocks)
                    .partition(|b| b["type"] == "tool_result");
                results.extend(rest);
                *content = results;
            }
            _ => merged.push((m.role, blocks)),
        }
    }
    if let Some(last) = merged
        .last_mut()
        .and_then(|(_, c)| c.last_mut())
        .filter(|b| !crate::anthropic::web_search::is_kept_verbatim(b))
    {
        if let Some(obj) = last.as_object_mut() {
            obj.insert("cache_control".into(), json!({ "type": "ephemeral" }));
        }
    }
    merged
        .into_iter()
        .map(|(role, content)| {
            let role = match role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            json!({ "role": role, "content": content })
        })
        .collect()
}

/// A kept block on the wire: ours as received; another provider's as its text.
fn legacy_kept_block(provider: &str, text: &str, data: &Value) -> Option<Value> {
    if provider == crate::anthropic::PROVIDER && data.get("type").is_some_and(Value::is_string) {
        return Some(data.clone());
    }
    (!text.trim().is_empty()).then(|| json!({ "type": "text", "text": text }))
}
