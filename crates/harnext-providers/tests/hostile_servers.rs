#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The three providers against servers that answer in ways the happy path does not:
//! refusals, cuts and filters; missing and malformed usage; a complete JSON body to a
//! streamed request; compressed streams; HTML pages; absurd `retry-after` values; a
//! stream that drips forever; header values with line breaks; and servers that echo
//! credentials. Over real HTTP on 127.0.0.1: the mock for the wire formats, and a raw
//! TCP server where the mock cannot misbehave that way.

use std::io::Write;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use futures::StreamExt;
use harnext_mock::render_turn;
use harnext_mock::HttpResponse;
use harnext_mock::MockResponse;
use harnext_mock::MockServer;
use harnext_mock::SseResponse;
use harnext_mock::TurnResponse;
use harnext_mock::WireFormat;
use harnext_protocol::ContentBlock;
use harnext_protocol::ErrorCode;
use harnext_protocol::Message;
use harnext_protocol::ScriptedTurn;
use harnext_protocol::ScriptedUsage;
use harnext_protocol::Usage;
use harnext_providers::anthropic::AnthropicProvider;
use harnext_providers::openai::chat::ChatProvider;
use harnext_providers::openai::responses::ResponsesProvider;
use harnext_providers::HttpSettings;
use harnext_providers::ModelEvent;
use harnext_providers::ModelProvider;
use harnext_providers::ModelRequest;
use harnext_providers::ModelResponse;
use harnext_providers::ModelStopReason;
use harnext_providers::ProviderError;
use harnext_providers::SettingsError;
use serde_json::json;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;

const KEY: &str = "sk-test-key-hostile-0123";

fn settings(base: &str) -> HttpSettings {
    HttpSettings {
        base_url: Some(base.to_owned()),
        api_key: Some(KEY.to_owned()),
        max_retries: 2,
        idle_timeout: Some(Duration::from_secs(10)),
        ..HttpSettings::default()
    }
}

const FORMATS: [WireFormat; 3] = [
    WireFormat::Anthropic,
    WireFormat::OpenAiResponses,
    WireFormat::OpenAiChat,
];

/// The provider of `format` on the server at `base` (the OpenAI ones under `/v1`).
fn provider(
    format: WireFormat,
    base: &str,
    s: impl Fn(&str) -> HttpSettings,
) -> Box<dyn ModelProvider> {
    let client = reqwest::Client::new();
    let v1 = format!("{base}/v1");
    match format {
        WireFormat::Anthropic => Box::new(AnthropicProvider::new(client, s(base))),
        WireFormat::OpenAiResponses => Box::new(ResponsesProvider::new(client, s(&v1))),
        WireFormat::OpenAiChat => Box::new(ChatProvider::new(client, s(&v1))),
    }
}

/// The three providers on the server at `base`.
fn all(
    base: &str,
    s: impl Fn(&str) -> HttpSettings + Copy,
) -> Vec<(WireFormat, Box<dyn ModelProvider>)> {
    FORMATS
        .into_iter()
        .map(|f| (f, provider(f, base, s)))
        .collect()
}

fn request() -> ModelRequest {
    ModelRequest {
        model: "m".into(),
        system: "sys".into(),
        messages: vec![Message::user_text("hi")].into(),
        ..ModelRequest::default()
    }
}

type Events = Vec<Result<ModelEvent, ProviderError>>;

async fn collect(p: &dyn ModelProvider) -> Events {
    tokio::time::timeout(
        Duration::from_secs(30),
        p.stream(request()).collect::<Vec<_>>(),
    )
    .await
    .expect("the stream ended")
}

fn completed<'a>(events: &'a Events, what: &str) -> &'a ModelResponse {
    match events.last() {
        Some(Ok(ModelEvent::Completed(r))) => r,
        other => panic!("{what}: not completed: {other:?}"),
    }
}

fn error<'a>(events: &'a Events, what: &str) -> &'a ProviderError {
    match events.last() {
        Some(Err(e)) => e,
        other => panic!("{what}: no error: {other:?}"),
    }
}

