//! The scripted responses the mock serves, and their JSON shapes.

use std::collections::BTreeMap;
use std::fmt;

use harnext_protocol::ScriptedTurn;
use serde::Deserialize;
use serde::Deserializer;
use serde::Serialize;
use serde_json::Value;

/// One scripted answer to a request on a model route (`…/messages`, `…/responses`,
/// `…/chat/completions`), rendered in that route's wire format.
///
/// The JSON shape (camelCase) is told apart by its key: `turn`, `status` or `sse`.
/// Exactly one of them must be present; unknown keys are rejected with an error
/// that names them.
// A handful of these exist per test; boxing the turn would only make them harder to build.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MockResponse {
    /// Render a [`ScriptedTurn`] as a stream in the route's format.
    Turn(TurnResponse),
    /// A plain HTTP response (usually an error) sent before any SSE.
    Http(HttpResponse),
    /// A raw SSE body sent as-is (for example a recorded fixture), split into chunks.
    Sse(SseResponse),
}

/// `{"turn": ScriptedTurn, "stopReason"?, "chunkDelayMs"?, "stallAfter"?, "disconnectAfter"?,
/// "errorAfter"?, "error"?, "times"?}`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TurnResponse {
    pub turn: ScriptedTurn,
    /// `stop_reason` of the final `message_delta`; defaults to `tool_use` when the turn
    /// has tool calls, else `end_turn`. Any string is sent as given; `refusal` comes
    /// with `stop_details`. On the OpenAI routes it maps to Chat's `finish_reason`
    /// (`end_turn` → `stop`, `tool_use` → `tool_calls`, `max_tokens` → `length`,
    /// `refusal` → `stop` with the text in `delta.refusal`, others as given:
    /// `content_filter` comes with the choice's `content_filter_results`) and to
    /// Responses' ending (`max_tokens` → `response.incomplete` with
    /// `max_output_tokens`, `content_filter` → `response.incomplete` with
    /// `content_filter`, `refusal` → the text as a `refusal` content part, others →
    /// `response.completed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// Milliseconds to sleep before each SSE frame (falls back to the turn's `delayMs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_delay_ms: Option<u64>,
    /// Send this many frames, then nothing more, keeping the connection open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_after: Option<usize>,
    /// Send this many frames, then abort the connection (no terminal chunk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect_after: Option<usize>,
    /// Send this many frames, then the format's mid-stream error, then end the body:
    /// Anthropic's `event: error`; Responses' nested `error` event followed by
    /// `response.failed`; Chat's `data: {"error":{...}}`.
    /// When only `error` is given, the error follows the first frame (as if 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_after: Option<usize>,
    /// The error sent by `errorAfter` (default `overloaded_error` / `Overloaded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<MockError>,
    /// How many requests this response serves before it is used up (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<usize>,
    /// Report no usage at all, as some servers do: no `usage` in Anthropic's events,
    /// no `include_usage` chunk on Chat, `usage: null` on Responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_usage: Option<bool>,
}

/// `{"type": "overloaded_error", "message"?: "Overloaded"}`. On the OpenAI routes,
/// Anthropic's types become OpenAI's codes (`overloaded_error` → `server_is_overloaded`,
/// `rate_limit_error` → `rate_limit_exceeded`, `api_error` → `server_error`,
/// `authentication_error` → `invalid_api_key`); other types (`insufficient_quota`, …)
/// are sent as given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockError {
    #[serde(rename = "type")]
    pub error_type: String,
    /// Defaults to a stock message for the type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `{"status": 429, "headers"?: {"retry-after": "1"}, "body"?: <JSON value or string>, "times"?}`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpResponse {
    pub status: u16,
    /// Extra response headers. `content-type` here overrides the default.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A JSON value is sent serialized (`application/json`); a string is sent as-is.
    /// When absent, an error body matching the status is sent, shaped for the route
    /// (Anthropic's `{"type":"error","error":{…}}`, OpenAI's `{"error":{…}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<usize>,
}

/// `{"sse": "event: …\ndata: …\n\n", "chunkSize"?, "chunkDelayMs"?, "times"?}`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SseResponse {
    /// The body, sent byte for byte.
    pub sse: String,
    /// Bytes per chunk; random 1..=64 per chunk when absent. Chunks may split UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<usize>,
    /// Milliseconds to sleep before each chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<usize>,
}

/// Why a JSON value is not a valid [`MockResponse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidMockResponse {
    pub message: String,
}

impl fmt::Display for InvalidMockResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InvalidMockResponse {}

fn invalid(message: impl Into<String>) -> InvalidMockResponse {
    InvalidMockResponse {
        message: message.into(),
    }
}

