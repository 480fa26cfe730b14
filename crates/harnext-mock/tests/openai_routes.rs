#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The OpenAI routes of the mock: `…/responses` streams the Responses API and
//! `…/chat/completions` streams Chat Completions, rendering the same scripted turns as
//! `…/messages`, with OpenAI-shaped errors.

use std::time::Duration;

use harnext_mock::HttpResponse;
use harnext_mock::MockError;
use harnext_mock::MockResponse;
use harnext_mock::MockServer;
use harnext_mock::TurnResponse;
use harnext_mock::WireFormat;
use harnext_protocol::ScriptedToolCall;
use harnext_protocol::ScriptedTurn;
use harnext_protocol::ScriptedUsage;
use serde_json::json;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// One request over a fresh connection, read to the end (chunked bodies decoded).
async fn post(server: &MockServer, path: &str, body: &Value) -> Reply {
    let body = body.to_string();
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let rest = &raw[head_end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v == "chunked");
    let mut body = Vec::new();
    if chunked {
        let mut at = 0;
        while let Some(end) = rest[at..].windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[at..at + end]).unwrap().trim(), 16)
                    .unwrap();
            if size == 0 {
                break;
            }
            let start = at + end + 2;
            body.extend_from_slice(&rest[start..start + size]);
            at = start + size + 2;
        }
    } else {
        body.extend_from_slice(rest);
    }
    Reply {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

/// `(event name, data)` of each SSE frame; data-only frames have an empty name.
fn frames(body: &str) -> Vec<(String, String)> {
    assert!(body.ends_with("\n\n"), "{body:?}");
    body.split_terminator("\n\n")
        .map(|frame| {
            let mut event = String::new();
            let mut data = None;
            for line in frame.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    assert!(data.is_none(), "one data line per frame: {frame:?}");
                    data = Some(d.to_owned());
                } else {
                    panic!("unexpected line {line:?}");
                }
            }
            (event, data.unwrap())
        })
        .collect()
}

fn turn() -> ScriptedTurn {
    ScriptedTurn {
        thinking: Some("Let me think.".into()),
        text: Some("Hello there, world!".into()),
        tool_calls: vec![
            ScriptedToolCall {
                id: None,
                name: "read_file".into(),
                args: json!({"path": "src/main.rs", "limit": 20}),
            },
            ScriptedToolCall {
                id: Some("call_custom".into()),
                name: "bash".into(),
                args: json!({"command": "ls -la"}),
            },
        ],
        usage: Some(ScriptedUsage {
            input_tokens: 100,
            output_tokens: 42,
            cache_read_tokens: 7,
            cache_write_tokens: 3,
            reasoning_tokens: 5,
        }),
        delay_ms: None,
    }
}

#[test]
fn routes_are_told_apart_by_path() {
    for (path, want) in [
        ("/v1/messages", Some(WireFormat::Anthropic)),
        ("/proxy/v1/responses", Some(WireFormat::OpenAiResponses)),
        ("/v1/chat/completions", Some(WireFormat::OpenAiChat)),
        ("/openai/v1/chat/completions", Some(WireFormat::OpenAiChat)),
        ("/v1/models", None),
        ("/v1/completions", None),
    ] {
        assert_eq!(WireFormat::from_path(path), want, "{path}");
    }
}