fn text_of(events: &Events) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            Ok(ModelEvent::TextDelta(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn usage(input: u64, output: u64) -> ScriptedUsage {
    ScriptedUsage {
        input_tokens: input,
        output_tokens: output,
        ..ScriptedUsage::default()
    }
}

fn text_turn(text: &str) -> ScriptedTurn {
    ScriptedTurn {
        text: Some(text.into()),
        usage: Some(usage(10, 5)),
        ..ScriptedTurn::default()
    }
}

// ---------------------------------------------------------------------------------
// A raw HTTP server for what the mock cannot do: binary (compressed) bodies, a body
// that never ends, a response made from the request's own headers.

/// One canned answer: the status line and headers, then body chunks with a pause
/// before each, then (when `drip` is set) one byte every `drip` until the client
/// hangs up.
#[derive(Clone)]
struct Raw {
    head: String,
    chunks: Vec<Vec<u8>>,
    pause: Duration,
    drip: Option<Duration>,
    /// Answer with the request's headers in the body (for echo tests).
    echo_status: Option<u16>,
}

impl Raw {
    fn new(status: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Raw {
        let mut head = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        Raw {
            head,
            chunks: vec![body],
            pause: Duration::ZERO,
            drip: None,
            echo_status: None,
        }
    }
}

struct RawServer {
    url: String,
    /// The request heads received, in order.
    seen: Arc<Mutex<Vec<String>>>,
}

async fn raw_server(answer: Raw) -> RawServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            let log = log.clone();
            tokio::spawn(async move {
                // Read the head, then the body by its content-length.
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                let head_end = loop {
                    let Ok(n) = socket.read(&mut tmp).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    let Ok(n) = socket.read(&mut tmp).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                }
                log.lock().unwrap().push(head.clone());
                if let Some(status) = answer.echo_status {
                    let body = json!({"error": {"type": "authentication_error",
                        "message": format!("rejected request with headers: {head}")}})
                    .to_string();
                    let out = format!(
                        "HTTP/1.1 {status} Unauthorized\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(out.as_bytes()).await;
                    return;
                }
                let mut head_out = answer.head.clone();
                if answer.drip.is_none() {
                    let total: usize = answer.chunks.iter().map(Vec::len).sum();
                    head_out.push_str(&format!("content-length: {total}\r\n"));
                }
                head_out.push_str("\r\n");
                if socket.write_all(head_out.as_bytes()).await.is_err() {
                    return;
                }
                for chunk in &answer.chunks {
                    tokio::time::sleep(answer.pause).await;
                    if socket.write_all(chunk).await.is_err() {
                        return;
                    }
                }
                if let Some(every) = answer.drip {
                    loop {
                        tokio::time::sleep(every).await;
                        if socket.write_all(b":").await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    RawServer { url, seen }
}

// ---------------------------------------------------------------------------------
// Stop reasons

#[tokio::test]
async fn refusals_cuts_at_max_tokens_and_content_filters_are_distinct_stop_reasons_on_every_format()
{
    let server = MockServer::start().await.unwrap();
    for (format, p) in all(&server.url(), settings) {
        let push = |stop: &str| {
            server.reset();
            server.push(TurnResponse {
                turn: text_turn("I can't help with that."),
                stop_reason: Some(stop.into()),
                ..TurnResponse::default()
            });
        };

        push("max_tokens");
        let events = collect(p.as_ref()).await;
        assert_eq!(
            completed(&events, "max_tokens").stop_reason,
            ModelStopReason::MaxTokens,
            "{format:?}"
        );

        push("refusal");
        let events = collect(p.as_ref()).await;
        let resp = completed(&events, "refusal");
        let ModelStopReason::Refusal(details) = &resp.stop_reason else {
            panic!("{format:?}: {:?}", resp.stop_reason)
        };
        assert_eq!(text_of(&events), "I can't help with that.", "{format:?}");
        match format {
            WireFormat::Anthropic => {
                // Anthropic's `stop_details`.
                assert_eq!(details.category.as_deref(), Some("cyber"));
                assert_eq!(
                    details.explanation.as_deref(),
                    Some("This request was refused due to policy.")
                );
                assert_eq!(details.raw.as_ref().unwrap()["type"], "refusal");
            }
            // OpenAI's refusal text is its explanation.
            WireFormat::OpenAiResponses | WireFormat::OpenAiChat => assert_eq!(
                details.explanation.as_deref(),
                Some("I can't help with that."),
                "{format:?}"
            ),
        }

        if format == WireFormat::Anthropic {
            continue; // Anthropic has no content filter stop.
        }
        push("content_filter");
        let events = collect(p.as_ref()).await;
        let resp = completed(&events, "content_filter");
        let ModelStopReason::ContentFilter(details) = &resp.stop_reason else {
            panic!("{format:?}: {:?}", resp.stop_reason)
        };
        let raw = details.raw.as_ref().expect("the filter's details");
        match format {
            WireFormat::OpenAiChat => assert_eq!(raw["violence"]["filtered"], true),
            _ => assert_eq!(raw["reason"], "content_filter"),
        }
    }
}

#[test]
fn anthropics_recorded_refusal_carries_its_stop_details() {
    let body =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../../../shared/fixtures/providers/anthropic-sdk-python/sse/refusal_response.sse",
        ))
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let server = MockServer::start().await.unwrap();
        server.push(SseResponse {
            sse: body,
            ..SseResponse::default()
        });
        let p = AnthropicProvider::new(reqwest::Client::new(), settings(&server.url()));
        let events = collect(&p).await;
        let details = completed(&events, "refusal")
            .stop_reason
            .details()
            .cloned()
            .unwrap();
        assert_eq!(details.category.as_deref(), Some("cyber"));
        assert_eq!(
            details.explanation.as_deref(),
            Some("This request was refused due to policy.")
        );
    });
}

// ---------------------------------------------------------------------------------
// Usage

#[tokio::test]
async fn a_server_that_reports_no_usage_gives_usage_marked_unreported_on_every_format() {
    let server = MockServer::start().await.unwrap();
    for (format, p) in all(&server.url(), settings) {
        server.reset();
        server.push(TurnResponse {
            turn: text_turn("no counts"),
            no_usage: Some(true),
            ..TurnResponse::default()
        });
        server.push(MockResponse::turn(text_turn("counted")));
        let events = collect(p.as_ref()).await;
        let resp = completed(&events, "no usage");
        assert_eq!(resp.usage, Usage::unreported(), "{format:?}");
        let events = collect(p.as_ref()).await;
        let resp = completed(&events, "usage");
        assert!(!resp.usage.unreported, "{format:?}: {:?}", resp.usage);
        assert_eq!(resp.usage.output_tokens, 5, "{format:?}");
    }
}

/// A stream in `format` whose output count is `bad` (raw JSON) and input count 7.
fn stream_with_output_count(format: WireFormat, bad: &str) -> String {
    match format {
        WireFormat::Anthropic => format!(
            "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"usage\":{{\"input_tokens\":7,\"output_tokens\":{bad}}}}}}}\n\n\
             event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"text\",\"text\":\"ok\"}}}}\n\n\
             event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\"}},\"usage\":{{\"output_tokens\":{bad}}}}}\n\n\
             event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
        ),
        WireFormat::OpenAiChat => format!(
            "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"ok\"}},\"finish_reason\":\"stop\"}}]}}\n\n\
             data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":7,\"completion_tokens\":{bad}}}}}\n\n\
             data: [DONE]\n\n"
        ),
        WireFormat::OpenAiResponses => format!(
            "event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"output_index\":0,\"delta\":\"ok\"}}\n\n\
             event: response.completed\ndata: {{\"type\":\"response.completed\",\"response\":{{\"status\":\"completed\",\"output\":[],\"usage\":{{\"input_tokens\":7,\"output_tokens\":{bad}}}}}}}\n\n"
        ),
    }
}

#[tokio::test]
async fn a_malformed_usage_number_is_ignored_the_same_way_by_every_parser() {
    let server = MockServer::start().await.unwrap();
    for (format, p) in all(&server.url(), settings) {
        for bad in ["-5", "\"12\"", "1e300", "null", "1.5", "{}"] {
            server.reset();
            server.push(SseResponse {
                sse: stream_with_output_count(format, bad),
                ..SseResponse::default()
            });
            let events = collect(p.as_ref()).await;
            let resp = completed(&events, bad);
            assert_eq!(text_of(&events), "ok", "{format:?} {bad}");
            assert_eq!(
                resp.usage,
                Usage {
                    input_tokens: 7,
                    unreported: true,
                    web_search_requests: 0,
                    ..Usage::default()
                },
                "{format:?} {bad}: the bad field is unreported, the good one kept"
            );
        }
        // A well-formed count is read.
        server.reset();
        server.push(SseResponse {
            sse: stream_with_output_count(format, "12"),
            ..SseResponse::default()
        });
        let events = collect(p.as_ref()).await;
        let u = completed(&events, "12").usage;
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.unreported),
            (7, 12, false)
        );
    }
}

#[tokio::test]
async fn xai_style_completion_tokens_without_reasoning_get_the_reasoning_added() {
    let server = MockServer::start().await.unwrap();
    let client = reqwest::Client::new();
    let chat = ChatProvider::new(client.clone(), settings(&format!("{}/v1", server.url())));
    let responses = ResponsesProvider::new(client, settings(&format!("{}/v1", server.url())));
    // xAI: total = prompt + completion + reasoning.
    server.push(SseResponse {
        sse: "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hm\"}}]}\n\n\
              data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"4\"},\"finish_reason\":\"stop\"}]}\n\n\
              data: {\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":10,\"total_tokens\":350,\"completion_tokens_details\":{\"reasoning_tokens\":240}}}\n\n\
              data: [DONE]\n\n"
            .into(),
        ..SseResponse::default()
    });
    let u = completed(&collect(&chat).await, "xai chat").usage;
    assert_eq!((u.output_tokens, u.reasoning_tokens), (250, 240));
    // OpenAI: total = prompt + completion, which already includes reasoning.
    server.push(SseResponse {
        sse: "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"4\"},\"finish_reason\":\"stop\"}]}\n\n\
              data: {\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":250,\"total_tokens\":350,\"completion_tokens_details\":{\"reasoning_tokens\":240}}}\n\n\
              data: [DONE]\n\n"
            .into(),
        ..SseResponse::default()
    });
    let u = completed(&collect(&chat).await, "openai chat").usage;
    assert_eq!((u.output_tokens, u.reasoning_tokens), (250, 240));
    // The same rule on a Responses stream.
    server.push(SseResponse {
        sse: "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\",\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"4\"}]}],\"usage\":{\"input_tokens\":100,\"output_tokens\":10,\"total_tokens\":350,\"output_tokens_details\":{\"reasoning_tokens\":240}}}}\n\n"
            .into(),
        ..SseResponse::default()
    });
    let u = completed(&collect(&responses).await, "xai responses").usage;
    assert_eq!((u.output_tokens, u.reasoning_tokens), (250, 240));
}

// ---------------------------------------------------------------------------------
// Bodies that are not a plain event stream

fn recorded_anthropic_message() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../../shared/fixtures/providers/anthropic-sdk-python/recorded/nonstream-tool_result-is_error.json",
    );
    let exchanges: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    exchanges[0]["response"]["body"].clone()
}

