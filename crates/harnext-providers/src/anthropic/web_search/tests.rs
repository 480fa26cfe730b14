//! Anthropic's server-side web search: the tool entry, the stream's blocks and events
//! (whole, cut anywhere, and from a hostile server), the history sent back exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use harnext_protocol::Message;
use harnext_protocol::Role;
use harnext_protocol::WebSearchStatus;
use serde_json::json;
use serde_json::Value;

use super::super::request_body;
use super::super::AnthropicParser;
use crate::http::WireParser;
use crate::testing::{fixtures_dir, parse_with, text_of};
use crate::ModelEvent;
use crate::ModelRequest;
use crate::ModelResponse;
use crate::ModelStopReason;
use crate::ProviderError;
use crate::UserLocation;
use crate::WebSearch;
use harnext_protocol::ContentBlock;

fn sse(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect()
}

fn parse(body: &str, sizes: &[usize]) -> (Vec<ModelEvent>, Result<ModelResponse, ProviderError>) {
    parse_with(AnthropicParser::default(), body.as_bytes(), sizes)
}

/// The blocks of a response with one search, as a whole (non-streamed) message has them.
fn search_block() -> Value {
    json!({"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search",
           "input": {"query": "rust 1.95 release date"}})
}

fn result_block() -> Value {
    json!({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01", "content": [
        {"type": "web_search_result", "url": "https://blog.rust-lang.org/2026/01/01/Rust-1.95.0.html",
         "title": "Announcing Rust 1.95.0", "encrypted_content": "EqgfCioIARgBIiQ3YTAwMjY1Mi1mZjM5LTQ1NGUtODgxNC1kNjNjNTk1ZWI3Y2MSDPC", "page_age": "2 days ago"},
        {"type": "web_search_result", "url": "https://releases.rs/", "title": "Rust releases",
         "encrypted_content": "Eo8BCioIAhgBIiQ0", "page_age": null}
    ]})
}

fn citation() -> Value {
    json!({"type": "web_search_result_location", "url": "https://blog.rust-lang.org/2026/01/01/Rust-1.95.0.html",
           "title": "Announcing Rust 1.95.0", "encrypted_index": "Eo8BCioIAhgBIiQyYjQ0OWJmZi1lNm",
           "cited_text": "The Rust team is happy to announce a new version of Rust, 1.95.0."})
}

fn cited_text_block() -> Value {
    json!({"type": "text", "text": "Rust 1.95 came out this week.", "citations": [citation()]})
}

/// The stream of that response: the query cut in three `input_json_delta`s, the results
/// whole at their start, the citation before the text, the search counted in the usage.
fn search_stream(stop_reason: &str) -> String {
    sse(&[
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
               "content": [], "usage": {"input_tokens": 2100, "output_tokens": 3}}}),
        json!({"type": "content_block_start", "index": 0, "content_block":
               {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me look."}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block":
               {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {}}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"query\": \"rust 1."}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "95 release"}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": " date\"}"}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "content_block_start", "index": 2, "content_block": result_block()}),
        json!({"type": "content_block_stop", "index": 2}),
        json!({"type": "content_block_start", "index": 3, "content_block": {"type": "text", "text": "", "citations": []}}),
        json!({"type": "content_block_delta", "index": 3, "delta": {"type": "citations_delta", "citation": citation()}}),
        json!({"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta", "text": "Rust 1.95 came out"}}),
        json!({"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta", "text": " this week."}}),
        json!({"type": "content_block_stop", "index": 3}),
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason},
               "usage": {"input_tokens": 2100, "output_tokens": 120, "server_tool_use": {"web_search_requests": 1}}}),
        json!({"type": "message_stop"}),
    ])
}

fn expected_content() -> Vec<Value> {
    vec![
        json!({"type": "text", "text": "Let me look."}),
        search_block(),
        result_block(),
        cited_text_block(),
    ]
}

fn request(messages: Vec<Message>, web_search: Option<WebSearch>) -> ModelRequest {
    ModelRequest {
        model: "claude-sonnet-4-5".into(),
        messages: messages.into(),
        web_search,
        ..ModelRequest::default()
    }
}

