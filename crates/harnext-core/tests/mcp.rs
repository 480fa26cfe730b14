//! MCP servers in the run loop: tools offered and called, permission modes, servers
//! that fail or die, `tools/list_changed`, reuse across runs, and shutdown. Uses the
//! mock Anthropic server, the npm reference server `server-everything` (installed by
//! `npm ci`) and `__test__/fixtures/fake-mcp-server.mjs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;
use std::time::Instant;

use harnext_core::mcp::McpServerConfig;
use harnext_core::mcp::StdioServerConfig;
use harnext_core::protocol::AgentEvent;
use harnext_core::protocol::RunResult;
use harnext_core::protocol::ToolStatus;
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

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn node(script: PathBuf, args: &[&str]) -> StdioServerConfig {
    assert!(
        script.exists(),
        "{} is missing: run `npm ci` first (the MCP reference servers are devDependencies)",
        script.display()
    );
    let mut c = StdioServerConfig::new("node");
    c.args = std::iter::once(script.display().to_string())
        .chain(args.iter().map(|s| (*s).to_owned()))
        .collect();
    c
}

fn everything() -> McpServerConfig {
    McpServerConfig::Stdio(node(
        root().join("node_modules/@modelcontextprotocol/server-everything/dist/index.js"),
        &["stdio"],
    ))
}

fn fake(mode: &str, dir: &Path) -> McpServerConfig {
    let mut c = node(
        root().join("__test__/fixtures/fake-mcp-server.mjs"),
        &[mode],
    );
    c.env = vec![(
        "FAKE_MCP_PIDFILE".into(),
        dir.join(format!("{mode}.pid")).display().to_string(),
    )];
    McpServerConfig::Stdio(c)
}

fn turn(v: Value) -> MockResponse {
    MockResponse::from_json(json!({ "turn": v })).unwrap()
}

fn agent(mock: &MockServer, dir: &Path, tweak: impl FnOnce(&mut AgentConfig)) -> Agent {
    let mut c = AgentConfig::new("anthropic/claude-test");
    c.base_url = Some(mock.url());
    c.api_key = Some("k".into());
    c.cwd = Some(dir.to_path_buf());
    c.persist_session = false;
    // These tests follow the servers' processes by their host pids, which a sandboxed
    // server (in its own PID namespace) does not see; the sandbox has its own tests.
    c.sandbox.mode = harnext_core::sandbox::SandboxMode::Off;
    tweak(&mut c);
    Agent::new(c).unwrap()
}

async fn run(agent: &Agent, cancel: CancellationToken) -> (Vec<AgentEvent>, RunResult) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let result = agent
        .start(RunRequest::text("go"))
        .unwrap()
        .execute(cancel, EventSink::channel(tx))
        .await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (events, result)
}

fn tool_names(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

#[tokio::test]
async fn mcp_tools_are_offered_namespaced_with_their_schemas_and_calls_reach_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(turn(json!({ "toolCalls": [{ "id": "e1", "name": "mcp__everything__echo", "args": { "message": "hi" } }] })));
    mock.push(turn(json!({ "text": "done" })));
    let agent = agent(&mock, dir.path(), |c| {
        c.mcp_servers = vec![("everything".into(), everything())]
    });
    assert!(
        agent.mcp().pids().await.is_empty(),
        "nothing starts at construction"
    );
    let (events, result) = run(&agent, CancellationToken::new()).await;
    assert!(result.success, "{:?}", result.error);
    assert_eq!(result.steps[0].tool, "mcp__everything__echo");
    assert_eq!(result.steps[0].status, ToolStatus::Ok);
    assert_eq!(result.steps[0].output, "Echo: hi");
    assert!(events.iter().any(|e| matches!(e, AgentEvent::ToolResult { id, output, .. } if id == "e1" && output == "Echo: hi")));
    let request = &mock.requests()[0].body;
    let names = tool_names(request);
    let first_mcp = names.iter().position(|n| n.starts_with("mcp__")).unwrap();
    assert!(
        names[..first_mcp].iter().any(|n| n == "read_file")
            && names[..first_mcp].iter().any(|n| n == "bash")
    );
    assert!(
        names[first_mcp..]
            .iter()
            .all(|n| n.starts_with("mcp__everything__")),
        "built-in tools first, then MCP tools: {names:?}"
    );
    let echo = request["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "mcp__everything__echo")
        .unwrap();
    assert_eq!(
        echo["input_schema"]["properties"]["message"]["type"],
        "string"
    );
    assert!(!request["system"].to_string().contains("unavailable"));
    agent.close().await;
}

#[tokio::test]
async fn read_only_mode_denies_a_writing_mcp_tool_and_runs_a_read_only_hinted_one() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(turn(json!({ "toolCalls": [
        { "name": "mcp__everything__toggle-simulated-logging", "args": {} },
        { "name": "mcp__everything__get-sum", "args": { "a": 1, "b": 2 } },
    ] })));
    mock.push(turn(json!({ "text": "done" })));
    let agent = agent(&mock, dir.path(), |c| {
        c.permission_mode = PermissionMode::ReadOnly;
        c.mcp_servers = vec![("everything".into(), everything())];
    });
    let (_, result) = run(&agent, CancellationToken::new()).await;
    assert_eq!(
        result.steps[0].status,
        ToolStatus::Denied,
        "{}",
        result.steps[0].output
    );
    assert!(result.steps[0].output.contains("read-only"));
    assert_eq!(result.steps[1].status, ToolStatus::Ok);
    assert_eq!(result.steps[1].output, "The sum of 1 and 2 is 3.");
    agent.close().await;
}

