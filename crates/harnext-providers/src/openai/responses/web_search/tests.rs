//! OpenAI's hosted web search on the Responses API: the tool entry, the stream's items
//! and events, the items sent back as received, and what a hostile server gets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use harnext_protocol::ContentBlock;
use harnext_protocol::Message;
use harnext_protocol::Role;
use serde_json::json;
use serde_json::Value;

use super::super::request_body;
use super::super::ResponsesParser;
use crate::openai::tests::parse_with;
use crate::openai::tests::text_of;
use crate::ModelEvent;
use crate::ModelRequest;
use crate::ModelResponse;
use crate::ModelStopReason;
use crate::ProviderError;
use crate::UserLocation;
use crate::WebSearch;

fn stream(payloads: &[Value]) -> String {
    let mut out = String::new();
    for (i, p) in payloads.iter().enumerate() {
        let mut p = p.clone();
        p["sequence_number"] = json!(i);
        out.push_str(&format!(
            "event: {}\ndata: {p}\n\n",
            p["type"].as_str().unwrap()
        ));
    }
    out
}

fn parse(body: &str, sizes: &[usize]) -> (Vec<ModelEvent>, Result<ModelResponse, ProviderError>) {
    parse_with(ResponsesParser::default(), body.as_bytes(), sizes)
}

const TEXT: &str = "Rust 1.95 was released on January 1 (blog.rust-lang.org).";

fn search_item() -> Value {
    json!({"id": "ws_68e4", "type": "web_search_call", "status": "completed",
           "action": {"type": "search", "query": "rust 1.95 release date",
                      "sources": [{"type": "url", "url": "https://blog.rust-lang.org/2026/01/01/Rust-1.95.0.html"},
                                  {"type": "url", "url": "https://releases.rs/"}]}})
}

fn message_item() -> Value {
    json!({"id": "msg_68e4", "type": "message", "status": "completed", "role": "assistant",
           "content": [{"type": "output_text", "text": TEXT, "logprobs": [],
                        "annotations": [{"type": "url_citation", "start_index": 0, "end_index": 35,
                                         "url": "https://blog.rust-lang.org/2026/01/01/Rust-1.95.0.html",
                                         "title": "Announcing Rust 1.95.0"}]}]})
}

