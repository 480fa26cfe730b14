//! Renders a [`ScriptedTurn`] as the frames of the two OpenAI streams: the Responses API
//! (named events, `sequence_number`, reasoning items with `encrypted_content`, function
//! calls with argument deltas, `response.completed` / `response.incomplete`) and Chat
//! Completions (data-only chunks, `reasoning_content`, tool-call fragments keyed by
//! `index`, an `include_usage` chunk, `data: [DONE]`), and their errors.
//!
//! Usage mapping: OpenAI counts cached input inside the input total, so `input_tokens` /
//! `prompt_tokens` is the turn's `inputTokens + cacheReadTokens + cacheWriteTokens`
//! (OpenAI has no cache writes) and the cached part is `cacheReadTokens`.

use harnext_protocol::ScriptedTurn;
use harnext_protocol::ScriptedUsage;
use serde_json::json;
use serde_json::Value;

use crate::text::fragments;
use crate::text::random_id;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn input_total(u: &ScriptedUsage) -> u64 {
    u.input_tokens + u.cache_read_tokens + u.cache_write_tokens
}

/// `event: TYPE\ndata: JSON\n\n` with the `type` first, as the real API orders keys.
struct Responses {
    frames: Vec<String>,
    sequence: u64,
}

impl Responses {
    fn push(&mut self, kind: &str, mut fields: Value) {
        let mut data = serde_json::Map::new();
        data.insert("type".into(), json!(kind));
        data.insert("sequence_number".into(), json!(self.sequence));
        if let Value::Object(map) = &mut fields {
            data.append(map);
        }
        self.sequence += 1;
        self.frames
            .push(format!("event: {kind}\ndata: {}\n\n", Value::Object(data)));
    }
}

/// The `response` object of the lifecycle events.
fn response_object(
    id: &str,
    model: &str,
    created: u64,
    status: &str,
    output: &[Value],
    usage: Option<Value>,
    incomplete: Option<&str>,
) -> Value {
    json!({
        "id": id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": null,
        "incomplete_details": incomplete.map(|reason| json!({ "reason": reason })),
        "model": model,
        "output": output,
        "parallel_tool_calls": true,
        "store": false,
        "usage": usage,
    })
}

