//! Steering a run: budgets (`max_cost_usd`, `max_tokens`, `max_duration_ms`), end to end
//! against the mock Anthropic server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use harnext_core::protocol::AgentEvent;
use harnext_core::protocol::ErrorCode;
use harnext_core::protocol::RunResult;
use harnext_core::protocol::StopReason;
use harnext_core::Agent;
use harnext_core::AgentConfig;
use harnext_core::Budget;
use harnext_core::EventSink;
use harnext_core::RunError;
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

fn agent(
    mock: &MockServer,
    dir: &std::path::Path,
    model: &str,
    tweak: impl FnOnce(&mut AgentConfig),
) -> Result<Agent, harnext_core::ConfigError> {
    let mut c = AgentConfig::new(model);
    c.base_url = Some(mock.url());
    c.api_key = Some("sk-ant-test".into());
    c.cwd = Some(dir.to_path_buf());
    c.persist_session = false;
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

/// A model that calls `bash` forever, each turn reporting `input_tokens` of usage.
fn endless_tool_turns(mock: &MockServer, input_tokens: u64, command: &str) {
    mock.push(respond(json!({
        "turn": {"toolCalls": [{"name": "bash", "args": {"command": command}}],
                 "usage": {"inputTokens": input_tokens}},
        "times": 20
    })));
}

#[tokio::test]
async fn max_cost_usd_stops_after_the_step_that_reaches_it_and_every_usage_event_is_priced() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    // 100k input tokens of Sonnet 4.5 at $3 per million: $0.30 per call.
    endless_tool_turns(&mock, 100_000, "true");
    let agent = agent(&mock, dir.path(), "anthropic/claude-sonnet-4-5", |c| {
        c.budget.max_cost_usd = Some(0.5)
    })
    .unwrap();
    let (events, result) = run_collect(&agent, RunRequest::text("loop")).await;
    assert_eq!(result.stop_reason, StopReason::CostBudget, "{result:?}");
    assert!(!result.success);
    let error = result.error.clone().unwrap();
    assert_eq!(error.code, ErrorCode::CostBudget);
    assert!(
        error.message.contains("`max_cost_usd`"),
        "{}",
        error.message
    );
    // The second step brought the cost to $0.60: the run stopped there, its tool calls done.
    assert_eq!(mock.requests().len(), 2);
    assert_eq!(result.steps.len(), 2);
    assert!((result.cost_usd.unwrap() - 0.6).abs() < 1e-9, "{result:?}");
    let costs: Vec<Option<f64>> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Usage { cost_usd, .. } => Some(*cost_usd),
            _ => None,
        })
        .collect();
    assert_eq!(costs.len(), 2);
    assert!(
        costs.iter().all(|c| (c.unwrap() - 0.3).abs() < 1e-9),
        "{costs:?}"
    );
    assert!(matches!(
        &events[events.len() - 2..],
        [AgentEvent::Error { .. }, AgentEvent::RunEnd { .. }]
    ));
}

#[tokio::test]
async fn a_cost_budget_needs_a_known_price_and_an_unknown_price_gives_no_cost() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    let err = agent(&mock, dir.path(), "anthropic/claude-test", |c| {
        c.budget.max_cost_usd = Some(1.0)
    })
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.starts_with("invalid option `max_cost_usd`") && err.contains("anthropic/claude-test"),
        "{err}"
    );
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |_| {}).unwrap();
    let mut req = RunRequest::text("x");
    req.budget.max_cost_usd = Some(1.0);
    assert!(matches!(
        agent.start(req).err(),
        Some(RunError::InvalidBudget(
            harnext_core::protocol::OptionKey::MaxCostUsd,
            _
        ))
    ));
    mock.push(respond(
        json!({"turn": {"text": "hi", "usage": {"inputTokens": 10}}}),
    ));
    let (events, result) = run_collect(&agent, RunRequest::text("x")).await;
    assert!(result.success);
    assert_eq!(result.cost_usd, None, "absent, not zero");
    assert!(events
        .iter()
        .any(|e| matches!(e, AgentEvent::Usage { cost_usd: None, .. })));
}

#[tokio::test]
async fn max_tokens_stops_the_run_but_a_turn_that_ends_on_the_budget_still_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    endless_tool_turns(&mock, 100, "true");
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |c| {
        c.budget.max_tokens = Some(1000)
    })
    .unwrap();
    // The run's own budget overrides the agent's.
    let mut req = RunRequest::text("loop");
    req.budget = Budget {
        max_tokens: Some(250),
        ..Budget::default()
    };
    let (_, result) = run_collect(&agent, req).await;
    assert_eq!(result.stop_reason, StopReason::TokenBudget);
    assert_eq!(result.error.unwrap().code, ErrorCode::TokenBudget);
    assert_eq!(mock.requests().len(), 3, "100, 200, then 300 >= 250 tokens");
    assert_eq!(result.usage.input_tokens, 300);

    mock.reset();
    mock.push(respond(json!({"turn": {"toolCalls": [{"name": "bash", "args": {"command": "true"}}], "usage": {"inputTokens": 100}}})));
    mock.push(respond(
        json!({"turn": {"text": "done", "usage": {"inputTokens": 100}}}),
    ));
    let mut req = RunRequest::text("two steps");
    req.budget.max_tokens = Some(150);
    let (_, result) = run_collect(&agent, req).await;
    assert!(result.success, "{result:?}");
    assert_eq!(result.text, "done");
}

