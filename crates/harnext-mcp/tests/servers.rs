//! The manager against real MCP servers: the reference servers from npm
//! (`@modelcontextprotocol/server-everything` and `server-filesystem`, devDependencies
//! installed by `npm ci`, which scripts/test.sh and CI run before `cargo test`) and a
//! misbehaving fake (`__test__/fixtures/fake-mcp-server.mjs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use harnext_mcp::HttpServerConfig;
use harnext_mcp::McpManager;
use harnext_mcp::McpServerConfig;
use harnext_mcp::McpToolSet;
use harnext_mcp::Restart;
use harnext_mcp::StdioServerConfig;
use harnext_tools::Tool;
use harnext_tools::ToolContext;
use harnext_tools::ToolError;
use harnext_tools::Workspace;
use serde_json::json;
use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The entry point of an npm-installed reference server.
fn npm_server(package: &str) -> String {
    let path = root()
        .join("node_modules/@modelcontextprotocol")
        .join(package)
        .join("dist/index.js");
    assert!(
        path.exists(),
        "{} is missing: run `npm ci` first (the MCP reference servers are devDependencies)",
        path.display()
    );
    path.display().to_string()
}

fn fixture(name: &str) -> String {
    root()
        .join("__test__/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn node(args: &[&str]) -> StdioServerConfig {
    let mut c = StdioServerConfig::new("node");
    c.args = args.iter().map(|s| (*s).to_owned()).collect();
    c
}

fn everything() -> McpServerConfig {
    McpServerConfig::Stdio(node(&[&npm_server("server-everything"), "stdio"]))
}

fn fake(mode: &str, dir: &Path) -> McpServerConfig {
    let mut c = node(&[&fixture("fake-mcp-server.mjs"), mode]);
    c.env = vec![
        (
            "FAKE_MCP_PIDFILE".into(),
            dir.join(format!("{mode}.pid")).display().to_string(),
        ),
        (
            "FAKE_MCP_LOG".into(),
            dir.join(format!("{mode}.log")).display().to_string(),
        ),
    ];
    McpServerConfig::Stdio(c)
}

fn pids(dir: &Path, mode: &str) -> Vec<u32> {
    std::fs::read_to_string(dir.join(format!("{mode}.pid")))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn log(dir: &Path, mode: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{mode}.log"))).unwrap_or_default()
}

/// Alive and not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z"),
    }
}

async fn eventually_dead(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    !alive(pid)
}

fn manager(servers: Vec<(&str, McpServerConfig)>, dir: &Path) -> McpManager {
    McpManager::new(
        servers
            .into_iter()
            .map(|(n, c)| (n.to_owned(), c))
            .collect(),
        dir,
    )
    .unwrap()
}

fn find(set: &McpToolSet, name: &str) -> Arc<dyn Tool> {
    set.tools
        .iter()
        .find(|t| t.name() == name)
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "no tool {name}; have {:?}",
                set.tools.iter().map(|t| t.name()).collect::<Vec<_>>()
            )
        })
}

fn ctx(dir: &Path, cancel: CancellationToken) -> ToolContext {
    ToolContext {
        workspace: Arc::new(Workspace::new(dir).unwrap()),
        cancel,
        call_id: "call_1".into(),
        escalated: None,
        todos: None,
        images: None,
    }
}

async fn call(tool: &Arc<dyn Tool>, dir: &Path, args: Value) -> Result<String, ToolError> {
    tool.call(args, ctx(dir, CancellationToken::new())).await
}