#[tokio::test]
async fn a_complete_json_response_to_a_streamed_request_is_accepted_on_every_format() {
    let server = MockServer::start().await.unwrap();
    let bodies = [
        (WireFormat::Anthropic, recorded_anthropic_message()),
        (
            WireFormat::OpenAiResponses,
            json!({"id": "resp_1", "object": "response", "status": "completed", "output": [
                {"type": "message", "id": "m", "role": "assistant", "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
                {"type": "function_call", "id": "fc", "call_id": "toolu_01A9HHF5Ezy3oBrKmSgfASm9", "name": "get_weather",
                 "arguments": "{\"location\":\"San Francisco, CA\",\"units\":\"f\"}"}],
                "usage": {"input_tokens": 656, "output_tokens": 74, "total_tokens": 730}}),
        ),
        (
            WireFormat::OpenAiChat,
            json!({"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0,
                "message": {"role": "assistant", "content": "Checking.", "tool_calls": [{"id": "toolu_01A9HHF5Ezy3oBrKmSgfASm9", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"location\":\"San Francisco, CA\",\"units\":\"f\"}"}}]},
                "finish_reason": "tool_calls"}],
                "usage": {"prompt_tokens": 656, "completion_tokens": 74, "total_tokens": 730}}),
        ),
    ];
    for ((format, p), (body_format, body)) in all(&server.url(), settings).into_iter().zip(bodies) {
        assert_eq!(format, body_format);
        server.reset();
        server.push(HttpResponse {
            status: 200,
            body: Some(body),
            ..HttpResponse::default()
        });
        let events = collect(p.as_ref()).await;
        let resp = completed(&events, "json");
        assert_eq!(resp.stop_reason, ModelStopReason::ToolUse, "{format:?}");
        assert!(
            resp.content.contains(&ContentBlock::ToolUse {
                id: "toolu_01A9HHF5Ezy3oBrKmSgfASm9".into(),
                name: "get_weather".into(),
                input: json!({"location": "San Francisco, CA", "units": "f"}),
            }),
            "{format:?}: {:?}",
            resp.content
        );
        assert_eq!(
            (
                resp.usage.input_tokens,
                resp.usage.output_tokens,
                resp.usage.unreported
            ),
            (656, 74, false),
            "{format:?}"
        );
        if format != WireFormat::Anthropic {
            // The text is emitted as if streamed.
            assert_eq!(text_of(&events), "Checking.", "{format:?}");
        }
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn an_error_object_in_a_200_json_body_is_a_classified_error() {
    let server = MockServer::start().await.unwrap();
    for (format, p) in all(&server.url(), settings) {
        server.reset();
        let body = match format {
            WireFormat::Anthropic => {
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
            }
            _ => {
                json!({"error": {"message": "Overloaded", "type": "server_error", "code": "server_is_overloaded"}})
            }
        };
        server.push(HttpResponse {
            status: 200,
            body: Some(body),
            times: Some(3),
            ..HttpResponse::default()
        });
        let events = collect(p.as_ref()).await;
        assert_eq!(
            error(&events, "json error").code(),
            ErrorCode::Overloaded,
            "{format:?}"
        );
    }
}

#[tokio::test]
async fn an_html_page_is_a_server_error_naming_its_content_type_and_is_not_retried() {
    let server = MockServer::start().await.unwrap();
    for (format, p) in all(&server.url(), settings) {
        server.reset();
        server.push(HttpResponse {
            status: 200,
            headers: [(
                "content-type".to_owned(),
                "text/html; charset=utf-8".to_owned(),
            )]
            .into(),
            body: Some(Value::String(
                "<!DOCTYPE html><html><body>Please sign in to the captive portal</body></html>"
                    .into(),
            )),
            times: Some(3),
        });
        let events = collect(p.as_ref()).await;
        let e = error(&events, "html");
        assert_eq!(e.code(), ErrorCode::Server, "{format:?}: {e}");
        let text = e.to_string();
        assert!(text.contains("text/html"), "{text}");
        assert!(text.contains("captive portal"), "{text}");
        assert!(!e.is_retryable());
        assert_eq!(server.requests().len(), 1, "{format:?}");
    }
    // No content type at all, and a body that is neither SSE nor JSON.
    let raw = raw_server(Raw::new("200 OK", &[], b"Service Unavailable".to_vec())).await;
    let p = AnthropicProvider::new(reqwest::Client::new(), settings(&raw.url));
    let e = error(&collect(&p).await, "plain").to_string();
    assert!(
        e.contains("no content type") && e.contains("Service Unavailable"),
        "{e}"
    );
}

#[tokio::test]
async fn a_body_is_read_for_what_it_is_whatever_its_content_type_says() {
    for format in FORMATS {
        let body = render_turn(format, &text_turn("mislabelled but fine"), None, "m");
        for label in ["text/plain", "application/json", "application/octet-stream"] {
            let raw = raw_server(Raw::new(
                "200 OK",
                &[("content-type", label)],
                body.clone().into_bytes(),
            ))
            .await;
            let p = provider(format, &raw.url, settings);
            let events = collect(p.as_ref()).await;
            completed(&events, label);
            assert_eq!(
                text_of(&events),
                "mislabelled but fine",
                "{format:?} {label}"
            );
        }
    }
    // A complete JSON completion labelled as an event stream.
    let json = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "whole"},
        "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}});
    let raw = raw_server(Raw::new(
        "200 OK",
        &[("content-type", "text/event-stream")],
        json.to_string().into_bytes(),
    ))
    .await;
    let p = provider(WireFormat::OpenAiChat, &raw.url, settings);
    let events = collect(p.as_ref()).await;
    assert_eq!(
        completed(&events, "json as sse").stop_reason,
        ModelStopReason::EndTurn
    );
    assert_eq!(text_of(&events), "whole");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).unwrap();
    }
    out
}