#[tokio::test]
async fn max_duration_ms_stops_the_run_after_the_step_that_runs_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    endless_tool_turns(&mock, 1, "sleep 0.1");
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |c| {
        c.budget.max_duration = Some(Duration::from_millis(150))
    })
    .unwrap();
    let (_, result) = run_collect(&agent, RunRequest::text("loop")).await;
    assert_eq!(result.stop_reason, StopReason::TimeBudget, "{result:?}");
    assert_eq!(result.error.unwrap().code, ErrorCode::TimeBudget);
    assert!(result.duration_ms >= 150);
    // Each step sleeps 100 ms: the budget is reached after one or two steps (more on a
    // machine so loaded that a step takes longer), never after all twenty.
    let steps = mock.requests().len();
    assert!((1..=2).contains(&steps), "{steps} steps");
    assert!(result
        .steps
        .iter()
        .all(|s| s.status == harnext_core::protocol::ToolStatus::Ok));
}

// ---------------------------------------------------------------------------------------
// Hooks

use std::sync::Arc;
use std::sync::Mutex;

use futures::future::BoxFuture;
use harnext_core::protocol::ToolStatus;
use harnext_core::FnHook;
use harnext_core::HookEvent;
use harnext_core::HookFn;

type Log = Arc<Mutex<Vec<Value>>>;

/// A hook that logs its input and answers `answer(input, call number)`.
fn hook(
    log: &Log,
    answer: impl Fn(&Value, usize) -> Result<Value, String> + Send + Sync + 'static,
) -> Arc<dyn HookFn> {
    let log = log.clone();
    Arc::new(FnHook(move |input: Value| {
        let n = {
            let mut log = log.lock().unwrap();
            log.push(input.clone());
            log.len()
        };
        let out = answer(&input, n);
        Box::pin(async move { out }) as BoxFuture<'static, Result<Value, String>>
    }))
}

fn hook_errors(events: &[AgentEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::HookError { hook, message } => Some((hook.clone(), message.clone())),
            _ => None,
        })
        .collect()
}

/// The text of the tool result the model got back in request `n`, for call `id`.
fn tool_result_sent(mock: &MockServer, n: usize, id: &str) -> String {
    let body = &mock.requests()[n].body;
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .find(|b| b["type"] == "tool_result" && b["tool_use_id"] == id)
        .map(|b| match &b["content"] {
            Value::String(s) => s.clone(),
            other => other[0]["text"].as_str().unwrap_or_default().to_owned(),
        })
        .unwrap()
}

#[tokio::test]
async fn a_pre_tool_use_hook_denies_bash_with_a_message_the_model_reads_and_rewrites_other_args() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(json!({"turn": {"toolCalls": [
        {"id": "b1", "name": "bash", "args": {"command": "touch pwned"}},
        {"id": "w1", "name": "write_file", "args": {"path": "a.txt", "content": "x"}}
    ]}})));
    mock.push(respond(json!({"turn": {"text": "ok, no shell"}})));
    let log: Log = Arc::default();
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |c| {
        c.hooks.add(
            HookEvent::PreToolUse,
            hook(&log, |input, _| {
                Ok(match input["tool"].as_str() {
                    Some("bash") => {
                        json!({"decision": "deny", "message": "No shell here: use the file tools."})
                    }
                    _ => json!({"args": {"path": "b.txt", "content": input["args"]["content"]}}),
                })
            }),
        );
    })
    .unwrap();
    let (events, result) = run_collect(&agent, RunRequest::text("go")).await;
    assert!(result.success, "{result:?}");
    assert_eq!(result.steps[0].status, ToolStatus::Denied);
    assert_eq!(result.steps[0].output, "No shell here: use the file tools.");
    assert!(
        !dir.path().join("pwned").exists(),
        "the denied command never ran"
    );
    // The model read the hook's message as the call's result.
    assert_eq!(
        tool_result_sent(&mock, 1, "b1"),
        "No shell here: use the file tools."
    );
    // The rewritten call wrote where the hook said.
    assert_eq!(result.steps[1].status, ToolStatus::Ok);
    assert_eq!(result.steps[1].args["path"], "b.txt");
    assert!(dir.path().join("b.txt").exists() && !dir.path().join("a.txt").exists());
    let inputs = log.lock().unwrap().clone();
    assert_eq!(inputs.len(), 2);
    assert_eq!(inputs[0]["event"], "pre_tool_use");
    assert_eq!(inputs[0]["id"], "b1");
    assert_eq!(inputs[0]["args"]["command"], "touch pwned");
    assert_eq!(inputs[0]["session"], result.session_id.as_str());
    assert!(hook_errors(&events).is_empty());
}

