#![allow(clippy::unwrap_used, clippy::expect_used)]

use harnext_protocol::ErrorCode;
use harnext_protocol::ToolStatus;
use serde_json::json;

use super::*;
use crate::openai::tests::assert_chunking_invariant;
use crate::openai::tests::fixtures_dir;
use crate::openai::tests::parse_with;
use crate::openai::tests::text_of;
use crate::openai::tests::thinking_of;
use crate::ToolSpec;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures_dir().join("openai-python/chat-sse").join(name)).unwrap()
}

fn parse(body: &str) -> (Vec<ModelEvent>, Result<ModelResponse, ProviderError>) {
    parse_with(ChatParser::default(), body.as_bytes(), &[9])
}

/// Frames chunk payloads as a Chat stream: `data: <json>` per chunk, then `[DONE]`.
fn stream(chunks: &[Value]) -> String {
    let mut out: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    out.push_str("data: [DONE]\n\n");
    out
}

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({"id":"chatcmpl-x","object":"chat.completion.chunk","created":1,"model":"m",
           "choices":[{"index":0,"delta":delta,"logprobs":null,"finish_reason":finish}]})
}

#[test]
fn every_recorded_chat_stream_parses_the_same_at_arbitrary_chunk_boundaries() {
    let dir = fixtures_dir().join("openai-python/chat-sse");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures present") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read_to_string(&path).unwrap();
        let (events, resp) = assert_chunking_invariant(&name, &body, ChatParser::default);
        let resp = resp.unwrap_or_else(|e| panic!("{name}: {e}"));
        let blocks: String = resp
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text_of(&events), blocks, "{name}");
        // Every recording ends with an include_usage chunk.
        assert!(
            resp.usage.input_tokens > 0 && resp.usage.output_tokens > 0,
            "{name}: {:?}",
            resp.usage
        );
        seen += 1;
    }
    assert_eq!(seen, 12, "every recorded Chat stream");
}

#[test]
fn a_recorded_tool_call_is_assembled_with_usage_from_the_usage_chunk() {
    let (events, resp) = parse(&fixture("tool_call_non_strict.sse"));
    let resp = resp.unwrap();
    assert_eq!(
        resp.content,
        vec![ContentBlock::ToolUse {
            id: "call_4XzlGBLtUe9dy3GVNV4jhq7h".into(),
            name: "get_weather".into(),
            input: json!({"city": "New York City"}),
        }]
    );
    assert_eq!(resp.stop_reason, ModelStopReason::ToolUse);
    let want = Usage {
        input_tokens: 44,
        output_tokens: 16,
        ..Usage::default()
    };
    assert_eq!(resp.usage, want);
    assert_eq!(events.last(), Some(&ModelEvent::UsageUpdate(want)));
}

#[test]
fn recorded_parallel_calls_keep_their_order_ids_and_names() {
    let resp = parse(&fixture("tool_calls_parallel_two.sse")).1.unwrap();
    let calls: Vec<(&str, &str)> = resp
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ToolUse { id, name, .. } => Some((id.as_str(), name.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0],
        ("call_JMW1whyEaYG438VE1OIflxA2", "GetWeatherArgs")
    );
    assert_eq!(calls[1].1, "get_stock_price");
    assert!(resp.invalid_tool_inputs.is_empty());
    for b in &resp.content {
        if let ContentBlock::ToolUse { input, .. } = b {
            assert!(!input.as_object().unwrap().is_empty(), "{input}");
        }
    }
}

#[test]
fn recorded_refusal_length_and_n3_streams() {
    let resp = parse(&fixture("refusal.sse")).1.unwrap();
    // The refusal text is the reply's text and the refusal's explanation.
    assert_eq!(
        resp.stop_reason,
        ModelStopReason::Refusal(StopDetails {
            explanation: Some("I'm sorry, I can't assist with that request.".into()),
            ..StopDetails::default()
        })
    );
    // Refusal deltas are the reply's text.
    assert_eq!(
        resp.content,
        vec![ContentBlock::Text {
            text: "I'm sorry, I can't assist with that request.".into()
        }]
    );

    let resp = parse(&fixture("finish_reason_length.sse")).1.unwrap();
    assert_eq!(resp.stop_reason, ModelStopReason::MaxTokens);
    assert_eq!(
        resp.content,
        vec![ContentBlock::Text { text: "{\"".into() }]
    );

    // n=3: only choice 0 is assembled.
    let body = fixture("multiple_choices_n3.sse");
    let mut choice0 = String::new();
    for line in body.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            for c in v["choices"].as_array().unwrap() {
                if c["index"] == 0 {
                    choice0.push_str(c["delta"]["content"].as_str().unwrap_or_default());
                }
            }
        }
    }
    let (events, resp) = parse(&body);
    assert_eq!(text_of(&events), choice0);
    assert_eq!(
        resp.unwrap().content,
        vec![ContentBlock::Text { text: choice0 }]
    );
}

