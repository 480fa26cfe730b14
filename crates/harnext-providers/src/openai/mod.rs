//! The two OpenAI wire formats: the Responses API (`openai/<model>`, [`responses`]) and
//! Chat Completions (`openai-chat/<model>`, [`chat`], which every OpenAI-compatible
//! server speaks). This module holds what they share: the endpoint URL, credentials,
//! HTTP error bodies, tool ids and tool results in OpenAI's terms, usage and stream
//! errors.
//!
//! **Base URL convention.** As in OpenAI's SDKs, the base URL includes the API version
//! path (`https://api.openai.com/v1`, Ollama's `http://localhost:11434/v1`, OpenRouter's
//! `https://openrouter.ai/api/v1`), and the endpoint is appended to it
//! (`{base}/responses`, `{base}/chat/completions`). A base URL with no path at all
//! (`http://localhost:8000`) gets `/v1` added, since no server serves the API at its root.
//!
//! **Credentials.** `Authorization: Bearer <key>` when a key is set. Without a key, the
//! default endpoint (api.openai.com) is an `auth` error before any request; with a
//! custom base URL the request goes out with no `Authorization` header, because local
//! servers (Ollama, vLLM, llama.cpp, LM Studio) need none.

pub mod chat;
pub mod responses;

use std::collections::HashMap;
use std::sync::Arc;

use harnext_protocol::ToolStatus;
use harnext_protocol::Usage;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::classify_http;
use crate::classify_stream_error;
use crate::error::is_quota_exhausted;
use crate::http;
use crate::http::HttpCall;
use crate::http::WireParser;
use crate::retry;
use crate::HttpSettings;
use crate::ModelStream;
use crate::ProviderError;
use crate::SettingsError;

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub const API_KEY_ENV: &str = "OPENAI_API_KEY";
pub const BASE_URL_ENV: &str = "OPENAI_BASE_URL";

/// `{base}/{endpoint}` under the convention above; a query string on the base is kept.
pub fn endpoint_url(base: Option<&str>, endpoint: &str) -> String {
    let base = base.unwrap_or(DEFAULT_BASE_URL).trim();
    match reqwest::Url::parse(base) {
        Ok(mut url) => {
            let path = url.path().trim_end_matches('/').to_owned();
            let path = if path.is_empty() {
                format!("/v1/{endpoint}")
            } else {
                format!("{path}/{endpoint}")
            };
            url.set_path(&path);
            url.to_string()
        }
        // Validated at construction; keep a plain join for anything else.
        Err(_) => format!("{}/{endpoint}", base.trim_end_matches('/')),
    }
}

/// Whether `url` is OpenAI's own service (or Azure OpenAI), which wants
/// `max_completion_tokens` and rejects `max_tokens` for its reasoning models.
pub(crate) fn is_openai_service(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .is_some_and(|h| h == "api.openai.com" || h.ends_with(".openai.azure.com"))
}

/// The key to send, or the missing-key error (only when no base URL was configured).
fn api_key(
    settings: &HttpSettings,
    provider: &'static str,
) -> Result<Option<String>, ProviderError> {
    match settings.api_key.clone().filter(|k| !k.trim().is_empty()) {
        Some(key) => Ok(Some(key)),
        None if settings.base_url.is_some() => Ok(None),
        None => Err(ProviderError::MissingApiKey {
            provider,
            env_var: API_KEY_ENV,
            option: crate::API_KEY_OPTION,
        }),
    }
}

/// Starts a streamed POST of `body` to `url` through the shared retrying driver. The body
/// is built for each attempt (from the model request the closure holds, whose history
/// is shared), so none is kept for the turn.
pub(crate) fn spawn(
    provider: &'static str,
    client: &reqwest::Client,
    settings: &Arc<HttpSettings>,
    invalid: Option<&SettingsError>,
    url: String,
    body: Box<dyn Fn() -> Value + Send + Sync>,
    new_parser: Box<dyn Fn() -> Box<dyn WireParser> + Send + Sync>,
) -> ModelStream {
    if let Some(error) = invalid {
        return http::failed(ProviderError::Settings {
            provider,
            error: error.clone(),
        });
    }
    let key = match api_key(settings, provider) {
        Ok(key) => key,
        Err(e) => return http::failed(e),
    };
    let client = client.clone();
    let headers = settings.headers.clone();
    let user_sets_auth = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
    let target = url.clone();
    let build = move |_retry: u32| {
        let mut rb = client.post(&target).header("accept", "text/event-stream");
        if let (Some(key), false) = (&key, user_sets_auth) {
            rb = rb.bearer_auth(key);
        }
        for (k, v) in &headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        Ok(http::JsonBody::new(&body()).attach(rb, &headers))
    };
    let parse_error = if provider == chat::PROVIDER {
        chat::parse_error
    } else {
        responses::parse_error
    };
    http::spawn(HttpCall::new(
        provider,
        settings,
        &url,
        Box::new(build),
        parse_error,
        new_parser,
    ))
}

