//! A bounded fuzz of the three SSE parsers, run by `cargo test` (proptest, a fixed
//! number of cases, no files written).
//!
//! Inputs are streams built from each format's real event shapes with hostile values
//! (wrong types, negative and huge numbers, unknown event and block types, missing
//! fields, odd indexes, stray `[DONE]`s, comments and every line ending), then
//! mutated at the byte level. Each is decoded whole and in random pieces. The
//! properties: nothing panics, and the result (response or error, streamed text,
//! reasoning and usage) does not depend on where the bytes were cut.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::json;
use serde_json::Value;

use crate::anthropic::AnthropicParser;
use crate::http::WireParser;
use crate::openai::chat::ChatParser;
use crate::openai::responses::ResponsesParser;
use crate::testing::digest;
use crate::testing::parse_with;

/// Cases per parser: enough to walk the event shapes, small enough for the test run.
const CASES: u32 = 500;

fn config() -> Config {
    Config {
        cases: CASES,
        max_shrink_iters: 200,
        failure_persistence: None,
        ..Config::default()
    }
}

/// A hostile JSON value for a field that should be a string, a count or an index.
fn wild() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0u64..5).prop_map(|n| json!(n)),
        1 => Just(json!(-5)),
        1 => Just(json!(1e300)),
        1 => Just(json!(u64::MAX)),
        1 => Just(json!("12")),
        1 => Just(json!(null)),
        1 => Just(json!(1.5)),
        1 => Just(json!({})),
        1 => Just(json!([1])),
        2 => "[a-z{}\"\\\\ é🎉]{0,6}".prop_map(Value::String),
    ]
}

fn text() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => "[a-zA-Z {}\"\\\\\n é日🎉]{0,12}".prop_map(Value::String),
        1 => wild(),
    ]
}

fn anthropic_usage() -> impl Strategy<Value = Value> {
    (wild(), wild(), wild(), wild()).prop_map(|(i, o, cr, cw)| {
        json!({"input_tokens": i, "output_tokens": o, "cache_read_input_tokens": cr,
               "cache_creation_input_tokens": cw, "output_tokens_details": {"thinking_tokens": 3}})
    })
}

fn anthropic_event() -> impl Strategy<Value = Value> {
    let block = prop_oneof![
        text().prop_map(|t| json!({"type": "text", "text": t})),
        text().prop_map(|t| json!({"type": "thinking", "thinking": t, "signature": ""})),
        (text(), text())
            .prop_map(|(id, n)| json!({"type": "tool_use", "id": id, "name": n, "input": {}})),
        Just(json!({"type": "redacted_thinking", "data": "abc"})),
        Just(json!({"type": "server_tool_use", "id": "s", "name": "web", "input": {}})),
        wild(),
    ];
    let delta = prop_oneof![
        text().prop_map(|t| json!({"type": "text_delta", "text": t})),
        text().prop_map(|t| json!({"type": "thinking_delta", "thinking": t})),
        text().prop_map(|t| json!({"type": "signature_delta", "signature": t})),
        prop_oneof![
            Just(json!("{\"a\":")),
            Just(json!("1}")),
            Just(json!("")),
            text()
        ]
        .prop_map(|p| json!({"type": "input_json_delta", "partial_json": p})),
        Just(json!({"type": "citations_delta", "citation": {}})),
    ];
    let stop = prop_oneof![
        Just(json!("end_turn")),
        Just(json!("tool_use")),
        Just(json!("max_tokens")),
        Just(json!("refusal")),
        Just(json!("pause_turn")),
        Just(json!("model_context_window_exceeded")),
        Just(json!(null)),
        wild(),
    ];
    prop_oneof![
        anthropic_usage().prop_map(|u| json!({"type": "message_start", "message": {"usage": u}})),
        ((0usize..4), block).prop_map(|(i, b)| json!({"type": "content_block_start", "index": i, "content_block": b})),
        ((0usize..4), delta).prop_map(|(i, d)| json!({"type": "content_block_delta", "index": i, "delta": d})),
        (0usize..4).prop_map(|i| json!({"type": "content_block_stop", "index": i})),
        (stop, anthropic_usage()).prop_map(|(s, u)| json!({"type": "message_delta",
            "delta": {"stop_reason": s, "stop_details": {"type": "refusal", "category": "cyber"}}, "usage": u})),
        Just(json!({"type": "message_stop"})),
        Just(json!({"type": "ping"})),
        Just(json!({"type": "something_new", "x": 1})),
        text().prop_map(|m| json!({"type": "error", "error": {"type": "overloaded_error", "message": m}})),
    ]
}