/// Renders `turn` as a Responses stream, from `response.created` to
/// `response.completed`, or `response.incomplete` when `stop_reason` is `max_tokens`
/// (`max_output_tokens`) or `content_filter`. With `refusal` the text is a `refusal`
/// content part.
/// Reasoning items carry `encrypted_content` only when `encrypted` (the request's
/// `include: ["reasoning.encrypted_content"]`). `next_tool_id` numbers the
/// `call_mock_<n>` ids of calls without an id.
pub(crate) fn responses_frames(
    turn: &ScriptedTurn,
    stop_reason: Option<&str>,
    model: &str,
    encrypted: bool,
    next_tool_id: &mut dyn FnMut() -> u64,
) -> Vec<String> {
    let usage = turn.usage.unwrap_or_default();
    let id = random_id("resp_mock_", 24);
    let created = unix_now();
    let mut s = Responses {
        frames: Vec::new(),
        sequence: 0,
    };
    let started = response_object(&id, model, created, "in_progress", &[], None, None);
    s.push("response.created", json!({ "response": started }));
    s.push("response.in_progress", json!({ "response": started }));

    let mut output: Vec<Value> = Vec::new();
    if let Some(thinking) = &turn.thinking {
        let index = output.len();
        let item_id = random_id("rs_mock_", 24);
        let encrypted = encrypted.then(|| random_id("gAAAAmock", 64));
        s.push(
            "response.output_item.added",
            json!({ "output_index": index, "item": {
                "id": item_id, "type": "reasoning", "encrypted_content": encrypted, "summary": [] } }),
        );
        s.push(
            "response.reasoning_summary_part.added",
            json!({ "item_id": item_id, "output_index": index, "summary_index": 0,
                    "part": { "type": "summary_text", "text": "" } }),
        );
        for chunk in ScriptedTurn::chunks(thinking) {
            s.push(
                "response.reasoning_summary_text.delta",
                json!({ "item_id": item_id, "output_index": index, "summary_index": 0,
                        "delta": chunk, "obfuscation": random_id("", 6) }),
            );
        }
        s.push(
            "response.reasoning_summary_text.done",
            json!({ "item_id": item_id, "output_index": index, "summary_index": 0, "text": thinking }),
        );
        s.push(
            "response.reasoning_summary_part.done",
            json!({ "item_id": item_id, "output_index": index, "summary_index": 0,
                    "part": { "type": "summary_text", "text": thinking } }),
        );
        let item = json!({ "id": item_id, "type": "reasoning", "encrypted_content": encrypted,
                           "summary": [{ "type": "summary_text", "text": thinking }] });
        s.push(
            "response.output_item.done",
            json!({ "output_index": index, "item": item }),
        );
        output.push(item);
    }

    if let Some(text) = &turn.text {
        let index = output.len();
        let item_id = random_id("msg_mock_", 24);
        s.push(
            "response.output_item.added",
            json!({ "output_index": index, "item": {
                "id": item_id, "type": "message", "status": "in_progress", "content": [], "role": "assistant" } }),
        );
        // A refusal is a `refusal` content part, streamed by `response.refusal.*`.
        let refusal = stop_reason == Some("refusal");
        let part = |text: &str| {
            if refusal {
                json!({ "type": "refusal", "refusal": text })
            } else {
                json!({ "type": "output_text", "annotations": [], "logprobs": [], "text": text })
            }
        };
        s.push(
            "response.content_part.added",
            json!({ "item_id": item_id, "output_index": index, "content_index": 0, "part": part("") }),
        );
        let (delta_kind, done_kind, done_key) = if refusal {
            ("response.refusal.delta", "response.refusal.done", "refusal")
        } else {
            (
                "response.output_text.delta",
                "response.output_text.done",
                "text",
            )
        };
        for chunk in ScriptedTurn::chunks(text) {
            s.push(
                delta_kind,
                json!({ "item_id": item_id, "output_index": index, "content_index": 0,
                        "delta": chunk, "logprobs": [], "obfuscation": random_id("", 6) }),
            );
        }
        s.push(
            done_kind,
            json!({ "item_id": item_id, "output_index": index, "content_index": 0,
                    done_key: text, "logprobs": [] }),
        );
        s.push(
            "response.content_part.done",
            json!({ "item_id": item_id, "output_index": index, "content_index": 0, "part": part(text) }),
        );
        let item = json!({ "id": item_id, "type": "message", "status": "completed",
                           "content": [part(text)], "role": "assistant" });
        s.push(
            "response.output_item.done",
            json!({ "output_index": index, "item": item }),
        );
        output.push(item);
    }

    for call in &turn.tool_calls {
        let index = output.len();
        let item_id = random_id("fc_mock_", 24);
        let call_id = match &call.id {
            Some(id) => id.clone(),
            None => format!("call_mock_{}", next_tool_id()),
        };
        let args = call.args.to_string();
        s.push(
            "response.output_item.added",
            json!({ "output_index": index, "item": {
                "id": item_id, "type": "function_call", "status": "in_progress",
                "arguments": "", "call_id": call_id, "name": call.name } }),
        );
        for part in fragments(&args) {
            s.push(
                "response.function_call_arguments.delta",
                json!({ "item_id": item_id, "output_index": index, "delta": part,
                        "obfuscation": random_id("", 6) }),
            );
        }
        // Like the real API: no `name` here, although the spec requires it.
        s.push(
            "response.function_call_arguments.done",
            json!({ "item_id": item_id, "output_index": index, "arguments": args }),
        );
        let item = json!({ "id": item_id, "type": "function_call", "status": "completed",
                           "arguments": args, "call_id": call_id, "name": call.name });
        s.push(
            "response.output_item.done",
            json!({ "output_index": index, "item": item }),
        );
        output.push(item);
    }

    let wire_usage = json!({
        "input_tokens": input_total(&usage),
        "input_tokens_details": { "cached_tokens": usage.cache_read_tokens },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": { "reasoning_tokens": usage.reasoning_tokens },
        "total_tokens": input_total(&usage) + usage.output_tokens,
    });
    let (kind, status, incomplete) = match stop_reason {
        Some("max_tokens") => (
            "response.incomplete",
            "incomplete",
            Some("max_output_tokens"),
        ),
        Some("content_filter") => ("response.incomplete", "incomplete", Some("content_filter")),
        _ => ("response.completed", "completed", None),
    };
    let done = response_object(
        &id,
        model,
        created,
        status,
        &output,
        Some(wire_usage),
        incomplete,
    );
    s.push(kind, json!({ "response": done }));
    s.frames
}

