#![allow(clippy::unwrap_used, clippy::expect_used)]

//! End-to-end tests of the mock server, with a raw HTTP/1.1 client over TcpStream so
//! that the exact bytes, chunked framing, stalls and aborts are visible.

use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use harnext_mock::HttpResponse;
use harnext_mock::MockError;
use harnext_mock::MockResponse;
use harnext_mock::MockServer;
use harnext_mock::SseResponse;
use harnext_mock::TurnResponse;
use harnext_protocol::ScriptedToolCall;
use harnext_protocol::ScriptedTurn;
use harnext_protocol::ScriptedUsage;
use serde_json::json;
use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const READ_LIMIT: Duration = Duration::from_secs(10);

struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The body ended properly: the terminal chunk arrived (chunked) or all
    /// `content-length` bytes did.
    complete: bool,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Splits a raw response into head and decoded body. `None` while the head is incomplete.
fn parse_response(raw: &[u8]) -> Option<RawResponse> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..head_end]).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let rest = &raw[head_end + 4..];
    let mut response = RawResponse {
        status,
        headers,
        body: Vec::new(),
        complete: false,
    };
    if response.header("transfer-encoding") == Some("chunked") {
        let mut at = 0;
        while let Some(line_end) = rest[at..].windows(2).position(|w| w == b"\r\n") {
            let size_text = std::str::from_utf8(&rest[at..at + line_end]).unwrap();
            let size = usize::from_str_radix(size_text.trim(), 16).unwrap();
            let data_start = at + line_end + 2;
            if size == 0 {
                response.complete = rest[data_start..].starts_with(b"\r\n");
                break;
            }
            if rest.len() < data_start + size + 2 {
                break;
            }
            response
                .body
                .extend_from_slice(&rest[data_start..data_start + size]);
            at = data_start + size + 2;
        }
    } else {
        let length: usize = response
            .header("content-length")
            .map_or(0, |v| v.parse().unwrap());
        response.body = rest[..rest.len().min(length)].to_vec();
        response.complete = rest.len() >= length;
    }
    Some(response)
}

