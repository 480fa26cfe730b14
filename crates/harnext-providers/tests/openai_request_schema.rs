#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The request bodies the OpenAI providers build, validated against OpenAI's own
//! OpenAPI spec (`shared/fixtures/providers/openai-openapi/openapi.yaml`, OpenAPI 3.1,
//! whose schemas are JSON Schema 2020-12): `CreateResponse` for the Responses API and
//! `CreateChatCompletionRequest` for Chat Completions. `$ref`s resolve against the
//! whole document.

use std::path::PathBuf;
use std::sync::OnceLock;

use harnext_protocol::ContentBlock;
use harnext_protocol::Message;
use harnext_protocol::Role;
use harnext_protocol::ToolStatus;
use harnext_providers::openai::chat;
use harnext_providers::openai::chat::MaxTokensField;
use harnext_providers::openai::responses;
use harnext_providers::ModelRequest;
use harnext_providers::ToolSpec;
use serde_json::json;
use serde_json::Value;

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/providers/openai-openapi/openapi.yaml");
        let text = std::fs::read_to_string(&path).expect("the OpenAPI spec is present");
        serde_norway::from_str::<Value>(&big_ints_as_floats(&text)).expect("the spec is valid YAML")
    })
}

/// The spec bounds `seed` with integers beyond 64 bits (`minimum: -9223372036854776000`),
/// which no YAML-to-JSON path here can hold as integers. They become floats, as a
/// JavaScript JSON parser reads them; nothing else changes.
fn big_ints_as_floats(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len() + 64);
    for line in yaml.lines() {
        out.push_str(line);
        let value = line.rsplit_once(": ").map(|(_, v)| v.trim());
        if let Some(v) = value {
            let digits = v.strip_prefix('-').unwrap_or(v);
            let is_int = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
            if is_int && v.parse::<i64>().is_err() {
                out.push_str(".0");
            }
        }
        out.push('\n');
    }
    out
}

/// A validator for `components.schemas.<name>`, with the whole spec as its document.
fn validator(name: &str) -> jsonschema::Validator {
    let mut root = serde_json::Map::new();
    root.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    root.insert("$ref".into(), json!(format!("#/components/schemas/{name}")));
    root.insert("components".into(), spec()["components"].clone());
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&Value::Object(root))
        .unwrap_or_else(|e| panic!("cannot compile {name}: {e}"))
}

fn create_response() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| validator("CreateResponse"))
}

fn create_chat() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| validator("CreateChatCompletionRequest"))
}

fn assert_valid(v: &jsonschema::Validator, what: &str, body: &Value) {
    let errors: Vec<String> = v
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(10)
        .collect();
    assert!(
        errors.is_empty(),
        "{what} is not valid:\n{}\nbody: {body:#}",
        errors.join("\n")
    );
}

/// A conversation with everything a history can hold: text, Anthropic thinking (signed
/// and redacted), OpenAI reasoning, tool calls with ids from both providers, results of
/// every status, and a user turn after tool results.
fn full_history() -> Vec<Message> {
    vec![
        Message::user_text("Fix the failing test in src/lib.rs"),
        Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Thinking {
                    thinking: "Read the file first.".into(),
                    signature: Some("EvQBCkYICxgCKkAxhD4N".into()),
                },
                ContentBlock::RedactedThinking {
                    data: "opaque".into(),
                },
                ContentBlock::OpaqueReasoning {
                    provider: "openai".into(),
                    text: "Plan: read, then edit.".into(),
                    data: json!({"id": "rs_0123", "type": "reasoning", "status": "completed",
                                 "encrypted_content": "gAAAAABpPDIV",
                                 "summary": [{"type": "summary_text", "text": "Plan: read, then edit."}]}),
                },
                ContentBlock::Text {
                    text: "Reading it.".into(),
                },
                ContentBlock::ToolUse {
                    id: "toolu_01A9HHF5Ezy3oBrKmSgfASm9".into(),
                    name: "read_file".into(),
                    input: json!({"path": "src/lib.rs"}),
                },
                ContentBlock::ToolUse {
                    id: "call_AB6AaRZ1FYZB2RwS6A5vbdqn".into(),
                    name: "bash".into(),
                    input: json!({"command": "cargo test"}),
                },
                ContentBlock::ToolUse {
                    id: "c3".into(),
                    name: "write_file".into(),
                    input: json!({"path": "x", "content": ""}),
                },
                ContentBlock::ToolUse {
                    id: "c4".into(),
                    name: "bash".into(),
                    input: json!({"command": "sleep 100"}),
                },
            ],
        },
        Message {
            role: Role::User,
            content: vec![
                ContentBlock::ToolResult {
                    tool_use_id: "toolu_01A9HHF5Ezy3oBrKmSgfASm9".into(),
                    content: "1\tfn main() {}".into(),
                    status: ToolStatus::Ok,
                },
                ContentBlock::ToolResult {
                    tool_use_id: "call_AB6AaRZ1FYZB2RwS6A5vbdqn".into(),
                    content: "test failed\nexit code: 101".into(),
                    status: ToolStatus::Error,
                },
                ContentBlock::ToolResult {
                    tool_use_id: "c3".into(),
                    content: "Refused".into(),
                    status: ToolStatus::Denied,
                },
                ContentBlock::ToolResult {
                    tool_use_id: "c4".into(),
                    content: String::new(),
                    status: ToolStatus::Cancelled,
                },
                ContentBlock::Text {
                    text: "Also update the README.".into(),
                },
            ],
        },
        Message::assistant_text("Done: the test passes."),
        Message::user_text("Thanks. One more thing?"),
    ]
}