#[tokio::test]
async fn a_failing_hook_is_reported_and_fails_closed_for_pre_tool_use_and_open_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(json!({"turn": {"toolCalls": [
        {"id": "r1", "name": "read_file", "args": {"path": "f.txt"}},
        {"id": "r2", "name": "read_file", "args": {"path": "f.txt"}}
    ]}})));
    mock.push(respond(json!({"turn": {"text": "done"}})));
    std::fs::write(dir.path().join("f.txt"), "content\n").unwrap();
    let log: Log = Arc::default();
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |c| {
        // The first call's hook throws, the second's answers something it may not.
        c.hooks.add(
            HookEvent::PreToolUse,
            hook(&Log::default(), |_, n| match n {
                1 => Err("TypeError: boom".into()),
                _ => Ok(json!({"behavior": "allow"})),
            }),
        );
        c.hooks.add(
            HookEvent::PostToolUse,
            hook(&log, |_, _| Err("post boom".into())),
        );
        c.hooks.add(
            HookEvent::UserPromptSubmit,
            hook(&log, |_, _| Err("prompt boom".into())),
        );
    })
    .unwrap();
    let (events, result) = run_collect(&agent, RunRequest::text("go")).await;
    assert!(
        result.success,
        "a failing hook elsewhere does not stop the run"
    );
    for step in &result.steps {
        assert_eq!(step.status, ToolStatus::Denied);
    }
    assert!(result.steps[0]
        .output
        .contains("a pre_tool_use hook failed (TypeError: boom)"));
    assert!(result.steps[1].output.contains("unknown field `behavior`"));
    let errors = hook_errors(&events);
    let hooks: Vec<&str> = errors.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(
        hooks,
        ["user_prompt_submit", "pre_tool_use", "pre_tool_use"]
    );
    assert!(errors[1].1.contains("boom") && errors[1].1.contains("denied"));
    // Denied calls did not run, so there was nothing for post_tool_use.
    assert!(!log
        .lock()
        .unwrap()
        .iter()
        .any(|i| i["event"] == "post_tool_use"));
}

#[tokio::test]
async fn post_tool_use_replaces_or_adds_to_the_output_and_a_throw_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(json!({"turn": {"toolCalls": [
        {"id": "c1", "name": "bash", "args": {"command": "echo secret-value"}},
        {"id": "c2", "name": "bash", "args": {"command": "echo hello"}},
        {"id": "c3", "name": "bash", "args": {"command": "echo kept"}}
    ]}})));
    mock.push(respond(json!({"turn": {"text": "done"}})));
    let log: Log = Arc::default();
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |c| {
        c.hooks.add(
            HookEvent::PostToolUse,
            hook(&log, |input, _| match input["id"].as_str() {
                Some("c1") => Ok(json!({"output": "[withheld by policy]"})),
                Some("c2") => Ok(json!({"context": "Note: greetings are logged."})),
                _ => Err("boom".into()),
            }),
        );
    })
    .unwrap();
    let (events, result) = run_collect(&agent, RunRequest::text("go")).await;
    assert_eq!(result.steps[0].output, "[withheld by policy]");
    assert_eq!(tool_result_sent(&mock, 1, "c1"), "[withheld by policy]");
    assert!(
        result.steps[1]
            .output
            .ends_with("exit code: 0\n\nNote: greetings are logged."),
        "{}",
        result.steps[1].output
    );
    assert!(result.steps[2].output.starts_with("kept"));
    let inputs = log.lock().unwrap().clone();
    assert_eq!(inputs[0]["status"], "ok");
    assert!(inputs[0]["output"]
        .as_str()
        .unwrap()
        .contains("secret-value"));
    // The tool_result event shows what the model saw.
    assert!(events.iter().any(|e| matches!(e,
        AgentEvent::ToolResult { id, output, .. } if id == "c1" && output == "[withheld by policy]")));
    assert_eq!(hook_errors(&events).len(), 1);
}

#[tokio::test]
async fn a_stop_hook_continues_the_run_once_and_a_hook_that_always_continues_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(json!({"turn": {"text": "Done."}})));
    mock.push(respond(json!({"turn": {"text": "Tests checked too."}})));
    let log: Log = Arc::default();
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |c| {
        c.hooks.add(
            HookEvent::Stop,
            hook(&log, |input, _| {
                Ok(if input["continued"] == 0 {
                    json!({"decision": "continue", "message": "Also run the tests."})
                } else {
                    Value::Null
                })
            }),
        );
    })
    .unwrap();
    let (_, result) = run_collect(&agent, RunRequest::text("fix it")).await;
    assert!(result.success);
    assert_eq!(result.text, "Tests checked too.");
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    let last = requests[1].body["messages"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"][0]["text"], "Also run the tests.");
    let inputs = log.lock().unwrap().clone();
    assert_eq!(inputs[0]["result"]["text"], "Done.");
    assert_eq!(inputs.len(), 2);

    // A hook that always continues: 3 continues, then the run ends with a hook_error.
    mock.reset();
    mock.push(respond(json!({"turn": {"text": "again"}, "times": 10})));
    let agent = agent_with_stop(&mock, dir.path());
    let (events, result) = run_collect(&agent, RunRequest::text("x")).await;
    assert!(result.success);
    assert_eq!(mock.requests().len(), 4);
    let errors = hook_errors(&events);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].1.contains("more than 3 times"), "{errors:?}");
}