#[tokio::test]
async fn the_responses_route_streams_the_responses_api() {
    let server = MockServer::start().await.unwrap();
    server.push(MockResponse::turn(turn()).times(2));
    let asked = json!({"model": "gpt-test", "stream": true,
                       "include": ["reasoning.encrypted_content"]});
    let r = post(&server, "/v1/responses", &asked).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let frames = frames(&r.body);
    let data: Vec<Value> = frames
        .iter()
        .map(|(e, d)| {
            let v: Value = serde_json::from_str(d).unwrap();
            assert_eq!(
                v["type"],
                e.as_str(),
                "every event is named and typed alike"
            );
            v
        })
        .collect();
    for (i, v) in data.iter().enumerate() {
        assert_eq!(v["sequence_number"], i, "sequence numbers count up from 0");
    }
    let kinds: Vec<&str> = data.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(kinds[..2], ["response.created", "response.in_progress"]);
    assert_eq!(*kinds.last().unwrap(), "response.completed");
    assert!(
        !r.body.contains("[DONE]"),
        "the spec's stream has no [DONE]"
    );

    // Reasoning at output 0, the message at 1, the calls at 2 and 3.
    let added: Vec<&Value> = data
        .iter()
        .filter(|v| v["type"] == "response.output_item.added")
        .map(|v| &v["item"])
        .collect();
    let types: Vec<&str> = added.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["reasoning", "message", "function_call", "function_call"]
    );
    let summary: String = data
        .iter()
        .filter(|v| v["type"] == "response.reasoning_summary_text.delta")
        .map(|v| v["delta"].as_str().unwrap())
        .collect();
    assert_eq!(summary, "Let me think.");
    let text: String = data
        .iter()
        .filter(|v| v["type"] == "response.output_text.delta")
        .map(|v| {
            assert_eq!(v["output_index"], 1);
            v["delta"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, "Hello there, world!");
    for (index, call_id, name, args) in [
        (
            2,
            "call_mock_1",
            "read_file",
            json!({"path": "src/main.rs", "limit": 20}),
        ),
        (3, "call_custom", "bash", json!({"command": "ls -la"})),
    ] {
        let deltas: String = data
            .iter()
            .filter(|v| {
                v["type"] == "response.function_call_arguments.delta" && v["output_index"] == index
            })
            .map(|v| v["delta"].as_str().unwrap())
            .collect();
        assert_eq!(serde_json::from_str::<Value>(&deltas).unwrap(), args);
        let done = data
            .iter()
            .find(|v| v["type"] == "response.output_item.done" && v["output_index"] == index)
            .unwrap();
        assert_eq!(done["item"]["call_id"], call_id);
        assert_eq!(done["item"]["name"], name);
        let args_done = data
            .iter()
            .find(|v| {
                v["type"] == "response.function_call_arguments.done" && v["output_index"] == index
            })
            .unwrap();
        assert!(args_done.get("name").is_none(), "as on api.openai.com");
    }
    let reasoning_done = data
        .iter()
        .find(|v| v["type"] == "response.output_item.done" && v["output_index"] == 0)
        .unwrap();
    assert!(
        reasoning_done["item"]["encrypted_content"]
            .as_str()
            .unwrap()
            .len()
            > 20
    );
    // Without `include`, reasoning items carry no encrypted content, as on the real API.
    let plain = post(&server, "/v1/responses", &json!({"model": "gpt-test"})).await;
    assert!(plain.body.contains("\"encrypted_content\":null"));
    assert!(!plain.body.contains("gAAAAmock"));

    let completed = &data.last().unwrap()["response"];
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["model"], "gpt-test");
    assert_eq!(completed["output"].as_array().unwrap().len(), 4);
    assert_eq!(
        completed["usage"],
        json!({"input_tokens": 110, "input_tokens_details": {"cached_tokens": 7},
               "output_tokens": 42, "output_tokens_details": {"reasoning_tokens": 5},
               "total_tokens": 152})
    );
}

