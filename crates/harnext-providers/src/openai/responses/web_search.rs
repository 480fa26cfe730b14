//! OpenAI's hosted web search on the Responses API: the `{type:"web_search"}` tool,
//! the `web_search_call` output items (`{id, status, action:{type:"search", query,
//! sources?}}`, kept verbatim and sent back as input items) with their progress
//! events (`response.web_search_call.in_progress` / `.searching` / `.completed`), and
//! the `url_citation` annotations (`{url, title, start_index, end_index}`) of the
//! reply's `output_text`, whose message item is kept verbatim too.

use harnext_protocol::ContentBlock;
use harnext_protocol::WebSearchResult;
use harnext_protocol::WebSearchStatus;
use serde_json::json;
use serde_json::Value;

use super::PROVIDER;
use crate::ModelEvent;
use crate::WebSearch;

/// Asked in `include` so that `web_search_call.action` lists the pages it used.
pub(super) const INCLUDE_SOURCES: &str = "web_search_call.action.sources";
/// The results of one search shown in a `web_search` event (the history keeps all).
const MAX_EVENT_RESULTS: usize = 100;

/// What the hosted tool has no field for.
pub(super) fn check(search: &WebSearch) -> Result<(), String> {
    if search.max_uses.is_some() {
        return Err("OpenAI's web search has no limit on the number of searches: drop max uses (maxUses / max_uses) for an `openai/...` model".into());
    }
    if !search.blocked_domains.is_empty() {
        return Err("OpenAI's web search cannot block domains: use allowed domains (allowedDomains / allowed_domains) instead for an `openai/...` model".into());
    }
    Ok(())
}

/// `{type:"web_search", filters?:{allowed_domains}, user_location?}`.
pub(super) fn tool(search: &WebSearch) -> Value {
    let mut tool = serde_json::Map::new();
    tool.insert("type".into(), json!("web_search"));
    if !search.allowed_domains.is_empty() {
        tool.insert(
            "filters".into(),
            json!({ "allowed_domains": search.allowed_domains }),
        );
    }
    if let Some(location) = &search.user_location {
        tool.insert("user_location".into(), location.wire());
    }
    Value::Object(tool)
}

/// A kept block as an input item: ours as received; another provider's as its text
/// (`None`: nothing to send, or text to add to the message being built). A message's
/// `output_text` parts get the `annotations` and `logprobs` lists the API requires when
/// the server that sent them left them out.
pub(super) fn input_item(provider: &str, data: &Value) -> Option<Value> {
    let kind = data.get("type").and_then(Value::as_str)?;
    if provider != PROVIDER || !matches!(kind, "web_search_call" | "message") {
        return None;
    }
    let mut item = data.clone();
    if let Some(parts) = item.get_mut("content").and_then(Value::as_array_mut) {
        for part in parts {
            let Some(part) = part.as_object_mut() else {
                continue;
            };
            if part.get("type").and_then(Value::as_str) == Some("output_text") {
                for key in ["annotations", "logprobs"] {
                    part.entry(key).or_insert_with(|| json!([]));
                }
            }
        }
    }
    Some(item)
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The query of an action: `query`, else the `queries` joined.
fn query_of(action: &Value) -> Option<String> {
    str_of(action, "query").or_else(|| {
        let queries: Vec<&str> = action
            .get("queries")
            .and_then(Value::as_array)?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        (!queries.is_empty()).then(|| queries.join("; "))
    })
}

/// `searching`, on `response.web_search_call.searching`.
pub(super) fn searching_event(id: String, out: &mut Vec<ModelEvent>) {
    out.push(ModelEvent::WebSearch {
        id,
        status: WebSearchStatus::Searching,
        query: None,
        results: Vec::new(),
        error: None,
    });
}

/// `completed` or `failed`, from a finished `web_search_call` item.
pub(super) fn done_event(item: &Value, out: &mut Vec<ModelEvent>) {
    let action = item.get("action").unwrap_or(&Value::Null);
    let mut results: Vec<WebSearchResult> = action
        .get("sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| {
            Some(WebSearchResult {
                url: str_of(s, "url")?,
                title: str_of(s, "title"),
                page_age: None,
            })
        })
        .take(MAX_EVENT_RESULTS)
        .collect();
    // `open_page` and `find_in_page` actions name their page.
    if results.is_empty() {
        if let Some(url) = str_of(action, "url") {
            results.push(WebSearchResult {
                url,
                title: None,
                page_age: None,
            });
        }
    }
    let failed = item.get("status").and_then(Value::as_str) == Some("failed");
    out.push(ModelEvent::WebSearch {
        id: str_of(item, "id").unwrap_or_default(),
        status: if failed {
            WebSearchStatus::Failed
        } else {
            WebSearchStatus::Completed
        },
        query: query_of(action),
        results: if failed { Vec::new() } else { results },
        error: failed.then(|| "failed".to_owned()),
    });
}

/// Whether a finished search counts as a billed search call.
pub(super) fn is_billed(item: &Value) -> bool {
    item.get("status").and_then(Value::as_str) != Some("failed")
}

/// The `url_citation` annotations of a message item's `output_text` parts.
pub(super) fn annotations(content: &[Value]) -> Vec<(&str, &Value)> {
    let mut out = Vec::new();
    for part in content {
        if part.get("type").and_then(Value::as_str) != Some("output_text") {
            continue;
        }
        let text = part.get("text").and_then(Value::as_str).unwrap_or_default();
        for a in part
            .get("annotations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.push((text, a));
        }
    }
    out
}

/// A `citation` event per `url_citation` annotation; `cited_text` is the part of the
/// reply it marks (`start_index..end_index`, in characters), when the indices fit.
pub(super) fn citation_events(content: &[Value], out: &mut Vec<ModelEvent>) {
    for (text, a) in annotations(content) {
        if a.get("type").and_then(Value::as_str) != Some("url_citation") {
            continue;
        }
        let Some(url) = str_of(a, "url") else {
            continue;
        };
        let index = |key: &str| a.get(key).and_then(Value::as_u64).map(|n| n as usize);
        let cited_text = match (index("start_index"), index("end_index")) {
            (Some(start), Some(end)) if start < end && end <= text.chars().count() => {
                Some(text.chars().skip(start).take(end - start).collect())
            }
            _ => None,
        };
        out.push(ModelEvent::Citation {
            url,
            title: str_of(a, "title"),
            cited_text,
        });
    }
}

/// A finished message item with annotations, kept verbatim.
pub(super) fn cited_message(text: String, item: Value) -> ContentBlock {
    ContentBlock::ProviderBlock {
        provider: PROVIDER.to_owned(),
        text,
        data: item,
    }
}

/// A finished `web_search_call` item, kept verbatim.
pub(super) fn search_call(item: Value) -> ContentBlock {
    ContentBlock::ProviderBlock {
        provider: PROVIDER.to_owned(),
        text: String::new(),
        data: item,
    }
}

#[cfg(test)]
mod tests;