fn agent_with_stop(mock: &MockServer, dir: &std::path::Path) -> Agent {
    let log: Log = Arc::default();
    agent(mock, dir, "anthropic/claude-test", |c| {
        c.hooks.add(
            HookEvent::Stop,
            hook(&log, |_, _| {
                Ok(json!({"decision": "continue", "message": "more"}))
            }),
        );
    })
    .unwrap()
}

#[tokio::test]
async fn user_prompt_submit_adds_context_or_blocks_the_run_and_session_hooks_see_each_run() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(json!({"turn": {"text": "hi"}})));
    let log: Log = Arc::default();
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |c| {
        c.hooks.add(
            HookEvent::SessionStart,
            hook(&log, |_, _| Ok(json!({"context": "Today is Friday."}))),
        );
        c.hooks.add(
            HookEvent::UserPromptSubmit,
            hook(&log, |input, _| {
                Ok(if input["input"].as_str().unwrap().contains("rm -rf") {
                    json!({"decision": "block", "reason": "destructive request"})
                } else {
                    json!({"context": "The repo uses pnpm."})
                })
            }),
        );
        c.hooks
            .add(HookEvent::SessionEnd, hook(&log, |_, _| Ok(Value::Null)));
    })
    .unwrap();
    let (_, result) = run_collect(&agent, RunRequest::text("hello")).await;
    assert!(result.success);
    let sent = &mock.requests()[0].body["messages"][0]["content"];
    let texts: Vec<&str> = sent
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["hello", "Today is Friday.", "The repo uses pnpm."]);

    let mut again = RunRequest::text("now rm -rf everything");
    again.session_id = Some(result.session_id.clone());
    let (events, blocked) = run_collect(&agent, again).await;
    assert_eq!(blocked.stop_reason, StopReason::Blocked);
    assert!(!blocked.success);
    let error = blocked.error.unwrap();
    assert_eq!(error.code, ErrorCode::Blocked);
    assert!(error.message.contains("destructive request"));
    assert_eq!(
        mock.requests().len(),
        1,
        "a blocked run makes no model call"
    );
    assert!(matches!(
        &events[events.len() - 2..],
        [AgentEvent::Error { .. }, AgentEvent::RunEnd { .. }]
    ));
    // The blocked input is not in the session.
    let messages = agent.session_messages(&result.session_id).unwrap();
    assert_eq!(messages.len(), 2);

    let events: Vec<(String, String)> = log
        .lock()
        .unwrap()
        .iter()
        .map(|i| {
            let detail = ["source", "reason"]
                .iter()
                .find_map(|k| i[*k].as_str())
                .unwrap_or("");
            (i["event"].as_str().unwrap().to_owned(), detail.to_owned())
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("session_start", "new"),
        ("user_prompt_submit", ""),
        ("session_end", "end_turn"),
        ("session_start", "resume"),
        ("user_prompt_submit", ""),
        ("session_end", "blocked"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(events, expected);
}

#[tokio::test]
async fn an_ask_from_a_hook_goes_to_the_permission_handler_even_in_auto_mode_and_a_slow_hook_times_out(
) {
    use harnext_core::permissions::{
        Decision, FnHandler, PermissionError, PermissionHandler, PermissionRequest,
    };
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(json!({"turn": {"toolCalls": [
        {"id": "a1", "name": "read_file", "args": {"path": "x"}},
        {"id": "a2", "name": "read_file", "args": {"path": "x"}}
    ]}})));
    mock.push(respond(json!({"turn": {"text": "done"}})));
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |c| {
        c.hooks.timeout = Duration::from_millis(100);
        c.hooks.add(
            HookEvent::PreToolUse,
            Arc::new(FnHook(|input: Value| {
                let slow = input["id"] == "a2";
                Box::pin(async move {
                    if slow {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    Ok(json!("ask"))
                }) as BoxFuture<'static, Result<Value, String>>
            })),
        );
    })
    .unwrap();
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = asked.clone();
    let handler: Arc<dyn PermissionHandler> = Arc::new(FnHandler(move |req: PermissionRequest| {
        seen.lock().unwrap().push(req.id.clone());
        Box::pin(async move {
            Ok(Decision::Deny {
                message: Some("user says no".into()),
            })
        }) as BoxFuture<'static, Result<Decision, PermissionError>>
    }));
    let mut req = RunRequest::text("go");
    req.permission_handler = Some(handler);
    let started = std::time::Instant::now();
    let (events, result) = run_collect(&agent, req).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(*asked.lock().unwrap(), ["a1"]);
    assert_eq!(result.steps[0].output, "user says no");
    assert_eq!(result.steps[1].status, ToolStatus::Denied);
    let errors = hook_errors(&events);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].1.contains("timed out after 100 ms"), "{errors:?}");
}