#[test]
fn the_tool_entry_is_exactly_the_server_tool_with_the_settings_given() {
    let body = request_body(&request(
        vec![Message::user_text("hi")],
        Some(WebSearch::default()),
    ));
    assert_eq!(
        body["tools"],
        json!([{"type": "web_search_20250305", "name": "web_search"}])
    );
    let every = WebSearch {
        max_uses: Some(3),
        allowed_domains: vec!["docs.rs".into(), "rust-lang.org".into()],
        blocked_domains: Vec::new(),
        user_location: Some(UserLocation {
            city: Some("Lyon".into()),
            region: None,
            country: Some("FR".into()),
            timezone: Some("Europe/Paris".into()),
        }),
    };
    let body = request_body(&request(vec![Message::user_text("hi")], Some(every)));
    assert_eq!(
        body["tools"],
        json!([{"type": "web_search_20250305", "name": "web_search", "max_uses": 3,
                "allowed_domains": ["docs.rs", "rust-lang.org"],
                "user_location": {"type": "approximate", "city": "Lyon", "country": "FR", "timezone": "Europe/Paris"}}])
    );
    let blocked = WebSearch {
        blocked_domains: vec!["example.com".into()],
        ..WebSearch::default()
    };
    let body = request_body(&request(vec![Message::user_text("hi")], Some(blocked)));
    assert_eq!(body["tools"][0]["blocked_domains"], json!(["example.com"]));
    assert!(body["tools"][0].get("allowed_domains").is_none());
    // Off: no tool at all.
    let body = request_body(&request(vec![Message::user_text("hi")], None));
    assert!(body.get("tools").is_none(), "{body}");
}

#[test]
fn the_api_refuses_allowed_and_blocked_domains_together_and_so_does_the_check() {
    let both = WebSearch {
        allowed_domains: vec!["a.com".into()],
        blocked_domains: vec!["b.com".into()],
        ..WebSearch::default()
    };
    let e = super::check(&both).unwrap_err();
    assert!(e.contains("allowed domains and blocked domains"), "{e}");
    assert!(super::check(&WebSearch::default()).is_ok());
}

