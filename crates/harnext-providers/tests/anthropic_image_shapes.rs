#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Image blocks in the Anthropic request body, checked against the Anthropic API schema
//! in `shared/fixtures/providers/langchain_dart/anthropic_openapi_curated.yaml`
//! (`ImageBlock`, `ToolResultBlock`, `TextBlock`) and the `tool_result` shape of a
//! recorded request (`anthropic-sdk-python/recorded/stream-tool-use-two-turns.json`).

use std::path::PathBuf;

use harnext_protocol::ContentBlock;
use harnext_protocol::ImageSource;
use harnext_protocol::Message;
use harnext_protocol::Role;
use harnext_protocol::ToolStatus;
use harnext_providers::anthropic;
use harnext_providers::ModelRequest;
use serde_json::json;
use serde_json::Value;

const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/providers")
}

/// A validator for `components.schemas.<name>` of the curated Anthropic spec
/// (OpenAPI 3.0: its schemas read as JSON Schema draft 7; `discriminator` is ignored).
fn validator(name: &str) -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(fixtures().join("langchain_dart/anthropic_openapi_curated.yaml"))
            .expect("the Anthropic spec is present");
    let spec: Value = serde_norway::from_str(&text).expect("valid YAML");
    let root = json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": spec["components"].clone(),
    });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(&root)
        .unwrap_or_else(|e| panic!("cannot compile {name}: {e}"))
}

fn assert_valid(v: &jsonschema::Validator, what: &str, value: &Value) {
    let errors: Vec<String> = v
        .iter_errors(value)
        .map(|e| e.to_string())
        .take(5)
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:?}\n{value:#}");
}

fn request() -> ModelRequest {
    let png = || ImageSource::Base64 {
        media_type: "image/png".into(),
        data: PNG_B64.into(),
    };
    ModelRequest {
        model: "claude-test".into(),
        messages: vec![
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
                        source: ImageSource::Url {
                            url: "https://example.com/a.png".into(),
                        },
                        tool_use_id: None,
                    },
                ],
            },
            Message {
                role: Role::Assistant,
                content: vec![ContentBlock::ToolUse {
                    id: "toolu_img".into(),
                    name: "read_file".into(),
                    input: json!({"path": "shot.png"}),
                }],
            },
            Message {
                role: Role::User,
                content: vec![
                    ContentBlock::ToolResult {
                        tool_use_id: "toolu_img".into(),
                        content: "`shot.png` is an image".into(),
                        status: ToolStatus::Ok,
                    },
                    ContentBlock::Image {
                        source: png(),
                        tool_use_id: Some("toolu_img".into()),
                    },
                    ContentBlock::Text {
                        text: "Describe it.".into(),
                    },
                ],
            },
        ]
        .into(),
        ..ModelRequest::default()
    }
}

#[test]
fn image_blocks_take_anthropic_wire_form_and_match_the_api_schema() {
    let body = anthropic::request_body(&request());
    let messages = body["messages"].as_array().unwrap();
    let first = messages[0]["content"].as_array().unwrap();
    assert_eq!(
        first[1],
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}})
    );
    assert_eq!(
        first[2],
        json!({"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}})
    );
    let image = validator("ImageBlock");
    let text = validator("TextBlock");
    assert_valid(&image, "base64 image", &first[1]);
    assert_valid(&image, "url image", &first[2]);

    // The image a tool returned is inside its tool_result, after the text; the user's
    // text follows the result.
    let third = messages[2]["content"].as_array().unwrap();
    assert_eq!(third.len(), 2, "{third:?}");
    let result = &third[0];
    assert_eq!(result["type"], "tool_result");
    assert_eq!(
        result["content"],
        json!([
            {"type": "text", "text": "`shot.png` is an image"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
        ])
    );
    assert_valid(&validator("ToolResultBlock"), "tool_result", result);
    assert_valid(&text, "tool_result text", &result["content"][0]);
    assert_valid(&image, "tool_result image", &result["content"][1]);
    assert_eq!(third[1]["type"], "text");

    // The same keys as a tool_result of a recorded request (plus is_error).
    let recorded: Value = serde_json::from_str(
        &std::fs::read_to_string(
            fixtures().join("anthropic-sdk-python/recorded/stream-tool-use-two-turns.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let req = &recorded[1]["request"]["body"];
    let req: Value = match req {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        v => v.clone(),
    };
    let recorded_result = &req["messages"][2]["content"][0];
    assert_eq!(recorded_result["type"], "tool_result");
    for key in recorded_result.as_object().unwrap().keys() {
        assert!(result.get(key).is_some(), "recorded key {key} missing");
    }
}

#[test]
fn the_schema_rejects_a_wrong_image_block() {
    let image = validator("ImageBlock");
    let bad = json!({"type": "image", "source": {"type": "base64", "media_type": "image/tiff", "data": "AA=="}});
    assert!(!image.is_valid(&bad), "an unsupported media type");
    let bad = json!({"type": "image", "source": {"type": "base64", "media_type": "image/png"}});
    assert!(!image.is_valid(&bad), "base64 without data");
    let bad = json!({"type": "image"});
    assert!(!image.is_valid(&bad), "no source");
}
