//! Test support shared by the providers' parser tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use crate::http::WireParser;
use crate::sse::SseDecoder;
use crate::ModelEvent;
use crate::ModelResponse;
use crate::ProviderError;

pub(crate) fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/providers")
}

/// Runs the decoder and a fresh parser over `input` cut into pieces of the given sizes.
pub(crate) fn parse_with<P: WireParser>(
    mut parser: P,
    input: &[u8],
    sizes: &[usize],
) -> (Vec<ModelEvent>, Result<ModelResponse, ProviderError>) {
    let mut decoder = SseDecoder::default();
    let mut events = Vec::new();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut k = 0;
    loop {
        let eof = pos >= input.len();
        if eof {
            decoder.finish(&mut events);
        } else {
            let n = sizes[k % sizes.len()].clamp(1, input.len() - pos);
            decoder.feed(&input[pos..pos + n], &mut events).unwrap();
            pos += n;
            k += 1;
        }
        for e in events.drain(..) {
            match parser.on_event(e, &mut out) {
                Ok(Some(resp)) => return (out, Ok(resp)),
                Ok(None) => {}
                Err(err) => return (out, Err(err)),
            }
        }
        if eof {
            return (out, parser.on_eof());
        }
    }
}

pub(crate) fn text_of(events: &[ModelEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            ModelEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

pub(crate) fn thinking_of(events: &[ModelEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            ModelEvent::ThinkingDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// A comparable digest of a parse: the response or error, and the streamed text and
/// thinking. Generated tool ids (servers that send none) differ between runs, so
/// callers only use this on streams that carry their ids.
pub(crate) fn digest(events: &[ModelEvent], r: &Result<ModelResponse, ProviderError>) -> String {
    let last_usage = events.iter().rev().find_map(|e| match e {
        ModelEvent::UsageUpdate(u) => Some(*u),
        _ => None,
    });
    let resp = match r {
        Ok(resp) => {
            // The notes on invalid calls sorted: a HashMap prints in any order. By
            // message first: generated ids (`call_…`) differ run to run.
            let mut notes: Vec<_> = resp.invalid_tool_inputs.iter().collect();
            notes.sort_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
            format!(
                "content={:?} stop={:?} usage={:?} invalid={notes:?}",
                resp.content, resp.stop_reason, resp.usage
            )
        }
        Err(e) => format!("error {:?}: {e}", e.code()),
    };
    format!(
        "{resp}\ntext={:?}\nthinking={:?}\nusage={last_usage:?}",
        text_of(events),
        thinking_of(events)
    )
}

/// Requests over a history with every kind of block the builders convert: text (empty,
/// blank, quoted, non-ASCII, control characters), images of each source in user
/// messages and returned by tools (one and two per call, and one whose call is in
/// another message), signed, unsigned and redacted thinking, another provider's and
/// OpenAI's reasoning items, tool calls with ids other providers minted, results of
/// each status (empty too), consecutive messages of one role, tools, and each variant
/// of the settings (thinking, temperature, structured output asked and forced).
pub(crate) fn rich_requests() -> Vec<crate::ModelRequest> {
    use harnext_protocol::ContentBlock;
    use harnext_protocol::ImageSource;
    use harnext_protocol::Message;
    use harnext_protocol::Role;
    use harnext_protocol::ToolStatus;
    use serde_json::json;

    let png = || ImageSource::Base64 {
        media_type: "image/png".into(),
        data: "iVBORw0KGgo=".into(),
    };
    let url = || ImageSource::Url {
        url: "https://example.com/a b.png?x=1&y=\"2\"".into(),
    };
    let path = || ImageSource::Path {
        path: "shots/é.png".into(),
    };
    let text = |t: &str| ContentBlock::Text { text: t.into() };
    let call = |id: &str, name: &str, input: serde_json::Value| ContentBlock::ToolUse {
        id: id.into(),
        name: name.into(),
        input,
    };
    let result = |id: &str, content: &str, status: ToolStatus| ContentBlock::ToolResult {
        tool_use_id: id.into(),
        content: content.into(),
        status,
    };
    let image_of = |id: &str, source: ImageSource| ContentBlock::Image {
        source,
        tool_use_id: Some(id.into()),
    };
    let history = vec![
        Message::user_text("hi \"there\" ü\n\ttab \u{1} ctrl </script>"),
        Message {
            role: Role::User,
            content: vec![
                text("look at these"),
                ContentBlock::Image {
                    source: png(),
                    tool_use_id: None,
                },
                ContentBlock::Image {
                    source: url(),
                    tool_use_id: None,
                },
                ContentBlock::Image {
                    source: path(),
                    tool_use_id: None,
                },
                text("   "),
            ],
        },
        Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Thinking {
                    thinking: "hmm, \"quoted\"".into(),
                    signature: Some("sig==".into()),
                },
                ContentBlock::Thinking {
                    thinking: "unsigned".into(),
                    signature: None,
                },
                ContentBlock::RedactedThinking {
                    data: "opaque-bytes".into(),
                },
                ContentBlock::OpaqueReasoning {
                    provider: "openai".into(),
                    text: "summary".into(),
                    data: json!({"type": "reasoning", "id": "rs_1", "encrypted_content": "enc",
                        "summary": [{"type": "summary_text", "text": "summed"}]}),
                },
                ContentBlock::OpaqueReasoning {
                    provider: "other".into(),
                    text: String::new(),
                    data: json!({"id": "x"}),
                },
                text(""),
                text("I will read."),
                call(
                    "call.1:a",
                    "read_file",
                    json!({"path": "a.png", "n": [1, 2.5, null, true]}),
                ),
                call(
                    "toolu_2",
                    "bash",
                    json!({"command": "echo \"hi\" && ls", "env": {"Z": "1", "A": "2"}}),
                ),
                call("call_3", "grep", json!({})),
            ],
        },
        Message {
            role: Role::User,
            content: vec![
                result("call.1:a", "1\tline one\n2\tline two", ToolStatus::Ok),
                image_of("call.1:a", png()),
                image_of("call.1:a", url()),
                result("toolu_2", "", ToolStatus::Error),
                result("call_3", "denied: no", ToolStatus::Denied),
                image_of("call_3", path()),
                image_of("no_such_call", png()),
                text("and then"),
            ],
        },
        // Web search: Anthropic's blocks kept verbatim, OpenAI's items, another
        // provider's cited text, and a kept block of ours without citations.
        Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::ProviderBlock {
                    provider: "anthropic".into(),
                    text: String::new(),
                    data: json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
                        "input": {"query": "rust \"serde\""}}),
                },
                ContentBlock::ProviderBlock {
                    provider: "anthropic".into(),
                    text: String::new(),
                    data: json!({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1",
                        "content": [{"type": "web_search_result", "url": "https://serde.rs/", "title": "Serde",
                            "encrypted_content": "EqQ==", "page_age": null}]}),
                },
                ContentBlock::ProviderBlock {
                    provider: "anthropic".into(),
                    text: "Serde is a framework.".into(),
                    data: json!({"type": "text", "text": "Serde is a framework.", "citations": [
                        {"type": "web_search_result_location", "url": "https://serde.rs/", "title": "Serde",
                            "cited_text": "Serde is…", "encrypted_index": "Eo8="}]}),
                },
                ContentBlock::ProviderBlock {
                    provider: "openai".into(),
                    text: String::new(),
                    data: json!({"type": "web_search_call", "id": "ws_1", "status": "completed",
                        "action": {"type": "search", "query": "serde"}}),
                },
                ContentBlock::ProviderBlock {
                    provider: "openai".into(),
                    text: "Cited by OpenAI.".into(),
                    data: json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                        "content": [{"type": "output_text", "text": "Cited by OpenAI.", "annotations": [
                            {"type": "url_citation", "url": "https://serde.rs/", "title": "Serde",
                                "start_index": 0, "end_index": 5}]}]}),
                },
                ContentBlock::ProviderBlock {
                    provider: "other".into(),
                    text: "   ".into(),
                    data: json!({"type": "x"}),
                },
            ],
        },
        // The last block of a request may be a kept one (no cache breakpoint on it).
        Message {
            role: Role::Assistant,
            content: vec![ContentBlock::ProviderBlock {
                provider: "anthropic".into(),
                text: "plain".into(),
                data: json!({"type": "text", "text": "plain", "zeta": 1, "cache_control": {"type": "old"}}),
            }],
        },
        // Consecutive messages of one role.
        Message::user_text("more"),
        Message {
            role: Role::User,
            content: vec![result("call_4", "late", ToolStatus::Cancelled)],
        },
        Message::assistant_text("first"),
        Message {
            role: Role::Assistant,
            content: vec![call("call_5", "glob", json!({"pattern": "**/*.rs"}))],
        },
        Message {
            role: Role::User,
            content: vec![result("call_5", "a.rs\nb.rs", ToolStatus::Ok)],
        },
        Message {
            role: Role::User,
            content: vec![image_of("call_5", png())],
        },
    ];
    let tools = vec![
        crate::ToolSpec {
            name: "read_file".into(),
            description: "Reads a file. \"Quoted\".".into(),
            input_schema: json!({"type": "object", "properties": {"path": {"type": "string"},
                "limit": {"type": "integer", "minimum": 1}}, "required": ["path"]})
            .into(),
        },
        crate::ToolSpec {
            name: "bash".into(),
            description: "Runs a command.".into(),
            input_schema: json!({"type": "object", "additionalProperties": false}).into(),
        },
    ];
    let schema = json!({"type": "object", "properties": {"answer": {"type": "string"},
        "n": {"type": ["integer", "null"]}}, "required": ["answer"]});
    let base = crate::ModelRequest {
        model: "claude-sonnet-4-5".into(),
        system: "be brief \"really\"\n".into(),
        messages: history.clone().into(),
        tools: tools.clone().into(),
        max_output_tokens: None,
        temperature: None,
        thinking_budget: None,
        output: None,
        web_search: None,
    };
    let mut out = vec![base.clone()];
    out.push(crate::ModelRequest {
        web_search: Some(crate::WebSearch {
            max_uses: Some(3),
            allowed_domains: vec!["serde.rs".into()],
            blocked_domains: vec!["example.com".into()],
            user_location: Some(crate::UserLocation {
                city: Some("Paris".into()),
                country: Some("FR".into()),
                ..Default::default()
            }),
        }),
        ..base.clone()
    });
    out.push(crate::ModelRequest {
        web_search: Some(crate::WebSearch::default()),
        tools: Vec::new().into(),
        ..base.clone()
    });
    out.push(crate::ModelRequest {
        model: "claude-3-5-haiku".into(),
        max_output_tokens: Some(1000),
        temperature: Some(0.7),
        thinking_budget: Some(2048),
        ..base.clone()
    });
    out.push(crate::ModelRequest {
        model: "claude-3-haiku-20240307".into(),
        system: String::new(),
        tools: Vec::new().into(),
        temperature: Some(f64::NAN),
        thinking_budget: Some(8000),
        output: Some(crate::OutputSpec {
            schema: schema.clone(),
            force: false,
        }),
        ..base.clone()
    });
    out.push(crate::ModelRequest {
        thinking_budget: Some(1024),
        output: Some(crate::OutputSpec {
            schema,
            force: true,
        }),
        ..base.clone()
    });
    // Each prefix of the history: the cache breakpoint and the merges at every end.
    for n in 0..history.len() {
        out.push(crate::ModelRequest {
            messages: history[..n].to_vec().into(),
            ..base.clone()
        });
    }
    out
}