#[tokio::test]
async fn everything_over_stdio_offers_namespaced_tools_with_their_schemas_and_read_only_hints() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(vec![("everything", everything())], dir.path());
    assert!(
        m.pids().await.is_empty(),
        "nothing starts before tools are asked for"
    );
    let set = m.tools(Restart::Failed).await;
    assert!(set.failures.is_empty(), "{:?}", set.failures);
    assert!(set
        .tools
        .iter()
        .all(|t| t.name().starts_with("mcp__everything__")));
    let echo = find(&set, "mcp__everything__echo");
    assert_eq!(echo.description(), "Echoes back the input string");
    assert_eq!(
        echo.input_schema()["properties"]["message"]["type"],
        "string"
    );
    assert_eq!(echo.input_schema()["type"], "object");
    assert!(echo.read_only(), "readOnlyHint: true");
    assert!(
        !find(&set, "mcp__everything__toggle-simulated-logging").read_only(),
        "readOnlyHint: false"
    );
    assert_eq!(m.pids().await.len(), 1);
    m.close().await;
}

#[tokio::test]
async fn calls_give_text_summarised_images_and_is_error_as_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(vec![("everything", everything())], dir.path());
    let set = m.tools(Restart::Failed).await;
    let echo = find(&set, "mcp__everything__echo");
    assert_eq!(
        call(&echo, dir.path(), json!({ "message": "hi" }))
            .await
            .unwrap(),
        "Echo: hi"
    );
    let sum = find(&set, "mcp__everything__get-sum");
    assert_eq!(
        call(&sum, dir.path(), json!({ "a": 2, "b": 3 }))
            .await
            .unwrap(),
        "The sum of 2 and 3 is 5."
    );
    let image = call(
        &find(&set, "mcp__everything__get-tiny-image"),
        dir.path(),
        json!({}),
    )
    .await
    .unwrap();
    assert!(image.contains("Here's the image you requested:"), "{image}");
    let summary = regex_like_image(&image);
    assert!(
        summary.starts_with("[image: image/png, ") && summary.ends_with(" bytes]"),
        "{image}"
    );
    let structured = call(
        &find(&set, "mcp__everything__get-structured-content"),
        dir.path(),
        json!({ "location": "Chicago" }),
    )
    .await
    .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&structured).unwrap()["temperature"],
        36
    );
    // The server validates arguments and answers isError: true.
    match call(&echo, dir.path(), json!({ "message": 42 })).await {
        Err(ToolError::Failed(msg)) => assert!(msg.contains("message"), "{msg}"),
        other => panic!("expected an error result, got {other:?}"),
    }
    match call(&echo, dir.path(), json!("not an object")).await {
        Err(ToolError::InvalidArgs(msg)) => assert!(msg.contains("JSON object"), "{msg}"),
        other => panic!("expected invalid arguments, got {other:?}"),
    }
    m.close().await;
}

fn regex_like_image(text: &str) -> &str {
    text.lines()
        .find(|l| l.starts_with("[image:"))
        .unwrap_or_default()
}

#[tokio::test]
async fn the_filesystem_server_reads_and_lists_within_its_allowed_directory_only() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().canonicalize().unwrap();
    std::fs::write(allowed.join("notes.txt"), "line one\nline two\n").unwrap();
    std::fs::create_dir(allowed.join("sub")).unwrap();
    let fs = McpServerConfig::Stdio(node(&[
        &npm_server("server-filesystem"),
        allowed.to_str().unwrap(),
    ]));
    let m = manager(vec![("fs", fs)], dir.path());
    let set = m.tools(Restart::Failed).await;
    assert!(set.failures.is_empty(), "{:?}", set.failures);
    let read = find(&set, "mcp__fs__read_text_file");
    assert!(read.read_only());
    assert!(!find(&set, "mcp__fs__write_file").read_only());
    let text = call(
        &read,
        dir.path(),
        json!({ "path": allowed.join("notes.txt") }),
    )
    .await
    .unwrap();
    assert_eq!(text.trim_end(), "line one\nline two");
    let listing = call(
        &find(&set, "mcp__fs__list_directory"),
        dir.path(),
        json!({ "path": allowed }),
    )
    .await
    .unwrap();
    assert!(
        listing.contains("[FILE] notes.txt") && listing.contains("[DIR] sub"),
        "{listing}"
    );
    match call(&read, dir.path(), json!({ "path": "/etc/hostname" })).await {
        Err(ToolError::Failed(msg)) => assert!(
            msg.to_lowercase().contains("denied") || msg.contains("outside"),
            "{msg}"
        ),
        other => panic!("a path outside the allowed directory must fail, got {other:?}"),
    }
    m.close().await;
}

