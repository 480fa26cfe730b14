//! The Anthropic Messages API as the mock speaks it: a [`ScriptedTurn`] rendered as the
//! frames of a real Messages stream, and Anthropic's error bodies and stock messages.
//!
//! The JSON is written by hand so that keys come in the order the real API sends
//! them (`type` first), and many objects are padded with spaces before their final
//! `}` exactly like the recordings (`{"type":"message_stop"     }`).

use harnext_protocol::ScriptedTurn;

use crate::text::fragments;
use crate::text::frame;
use crate::text::js;
use crate::text::random_id;
use crate::text::spaced_json;

/// Inserts a random run of spaces before the final `}` of most objects.
fn pad(json: String) -> String {
    if fastrand::u8(0..100) >= 85 || !json.ends_with('}') {
        return json;
    }
    let mut out = json;
    out.pop();
    out.push_str(&" ".repeat(fastrand::usize(1..=15)));
    out.push('}');
    out
}

fn padded(event: &str, data: String) -> String {
    frame(event, &pad(data))
}

fn ping() -> String {
    // The real API sends exactly this, unpadded and with a space.
    frame("ping", r#"{"type": "ping"}"#)
}

/// The `event: error` frame sent by `errorAfter`.
pub(crate) fn error_frame(error_type: &str, message: &str) -> String {
    padded(
        "error",
        format!(
            r#"{{"type":"error","error":{{"type":{},"message":{}}}}}"#,
            js(error_type),
            js(message)
        ),
    )
}

/// Renders `turn` as SSE frames, from `message_start` to `message_stop`.
///
/// `next_tool_id` numbers the generated `toolu_mock_<n>` ids of calls without an id.
pub(crate) fn turn_frames(
    turn: &ScriptedTurn,
    stop_reason: Option<&str>,
    model: &str,
    next_tool_id: &mut dyn FnMut() -> u64,
) -> Vec<String> {
    let usage = turn.usage.unwrap_or_default();
    let mut frames = Vec::new();
    frames.push(padded(
        "message_start",
        format!(
            concat!(
                r#"{{"type":"message_start","message":{{"model":{},"id":{},"type":"message","#,
                r#""role":"assistant","content":[],"stop_reason":null,"stop_sequence":null,"#,
                r#""usage":{{"input_tokens":{},"cache_creation_input_tokens":{},"#,
                r#""cache_read_input_tokens":{},"cache_creation":{{"ephemeral_5m_input_tokens":{},"#,
                r#""ephemeral_1h_input_tokens":0}},"output_tokens":1,"service_tier":"standard"}}}}}}"#
            ),
            js(model),
            js(&random_id("msg_mock_", 24)),
            usage.input_tokens,
            usage.cache_write_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
        ),
    ));
    frames.push(ping());

    let mut index = 0usize;
    let block_start = |index: usize, block: String| {
        padded(
            "content_block_start",
            format!(r#"{{"type":"content_block_start","index":{index},"content_block":{block}}}"#),
        )
    };
    let delta = |index: usize, delta: String| {
        padded(
            "content_block_delta",
            format!(r#"{{"type":"content_block_delta","index":{index},"delta":{delta}}}"#),
        )
    };
    let block_stop = |index: usize| {
        padded(
            "content_block_stop",
            format!(r#"{{"type":"content_block_stop","index":{index}}}"#),
        )
    };

    if let Some(thinking) = &turn.thinking {
        frames.push(block_start(
            index,
            r#"{"type":"thinking","thinking":"","signature":""}"#.to_owned(),
        ));
        for chunk in ScriptedTurn::chunks(thinking) {
            frames.push(delta(
                index,
                format!(r#"{{"type":"thinking_delta","thinking":{}}}"#, js(chunk)),
            ));
        }
        frames.push(delta(
            index,
            format!(
                r#"{{"type":"signature_delta","signature":{}}}"#,
                js(&random_id("sig_mock_", 48))
            ),
        ));
        frames.push(block_stop(index));
        index += 1;
    }

    if let Some(text) = &turn.text {
        frames.push(block_start(
            index,
            r#"{"type":"text","text":""}"#.to_owned(),
        ));
        for chunk in ScriptedTurn::chunks(text) {
            frames.push(delta(
                index,
                format!(r#"{{"type":"text_delta","text":{}}}"#, js(chunk)),
            ));
        }
        frames.push(block_stop(index));
        index += 1;
    }

    for call in &turn.tool_calls {
        let id = match &call.id {
            Some(id) => id.clone(),
            None => format!("toolu_mock_{}", next_tool_id()),
        };
        frames.push(block_start(
            index,
            format!(
                r#"{{"type":"tool_use","id":{},"name":{},"input":{{}},"caller":{{"type":"direct"}}}}"#,
                js(&id),
                js(&call.name)
            ),
        ));
        let json_delta = |part: &str| {
            delta(
                index,
                format!(
                    r#"{{"type":"input_json_delta","partial_json":{}}}"#,
                    js(part)
                ),
            )
        };
        frames.push(json_delta(""));
        let args = spaced_json(&call.args);
        let parts = fragments(&args);
        // One ping somewhere inside every longer tool input, like the real API.
        let forced_ping = if parts.len() >= 3 {
            Some(fastrand::usize(1..parts.len()))
        } else {
            None
        };
        for (i, part) in parts.iter().enumerate() {
            if i > 0 && (Some(i) == forced_ping || fastrand::u8(0..10) == 0) {
                frames.push(ping());
            }
            frames.push(json_delta(part));
        }
        frames.push(block_stop(index));
        index += 1;
    }

    let stop_reason = match stop_reason {
        Some(reason) => reason,
        None if turn.tool_calls.is_empty() => "end_turn",
        None => "tool_use",
    };
    // A refusal comes with its `stop_details`, as the API sends them.
    let details = if stop_reason == "refusal" {
        r#","stop_details":{"type":"refusal","category":"cyber","explanation":"This request was refused due to policy."}"#
    } else {
        ""
    };
    frames.push(padded(
        "message_delta",
        format!(
            concat!(
                r#"{{"type":"message_delta","delta":{{"stop_reason":{},"stop_sequence":null{}}},"#,
                r#""usage":{{"input_tokens":{},"cache_creation_input_tokens":{},"#,
                r#""cache_read_input_tokens":{},"output_tokens":{}}}}}"#
            ),
            js(stop_reason),
            details,
            usage.input_tokens,
            usage.cache_write_tokens,
            usage.cache_read_tokens,
            usage.output_tokens,
        ),
    ));
    frames.push(padded(
        "message_stop",
        r#"{"type":"message_stop"}"#.to_owned(),
    ));
    frames
}

/// Renders `turn` as the complete body of an Anthropic Messages stream, as
/// [`MockServer`](crate::MockServer) would send it (random ids and padding; tool
/// calls without an id get `toolu_mock_1`, `toolu_mock_2`, …).
pub fn render_turn_sse(turn: &ScriptedTurn, stop_reason: Option<&str>, model: &str) -> String {
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    turn_frames(turn, stop_reason, model, &mut next).concat()
}

/// `{"type":"error","error":{"type":…,"message":…},"request_id":…}`, keys in the
/// order the real API sends them.
pub(crate) fn error_body(error_type: &str, message: &str, request_id: &str) -> String {
    format!(
        r#"{{"type":"error","error":{{"type":{},"message":{}}},"request_id":{}}}"#,
        js(error_type),
        js(message),
        js(request_id)
    )
}

pub(crate) fn default_message(error_type: &str) -> &'static str {
    match error_type {
        "overloaded_error" => "Overloaded",
        "rate_limit_error" => "harnext-mock: this request would exceed your rate limit",
        "api_error" => "Internal server error",
        "authentication_error" => "invalid x-api-key",
        "permission_error" => {
            "Your API key does not have permission to use the specified resource."
        }
        "not_found_error" => "Not found",
        "request_too_large" => "Request exceeds the maximum allowed number of bytes.",
        _ => "harnext-mock: scripted error",
    }
}

pub(crate) fn default_error_type(status: u16) -> Option<&'static str> {
    Some(match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        400..=499 => "invalid_request_error",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::json;
    use serde_json::Value;

    #[test]
    fn padding_keeps_json_valid() {
        for _ in 0..200 {
            let s = pad(r#"{"type":"message_stop"}"#.to_owned());
            assert!(s.starts_with(r#"{"type":"message_stop""#));
            assert_eq!(
                serde_json::from_str::<Value>(&s).unwrap(),
                json!({"type": "message_stop"})
            );
        }
    }
}