#[test]
fn azure_first_chunk_without_choices_and_comment_lines_are_skipped() {
    let azure_first = json!({"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]});
    let body = format!(
        ": OPENROUTER PROCESSING\n\n{}: keep-alive\n{}",
        format_args!("data: {azure_first}\n\n"),
        stream(&[
            chunk(json!({"role":"assistant","content":""}), None),
            chunk(json!({"content":"Hello"}), None),
            chunk(json!({"content":" world"}), None),
            chunk(json!({}), Some("stop")),
        ])
    );
    let (events, resp) = assert_chunking_invariant("azure", &body, ChatParser::default);
    assert_eq!(text_of(&events), "Hello world");
    let resp = resp.unwrap();
    assert_eq!(resp.stop_reason, ModelStopReason::EndTurn);
    assert_eq!(
        resp.usage,
        Usage::unreported(),
        "no usage chunk: no counts, marked unreported"
    );
}

#[test]
fn tool_call_index_starting_at_one_with_an_empty_arguments_fragment() {
    // Anthropic's OpenAI-compatible endpoint.
    let body = stream(&[
        chunk(json!({"role":"assistant","content":"I'll check."}), None),
        chunk(
            json!({"tool_calls":[{"index":1,"id":"toolu_01Xyz","type":"function","function":{"name":"get_weather","arguments":""}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls":[{"index":1,"function":{"arguments":""}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls":[{"index":1,"function":{"arguments":"{\"city\": \"Paris\"}"}}]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
    ]);
    let (_, resp) = assert_chunking_invariant("index 1", &body, ChatParser::default);
    let resp = resp.unwrap();
    assert_eq!(
        resp.content,
        vec![
            ContentBlock::Text {
                text: "I'll check.".into()
            },
            ContentBlock::ToolUse {
                id: "toolu_01Xyz".into(),
                name: "get_weather".into(),
                input: json!({"city": "Paris"}),
            }
        ]
    );
}

#[test]
fn mistral_whole_calls_without_index_and_usage_in_the_finish_chunk() {
    let finish = json!({"id":"c","object":"chat.completion.chunk","created":1,"model":"mistral-large-latest",
        "choices":[{"index":0,"delta":{"tool_calls":[
            {"id":"D681PevKs","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}},
            {"id":"A1b2C3d4E","function":{"name":"get_time","arguments":"{\"tz\": \"CET\"}"}}
        ]},"finish_reason":"tool_calls"}],
        "usage":{"prompt_tokens":90,"total_tokens":120,"completion_tokens":30}});
    let body = stream(&[
        chunk(json!({"role":"assistant","content":""}), None),
        finish,
    ]);
    let (events, resp) = assert_chunking_invariant("mistral", &body, ChatParser::default);
    let resp = resp.unwrap();
    assert_eq!(resp.content.len(), 2);
    assert!(
        matches!(&resp.content[0], ContentBlock::ToolUse { id, name, input }
        if id == "D681PevKs" && name == "get_weather" && input == &json!({"city": "Paris"}))
    );
    assert!(
        matches!(&resp.content[1], ContentBlock::ToolUse { id, name, .. }
        if id == "A1b2C3d4E" && name == "get_time")
    );
    assert_eq!(resp.usage.input_tokens, 90);
    assert_eq!(resp.usage.output_tokens, 30);
    assert!(events
        .iter()
        .any(|e| matches!(e, ModelEvent::UsageUpdate(_))));
}

#[test]
fn vllm_style_fragments_with_an_empty_name_do_not_erase_it() {
    let body = stream(&[
        chunk(json!({"role":"assistant","content":null}), None),
        chunk(
            json!({"tool_calls":[{"id":"chatcmpl-tool-8a1b","type":"function","index":0,"function":{"name":"read_file","arguments":""}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls":[{"index":0,"type":"function","function":{"name":"","arguments":"{\"path\": "}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls":[{"index":0,"type":"function","function":{"name":"","arguments":"\"a.txt\"}"}}]}),
            None,
        ),
        chunk(json!({"content":""}), Some("tool_calls")),
    ]);
    let (_, resp) = assert_chunking_invariant("vllm", &body, ChatParser::default);
    assert_eq!(
        resp.unwrap().content,
        vec![ContentBlock::ToolUse {
            id: "chatcmpl-tool-8a1b".into(),
            name: "read_file".into(),
            input: json!({"path": "a.txt"}),
        }]
    );
}

#[test]
fn groq_whole_call_in_one_chunk_with_index_after_function_and_x_groq_usage() {
    let finish = json!({"id":"chatcmpl-g","object":"chat.completion.chunk","created":1,"model":"llama-3.3-70b-versatile",
        "choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],
        "x_groq":{"id":"req_01","usage":{"prompt_tokens":300,"completion_tokens":20,"total_tokens":320}},
        "usage":{"prompt_tokens":300,"completion_tokens":20,"total_tokens":320}});
    let body = stream(&[
        chunk(json!({"role":"assistant","content":null}), None),
        chunk(
            json!({"tool_calls":[{"id":"call_groq1","type":"function","function":{"name":"list_dir","arguments":"{}"},"index":0}]}),
            None,
        ),
        finish,
    ]);
    let (_, resp) = assert_chunking_invariant("groq", &body, ChatParser::default);
    let resp = resp.unwrap();
    assert_eq!(
        resp.content,
        vec![ContentBlock::ToolUse {
            id: "call_groq1".into(),
            name: "list_dir".into(),
            input: json!({}),
        }]
    );
    assert_eq!(resp.usage.input_tokens, 300);
}

#[test]
fn deepseek_reasoning_content_and_cache_hit_usage_in_the_finish_chunk() {
    let finish = json!({"id":"d","object":"chat.completion.chunk","created":1,"model":"deepseek-reasoner",
        "choices":[{"index":0,"delta":{"content":"","reasoning_content":null},"logprobs":null,"finish_reason":"tool_calls"}],
        "usage":{"prompt_tokens":1200,"completion_tokens":180,"total_tokens":1380,
                 "prompt_tokens_details":{"cached_tokens":1024},
                 "completion_tokens_details":{"reasoning_tokens":150},
                 "prompt_cache_hit_tokens":1024,"prompt_cache_miss_tokens":176}});
    let body = stream(&[
        chunk(
            json!({"role":"assistant","content":null,"reasoning_content":""}),
            None,
        ),
        chunk(json!({"content":null,"reasoning_content":"The user"}), None),
        chunk(
            json!({"content":null,"reasoning_content":" wants a file."}),
            None,
        ),
        chunk(
            json!({"content":null,"reasoning_content":null,"tool_calls":[{"index":0,"id":"call_00_abc","type":"function","function":{"name":"write_file","arguments":""}}]}),
            None,
        ),
        chunk(
            json!({"content":null,"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":\"x\",\"content\":\"y\"}"}}]}),
            None,
        ),
        finish,
    ]);
    let (events, resp) = assert_chunking_invariant("deepseek", &body, ChatParser::default);
    let resp = resp.unwrap();
    assert_eq!(thinking_of(&events), "The user wants a file.");
    assert_eq!(
        resp.content[0],
        ContentBlock::Thinking {
            thinking: "The user wants a file.".into(),
            signature: None
        }
    );
    assert_eq!(
        resp.usage,
        Usage {
            input_tokens: 176,
            output_tokens: 180,
            cache_read_tokens: 1024,
            cache_write_tokens: 0,
            reasoning_tokens: 150,
            unreported: false,
            web_search_requests: 0,
        }
    );
    // DeepSeek's own field alone is enough.
    let only_hit = json!({"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":5,"prompt_cache_hit_tokens":64}});
    let resp = parse(&stream(&[
        chunk(json!({"content":"x"}), Some("stop")),
        only_hit,
    ]))
    .1
    .unwrap();
    assert_eq!(
        (resp.usage.input_tokens, resp.usage.cache_read_tokens),
        (36, 64)
    );
}

#[test]
fn ollama_reasoning_field_and_xai_whole_call() {
    let body = stream(&[
        chunk(
            json!({"role":"assistant","content":"","reasoning":"Hmm, "}),
            None,
        ),
        chunk(
            json!({"role":"assistant","content":"","reasoning":"let me see."}),
            None,
        ),
        chunk(json!({"role":"assistant","content":"Done."}), None),
        chunk(
            json!({"role":"assistant","content":"","tool_calls":[{"id":"call_ol1","index":0,"type":"function","function":{"name":"bash","arguments":"{\"command\":\"ls\"}"}}]}),
            None,
        ),
        chunk(json!({"role":"assistant","content":""}), Some("tool_calls")),
    ]);
    let (events, resp) = assert_chunking_invariant("ollama", &body, ChatParser::default);
    assert_eq!(thinking_of(&events), "Hmm, let me see.");
    let resp = resp.unwrap();
    assert_eq!(resp.content.len(), 3);
    assert_eq!(
        resp.content[1],
        ContentBlock::Text {
            text: "Done.".into()
        }
    );
    // vLLM sends both fields with the same text: counted once.
    let body = stream(&[
        chunk(json!({"reasoning_content":"once","reasoning":"once"}), None),
        chunk(json!({}), Some("stop")),
    ]);
    assert_eq!(thinking_of(&parse(&body).0), "once");
}

#[test]
fn a_call_without_any_id_gets_a_generated_one() {
    let body = stream(&[
        chunk(
            json!({"tool_calls":[{"index":0,"type":"function","function":{"name":"bash","arguments":"{\"command\":\"pwd\"}"}}]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
    ]);
    let resp = parse(&body).1.unwrap();
    let ContentBlock::ToolUse { id, name, .. } = &resp.content[0] else {
        panic!()
    };
    assert!(id.starts_with("call_") && id.len() > 10, "{id}");
    assert_eq!(name, "bash");
}

#[test]
fn mid_stream_error_data_events_are_classified_stream_errors() {
    // OpenRouter: an error chunk after some output.
    let body = format!(
        "data: {}\n\ndata: {}\n\n",
        chunk(json!({"content":"Partial"}), None),
        json!({"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m",
               "error":{"code":"server_error","message":"Upstream provider died"},
               "choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]})
    );
    let (events, resp) = assert_chunking_invariant("openrouter error", &body, ChatParser::default);
    assert_eq!(text_of(&events), "Partial");
    let err = resp.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Server);
    assert!(err.is_retryable());
    assert!(err.to_string().contains("Upstream provider died"));

    let body = format!(
        "data: {}\n\n",
        json!({"error":{"message":"quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}})
    );
    let err = parse(&body).1.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Auth);
    assert!(!err.is_retryable());

    // An event named `error` counts too, whatever its data.
    let body = "event: error\ndata: {\"message\":\"bad things\"}\n\n";
    assert!(parse(body)
        .1
        .unwrap_err()
        .to_string()
        .contains("bad things"));
    let body = "event: error\ndata: upstream timed out\n\n";
    let err = parse(body).1.unwrap_err();
    assert!(matches!(err, ProviderError::Stream { .. }), "{err:?}");
    assert!(err.to_string().contains("upstream timed out"));
}

#[test]
fn a_stream_cut_before_a_finish_reason_is_a_network_error_and_done_is_optional_after_one() {
    let full = fixture("text_plain.sse");
    let cut = &full[..full.find("\"finish_reason\":\"stop\"").unwrap()];
    let cut = &cut[..cut.rfind("\n\n").unwrap() + 2];
    let (events, resp) = parse(cut);
    assert!(!text_of(&events).is_empty());
    assert_eq!(resp.unwrap_err().code(), ErrorCode::Network);
    // Ended after the finish chunk and the usage chunk but without `[DONE]`: complete.
    let no_done = full.replace("data: [DONE]", "");
    let resp = parse(&no_done).1.unwrap();
    assert_eq!(resp.stop_reason, ModelStopReason::EndTurn);
    assert_eq!(resp.usage.input_tokens, 14);
}

#[test]
fn mock_rendered_turns_parse_back_to_the_script() {
    use harnext_mock::render_turn;
    use harnext_mock::WireFormat;
    use harnext_protocol::ScriptedToolCall;
    use harnext_protocol::ScriptedTurn;
    use harnext_protocol::ScriptedUsage;
    let turn = ScriptedTurn {
        thinking: Some("Think  first.".into()),
        text: Some("Two calls, é 日本.".into()),
        tool_calls: vec![
            ScriptedToolCall {
                id: None,
                name: "read_file".into(),
                args: json!({"path": "src/some/long/path/main.rs", "limit": 20}),
            },
            ScriptedToolCall {
                id: Some("call_b".into()),
                name: "bash".into(),
                args: json!({"command": "ls"}),
            },
        ],
        usage: Some(ScriptedUsage {
            input_tokens: 10,
            output_tokens: 20,
            cache_read_tokens: 30,
            cache_write_tokens: 0,
            reasoning_tokens: 5,
        }),
        delay_ms: None,
    };
    let body = render_turn(WireFormat::OpenAiChat, &turn, None, "m");
    let (events, resp) = assert_chunking_invariant("mock chat", &body, ChatParser::default);
    let resp = resp.unwrap();
    assert_eq!(thinking_of(&events), "Think  first.");
    assert_eq!(text_of(&events), "Two calls, é 日本.");
    assert_eq!(
        resp.usage,
        Usage {
            input_tokens: 10,
            output_tokens: 20,
            cache_read_tokens: 30,
            cache_write_tokens: 0,
            reasoning_tokens: 5,
            unreported: false,
            web_search_requests: 0,
        }
    );
    assert_eq!(
        resp.content[2],
        ContentBlock::ToolUse {
            id: "call_mock_1".into(),
            name: "read_file".into(),
            input: json!({"path": "src/some/long/path/main.rs", "limit": 20}),
        }
    );
    assert!(matches!(&resp.content[3], ContentBlock::ToolUse { id, .. } if id == "call_b"));
    assert_eq!(resp.stop_reason, ModelStopReason::ToolUse);
}

fn request(messages: Vec<Message>) -> ModelRequest {
    ModelRequest {
        model: "llama3.1".into(),
        system: "be brief".into(),
        messages: messages.into(),
        tools: vec![ToolSpec {
            name: "bash".into(),
            description: "run".into(),
            input_schema: json!({"type": "object"}).into(),
        }]
        .into(),
        max_output_tokens: Some(1000),
        temperature: Some(0.5),
        thinking_budget: None,
        output: None,
        web_search: None,
    }
}

#[test]
fn request_body_has_system_first_tools_usage_and_the_right_max_tokens_field() {
    let req = request(vec![Message::user_text("hi")]);
    let body = request_body(&req, MaxTokensField::MaxTokens);
    assert_eq!(
        body["messages"],
        json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {"name": "bash", "description": "run", "parameters": {"type": "object"}}}])
    );
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["max_tokens"], json!(1000));
    assert!(body.get("max_completion_tokens").is_none());
    assert_eq!(body["temperature"], json!(0.5));
    assert!(body.get("reasoning_effort").is_none());

    let mut req = req;
    req.thinking_budget = Some(16000);
    let body = request_body(&req, MaxTokensField::MaxCompletionTokens);
    assert_eq!(body["max_completion_tokens"], json!(1000));
    assert!(body.get("max_tokens").is_none());
    assert_eq!(body["reasoning_effort"], "high");

    assert_eq!(
        MaxTokensField::for_url("https://api.openai.com/v1/chat/completions"),
        MaxTokensField::MaxCompletionTokens
    );
    assert_eq!(
        MaxTokensField::for_url("http://localhost:11434/v1/chat/completions"),
        MaxTokensField::MaxTokens
    );
}

#[test]
fn history_becomes_assistant_tool_calls_and_tool_messages_with_visible_errors() {
    let history = vec![
        Message::user_text("fix it"),
        Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Thinking {
                    thinking: "signed".into(),
                    signature: Some("EvQB".into()),
                },
                ContentBlock::ToolUse {
                    id: "toolu_01A".into(),
                    name: "bash".into(),
                    input: json!({"command": "make"}),
                },
                ContentBlock::ToolUse {
                    id: "call/2".into(),
                    name: "bash".into(),
                    input: json!({"command": "rm -rf /"}),
                },
            ],
        },
        Message {
            role: Role::User,
            content: vec![
                ContentBlock::ToolResult {
                    tool_use_id: "toolu_01A".into(),
                    content: "make: *** No rule".into(),
                    status: ToolStatus::Error,
                },
                ContentBlock::ToolResult {
                    tool_use_id: "call/2".into(),
                    content: "Refused: read-only".into(),
                    status: ToolStatus::Denied,
                },
            ],
        },
        Message::assistant_text("It failed."),
        // Only reasoning: nothing to send.
        Message {
            role: Role::Assistant,
            content: vec![ContentBlock::Thinking {
                thinking: "hm".into(),
                signature: None,
            }],
        },
        Message::user_text("try again"),
    ];
    let body = request_body(&request(history), MaxTokensField::MaxTokens);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "fix it"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "toolu_01A", "type": "function", "function": {"name": "bash", "arguments": "{\"command\":\"make\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "bash", "arguments": "{\"command\":\"rm -rf /\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "toolu_01A", "content": "[error] make: *** No rule"},
            {"role": "tool", "tool_call_id": "call_2", "content": "[denied] Refused: read-only"},
            {"role": "assistant", "content": "It failed."},
            {"role": "user", "content": "try again"},
        ])
    );
}