fn chat_event() -> impl Strategy<Value = Value> {
    let finish = prop_oneof![
        Just(json!(null)),
        Just(json!("stop")),
        Just(json!("length")),
        Just(json!("tool_calls")),
        Just(json!("content_filter")),
        wild(),
    ];
    let call = (prop_oneof![(0u64..3).prop_map(|i| json!(i)), wild()], text(), text(), text())
        .prop_map(|(i, id, n, a)| json!({"index": i, "id": id, "type": "function", "function": {"name": n, "arguments": a}}));
    let delta = (
        text(),
        text(),
        text(),
        proptest::collection::vec(call, 0..2),
    )
        .prop_map(|(c, r, rf, calls)| {
            json!({"content": c, "reasoning_content": r, "refusal": rf, "tool_calls": calls})
        });
    let usage = (wild(), wild(), wild(), wild()).prop_map(|(p, c, t, r)| {
        json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": t,
               "completion_tokens_details": {"reasoning_tokens": r}, "prompt_tokens_details": {"cached_tokens": 1}})
    });
    prop_oneof![
        4 => ((0u64..2), delta, finish).prop_map(|(i, d, f)| json!({"choices": [{"index": i, "delta": d, "finish_reason": f,
            "content_filter_results": {"hate": {"filtered": true}}}]})),
        1 => usage.prop_map(|u| json!({"choices": [], "usage": u})),
        1 => Just(json!("[DONE]")),
        1 => text().prop_map(|m| json!({"error": {"message": m, "code": "server_error"}})),
        1 => wild().prop_map(|w| json!({"choices": w})),
    ]
}

fn responses_item() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"type": "message", "id": "m", "content": []})),
        text().prop_map(|t| json!({"type": "message", "id": "m", "content": [{"type": "output_text", "text": t}, {"type": "refusal", "refusal": t}]})),
        text().prop_map(|t| json!({"type": "reasoning", "id": "rs", "summary": [{"type": "summary_text", "text": t}], "encrypted_content": "enc"})),
        (text(), text(), text()).prop_map(|(c, n, a)| json!({"type": "function_call", "id": "fc", "call_id": c, "name": n, "arguments": a})),
        Just(json!({"type": "web_search_call", "id": "ws"})),
        wild(),
    ]
}

fn responses_event() -> impl Strategy<Value = Value> {
    let index = || prop_oneof![4 => (0u64..3).prop_map(|i| json!(i)), 1 => wild()];
    let item = responses_item;
    let usage = (wild(), wild(), wild()).prop_map(|(i, o, t)| {
        json!({"input_tokens": i, "output_tokens": o, "total_tokens": t,
               "output_tokens_details": {"reasoning_tokens": 2}})
    });
    let status = prop_oneof![
        Just("response.completed"),
        Just("response.incomplete"),
        Just("response.failed")
    ];
    prop_oneof![
        (index(), item()).prop_map(|(i, it)| json!({"type": "response.output_item.added", "output_index": i, "item": it})),
        (index(), item()).prop_map(|(i, it)| json!({"type": "response.output_item.done", "output_index": i, "item": it})),
        (index(), text()).prop_map(|(i, d)| json!({"type": "response.output_text.delta", "output_index": i, "item_id": "m", "delta": d})),
        (index(), text()).prop_map(|(i, d)| json!({"type": "response.refusal.delta", "output_index": i, "delta": d})),
        (index(), text()).prop_map(|(i, d)| json!({"type": "response.output_text.done", "output_index": i, "text": d})),
        (index(), wild(), text()).prop_map(|(i, s, d)| json!({"type": "response.reasoning_summary_text.delta", "output_index": i, "summary_index": s, "delta": d})),
        (index(), text()).prop_map(|(i, d)| json!({"type": "response.reasoning_text.delta", "item_id": "rs", "output_index": i, "delta": d})),
        (index(), text()).prop_map(|(i, d)| json!({"type": "response.function_call_arguments.delta", "output_index": i, "delta": d})),
        (index(), text(), text()).prop_map(|(i, a, n)| json!({"type": "response.function_call_arguments.done", "output_index": i, "arguments": a, "name": n})),
        (status, proptest::collection::vec(item(), 0..3), usage, wild()).prop_map(|(k, out, u, r)| json!({"type": k,
            "response": {"status": "x", "output": out, "usage": u, "incomplete_details": {"reason": r},
                         "error": {"code": "server_error", "message": "m"}}})),
        text().prop_map(|m| json!({"type": "error", "code": "server_error", "message": m})),
        Just(json!({"type": "response.created", "response": {}})),
        Just(json!({"no_type": true})),
        Just(json!("[DONE]")),
    ]
}

/// Frames events as SSE with a chosen line ending, an `event:` line when asked, and
/// comments; `[DONE]` strings become the marker.
fn frame(events: &[Value], ending: &str, named: bool, comments: bool) -> Vec<u8> {
    let mut out = String::new();
    for (i, e) in events.iter().enumerate() {
        if comments && i % 3 == 0 {
            out.push_str(&format!(": keep-alive{ending}"));
        }
        let data = match e {
            Value::String(s) if s == "[DONE]" => s.clone(),
            other => other.to_string(),
        };
        if named {
            if let Some(kind) = e.get("type").and_then(Value::as_str) {
                out.push_str(&format!("event: {kind}{ending}"));
            }
        }
        out.push_str(&format!("data: {data}{ending}{ending}"));
    }
    out.into_bytes()
}