fn search_stream() -> String {
    let message_added = json!({"id": "msg_68e4", "type": "message", "status": "in_progress", "role": "assistant", "content": []});
    stream(&[
        json!({"type": "response.created", "response": {"id": "resp_1", "status": "in_progress", "output": []}}),
        json!({"type": "response.output_item.added", "output_index": 0,
               "item": {"id": "ws_68e4", "type": "web_search_call", "status": "in_progress", "action": {"type": "search"}}}),
        json!({"type": "response.web_search_call.in_progress", "output_index": 0, "item_id": "ws_68e4"}),
        json!({"type": "response.web_search_call.searching", "output_index": 0, "item_id": "ws_68e4"}),
        json!({"type": "response.web_search_call.completed", "output_index": 0, "item_id": "ws_68e4"}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": search_item()}),
        json!({"type": "response.output_item.added", "output_index": 1, "item": message_added}),
        json!({"type": "response.content_part.added", "output_index": 1, "item_id": "msg_68e4", "content_index": 0,
               "part": {"type": "output_text", "text": "", "annotations": []}}),
        json!({"type": "response.output_text.delta", "output_index": 1, "item_id": "msg_68e4", "content_index": 0, "delta": &TEXT[..20]}),
        json!({"type": "response.output_text.delta", "output_index": 1, "item_id": "msg_68e4", "content_index": 0, "delta": &TEXT[20..]}),
        json!({"type": "response.output_text.annotation.added", "output_index": 1, "item_id": "msg_68e4", "content_index": 0,
               "annotation_index": 0, "annotation": message_item()["content"][0]["annotations"][0]}),
        json!({"type": "response.output_text.done", "output_index": 1, "item_id": "msg_68e4", "content_index": 0, "text": TEXT}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": message_item()}),
        json!({"type": "response.completed", "response": {"id": "resp_1", "status": "completed",
               "output": [search_item(), message_item()],
               "usage": {"input_tokens": 9000, "output_tokens": 40, "total_tokens": 9040,
                         "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}}}),
    ])
}

fn request(messages: Vec<Message>, web_search: Option<WebSearch>) -> ModelRequest {
    ModelRequest {
        model: "gpt-5".into(),
        messages: messages.into(),
        web_search,
        ..ModelRequest::default()
    }
}

#[test]
fn the_tool_entry_is_the_hosted_tool_and_the_sources_are_asked_for() {
    let body = request_body(&request(
        vec![Message::user_text("hi")],
        Some(WebSearch::default()),
    ));
    assert_eq!(body["tools"], json!([{"type": "web_search"}]));
    assert_eq!(body["include"], json!(["web_search_call.action.sources"]));
    let search = WebSearch {
        allowed_domains: vec!["docs.rs".into()],
        user_location: Some(UserLocation {
            country: Some("US".into()),
            city: Some("Boston".into()),
            ..UserLocation::default()
        }),
        ..WebSearch::default()
    };
    let body = request_body(&ModelRequest {
        thinking_budget: Some(4096),
        ..request(vec![Message::user_text("hi")], Some(search))
    });
    assert_eq!(
        body["tools"],
        json!([{"type": "web_search", "filters": {"allowed_domains": ["docs.rs"]},
                "user_location": {"type": "approximate", "city": "Boston", "country": "US"}}])
    );
    assert_eq!(
        body["include"],
        json!([
            "reasoning.encrypted_content",
            "web_search_call.action.sources"
        ])
    );
    let body = request_body(&request(vec![Message::user_text("hi")], None));
    assert!(
        body.get("tools").is_none() && body.get("include").is_none(),
        "{body}"
    );
}

#[test]
fn what_the_hosted_tool_cannot_do_is_refused() {
    let e = super::check(&WebSearch {
        max_uses: Some(2),
        ..WebSearch::default()
    })
    .unwrap_err();
    assert!(e.contains("maxUses / max_uses"), "{e}");
    let e = super::check(&WebSearch {
        blocked_domains: vec!["x.com".into()],
        ..WebSearch::default()
    })
    .unwrap_err();
    assert!(e.contains("cannot block domains"), "{e}");
    assert!(super::check(&WebSearch {
        allowed_domains: vec!["a.com".into()],
        ..WebSearch::default()
    })
    .is_ok());
}

#[test]
fn a_search_and_a_cited_reply_stream_as_events_and_their_items_are_kept_verbatim() {
    let body = search_stream();
    let (events, response) = parse(&body, &[body.len()]);
    let response = response.unwrap();
    let shown: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            ModelEvent::WebSearch {
                id,
                status,
                query,
                results,
                ..
            } => Some(format!(
                "{id} {} {query:?} {}",
                status.as_str(),
                results
                    .iter()
                    .map(|r| r.url.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )),
            ModelEvent::Citation {
                url,
                title,
                cited_text,
            } => Some(format!("cite {url} {title:?} {cited_text:?}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            "ws_68e4 searching None ".to_owned(),
            "ws_68e4 completed Some(\"rust 1.95 release date\") https://blog.rust-lang.org/2026/01/01/Rust-1.95.0.html,https://releases.rs/".to_owned(),
            "cite https://blog.rust-lang.org/2026/01/01/Rust-1.95.0.html Some(\"Announcing Rust 1.95.0\") Some(\"Rust 1.95 was released on January 1\")".to_owned(),
        ]
    );
    assert_eq!(text_of(&events), TEXT);
    assert_eq!(response.stop_reason, ModelStopReason::EndTurn);
    assert_eq!(response.usage.web_search_requests, 1);
    assert_eq!(
        response.content,
        vec![
            ContentBlock::ProviderBlock {
                provider: "openai".into(),
                text: String::new(),
                data: search_item(),
            },
            ContentBlock::ProviderBlock {
                provider: "openai".into(),
                text: TEXT.into(),
                data: message_item(),
            },
        ]
    );
    let mut rng = fastrand::Rng::with_seed(18);
    for _ in 0..20 {
        let sizes: Vec<usize> = (0..6).map(|_| rng.usize(1..50)).collect();
        assert_eq!(parse(&body, &sizes).1.unwrap(), response, "{sizes:?}");
    }
}

#[test]
fn the_items_go_back_as_input_items_exactly_and_a_json_response_gives_the_same() {
    let (_, response) = parse(&search_stream(), &[33]);
    let history = vec![
        Message::user_text("When did Rust 1.95 come out?"),
        Message {
            role: Role::Assistant,
            content: response.unwrap().content,
        },
        Message::user_text("And 1.96?"),
    ];
    let history: Vec<Message> =
        serde_json::from_str(&serde_json::to_string(&history).unwrap()).unwrap();
    let body = request_body(&request(history, Some(WebSearch::default())));
    let input = body["input"].as_array().unwrap();
    assert_eq!(input.len(), 4, "{body}");
    assert_eq!(input[1], search_item());
    assert_eq!(input[2], message_item());
    assert_eq!(input[3], json!({"role": "user", "content": "And 1.96?"}));

    // The same response as one JSON object.
    let whole = json!({"id": "resp_1", "object": "response", "status": "completed",
        "output": [search_item(), message_item()], "usage": {"input_tokens": 9000, "output_tokens": 40}});
    let mut out = Vec::new();
    let r =
        crate::http::WireParser::on_json(&mut ResponsesParser::default(), whole, &mut out).unwrap();
    assert_eq!(r.content.len(), 2);
    assert_eq!(r.usage.web_search_requests, 1);
    assert_eq!(
        out.iter()
            .filter(|e| matches!(
                e,
                ModelEvent::Citation { .. } | ModelEvent::WebSearch { .. }
            ))
            .count(),
        2
    );
}

#[test]
fn a_hostile_server_gets_no_panic_and_odd_items_are_read_leniently() {
    // A failed search, one without an action, an annotation past the end of the text,
    // one that is not a url_citation, sources that are not objects.
    let failed = json!({"id": "ws_f", "type": "web_search_call", "status": "failed", "action": {"type": "search", "query": "q"}});
    let bare = json!({"id": "ws_b", "type": "web_search_call", "status": "completed"});
    let odd = json!({"id": "ws_o", "type": "web_search_call", "status": "completed",
                     "action": {"type": "open_page", "url": "https://a.example/", "sources": [1, "x", null]}});
    let message = json!({"id": "m", "type": "message", "role": "assistant", "status": "completed",
        "content": [{"type": "output_text", "text": "short", "annotations": [
            {"type": "url_citation", "start_index": 2, "end_index": 999, "url": "https://b.example/"},
            {"type": "file_citation", "file_id": "f", "index": 0},
            {"type": "url_citation", "start_index": "0", "end_index": 1}]}]});
    let body = stream(&[
        json!({"type": "response.output_item.done", "output_index": 0, "item": failed}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": bare}),
        json!({"type": "response.output_item.done", "output_index": 2, "item": odd}),
        json!({"type": "response.output_item.done", "output_index": 3, "item": message}),
        json!({"type": "response.web_search_call.searching"}),
        json!({"type": "response.completed", "response": {"status": "completed", "output": [], "usage": {"input_tokens": 1, "output_tokens": 1}}}),
    ]);
    let (events, response) = parse(&body, &[5]);
    let response = response.unwrap();
    let shown: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            ModelEvent::WebSearch {
                id,
                status,
                query,
                results,
                error,
            } => Some(format!(
                "{id} {} {query:?} {} {error:?}",
                status.as_str(),
                results.len()
            )),
            ModelEvent::Citation {
                url, cited_text, ..
            } => Some(format!("cite {url} {cited_text:?}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            "ws_f failed Some(\"q\") 0 Some(\"failed\")",
            "ws_b completed None 0 None",
            "ws_o completed None 1 None",
            "cite https://b.example/ None",
        ]
    );
    // Failed searches are kept (the API wants them back) but not billed.
    assert_eq!(response.usage.web_search_requests, 2);
    assert_eq!(response.content.len(), 4);
    assert_eq!(
        Message {
            role: Role::Assistant,
            content: response.content
        }
        .text(),
        "short"
    );
}