/// The mid-stream error of a Responses stream, as api.openai.com sends it: a nested
/// `error` event, then `response.failed`.
pub(crate) fn responses_error_frame(error_type: &str, message: &str) -> String {
    let code = openai_code(error_type);
    let mut s = Responses {
        frames: Vec::new(),
        // Any later number: the parser does not depend on it.
        sequence: 1_000,
    };
    s.push(
        "error",
        json!({ "error": { "type": code, "code": code, "message": message, "param": null } }),
    );
    s.push(
        "response.failed",
        json!({ "response": {
            "id": random_id("resp_mock_", 24), "object": "response", "status": "failed",
            "error": { "code": code, "message": message }, "output": [], "usage": null } }),
    );
    s.frames.concat()
}

/// Chat chunks share one id, creation time and model.
struct Chat {
    id: String,
    created: u64,
    model: String,
    frames: Vec<String>,
}

impl Chat {
    fn chunk(&mut self, delta: Value, finish_reason: Option<&str>) {
        self.frames.push(format!(
            "data: {}\n\n",
            json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "system_fingerprint": "fp_mock",
                "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason }],
            })
        ));
    }
}

/// Renders `turn` as a Chat Completions stream, ending with `data: [DONE]`. The usage
/// chunk (`choices: []`) is sent only when the request asked for it with
/// `stream_options.include_usage`, as the real API does.
pub(crate) fn chat_frames(
    turn: &ScriptedTurn,
    stop_reason: Option<&str>,
    model: &str,
    include_usage: bool,
    next_tool_id: &mut dyn FnMut() -> u64,
) -> Vec<String> {
    let usage = turn.usage.unwrap_or_default();
    let mut c = Chat {
        id: random_id("chatcmpl-mock", 24),
        created: unix_now(),
        model: model.to_owned(),
        frames: Vec::new(),
    };
    c.chunk(
        json!({ "role": "assistant", "content": "", "refusal": null }),
        None,
    );
    if let Some(thinking) = &turn.thinking {
        for chunk in ScriptedTurn::chunks(thinking) {
            c.chunk(json!({ "content": null, "reasoning_content": chunk }), None);
        }
    }
    if let Some(text) = &turn.text {
        // A refusal streams in `delta.refusal` instead of `delta.content`.
        let key = if stop_reason == Some("refusal") {
            "refusal"
        } else {
            "content"
        };
        for chunk in ScriptedTurn::chunks(text) {
            c.chunk(json!({ key: chunk }), None);
        }
    }
    for (index, call) in turn.tool_calls.iter().enumerate() {
        let id = match &call.id {
            Some(id) => id.clone(),
            None => format!("call_mock_{}", next_tool_id()),
        };
        c.chunk(
            json!({ "tool_calls": [{ "index": index, "id": id, "type": "function",
                                     "function": { "name": call.name, "arguments": "" } }] }),
            None,
        );
        let args = call.args.to_string();
        for part in fragments(&args) {
            c.chunk(
                json!({ "tool_calls": [{ "index": index, "function": { "arguments": part } }] }),
                None,
            );
        }
    }
    let finish = match stop_reason {
        None if turn.tool_calls.is_empty() => "stop",
        None => "tool_calls",
        Some("end_turn") => "stop",
        Some("tool_use") => "tool_calls",
        Some("max_tokens") => "length",
        Some("refusal") => "stop",
        Some(other) => other,
    };
    if finish == "content_filter" {
        // As Azure OpenAI sends it: which filter fired, on the finishing choice.
        c.frames.push(format!(
            "data: {}\n\n",
            json!({
                "id": c.id, "object": "chat.completion.chunk", "created": c.created,
                "model": c.model, "system_fingerprint": "fp_mock",
                "choices": [{ "index": 0, "delta": {}, "logprobs": null, "finish_reason": finish,
                    "content_filter_results": { "violence": { "filtered": true, "severity": "high" } } }],
            })
        ));
    } else {
        c.chunk(json!({}), Some(finish));
    }
    if include_usage {
        let total = input_total(&usage);
        c.frames.push(format!(
            "data: {}\n\n",
            json!({
                "id": c.id, "object": "chat.completion.chunk", "created": c.created,
                "model": c.model, "system_fingerprint": "fp_mock", "choices": [],
                "usage": {
                    "prompt_tokens": total,
                    "completion_tokens": usage.output_tokens,
                    "total_tokens": total + usage.output_tokens,
                    "prompt_tokens_details": { "cached_tokens": usage.cache_read_tokens },
                    "completion_tokens_details": { "reasoning_tokens": usage.reasoning_tokens },
                },
            })
        ));
    }
    c.frames.push("data: [DONE]\n\n".to_owned());
    c.frames
}

