//! Anthropic's server-side web search (`web_search_20250305`): the tool entry, the
//! blocks it adds to a response (kept verbatim as [`ContentBlock::ProviderBlock`]s and
//! sent back as received), and the events they make.
//!
//! A response with a search carries, in order: a `server_tool_use` block (name
//! `web_search`, its input `{query}` streamed as `input_json_delta`), a
//! `web_search_tool_result` block (complete at its `content_block_start`: an array of
//! `web_search_result` `{url, title, encrypted_content, page_age}`, or a
//! `web_search_tool_result_error` `{error_code}`), then text blocks whose `citations`
//! (streamed as `citations_delta`) point into the results (`web_search_result_location`
//! `{url, title, cited_text, encrypted_index}`).

use std::collections::BTreeMap;

use harnext_protocol::ContentBlock;
use harnext_protocol::WebSearchResult;
use harnext_protocol::WebSearchStatus;
use serde_json::json;
use serde_json::Value;

use super::Block;
use super::PROVIDER;
use crate::ModelEvent;
use crate::WebSearch;

/// The tool's type (version) and name on the wire.
pub(crate) const TOOL_TYPE: &str = "web_search_20250305";
pub(crate) const TOOL_NAME: &str = "web_search";
const RESULT_TYPE: &str = "web_search_tool_result";
/// The results of one search shown in a `web_search` event (the history keeps all).
pub(crate) const MAX_EVENT_RESULTS: usize = 100;

/// What the Messages API refuses.
pub(super) fn check(search: &WebSearch) -> Result<(), String> {
    if !search.allowed_domains.is_empty() && !search.blocked_domains.is_empty() {
        return Err("allowed domains and blocked domains cannot be given together: Anthropic's web search takes one list or the other".into());
    }
    Ok(())
}

/// `{type:"web_search_20250305", name:"web_search", max_uses?, allowed_domains?,
/// blocked_domains?, user_location?}`.
pub(super) fn tool(search: &WebSearch) -> Value {
    let mut tool = serde_json::Map::new();
    tool.insert("type".into(), json!(TOOL_TYPE));
    tool.insert("name".into(), json!(TOOL_NAME));
    if let Some(n) = search.max_uses {
        tool.insert("max_uses".into(), json!(n));
    }
    if !search.allowed_domains.is_empty() {
        tool.insert("allowed_domains".into(), json!(search.allowed_domains));
    }
    if !search.blocked_domains.is_empty() {
        tool.insert("blocked_domains".into(), json!(search.blocked_domains));
    }
    if let Some(location) = &search.user_location {
        tool.insert("user_location".into(), location.wire());
    }
    Value::Object(tool)
}

/// Whether a wire block is one the API wants back exactly (no `cache_control` added).
pub(super) fn is_kept_verbatim(block: &Value) -> bool {
    match block.get("type").and_then(Value::as_str) {
        Some("server_tool_use") => true,
        Some(kind) if is_result_type(kind) => true,
        Some("text") => block.get("citations").is_some(),
        _ => false,
    }
}

pub(super) fn is_result_type(kind: &str) -> bool {
    kind == RESULT_TYPE
}

/// A finished text block with citations.
pub(super) fn cited_text(text: String, citations: Vec<Value>) -> ContentBlock {
    ContentBlock::ProviderBlock {
        provider: PROVIDER.to_owned(),
        data: json!({ "type": "text", "text": text, "citations": citations }),
        text,
    }
}

/// The input of a `server_tool_use` block: the streamed JSON, else the input of its
/// start (a whole response), else `{}` (a truncated or malformed input: the API gets
/// an object it accepts, never a broken one).
fn input_of(start: &Value, json: &str) -> Value {
    if json.trim().is_empty() {
        return start
            .get("input")
            .filter(|i| i.is_object())
            .cloned()
            .unwrap_or_else(|| json!({}));
    }
    match serde_json::from_str::<Value>(json) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({}),
    }
}