#[tokio::test]
async fn gzip_brotli_and_deflate_encoded_streams_are_decoded_on_every_format() {
    for format in FORMATS {
        let body = render_turn(format, &text_turn("squeezed and restored"), None, "m");
        for (encoding, bytes) in [
            ("gzip", gzip(body.as_bytes())),
            ("br", brotli(body.as_bytes())),
            ("deflate", deflate(body.as_bytes())),
        ] {
            // Sent in small pieces with pauses, as a stream is.
            let mut answer = Raw::new(
                "200 OK",
                &[
                    ("content-type", "text/event-stream"),
                    ("content-encoding", encoding),
                ],
                Vec::new(),
            );
            answer.chunks = bytes.chunks(7).map(<[u8]>::to_vec).collect();
            answer.pause = Duration::from_millis(1);
            let raw = raw_server(answer).await;
            let p = provider(format, &raw.url, settings);
            let events = collect(p.as_ref()).await;
            completed(&events, encoding);
            assert_eq!(
                text_of(&events),
                "squeezed and restored",
                "{format:?} {encoding}"
            );
            let head = raw.seen.lock().unwrap()[0].to_ascii_lowercase();
            assert!(head.contains("accept-encoding:"), "{head}");
        }
    }
}

// ---------------------------------------------------------------------------------
// Retries, deadlines, construction

