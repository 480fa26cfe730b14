#![allow(clippy::unwrap_used, clippy::expect_used)]

//! There are no recorded Responses `.sse` files among the shared fixtures, so the
//! streams here are built from the recorded payloads quoted in
//! `shared/notes/provider-wire-formats.md` §3 (gpt-5.1-codex-max agent loop, the spec's
//! streaming example, LM Studio's function calls without argument deltas and its
//! `reasoning_text` deltas, GitHub Copilot's rotating item ids, the real nested
//! `insufficient_quota` error followed by `response.failed`, the spec's flat error),
//! framed as the API frames them: `event: <type>` + `data: <json>` + blank line.

use harnext_protocol::ErrorCode;
use harnext_protocol::ToolStatus;
use serde_json::json;

use super::*;
use crate::openai::tests::assert_chunking_invariant;
use crate::openai::tests::parse_with;
use crate::openai::tests::text_of;
use crate::openai::tests::thinking_of;
use crate::ModelEvent;
use crate::ModelResponse;
use crate::ModelStopReason;
use crate::ToolSpec;
use harnext_protocol::{ContentBlock, Message, Role, Usage};
use serde_json::Value;

/// Frames payloads as a Responses stream, numbering `sequence_number` from 0.
fn stream(payloads: &[Value]) -> String {
    let mut out = String::new();
    for (i, p) in payloads.iter().enumerate() {
        let mut p = p.clone();
        let kind = p["type"].as_str().unwrap().to_owned();
        if p.get("sequence_number").is_none() {
            p["sequence_number"] = json!(i);
        }
        out.push_str(&format!("event: {kind}\ndata: {p}\n\n"));
    }
    out
}

fn lifecycle(kind: &str, status: &str, output: Value, usage: Value) -> Value {
    json!({"type": kind, "response": {
        "id": "resp_01830d662ab0f6e90169", "object": "response", "created_at": 1765552660,
        "status": status, "model": "gpt-5.1-codex-max", "output": output, "usage": usage}})
}

fn created() -> [Value; 2] {
    [
        lifecycle("response.created", "in_progress", json!([]), Value::Null),
        lifecycle(
            "response.in_progress",
            "in_progress",
            json!([]),
            Value::Null,
        ),
    ]
}

const RS_ID: &str = "rs_01830d662ab0f6e9016938a1f61a8c8190b0c5b3a6a4d1e2f3";
const FC_ID: &str = "fc_01830d662ab0f6e9016938a1f7e5a48190a7f1a8f7c9d3e5b1";
const ENC_ADDED: &str = "gAAAAABpPDIU-partial";
const ENC_DONE: &str = "gAAAAABpPDIVx1yZ3-complete-encrypted-reasoning==";