/// A string field, or `""`.
pub(crate) fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A count at `path`; a malformed one is absent (see [`crate::lenient::count`]).
fn u64_of(v: &Value, path: &[&str]) -> Option<u64> {
    crate::lenient::count_at(v, path)
}

/// `type`, `code`, `message` of an OpenAI error object (`code` may be a string, a
/// number or null; some compatible servers put a string where the object should be).
struct WireError {
    kind: String,
    code: Option<Value>,
    message: String,
}

impl WireError {
    fn from_value(e: &Value) -> WireError {
        match e {
            Value::String(message) => WireError {
                kind: String::new(),
                code: None,
                message: message.clone(),
            },
            _ => WireError {
                kind: str_of(e, "type").to_owned(),
                code: e.get("code").filter(|c| !c.is_null()).cloned(),
                message: str_of(e, "message").to_owned(),
            },
        }
    }

    /// The most specific name: the `code` when it is a string, else the `type`.
    fn name(&self) -> &str {
        match &self.code {
            Some(Value::String(code)) if !code.is_empty() => code,
            _ => &self.kind,
        }
    }
}

/// An HTTP error response of either OpenAI API or a compatible server:
/// `{"error":{"message","type","param","code"}}`, also `{"error":"..."}`,
/// vLLM's flat `{"object":"error","message","type","code"}` and FastAPI's `{"detail"}`.
pub(crate) fn parse_http_error(
    provider: &'static str,
    status: u16,
    headers: &HeaderMap,
    body: &str,
) -> ProviderError {
    let parsed = serde_json::from_str::<Value>(body).ok();
    let wire = parsed.as_ref().and_then(|v| {
        if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
            Some(WireError::from_value(e))
        } else if v.get("message").is_some_and(Value::is_string) {
            Some(WireError::from_value(v))
        } else {
            v.get("detail")
                .and_then(Value::as_str)
                .map(|d| WireError::from_value(&Value::String(d.to_owned())))
        }
    });
    let (name, message) = match wire {
        Some(w) if !w.message.is_empty() => (w.name().to_owned(), w.message),
        Some(w) => (w.name().to_owned(), format!("HTTP {status} ({})", w.name())),
        None => {
            let snippet: String = body.trim().chars().take(300).collect();
            let message = if snippet.is_empty() {
                format!("HTTP {status} with no body")
            } else {
                snippet
            };
            (String::new(), message)
        }
    };
    let code = classify_http(status, &name, &message);
    // No quota left is not a rate limit: retrying cannot help (see `classify_http`).
    let should_retry = if is_quota_exhausted(&name) {
        Some(false)
    } else {
        retry::should_retry(headers)
    };
    ProviderError::Http {
        provider,
        status,
        code,
        message,
        retry_after: retry::retry_after(headers),
        should_retry,
    }
}

/// An error reported inside a 200 stream: `{"error":{...}}` (nested, as api.openai.com
/// and OpenRouter send it) or the error object itself (flat, the Responses spec's
/// `{"type":"error","code","message"}`). A numeric `code` (OpenRouter) is an HTTP status.
pub(crate) fn stream_error(provider: &'static str, event: &Value) -> ProviderError {
    let e = event
        .get("error")
        .filter(|e| e.is_object() || e.is_string())
        .unwrap_or(event);
    let mut wire = WireError::from_value(e);
    if wire.kind == "error" {
        // The flat form's `type` is the event type, not the error's.
        wire.kind.clear();
    }
    let message = if wire.message.is_empty() {
        "the stream reported an error without a message".to_owned()
    } else {
        wire.message.clone()
    };
    let (code, kind) = match &wire.code {
        Some(Value::Number(n)) => {
            let status = n
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .unwrap_or(500);
            let kind = if wire.kind.is_empty() {
                format!("HTTP {status}")
            } else {
                wire.kind.clone()
            };
            (classify_http(status, &wire.kind, &message), kind)
        }
        _ => {
            let name = wire.name();
            let name = if name.is_empty() { "error" } else { name };
            (classify_stream_error(name, &message), name.to_owned())
        }
    };
    ProviderError::Stream {
        provider,
        code,
        kind,
        message,
    }
}