#[tokio::test]
async fn absurd_retry_after_values_fall_back_to_backoff_instead_of_panicking() {
    let server = MockServer::start().await.unwrap();
    for (format, p) in all(&server.url(), settings) {
        for (header, value) in [
            ("retry-after", "inf"),
            ("retry-after", "1e300"),
            ("retry-after", "-3"),
            ("retry-after-ms", "NaN"),
            ("retry-after-ms", "1e300"),
        ] {
            server.reset();
            server.push(
                HttpResponse {
                    status: 429,
                    ..HttpResponse::default()
                }
                .with_header(header, value),
            );
            server.push(MockResponse::turn(text_turn("after the wait")));
            let events = collect(p.as_ref()).await;
            let delays: Vec<u64> = events
                .iter()
                .filter_map(|e| match e {
                    Ok(ModelEvent::Retry { delay_ms, .. }) => Some(*delay_ms),
                    _ => None,
                })
                .collect();
            assert_eq!(delays.len(), 1, "{format:?} {header}: {value}: {events:?}");
            assert!(delays[0] <= 500, "backoff from 0.5 s: {delays:?}");
            completed(&events, value);
        }
    }
}

#[tokio::test]
async fn a_stream_that_drips_forever_ends_at_the_total_deadline_as_a_timeout() {
    for format in FORMATS {
        // A real beginning, then one byte every 20 ms (an SSE comment that never ends):
        // never idle, never complete.
        let head = render_turn(format, &text_turn("Working on it"), None, "m");
        let first_frame = head.split("\n\n").next().unwrap().to_owned() + "\n\n";
        let mut answer = Raw::new(
            "200 OK",
            &[("content-type", "text/event-stream")],
            first_frame.into_bytes(),
        );
        answer.drip = Some(Duration::from_millis(20));
        let raw = raw_server(answer).await;
        let s = |base: &str| HttpSettings {
            idle_timeout: Some(Duration::from_secs(5)),
            stream_timeout: Some(Duration::from_millis(600)),
            ..settings(base)
        };
        let p = provider(format, &raw.url, s);
        let started = Instant::now();
        let events = collect(p.as_ref()).await;
        let elapsed = started.elapsed();
        let e = error(&events, "drip");
        assert_eq!(e.code(), ErrorCode::Timeout, "{format:?}: {e}");
        assert!(matches!(e, ProviderError::Deadline { .. }), "{e:?}");
        assert_eq!(e.option(), Some("stream_timeout_ms"));
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("stream_timeout_ms"), "{e}");
        // Well before the idle timeout (5 s) could have fired.
        assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
        assert_eq!(raw.seen.lock().unwrap().len(), 1, "not retried");
    }
    assert_eq!(
        HttpSettings::default()
            .stream_timeout
            .unwrap_or(harnext_providers::DEFAULT_STREAM_TIMEOUT),
        Duration::from_secs(1800)
    );
}