/// A finished `server_tool_use` block, its input in place.
pub(super) fn server_tool_use(mut start: Value, json: &str) -> ContentBlock {
    let input = input_of(&start, json);
    if let Some(o) = start.as_object_mut() {
        o.insert("input".into(), input);
    }
    ContentBlock::ProviderBlock {
        provider: PROVIDER.to_owned(),
        text: String::new(),
        data: start,
    }
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The query of a web search's `server_tool_use`.
fn query_of(start: &Value, json: &str) -> Option<String> {
    str_of(&input_of(start, json), "query")
}

/// `searching`, when a `server_tool_use` block of the web search is complete.
pub(super) fn searching_event(start: &Value, json: &str, out: &mut Vec<ModelEvent>) {
    if start.get("name").and_then(Value::as_str) != Some(TOOL_NAME) {
        return;
    }
    out.push(ModelEvent::WebSearch {
        id: str_of(start, "id").unwrap_or_default(),
        status: WebSearchStatus::Searching,
        query: query_of(start, json),
        results: Vec::new(),
        error: None,
    });
}

/// `completed` or `failed`, from a `web_search_tool_result` block.
pub(super) fn result_event(
    block: &Value,
    blocks: &BTreeMap<usize, Block>,
    out: &mut Vec<ModelEvent>,
) {
    let id = str_of(block, "tool_use_id").unwrap_or_default();
    let query = blocks.values().find_map(|b| match b {
        Block::ServerToolUse { start, json, .. } if str_of(start, "id").as_deref() == Some(&id) => {
            query_of(start, json)
        }
        _ => None,
    });
    let content = block.get("content").unwrap_or(&Value::Null);
    let (status, results, error) = match content {
        Value::Array(items) => {
            let results = items
                .iter()
                .filter(|r| r.get("type").and_then(Value::as_str) == Some("web_search_result"))
                .filter_map(|r| {
                    Some(WebSearchResult {
                        url: str_of(r, "url")?,
                        title: str_of(r, "title"),
                        page_age: str_of(r, "page_age"),
                    })
                })
                .take(MAX_EVENT_RESULTS)
                .collect();
            (WebSearchStatus::Completed, results, None)
        }
        other => {
            let code = str_of(other, "error_code").unwrap_or_else(|| {
                format!(
                    "unrecognized result ({})",
                    other
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("no type")
                )
            });
            (WebSearchStatus::Failed, Vec::new(), Some(code))
        }
    };
    out.push(ModelEvent::WebSearch {
        id,
        status,
        query,
        results,
        error,
    });
}

/// A citation's event, when it points at a web page.
fn citation_event(citation: &Value, out: &mut Vec<ModelEvent>) {
    if let Some(url) = str_of(citation, "url") {
        out.push(ModelEvent::Citation {
            url,
            title: str_of(citation, "title"),
            cited_text: str_of(citation, "cited_text"),
        });
    }
}

/// The citations a text block starts with (a whole response has them there).
pub(super) fn start_citations(block: &Value, out: &mut Vec<ModelEvent>) -> Vec<Value> {
    let citations: Vec<Value> = block
        .get("citations")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter(|c| c.is_object()).cloned().collect())
        .unwrap_or_default();
    for c in &citations {
        citation_event(c, out);
    }
    citations
}

/// A `citations_delta`: the citation joins its text block (which becomes a cited one).
pub(super) fn citation_delta(block: &mut Block, delta: &Value, out: &mut Vec<ModelEvent>) {
    let Some(citation) = delta.get("citation").filter(|c| c.is_object()) else {
        return;
    };
    citation_event(citation, out);
    match block {
        Block::CitedText { citations, .. } => citations.push(citation.clone()),
        Block::Text(text) => {
            *block = Block::CitedText {
                text: std::mem::take(text),
                citations: vec![citation.clone()],
            };
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