#[tokio::test]
async fn pre_compact_hooks_hear_of_a_compaction_before_it_happens() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    let call = |n: usize| json!({"name": "bash", "args": {"command": format!("head -c {n} /dev/zero | tr '\\0' a")}});
    mock.push(respond(json!({"turn": {"text": "First.", "toolCalls": [call(3000)], "usage": {"inputTokens": 300}}})));
    mock.push(respond(json!({"turn": {"text": "Second.", "toolCalls": [call(3000)], "usage": {"inputTokens": 1100}}})));
    mock.push(respond(
        json!({"turn": {"text": "SUMMARY: two reads.", "usage": {"inputTokens": 900}}}),
    ));
    mock.push(respond(json!({"turn": {"text": "Done."}})));
    let log: Log = Arc::default();
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |c| {
        c.context_window = Some(2000);
        c.system_prompt = harnext_core::SystemPrompt::Replace("Test agent.".into());
        c.tools = Some(vec!["bash".into()]);
        c.hooks.add(
            HookEvent::PreCompact,
            hook(&log, |_, _| {
                Ok(json!({"instructions": "Keep every file name you saw."}))
            }),
        );
    })
    .unwrap();
    let (events, result) = run_collect(&agent, RunRequest::text("read")).await;
    assert!(result.success, "{result:?}");
    let compaction = events
        .iter()
        .position(|e| matches!(e, AgentEvent::Compaction { .. }))
        .expect("a compaction");
    let inputs = log.lock().unwrap().clone();
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0]["event"], "pre_compact");
    assert_eq!(inputs[0]["trigger"], "auto");
    assert!(compaction > 0);
    // The hook's instructions reached the summarizing request.
    let summarizing = mock.requests()[2].body["messages"][0]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        summarizing.ends_with(
            "Also follow these instructions for the summary:\nKeep every file name you saw."
        ),
        "{summarizing}"
    );
}

// ---------------------------------------------------------------------------------------
// Parallel tool calls

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;

/// A read-only tool that counts the calls in flight; with `barrier`, each call waits
/// (up to 5 s) until 8 calls are in flight, which only concurrent calls can reach.
struct SlowRead {
    in_flight: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    barrier: Option<Arc<tokio::sync::Barrier>>,
    read_only: bool,
}

impl harnext_tools::Tool for SlowRead {
    fn name(&self) -> &str {
        if self.read_only {
            "slow_read"
        } else {
            "slow_write"
        }
    }
    fn description(&self) -> &str {
        "test"
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object", "properties": {"n": {"type": "integer"}}})
    }
    fn read_only(&self) -> bool {
        self.read_only
    }
    fn call(
        &self,
        args: Value,
        _ctx: harnext_tools::ToolContext,
    ) -> BoxFuture<'static, Result<String, harnext_tools::ToolError>> {
        let (in_flight, most, barrier) = (
            self.in_flight.clone(),
            self.most.clone(),
            self.barrier.clone(),
        );
        Box::pin(async move {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            if let Some(b) = barrier {
                tokio::time::timeout(Duration::from_secs(5), b.wait())
                    .await
                    .map_err(|_| harnext_tools::ToolError::Failed("not concurrent".into()))?;
            }
            // Later calls finish first.
            let n = args["n"].as_u64().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis((8 - n.min(8)) * 15)).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(format!("read {n}"))
        })
    }
}

fn slow(read_only: bool, barrier: bool) -> (Arc<SlowRead>, Arc<AtomicUsize>) {
    let most = Arc::new(AtomicUsize::new(0));
    (
        Arc::new(SlowRead {
            in_flight: Arc::default(),
            most: most.clone(),
            barrier: barrier.then(|| Arc::new(tokio::sync::Barrier::new(8))),
            read_only,
        }),
        most,
    )
}

fn eight_calls(name: &str) -> Value {
    Value::Array(
        (0..8)
            .map(|n| json!({"id": format!("c{n}"), "name": name, "args": {"n": n}}))
            .collect(),
    )
}

