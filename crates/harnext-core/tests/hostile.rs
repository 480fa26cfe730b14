//! The engine tried the way hostile servers, hostile models and careless callers try it
//! (issue 14): runs that stop short say so, secrets never leave the engine, a panic ends
//! the run cleanly, a dripping stream meets its deadline, bad settings are refused at
//! construction without showing a credential, and MCP warnings arrive as events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use harnext_core::mcp::McpServerConfig;
use harnext_core::mcp::StdioServerConfig;
use harnext_core::protocol::AgentEvent;
use harnext_core::protocol::ErrorCode;
use harnext_core::protocol::OptionKey;
use harnext_core::protocol::RunResult;
use harnext_core::protocol::StopReason;
use harnext_core::protocol::ToolStatus;
use harnext_core::Agent;
use harnext_core::AgentConfig;
use harnext_core::EventSink;
use harnext_core::RunRequest;
use harnext_mock::MockResponse;
use harnext_mock::MockServer;
use harnext_tools::Tool;
use harnext_tools::ToolContext;
use harnext_tools::ToolError;
use serde_json::json;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const MODELS: [&str; 3] = [
    "anthropic/claude-test",
    "openai/gpt-test",
    "openai-chat/gpt-test",
];

fn config(model: &str, mock: &MockServer, dir: &Path) -> AgentConfig {
    let mut c = AgentConfig::new(model);
    c.base_url = Some(if model.starts_with("anthropic") {
        mock.url()
    } else {
        format!("{}/v1", mock.url())
    });
    c.api_key = Some("sk-test-hostile".into());
    c.cwd = Some(dir.to_path_buf());
    c.session_dir = Some(dir.join(".sessions"));
    c.max_retries = 0;
    c
}

fn respond(v: Value) -> MockResponse {
    MockResponse::from_json(v).unwrap()
}

async fn run_events(agent: &Agent, task: &str) -> (Vec<AgentEvent>, RunResult) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let result = agent
        .start(RunRequest::text(task))
        .unwrap()
        .execute(CancellationToken::new(), EventSink::channel(tx))
        .await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (events, result)
}

#[tokio::test]
async fn a_refused_cut_or_filtered_turn_is_its_own_stop_reason_and_not_a_success_on_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    let cases: &[(&str, StopReason, ErrorCode)] = &[
        ("max_tokens", StopReason::MaxTokens, ErrorCode::MaxTokens),
        ("refusal", StopReason::Refusal, ErrorCode::Refusal),
        (
            "content_filter",
            StopReason::ContentFilter,
            ErrorCode::ContentFilter,
        ),
    ];
    for model in MODELS {
        for (wire, stop, code) in cases {
            // Anthropic has no content filter stop reason.
            if model.starts_with("anthropic") && *wire == "content_filter" {
                continue;
            }
            mock.push(respond(json!({
                "turn": { "text": "I can't help with that." },
                "stopReason": wire,
            })));
            let agent = Agent::new(config(model, &mock, dir.path())).unwrap();
            let (events, r) = run_events(&agent, "do something").await;
            let what = format!("{model} {wire}");
            assert_eq!(r.stop_reason, *stop, "{what}");
            assert!(!r.success, "{what}");
            assert!(!r.cancelled, "{what}");
            let error = r.error.as_ref().expect(&what);
            assert_eq!(error.code, *code, "{what}: {error:?}");
            assert!(!error.retryable, "{what}");
            assert!(
                matches!(events.iter().rev().nth(1), Some(AgentEvent::Error { error: e }) if e.code == *code),
                "{what}: the error event comes just before run_end"
            );
            match stop {
                StopReason::MaxTokens => {
                    assert!(r.stop_details.is_none(), "{what}");
                    assert!(error.message.contains("`max_output_tokens`"), "{what}");
                }
                _ => assert!(r.stop_details.is_some(), "{what}: no stop details"),
            }
            if model.starts_with("anthropic") && *wire == "refusal" {
                let d = r.stop_details.as_ref().unwrap();
                assert_eq!(d.category.as_deref(), Some("cyber"));
                assert!(error.message.contains("refused due to policy"), "{error:?}");
            }
        }
    }
}

#[tokio::test]
async fn a_refusal_ends_a_structured_output_run_without_asking_again() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(json!({
        "turn": { "text": "No." },
        "stopReason": "refusal",
    })));
    let agent = Agent::new(config(MODELS[0], &mock, dir.path())).unwrap();
    let mut request = RunRequest::text("answer");
    request.output = Some(harnext_core::output::OutputRequest {
        schema: json!({"type": "object"}),
        validator: None,
        max_retries: 2,
    });
    let r = agent
        .start(request)
        .unwrap()
        .execute(CancellationToken::new(), EventSink::none())
        .await;
    assert_eq!(r.stop_reason, StopReason::Refusal);
    assert_eq!(
        mock.requests().len(),
        1,
        "no repair request after a refusal"
    );
}