#[tokio::test]
async fn header_values_with_line_breaks_are_refused_when_the_provider_is_built() {
    let server = MockServer::start().await.unwrap();
    let bad = |base: &str| HttpSettings {
        headers: vec![("X-Team".into(), "platform\r\nX-Injected: 1".into())],
        ..settings(base)
    };
    let client = reqwest::Client::new();
    let v1 = format!("{}/v1", server.url());
    let errors = [
        AnthropicProvider::try_new(client.clone(), bad(&server.url())).err(),
        ResponsesProvider::try_new(client.clone(), bad(&v1)).err(),
        ChatProvider::try_new(client.clone(), bad(&v1)).err(),
    ];
    for e in errors {
        let e = e.expect("refused");
        assert_eq!(
            e,
            SettingsError::InvalidHeaderValue {
                name: "X-Team".into(),
                problem: "contains a line break (CR or LF)"
            }
        );
        assert_eq!(e.option(), "headers");
        assert!(
            e.to_string().contains("X-Team") && !e.to_string().contains("platform"),
            "{e}"
        );
    }
    // Built unchecked, every call fails at once, before any request, without retrying.
    for (format, p) in all(&server.url(), bad) {
        let events = collect(p.as_ref()).await;
        assert_eq!(events.len(), 1, "{format:?}: {events:?}");
        let e = error(&events, "bad header");
        assert!(matches!(e, ProviderError::Settings { .. }), "{e:?}");
        assert_eq!(e.code(), ErrorCode::BadRequest);
        assert!(!e.is_retryable());
    }
    assert!(server.requests().is_empty());
    // A key with a line break too.
    let mut s = settings(&server.url());
    s.api_key = Some("sk-abc\n".into());
    let e = AnthropicProvider::try_new(client, s).err().unwrap();
    assert_eq!(e.option(), "api_key");
    assert!(!e.to_string().contains("sk-abc"), "{e}");
}