/// The agent-loop turn 1 of the notes: reasoning with summary deltas (and obfuscation),
/// then a `calculator` call with argument deltas, then `response.completed`.
fn function_call_turn() -> String {
    let summary = [
        "**Calcul",
        "ating step",
        "-by-step",
        " using calculator**",
        "\n\n",
        "I need",
        " to add",
        " 12 and 7",
        " with the",
        " calculator tool.",
    ];
    let summary_text: String = summary.concat();
    let args = [
        "{\"", "a", "\":", "12", ",\"", "b", "\":", "7", ",\"", "op", "\":\"", "add", "\"}",
    ];
    let mut p = created().to_vec();
    p.push(json!({"type":"response.output_item.added","output_index":0,"item":{"id":RS_ID,"type":"reasoning","encrypted_content":ENC_ADDED,"summary":[]}}));
    p.push(json!({"type":"response.reasoning_summary_part.added","item_id":RS_ID,"output_index":0,"summary_index":0,"part":{"type":"summary_text","text":""}}));
    for d in summary {
        p.push(json!({"type":"response.reasoning_summary_text.delta","item_id":RS_ID,"output_index":0,"summary_index":0,"delta":d,"obfuscation":"2ajSAGID"}));
    }
    p.push(json!({"type":"response.reasoning_summary_text.done","item_id":RS_ID,"output_index":0,"summary_index":0,"text":summary_text}));
    p.push(json!({"type":"response.reasoning_summary_part.done","item_id":RS_ID,"output_index":0,"summary_index":0,"part":{"type":"summary_text","text":summary_text}}));
    let reasoning_item = json!({"id":RS_ID,"type":"reasoning","encrypted_content":ENC_DONE,"summary":[{"type":"summary_text","text":summary_text}]});
    p.push(json!({"type":"response.output_item.done","output_index":0,"item":reasoning_item}));
    p.push(json!({"type":"response.output_item.added","output_index":1,"item":{"id":FC_ID,"type":"function_call","status":"in_progress","arguments":"","call_id":"call_AB6AaRZ1FYZB2RwS6A5vbdqn","name":"calculator"}}));
    for d in args {
        p.push(json!({"type":"response.function_call_arguments.delta","item_id":FC_ID,"output_index":1,"delta":d,"obfuscation":"hKtg6o5cWUSdCa"}));
    }
    // As on api.openai.com: no `name` in `.done`.
    p.push(json!({"type":"response.function_call_arguments.done","item_id":FC_ID,"output_index":1,"arguments":"{\"a\":12,\"b\":7,\"op\":\"add\"}"}));
    let call_item = json!({"id":FC_ID,"type":"function_call","status":"completed","arguments":"{\"a\":12,\"b\":7,\"op\":\"add\"}","call_id":"call_AB6AaRZ1FYZB2RwS6A5vbdqn","name":"calculator"});
    p.push(json!({"type":"response.output_item.done","output_index":1,"item":call_item}));
    p.push(lifecycle(
        "response.completed",
        "completed",
        json!([reasoning_item, call_item]),
        json!({"input_tokens":134,"input_tokens_details":{"cached_tokens":0},"output_tokens":28,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":162}),
    ));
    stream(&p)
}

/// The text path of the spec example and agent-loop turn 4, with cached input and
/// reasoning tokens in the usage.
fn text_turn(done_marker: bool) -> String {
    let msg = "msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654";
    let deltas = ["Hi", " there", "! The", " sum is", " 19."];
    let text: String = deltas.concat();
    let part = |t: &str| json!({"type":"output_text","text":t,"annotations":[]});
    let mut p = created().to_vec();
    p.push(json!({"type":"response.output_item.added","output_index":0,"item":{"id":msg,"type":"message","status":"in_progress","role":"assistant","content":[]}}));
    p.push(json!({"type":"response.content_part.added","item_id":msg,"output_index":0,"content_index":0,"part":part("")}));
    for d in deltas {
        p.push(json!({"type":"response.output_text.delta","item_id":msg,"output_index":0,"content_index":0,"delta":d,"logprobs":[]}));
    }
    p.push(json!({"type":"response.output_text.done","item_id":msg,"output_index":0,"content_index":0,"text":text,"logprobs":[]}));
    p.push(json!({"type":"response.content_part.done","item_id":msg,"output_index":0,"content_index":0,"part":part(&text)}));
    let item = json!({"id":msg,"type":"message","status":"completed","role":"assistant","content":[part(&text)]});
    p.push(json!({"type":"response.output_item.done","output_index":0,"item":item}));
    p.push(lifecycle(
        "response.completed",
        "completed",
        json!([item]),
        json!({"input_tokens":2000,"input_tokens_details":{"cached_tokens":1536},"output_tokens":320,"output_tokens_details":{"reasoning_tokens":256},"total_tokens":2320}),
    ));
    let mut s = stream(&p);
    if done_marker {
        s.push_str("data: [DONE]\n\n");
    }
    s
}

/// LM Studio: reasoning as `response.reasoning_text.delta`, and a function call with no
/// argument deltas at all, its arguments only in `.done` and `output_item.done`.
fn lm_studio_turn(with_arguments_done: bool) -> String {
    let mut p = created().to_vec();
    p.push(json!({"type":"response.output_item.added","output_index":0,"item":{"id":"rs_lms_1","type":"reasoning","summary":[],"content":[]}}));
    for d in ["The user", " wants", " the file", " listed."] {
        p.push(json!({"type":"response.reasoning_text.delta","item_id":"rs_lms_1","output_index":0,"content_index":0,"delta":d}));
    }
    p.push(json!({"type":"response.reasoning_text.done","item_id":"rs_lms_1","output_index":0,"content_index":0,"text":"The user wants the file listed."}));
    let rs_item = json!({"id":"rs_lms_1","type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"The user wants the file listed."}]});
    p.push(json!({"type":"response.output_item.done","output_index":0,"item":rs_item}));
    p.push(json!({"type":"response.output_item.added","output_index":1,"item":{"id":"fc_lms_1","type":"function_call","call_id":"call_lms_1","name":"bash","arguments":"","status":"in_progress"}}));
    if with_arguments_done {
        p.push(json!({"type":"response.function_call_arguments.done","item_id":"fc_lms_1","output_index":1,"arguments":"{\"command\":\"ls -la\"}"}));
    }
    let fc_item = json!({"id":"fc_lms_1","type":"function_call","call_id":"call_lms_1","name":"bash","arguments":"{\"command\":\"ls -la\"}","status":"completed"});
    p.push(json!({"type":"response.output_item.done","output_index":1,"item":fc_item}));
    p.push(lifecycle(
        "response.completed",
        "completed",
        json!([rs_item, fc_item]),
        json!({"input_tokens":812,"input_tokens_details":{"cached_tokens":0},"output_tokens":40,"output_tokens_details":{"reasoning_tokens":12},"total_tokens":852}),
    ));
    stream(&p)
}

/// GitHub Copilot's proxy: a new item id on every event. Only `output_index` is stable.
fn rotating_ids_turn() -> String {
    let mut n = 0;
    let mut id = |prefix: &str| {
        n += 1;
        format!("{prefix}_rot{n:04}")
    };
    let mut p = created().to_vec();
    p.push(json!({"type":"response.output_item.added","output_index":0,"item":{"id":id("msg"),"type":"message","status":"in_progress","role":"assistant","content":[]}}));
    for d in ["Let me ", "check."] {
        p.push(json!({"type":"response.output_text.delta","item_id":id("msg"),"output_index":0,"content_index":0,"delta":d}));
    }
    p.push(json!({"type":"response.output_item.done","output_index":0,"item":{"id":id("msg"),"type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Let me check.","annotations":[]}]}}));
    p.push(json!({"type":"response.output_item.added","output_index":1,"item":{"id":id("fc"),"type":"function_call","status":"in_progress","arguments":"","call_id":"call_rot","name":"read_file"}}));
    for d in ["{\"path\"", ":\"src/", "main.rs\"}"] {
        p.push(json!({"type":"response.function_call_arguments.delta","item_id":id("fc"),"output_index":1,"delta":d}));
    }
    p.push(json!({"type":"response.output_item.added","output_index":2,"item":{"id":id("fc"),"type":"function_call","status":"in_progress","arguments":"","call_id":"call_rot2","name":"bash"}}));
    for d in ["{\"command\"", ":\"ls\"}"] {
        p.push(json!({"type":"response.function_call_arguments.delta","item_id":id("fc"),"output_index":2,"delta":d}));
    }
    p.push(json!({"type":"response.output_item.done","output_index":1,"item":{"id":id("fc"),"type":"function_call","status":"completed","arguments":"{\"path\":\"src/main.rs\"}","call_id":"call_rot","name":"read_file"}}));
    p.push(json!({"type":"response.output_item.done","output_index":2,"item":{"id":id("fc"),"type":"function_call","status":"completed","arguments":"{\"command\":\"ls\"}","call_id":"call_rot2","name":"bash"}}));
    p.push(lifecycle(
        "response.completed",
        "completed",
        Value::Null,
        json!({"input_tokens":50,"input_tokens_details":{"cached_tokens":0},"output_tokens":30,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":80}),
    ));
    stream(&p)
}

/// The real `insufficient_quota` capture: a nested `error` event, then `response.failed`.
fn quota_error_turn() -> String {
    let message = "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.";
    let mut p = created().to_vec();
    p.push(json!({"type":"error","sequence_number":2,"error":{"type":"insufficient_quota","code":"insufficient_quota","message":message,"param":null}}));
    p.push(json!({"type":"response.failed","sequence_number":3,"response":{"id":"resp_q","object":"response","status":"failed","error":{"code":"insufficient_quota","message":message},"output":[],"usage":null}}));
    stream(&p)
}

fn parse(body: &str) -> (Vec<ModelEvent>, Result<ModelResponse, ProviderError>) {
    parse_with(ResponsesParser::default(), body.as_bytes(), &[7])
}

#[test]
fn every_built_stream_parses_the_same_at_arbitrary_chunk_boundaries() {
    let streams = [
        ("function call", function_call_turn()),
        ("text", text_turn(false)),
        ("text + [DONE]", text_turn(true)),
        ("lm studio", lm_studio_turn(true)),
        ("lm studio, output_item.done only", lm_studio_turn(false)),
        ("rotating ids", rotating_ids_turn()),
        ("quota error", quota_error_turn()),
    ];
    for (name, body) in streams {
        let (events, resp) = assert_chunking_invariant(name, &body, ResponsesParser::default);
        if let Ok(resp) = resp {
            // The streamed text adds up to the message's text blocks.
            let blocks: String = resp
                .content
                .iter()
                .filter_map(|b| match b {
                    ContentBlock::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(text_of(&events), blocks, "{name}");
        }
    }
}

#[test]
fn function_call_with_argument_deltas_and_reasoning_keeps_the_encrypted_item() {
    let (events, resp) = parse(&function_call_turn());
    let resp = resp.unwrap();
    assert_eq!(resp.stop_reason, ModelStopReason::ToolUse);
    assert_eq!(resp.content.len(), 2, "{:?}", resp.content);
    let ContentBlock::OpaqueReasoning {
        provider,
        text,
        data,
    } = &resp.content[0]
    else {
        panic!("{:?}", resp.content[0])
    };
    assert_eq!(provider, "openai");
    assert!(text.starts_with("**Calculating step-by-step using calculator**\n\nI need"));
    assert_eq!(&thinking_of(&events), text);
    // The complete item from output_item.done, not the partial one from .added.
    assert_eq!(data["encrypted_content"], ENC_DONE);
    assert_eq!(data["id"], RS_ID);
    assert_eq!(
        resp.content[1],
        ContentBlock::ToolUse {
            id: "call_AB6AaRZ1FYZB2RwS6A5vbdqn".into(),
            name: "calculator".into(),
            input: json!({"a": 12, "b": 7, "op": "add"}),
        }
    );
    assert_eq!(
        resp.usage,
        Usage {
            input_tokens: 134,
            output_tokens: 28,
            ..Usage::default()
        }
    );
    assert!(resp.invalid_tool_inputs.is_empty());
}

#[test]
fn usage_subtracts_cached_input_and_counts_reasoning_tokens() {
    for done in [false, true] {
        let (events, resp) = parse(&text_turn(done));
        let resp = resp.unwrap();
        let want = Usage {
            input_tokens: 2000 - 1536,
            output_tokens: 320,
            cache_read_tokens: 1536,
            cache_write_tokens: 0,
            reasoning_tokens: 256,
            unreported: false,
            web_search_requests: 0,
        };
        assert_eq!(resp.usage, want);
        assert_eq!(events.last(), Some(&ModelEvent::UsageUpdate(want)));
        assert_eq!(resp.stop_reason, ModelStopReason::EndTurn);
        assert_eq!(
            resp.content,
            vec![ContentBlock::Text {
                text: "Hi there! The sum is 19.".into()
            }]
        );
        // Five deltas, not repeated by output_text.done or output_item.done.
        let deltas = events
            .iter()
            .filter(|e| matches!(e, ModelEvent::TextDelta(_)))
            .count();
        assert_eq!(deltas, 5);
    }
}

#[test]
fn function_calls_without_argument_deltas_and_reasoning_text_deltas_are_read() {
    for with_done in [true, false] {
        let (events, resp) = parse(&lm_studio_turn(with_done));
        let resp = resp.unwrap();
        assert_eq!(thinking_of(&events), "The user wants the file listed.");
        // No encrypted content: plain, unsigned thinking (never sent back).
        assert_eq!(
            resp.content[0],
            ContentBlock::Thinking {
                thinking: "The user wants the file listed.".into(),
                signature: None
            }
        );
        assert_eq!(
            resp.content[1],
            ContentBlock::ToolUse {
                id: "call_lms_1".into(),
                name: "bash".into(),
                input: json!({"command": "ls -la"}),
            }
        );
        assert_eq!(resp.usage.reasoning_tokens, 12);
    }
}

#[test]
fn state_is_kept_by_output_index_when_a_proxy_rotates_item_ids() {
    let (events, resp) = parse(&rotating_ids_turn());
    let resp = resp.unwrap();
    assert_eq!(text_of(&events), "Let me check.");
    assert_eq!(
        resp.content,
        vec![
            ContentBlock::Text {
                text: "Let me check.".into()
            },
            ContentBlock::ToolUse {
                id: "call_rot".into(),
                name: "read_file".into(),
                input: json!({"path": "src/main.rs"}),
            },
            ContentBlock::ToolUse {
                id: "call_rot2".into(),
                name: "bash".into(),
                input: json!({"command": "ls"}),
            },
        ]
    );
}

#[test]
fn nested_error_then_response_failed_is_a_non_retryable_auth_error() {
    let (_, resp) = parse(&quota_error_turn());
    let err = resp.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Auth);
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("exceeded your current quota"),
        "{err}"
    );
}

#[test]
fn flat_error_events_and_response_failed_alone_are_stream_errors() {
    let mut p = created().to_vec();
    p.push(json!({"type":"error","code":"ERR_SOMETHING","message":"Something went wrong","param":null,"sequence_number":1}));
    let (_, resp) = parse(&stream(&p));
    let err = resp.unwrap_err();
    assert!(
        matches!(err, ProviderError::Stream { ref kind, .. } if kind == "ERR_SOMETHING"),
        "{err:?}"
    );
    assert!(err.to_string().contains("Something went wrong"));

    let mut p = created().to_vec();
    p.push(json!({"type":"response.output_item.added","output_index":0,"item":{"id":"m","type":"message","role":"assistant","content":[]}}));
    p.push(json!({"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":"Part"}));
    p.push(json!({"type":"response.failed","response":{"id":"r","status":"failed","error":{"code":"server_error","message":"The model failed to generate a response."},"usage":{"input_tokens":10,"output_tokens":1}}}));
    let (events, resp) = parse(&stream(&p));
    assert_eq!(text_of(&events), "Part");
    // The usage of the failed call is still reported.
    assert!(events
        .iter()
        .any(|e| matches!(e, ModelEvent::UsageUpdate(u) if u.input_tokens == 10)));
    let err = resp.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Server);
    assert!(err.is_retryable());

    let mut p = created().to_vec();
    p.push(json!({"type":"response.failed","response":{"id":"r","status":"failed","error":{"code":"rate_limit_exceeded","message":"slow down"}}}));
    assert_eq!(
        parse(&stream(&p)).1.unwrap_err().code(),
        ErrorCode::RateLimit
    );
}

#[test]
fn response_incomplete_at_max_output_tokens_marks_the_cut_call_invalid() {
    let mut p = created().to_vec();
    p.push(json!({"type":"response.output_item.added","output_index":0,"item":{"id":"fc_1","type":"function_call","status":"in_progress","arguments":"","call_id":"call_cut","name":"write_file"}}));
    p.push(json!({"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":0,"delta":"{\"path\":\"a.txt\",\"content\":\"hel"}));
    p.push(lifecycle(
        "response.incomplete",
        "incomplete",
        json!([]),
        json!({"input_tokens":20,"input_tokens_details":{"cached_tokens":0},"output_tokens":16,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":36}),
    ));
    let body = stream(&p).replace(
        "\"status\":\"incomplete\"",
        "\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"}",
    );
    let (_, resp) = parse(&body);
    let resp = resp.unwrap();
    assert_eq!(resp.stop_reason, ModelStopReason::MaxTokens);
    assert_eq!(resp.usage.output_tokens, 16);
    let ContentBlock::ToolUse { id, input, .. } = &resp.content[0] else {
        panic!("{:?}", resp.content)
    };
    assert_eq!(id, "call_cut");
    assert_eq!(input, &json!({}));
    assert!(resp.invalid_tool_inputs[id].contains("not valid JSON"));
}

#[test]
fn a_stream_cut_before_its_terminal_event_is_a_network_error() {
    let full = function_call_turn();
    let cut = &full[..full
        .find("event: response.function_call_arguments.done")
        .unwrap()];
    let (events, resp) = parse(cut);
    assert!(!thinking_of(&events).is_empty());
    assert_eq!(resp.unwrap_err().code(), ErrorCode::Network);
    // `[DONE]` before `response.completed` while an item is still open is no ending either.
    let (_, resp) = parse(&format!("{cut}data: [DONE]\n\n"));
    assert_eq!(resp.unwrap_err().code(), ErrorCode::Network);
}

#[test]
fn items_seen_only_in_the_final_response_output_are_emitted() {
    let mut p = created().to_vec();
    p.push(lifecycle(
        "response.completed",
        "completed",
        json!([{"id":"m1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"All at once.","annotations":[]}]}]),
        json!({"input_tokens":5,"output_tokens":3}),
    ));
    let (events, resp) = parse(&stream(&p));
    assert_eq!(text_of(&events), "All at once.");
    assert_eq!(
        resp.unwrap().content,
        vec![ContentBlock::Text {
            text: "All at once.".into()
        }]
    );
}

#[test]
fn unknown_events_and_item_types_are_ignored_and_summary_parts_are_paragraphs() {
    let mut p = created().to_vec();
    // (Web search items are kept: see `web_search::tests`; file search is not used.)
    p.push(json!({"type":"response.output_item.added","output_index":0,"item":{"id":"fs_1","type":"file_search_call","status":"in_progress"}}));
    p.push(json!({"type":"response.file_search_call.searching","output_index":0,"item_id":"fs_1"}));
    p.push(json!({"type":"response.output_item.done","output_index":0,"item":{"id":"fs_1","type":"file_search_call","status":"completed"}}));
    p.push(json!({"type":"response.output_item.added","output_index":1,"item":{"id":"rs","type":"reasoning","summary":[]}}));
    p.push(json!({"type":"response.reasoning_summary_text.delta","item_id":"rs","output_index":1,"summary_index":0,"delta":"First."}));
    p.push(json!({"type":"response.reasoning_summary_text.delta","item_id":"rs","output_index":1,"summary_index":1,"delta":"Second."}));
    p.push(json!({"type":"response.something_new","foo":1}));
    p.push(lifecycle(
        "response.completed",
        "completed",
        Value::Null,
        Value::Null,
    ));
    let (events, resp) = parse(&stream(&p));
    assert_eq!(thinking_of(&events), "First.\n\nSecond.");
    assert_eq!(
        resp.unwrap().content,
        vec![ContentBlock::Thinking {
            thinking: "First.\n\nSecond.".into(),
            signature: None
        }]
    );
}

#[test]
fn mock_rendered_turns_parse_back_to_the_script() {
    use harnext_mock::render_turn;
    use harnext_mock::WireFormat;
    use harnext_protocol::ScriptedToolCall;
    use harnext_protocol::ScriptedTurn;
    use harnext_protocol::ScriptedUsage;
    let turn = ScriptedTurn {
        thinking: Some("Think  first.\nThen act.".into()),
        text: Some("Creating é/日本.txt now.".into()),
        tool_calls: vec![ScriptedToolCall {
            id: Some("call_x".into()),
            name: "write_file".into(),
            args: json!({"path": "é/日本.txt", "content": "a\nb"}),
        }],
        usage: Some(ScriptedUsage {
            input_tokens: 100,
            output_tokens: 40,
            cache_read_tokens: 60,
            cache_write_tokens: 0,
            reasoning_tokens: 9,
        }),
        delay_ms: None,
    };
    let body = render_turn(WireFormat::OpenAiResponses, &turn, None, "gpt-test");
    let (events, resp) = assert_chunking_invariant("mock", &body, ResponsesParser::default);
    let resp = resp.unwrap();
    assert_eq!(thinking_of(&events), "Think  first.\nThen act.");
    assert_eq!(text_of(&events), "Creating é/日本.txt now.");
    assert_eq!(
        resp.usage,
        Usage {
            input_tokens: 100,
            output_tokens: 40,
            cache_read_tokens: 60,
            cache_write_tokens: 0,
            reasoning_tokens: 9,
            unreported: false,
            web_search_requests: 0,
        }
    );
    assert!(
        matches!(&resp.content[0], ContentBlock::OpaqueReasoning { data, .. } if data["encrypted_content"].is_string())
    );
    assert_eq!(
        resp.content[2],
        ContentBlock::ToolUse {
            id: "call_x".into(),
            name: "write_file".into(),
            input: json!({"path": "é/日本.txt", "content": "a\nb"}),
        }
    );
    let body = render_turn(WireFormat::OpenAiResponses, &turn, Some("max_tokens"), "m");
    assert_eq!(
        parse(&body).1.unwrap().stop_reason,
        ModelStopReason::MaxTokens
    );
}

fn request_with(messages: Vec<Message>) -> ModelRequest {
    ModelRequest {
        model: "gpt-5".into(),
        system: "be brief".into(),
        messages: messages.into(),
        tools: vec![ToolSpec {
            name: "bash".into(),
            description: "run".into(),
            input_schema: json!({"type": "object", "properties": {"command": {"type": "string"}}})
                .into(),
        }]
        .into(),
        max_output_tokens: Some(2048),
        temperature: None,
        thinking_budget: Some(4096),
        output: None,
        web_search: None,
    }
}

#[test]
fn request_body_is_stateless_with_flat_tools_instructions_and_reasoning() {
    let body = request_body(&request_with(vec![Message::user_text("hi")]));
    assert_eq!(body["model"], "gpt-5");
    assert_eq!(body["instructions"], "be brief");
    assert_eq!(body["store"], json!(false));
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["max_output_tokens"], json!(2048));
    assert_eq!(
        body["reasoning"],
        json!({"effort": "medium", "summary": "auto"})
    );
    assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(
        body["tools"][0],
        json!({"type": "function", "name": "bash", "description": "run",
               "parameters": {"type": "object", "properties": {"command": {"type": "string"}}},
               "strict": false})
    );
    assert_eq!(body["input"], json!([{"role": "user", "content": "hi"}]));
    assert!(body.get("temperature").is_none());

    let mut req = request_with(vec![Message::user_text("hi")]);
    req.thinking_budget = None;
    req.max_output_tokens = None;
    req.temperature = Some(0.3);
    req.system.clear();
    let body = request_body(&req);
    assert!(body.get("reasoning").is_none() && body.get("include").is_none());
    assert!(body.get("max_output_tokens").is_none() && body.get("instructions").is_none());
    assert_eq!(body["temperature"], json!(0.3));
}

#[test]
fn history_goes_out_in_order_with_our_reasoning_and_without_anthropic_thinking() {
    let ours = json!({"id": RS_ID, "type": "reasoning", "status": "completed",
                      "encrypted_content": ENC_DONE,
                      "summary": [{"type": "summary_text", "text": "plan"}]});
    let history = vec![
        Message::user_text("list files"),
        Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Thinking {
                    thinking: "anthropic thought".into(),
                    signature: Some("EvQBCkYI".into()),
                },
                ContentBlock::RedactedThinking { data: "xyz".into() },
                ContentBlock::OpaqueReasoning {
                    provider: "openai".into(),
                    text: "plan".into(),
                    data: ours,
                },
                ContentBlock::OpaqueReasoning {
                    provider: "someone-else".into(),
                    text: String::new(),
                    data: json!({"id": "x", "encrypted_content": "y"}),
                },
                ContentBlock::Text {
                    text: "Listing.".into(),
                },
                ContentBlock::ToolUse {
                    id: "toolu_01A9HHF5Ezy3oBrKmSgfASm9".into(),
                    name: "bash".into(),
                    input: json!({"command": "ls"}),
                },
                ContentBlock::ToolUse {
                    id: "call.2".into(),
                    name: "bash".into(),
                    input: json!({"command": "false"}),
                },
            ],
        },
        Message {
            role: Role::User,
            content: vec![
                ContentBlock::ToolResult {
                    tool_use_id: "toolu_01A9HHF5Ezy3oBrKmSgfASm9".into(),
                    content: "a.txt".into(),
                    status: ToolStatus::Ok,
                },
                ContentBlock::ToolResult {
                    tool_use_id: "call.2".into(),
                    content: "exit code: 1".into(),
                    status: ToolStatus::Error,
                },
                ContentBlock::Text {
                    text: "and then?".into(),
                },
            ],
        },
    ];
    let body = request_body(&request_with(history));
    assert_eq!(
        body["input"],
        json!([
            {"role": "user", "content": "list files"},
            {"type": "reasoning", "id": RS_ID, "summary": [{"type": "summary_text", "text": "plan"}],
             "encrypted_content": ENC_DONE},
            {"role": "assistant", "content": "Listing."},
            {"type": "function_call", "call_id": "toolu_01A9HHF5Ezy3oBrKmSgfASm9", "name": "bash",
             "arguments": "{\"command\":\"ls\"}"},
            {"type": "function_call", "call_id": "call_2", "name": "bash",
             "arguments": "{\"command\":\"false\"}"},
            {"type": "function_call_output", "call_id": "toolu_01A9HHF5Ezy3oBrKmSgfASm9", "output": "a.txt"},
            {"type": "function_call_output", "call_id": "call_2", "output": "[error] exit code: 1"},
            {"role": "user", "content": "and then?"},
        ])
    );
}

#[test]
fn a_responses_conversation_continues_on_anthropic_and_chat_without_opaque_reasoning() {
    let (_, resp) = parse(&function_call_turn());
    let assistant = Message {
        role: Role::Assistant,
        content: resp.unwrap().content,
    };
    let history = vec![
        Message::user_text("add 12 and 7"),
        assistant,
        Message {
            role: Role::User,
            content: vec![ContentBlock::ToolResult {
                tool_use_id: "call_AB6AaRZ1FYZB2RwS6A5vbdqn".into(),
                content: "19".into(),
                status: ToolStatus::Ok,
            }],
        },
    ];
    let req = request_with(history);
    let anthropic = crate::anthropic::request_body(&req);
    let msgs = anthropic["messages"].as_array().unwrap();
    assert_eq!(
        msgs[1]["content"],
        json!([{"type": "tool_use", "id": "call_AB6AaRZ1FYZB2RwS6A5vbdqn", "name": "calculator",
                "input": {"a": 12, "b": 7, "op": "add"}}]),
        "the reasoning item is skipped"
    );
    assert_eq!(
        msgs[2]["content"][0]["tool_use_id"],
        "call_AB6AaRZ1FYZB2RwS6A5vbdqn"
    );
    let chat =
        crate::openai::chat::request_body(&req, crate::openai::chat::MaxTokensField::MaxTokens);
    let msgs = chat["messages"].as_array().unwrap();
    assert_eq!(
        msgs[2]["tool_calls"][0]["id"],
        "call_AB6AaRZ1FYZB2RwS6A5vbdqn"
    );
    assert!(msgs[2].get("reasoning_content").is_none());
    assert_eq!(
        msgs[3],
        json!({"role": "tool", "tool_call_id": "call_AB6AaRZ1FYZB2RwS6A5vbdqn", "content": "19"})
    );
    // And back on Responses, the encrypted item goes out again, before its call.
    let again = request_body(&req);
    assert_eq!(again["input"][1]["type"], "reasoning");
    assert_eq!(again["input"][1]["encrypted_content"], ENC_DONE);
    assert_eq!(again["input"][2]["type"], "function_call");
}
