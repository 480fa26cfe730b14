//! Subagents (the `agents` option and the `task` tool), end to end against the mock
//! Anthropic server: two tasks delegated in one turn run concurrently, their events
//! come wrapped, their usage and cost roll up, their transcripts stay in the session,
//! a cancellation stops both; unknown agents and bad definitions are refused clearly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use harnext_core::protocol::AgentEvent;
use harnext_core::protocol::RunResult;
use harnext_core::protocol::StopReason;
use harnext_core::protocol::ToolStatus;
use harnext_core::subagent::agents_from_json;
use harnext_core::Agent;
use harnext_core::AgentConfig;
use harnext_core::EventSink;
use harnext_core::PermissionMode;
use harnext_core::RunRequest;
use harnext_mock::MockResponse;
use harnext_mock::MockServer;
use serde_json::json;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn respond(v: Value) -> MockResponse {
    MockResponse::from_json(v).unwrap()
}

fn neutral(k: &str) -> String {
    k.to_owned()
}

fn definitions() -> Value {
    json!({
        "finder": { "description": "Finds things in the code", "system_prompt": "You find things.",
                    "tools": ["read_file", "grep"] },
        "counter": { "description": "Counts things", "system_prompt": "You count things.",
                     "tools": ["read_file"], "max_steps": 3 },
    })
}

fn agent(
    mock: &MockServer,
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut AgentConfig),
) -> Result<Agent, harnext_core::ConfigError> {
    let mut c = AgentConfig::new("anthropic/claude-sonnet-4-5");
    c.base_url = Some(mock.url());
    c.api_key = Some("sk-ant-test".into());
    c.cwd = Some(dir.to_path_buf());
    c.persist_session = false;
    c.agents = agents_from_json(&definitions(), &neutral).unwrap();
    tweak(&mut c);
    Agent::new(c)
}

