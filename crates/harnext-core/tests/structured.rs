//! Structured output end to end: Anthropic (final-answer tool, through the mock server)
//! and the scripted model (JSON reply text).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use harnext_core::output::OutputRequest;
use harnext_core::protocol::ErrorCode;
use harnext_core::protocol::ScriptedTurn;
use harnext_core::protocol::StopReason;
use harnext_core::Agent;
use harnext_core::AgentConfig;
use harnext_core::EventSink;
use harnext_core::RunError;
use harnext_core::RunRequest;
use harnext_mock::MockResponse;
use harnext_mock::MockServer;
use serde_json::json;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": { "risk": { "type": "string", "enum": ["low", "medium", "high"] }, "summary": { "type": "string" } },
        "required": ["risk", "summary"],
        "additionalProperties": false
    })
}

fn request(max_retries: u32) -> RunRequest {
    let mut r = RunRequest::text("Review the diff");
    r.output = Some(OutputRequest {
        schema: schema(),
        validator: None,
        max_retries,
    });
    r
}

fn anthropic(mock: &MockServer, dir: &std::path::Path) -> Agent {
    let mut c = AgentConfig::new("anthropic/claude-test");
    c.base_url = Some(mock.url());
    c.api_key = Some("k".into());
    c.cwd = Some(dir.to_path_buf());
    Agent::new(c).unwrap()
}

fn push(mock: &MockServer, v: Value) {
    mock.push(MockResponse::from_json(v).unwrap());
}

#[tokio::test]
async fn tool_steps_then_a_valid_final_answer_gives_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    push(
        &mock,
        json!({"turn": {"toolCalls": [{"name": "bash", "args": {"command": "echo diff"}}]}}),
    );
    push(
        &mock,
        json!({"turn": {"text": "Looks fine.", "toolCalls": [{"name": "final_answer", "args": {"risk": "low", "summary": "Small change."}}]}}),
    );
    let agent = anthropic(&mock, dir.path());
    let result = agent
        .start(request(2))
        .unwrap()
        .execute(CancellationToken::new(), EventSink::none())
        .await;
    assert!(result.success, "{result:?}");
    assert_eq!(
        result.output,
        Some(json!({"risk": "low", "summary": "Small change."}))
    );
    assert_eq!(result.steps.len(), 1, "the final answer is not a tool step");
    let reqs = mock.requests();
    let tools = reqs[0].body["tools"].as_array().unwrap();
    let fa = tools.iter().find(|t| t["name"] == "final_answer").unwrap();
    assert_eq!(fa["input_schema"], schema());
    assert!(
        reqs[0].body.get("tool_choice").is_none(),
        "tool steps are not constrained"
    );
    let history = agent.session_messages(&result.session_id).unwrap();
    let last = history.last().unwrap();
    assert!(
        matches!(&last.content[0], harnext_core::protocol::ContentBlock::ToolResult { content, .. } if content == "Final answer accepted.")
    );
}

#[tokio::test]
async fn an_invalid_answer_is_repaired_on_the_next_try_with_the_exact_issues() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    push(
        &mock,
        json!({"turn": {"toolCalls": [{"name": "final_answer", "args": {"risk": "extreme"}}]}}),
    );
    push(
        &mock,
        json!({"turn": {"toolCalls": [{"name": "final_answer", "args": {"risk": "high", "summary": "Drops a table."}}]}}),
    );
    let agent = anthropic(&mock, dir.path());
    let result = agent
        .start(request(2))
        .unwrap()
        .execute(CancellationToken::new(), EventSink::none())
        .await;
    assert!(result.success);
    assert_eq!(result.output.unwrap()["risk"], "high");
    let second = &mock.requests()[1].body["messages"];
    let feedback = &second[2]["content"][0];
    assert_eq!(feedback["is_error"], true);
    let text = feedback["content"].as_str().unwrap();
    assert!(text.contains("/risk") && text.contains("summary"), "{text}");
}