#[tokio::test]
async fn eight_reads_of_one_turn_run_concurrently_and_their_results_go_back_in_call_order() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(
        json!({"turn": {"toolCalls": eight_calls("slow_read")}}),
    ));
    mock.push(respond(json!({"turn": {"text": "done"}})));
    let (tool, most) = slow(true, true);
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |c| {
        c.custom_tools.push(tool);
    })
    .unwrap();
    let (events, result) = run_collect(&agent, RunRequest::text("read")).await;
    assert!(result.success, "{result:?}");
    assert_eq!(
        most.load(Ordering::SeqCst),
        8,
        "all 8 calls were in flight together"
    );
    let outputs: Vec<&str> = result.steps.iter().map(|s| s.output.as_str()).collect();
    let expected: Vec<String> = (0..8).map(|n| format!("read {n}")).collect();
    assert_eq!(outputs, expected);
    // The model got the results in call order.
    let sent = &mock.requests()[1].body["messages"][2]["content"];
    let ids: Vec<&str> = sent
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["tool_use_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"]);
    // Every call has its tool_call before its tool_result; the results came as they
    // finished (the last call first).
    let results: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ToolResult { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 8);
    assert_eq!(results[0], "c7", "{results:?}");
}

#[tokio::test]
async fn with_parallel_tool_calls_off_or_for_writing_tools_calls_run_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(
        json!({"turn": {"toolCalls": eight_calls("slow_read")}}),
    ));
    mock.push(respond(json!({"turn": {"text": "done"}})));
    let (reads, most_reads) = slow(true, false);
    let (writes, most_writes) = slow(false, false);
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |c| {
        c.custom_tools.push(reads);
        c.custom_tools.push(writes);
    })
    .unwrap();
    let mut req = RunRequest::text("read");
    req.parallel_tool_calls = Some(false);
    let (_, result) = run_collect(&agent, req).await;
    assert!(result.success);
    assert_eq!(most_reads.load(Ordering::SeqCst), 1);

    mock.push(respond(
        json!({"turn": {"toolCalls": eight_calls("slow_write")}}),
    ));
    mock.push(respond(json!({"turn": {"text": "done"}})));
    let (_, result) = run_collect(&agent, RunRequest::text("write")).await;
    assert!(result.success);
    assert_eq!(
        most_writes.load(Ordering::SeqCst),
        1,
        "writing calls keep their order"
    );
    let outputs: Vec<&str> = result.steps.iter().map(|s| s.output.as_str()).collect();
    assert_eq!(outputs[7], "read 7");
}

// ---------------------------------------------------------------------------------------
// Messages while it works, and interrupts

use harnext_core::RunControl;
use harnext_core::SendError;

/// Starts the run in a task; its events arrive on the receiver.
fn spawn_run(
    agent: &Agent,
    request: RunRequest,
) -> (
    RunControl,
    mpsc::UnboundedReceiver<AgentEvent>,
    tokio::task::JoinHandle<RunResult>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let run = agent.start(request).unwrap();
    let control = run.control();
    let handle = tokio::spawn(run.execute(CancellationToken::new(), EventSink::channel(tx)));
    (control, rx, handle)
}

async fn until(rx: &mut mpsc::UnboundedReceiver<AgentEvent>, pick: impl Fn(&AgentEvent) -> bool) {
    while let Some(e) = rx.recv().await {
        if pick(&e) {
            return;
        }
    }
    panic!("the run ended first");
}

fn user_texts(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .flat_map(|m| match &m["content"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(blocks) => blocks
                .iter()
                .filter_map(|b| b["text"].as_str().map(str::to_owned))
                .collect(),
            _ => vec![],
        })
        .collect()
}

#[tokio::test]
async fn a_message_sent_mid_run_reaches_the_next_model_request_and_one_sent_as_the_turn_ends_continues_it(
) {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(json!({"turn": {"toolCalls": [{"id": "s1", "name": "bash", "args": {"command": "sleep 0.3"}}]}})));
    mock.push(respond(
        json!({"turn": {"text": "Done. Anything else?", "delayMs": 60}}),
    ));
    mock.push(respond(json!({"turn": {"text": "Changelog updated too."}})));
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |_| {}).unwrap();
    let (control, mut rx, handle) = spawn_run(&agent, RunRequest::text("fix the bug"));
    until(&mut rx, |e| matches!(e, AgentEvent::ToolCall { .. })).await;
    control.send("Also update the changelog.").unwrap();
    // Sent while the last turn streams: the run goes on instead of ending.
    until(&mut rx, |e| matches!(e, AgentEvent::Text { .. })).await;
    control.send("And bump the version.").unwrap();
    let mut rest = Vec::new();
    while let Some(e) = rx.recv().await {
        rest.push(e);
    }
    let result = handle.await.unwrap();
    assert!(result.success, "{result:?}");
    assert_eq!(result.text, "Changelog updated too.");
    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(
        user_texts(&requests[1].body),
        ["fix the bug", "Also update the changelog."]
    );
    assert_eq!(
        user_texts(&requests[2].body).last().unwrap(),
        "And bump the version."
    );
    assert!(rest
        .iter()
        .any(|e| matches!(e, AgentEvent::UserMessage { text } if text == "And bump the version.")));
    // The run is over: a late message is refused, not lost silently.
    assert_eq!(control.send("too late"), Err(SendError::Ended));
}