/// A 1x1 PNG, base64.
const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// A user message with an image by bytes and one by URL, and a `read_file` call whose
/// result carries an image.
fn images_request(base: ModelRequest) -> ModelRequest {
    let png = || harnext_protocol::ImageSource::Base64 {
        media_type: "image/png".into(),
        data: PNG_B64.into(),
    };
    let messages = vec![
        Message {
            role: Role::User,
            content: vec![
                ContentBlock::Text {
                    text: "What is in these?".into(),
                },
                ContentBlock::Image {
                    source: png(),
                    tool_use_id: None,
                },
                ContentBlock::Image {
                    source: harnext_protocol::ImageSource::Url {
                        url: "https://example.com/a.png".into(),
                    },
                    tool_use_id: None,
                },
            ],
        },
        Message {
            role: Role::Assistant,
            content: vec![ContentBlock::ToolUse {
                id: "call_img".into(),
                name: "read_file".into(),
                input: json!({"path": "shot.png"}),
            }],
        },
        Message {
            role: Role::User,
            content: vec![
                ContentBlock::ToolResult {
                    tool_use_id: "call_img".into(),
                    content: "`shot.png` is an image".into(),
                    status: ToolStatus::Ok,
                },
                ContentBlock::Image {
                    source: png(),
                    tool_use_id: Some("call_img".into()),
                },
            ],
        },
    ];
    ModelRequest {
        messages: messages.into(),
        ..base
    }
}

#[test]
fn image_parts_take_each_openai_wire_form() {
    let req = images_request(requests()[0].1.clone());
    let data_url = format!("data:image/png;base64,{PNG_B64}");
    let body = responses::request_body(&req);
    let input = body["input"].as_array().unwrap();
    assert_eq!(
        input[0]["content"],
        json!([
            {"type": "input_text", "text": "What is in these?"},
            {"type": "input_image", "image_url": data_url, "detail": "auto"},
            {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"},
        ])
    );
    assert_eq!(input[2]["type"], "function_call_output");
    assert_eq!(
        input[2]["output"],
        json!([
            {"type": "input_text", "text": "`shot.png` is an image"},
            {"type": "input_image", "image_url": data_url, "detail": "auto"},
        ])
    );
    let body = chat::request_body(&req, MaxTokensField::MaxCompletionTokens);
    let msgs = body["messages"].as_array().unwrap();
    assert_eq!(
        msgs[1]["content"],
        json!([
            {"type": "text", "text": "What is in these?"},
            {"type": "image_url", "image_url": {"url": data_url}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        ])
    );
    // Chat's tool messages hold text only: the image follows in a user message.
    assert_eq!(msgs[3]["role"], "tool");
    assert_eq!(msgs[3]["content"], "`shot.png` is an image");
    assert_eq!(
        msgs[4],
        json!({"role": "user", "content": [
            {"type": "text", "text": "The image returned by tool call call_img:"},
            {"type": "image_url", "image_url": {"url": data_url}},
        ]})
    );
}

fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "read_file".into(),
            description: "Read a file".into(),
            input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}},
                                 "required": ["path"]})
            .into(),
        },
        ToolSpec {
            name: "bash".into(),
            description: "Run a command".into(),
            input_schema: json!({"type": "object", "properties": {"command": {"type": "string"},
                                 "timeout_ms": {"type": "integer"}}, "required": ["command"]})
            .into(),
        },
    ]
}

/// A history with OpenAI's web search items kept verbatim (issue 18): a
/// `web_search_call` and an assistant message whose text cites a page.
fn web_search_history() -> Vec<Message> {
    vec![
        Message::user_text("When did Rust 1.95 come out?"),
        Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::ProviderBlock {
                    provider: "openai".into(),
                    text: String::new(),
                    data: json!({"id": "ws_1", "type": "web_search_call", "status": "completed",
                        "action": {"type": "search", "query": "rust 1.95",
                                   "sources": [{"type": "url", "url": "https://blog.rust-lang.org/"}]}}),
                },
                ContentBlock::ProviderBlock {
                    provider: "openai".into(),
                    text: "On January 1.".into(),
                    data: json!({"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": "On January 1.", "annotations": [
                            {"type": "url_citation", "start_index": 0, "end_index": 13,
                             "url": "https://blog.rust-lang.org/", "title": "Rust Blog"}]}]}),
                },
            ],
        },
        Message::user_text("Thanks."),
    ]
}