#[tokio::test]
async fn an_always_invalid_model_ends_in_output_invalid_with_the_issues() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    push(
        &mock,
        json!({"turn": {"toolCalls": [{"name": "final_answer", "args": {"risk": "none"}}]}, "times": 3}),
    );
    let agent = anthropic(&mock, dir.path());
    let result = agent
        .start(request(2))
        .unwrap()
        .execute(CancellationToken::new(), EventSink::none())
        .await;
    assert!(!result.success);
    assert_eq!(result.stop_reason, StopReason::Error);
    assert!(result.output.is_none());
    let err = result.error.unwrap();
    assert_eq!(err.code, ErrorCode::OutputInvalid);
    assert!(
        err.message.contains("3 attempt(s)") && err.message.contains("/risk"),
        "{}",
        err.message
    );
    assert_eq!(mock.requests().len(), 3);
}

#[tokio::test]
async fn a_turn_ending_without_an_answer_forces_the_final_answer_tool() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    push(&mock, json!({"turn": {"text": "The risk is low."}}));
    push(
        &mock,
        json!({"turn": {"toolCalls": [{"name": "final_answer", "args": {"risk": "low", "summary": "ok"}}]}}),
    );
    let agent = anthropic(&mock, dir.path());
    let result = agent
        .start(request(2))
        .unwrap()
        .execute(CancellationToken::new(), EventSink::none())
        .await;
    assert!(result.success, "{result:?}");
    let second = &mock.requests()[1].body;
    assert_eq!(
        second["tool_choice"],
        json!({"type": "tool", "name": "final_answer"})
    );
}

fn scripted(dir: &std::path::Path, turns: Vec<Value>) -> Agent {
    let mut c = AgentConfig::new("scripted");
    c.cwd = Some(dir.to_path_buf());
    c.script = Some(
        turns
            .into_iter()
            .map(|t| serde_json::from_value::<ScriptedTurn>(t).unwrap())
            .collect(),
    );
    Agent::new(c).unwrap()
}

#[tokio::test]
async fn json_text_answers_are_parsed_validated_and_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let agent = scripted(
        dir.path(),
        vec![
            json!({"text": "Here you go: {\"risk\": \"low\"}"}),
            json!({"text": "```json\n{\"risk\": \"low\", \"summary\": \"fine\"}\n```"}),
        ],
    );
    let result = agent
        .start(request(1))
        .unwrap()
        .execute(CancellationToken::new(), EventSink::none())
        .await;
    assert!(result.success, "{result:?}");
    assert_eq!(
        result.output,
        Some(json!({"risk": "low", "summary": "fine"}))
    );
    let history = agent.session_messages(&result.session_id).unwrap();
    assert!(
        history[2].text().contains("summary"),
        "the repair message names the missing field: {:?}",
        history[2]
    );
}

#[tokio::test]
async fn a_bad_output_schema_is_misuse_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let agent = scripted(dir.path(), vec![]);
    let mut r = RunRequest::text("x");
    r.output = Some(OutputRequest {
        schema: json!({"type": 5}),
        validator: None,
        max_retries: 1,
    });
    assert!(matches!(
        agent.start(r).err(),
        Some(RunError::InvalidOutputSchema(_))
    ));
}

/// A binding's validator that never answers (a Standard Schema with a hung async check).
struct Hung;

impl harnext_core::output::OutputValidator for Hung {
    fn validate(
        &self,
        _value: Value,
    ) -> futures::future::BoxFuture<'static, Result<Value, Vec<String>>> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn a_validator_that_never_answers_stops_on_cancel_and_the_answer_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    push(
        &mock,
        json!({"turn": {"toolCalls": [{"id": "fa1", "name": "final_answer", "args": {"risk": "low", "summary": "ok"}}]}}),
    );
    let agent = anthropic(&mock, dir.path());
    let mut r = request(2);
    if let Some(o) = r.output.as_mut() {
        o.validator = Some(std::sync::Arc::new(Hung));
    }
    let run = agent.start(r).unwrap();
    let session = run.session_id().to_owned();
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        canceller.cancel();
    });
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        run.execute(cancel, EventSink::none()),
    )
    .await
    .expect("the run ends on cancel");
    assert!(result.cancelled && !result.success, "{result:?}");
    assert_eq!(result.stop_reason, StopReason::Cancelled);
    // The answer's call has its result in the session: the history stays valid.
    let messages = agent.session_messages(&session).unwrap();
    let last = messages.last().unwrap();
    assert!(
        matches!(&last.content[0], harnext_core::protocol::ContentBlock::ToolResult { tool_use_id, status, .. }
            if tool_use_id == "fa1" && *status == harnext_core::protocol::ToolStatus::Cancelled),
        "{last:?}"
    );
}