/// server-everything's streamable HTTP mode, kept on 127.0.0.1 by the loopback preload.
struct HttpEverything {
    child: tokio::process::Child,
    url: String,
}

async fn start_http_everything() -> HttpEverything {
    let mut child = tokio::process::Command::new("node")
        .args([
            "--import",
            &fixture("loopback.mjs"),
            &npm_server("server-everything"),
            "streamableHttp",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let port = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if let Some(p) = v["harnextTestPort"].as_u64() {
                    return p;
                }
            }
        }
        panic!("the server exited before listening");
    })
    .await
    .expect("the HTTP server did not start");
    // Keep draining its stdout (it logs every request there).
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    HttpEverything {
        child,
        url: format!("http://127.0.0.1:{port}/mcp"),
    }
}

#[tokio::test]
async fn everything_over_streamable_http_lists_and_calls_tools() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_http_everything().await;
    let mut config = HttpServerConfig::new(server.url.clone());
    config.headers = vec![("x-harnext-test".into(), "1".into())];
    let m = manager(vec![("remote", McpServerConfig::Http(config))], dir.path());
    let set = m.tools(Restart::Failed).await;
    assert!(set.failures.is_empty(), "{:?}", set.failures);
    let echo = find(&set, "mcp__remote__echo");
    assert!(echo.read_only());
    assert_eq!(
        call(&echo, dir.path(), json!({ "message": "over http" }))
            .await
            .unwrap(),
        "Echo: over http"
    );
    let sum = find(&set, "mcp__remote__get-sum");
    assert_eq!(
        call(&sum, dir.path(), json!({ "a": 1.5, "b": 1 }))
            .await
            .unwrap(),
        "The sum of 1.5 and 1 is 2.5."
    );
    assert!(
        m.pids().await.is_empty(),
        "no local process for an HTTP server"
    );
    m.close().await;
    server.child.kill().await.unwrap();
}

#[tokio::test]
async fn an_http_server_that_is_not_there_is_reported_without_waiting_for_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = HttpServerConfig::new(format!("http://127.0.0.1:{port}/mcp"));
    let m = manager(vec![("gone", McpServerConfig::Http(config))], dir.path());
    let started = Instant::now();
    let set = m.tools(Restart::Failed).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(set.tools.is_empty());
    assert_eq!(set.failures.len(), 1);
    assert!(
        set.failures[0]
            .message
            .starts_with("MCP server `gone` is unavailable: cannot connect to http://127.0.0.1:"),
        "{}",
        set.failures[0].message
    );
}

#[tokio::test]
async fn a_server_that_exits_after_initialize_is_reported_with_its_exit_status_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(
        vec![
            ("crashy", fake("crash-after-initialize", dir.path())),
            ("everything", everything()),
        ],
        dir.path(),
    );
    let set = m.tools(Restart::Failed).await;
    assert_eq!(set.failures.len(), 1, "{:?}", set.failures);
    let failure = &set.failures[0];
    assert_eq!(failure.server, "crashy");
    assert!(
        failure
            .message
            .starts_with("MCP server `crashy` is unavailable: its process exited (exit status: 3)"),
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("fatal: boom (bad config)"),
        "{}",
        failure.message
    );
    assert!(
        set.tools
            .iter()
            .any(|t| t.name() == "mcp__everything__echo"),
        "the other server still works"
    );
    assert!(set
        .tools
        .iter()
        .all(|t| !t.name().starts_with("mcp__crashy__")));
    m.close().await;
}