#[tokio::test]
async fn a_server_that_fails_to_start_is_reported_and_the_run_goes_on_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(turn(json!({ "toolCalls": [{ "name": "mcp__crashy__explode", "args": {} }, { "name": "mcp__everything__echo", "args": { "message": "still here" } }] })));
    mock.push(turn(json!({ "text": "done" })));
    let agent = agent(&mock, dir.path(), |c| {
        c.mcp_servers = vec![
            ("crashy".into(), fake("crash-after-initialize", dir.path())),
            ("everything".into(), everything()),
        ]
    });
    let (events, result) = run(&agent, CancellationToken::new()).await;
    assert!(result.success, "{:?}", result.error);
    let errors: Vec<(&str, &str)> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::McpServerError { server, message } => {
                Some((server.as_str(), message.as_str()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "once per run: {errors:?}");
    assert_eq!(errors[0].0, "crashy");
    assert!(
        errors[0]
            .1
            .starts_with("MCP server `crashy` is unavailable: its process exited (exit status: 3)"),
        "{}",
        errors[0].1
    );
    assert!(errors[0].1.contains("fatal: boom"), "{}", errors[0].1);
    // run_start comes first, then the report.
    assert!(matches!(events[0], AgentEvent::RunStart { .. }));
    let requests = mock.requests();
    let system = requests[0].body["system"].to_string();
    assert!(
        system.contains("MCP server `crashy` is unavailable"),
        "{system}"
    );
    assert!(!tool_names(&requests[0].body)
        .iter()
        .any(|n| n.starts_with("mcp__crashy__")));
    assert_eq!(result.steps[0].status, ToolStatus::Error);
    assert!(
        result.steps[0]
            .output
            .starts_with("Unknown tool `mcp__crashy__explode`"),
        "{}",
        result.steps[0].output
    );
    assert_eq!(result.steps[1].output, "Echo: still here");
    agent.close().await;
}

#[tokio::test]
async fn a_server_dying_mid_run_fails_its_call_and_leaves_the_next_model_call_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(turn(
        json!({ "toolCalls": [{ "name": "mcp__fragile__explode", "args": {} }] }),
    ));
    mock.push(turn(json!({ "text": "done" })));
    mock.push(turn(
        json!({ "toolCalls": [{ "name": "mcp__fragile__explode", "args": {} }] }),
    ));
    mock.push(turn(json!({ "text": "done again" })));
    let agent = agent(&mock, dir.path(), |c| {
        c.mcp_servers = vec![("fragile".into(), fake("crash-on-call", dir.path()))]
    });
    let started = Instant::now();
    let (events, result) = run(&agent, CancellationToken::new()).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(result.success);
    assert_eq!(result.steps[0].status, ToolStatus::Error);
    assert!(
        result.steps[0].output.starts_with(
            "MCP server `fragile` is unavailable: its process exited (exit status: 7)"
        ),
        "{}",
        result.steps[0].output
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, AgentEvent::McpServerError { server, .. } if server == "fragile")));
    let second = &mock.requests()[1].body;
    assert!(
        !tool_names(second)
            .iter()
            .any(|n| n.starts_with("mcp__fragile__")),
        "its tools are gone"
    );
    assert!(second["system"]
        .to_string()
        .contains("MCP server `fragile` is unavailable"));
    // The next run starts it again.
    let (_, again) = run(&agent, CancellationToken::new()).await;
    assert!(
        again.steps[0]
            .output
            .contains("MCP server `fragile` is unavailable"),
        "it crashed again, as asked"
    );
    let third = &mock.requests()[2].body;
    assert!(
        tool_names(third)
            .iter()
            .any(|n| n == "mcp__fragile__explode"),
        "restarted for the new run"
    );
    agent.close().await;
}