#[tokio::test]
async fn an_interrupt_stops_a_tool_call_at_once_and_the_run_goes_on_with_the_new_instruction() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(json!({"turn": {"toolCalls": [{"id": "z1", "name": "bash", "args": {"command": "sleep 30"}}]}})));
    mock.push(respond(json!({"turn": {"text": "Hi."}})));
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |_| {}).unwrap();
    let (control, mut rx, handle) = spawn_run(&agent, RunRequest::text("wait a long time"));
    until(&mut rx, |e| matches!(e, AgentEvent::ToolCall { .. })).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let interrupted = std::time::Instant::now();
    control
        .interrupt(Some("Forget it; just say hi.".into()))
        .unwrap();
    until(&mut rx, |e| matches!(e, AgentEvent::ToolResult { .. })).await;
    let stopped = interrupted.elapsed();
    // The contract is 100 ms; a margin for a machine shared with builds.
    assert!(stopped < Duration::from_millis(1000), "{stopped:?}");
    let result = handle.await.unwrap();
    assert!(result.success && !result.cancelled, "{result:?}");
    assert_eq!(result.steps[0].status, ToolStatus::Cancelled);
    assert_eq!(result.text, "Hi.");
    let second = &mock.requests()[1].body;
    assert_eq!(
        user_texts(second).last().unwrap(),
        "Forget it; just say hi."
    );
}

#[tokio::test]
async fn an_interrupt_without_a_message_ends_the_run_cancelled_and_the_session_goes_on_with_agent_running(
) {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(
        json!({"turn": {"text": "a long answer that streams slowly", "delayMs": 200}}),
    ));
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |_| {}).unwrap();
    let (_, mut rx, handle) = spawn_run(&agent, RunRequest::text("talk"));
    let session = match rx.recv().await {
        Some(AgentEvent::RunStart { session_id, .. }) => session_id,
        other => panic!("{other:?}"),
    };
    // A run started without keeping its control is found by its session.
    let control = agent.running(&session).expect("the run is going on");
    until(&mut rx, |e| matches!(e, AgentEvent::Text { .. })).await;
    control.interrupt(None).unwrap();
    let result = handle.await.unwrap();
    assert!(result.cancelled, "{result:?}");
    assert!(agent.running(&session).is_none());
    // The same session goes on with a new instruction.
    mock.push(respond(json!({"turn": {"text": "Short answer."}})));
    let mut next = RunRequest::text("shorter please");
    next.session_id = Some(session);
    let (_, result) = run_collect(&agent, next).await;
    assert!(result.success);
    let texts = user_texts(&mock.requests()[1].body);
    assert_eq!(texts.first().unwrap(), "talk");
    assert_eq!(texts.last().unwrap(), "shorter please");
}

#[tokio::test]
async fn an_urgent_message_keeps_the_turns_calls_not_started_from_running_and_comes_right_after() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(json!({"turn": {"toolCalls": [
        {"id": "u1", "name": "bash", "args": {"command": "sleep 0.3"}},
        {"id": "u2", "name": "bash", "args": {"command": "touch second"}},
        {"id": "u3", "name": "bash", "args": {"command": "touch third"}}
    ]}})));
    mock.push(respond(json!({"turn": {"text": "Stopped."}})));
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |_| {}).unwrap();
    let (control, mut rx, handle) = spawn_run(&agent, RunRequest::text("three things"));
    until(&mut rx, |e| matches!(e, AgentEvent::ToolCall { .. })).await;
    control.send_urgent("Wait, do not touch anything.").unwrap();
    let result = handle.await.unwrap();
    assert!(result.success, "{result:?}");
    let statuses: Vec<ToolStatus> = result.steps.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [ToolStatus::Ok, ToolStatus::Cancelled, ToolStatus::Cancelled]
    );
    assert!(result.steps[1]
        .output
        .starts_with("Not run: the user sent a message"));
    assert!(!dir.path().join("second").exists() && !dir.path().join("third").exists());
    let second = &mock.requests()[1].body;
    assert_eq!(
        user_texts(second).last().unwrap(),
        "Wait, do not touch anything."
    );
}

#[tokio::test]
async fn no_credential_reaches_a_hook() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    const KEY: &str = "sk-ant-hook-SECRET-4242";
    // The key is not in the model's call (the provider's stream is redacted) but in the
    // output of the command: the hook input must not carry it.
    std::fs::write(dir.path().join("k.txt"), KEY).unwrap();
    mock.push(respond(json!({"turn": {"toolCalls": [
        {"id": "k1", "name": "bash", "args": {"command": "cat k.txt"}}
    ]}})));
    mock.push(respond(json!({"turn": {"text": "done"}})));
    let log: Log = Arc::default();
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |c| {
        c.api_key = Some(KEY.into());
        c.hooks
            .add(HookEvent::PreToolUse, hook(&log, |_, _| Ok(Value::Null)));
        c.hooks
            .add(HookEvent::PostToolUse, hook(&log, |_, _| Ok(Value::Null)));
    })
    .unwrap();
    let (_, result) = run_collect(&agent, RunRequest::text("leak")).await;
    assert!(result.success);
    let inputs = serde_json::to_string(&*log.lock().unwrap()).unwrap();
    assert!(!inputs.contains("SECRET"), "{inputs}");
    assert!(inputs.contains("<redacted>") && inputs.contains("post_tool_use"));
}

