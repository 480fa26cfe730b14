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