#[tokio::test]
async fn a_server_dying_mid_call_fails_the_call_naming_it_and_leaves_the_tool_list_until_restarted()
{
    let dir = tempfile::tempdir().unwrap();
    let m = manager(
        vec![("fragile", fake("crash-on-call", dir.path()))],
        dir.path(),
    );
    let set = m.tools(Restart::Failed).await;
    let explode = find(&set, "mcp__fragile__explode");
    assert!(!explode.read_only(), "no annotations: writing");
    let started = Instant::now();
    match call(&explode, dir.path(), json!({})).await {
        Err(ToolError::Failed(msg)) => {
            assert!(
                msg.starts_with(
                    "MCP server `fragile` is unavailable: its process exited (exit status: 7)"
                ),
                "{msg}"
            );
            assert!(msg.contains("panic: exploded on request"), "{msg}");
        }
        other => panic!("expected the call to fail, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "no hang");
    assert!(m.needs_refresh(), "a dead server asks for a refresh");
    let within_run = m.tools(Restart::No).await;
    assert!(within_run.tools.is_empty());
    assert!(
        within_run.failures[0].message.contains("exit status: 7"),
        "{:?}",
        within_run.failures
    );
    assert!(!m.needs_refresh());
    // A later call through the old tool says the same, at once.
    let again = call(&explode, dir.path(), json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        again.contains("MCP server `fragile` is unavailable"),
        "{again}"
    );
    // The next run starts it again.
    let next_run = m.tools(Restart::Failed).await;
    assert!(next_run.failures.is_empty());
    assert_eq!(pids(dir.path(), "crash-on-call").len(), 1);
    find(&next_run, "mcp__fragile__explode");
    m.close().await;
}

#[tokio::test]
async fn a_server_that_never_answers_initialize_times_out_and_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let McpServerConfig::Stdio(mut config) = fake("silent", dir.path()) else {
        unreachable!()
    };
    // Long enough for the fake server to write its pid file on a loaded machine.
    config.startup_timeout = Duration::from_millis(2000);
    let m = manager(vec![("mute", McpServerConfig::Stdio(config))], dir.path());
    let started = Instant::now();
    let set = m.tools(Restart::Failed).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        set.failures[0].message,
        "MCP server `mute` is unavailable: it did not complete the MCP initialization within 2000 ms (startup_timeout_ms)"
    );
    let pid = pids(dir.path(), "silent")[0];
    assert!(
        eventually_dead(pid, Duration::from_secs(2)).await,
        "the server {pid} was left running"
    );
}

#[tokio::test]
async fn a_command_that_cannot_start_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(
        vec![(
            "nope",
            McpServerConfig::Stdio(StdioServerConfig::new("harnext-no-such-command")),
        )],
        dir.path(),
    );
    let set = m.tools(Restart::Failed).await;
    assert!(
        set.failures[0].message.starts_with(
            "MCP server `nope` is unavailable: cannot start `harnext-no-such-command`: "
        ),
        "{}",
        set.failures[0].message
    );
}

#[tokio::test]
async fn cancelling_a_call_returns_at_once_and_tells_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(vec![("slow", fake("hang-call", dir.path()))], dir.path());
    let set = m.tools(Restart::Failed).await;
    let wait = find(&set, "mcp__slow__wait");
    let cancel = CancellationToken::new();
    let pending = wait.call(json!({}), ctx(dir.path(), cancel.clone()));
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        canceller.cancel();
    });
    let started = Instant::now();
    assert!(matches!(pending.await, Err(ToolError::Cancelled)));
    assert!(started.elapsed() < Duration::from_secs(1));
    let deadline = Instant::now() + Duration::from_secs(3);
    while !log(dir.path(), "hang-call").contains("cancelled") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = log(dir.path(), "hang-call");
    assert!(
        log.contains("call wait") && log.contains("cancelled"),
        "{log}"
    );
    m.close().await;
}