#[tokio::test]
async fn usage_a_server_does_not_report_is_marked_unreported_not_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    for model in MODELS {
        mock.push(respond(
            json!({ "turn": { "text": "hi" }, "noUsage": true }),
        ));
        let agent = Agent::new(config(model, &mock, dir.path())).unwrap();
        let (events, r) = run_events(&agent, "hello").await;
        assert!(r.success, "{model}: {:?}", r.error);
        assert!(r.usage.unreported, "{model}: {:?}", r.usage);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, AgentEvent::Usage(u) if u.unreported)),
            "{model}"
        );
    }
}

/// The secrets of the agent: its key, and the user info and `?key=` of its base URL.
const KEY: &str = "sk-ant-api03-hostile-SECRET-key";
const PASSWORD: &str = "p4ss-w0rd-SECRET";
const QUERY_KEY: &str = "AIza-query-SECRET-value";

#[tokio::test]
async fn an_echoed_key_and_url_credentials_never_reach_events_results_or_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    let echo = format!("my key is {KEY}, the password {PASSWORD} and {QUERY_KEY}");
    // The model echoes every secret in its text, in a tool call's arguments, and the
    // tool's output shows them again; then it ends with them in its answer.
    mock.push(respond(json!({ "turn": {
        "text": echo,
        "toolCalls": [{ "id": "t1", "name": "bash", "args": { "command": format!("echo {KEY} {PASSWORD}") } }],
    }})));
    mock.push(respond(
        json!({ "turn": { "text": format!("done: {KEY} {QUERY_KEY}") } }),
    ));
    let mut c = config(MODELS[0], &mock, dir.path());
    let url = mock.url();
    let (scheme, host) = url.split_once("://").unwrap();
    c.base_url = Some(format!(
        "{scheme}://alice:{PASSWORD}@{host}/?key={QUERY_KEY}"
    ));
    c.api_key = Some(KEY.into());
    let agent = Agent::new(c).unwrap();
    let (events, r) = run_events(&agent, "show the secrets").await;
    assert!(r.success, "{:?}", r.error);
    assert_eq!(r.steps.len(), 1);
    assert_eq!(r.steps[0].status, ToolStatus::Ok);
    // Anthropic's path is joined before the query string.
    let request = &mock.requests()[0];
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(
        request.query.as_deref(),
        Some(format!("key={QUERY_KEY}").as_str())
    );

    let mut seen = serde_json::to_string(&events).unwrap();
    seen.push_str(&serde_json::to_string(&r).unwrap());
    let sessions = dir.path().join(".sessions");
    for entry in std::fs::read_dir(&sessions).unwrap() {
        seen.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    for secret in [KEY, PASSWORD, QUERY_KEY] {
        assert!(!seen.contains(secret), "{secret} leaked");
    }
    assert!(seen.contains("<redacted>"), "the echoes are replaced");
    assert!(r.text.starts_with("done: <redacted>"), "{}", r.text);
}

#[tokio::test]
async fn a_malformed_base_url_or_a_header_with_a_line_break_is_refused_at_construction_without_credentials(
) {
    let dir = tempfile::tempdir().unwrap();
    for model in MODELS {
        let mut c = AgentConfig::new(model);
        c.cwd = Some(dir.path().to_path_buf());
        c.persist_session = false;
        c.api_key = Some("k".into());
        c.base_url = Some(format!("ftp://alice:{PASSWORD}@host/?key={QUERY_KEY}"));
        let e = Agent::new(c.clone()).err().expect(model);
        assert_eq!(e.option(), OptionKey::BaseUrl, "{e}");
        let text = e.to_string();
        assert!(
            text.starts_with("invalid option `base_url`: expected an http(s) URL"),
            "{text}"
        );
        assert!(
            !text.contains(PASSWORD) && !text.contains(QUERY_KEY),
            "{text}"
        );

        c.base_url = None;
        c.headers = vec![("x-team".into(), "a\r\nx-injected: 1".into())];
        let e = Agent::new(c).err().expect(model);
        assert_eq!(e.option(), OptionKey::Headers, "{e}");
        assert!(e.to_string().contains("line break"), "{e}");
    }
}

/// A custom tool that panics.
struct Panicking;