#[tokio::test]
async fn tools_list_changed_mid_run_offers_the_new_tool_at_the_next_model_call() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    mock.push(turn(
        json!({ "toolCalls": [{ "name": "mcp__growing__grow", "args": {} }] }),
    ));
    mock.push(turn(
        json!({ "toolCalls": [{ "name": "mcp__growing__extra", "args": {} }] }),
    ));
    mock.push(turn(json!({ "text": "done" })));
    let agent = agent(&mock, dir.path(), |c| {
        c.mcp_servers = vec![("growing".into(), fake("grow", dir.path()))]
    });
    let (_, result) = run(&agent, CancellationToken::new()).await;
    assert_eq!(result.steps[0].output, "grown");
    assert_eq!(
        result.steps[1].status,
        ToolStatus::Ok,
        "{}",
        result.steps[1].output
    );
    assert_eq!(result.steps[1].output, "extra ran");
    let requests = mock.requests();
    assert!(!tool_names(&requests[0].body).contains(&"mcp__growing__extra".to_owned()));
    assert!(tool_names(&requests[1].body).contains(&"mcp__growing__extra".to_owned()));
    agent.close().await;
}

#[tokio::test]
async fn servers_are_reused_across_runs_and_close_ends_them() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    for _ in 0..2 {
        mock.push(turn(json!({ "toolCalls": [{ "name": "mcp__everything__echo", "args": { "message": "x" } }] })));
        mock.push(turn(json!({ "text": "done" })));
    }
    let agent = agent(&mock, dir.path(), |c| {
        c.mcp_servers = vec![
            ("everything".into(), everything()),
            ("parent".into(), fake("grandchild", dir.path())),
        ]
    });
    run(&agent, CancellationToken::new()).await;
    let first = agent.mcp().pids().await;
    assert_eq!(first.len(), 2);
    run(&agent, CancellationToken::new()).await;
    assert_eq!(agent.mcp().pids().await, first, "the same processes");
    let mut all: Vec<u32> = first.iter().map(|(_, p)| *p).collect();
    all.extend(
        std::fs::read_to_string(dir.path().join("grandchild.pid"))
            .unwrap()
            .lines()
            .map(|l| l.parse::<u32>().unwrap()),
    );
    agent.close().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(all.iter().all(|p| !alive(*p)), "{all:?} outlived close()");
}

#[tokio::test]
async fn cancelling_while_a_server_starts_ends_the_run_at_once_and_kills_it() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    let agent = agent(&mock, dir.path(), |c| {
        c.mcp_servers = vec![("mute".into(), fake("silent", dir.path()))]
    });
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    // Cancelled once the server has started (its pid file written), however loaded the
    // machine: the run must then end at once.
    let pid_file = dir.path().join("silent.pid");
    let cancelled_at = std::sync::Arc::new(std::sync::Mutex::new(None::<Instant>));
    let at = cancelled_at.clone();
    tokio::spawn(async move {
        let until = Instant::now() + Duration::from_secs(20);
        while !pid_file.exists() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        *at.lock().unwrap() = Some(Instant::now());
        c.cancel();
    });
    let (events, result) = run(&agent, cancel).await;
    let since_cancel = cancelled_at.lock().unwrap().map(|t| t.elapsed());
    assert!(
        since_cancel.is_some_and(|d| d < Duration::from_secs(3)),
        "{since_cancel:?}"
    );
    assert!(result.cancelled);
    assert!(mock.requests().is_empty(), "no model call");
    assert!(matches!(events.last(), Some(AgentEvent::RunEnd { .. })));
    let pid: u32 = std::fs::read_to_string(dir.path().join("silent.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive(pid), "the half-started server was left running");
}

#[test]
fn bad_server_names_and_configs_are_refused_at_construction_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = AgentConfig::new("scripted");
    c.script = Some(Vec::new());
    c.cwd = Some(dir.path().to_path_buf());
    c.mcp_servers = vec![(
        "my server".into(),
        McpServerConfig::Stdio(StdioServerConfig::new("node")),
    )];
    let e = Agent::new(c.clone()).err().unwrap().to_string();
    assert_eq!(e, "invalid option `mcp_servers`: server name \"my server\" must be 1 to 32 characters of [a-zA-Z0-9_-]");
    c.mcp_servers = vec![(
        "ok".into(),
        McpServerConfig::Stdio(StdioServerConfig::new("")),
    )];
    let e = Agent::new(c).err().unwrap().to_string();
    assert!(
        e.starts_with("invalid option `mcp_servers`: `ok.command`"),
        "{e}"
    );
}