/// A byte-level mutation: `(position, kind, byte)`.
fn mutations() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    proptest::collection::vec((any::<usize>(), 0u8..3, any::<u8>()), 0..4)
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for (pos, kind, byte) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = pos % bytes.len();
        match kind {
            0 => bytes[at] = *byte,
            1 => {
                bytes.remove(at);
            }
            _ => bytes.insert(at, *byte),
        }
    }
    bytes
}

/// Parses `input` whole and in pieces of `sizes`, and checks both agree.
fn check<P: WireParser>(new: impl Fn() -> P, input: &[u8], sizes: &[usize]) {
    let (whole_events, whole) = parse_with(new(), input, &[input.len().max(1)]);
    let (events, cut) = parse_with(new(), input, sizes);
    // Generated tool ids (calls without one) differ run to run: compare without them.
    let scrub = |s: String| {
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(i) = rest.find("call_") {
            out.push_str(&rest[..i]);
            let tail = &rest[i + 5..];
            let n = tail
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(tail.len());
            out.push_str("call_*");
            rest = &tail[n..];
        }
        out.push_str(rest);
        out
    };
    assert_eq!(
        scrub(digest(&events, &cut)),
        scrub(digest(&whole_events, &whole)),
        "chunking changed the result"
    );
}

fn sizes() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1usize..40, 1..8)
}

fn endings() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("\n"), Just("\r\n"), Just("\r")]
}

/// Runs `test` over the strategy `make` builds for [`CASES`] cases, on a thread with
/// a large stack (the nested strategies recurse deeply in debug builds).
fn run<S, M, T>(make: M, test: T)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
    M: FnOnce() -> S + Send + 'static,
    T: Fn(S::Value) + Send + 'static,
{
    let outcome = std::thread::Builder::new()
        .stack_size(256 * 1024 * 1024)
        .spawn(move || {
            let strategy = make();
            let mut runner = proptest::test_runner::TestRunner::new(config());
            runner
                .run(&strategy, |value| {
                    test(value);
                    Ok(())
                })
                .map_err(|e| e.to_string())
        })
        .unwrap()
        .join()
        .unwrap();
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

#[test]
fn the_anthropic_parser_never_panics_and_ignores_chunking() {
    let cases = || {
        (
            proptest::collection::vec(anthropic_event(), 0..12),
            endings(),
            any::<bool>(),
            mutations(),
            sizes(),
        )
    };
    run(cases, |(events, ending, comments, edits, sizes)| {
        let input = mutate(frame(&events, ending, true, comments), &edits);
        check(AnthropicParser::default, &input, &sizes);
    });
}

#[test]
fn the_chat_parser_never_panics_and_ignores_chunking() {
    let cases = || {
        (
            proptest::collection::vec(chat_event(), 0..12),
            endings(),
            any::<bool>(),
            mutations(),
            sizes(),
        )
    };
    run(cases, |(events, ending, comments, edits, sizes)| {
        let input = mutate(frame(&events, ending, false, comments), &edits);
        check(ChatParser::default, &input, &sizes);
    });
}

#[test]
fn the_responses_parser_never_panics_and_ignores_chunking() {
    let cases = || {
        (
            proptest::collection::vec(responses_event(), 0..12),
            endings(),
            any::<bool>(),
            any::<bool>(),
            mutations(),
            sizes(),
        )
    };
    run(cases, |(events, ending, named, comments, edits, sizes)| {
        let input = mutate(frame(&events, ending, named, comments), &edits);
        check(ResponsesParser::default, &input, &sizes);
    });
}

/// Complete JSON bodies (servers that ignore `stream: true`) of any shape.
#[test]
fn the_json_body_readers_never_panic() {
    let cases = || (anthropic_event(), chat_event(), responses_event(), wild());
    run(cases, |(a, c, r, w)| {
        let mut out = Vec::new();
        let shapes = [
            json!({"type": "message", "content": [a.get("content_block").cloned().unwrap_or(w.clone())],
                   "stop_reason": w, "usage": a.get("usage")}),
            json!({"choices": [{"index": 0, "message": c.get("choices").and_then(|x| x.get(0)).and_then(|x| x.get("delta")),
                   "finish_reason": "stop"}], "usage": c.get("usage")}),
            json!({"status": "completed", "output": [r.get("item")], "usage": null}),
            w.clone(),
        ];
        for body in shapes {
            let _ = AnthropicParser::default().on_json(body.clone(), &mut out);
            let _ = ChatParser::default().on_json(body.clone(), &mut out);
            let _ = ResponsesParser::default().on_json(body, &mut out);
        }
    });
}