/// Usage from OpenAI's figures. OpenAI's input count includes cached input; harnext's
/// `input_tokens` is the uncached part, as Anthropic reports it.
///
/// `output` includes the reasoning tokens, as OpenAI counts them. Some servers (xAI)
/// leave reasoning out of their output count, which shows in the total:
/// `total = input + output + reasoning` rather than `input + output`; their reasoning
/// is added to the output. A missing (or malformed) input or output count makes the
/// usage unreported.
pub(crate) fn usage_from(
    input_total: Option<u64>,
    cached: u64,
    output: Option<u64>,
    reasoning: u64,
    total: Option<u64>,
) -> Usage {
    let reasoning_left_out = match (input_total, output, total) {
        (Some(i), Some(o), Some(t)) => {
            reasoning > 0 && i.checked_add(o).and_then(|s| s.checked_add(reasoning)) == Some(t)
        }
        _ => false,
    };
    let output_total = match output {
        Some(o) if reasoning_left_out => o.saturating_add(reasoning),
        Some(o) => o,
        None => 0,
    };
    Usage {
        input_tokens: input_total.unwrap_or(0).saturating_sub(cached),
        output_tokens: output_total,
        cache_read_tokens: cached,
        cache_write_tokens: 0,
        reasoning_tokens: reasoning,
        unreported: input_total.is_none() || output.is_none(),
        web_search_requests: 0,
    }
}

/// A tool call id OpenAI accepts: `[A-Za-z0-9_-]`, at most 64 characters. Ids minted by
/// other providers pass unchanged in practice (`toolu_…`, `call_…`); anything else is
/// mapped deterministically, so a call and its result still pair up.
pub(crate) fn wire_call_id(id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        return "call_".to_owned();
    }
    if clean.len() <= 64 {
        return clean;
    }
    // FNV-1a of the original id keeps long ids distinct after truncation.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}_{hash:016x}", &clean[..40])
}

/// A tool result as OpenAI sees it. Neither OpenAI API has an error flag on tool
/// results, so a result that is not `ok` starts with its status in brackets
/// (`[error] …`, `[denied] …`, `[cancelled] …`), which the model reads as plainly as
/// Anthropic's `is_error`. An empty output becomes `(no output)`.
pub(crate) fn tool_output(content: &str, status: ToolStatus) -> String {
    let body = if content.is_empty() {
        "(no output)"
    } else {
        content
    };
    let prefix = match status {
        ToolStatus::Ok => return body.to_owned(),
        ToolStatus::Error => "error",
        ToolStatus::Denied => "denied",
        ToolStatus::Cancelled => "cancelled",
    };
    format!("[{prefix}] {body}")
}

/// Parses streamed tool arguments. Invalid or non-object JSON gives `{}` and a note in
/// `invalid` (the loop answers such a call with an error instead of running it).
pub(crate) fn parse_arguments(
    id: &str,
    json: &str,
    invalid: &mut HashMap<String, String>,
) -> Value {
    let empty = || Value::Object(serde_json::Map::new());
    if json.trim().is_empty() {
        return empty();
    }
    match serde_json::from_str::<Value>(json) {
        Ok(v @ Value::Object(_)) => v,
        Ok(other) => {
            invalid.insert(
                id.to_owned(),
                format!("arguments must be a JSON object, got {other}"),
            );
            empty()
        }
        Err(e) => {
            invalid.insert(id.to_owned(), format!("arguments are not valid JSON ({e})"));
            empty()
        }
    }
}

/// A fresh tool call id for servers that send none.
pub(crate) fn generated_call_id() -> String {
    let tail: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(24)
        .collect();
    format!("call_{tail}")
}

/// The reasoning effort for a thinking budget: up to 2048 tokens `low`, up to 8192
/// `medium` (the default `thinking: true` is 4096), above that `high`.
pub(crate) fn reasoning_effort(budget: u32) -> &'static str {
    match budget {
        0..=2048 => "low",
        2049..=8192 => "medium",
        _ => "high",
    }
}

/// A stream that ended (EOF or `[DONE]`) before its response was complete.
pub(crate) fn truncated(provider: &'static str) -> ProviderError {
    ProviderError::Network {
        provider,
        message: "the stream ended before the response was complete".into(),
    }
}

/// Parses an event's JSON payload.
pub(crate) fn parse_json(
    provider: &'static str,
    event: &str,
    data: &str,
) -> Result<Value, ProviderError> {
    serde_json::from_str(data).map_err(|e| ProviderError::Protocol {
        provider,
        message: if event.is_empty() {
            format!("bad stream chunk: {e}")
        } else {
            format!("bad `{event}` event: {e}")
        },
    })
}

/// `data: [DONE]`, the end marker of Chat streams (optional on Responses streams).
pub(crate) fn is_done_marker(data: &str) -> bool {
    data.trim() == "[DONE]"
}

#[cfg(test)]
mod tests;