#[tokio::test]
async fn tools_list_changed_makes_the_next_refresh_list_the_tools_again() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(vec![("growing", fake("grow", dir.path()))], dir.path());
    let set = m.tools(Restart::Failed).await;
    assert!(set.tools.iter().all(|t| t.name() != "mcp__growing__extra"));
    assert!(!m.needs_refresh());
    assert_eq!(
        call(&find(&set, "mcp__growing__grow"), dir.path(), json!({}))
            .await
            .unwrap(),
        "grown"
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while !m.needs_refresh() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(m.needs_refresh(), "tools/list_changed was noted");
    let set = m.tools(Restart::No).await;
    let extra = find(&set, "mcp__growing__extra");
    assert!(extra.read_only());
    assert_eq!(
        call(&extra, dir.path(), json!({})).await.unwrap(),
        "extra ran"
    );
    assert!(!m.needs_refresh());
    assert_eq!(
        pids(dir.path(), "grow").len(),
        1,
        "the same process, not a restart"
    );
    m.close().await;
}

#[tokio::test]
async fn servers_start_once_and_are_reused_across_refreshes() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(vec![("everything", everything())], dir.path());
    m.tools(Restart::Failed).await;
    let first = m.pids().await;
    m.tools(Restart::Failed).await;
    m.tools(Restart::No).await;
    assert_eq!(m.pids().await, first);
    m.close().await;
}

#[tokio::test]
async fn close_ends_every_server_process_with_its_children_even_one_ignoring_eof_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(
        vec![
            ("everything", everything()),
            ("parent", fake("grandchild", dir.path())),
            ("stubborn", fake("stubborn", dir.path())),
        ],
        dir.path(),
    );
    let set = m.tools(Restart::Failed).await;
    assert!(set.failures.is_empty(), "{:?}", set.failures);
    let mut all: Vec<u32> = m.pids().await.into_iter().map(|(_, p)| p).collect();
    let family = pids(dir.path(), "grandchild");
    assert_eq!(family.len(), 2, "server and its sleep");
    all.extend(&family);
    assert!(all.iter().all(|p| alive(*p)));
    let started = Instant::now();
    m.close().await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "bounded: {:?}",
        started.elapsed()
    );
    for pid in &all {
        // Direct children are reaped by close(); the grandchild may take init a moment.
        assert!(
            eventually_dead(*pid, Duration::from_millis(500)).await,
            "pid {pid} outlived close()"
        );
    }
    assert!(
        log(dir.path(), "stubborn").contains("ignored SIGTERM"),
        "it got the stdin EOF and SIGTERM first"
    );
    assert!(m.pids().await.is_empty());
    // A later run starts them again.
    let again = m.tools(Restart::Failed).await;
    assert!(again.failures.is_empty());
    m.close().await;
}

#[tokio::test]
async fn dropping_the_manager_kills_its_servers_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(
        vec![
            ("everything", everything()),
            ("parent", fake("grandchild", dir.path())),
        ],
        dir.path(),
    );
    m.tools(Restart::Failed).await;
    let mut all: Vec<u32> = m.pids().await.into_iter().map(|(_, p)| p).collect();
    all.extend(pids(dir.path(), "grandchild"));
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 3, "two servers and a grandchild");
    drop(m);
    for pid in all {
        assert!(
            eventually_dead(pid, Duration::from_secs(1)).await,
            "pid {pid} outlived the manager"
        );
    }
}

#[test]
fn dropping_the_manager_without_a_runtime_still_kills_its_servers() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let m = manager(vec![("parent", fake("grandchild", dir.path()))], dir.path());
    rt.block_on(m.tools(Restart::Failed));
    let all = pids(dir.path(), "grandchild");
    assert_eq!(all.len(), 2);
    // The runtime goes first (as at process exit), then the manager, from a plain thread.
    drop(rt);
    drop(m);
    let deadline = Instant::now() + Duration::from_secs(2);
    while all.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        all.iter().all(|p| !alive(*p)),
        "{all:?} outlived the manager"
    );
}