const SHAPES: &str =
    "a mock response must be a JSON object with exactly one of the keys `turn`, `status` or `sse`";

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl MockResponse {
    /// Parses one response, with an error message that names the problem.
    pub fn from_json(value: Value) -> Result<MockResponse, InvalidMockResponse> {
        let Value::Object(map) = &value else {
            return Err(invalid(format!("{SHAPES}, got {}", kind_of(&value))));
        };
        let keys: Vec<&str> = ["turn", "status", "sse"]
            .into_iter()
            .filter(|k| map.contains_key(*k))
            .collect();
        let response = match keys.as_slice() {
            ["turn"] => serde_json::from_value::<TurnResponse>(value)
                .map(MockResponse::Turn)
                .map_err(|e| invalid(format!("invalid `turn` response: {e}")))?,
            ["status"] => serde_json::from_value::<HttpResponse>(value)
                .map(MockResponse::Http)
                .map_err(|e| invalid(format!("invalid `status` response: {e}")))?,
            ["sse"] => serde_json::from_value::<SseResponse>(value)
                .map(MockResponse::Sse)
                .map_err(|e| invalid(format!("invalid `sse` response: {e}")))?,
            [] => {
                let found: Vec<String> = map.keys().map(|k| format!("`{k}`")).collect();
                return Err(invalid(format!(
                    "{SHAPES}, got an object with keys [{}]",
                    found.join(", ")
                )));
            }
            several => {
                let found: Vec<String> = several.iter().map(|k| format!("`{k}`")).collect();
                return Err(invalid(format!(
                    "ambiguous mock response: it has {}; {SHAPES}",
                    found.join(" and ")
                )));
            }
        };
        response.validate()?;
        Ok(response)
    }

    /// Parses an array of responses, or a single one.
    pub fn list_from_json(value: Value) -> Result<Vec<MockResponse>, InvalidMockResponse> {
        match value {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    MockResponse::from_json(item)
                        .map_err(|e| invalid(format!("response #{}: {}", i + 1, e.message)))
                })
                .collect(),
            single => MockResponse::from_json(single).map(|r| vec![r]),
        }
    }

    fn validate(&self) -> Result<(), InvalidMockResponse> {
        if self.times_field() == Some(0) {
            return Err(invalid("`times` must be at least 1"));
        }
        match self {
            MockResponse::Turn(_) => Ok(()),
            MockResponse::Http(http) => {
                if hyper::StatusCode::from_u16(http.status).is_err() {
                    return Err(invalid(format!(
                        "invalid `status` response: {} is not an HTTP status code",
                        http.status
                    )));
                }
                for (name, value) in &http.headers {
                    if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                        return Err(invalid(format!(
                            "invalid `status` response: `{name}` is not a valid header name"
                        )));
                    }
                    if hyper::header::HeaderValue::from_str(value).is_err() {
                        return Err(invalid(format!(
                            "invalid `status` response: the value of header `{name}` is not valid"
                        )));
                    }
                }
                Ok(())
            }
            MockResponse::Sse(sse) => {
                if sse.chunk_size == Some(0) {
                    return Err(invalid(
                        "invalid `sse` response: `chunkSize` must be at least 1",
                    ));
                }
                Ok(())
            }
        }
    }

    /// A turn rendered with the default options.
    pub fn turn(turn: ScriptedTurn) -> MockResponse {
        MockResponse::Turn(TurnResponse {
            turn,
            ..TurnResponse::default()
        })
    }

    /// A turn that only streams `text`.
    pub fn text(text: impl Into<String>) -> MockResponse {
        MockResponse::turn(ScriptedTurn {
            text: Some(text.into()),
            ..ScriptedTurn::default()
        })
    }

    /// A plain HTTP response with the route's default error body for `status`.
    pub fn http(status: u16) -> MockResponse {
        MockResponse::Http(HttpResponse {
            status,
            ..HttpResponse::default()
        })
    }

    /// A raw SSE body in random chunks.
    pub fn sse(body: impl Into<String>) -> MockResponse {
        MockResponse::Sse(SseResponse {
            sse: body.into(),
            ..SseResponse::default()
        })
    }

    /// Sets how many requests this response serves (at least 1).
    pub fn times(mut self, n: usize) -> MockResponse {
        let n = Some(n.max(1));
        match &mut self {
            MockResponse::Turn(r) => r.times = n,
            MockResponse::Http(r) => r.times = n,
            MockResponse::Sse(r) => r.times = n,
        }
        self
    }

    fn times_field(&self) -> Option<usize> {
        match self {
            MockResponse::Turn(r) => r.times,
            MockResponse::Http(r) => r.times,
            MockResponse::Sse(r) => r.times,
        }
    }

    /// How many requests this response serves (at least 1).
    pub(crate) fn uses(&self) -> usize {
        self.times_field().unwrap_or(1).max(1)
    }
}