async fn run_collect(agent: &Agent, request: RunRequest) -> (Vec<AgentEvent>, RunResult) {
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

fn two_tasks() -> Value {
    json!({"turn": {"toolCalls": [
        {"id": "t1", "name": "task", "args": {"agent": "finder", "prompt": "Find the answer in a.txt"}},
        {"id": "t2", "name": "task", "args": {"agent": "counter", "prompt": "Count the answers"}}
    ], "usage": {"inputTokens": 100, "outputTokens": 10}}})
}

/// The nested events, as (agent, call id, inner event).
fn nested(events: &[AgentEvent]) -> Vec<(String, String, AgentEvent)> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Subagent {
                agent,
                call_id,
                event,
            } => Some((agent.clone(), call_id.clone(), (**event).clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_parent_delegates_two_concurrent_tasks_and_uses_their_answers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "the answer is 42\n").unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(two_tasks()));
    // The two subagents ask at the same time; whichever asks first reads a file (slowly,
    // so the other is asking meanwhile), the other answers slowly.
    mock.push(respond(json!({"turn": {"text": "Reading.", "toolCalls": [{"name": "read_file", "args": {"path": "a.txt"}}],
        "usage": {"inputTokens": 1000, "outputTokens": 50}}, "chunkDelayMs": 100})));
    mock.push(respond(json!({"turn": {"text": "ANSWER-Y counted three", "usage": {"inputTokens": 2000, "outputTokens": 60}},
        "chunkDelayMs": 150})));
    mock.push(respond(json!({"turn": {"text": "ANSWER-X is 42", "usage": {"inputTokens": 3000, "outputTokens": 70}}})));
    mock.push(respond(json!({"turn": {"text": "Both agents answered.", "usage": {"inputTokens": 400, "outputTokens": 40}}})));
    let agent = agent(&mock, dir.path(), |_| {}).unwrap();
    let (events, result) = run_collect(&agent, RunRequest::text("Delegate")).await;
    assert!(result.success, "{result:?}");
    assert_eq!(result.text, "Both agents answered.");

    // The parent's next call carried both answers as the task results.
    let requests = mock.requests();
    assert_eq!(requests.len(), 5);
    let last = requests.last().unwrap().body.to_string();
    assert!(
        last.contains("ANSWER-X is 42") && last.contains("ANSWER-Y counted three"),
        "{last}"
    );
    let steps: Vec<(&str, ToolStatus)> = result
        .steps
        .iter()
        .map(|s| (s.id.as_str(), s.status))
        .collect();
    assert_eq!(steps, [("t1", ToolStatus::Ok), ("t2", ToolStatus::Ok)]);
    // The subagents' requests had their own system prompts and tools, no `task`.
    for r in &requests[1..4] {
        let tools: Vec<&str> = r.body["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(!tools.contains(&"task"), "{tools:?}");
        assert!(
            !tools.contains(&"bash") && !tools.contains(&"write_file"),
            "{tools:?}"
        );
    }
    let parent_tools = requests[0].body["tools"].to_string();
    assert!(parent_tools.contains("\"task\"") && parent_tools.contains("Finds things in the code"));

    // Nested events: tagged with the agent and the task call, each subagent's run whole.
    let nested = nested(&events);
    let tags: BTreeSet<(String, String)> = nested
        .iter()
        .map(|(a, c, _)| (a.clone(), c.clone()))
        .collect();
    assert_eq!(
        tags,
        BTreeSet::from([
            ("counter".into(), "t2".into()),
            ("finder".into(), "t1".into())
        ])
    );
    for call in ["t1", "t2"] {
        let own: Vec<&AgentEvent> = nested
            .iter()
            .filter(|(_, c, _)| c == call)
            .map(|(_, _, e)| e)
            .collect();
        assert!(
            matches!(own.first(), Some(AgentEvent::RunStart { .. })),
            "{own:?}"
        );
        assert!(
            matches!(own.last(), Some(AgentEvent::RunEnd { .. })),
            "{own:?}"
        );
    }
    assert!(nested
        .iter()
        .any(|(_, _, e)| matches!(e, AgentEvent::ToolCall { tool, .. } if tool == "read_file")));
    // Concurrent: both subagents started before either ended.
    let first_end = nested
        .iter()
        .position(|(_, _, e)| matches!(e, AgentEvent::RunEnd { .. }))
        .unwrap();
    let starts = nested[..first_end]
        .iter()
        .filter(|(_, _, e)| matches!(e, AgentEvent::RunStart { .. }))
        .count();
    assert_eq!(
        starts, 2,
        "the second subagent started only after the first ended"
    );
    // The parent's own events are not wrapped: one run_start, one run_end, at the ends.
    assert!(matches!(events.first(), Some(AgentEvent::RunStart { .. })));
    assert!(matches!(events.last(), Some(AgentEvent::RunEnd { .. })));

    // Usage and cost roll up into the parent's totals.
    assert_eq!(result.usage.input_tokens, 100 + 1000 + 2000 + 3000 + 400);
    assert_eq!(result.usage.output_tokens, 10 + 50 + 60 + 70 + 40);
    let cost = result.cost_usd.unwrap();
    let expected = (6500.0 * 3.0 + 230.0 * 15.0) / 1_000_000.0;
    assert!((cost - expected).abs() < 1e-9, "{cost} vs {expected}");

    // The transcripts are in the parent's session.
    let data = agent.load_session(&result.session_id).unwrap();
    assert_eq!(data.usage.input_tokens, result.usage.input_tokens);
    let mut kept: Vec<(String, String)> = data
        .subagents
        .iter()
        .map(|t| (t.agent.clone(), t.call_id.clone()))
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        [
            ("counter".into(), "t2".into()),
            ("finder".into(), "t1".into())
        ]
    );
    for t in &data.subagents {
        assert_eq!(t.stop_reason, StopReason::EndTurn);
        assert!(t.messages.len() >= 2, "{t:?}");
        let first = serde_json::to_string(&t.messages[0]).unwrap();
        assert!(
            first.contains("Find the answer") || first.contains("Count the answers"),
            "{first}"
        );
    }
    let finder = data.subagents.iter().find(|t| t.agent == "finder").unwrap();
    assert!(
        serde_json::to_string(&finder.messages)
            .unwrap()
            .contains("the answer is 42")
            || data
                .subagents
                .iter()
                .any(|t| serde_json::to_string(&t.messages)
                    .unwrap()
                    .contains("the answer is 42"))
    );
}

#[tokio::test]
async fn cancelling_the_parent_stops_both_subagents() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(two_tasks()));
    let slow = json!({"turn": {"text": "one two three four five six seven eight nine ten"}, "chunkDelayMs": 2000, "times": 2});
    mock.push(respond(slow));
    let agent = agent(&mock, dir.path(), |_| {}).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let run = agent.start(RunRequest::text("Delegate")).unwrap();
    let cancel = CancellationToken::new();
    let handle = tokio::spawn(run.execute(cancel.clone(), EventSink::channel(tx)));
    let mut events = Vec::new();
    let mut started = 0;
    while let Some(e) = rx.recv().await {
        if let AgentEvent::Subagent { event, .. } = &e {
            if matches!(
                **event,
                AgentEvent::Text { .. } | AgentEvent::RunStart { .. }
            ) {
                started += usize::from(matches!(**event, AgentEvent::RunStart { .. }));
            }
        }
        events.push(e);
        if started == 2 {
            break;
        }
    }
    // Both subagents run; their model calls are on their way.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    cancel.cancel();
    let result = handle.await.unwrap();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    assert!(result.cancelled, "{result:?}");
    let statuses: Vec<ToolStatus> = result.steps.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [ToolStatus::Cancelled, ToolStatus::Cancelled]);
    let ends: Vec<(String, bool)> = nested(&events)
        .into_iter()
        .filter_map(|(_, c, e)| match e {
            AgentEvent::RunEnd { result } => Some((c, result.cancelled)),
            _ => None,
        })
        .collect();
    assert_eq!(ends.len(), 2, "{ends:?}");
    assert!(ends.iter().all(|(_, cancelled)| *cancelled), "{ends:?}");
    // No further model call: the parent did not go on.
    assert_eq!(mock.requests().len(), 3);
    let data = agent.load_session(&result.session_id).unwrap();
    assert_eq!(data.subagents.len(), 2);
    assert!(data
        .subagents
        .iter()
        .all(|t| t.stop_reason == StopReason::Cancelled));
}