/// Requests over the settings that change the body.
fn requests() -> Vec<(&'static str, ModelRequest)> {
    let base = ModelRequest {
        model: "gpt-5".into(),
        system: "You are a coding agent.".into(),
        messages: full_history().into(),
        tools: tools().into(),
        max_output_tokens: None,
        temperature: None,
        thinking_budget: None,
        ..ModelRequest::default()
    };
    vec![
        ("defaults", base.clone()),
        (
            "every option",
            ModelRequest {
                max_output_tokens: Some(4096),
                temperature: Some(0.2),
                thinking_budget: Some(4096),
                ..base.clone()
            },
        ),
        (
            "high effort",
            ModelRequest {
                thinking_budget: Some(32000),
                ..base.clone()
            },
        ),
        (
            "structured output",
            ModelRequest {
                output: Some(harnext_providers::OutputSpec {
                    schema: json!({"type": "object", "properties": {"risk": {"type": "string", "enum": ["low", "high"]},
                                   "note": {"type": "string"}}, "required": ["risk"]}),
                    force: false,
                }),
                ..base.clone()
            },
        ),
        (
            "web search on, with a search and a cited reply in the history",
            ModelRequest {
                messages: web_search_history().into(),
                web_search: Some(harnext_providers::WebSearch {
                    allowed_domains: vec!["docs.rs".into()],
                    user_location: Some(harnext_providers::UserLocation {
                        city: Some("Boston".into()),
                        region: Some("MA".into()),
                        country: Some("US".into()),
                        timezone: Some("America/New_York".into()),
                    }),
                    ..harnext_providers::WebSearch::default()
                }),
                thinking_budget: Some(4096),
                ..base.clone()
            },
        ),
        (
            "one user message, no tools, no system prompt",
            ModelRequest {
                system: String::new(),
                messages: vec![Message::user_text("hi")].into(),
                tools: Vec::new().into(),
                ..base
            },
        ),
    ]
}

#[test]
fn responses_request_bodies_are_valid_create_response_requests() {
    let v = create_response();
    for (what, req) in requests() {
        let body = responses::request_body(&req);
        assert_valid(v, what, &body);
    }
}

#[test]
fn responses_image_parts_are_valid_input_items() {
    let body = responses::request_body(&images_request(requests()[0].1.clone()));
    // A user message with a list of parts is valid as two of `InputItem`'s `oneOf`
    // branches at once (`EasyInputMessage` and `Item`/`InputMessage`), which only the
    // spec's `discriminator` (not JSON Schema) tells apart: check it as the former,
    // then the whole body with that message's parts as text.
    let easy = validator("EasyInputMessage");
    assert_valid(&easy, "the user message with images", &body["input"][0]);
    let mut rest = body.clone();
    rest["input"][0]["content"] = json!("What is in these?");
    assert_valid(create_response(), "images (the rest)", &rest);
    // The function_call_output with an image is checked as it is.
    assert!(body["input"][2]["output"].is_array());
    let mut bad = body["input"][0].clone();
    bad["content"][1]["image_url"] = json!(42);
    assert!(!easy.is_valid(&bad), "an image part whose url is a number");
}

#[test]
fn chat_request_bodies_are_valid_create_chat_completion_requests_with_either_tokens_field() {
    let v = create_chat();
    let mut all = requests();
    all.push(("images", images_request(all[0].1.clone())));
    for (what, req) in all {
        for field in [
            MaxTokensField::MaxCompletionTokens,
            MaxTokensField::MaxTokens,
        ] {
            let body = chat::request_body(&req, field);
            assert_valid(v, &format!("{what} ({field:?})"), &body);
        }
    }
}

#[test]
fn the_validators_reject_what_the_spec_forbids() {
    // The checks above mean something only if a wrong body fails.
    let mut bad = responses::request_body(&requests()[0].1);
    bad["tools"][0] = json!({"type": "function", "function": {"name": "nested_like_chat"}});
    assert!(
        !create_response().is_valid(&bad),
        "chat-style tools in a Responses body"
    );
    let mut bad = responses::request_body(&requests()[0].1);
    bad["input"][1].as_object_mut().unwrap().remove("id");
    assert_eq!(bad["input"][1]["type"], "reasoning");
    assert!(
        !create_response().is_valid(&bad),
        "a reasoning item without its id"
    );
    let mut bad = chat::request_body(&requests()[0].1, MaxTokensField::MaxTokens);
    bad["messages"][1]["role"] = json!("robot");
    assert!(!create_chat().is_valid(&bad), "an unknown role");
    let mut bad = responses::request_body(&images_request(requests()[0].1.clone()));
    bad["input"][0]["content"][1]["type"] = json!("image");
    assert!(
        !create_response().is_valid(&bad),
        "an Anthropic-style image part in a Responses body"
    );
    let mut bad = chat::request_body(
        &images_request(requests()[0].1.clone()),
        MaxTokensField::MaxTokens,
    );
    bad["messages"][3]["content"] =
        json!([{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]);
    assert!(
        !create_chat().is_valid(&bad),
        "an image in a Chat tool message"
    );
    let mut bad = chat::request_body(&requests()[0].1, MaxTokensField::MaxTokens);
    bad.as_object_mut().unwrap().remove("messages");
    assert!(!create_chat().is_valid(&bad), "no messages");
}
