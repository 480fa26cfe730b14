//! One conversation carried across the three wire formats against the mock server:
//! started on Anthropic, continued on the OpenAI Responses API, then on Chat
//! Completions, then back on Anthropic. Each provider gets the history it can use:
//! tool ids and results (with their error flag) everywhere, Anthropic's signed thinking
//! only on Anthropic, OpenAI's encrypted reasoning only on the Responses API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use harnext_core::protocol::ContentBlock;
use harnext_core::protocol::Message;
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

fn agent(model: &str, mock: &MockServer, dir: &std::path::Path) -> Agent {
    let mut c = AgentConfig::new(model);
    c.base_url = Some(mock.url());
    c.api_key = Some("sk-test-cross-provider".into());
    c.cwd = Some(dir.to_path_buf());
    c.session_dir = Some(dir.join(".sessions"));
    c.thinking_budget = Some(4096);
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

fn history(agent: &Agent, result: &RunResult) -> Vec<Message> {
    agent.session_messages(&result.session_id).unwrap()
}

fn with_user(mut messages: Vec<Message>, text: &str) -> RunInput {
    messages.push(Message::user_text(text));
    RunInput::Messages(messages)
}

fn respond(v: Value) -> MockResponse {
    MockResponse::from_json(v).unwrap()
}

#[tokio::test]
async fn a_conversation_moves_between_anthropic_responses_and_chat_keeping_tool_ids() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();

    // 1. Anthropic: signed thinking, a failing tool call, an answer.
    mock.push(respond(
        json!({"turn": {"thinking": "Check first.", "toolCalls": [
        {"id": "toolu_cross_1", "name": "read_file", "args": {"path": "missing.txt"}}]}}),
    ));
    mock.push(respond(json!({"turn": {"text": "The file is missing."}})));
    let anthropic = agent("anthropic/claude-test", &mock, dir.path());
    let first = run(&anthropic, RunInput::Text("read it".into())).await;
    assert!(first.success, "{:?}", first.error);
    let h1 = history(&anthropic, &first);
    assert!(h1.iter().flat_map(|m| &m.content).any(
        |b| matches!(b, ContentBlock::Thinking { signature: Some(s), .. } if s.starts_with("sig_mock_"))
    ));

    // 2. OpenAI Responses: the Anthropic call and its error result, no Anthropic thinking.
    mock.push(respond(
        json!({"turn": {"thinking": "Summarise.", "text": "It was never created."}}),
    ));
    let responses = agent("openai/gpt-test", &mock, dir.path());
    let second = run(&responses, with_user(h1, "why?")).await;
    assert!(second.success, "{:?}", second.error);
    let req = mock.requests().pop().unwrap();
    assert_eq!(req.path, "/v1/responses");
    assert_eq!(req.body["store"], json!(false));
    assert_eq!(req.body["include"], json!(["reasoning.encrypted_content"]));
    let input = req.body["input"].as_array().unwrap();
    let types: Vec<&str> = input
        .iter()
        .map(|i| i["type"].as_str().or(i["role"].as_str()).unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "user",
            "function_call",
            "function_call_output",
            "assistant",
            "user"
        ],
        "{input:?}"
    );
    assert_eq!(input[1]["call_id"], "toolu_cross_1");
    assert_eq!(
        input[1]["arguments"]
            .as_str()
            .map(|a| serde_json::from_str::<Value>(a).unwrap()),
        Some(json!({"path": "missing.txt"}))
    );
    assert_eq!(input[2]["call_id"], "toolu_cross_1");
    let output = input[2]["output"].as_str().unwrap();
    assert!(
        output.starts_with("[error] ") && output.contains("missing.txt"),
        "{output}"
    );
    let h2 = history(&responses, &second);
    assert!(h2.iter().flat_map(|m| &m.content).any(
        |b| matches!(b, ContentBlock::OpaqueReasoning { provider, .. } if provider == "openai")
    ));

    // 3. Chat Completions: tool_calls + a tool message; no reasoning of any kind.
    mock.push(respond(json!({"turn": {"text": "Anything else?"}})));
    let chat = agent("openai-chat/llama-test", &mock, dir.path());
    let third = run(&chat, with_user(h2.clone(), "ok")).await;
    assert!(third.success, "{:?}", third.error);
    let req = mock.requests().pop().unwrap();
    assert_eq!(req.path, "/v1/chat/completions");
    let msgs = req.body["messages"].as_array().unwrap();
    let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        [
            "system",
            "user",
            "assistant",
            "tool",
            "assistant",
            "user",
            "assistant",
            "user"
        ]
    );
    assert_eq!(msgs[2]["tool_calls"][0]["id"], "toolu_cross_1");
    assert_eq!(msgs[3]["tool_call_id"], "toolu_cross_1");
    assert!(msgs[3]["content"].as_str().unwrap().starts_with("[error] "));
    assert_eq!(msgs[6]["content"], "It was never created.");
    assert!(!req.body.to_string().contains("sig_mock_"));
    assert!(!req.body.to_string().contains("gAAAAmock"));

    // 4. Back on Anthropic: its own signed thinking goes back, OpenAI's reasoning does not.
    mock.push(respond(json!({"turn": {"text": "Bye."}})));
    let again = agent("anthropic/claude-test", &mock, dir.path());
    let fourth = run(&again, with_user(history(&chat, &third), "bye")).await;
    assert!(fourth.success, "{:?}", fourth.error);
    let req = mock.requests().pop().unwrap();
    assert_eq!(req.path, "/v1/messages");
    let body = req.body.to_string();
    assert!(
        body.contains("sig_mock_"),
        "Anthropic's signed thinking is sent back"
    );
    assert!(
        !body.contains("gAAAAmock"),
        "OpenAI's encrypted reasoning is not"
    );
    assert!(!body.contains("Summarise."), "unsigned reasoning is not");
    let msgs = req.body["messages"].as_array().unwrap();
    let result = msgs
        .iter()
        .flat_map(|m| m["content"].as_array().into_iter().flatten())
        .find(|b| b["type"] == "tool_result")
        .unwrap();
    assert_eq!(result["tool_use_id"], "toolu_cross_1");
    assert_eq!(result["is_error"], json!(true));
}