impl From<TurnResponse> for MockResponse {
    fn from(r: TurnResponse) -> MockResponse {
        MockResponse::Turn(r)
    }
}

impl From<HttpResponse> for MockResponse {
    fn from(r: HttpResponse) -> MockResponse {
        MockResponse::Http(r)
    }
}

impl From<SseResponse> for MockResponse {
    fn from(r: SseResponse) -> MockResponse {
        MockResponse::Sse(r)
    }
}

impl From<ScriptedTurn> for MockResponse {
    fn from(turn: ScriptedTurn) -> MockResponse {
        MockResponse::turn(turn)
    }
}

impl<'de> Deserialize<'de> for MockResponse {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        MockResponse::from_json(value).map_err(serde::de::Error::custom)
    }
}

impl HttpResponse {
    /// Adds a response header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Sets the body (a JSON value, or a string sent as-is).
    pub fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_three_shapes() {
        let turn: MockResponse = serde_json::from_value(json!({
            "turn": {"text": "hi", "toolCalls": [{"name": "bash", "args": {"command": "ls"}}]},
            "stopReason": "max_tokens", "chunkDelayMs": 5, "stallAfter": 3,
            "disconnectAfter": 4, "errorAfter": 2,
            "error": {"type": "overloaded_error", "message": "Overloaded"}, "times": 2
        }))
        .unwrap();
        let MockResponse::Turn(t) = &turn else {
            panic!("not a turn: {turn:?}")
        };
        assert_eq!(t.turn.text.as_deref(), Some("hi"));
        assert_eq!(t.turn.tool_calls[0].name, "bash");
        assert_eq!(t.stop_reason.as_deref(), Some("max_tokens"));
        assert_eq!(
            (
                t.chunk_delay_ms,
                t.stall_after,
                t.disconnect_after,
                t.error_after
            ),
            (Some(5), Some(3), Some(4), Some(2))
        );
        assert_eq!(t.error.as_ref().unwrap().error_type, "overloaded_error");
        assert_eq!(turn.uses(), 2);

        let http: MockResponse = serde_json::from_value(json!({
            "status": 429, "headers": {"retry-after": "1", "x-should-retry": "true"},
            "body": {"type": "error"}, "times": 3
        }))
        .unwrap();
        let MockResponse::Http(h) = &http else {
            panic!("not http: {http:?}")
        };
        assert_eq!(h.status, 429);
        assert_eq!(h.headers["retry-after"], "1");
        assert_eq!(h.body, Some(json!({"type": "error"})));
        assert_eq!(http.uses(), 3);

        let sse: MockResponse = serde_json::from_value(json!({
            "sse": "event: ping\ndata: {}\n\n", "chunkSize": 7, "chunkDelayMs": 1
        }))
        .unwrap();
        let MockResponse::Sse(s) = &sse else {
            panic!("not sse: {sse:?}")
        };
        assert_eq!(s.chunk_size, Some(7));
        assert_eq!(sse.uses(), 1);

        // Round trip through Serialize.
        for r in [turn, http, sse] {
            let back: MockResponse =
                serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
            assert_eq!(back, r);
        }
    }

    #[test]
    fn a_list_or_a_single_response_parses() {
        let list = MockResponse::list_from_json(json!([{"status": 500}, {"sse": ""}])).unwrap();
        assert_eq!(list.len(), 2);
        let one = MockResponse::list_from_json(json!({"turn": {}})).unwrap();
        assert_eq!(one.len(), 1);
        let err = MockResponse::list_from_json(json!([{"status": 500}, {"bogus": 1}]))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("response #2: "), "{err}");
        assert!(err.contains("`bogus`"), "{err}");
    }

    #[test]
    fn garbage_gets_a_clear_error() {
        let cases = [
            (json!("hello"), "got a string"),
            (json!(42), "got a number"),
            (json!({"foo": 1}), "got an object with keys [`foo`]"),
            (json!({"turn": {}, "sse": ""}), "ambiguous mock response"),
            (json!({"turn": {"txt": "hi"}}), "unknown field `txt`"),
            (
                json!({"turn": {}, "stalAfter": 1}),
                "unknown field `stalAfter`",
            ),
            (json!({"status": "429"}), "invalid `status` response"),
            (json!({"status": 42}), "42 is not an HTTP status code"),
            (
                json!({"status": 429, "headers": {"bad name": "x"}}),
                "`bad name`",
            ),
            (
                json!({"sse": "", "chunkSize": 0}),
                "`chunkSize` must be at least 1",
            ),
            (json!({"sse": "", "times": 0}), "`times` must be at least 1"),
        ];
        for (value, needle) in cases {
            let err = serde_json::from_value::<MockResponse>(value.clone())
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{value}: {err}");
        }
    }
}