// ---------------------------------------------------------------------------------
// Secrets

#[tokio::test]
async fn base_url_credentials_never_appear_in_network_errors() {
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base =
        format!("http://alice:hunter2-password@127.0.0.1:{closed}/proxy?key=AIzaSyQuerySecret99");
    let s = |b: &str| HttpSettings {
        max_retries: 0,
        ..settings(b)
    };
    for (format, p) in all(&base, s) {
        let events = collect(p.as_ref()).await;
        let e = error(&events, "closed port");
        assert_eq!(e.code(), ErrorCode::Network, "{format:?}: {e}");
        let shown = format!("{e} {e:?} {:?}", e.to_public());
        for secret in ["alice", "hunter2-password", "AIzaSyQuerySecret99", KEY] {
            assert!(!shown.contains(secret), "{format:?}: {secret} in {shown}");
        }
        assert!(
            shown.contains(&format!("127.0.0.1:{closed}")),
            "the host is still named: {shown}"
        );
    }
}

#[test]
fn a_malformed_base_url_is_refused_without_showing_its_credentials() {
    for url in [
        "http://alice:hunter2-password@",
        "ftp://alice:hunter2-password@host/?key=AIzaSyQuerySecret99",
        "not a url ?key=AIzaSyQuerySecret99",
    ] {
        let e = HttpSettings {
            base_url: Some(url.into()),
            ..HttpSettings::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.option(), "base_url");
        let text = e.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("alice") && !text.contains("AIzaSy"),
            "{text}"
        );
        let debug = format!(
            "{:?}",
            HttpSettings {
                base_url: Some(url.into()),
                ..HttpSettings::default()
            }
        );
        assert!(
            !debug.contains("hunter2") && !debug.contains("AIzaSy"),
            "{debug}"
        );
    }
}

