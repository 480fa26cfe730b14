//! The plan the user can see: `todo_write` and the `todo` events, end to end against the
//! mock Anthropic server; the list kept in the session for the next run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use harnext_core::protocol::AgentEvent;
use harnext_core::protocol::RunResult;
use harnext_core::protocol::TodoItem;
use harnext_core::protocol::TodoStatus;
use harnext_core::protocol::ToolStatus;
use harnext_core::Agent;
use harnext_core::AgentConfig;
use harnext_core::EventSink;
use harnext_core::RunRequest;
use harnext_mock::MockResponse;
use harnext_mock::MockServer;
use serde_json::json;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn push(mock: &MockServer, v: Value) {
    mock.push(MockResponse::from_json(v).unwrap());
}

fn agent(mock: &MockServer, dir: &std::path::Path, mode: &str) -> Agent {
    let mut c = AgentConfig::new("anthropic/claude-test");
    c.base_url = Some(mock.url());
    c.api_key = Some("sk-ant-test".into());
    c.cwd = Some(dir.to_path_buf());
    c.persist_session = false;
    c.permission_mode = harnext_core::permissions::PermissionMode::parse(mode).unwrap();
    Agent::new(c).unwrap()
}

async fn run(agent: &Agent, request: RunRequest) -> (Vec<AgentEvent>, RunResult) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let run = agent.start(request).unwrap();
    let result = run
        .execute(CancellationToken::new(), EventSink::channel(tx))
        .await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (events, result)
}

fn todo_call(id: &str, items: &[(&str, &str)]) -> Value {
    let todos: Vec<Value> = items
        .iter()
        .map(|(content, status)| json!({"content": content, "status": status}))
        .collect();
    json!({"id": id, "name": "todo_write", "args": {"todos": todos}})
}

fn item(content: &str, status: TodoStatus) -> TodoItem {
    TodoItem {
        content: content.into(),
        status,
    }
}

/// The events that matter here, as short strings.
fn trace(events: &[AgentEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ToolCall { id, .. } => Some(format!("call {id}")),
            AgentEvent::ToolResult { id, status, .. } => Some(format!("result {id} {status:?}")),
            AgentEvent::Todo { todos } => Some(format!(
                "todo {}",
                todos
                    .iter()
                    .map(|t| format!("{}={}", t.content, t.status.as_str()))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn each_change_of_the_list_is_a_todo_event_with_the_whole_list_and_a_resumed_run_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    // The read-only mode: the plan is no change to the workspace, it is never refused.
    let agent = agent(&mock, dir.path(), "read-only");
    push(
        &mock,
        json!({"turn": {"toolCalls": [todo_call("t1", &[("Read the code", "in_progress"), ("Fix the bug", "pending")])]}}),
    );
    push(
        &mock,
        json!({"turn": {"toolCalls": [
            // Refused (two in progress): no event, the list stays.
            todo_call("t2", &[("Read the code", "in_progress"), ("Fix the bug", "in_progress")]),
        ]}}),
    );
    push(
        &mock,
        json!({"turn": {"toolCalls": [
            todo_call("t3", &[("Read the code", "completed"), ("Fix the bug", "in_progress")]),
            // The same list again: no change, no event.
            todo_call("t4", &[("Read the code", "completed"), ("Fix the bug", "in_progress")]),
        ]}}),
    );
    push(&mock, json!({"turn": {"text": "Working on it."}}));
    let (events, result) = run(&agent, RunRequest::text("fix it")).await;
    assert!(result.success, "{result:?}");
    assert_eq!(
        trace(&events),
        [
            "call t1",
            "todo Read the code=in_progress,Fix the bug=pending",
            "result t1 Ok",
            "call t2",
            "result t2 Error",
            "call t3",
            "todo Read the code=completed,Fix the bug=in_progress",
            "result t3 Ok",
            "call t4",
            "result t4 Ok",
        ]
    );
    let t2 = result.steps.iter().find(|s| s.id == "t2").unwrap();
    assert!(
        t2.output.contains("at most one may be"),
        "the model is told what is wrong: {}",
        t2.output
    );
    let t1 = result.steps.iter().find(|s| s.id == "t1").unwrap();
    assert!(
        t1.output.contains("[>] Read the code\n[ ] Fix the bug"),
        "{}",
        t1.output
    );
    let want = vec![
        item("Read the code", TodoStatus::Completed),
        item("Fix the bug", TodoStatus::InProgress),
    ];
    let session = agent.load_session(&result.session_id).unwrap();
    assert_eq!(session.todos, want);
    // A fork of the whole history keeps the list; one cut earlier starts without.
    let fork = agent.fork_session(&result.session_id, None).unwrap();
    assert_eq!(agent.load_session(&fork).unwrap().todos, want);
    let cut = agent.fork_session(&result.session_id, Some(1)).unwrap();
    assert!(agent.load_session(&cut).unwrap().todos.is_empty());

    // The next run of the session starts with the list: the same list is no change, a
    // new one is.
    push(
        &mock,
        json!({"turn": {"toolCalls": [
            todo_call("t5", &[("Read the code", "completed"), ("Fix the bug", "in_progress")]),
            todo_call("t6", &[("Read the code", "completed"), ("Fix the bug", "completed")]),
        ]}}),
    );
    push(&mock, json!({"turn": {"text": "Done."}}));
    let mut again = RunRequest::text("go on");
    again.session_id = Some(result.session_id.clone());
    let (events, result) = run(&agent, again).await;
    assert!(result.success, "{result:?}");
    assert_eq!(
        trace(&events),
        [
            "call t5",
            "result t5 Ok",
            "call t6",
            "todo Read the code=completed,Fix the bug=completed",
            "result t6 Ok",
        ]
    );
    assert_eq!(
        agent.load_session(&result.session_id).unwrap().todos,
        vec![
            item("Read the code", TodoStatus::Completed),
            item("Fix the bug", TodoStatus::Completed),
        ]
    );
    assert!(result.steps.iter().all(|s| s.status == ToolStatus::Ok));
}

#[tokio::test]
async fn todo_write_is_offered_by_default_and_left_out_when_tools_leave_it_out() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    push(&mock, json!({"turn": {"text": "hi"}}));
    let agent = agent(&mock, dir.path(), "auto");
    run(&agent, RunRequest::text("hi")).await;
    let names = |i: usize| -> Vec<String> {
        mock.requests()[i].body["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        names(0).contains(&"todo_write".to_owned()),
        "{:?}",
        names(0)
    );
    let mut c = AgentConfig::new("anthropic/claude-test");
    c.base_url = Some(mock.url());
    c.api_key = Some("sk-ant-test".into());
    c.cwd = Some(dir.path().to_path_buf());
    c.persist_session = false;
    c.tools = Some(vec!["read_file".into()]);
    push(&mock, json!({"turn": {"text": "hi"}}));
    run(&Agent::new(c).unwrap(), RunRequest::text("hi")).await;
    assert_eq!(names(1), ["read_file"]);
}