impl Tool for Panicking {
    fn name(&self) -> &str {
        "explode"
    }
    fn description(&self) -> &str {
        "panics"
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object"})
    }
    fn read_only(&self) -> bool {
        true
    }
    fn call(
        &self,
        _args: Value,
        _ctx: ToolContext,
    ) -> BoxFuture<'static, Result<String, ToolError>> {
        Box::pin(async { panic!("the tool blew up on purpose") })
    }
}

#[tokio::test]
async fn a_panic_in_a_tool_ends_the_run_with_an_internal_error_event_and_a_valid_session() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = AgentConfig::new("scripted");
    c.cwd = Some(dir.path().to_path_buf());
    c.session_dir = Some(dir.path().join(".sessions"));
    c.custom_tools = vec![Arc::new(Panicking)];
    c.script = Some(
        serde_json::from_value(json!([
            { "toolCalls": [{ "id": "p1", "name": "explode", "args": {} }] },
            { "text": "after the panic" },
        ]))
        .unwrap(),
    );
    let agent = Agent::new(c).unwrap();
    let (events, r) = run_events(&agent, "explode").await;
    assert_eq!(r.stop_reason, StopReason::Error);
    assert!(!r.success);
    let error = r.error.as_ref().unwrap();
    assert_eq!(error.code, ErrorCode::Internal);
    assert!(
        error.message.contains("the tool blew up on purpose"),
        "{error:?}"
    );
    let n = events.len();
    assert!(
        matches!(events[n - 2], AgentEvent::Error { .. }),
        "{events:?}"
    );
    assert!(matches!(events[n - 1], AgentEvent::RunEnd { .. }));
    // The session is whole: the call got a result, and the next run continues it.
    let messages = agent.session_messages(&r.session_id).unwrap();
    assert!(messages.last().unwrap().content.iter().any(|b| matches!(
        b,
        harnext_core::protocol::ContentBlock::ToolResult { tool_use_id, .. } if tool_use_id == "p1"
    )));
    let mut next = RunRequest::text("go on");
    next.session_id = Some(r.session_id.clone());
    let r2 = agent
        .start(next)
        .unwrap()
        .execute(CancellationToken::new(), EventSink::none())
        .await;
    assert!(r2.success, "{:?}", r2.error);
    assert_eq!(r2.text, "after the panic");
}

#[tokio::test]
async fn a_stream_dripping_past_its_total_deadline_ends_as_timeout_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    for model in MODELS {
        // Data keeps coming (never idle for long), but the whole takes far too long.
        mock.push(respond(json!({
            "turn": { "text": "a b c d e f g h i j k l m n o p q r s t u v w x y z" },
            "chunkDelayMs": 150,
        })));
        let mut c = config(model, &mock, dir.path());
        c.idle_timeout = Some(Duration::from_secs(5));
        c.stream_timeout = Some(Duration::from_millis(400));
        let agent = Agent::new(c).unwrap();
        let started = std::time::Instant::now();
        let (_, r) = run_events(&agent, "drip").await;
        let error = r.error.as_ref().expect(model);
        assert_eq!(error.code, ErrorCode::Timeout, "{model}: {error:?}");
        assert!(
            error.message.contains("after 400ms (`stream_timeout_ms`)"),
            "{error:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(4), "{model}");
        mock.reset();
    }
}

#[tokio::test]
async fn an_mcp_tool_with_an_invalid_schema_is_reported_as_an_mcp_warning_event() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(respond(json!({ "turn": { "text": "ok" } })));
    let mut server = StdioServerConfig::new("node");
    server.args = vec![
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../harnext-mcp/tests/fixtures/hostile-mcp-server.mjs")
            .display()
            .to_string(),
        "bad-schema".into(),
    ];
    server.env = vec![(
        "FAKE_MCP_LOG".into(),
        dir.path().join("bad-schema.log").display().to_string(),
    )];
    let mut c = config(MODELS[0], &mock, dir.path());
    c.mcp_servers = vec![("s".into(), McpServerConfig::Stdio(server))];
    let agent = Agent::new(c).unwrap();
    let (events, r) = run_events(&agent, "hi").await;
    assert!(r.success, "{:?}", r.error);
    let warned: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::McpWarning { server, tool, .. } if server == "s" => tool.as_deref(),
            _ => None,
        })
        .collect();
    assert!(warned.contains(&"string_schema"), "{events:?}");
    // Once per run, before the model call's text.
    let unique: std::collections::HashSet<_> = warned.iter().collect();
    assert_eq!(unique.len(), warned.len());
    let first_warning = events
        .iter()
        .position(|e| matches!(e, AgentEvent::McpWarning { .. }))
        .unwrap();
    let first_text = events
        .iter()
        .position(|e| matches!(e, AgentEvent::Text { .. }))
        .unwrap();
    assert!(first_warning < first_text);
    agent.close().await;
}