#[test]
fn a_search_streams_as_events_and_its_blocks_are_kept_exactly_at_any_chunking() {
    let body = search_stream("end_turn");
    let (events, response) = parse(&body, &[body.len()]);
    let response = response.unwrap();
    let searches: Vec<&ModelEvent> = events
        .iter()
        .filter(|e| matches!(e, ModelEvent::WebSearch { .. }))
        .collect();
    assert_eq!(searches.len(), 2, "{events:?}");
    let ModelEvent::WebSearch {
        id, status, query, ..
    } = searches[0]
    else {
        unreachable!()
    };
    assert_eq!(
        (id.as_str(), *status, query.as_deref()),
        (
            "srvtoolu_01",
            WebSearchStatus::Searching,
            Some("rust 1.95 release date")
        )
    );
    let ModelEvent::WebSearch {
        status,
        query,
        results,
        error,
        ..
    } = searches[1]
    else {
        unreachable!()
    };
    assert_eq!(*status, WebSearchStatus::Completed);
    assert_eq!(query.as_deref(), Some("rust 1.95 release date"));
    assert_eq!(*error, None);
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].title.as_deref(), Some("Announcing Rust 1.95.0"));
    assert_eq!(results[0].page_age.as_deref(), Some("2 days ago"));
    assert_eq!(results[1].page_age, None);
    let citations: Vec<&ModelEvent> = events
        .iter()
        .filter(|e| matches!(e, ModelEvent::Citation { .. }))
        .collect();
    assert_eq!(
        citations,
        vec![&ModelEvent::Citation {
            url: "https://blog.rust-lang.org/2026/01/01/Rust-1.95.0.html".into(),
            title: Some("Announcing Rust 1.95.0".into()),
            cited_text: Some(
                "The Rust team is happy to announce a new version of Rust, 1.95.0.".into()
            ),
        }]
    );
    assert_eq!(
        text_of(&events),
        "Let me look.Rust 1.95 came out this week."
    );
    assert_eq!(response.usage.web_search_requests, 1);
    assert_eq!(response.stop_reason, ModelStopReason::EndTurn);
    // The blocks as the provider sent them, the cited text readable.
    let wire: Vec<Value> = response
        .content
        .iter()
        .map(|b| match b {
            ContentBlock::Text { text } => json!({"type": "text", "text": text}),
            ContentBlock::ProviderBlock { provider, data, .. } => {
                assert_eq!(provider, "anthropic");
                data.clone()
            }
            other => panic!("unexpected block {other:?}"),
        })
        .collect();
    assert_eq!(wire, expected_content());
    let message = Message {
        role: Role::Assistant,
        content: response.content.clone(),
    };
    assert_eq!(message.text(), "Let me look.Rust 1.95 came out this week.");

    let mut rng = fastrand::Rng::with_seed(18);
    for _ in 0..30 {
        let sizes: Vec<usize> = (0..8).map(|_| rng.usize(1..40)).collect();
        let (cut_events, cut) = parse(&body, &sizes);
        assert_eq!(cut.unwrap(), response, "sizes {sizes:?}");
        assert_eq!(
            cut_events
                .iter()
                .filter(|e| !matches!(e, ModelEvent::TextDelta(_) | ModelEvent::UsageUpdate(_)))
                .collect::<Vec<_>>(),
            events
                .iter()
                .filter(|e| !matches!(e, ModelEvent::TextDelta(_) | ModelEvent::UsageUpdate(_)))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn the_blocks_go_back_byte_for_byte_on_the_next_request_and_survive_a_json_round_trip() {
    let (_, response) = parse(&search_stream("end_turn"), &[7]);
    let history = vec![
        Message::user_text("When did Rust 1.95 come out?"),
        Message {
            role: Role::Assistant,
            content: response.unwrap().content,
        },
        Message::user_text("Thanks. And 1.96?"),
    ];
    // Through the session format (JSON) and back, as a resumed session has it.
    let stored = serde_json::to_string(&history).unwrap();
    let history: Vec<Message> = serde_json::from_str(&stored).unwrap();
    let body = request_body(&request(history, Some(WebSearch::default())));
    let sent = &body["messages"][1];
    assert_eq!(sent["role"], "assistant");
    assert_eq!(sent["content"], Value::Array(expected_content()));
    // Serialized, each block is the same bytes as the provider's own.
    for (i, block) in expected_content().iter().enumerate() {
        assert_eq!(
            serde_json::to_string(&sent["content"][i]).unwrap(),
            serde_json::to_string(block).unwrap()
        );
    }
}

#[test]
fn a_paused_turn_is_sent_back_as_the_last_message_without_a_cache_mark_on_its_blocks() {
    let (_, response) = parse(&search_stream("pause_turn"), &[64]);
    let response = response.unwrap();
    assert_eq!(response.stop_reason, ModelStopReason::PauseTurn);
    let history = vec![
        Message::user_text("Search please"),
        Message {
            role: Role::Assistant,
            content: response.content,
        },
    ];
    let body = request_body(&request(history, Some(WebSearch::default())));
    let last = body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "assistant");
    assert_eq!(last["content"], Value::Array(expected_content()));
}

#[test]
fn a_whole_json_message_gives_the_same_blocks_and_events_as_its_stream() {
    let message = json!({"id": "msg_1", "type": "message", "role": "assistant",
        "content": expected_content(), "stop_reason": "end_turn",
        "usage": {"input_tokens": 2100, "output_tokens": 120, "server_tool_use": {"web_search_requests": 1}}});
    let mut out = Vec::new();
    let from_json = AnthropicParser::default()
        .on_json(message, &mut out)
        .unwrap();
    let (streamed_events, streamed) = parse(&search_stream("end_turn"), &[100]);
    assert_eq!(from_json.content, streamed.unwrap().content);
    assert_eq!(from_json.usage.web_search_requests, 1);
    let kinds = |events: &[ModelEvent]| {
        events
            .iter()
            .filter_map(|e| match e {
                ModelEvent::WebSearch { status, query, .. } => {
                    Some(format!("search {} {query:?}", status.as_str()))
                }
                ModelEvent::Citation { url, .. } => Some(format!("citation {url}")),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds(&out), kinds(&streamed_events));
}

#[test]
fn the_recorded_stream_with_a_search_keeps_its_blocks_and_names_the_query() {
    let path = fixtures_dir().join("anthropic-sdk-typescript/sse/fable-stream-a-toolrefusal.sse");
    let body = std::fs::read_to_string(path).unwrap();
    let (events, response) = parse(&body, &[body.len()]);
    let response = response.unwrap();
    let searches: Vec<(WebSearchStatus, Option<String>, usize)> = events
        .iter()
        .filter_map(|e| match e {
            ModelEvent::WebSearch {
                status,
                query,
                results,
                ..
            } => Some((*status, query.clone(), results.len())),
            _ => None,
        })
        .collect();
    let query = Some("solar eclipse viewing safety news 2026".to_owned());
    assert_eq!(
        searches,
        vec![
            (WebSearchStatus::Searching, query.clone(), 0),
            (WebSearchStatus::Completed, query, 2)
        ]
    );
    let ContentBlock::ProviderBlock { data, .. } = &response.content[1] else {
        panic!("{:?}", response.content)
    };
    // Kept as received, fields harnext does not know (`caller`) included.
    assert_eq!(data["type"], "web_search_tool_result");
    assert_eq!(data["caller"], json!({"type": "direct"}));
    assert_eq!(
        response.content[0],
        ContentBlock::ProviderBlock {
            provider: "anthropic".into(),
            text: String::new(),
            data: json!({"type": "server_tool_use", "id": "srvtoolu_fixture_a_0001", "name": "web_search",
                         "input": {"query": "solar eclipse viewing safety news 2026"}}),
        }
    );
}

#[test]
fn a_hostile_server_gets_no_panic_and_no_broken_block_back() {
    // A query cut short, a result of an unknown shape, an error result, a citation that
    // is not an object, a delta for a block that does not exist, a huge result list.
    let many: Vec<Value> = (0..10_000)
        .map(|i| json!({"type": "web_search_result", "url": format!("https://e{i}.example/"), "title": "t", "encrypted_content": "x"}))
        .collect();
    let body = sse(&[
        json!({"type": "message_start", "message": {"usage": {"input_tokens": 1, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {}}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"query\": \"so"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "web_search_tool_result", "tool_use_id": "s1", "content": {"type": "something_new"}}}),
        json!({"type": "content_block_start", "index": 2, "content_block": {"type": "web_search_tool_result", "tool_use_id": "s2",
               "content": {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}}}),
        json!({"type": "content_block_start", "index": 3, "content_block": {"type": "web_search_tool_result", "tool_use_id": "s3", "content": many}}),
        json!({"type": "content_block_start", "index": 4, "content_block": {"type": "text", "text": "ok"}}),
        json!({"type": "content_block_delta", "index": 4, "delta": {"type": "citations_delta", "citation": "not an object"}}),
        json!({"type": "content_block_delta", "index": 9, "delta": {"type": "citations_delta", "citation": citation()}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta", "citation": citation()}}),
        json!({"type": "content_block_start", "index": 5, "content_block": {"type": "code_execution_tool_result", "tool_use_id": "x", "content": {}}}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5, "server_tool_use": {"web_search_requests": "lots"}}}),
        json!({"type": "message_stop"}),
    ]);
    let (events, response) = parse(&body, &[13]);
    let response = response.unwrap();
    let searches: Vec<(WebSearchStatus, Option<String>, usize, Option<String>)> = events
        .iter()
        .filter_map(|e| match e {
            ModelEvent::WebSearch {
                status,
                query,
                results,
                error,
                ..
            } => Some((*status, query.clone(), results.len(), error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        searches,
        vec![
            (WebSearchStatus::Searching, None, 0, None),
            (
                WebSearchStatus::Failed,
                None,
                0,
                Some("unrecognized result (something_new)".into())
            ),
            (
                WebSearchStatus::Failed,
                None,
                0,
                Some("max_uses_exceeded".into())
            ),
            (
                WebSearchStatus::Completed,
                None,
                super::MAX_EVENT_RESULTS,
                None
            ),
        ]
    );
    assert!(!events
        .iter()
        .any(|e| matches!(e, ModelEvent::Citation { .. })));
    // The cut input goes back as an empty object, never as broken JSON.
    let ContentBlock::ProviderBlock { data, .. } = &response.content[0] else {
        panic!()
    };
    assert_eq!(data["input"], json!({}));
    // The history keeps every result the provider sent.
    let ContentBlock::ProviderBlock { data, .. } = &response.content[3] else {
        panic!()
    };
    assert_eq!(data["content"].as_array().unwrap().len(), 10_000);
    assert_eq!(
        response.content[4],
        ContentBlock::Text { text: "ok".into() }
    );
    assert_eq!(
        response.content.len(),
        5,
        "the unknown block type is left out"
    );
    assert_eq!(response.usage.web_search_requests, 0);
}

#[test]
fn another_providers_blocks_go_as_text_or_not_at_all() {
    let history = vec![
        Message::user_text("q"),
        Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::ProviderBlock {
                    provider: "openai".into(),
                    text: String::new(),
                    data: json!({"type": "web_search_call", "id": "ws_1", "status": "completed"}),
                },
                ContentBlock::ProviderBlock {
                    provider: "openai".into(),
                    text: "Cited answer.".into(),
                    data: json!({"type": "message", "content": []}),
                },
            ],
        },
        Message::user_text("more"),
    ];
    let body = request_body(&request(history, None));
    assert_eq!(
        body["messages"][1]["content"],
        json!([{"type": "text", "text": "Cited answer."}])
    );
}
