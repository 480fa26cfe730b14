#![allow(clippy::unwrap_used, clippy::expect_used)]

use harnext_protocol::ErrorCode;
use harnext_protocol::Message;
use harnext_protocol::Role;
use harnext_protocol::ToolStatus;
use serde_json::json;

use super::*;
use crate::testing::{fixtures_dir, parse_with, text_of};
use crate::ToolSpec;

/// Every recorded Anthropic stream: the `.sse` files, and the SSE bodies of the recorded
/// HTTP exchanges that streamed.
fn recorded_streams() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for sdk in ["anthropic-sdk-python", "anthropic-sdk-typescript"] {
        let sse = fixtures_dir().join(sdk).join("sse");
        for entry in std::fs::read_dir(&sse).expect("fixtures present") {
            let path = entry.unwrap().path();
            out.push((
                format!("{sdk}/sse/{}", path.file_name().unwrap().to_string_lossy()),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
        let recorded = fixtures_dir().join(sdk).join("recorded");
        for entry in std::fs::read_dir(&recorded).unwrap() {
            let path = entry.unwrap().path();
            let Ok(exchanges) =
                serde_json::from_str::<Vec<Value>>(&std::fs::read_to_string(&path).unwrap())
            else {
                continue;
            };
            for (i, ex) in exchanges.iter().enumerate() {
                let ct = ex["response"]["headers"]["content-type"]
                    .as_str()
                    .unwrap_or_default();
                if let (true, Some(body)) = (
                    ct.starts_with("text/event-stream"),
                    ex["response"]["body"].as_str(),
                ) {
                    out.push((
                        format!(
                            "{sdk}/recorded/{}#{i}",
                            path.file_name().unwrap().to_string_lossy()
                        ),
                        body.to_owned(),
                    ));
                }
            }
        }
    }
    assert!(
        out.len() >= 16,
        "expected every recorded stream, found {}",
        out.len()
    );
    out
}

/// Runs the decoder and parser over `input` cut into pieces of the given sizes.
fn parse(input: &[u8], sizes: &[usize]) -> (Vec<ModelEvent>, Result<ModelResponse, ProviderError>) {
    parse_with(AnthropicParser::default(), input, sizes)
}

fn summary(r: &Result<ModelResponse, ProviderError>) -> String {
    match r {
        Ok(resp) => format!("{resp:?}"),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn every_recorded_stream_parses_the_same_at_arbitrary_chunk_boundaries() {
    for (name, body) in recorded_streams() {
        let (whole_events, whole) = parse(body.as_bytes(), &[body.len()]);
        assert!(whole.is_ok(), "{name}: {}", summary(&whole));
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..20 {
            let sizes: Vec<usize> = if round < 3 {
                vec![round + 1]
            } else {
                (0..64).map(|_| rng.usize(1..=97)).collect()
            };
            let (events, resp) = parse(body.as_bytes(), &sizes);
            assert_eq!(summary(&resp), summary(&whole), "{name}, round {round}");
            assert_eq!(
                text_of(&events),
                text_of(&whole_events),
                "{name}, round {round}"
            );
        }
        // The streamed text deltas always add up to the text blocks of the message.
        let resp = whole.unwrap();
        let blocks_text: String = resp
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text_of(&whole_events), blocks_text, "{name}");
    }
}

fn fixture(path: &str) -> String {
    std::fs::read_to_string(fixtures_dir().join(path)).unwrap()
}

#[test]
fn tool_use_stream_gives_text_then_parsed_tool_input_and_cache_usage() {
    let (_, resp) = parse(
        fixture("anthropic-sdk-python/sse/tool_use_response.sse").as_bytes(),
        &[5],
    );
    let resp = resp.unwrap();
    assert_eq!(resp.stop_reason, ModelStopReason::ToolUse);
    let ContentBlock::ToolUse { name, input, .. } = resp.content.last().unwrap() else {
        panic!("last block is not a tool call: {:?}", resp.content);
    };
    assert_eq!(name, "get_weather");
    assert!(
        input.is_object() && !input.as_object().unwrap().is_empty(),
        "{input}"
    );
    assert!(matches!(resp.content[0], ContentBlock::Text { .. }));
}

#[test]
fn recorded_live_tool_call_has_exact_input_and_final_usage_from_message_delta() {
    let exchanges: Vec<Value> = serde_json::from_str(&fixture(
        "anthropic-sdk-python/recorded/stream-tool-use-two-turns.json",
    ))
    .unwrap();
    let body = exchanges[0]["response"]["body"].as_str().unwrap();
    let (events, resp) = parse(body.as_bytes(), &[3]);
    let resp = resp.unwrap();
    assert_eq!(
        resp.content,
        vec![ContentBlock::ToolUse {
            id: "toolu_018acGYLtfR52q9yDbWaEdQZ".into(),
            name: "get_weather".into(),
            input: json!({ "location": "San Francisco, CA", "units": "f" }),
        }]
    );
    assert_eq!(
        resp.usage,
        Usage {
            input_tokens: 656,
            output_tokens: 74,
            ..Usage::default()
        }
    );
    // message_start's output_tokens (26) is superseded by message_delta's 74.
    assert_eq!(
        events.first(),
        Some(&ModelEvent::UsageUpdate(Usage {
            input_tokens: 656,
            output_tokens: 26,
            ..Usage::default()
        }))
    );
}

#[test]
fn max_tokens_inside_a_tool_input_marks_the_call_invalid() {
    let (_, resp) = parse(
        fixture("anthropic-sdk-typescript/sse/incomplete_partial_json_response.sse").as_bytes(),
        &[11],
    );
    let resp = resp.unwrap();
    assert_eq!(resp.stop_reason, ModelStopReason::MaxTokens);
    let ContentBlock::ToolUse { id, input, .. } = resp.content.last().unwrap() else {
        panic!()
    };
    assert_eq!(input, &json!({}));
    assert!(resp.invalid_tool_inputs[id].contains("not valid JSON"));
}

#[test]
fn thinking_keeps_its_signature_and_reasoning_tokens_are_counted() {
    let (events, resp) = parse(
        fixture("anthropic-sdk-typescript/sse/fable-stream-a-refusal.sse").as_bytes(),
        &[7],
    );
    let resp = resp.unwrap();
    let ContentBlock::Thinking {
        thinking,
        signature,
    } = &resp.content[0]
    else {
        panic!("{:?}", resp.content)
    };
    assert!(signature.as_deref().is_some_and(|s| !s.is_empty()));
    let streamed: String = events
        .iter()
        .filter_map(|e| match e {
            ModelEvent::ThinkingDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(&streamed, thinking);
    assert!(
        matches!(&resp.stop_reason, ModelStopReason::Refusal(d) if d.raw.as_ref().is_some_and(|r| r["type"] == "refusal")),
        "{:?}",
        resp.stop_reason
    );
    assert_eq!(resp.usage.reasoning_tokens, 67);
    assert_eq!(resp.usage.output_tokens, 106);
}

#[test]
fn unknown_block_types_are_ignored() {
    let (_, resp) = parse(
        fixture("anthropic-sdk-python/sse/compaction_response.sse").as_bytes(),
        &[4],
    );
    assert_eq!(
        resp.unwrap().content,
        vec![ContentBlock::Text {
            text: "Hello there!".into()
        }]
    );
    let (_, resp) = parse(
        fixture("anthropic-sdk-python/sse/fallback_response.sse").as_bytes(),
        &[4],
    );
    assert!(resp
        .unwrap()
        .content
        .iter()
        .all(|b| matches!(b, ContentBlock::Text { .. })));
}

#[test]
fn error_event_under_http_200_is_a_classified_stream_error() {
    let body = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n\
                event: error\ndata: {\"type\":\"error\",\"error\":{\"details\":null,\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}              }\n\n";
    let (_, resp) = parse(body.as_bytes(), &[9]);
    let err = resp.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Overloaded);
    assert!(err.is_retryable());
    assert!(err.to_string().contains("Overloaded"));
}

#[test]
fn stream_cut_before_a_stop_reason_is_a_network_error() {
    let body = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n\
                event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
                event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n";
    let (events, resp) = parse(body.as_bytes(), &[13]);
    assert_eq!(text_of(&events), "Hel");
    assert_eq!(resp.unwrap_err().code(), ErrorCode::Network);
}

#[test]
fn http_errors_are_classified_with_retry_hints() {
    let mut h = HeaderMap::new();
    h.insert("retry-after", "2".parse().unwrap());
    h.insert("x-should-retry", "true".parse().unwrap());
    let e = parse_error(
        429,
        &h,
        r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"},"request_id":"req_1"}"#,
    );
    assert_eq!(e.code(), ErrorCode::RateLimit);
    assert!(e.is_retryable());
    assert!(
        matches!(e, ProviderError::Http { retry_after: Some(d), .. } if d == std::time::Duration::from_secs(2))
    );
    let e = parse_error(
        400,
        &HeaderMap::new(),
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 250000 tokens > 200000 maximum"}}"#,
    );
    assert_eq!(e.code(), ErrorCode::ContextOverflow);
    assert!(!e.is_retryable());
    let e = parse_error(
        529,
        &HeaderMap::new(),
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    );
    assert_eq!(e.code(), ErrorCode::Overloaded);
    assert!(e.is_retryable());
    let e = parse_error(401, &HeaderMap::new(), "not json");
    assert_eq!(e.code(), ErrorCode::Auth);
    assert!(e.to_string().contains("not json"));
    let mut no = HeaderMap::new();
    no.insert("x-should-retry", "false".parse().unwrap());
    assert!(!parse_error(500, &no, "").is_retryable());
}

#[test]
fn request_body_carries_history_tools_and_cache_breakpoints() {
    let req = ModelRequest {
        model: "claude-sonnet-4-5".into(),
        system: "be brief".into(),
        messages: vec![
            Message::user_text("hi"),
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentBlock::Thinking {
                        thinking: "hmm".into(),
                        signature: Some("sig".into()),
                    },
                    ContentBlock::Thinking {
                        thinking: "unsigned".into(),
                        signature: None,
                    },
                    ContentBlock::Text { text: "".into() },
                    ContentBlock::ToolUse {
                        id: "call.1".into(),
                        name: "bash".into(),
                        input: json!({"command": "ls"}),
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: "call.1".into(),
                    content: "".into(),
                    status: ToolStatus::Cancelled,
                }],
            },
            Message::user_text("go on"),
        ]
        .into(),
        tools: vec![ToolSpec {
            name: "bash".into(),
            description: "run".into(),
            input_schema: json!({"type": "object"}).into(),
        }]
        .into(),
        max_output_tokens: None,
        temperature: Some(0.2),
        thinking_budget: Some(2048),
        output: None,
        web_search: None,
    };
    let body = request_body(&req);
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["max_tokens"], json!(16384));
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(
        body["system"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
    assert_eq!(body["tools"][0]["input_schema"], json!({"type": "object"}));
    let msgs = body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3, "the two user messages merge: {msgs:?}");
    assert_eq!(
        msgs[1]["content"].as_array().unwrap().len(),
        2,
        "unsigned thinking and empty text dropped"
    );
    assert_eq!(msgs[1]["content"][1]["id"], json!("call_1"));
    assert_eq!(
        msgs[2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "call_1", "content": "(no output)", "is_error": true})
    );
    assert_eq!(msgs[2]["content"][1]["text"], json!("go on"));
    assert_eq!(
        msgs[2]["content"][1]["cache_control"],
        json!({"type": "ephemeral"})
    );
}

mod legacy;

#[test]
fn the_body_is_byte_for_byte_the_one_the_json_tree_printed() {
    for (i, req) in crate::testing::rich_requests().iter().enumerate() {
        let old = legacy::request_body(req).to_string();
        let new = String::from_utf8(request::body_bytes(req).unwrap()).unwrap();
        assert_eq!(new, old, "request {i}");
        assert_eq!(request_body(req).to_string(), old, "request {i} as a Value");
    }
}