#[tokio::test]
async fn an_unknown_agent_is_answered_with_the_closest_name_and_read_only_reaches_subagents() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(json!({"turn": {"toolCalls": [
        {"id": "u1", "name": "task", "args": {"agent": "findr", "prompt": "x"}}]}})));
    mock.push(respond(json!({"turn": {"text": "ok"}})));
    let agent_ = agent(&mock, dir.path(), |_| {}).unwrap();
    let (_, result) = run_collect(&agent_, RunRequest::text("go")).await;
    assert_eq!(result.steps[0].status, ToolStatus::Error);
    assert!(
        result.steps[0]
            .output
            .contains("Unknown agent `findr`: did you mean `finder`?"),
        "{}",
        result.steps[0].output
    );

    // A read-only parent: its subagent cannot write either.
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(json!({"turn": {"toolCalls": [
        {"id": "w1", "name": "task", "args": {"agent": "writer", "prompt": "write"}}]}})));
    mock.push(respond(json!({"turn": {"toolCalls": [{"name": "write_file", "args": {"path": "x.txt", "content": "hi"}}]}})));
    mock.push(respond(json!({"turn": {"text": "could not"}})));
    mock.push(respond(json!({"turn": {"text": "done"}})));
    let agent_ = agent(&mock, dir.path(), |c| {
        c.permission_mode = PermissionMode::ReadOnly;
        c.agents = agents_from_json(
            &json!({"writer": {"description": "w", "system_prompt": "w", "tools": ["write_file"]}}),
            &neutral,
        )
        .unwrap();
    })
    .unwrap();
    let (events, result) = run_collect(&agent_, RunRequest::text("go")).await;
    assert!(result.success, "{result:?}");
    assert!(!dir.path().join("x.txt").exists());
    let denied = nested(&events).into_iter().any(|(_, _, e)| {
        matches!(
            e,
            AgentEvent::ToolResult {
                status: ToolStatus::Denied,
                ..
            }
        )
    });
    assert!(denied, "{events:?}");
}

#[test]
fn bad_definitions_are_refused_naming_the_problem() {
    let err = |v: Value| agents_from_json(&v, &neutral).unwrap_err();
    let e = err(json!({"a": {"description": "d", "sytem_prompt": "p", "tools": []}}));
    assert_eq!(
        e,
        "`a`: unknown field \"sytem_prompt\": did you mean `system_prompt`?"
    );
    let e = err(json!({"a": {"description": "d", "tools": []}}));
    assert!(e.contains("`system_prompt` is required"), "{e}");
    let e = err(json!({"a": {"description": "d", "system_prompt": "p"}}));
    assert!(e.contains("`tools` is required"), "{e}");
    let e =
        err(json!({"a": {"description": "d", "system_prompt": "p", "tools": [], "max_steps": 0}}));
    assert!(e.contains("`max_steps` must be an integer >= 1"), "{e}");
    assert!(err(json!([1])).contains("expected an object of agents by name"));
    // The face's spelling is used in the messages.
    let camel = |k: &str| {
        if k == "system_prompt" {
            "systemPrompt".to_owned()
        } else {
            k.to_owned()
        }
    };
    let e = agents_from_json(
        &json!({"a": {"description": "d", "system_prompt": "p", "tools": []}}),
        &camel,
    )
    .unwrap_err();
    assert!(e.contains("did you mean `systemPrompt`?"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let build = |agents: Value| {
        let mut c = AgentConfig::new("scripted");
        c.script = Some(Vec::new());
        c.cwd = Some(dir.path().to_path_buf());
        c.persist_session = false;
        c.agents = agents_from_json(&agents, &neutral).unwrap();
        Agent::new(c).map(|_| ()).unwrap_err().to_string()
    };
    let e = build(json!({"a": {"description": "d", "system_prompt": "p", "tools": ["read_fle"]}}));
    assert!(e.starts_with("invalid option `agents`"), "{e}");
    assert!(
        e.contains("unknown tool \"read_fle\" in `tools`: did you mean `read_file`?"),
        "{e}"
    );
    let e = build(json!({"a": {"description": "d", "system_prompt": "p", "tools": ["task"]}}));
    assert!(e.contains("cannot delegate further"), "{e}");
    let e = build(json!({"a b": {"description": "d", "system_prompt": "p", "tools": []}}));
    assert!(e.contains("agent name \"a b\""), "{e}");
    let e = build(
        json!({"a": {"description": "d", "system_prompt": "p", "tools": [], "model": "gemini/x"}}),
    );
    assert!(
        e.contains("`a`") && e.contains("unknown provider prefix"),
        "{e}"
    );
}