/// The mid-stream error of a Chat stream: a data event with an `error` object (as
/// OpenAI's SDKs and OpenRouter describe it), after which the body ends.
pub(crate) fn chat_error_frame(error_type: &str, message: &str) -> String {
    let code = openai_code(error_type);
    format!(
        "data: {}\n\n",
        json!({ "error": { "message": message, "type": code, "param": null, "code": code } })
    )
}

/// The OpenAI name of a scripted error type: Anthropic's names (which scripts use) map
/// to OpenAI's codes, OpenAI's own pass through.
pub(crate) fn openai_code(error_type: &str) -> &str {
    match error_type {
        "overloaded_error" => "server_is_overloaded",
        "rate_limit_error" => "rate_limit_exceeded",
        "api_error" => "server_error",
        "authentication_error" => "invalid_api_key",
        "permission_error" => "insufficient_permissions",
        other => other,
    }
}

/// An OpenAI HTTP error body: `{"error":{"message","type","param","code"}}`.
pub(crate) fn error_body(error_type: &str, code: Option<&str>, message: &str) -> String {
    json!({ "error": { "message": message, "type": error_type, "param": null, "code": code } })
        .to_string()
}

/// The default OpenAI error for an HTTP status: `(type, code, message)`.
pub(crate) fn default_error(
    status: u16,
) -> Option<(&'static str, Option<&'static str>, &'static str)> {
    Some(match status {
        401 => (
            "invalid_request_error",
            Some("invalid_api_key"),
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        ),
        403 => (
            "invalid_request_error",
            Some("unsupported_country_region_territory"),
            "Country, region, or territory not supported",
        ),
        404 => (
            "invalid_request_error",
            Some("model_not_found"),
            "The model does not exist or you do not have access to it.",
        ),
        429 => (
            "requests",
            Some("rate_limit_exceeded"),
            "harnext-mock: Rate limit reached for requests. Please try again in 1s.",
        ),
        503 | 529 => (
            "service_unavailable_error",
            Some("server_is_overloaded"),
            "The server is overloaded. Please try again later.",
        ),
        500..=599 => (
            "server_error",
            None,
            "The server had an error while processing your request. Sorry about that!",
        ),
        400..=499 => ("invalid_request_error", None, "harnext-mock: invalid request"),
        _ => return None,
    })
}