#[tokio::test]
async fn the_chat_route_streams_chunks_and_sends_usage_only_when_asked() {
    let server = MockServer::start().await.unwrap();
    server.push(MockResponse::turn(turn()).times(2));
    let with_usage =
        json!({"model": "llama", "stream": true, "stream_options": {"include_usage": true}});
    let r = post(&server, "/v1/chat/completions", &with_usage).await;
    assert_eq!(r.status, 200);
    let frames = frames(&r.body);
    assert!(frames.iter().all(|(e, _)| e.is_empty()), "data-only events");
    assert_eq!(frames.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "llama");
    }
    let delta = |c: &Value| c["choices"][0]["delta"].clone();
    assert_eq!(delta(&chunks[0])["role"], "assistant");
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| delta(c)["reasoning_content"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(reasoning, "Let me think.");
    let text: String = chunks
        .iter()
        .filter_map(|c| delta(c)["content"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, "Hello there, world!");
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for c in &chunks {
        for tc in delta(c)["tool_calls"].as_array().into_iter().flatten() {
            let i = tc["index"].as_u64().unwrap() as usize;
            if i == calls.len() {
                calls.push((
                    tc["id"].as_str().unwrap().to_owned(),
                    tc["function"]["name"].as_str().unwrap().to_owned(),
                    String::new(),
                ));
            }
            calls[i]
                .2
                .push_str(tc["function"]["arguments"].as_str().unwrap());
        }
    }
    assert_eq!(calls[0].0, "call_mock_1");
    assert_eq!(calls[0].1, "read_file");
    assert_eq!(
        serde_json::from_str::<Value>(&calls[0].2).unwrap(),
        json!({"path": "src/main.rs", "limit": 20})
    );
    assert_eq!(
        (calls[1].0.as_str(), calls[1].1.as_str()),
        ("call_custom", "bash")
    );
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(
        usage_chunk["usage"],
        json!({"prompt_tokens": 110, "completion_tokens": 42, "total_tokens": 152,
               "prompt_tokens_details": {"cached_tokens": 7},
               "completion_tokens_details": {"reasoning_tokens": 5}})
    );

    // Without stream_options.include_usage there is no usage chunk.
    let r = post(&server, "/v1/chat/completions", &json!({"model": "llama"})).await;
    assert!(!r.body.contains("\"usage\""), "{}", r.body);
    assert!(r.body.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn stop_reasons_map_to_finish_reasons_and_response_incomplete() {
    let server = MockServer::start().await.unwrap();
    let cut = TurnResponse {
        turn: ScriptedTurn {
            text: Some("cut".into()),
            ..ScriptedTurn::default()
        },
        stop_reason: Some("max_tokens".into()),
        ..TurnResponse::default()
    };
    server.push(cut.clone());
    server.push(cut);
    server.push(MockResponse::text("plain"));
    let r = post(&server, "/v1/chat/completions", &json!({})).await;
    assert!(
        r.body.contains("\"finish_reason\":\"length\""),
        "{}",
        r.body
    );
    let r = post(&server, "/v1/responses", &json!({})).await;
    let last = frames(&r.body).pop().unwrap();
    assert_eq!(last.0, "response.incomplete");
    let v: Value = serde_json::from_str(&last.1).unwrap();
    assert_eq!(
        v["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
    let r = post(&server, "/v1/chat/completions", &json!({})).await;
    assert!(r.body.contains("\"finish_reason\":\"stop\""));
    assert!(
        r.body.contains("\"model\":\"gpt-mock\""),
        "the default model of the OpenAI routes"
    );
}

#[tokio::test]
async fn mid_stream_errors_take_each_formats_shape() {
    let server = MockServer::start().await.unwrap();
    let erroring = TurnResponse {
        turn: ScriptedTurn {
            text: Some("partial output".into()),
            ..ScriptedTurn::default()
        },
        error_after: Some(3),
        error: Some(MockError {
            error_type: "overloaded_error".into(),
            message: Some("Overloaded".into()),
        }),
        ..TurnResponse::default()
    };
    server.push(erroring.clone());
    server.push(erroring);
    server.push(TurnResponse {
        turn: ScriptedTurn::default(),
        error: Some(MockError {
            error_type: "insufficient_quota".into(),
            message: None,
        }),
        ..TurnResponse::default()
    });

    let r = post(&server, "/v1/responses", &json!({})).await;
    let f = frames(&r.body);
    assert_eq!(f.len(), 5);
    assert_eq!(f[3].0, "error");
    let error: Value = serde_json::from_str(&f[3].1).unwrap();
    assert_eq!(error["error"]["code"], "server_is_overloaded");
    assert_eq!(error["error"]["message"], "Overloaded");
    assert_eq!(f[4].0, "response.failed");
    let failed: Value = serde_json::from_str(&f[4].1).unwrap();
    assert_eq!(failed["response"]["error"]["code"], "server_is_overloaded");

    let r = post(&server, "/v1/chat/completions", &json!({})).await;
    let f = frames(&r.body);
    assert_eq!(f.len(), 4, "three chunks, then the error, and no [DONE]");
    let error: Value = serde_json::from_str(&f[3].1).unwrap();
    assert_eq!(
        error,
        json!({"error": {"message": "Overloaded", "type": "server_is_overloaded", "param": null, "code": "server_is_overloaded"}})
    );

    // Types that are not Anthropic's pass through.
    let r = post(&server, "/v1/chat/completions", &json!({})).await;
    let f = frames(&r.body);
    let error: Value = serde_json::from_str(&f[1].1).unwrap();
    assert_eq!(error["error"]["code"], "insufficient_quota");
}

#[tokio::test]
async fn http_errors_have_openai_bodies_on_the_openai_routes() {
    let server = MockServer::start().await.unwrap();
    server.push(MockResponse::http(429).times(2));
    server.push(
        HttpResponse {
            status: 429,
            body: Some(json!({"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}})),
            ..HttpResponse::default()
        }
        .with_header("retry-after", "1"),
    );
    for path in ["/v1/responses", "/v1/chat/completions"] {
        let r = post(&server, path, &json!({})).await;
        assert_eq!(r.status, 429);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.header("x-request-id").unwrap().starts_with("req_mock_"));
        let body = r.json();
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
        assert_eq!(body["error"]["type"], "requests");
        assert_eq!(body["error"]["param"], Value::Null);
        assert!(body.get("type").is_none(), "not Anthropic's shape");
    }
    let r = post(&server, "/v1/chat/completions", &json!({})).await;
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["error"]["code"], "insufficient_quota");

    // The empty FIFO answers in the route's shape too.
    let r = post(&server, "/v1/responses", &json!({})).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.header("x-should-retry"), Some("false"));
    assert_eq!(
        r.json()["error"]["message"],
        "harnext-mock: no scripted response left for request #4"
    );
    assert_eq!(r.json()["error"]["type"], "server_error");
    // And Anthropic's route keeps its own.
    let r = post(&server, "/v1/messages", &json!({})).await;
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "api_error");
}

#[tokio::test]
async fn the_three_routes_share_one_fifo_and_every_request_is_recorded() {
    let server = MockServer::start().await.unwrap();
    server.push(MockResponse::text("one"));
    server.push(MockResponse::text("two"));
    server.push(MockResponse::text("three"));
    let a = post(&server, "/v1/messages", &json!({"n": 1})).await;
    let b = post(&server, "/v1/responses", &json!({"n": 2})).await;
    let c = post(&server, "/api/v1/chat/completions", &json!({"n": 3})).await;
    assert!(a.body.contains("\"text_delta\""));
    assert!(b.body.contains("response.output_text.delta") && b.body.contains("\"two\""));
    assert!(c.body.contains("\"content\":\"three\""));
    let paths: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        ["/v1/messages", "/v1/responses", "/api/v1/chat/completions"]
    );
    assert_eq!(server.requests()[2].body, json!({"n": 3}));
}
