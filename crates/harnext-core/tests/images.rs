//! Images end to end against the mock server: an image part of the input (by path, by
//! base64, by URL) and `read_file` of a PNG reach each provider in its own wire form
//! (the request bodies the mock recorded); hostile image input is refused before the
//! run starts, naming what is wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use harnext_core::protocol::ContentBlock;
use harnext_core::protocol::ImageSource;
use harnext_core::protocol::Message;
use harnext_core::protocol::Role;
use harnext_core::protocol::RunResult;
use harnext_core::Agent;
use harnext_core::AgentConfig;
use harnext_core::EventSink;
use harnext_core::RunInput;
use harnext_core::RunRequest;
use harnext_mock::MockResponse;
use harnext_mock::MockServer;
use serde_json::json;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// A 1x1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

fn b64() -> String {
    base64::engine::general_purpose::STANDARD.encode(PNG)
}

fn agent(model: &str, mock: &MockServer, dir: &std::path::Path) -> Agent {
    let mut c = AgentConfig::new(model);
    c.base_url = Some(mock.url());
    c.api_key = Some("sk-test-images".into());
    c.cwd = Some(dir.to_path_buf());
    c.session_dir = Some(dir.join(".sessions"));
    Agent::new(c).unwrap()
}

async fn run(agent: &Agent, input: RunInput) -> RunResult {
    let mut request = RunRequest::text("unused");
    request.input = input;
    agent
        .start(request)
        .unwrap()
        .execute(CancellationToken::new(), EventSink::none())
        .await
}

fn image(source: ImageSource) -> ContentBlock {
    ContentBlock::Image {
        source,
        tool_use_id: None,
    }
}

fn input_with_images() -> RunInput {
    RunInput::Messages(vec![Message {
        role: Role::User,
        content: vec![
            ContentBlock::Text {
                text: "What is in these?".into(),
            },
            image(ImageSource::Path {
                path: "shot.png".into(),
            }),
            image(ImageSource::Base64 {
                media_type: "image/png".into(),
                data: b64(),
            }),
            image(ImageSource::Url {
                url: "https://example.com/a.png".into(),
            }),
        ],
    }])
}

fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .stdin(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

fn respond(v: Value) -> MockResponse {
    MockResponse::from_json(v).unwrap()
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    std::fs::write(ws.join("shot.png"), PNG).unwrap();
    (dir, ws)
}

#[tokio::test]
async fn input_images_reach_each_provider_in_its_wire_form() {
    let (_dir, ws) = setup();
    let mock = MockServer::start().await.unwrap();
    let data_url = format!("data:image/png;base64,{}", b64());

    mock.push(respond(json!({"turn": {"text": "A pixel."}})));
    let r = run(
        &agent("anthropic/claude-test", &mock, &ws),
        input_with_images(),
    )
    .await;
    assert!(r.success, "{:?}", r.error);
    let body = mock.requests().pop().unwrap().body;
    let content = body["messages"][0]["content"].as_array().unwrap().clone();
    let png = json!({"type": "base64", "media_type": "image/png", "data": b64()});
    assert_eq!(
        content[0],
        json!({"type": "text", "text": "What is in these?"})
    );
    assert_eq!(content[1], json!({"type": "image", "source": png}));
    assert_eq!(content[2], json!({"type": "image", "source": png}));
    assert_eq!(
        content[3]["source"],
        json!({"type": "url", "url": "https://example.com/a.png"})
    );

    mock.push(respond(json!({"turn": {"text": "A pixel."}})));
    let r = run(&agent("openai/gpt-test", &mock, &ws), input_with_images()).await;
    assert!(r.success, "{:?}", r.error);
    let body = mock.requests().pop().unwrap().body;
    assert_eq!(
        body["input"][0]["content"],
        json!([
            {"type": "input_text", "text": "What is in these?"},
            {"type": "input_image", "image_url": data_url, "detail": "auto"},
            {"type": "input_image", "image_url": data_url, "detail": "auto"},
            {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"},
        ])
    );

    mock.push(respond(json!({"turn": {"text": "A pixel."}})));
    let r = run(
        &agent("openai-chat/llama-test", &mock, &ws),
        input_with_images(),
    )
    .await;
    assert!(r.success, "{:?}", r.error);
    let body = mock.requests().pop().unwrap().body;
    let user = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "user")
        .unwrap()
        .clone();
    assert_eq!(
        user["content"],
        json!([
            {"type": "text", "text": "What is in these?"},
            {"type": "image_url", "image_url": {"url": data_url}},
            {"type": "image_url", "image_url": {"url": data_url}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        ])
    );
}

/// The model reads `shot.png`; the request after the call is returned.
async fn read_png(model: &str) -> (Value, Vec<Message>) {
    let (_dir, ws) = setup();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(json!({"turn": {"toolCalls": [
        {"id": "call_png", "name": "read_file", "args": {"path": "shot.png"}}]}})));
    mock.push(respond(json!({"turn": {"text": "One red pixel."}})));
    let a = agent(model, &mock, &ws);
    let r = run(&a, RunInput::Text("look at shot.png".into())).await;
    assert!(r.success, "{:?}", r.error);
    assert_eq!(
        r.steps[0].status,
        harnext_core::protocol::ToolStatus::Ok,
        "{:?}",
        r.steps[0]
    );
    let history = a.session_messages(&r.session_id).unwrap();
    (mock.requests().pop().unwrap().body, history)
}

#[tokio::test]
async fn read_file_of_a_png_is_an_image_on_anthropic_and_responses_and_a_user_message_on_chat() {
    let png = json!({"type": "base64", "media_type": "image/png", "data": b64()});
    let data_url = format!("data:image/png;base64,{}", b64());

    let (body, history) = read_png("anthropic/claude-test").await;
    let result = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .find(|b| b["type"] == "tool_result")
        .unwrap();
    let parts = result["content"].as_array().unwrap();
    assert_eq!(parts[0]["type"], "text");
    assert!(parts[0]["text"]
        .as_str()
        .unwrap()
        .contains("`shot.png` is an image (image/png"));
    assert_eq!(parts[1], json!({"type": "image", "source": png}));
    // The session keeps the image inline (base64), tied to its call.
    assert!(history.iter().flat_map(|m| &m.content).any(|b| matches!(b,
        ContentBlock::Image { source: ImageSource::Base64 { media_type, .. }, tool_use_id: Some(id) }
            if media_type == "image/png" && id == "call_png")));

    let (body, _) = read_png("openai/gpt-test").await;
    let output = body["input"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call_output")
        .unwrap()["output"]
        .clone();
    assert_eq!(output[0]["type"], "input_text");
    assert_eq!(
        output[1],
        json!({"type": "input_image", "image_url": data_url, "detail": "auto"})
    );

    let (body, _) = read_png("openai-chat/llama-test").await;
    let msgs = body["messages"].as_array().unwrap();
    let tool = msgs.iter().position(|m| m["role"] == "tool").unwrap();
    assert!(msgs[tool]["content"]
        .as_str()
        .unwrap()
        .contains("is an image"));
    assert_eq!(
        msgs[tool + 1],
        json!({"role": "user", "content": [
            {"type": "text", "text": "The image returned by tool call call_png:"},
            {"type": "image_url", "image_url": {"url": data_url}},
        ]})
    );
}

fn refusal(agent: &Agent, block: ContentBlock) -> String {
    let mut request = RunRequest::text("unused");
    request.input = RunInput::Messages(vec![Message {
        role: Role::User,
        content: vec![
            ContentBlock::Text {
                text: "look".into(),
            },
            block,
        ],
    }]);
    match agent.start(request) {
        Ok(_) => panic!("the run started"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn hostile_images_are_refused_before_the_run_starts() {
    let (dir, ws) = setup();
    let mock = MockServer::start().await.unwrap();
    let a = agent("anthropic/claude-test", &mock, &ws);
    std::fs::write(dir.path().join("outside.png"), PNG).unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside.png"), ws.join("link.png")).unwrap();
    std::fs::write(ws.join("fake.png"), b"just text, named .png").unwrap();
    let mut huge = PNG.to_vec();
    huge.resize(harnext_core::protocol::image::MAX_IMAGE_BYTES + 1, 0);
    std::fs::write(ws.join("huge.png"), &huge).unwrap();
    let path = |p: &str| image(ImageSource::Path { path: p.into() });

    let e = refusal(&a, path("../outside.png"));
    assert!(
        e.contains("input[0].content[1]") && e.contains("outside the workspace"),
        "{e}"
    );
    let e = refusal(&a, path("link.png"));
    assert!(e.contains("outside the workspace"), "{e}");
    let e = refusal(&a, path("fake.png"));
    assert!(e.contains("not a PNG, JPEG, GIF or WebP"), "{e}");
    let e = refusal(&a, path("huge.png"));
    assert!(
        e.contains("over the 3932160-byte cap") && e.contains("does not downscale"),
        "{e}"
    );
    mkfifo(&ws.join("pipe.png"));
    let e = refusal(&a, path("pipe.png"));
    assert!(e.contains("not a regular file"), "{e}");
    let e = refusal(&a, path("missing.png"));
    assert!(e.contains("missing.png"), "{e}");
    let e = refusal(
        &a,
        image(ImageSource::Base64 {
            media_type: "image/png".into(),
            data: "@@not base64@@".into(),
        }),
    );
    assert!(e.contains("invalid base64"), "{e}");
    let e = refusal(
        &a,
        image(ImageSource::Base64 {
            media_type: "image/bmp".into(),
            data: b64(),
        }),
    );
    assert!(e.contains("unsupported media type \"image/bmp\""), "{e}");
    let e = refusal(
        &a,
        image(ImageSource::Base64 {
            media_type: "image/jpeg".into(),
            data: b64(),
        }),
    );
    assert!(
        e.contains("declared image/jpeg but the bytes are image/png"),
        "{e}"
    );
    let e = refusal(
        &a,
        image(ImageSource::Url {
            url: "https://alice:s3cret@example.com/a.png".into(),
        }),
    );
    assert!(e.contains("credentials") && !e.contains("s3cret"), "{e}");
    let e = refusal(
        &a,
        image(ImageSource::Url {
            url: "http://example.com/a.png".into(),
        }),
    );
    assert!(e.contains("only https"), "{e}");
    let mut request = RunRequest::text("unused");
    request.input = RunInput::Messages(vec![Message {
        role: Role::Assistant,
        content: vec![image(ImageSource::Base64 {
            media_type: "image/png".into(),
            data: b64(),
        })],
    }]);
    let e = a.start(request).err().unwrap().to_string();
    assert!(e.contains("only user messages may hold images"), "{e}");
    // Nothing reached the provider, and no session was written.
    assert!(mock.requests().is_empty());
    assert!(
        !ws.join(".sessions").exists()
            || std::fs::read_dir(ws.join(".sessions"))
                .unwrap()
                .next()
                .is_none()
    );
}

#[tokio::test]
async fn read_file_refuses_hostile_images_as_tool_errors() {
    let (dir, ws) = setup();
    let mock = MockServer::start().await.unwrap();
    std::fs::write(dir.path().join("outside.png"), PNG).unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside.png"), ws.join("link.png")).unwrap();
    let mut huge = PNG.to_vec();
    huge.resize(harnext_core::protocol::image::MAX_IMAGE_BYTES + 1, 0);
    std::fs::write(ws.join("huge.png"), &huge).unwrap();
    std::fs::write(ws.join("fake.png"), b"plain text in a .png").unwrap();
    mkfifo(&ws.join("pipe.png"));
    mock.push(respond(json!({"turn": {"toolCalls": [
        {"id": "c1", "name": "read_file", "args": {"path": "link.png"}},
        {"id": "c2", "name": "read_file", "args": {"path": "huge.png"}},
        {"id": "c3", "name": "read_file", "args": {"path": "fake.png"}},
        {"id": "c4", "name": "read_file", "args": {"path": "pipe.png"}}]}})));
    mock.push(respond(json!({"turn": {"text": "ok"}})));
    let a = agent("anthropic/claude-test", &mock, &ws);
    let r = run(&a, RunInput::Text("read them".into())).await;
    assert!(r.success, "{:?}", r.error);
    assert!(
        r.steps[0].output.contains("outside the workspace"),
        "{:?}",
        r.steps[0]
    );
    assert!(
        r.steps[1].output.contains("over the 3932160-byte cap"),
        "{:?}",
        r.steps[1]
    );
    // A file named .png that is text is read as text, not sent as an image.
    assert!(
        r.steps[2].output.contains("plain text in a .png"),
        "{:?}",
        r.steps[2]
    );
    // A FIFO named .png does not hang the call.
    assert!(
        r.steps[3].output.contains("not a regular file"),
        "{:?}",
        r.steps[3]
    );
    let body = mock.requests().pop().unwrap().body;
    assert!(
        !body.to_string().contains("\"image\""),
        "no image block: {body}"
    );
}

/// A `read_file` of an image answered through a durable approval (`"defer"`, then a
/// later run's answer) returns its image to the model, as one run at once does; and the
/// image of a call of the same turn that ran before the wait is kept too.
#[tokio::test]
async fn images_of_a_turn_that_waited_for_an_approval_reach_the_model() {
    use harnext_core::permissions::{Decision, FnHandler, PermissionError, PermissionHandler};
    use harnext_core::FnHook;
    use harnext_core::HookEvent;
    use std::sync::Arc;
    let (_dir, ws) = setup();
    std::fs::write(ws.join("later.png"), PNG).unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(json!({"turn": {"toolCalls": [
        {"id": "c_now", "name": "read_file", "args": {"path": "shot.png"}},
        {"id": "c_later", "name": "read_file", "args": {"path": "later.png"}}]}})));
    let mut c = AgentConfig::new("anthropic/claude-test");
    c.base_url = Some(mock.url());
    c.api_key = Some("sk-test-images".into());
    c.cwd = Some(ws.clone());
    c.session_dir = Some(ws.join(".sessions"));
    // The second read is asked about; the answer is deferred.
    c.hooks.add(
        HookEvent::PreToolUse,
        Arc::new(FnHook(|input: Value| {
            let ask = input["id"] == "c_later";
            Box::pin(async move { Ok(if ask { json!("ask") } else { Value::Null }) })
                as futures::future::BoxFuture<'static, Result<Value, String>>
        })),
    );
    let a = Agent::new(c).unwrap();
    let handler: Arc<dyn PermissionHandler> = Arc::new(FnHandler(|_| {
        Box::pin(async { Ok(Decision::Defer) })
            as futures::future::BoxFuture<'static, Result<Decision, PermissionError>>
    }));
    let mut request = RunRequest::text("look at both");
    request.permission_handler = Some(handler);
    let first = a
        .start(request)
        .unwrap()
        .execute(CancellationToken::new(), EventSink::none())
        .await;
    assert_eq!(
        first.stop_reason,
        harnext_core::protocol::StopReason::AwaitingApproval,
        "{first:?}"
    );

    mock.push(respond(json!({"turn": {"text": "Two red pixels."}})));
    let mut answers = serde_json::Map::new();
    answers.insert("c_later".into(), json!("allow"));
    let mut request = RunRequest::new(RunInput::Approvals(answers));
    request.session_id = Some(first.session_id.clone());
    let second = run_request(&a, request).await;
    assert!(second.success, "{:?}", second.error);

    // The model's next request: each read's result carries its image.
    let body = mock.requests().pop().unwrap().body;
    let png = json!({"type": "base64", "media_type": "image/png", "data": b64()});
    let results: Vec<Value> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter(|b| b["type"] == "tool_result")
        .collect();
    assert_eq!(results.len(), 2, "{body}");
    for (result, id) in results.iter().zip(["c_now", "c_later"]) {
        assert_eq!(result["tool_use_id"], id, "{body}");
        let parts = result["content"]
            .as_array()
            .unwrap_or_else(|| panic!("{result}"));
        assert_eq!(
            parts[1],
            json!({"type": "image", "source": png}),
            "{result}"
        );
    }
    // The session keeps both, tied to their calls.
    let history = a.session_messages(&first.session_id).unwrap();
    for id in ["c_now", "c_later"] {
        assert!(
            history.iter().flat_map(|m| &m.content).any(|b| matches!(b,
                ContentBlock::Image { tool_use_id: Some(t), .. } if t == id)),
            "no image for {id}"
        );
    }
}

async fn run_request(agent: &Agent, request: RunRequest) -> RunResult {
    agent
        .start(request)
        .unwrap()
        .execute(CancellationToken::new(), EventSink::none())
        .await
}