// ---------------------------------------------------------------------------------------
// Hooks, parallel calls and deferred approvals together

#[tokio::test]
async fn a_hook_ask_deferred_in_a_parallel_batch_waits_while_the_others_run_and_a_later_run_answers_it(
) {
    use harnext_core::permissions::{
        Decision, FnHandler, PermissionError, PermissionHandler, PermissionRequest,
    };
    use harnext_core::RunInput;
    let dir = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(
        json!({"turn": {"toolCalls": eight_calls("slow_read")}}),
    ));
    let (tool, most) = slow(true, false);
    let log: Log = Arc::default();
    let prompts: Log = Arc::default();
    let agent = agent(&mock, dir.path(), "anthropic/claude-test", |c| {
        c.persist_session = true;
        c.session_dir = Some(sessions.path().to_path_buf());
        c.custom_tools.push(tool);
        // c3 and c5 are asked about (the mode alone would run them).
        c.hooks.add(
            HookEvent::PreToolUse,
            hook(&log, |input, _| {
                if input["id"] == "c3" || input["id"] == "c5" {
                    Ok(json!("ask"))
                } else {
                    Ok(Value::Null)
                }
            }),
        );
        c.hooks.add(
            HookEvent::PostToolUse,
            hook(&log, |input, _| {
                Ok(json!({"output": format!("{} (post)", input["output"].as_str().unwrap())}))
            }),
        );
        c.hooks.add(
            HookEvent::UserPromptSubmit,
            hook(&prompts, |_, _| Ok(Value::Null)),
        );
    })
    .unwrap();
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = asked.clone();
    let handler: Arc<dyn PermissionHandler> = Arc::new(FnHandler(move |req: PermissionRequest| {
        seen.lock().unwrap().push(req.id.clone());
        Box::pin(async { Ok(Decision::Defer) })
            as BoxFuture<'static, Result<Decision, PermissionError>>
    }));
    let mut req = RunRequest::text("read");
    req.permission_handler = Some(handler);
    let (_, first) = run_collect(&agent, req).await;
    assert_eq!(first.stop_reason, StopReason::AwaitingApproval, "{first:?}");
    let mut asked_ids = asked.lock().unwrap().clone();
    asked_ids.sort();
    assert_eq!(asked_ids, ["c3", "c5"]);
    let pending: Vec<&str> = first
        .pending_approvals
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(pending, ["c3", "c5"]);
    // The other six ran, concurrently, through the post hook, and nothing went back to
    // the model yet.
    let ran: Vec<(&str, &str)> = first
        .steps
        .iter()
        .map(|s| (s.id.as_str(), s.output.as_str()))
        .collect();
    assert_eq!(
        ran,
        [
            ("c0", "read 0 (post)"),
            ("c1", "read 1 (post)"),
            ("c2", "read 2 (post)"),
            ("c4", "read 4 (post)"),
            ("c6", "read 6 (post)"),
            ("c7", "read 7 (post)")
        ]
    );
    assert!(
        most.load(Ordering::SeqCst) > 1,
        "the reads ran concurrently"
    );
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(prompts.lock().unwrap().len(), 1);

    // A later run answers: c3 allowed (it runs, through the post hook), c5 denied.
    mock.push(respond(json!({"turn": {"text": "done"}})));
    let mut answers = serde_json::Map::new();
    answers.insert("c3".into(), json!("allow"));
    answers.insert(
        "c5".into(),
        json!({"behavior": "deny", "message": "not that one"}),
    );
    let mut req = RunRequest::new(RunInput::Approvals(answers));
    req.session_id = Some(first.session_id.clone());
    let (_, second) = run_collect(&agent, req).await;
    assert!(second.success, "{second:?}");
    let answered: Vec<(&str, ToolStatus, &str)> = second
        .steps
        .iter()
        .map(|s| (s.id.as_str(), s.status, s.output.as_str()))
        .collect();
    assert_eq!(
        answered,
        [
            ("c3", ToolStatus::Ok, "read 3 (post)"),
            ("c5", ToolStatus::Denied, "not that one")
        ]
    );
    // No input in the answering run: user_prompt_submit was not asked again.
    assert_eq!(prompts.lock().unwrap().len(), 1);
    // The model got the eight results in call order.
    let sent = &mock.requests()[1].body["messages"][2]["content"];
    let ids: Vec<&str> = sent
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["tool_use_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"]);
}