#[tokio::test]
async fn a_server_echoing_the_basic_header_and_the_key_shows_neither() {
    let mut answer = Raw::new("401 Unauthorized", &[], Vec::new());
    answer.echo_status = Some(401);
    let raw = raw_server(answer).await;
    let with_creds = raw.url.replace("http://", "http://alice:hunter2-password@");
    for (format, p) in all(&with_creds, settings) {
        let events = collect(p.as_ref()).await;
        let e = error(&events, "echo");
        assert_eq!(e.code(), ErrorCode::Auth, "{format:?}: {e}");
        let shown = format!("{e} {e:?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(
            shown.to_ascii_lowercase().contains("authorization"),
            "the echo is there: {shown}"
        );
        for secret in ["hunter2-password", KEY, "YWxpY2U6aHVudGVyMi1wYXNzd29yZA=="] {
            assert!(!shown.contains(secret), "{format:?}: {secret} in {shown}");
        }
    }
}

#[tokio::test]
async fn anthropics_path_is_joined_before_the_base_urls_query_string() {
    let server = MockServer::start().await.unwrap();
    server.push(MockResponse::turn(text_turn("ok")));
    let p = AnthropicProvider::new(
        reqwest::Client::new(),
        settings(&format!("{}/proxy/?key=AIzaSyQuerySecret99", server.url())),
    );
    assert!(
        p.url()
            .ends_with("/proxy/v1/messages?key=AIzaSyQuerySecret99"),
        "{}",
        p.url()
    );
    let events = collect(&p).await;
    completed(&events, "query");
    let req = &server.requests()[0];
    assert_eq!(req.path, "/proxy/v1/messages");
    assert_eq!(req.query.as_deref(), Some("key=AIzaSyQuerySecret99"));
}

#[tokio::test]
async fn the_missing_key_error_names_the_option_by_its_neutral_key() {
    let p = AnthropicProvider::new(reqwest::Client::new(), HttpSettings::default());
    let events = collect(&p).await;
    let e = error(&events, "no key");
    assert_eq!(e.option(), Some("api_key"));
    assert!(
        matches!(
            e,
            ProviderError::MissingApiKey {
                option: "api_key",
                env_var: "ANTHROPIC_API_KEY",
                ..
            }
        ),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("`api_key`") && text.contains("ANTHROPIC_API_KEY"),
        "{text}"
    );
    assert!(
        !text.contains("apiKey") && !text.contains("new Agent"),
        "{text}"
    );
}