async fn send(
    server: &MockServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
        server.addr(),
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// Reads until the server closes the connection (cleanly or not).
async fn read_to_close(mut stream: TcpStream) -> RawResponse {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(READ_LIMIT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server did not close the connection");
    parse_response(&raw).expect("no complete response head")
}

async fn request(
    server: &MockServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> RawResponse {
    read_to_close(send(server, method, path, headers, body).await).await
}

async fn post_messages(server: &MockServer, body: &Value) -> RawResponse {
    request(
        server,
        "POST",
        "/v1/messages",
        &[("content-type", "application/json")],
        &body.to_string(),
    )
    .await
}

fn messages_body() -> Value {
    json!({"model": "claude-test-1", "max_tokens": 1024, "stream": true,
           "messages": [{"role": "user", "content": "hi"}]})
}

/// Parses SSE text into `(event, raw data line, parsed data)`.
fn parse_sse(text: &str) -> Vec<(String, String, Value)> {
    assert!(text.is_empty() || text.ends_with("\n\n"), "{text:?}");
    text.split_terminator("\n\n")
        .map(|frame| {
            let mut event = None;
            let mut data = None;
            for line in frame.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = Some(e.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    assert!(data.is_none(), "one data line per frame: {frame:?}");
                    data = Some(d.to_owned());
                } else {
                    panic!("unexpected line {line:?}");
                }
            }
            let data = data.expect("data line");
            let parsed: Value = serde_json::from_str(&data).unwrap();
            (event.expect("event line"), data, parsed)
        })
        .collect()
}

fn text_of(sse: &[(String, String, Value)]) -> String {
    sse.iter()
        .filter(|(_, _, d)| d["delta"]["type"] == "text_delta")
        .map(|(_, _, d)| d["delta"]["text"].as_str().unwrap())
        .collect()
}

fn events(sse: &[(String, String, Value)]) -> Vec<&str> {
    sse.iter().map(|(e, _, _)| e.as_str()).collect()
}

#[tokio::test]
async fn a_turn_with_thinking_text_and_tool_calls_renders_the_anthropic_stream_in_order() {
    let server = MockServer::start().await.unwrap();
    let read_args = json!({"path": "src/some/rather/long/path/to/main.rs", "limit": 20,
                           "note": "é ü 日本語"});
    let bash_args = json!({"command": "ls -la"});
    let usage = ScriptedUsage {
        input_tokens: 100,
        output_tokens: 42,
        cache_read_tokens: 7,
        cache_write_tokens: 3,
        reasoning_tokens: 5,
    };
    let thinking = "Let me think  about it.\nCarefully.";
    let text = "Hello there, world! Ünïcode too.";
    server.push(MockResponse::turn(ScriptedTurn {
        thinking: Some(thinking.into()),
        text: Some(text.into()),
        tool_calls: vec![
            ScriptedToolCall {
                id: None,
                name: "read_file".into(),
                args: read_args.clone(),
            },
            ScriptedToolCall {
                id: Some("toolu_custom".into()),
                name: "bash".into(),
                args: bash_args.clone(),
            },
        ],
        usage: Some(usage),
        delay_ms: None,
    }));

    let response = post_messages(&server, &messages_body()).await;
    assert_eq!(response.status, 200);
    assert!(response.complete);
    assert_eq!(
        response.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let sse = parse_sse(&response.text());

    // Every frame names its event and repeats it in data.type; many are padded.
    for (event, _, data) in &sse {
        assert_eq!(data["type"], event.as_str());
    }
    let padded = sse.iter().filter(|(_, raw, _)| raw.ends_with(" }")).count();
    assert!(padded >= sse.len() / 3, "{padded} of {} padded", sse.len());
    assert!(sse
        .iter()
        .any(|(e, raw, _)| e == "ping" && raw == r#"{"type": "ping"}"#));

    // message_start, then a ping.
    assert_eq!(events(&sse)[..2], ["message_start", "ping"]);
    let message = &sse[0].2["message"];
    assert_eq!(message["model"], "claude-test-1");
    assert!(message["id"].as_str().unwrap().starts_with("msg_mock_"));
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["content"], json!([]));
    assert_eq!(message["stop_reason"], Value::Null);
    assert_eq!(message["usage"]["input_tokens"], 100);
    assert_eq!(message["usage"]["cache_creation_input_tokens"], 3);
    assert_eq!(message["usage"]["cache_read_input_tokens"], 7);
    assert_eq!(message["usage"]["output_tokens"], 1);

    // The tail: message_delta with the cumulative usage, then message_stop.
    let n = sse.len();
    assert_eq!(events(&sse)[n - 2..], ["message_delta", "message_stop"]);
    let delta = &sse[n - 2].2;
    assert_eq!(
        delta["delta"],
        json!({"stop_reason": "tool_use", "stop_sequence": null})
    );
    assert_eq!(
        delta["usage"],
        json!({"input_tokens": 100, "cache_creation_input_tokens": 3,
               "cache_read_input_tokens": 7, "output_tokens": 42})
    );

    // The blocks in between, each started, streamed and stopped before the next.
    let body: Vec<&Value> = sse[2..n - 2]
        .iter()
        .filter(|(e, _, _)| e != "ping")
        .map(|(_, _, d)| d)
        .collect();
    let mut blocks: Vec<(Value, Vec<Value>)> = Vec::new();
    let mut open: Option<u64> = None;
    for data in body {
        match data["type"].as_str().unwrap() {
            "content_block_start" => {
                assert_eq!(open, None);
                let index = data["index"].as_u64().unwrap();
                assert_eq!(index, blocks.len() as u64);
                open = Some(index);
                blocks.push((data["content_block"].clone(), Vec::new()));
            }
            "content_block_delta" => {
                assert_eq!(data["index"].as_u64(), open);
                blocks.last_mut().unwrap().1.push(data["delta"].clone());
            }
            "content_block_stop" => {
                assert_eq!(data["index"].as_u64(), open);
                open = None;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(open, None);
    assert_eq!(blocks.len(), 4);

    let (start, deltas) = &blocks[0];
    assert_eq!(
        *start,
        json!({"type": "thinking", "thinking": "", "signature": ""})
    );
    let (signature, thoughts) = deltas.split_last().unwrap();
    assert_eq!(signature["type"], "signature_delta");
    assert!(signature["signature"]
        .as_str()
        .unwrap()
        .starts_with("sig_mock_"));
    assert!(thoughts.iter().all(|d| d["type"] == "thinking_delta"));
    let thought: String = thoughts
        .iter()
        .map(|d| d["thinking"].as_str().unwrap())
        .collect();
    assert_eq!(thought, thinking);
    assert_eq!(thoughts.len(), ScriptedTurn::chunks(thinking).len());

    let (start, deltas) = &blocks[1];
    assert_eq!(*start, json!({"type": "text", "text": ""}));
    assert!(deltas.iter().all(|d| d["type"] == "text_delta"));
    let streamed: Vec<&str> = deltas.iter().map(|d| d["text"].as_str().unwrap()).collect();
    assert_eq!(streamed, ScriptedTurn::chunks(text));
    assert_eq!(text_of(&sse), text);

    for ((start, deltas), (id, name, args)) in blocks[2..].iter().zip([
        ("toolu_mock_1", "read_file", &read_args),
        ("toolu_custom", "bash", &bash_args),
    ]) {
        assert_eq!(start["type"], "tool_use");
        assert_eq!(start["id"], id);
        assert_eq!(start["name"], name);
        assert_eq!(start["input"], json!({}));
        assert!(deltas.iter().all(|d| d["type"] == "input_json_delta"));
        assert_eq!(deltas[0]["partial_json"], "");
        assert!(deltas.len() > 2, "args come in fragments");
        let json_text: String = deltas
            .iter()
            .map(|d| d["partial_json"].as_str().unwrap())
            .collect();
        assert_eq!(serde_json::from_str::<Value>(&json_text).unwrap(), *args);
    }

    // A ping arrives in the middle of the long tool input (index 2).
    let inside = sse
        .iter()
        .skip_while(|(_, _, d)| !(d["type"] == "content_block_start" && d["index"] == 2))
        .take_while(|(_, _, d)| !(d["type"] == "content_block_stop" && d["index"] == 2))
        .any(|(e, _, _)| e == "ping");
    assert!(inside, "no ping inside the tool input");
}

#[tokio::test]
async fn a_text_only_turn_ends_with_end_turn_and_a_stop_reason_can_be_forced() {
    let server = MockServer::start().await.unwrap();
    server.push(MockResponse::text("Just text."));
    server.push(TurnResponse {
        turn: ScriptedTurn {
            text: Some("cut".into()),
            ..ScriptedTurn::default()
        },
        stop_reason: Some("max_tokens".into()),
        ..TurnResponse::default()
    });
    let sse = parse_sse(&post_messages(&server, &json!({})).await.text());
    assert_eq!(sse[0].2["message"]["model"], "claude-mock");
    let delta = &sse[sse.len() - 2].2;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 0);
    assert_eq!(text_of(&sse), "Just text.");
    let sse = parse_sse(&post_messages(&server, &messages_body()).await.text());
    assert_eq!(sse[sse.len() - 2].2["delta"]["stop_reason"], "max_tokens");
}

#[tokio::test]
async fn responses_are_served_in_fifo_order_and_times_repeats_one() {
    let server = MockServer::start().await.unwrap();
    server.push(MockResponse::text("first").times(2));
    server.push(MockResponse::text("second"));
    server.push(MockResponse::http(529));
    assert_eq!(server.pending(), 3);

    let mut seen = Vec::new();
    for _ in 0..4 {
        let r = post_messages(&server, &messages_body()).await;
        seen.push(if r.status == 200 {
            text_of(&parse_sse(&r.text()))
        } else {
            r.status.to_string()
        });
    }
    assert_eq!(seen, ["first", "first", "second", "529"]);
    assert_eq!(server.pending(), 0);
    let r = post_messages(&server, &messages_body()).await;
    assert_eq!(r.status, 500);
}

#[tokio::test]
async fn an_empty_fifo_gives_500_with_x_should_retry_false() {
    let server = MockServer::start().await.unwrap();
    server.push(MockResponse::text("only one"));
    assert_eq!(post_messages(&server, &messages_body()).await.status, 200);
    let r = post_messages(&server, &messages_body()).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.header("x-should-retry"), Some("false"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "api_error");
    assert_eq!(
        body["error"]["message"],
        "harnext-mock: no scripted response left for request #2"
    );
}

#[tokio::test]
async fn an_http_response_carries_its_status_headers_and_body() {
    let server = MockServer::start().await.unwrap();
    server.push(
        HttpResponse {
            status: 429,
            ..HttpResponse::default()
        }
        .with_header("retry-after", "1")
        .with_header("x-should-retry", "true"),
    );
    server.push(MockResponse::http(529));
    server.push(HttpResponse {
        status: 400,
        body: Some(
            json!({"type": "error", "error": {"type": "invalid_request_error",
                                                        "message": "bad tool_result"}}),
        ),
        ..HttpResponse::default()
    });
    server.push(HttpResponse {
        status: 503,
        body: Some(json!("upstream connect error")),
        ..HttpResponse::default()
    });

    let r = post_messages(&server, &messages_body()).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.header("x-should-retry"), Some("true"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert!(r.json()["request_id"]
        .as_str()
        .unwrap()
        .starts_with("req_mock_"));

    let r = post_messages(&server, &messages_body()).await;
    assert_eq!(r.status, 529);
    assert_eq!(r.header("x-should-retry"), None);
    assert_eq!(
        r.json()["error"],
        json!({"type": "overloaded_error", "message": "Overloaded"})
    );

    let r = post_messages(&server, &messages_body()).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["message"], "bad tool_result");

    let r = post_messages(&server, &messages_body()).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.text(), "upstream connect error");
}

#[tokio::test]
async fn disconnect_after_closes_the_connection_without_message_stop() {
    let server = MockServer::start().await.unwrap();
    server.push(TurnResponse {
        turn: ScriptedTurn {
            text: Some("one two three four five".into()),
            ..ScriptedTurn::default()
        },
        disconnect_after: Some(4),
        ..TurnResponse::default()
    });
    let r = post_messages(&server, &messages_body()).await;
    assert_eq!(r.status, 200);
    assert!(!r.complete, "the body must not end with the terminal chunk");
    let sse = parse_sse(&r.text());
    assert_eq!(
        events(&sse),
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta"
        ]
    );
    assert_eq!(text_of(&sse), "one ");
}

#[tokio::test]
async fn stall_after_keeps_the_connection_open_without_sending_more() {
    let server = MockServer::start().await.unwrap();
    server.push(TurnResponse {
        turn: ScriptedTurn {
            text: Some("never finished".into()),
            ..ScriptedTurn::default()
        },
        stall_after: Some(3),
        ..TurnResponse::default()
    });
    let mut stream = send(
        &server,
        "POST",
        "/v1/messages",
        &[],
        &messages_body().to_string(),
    )
    .await;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let received = loop {
        let n = tokio::time::timeout(READ_LIMIT, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed before the stall");
        raw.extend_from_slice(&buf[..n]);
        if let Some(r) = parse_response(&raw) {
            if r.body.windows(2).filter(|w| w == b"\n\n").count() == 3 {
                break r;
            }
        }
    };
    assert_eq!(received.status, 200);
    let sse = parse_sse(&received.text());
    assert_eq!(
        events(&sse),
        ["message_start", "ping", "content_block_start"]
    );

    // Nothing more arrives, and the connection is still open.
    let started = Instant::now();
    let next = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await;
    assert!(next.is_err(), "expected a read timeout, got {next:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Dropping the server closes the stalled connection.
    drop(server);
    let n = tokio::time::timeout(READ_LIMIT, stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn error_after_emits_the_error_event_and_no_message_stop() {
    let server = MockServer::start().await.unwrap();
    server.push(TurnResponse {
        turn: ScriptedTurn {
            text: Some("partial output here".into()),
            ..ScriptedTurn::default()
        },
        error_after: Some(4),
        error: Some(MockError {
            error_type: "overloaded_error".into(),
            message: Some("Overloaded".into()),
        }),
        ..TurnResponse::default()
    });
    server.push(TurnResponse {
        turn: ScriptedTurn::default(),
        error: Some(MockError {
            error_type: "api_error".into(),
            message: None,
        }),
        ..TurnResponse::default()
    });

    let r = post_messages(&server, &messages_body()).await;
    assert_eq!(r.status, 200);
    assert!(r.complete, "the body ends normally after the error event");
    let sse = parse_sse(&r.text());
    assert_eq!(
        events(&sse),
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "error"
        ]
    );
    assert_eq!(
        sse[4].2,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );

    // `error` alone: right after message_start, with a stock message.
    let sse = parse_sse(&post_messages(&server, &messages_body()).await.text());
    assert_eq!(events(&sse), ["message_start", "error"]);
    assert_eq!(sse[1].2["error"]["type"], "api_error");
    assert!(sse[1].2["error"]["message"].is_string());
}

#[tokio::test]
async fn chunk_delay_spaces_out_the_frames() {
    let server = MockServer::start().await.unwrap();
    server.push(TurnResponse {
        turn: ScriptedTurn {
            text: Some("a b".into()),
            delay_ms: Some(1000),
            ..ScriptedTurn::default()
        },
        chunk_delay_ms: Some(25),
        ..TurnResponse::default()
    });
    let started = Instant::now();
    let sse = parse_sse(&post_messages(&server, &messages_body()).await.text());
    let elapsed = started.elapsed();
    // 8 frames, 25 ms before each (chunkDelayMs overrides the turn's delayMs).
    assert_eq!(sse.len(), 8);
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");
}

#[tokio::test]
async fn an_sse_response_sends_the_raw_bytes_in_chunks() {
    let fixture = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n\
                   event: content_block_delta\ndata: {\"text\":\"héllo 日本\"}\n\n";
    let server = MockServer::start().await.unwrap();
    server.push(SseResponse {
        sse: fixture.into(),
        chunk_size: Some(1),
        ..SseResponse::default()
    });
    server.push(MockResponse::sse(fixture).times(2));
    for _ in 0..3 {
        let mut stream = send(
            &server,
            "POST",
            "/v1/messages",
            &[],
            &messages_body().to_string(),
        )
        .await;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let r = parse_response(&raw).unwrap();
        assert!(r.complete);
        assert_eq!(
            r.header("content-type"),
            Some("text/event-stream; charset=utf-8")
        );
        assert_eq!(r.body, fixture.as_bytes());
    }
    // chunkSize 1 sends one byte per HTTP chunk, splitting UTF-8 sequences.
    let server = MockServer::start().await.unwrap();
    server.push(SseResponse {
        sse: "日本".into(),
        chunk_size: Some(1),
        ..SseResponse::default()
    });
    let mut stream = send(&server, "POST", "/v1/messages", &[], "{}").await;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let chunks = &raw[head_end + 4..];
    assert!(
        chunks.starts_with(b"1\r\n\xe6\r\n1\r\n\x97\r\n"),
        "{chunks:?}"
    );
}

#[tokio::test]
async fn requests_are_recorded_with_headers_and_json_body() {
    let server = MockServer::start().await.unwrap();
    server.push(MockResponse::text("ok"));
    let body = messages_body();
    let r = request(
        &server,
        "POST",
        "/v1/messages?beta=true",
        &[
            ("X-Api-Key", "sk-test"),
            ("anthropic-version", "2023-06-01"),
            ("content-type", "application/json"),
        ],
        &body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = request(&server, "GET", "/v1/models", &[], "not json").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["type"], "not_found_error");

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/v1/messages");
    assert_eq!(first.query.as_deref(), Some("beta=true"));
    assert_eq!(first.header("x-api-key"), Some("sk-test"));
    assert_eq!(first.header("X-API-KEY"), Some("sk-test"));
    assert!(first
        .headers
        .iter()
        .any(|(n, v)| n == "x-api-key" && v == "sk-test"));
    assert_eq!(first.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(first.body, body);
    assert_eq!(requests[1].method, "GET");
    assert_eq!(requests[1].path, "/v1/models");
    assert_eq!(requests[1].body, Value::Null);

    server.reset();
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_base_url_prefix_is_accepted_and_other_methods_are_refused() {
    let server = MockServer::start().await.unwrap();
    server.push(MockResponse::text("via proxy").times(2));
    for path in ["/proxy/anthropic/v1/messages", "/messages"] {
        let r = request(&server, "POST", path, &[], &messages_body().to_string()).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(text_of(&parse_sse(&r.text())), "via proxy");
    }
    let r = request(&server, "GET", "/v1/messages", &[], "").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["type"], "error");
}

#[tokio::test]
async fn control_endpoints_queue_list_and_reset() {
    let server = MockServer::start().await.unwrap();
    let r = request(
        &server,
        "POST",
        "/_mock/responses",
        &[],
        &json!([{"turn": {"text": "from node"}}, {"status": 529, "times": 2}]).to_string(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"queued": 2, "pending": 2}));
    let r = request(
        &server,
        "POST",
        "/_mock/responses",
        &[],
        &json!({"sse": "event: ping\ndata: {}\n\n"}).to_string(),
    )
    .await;
    assert_eq!(r.json(), json!({"queued": 1, "pending": 3}));

    for (path, message) in [
        ("{not json", "not valid JSON"),
        (r#"[{"turn": {}}, {"turnn": {}}]"#, "response #2"),
    ] {
        let r = request(&server, "POST", "/_mock/responses", &[], path).await;
        assert_eq!(r.status, 400);
        let error = r.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(message), "{error}");
    }
    assert_eq!(server.pending(), 3, "a bad batch queues nothing");

    let r = post_messages(&server, &messages_body()).await;
    assert_eq!(text_of(&parse_sse(&r.text())), "from node");
    assert_eq!(post_messages(&server, &messages_body()).await.status, 529);

    let r = request(&server, "GET", "/_mock/requests", &[], "").await;
    let listed = r.json();
    assert_eq!(
        listed.as_array().unwrap().len(),
        2,
        "control requests are not recorded"
    );
    assert_eq!(listed[0]["method"], "POST");
    assert_eq!(listed[0]["path"], "/v1/messages");
    assert_eq!(listed[0]["headers"]["content-type"], "application/json");
    assert_eq!(listed[0]["body"], messages_body());

    let r = request(&server, "POST", "/_mock/reset", &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(server.pending(), 0);
    assert!(server.requests().is_empty());
    let r = post_messages(&server, &messages_body()).await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json()["error"]["message"],
        "harnext-mock: no scripted response left for request #1"
    );

    let r = request(&server, "GET", "/_mock/nope", &[], "").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn requests_can_be_recorded_without_bodies_until_a_reset() {
    let server = MockServer::start().await.unwrap();
    for bad in [
        "{}",
        r#"{"recordBodies": 1}"#,
        r#"{"recordBodies": false, "x": 1}"#,
    ] {
        let r = request(&server, "POST", "/_mock/options", &[], bad).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    let r = request(
        &server,
        "POST",
        "/_mock/options",
        &[],
        r#"{"recordBodies": false}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    server.push(MockResponse::text("one"));
    assert_eq!(
        text_of(&parse_sse(
            &post_messages(&server, &messages_body()).await.text()
        )),
        "one"
    );
    let listed = request(&server, "GET", "/_mock/requests", &[], "")
        .await
        .json();
    assert_eq!(listed[0]["path"], "/v1/messages");
    assert_eq!(listed[0]["body"], Value::Null);
    assert!(
        listed[0]["finishedAtUs"].as_u64().unwrap() >= listed[0]["receivedAtUs"].as_u64().unwrap()
    );
    request(&server, "POST", "/_mock/reset", &[], "").await;
    server.push(MockResponse::text("two"));
    post_messages(&server, &messages_body()).await;
    let listed = request(&server, "GET", "/_mock/requests", &[], "")
        .await
        .json();
    assert_eq!(listed[0]["body"], messages_body());
}

#[tokio::test]
async fn connections_are_kept_alive_between_responses() {
    let server = MockServer::start().await.unwrap();
    server.push(MockResponse::text("one"));
    server.push(MockResponse::http(429));
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let body = messages_body().to_string();
    let req = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !parse_response(&raw).is_some_and(|r| r.complete) {
        let n = tokio::time::timeout(READ_LIMIT, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        raw.extend_from_slice(&buf[..n]);
    }
    // Same connection, second request, then close.
    let req = req.replace("host: x\r\n", "host: x\r\nconnection: close\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let r = read_to_close(stream).await;
    assert_eq!(r.status, 429);
}

#[tokio::test]
async fn the_binary_prints_its_url_serves_and_exits_on_stdin_eof() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_harnext-mock"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::io::BufReader::new(stdout)
        .read_line(&mut line)
        .await
        .unwrap();
    let printed: Value = serde_json::from_str(&line).unwrap();
    let url = printed["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(printed.as_object().unwrap().len(), 1);
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();

    let raw_request = |method: &str, path: &str, body: &str| {
        format!(
            "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let roundtrip = |req: String| async move {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.write_all(req.as_bytes()).await.unwrap();
        read_to_close(stream).await
    };
    let r = roundtrip(raw_request(
        "POST",
        "/_mock/responses",
        &json!([{"turn": {"text": "hi from the binary"}}]).to_string(),
    ))
    .await;
    assert_eq!(r.status, 200);
    let r = roundtrip(raw_request(
        "POST",
        "/v1/messages",
        &messages_body().to_string(),
    ))
    .await;
    assert_eq!(text_of(&parse_sse(&r.text())), "hi from the binary");
    let r = roundtrip(raw_request("GET", "/_mock/requests", "")).await;
    assert_eq!(r.json()[0]["body"]["model"], "claude-test-1");

    drop(child.stdin.take());
    let status = tokio::time::timeout(READ_LIMIT, child.wait())
        .await
        .expect("the binary did not exit on stdin EOF")
        .unwrap();
    assert!(status.success(), "{status:?}");
}
