//! The manager against servers that misbehave: a 16 MB tool result (over stdio and
//! over streamable HTTP, as JSON and as SSE), a call that never ends, tools whose
//! `inputSchema` is not a schema, and servers whose tool names would meet.
//! The stdio server is `tests/fixtures/hostile-mcp-server.mjs`; the HTTP one is a
//! small raw server on 127.0.0.1 below.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
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
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

fn hostile(mode: &str, dir: &Path, env: &[(&str, &str)]) -> StdioServerConfig {
    let mut c = StdioServerConfig::new("node");
    c.args = vec![
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/hostile-mcp-server.mjs")
            .display()
            .to_string(),
        mode.to_owned(),
    ];
    c.env = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    c.env.push((
        "FAKE_MCP_LOG".into(),
        dir.join(format!("{mode}.log")).display().to_string(),
    ));
    c
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

async fn call(tool: &Arc<dyn Tool>, dir: &Path) -> Result<String, ToolError> {
    let ctx = ToolContext {
        workspace: Arc::new(Workspace::new(dir).unwrap()),
        cancel: CancellationToken::new(),
        call_id: "call_1".into(),
        escalated: None,
        todos: None,
        images: None,
    };
    tokio::time::timeout(Duration::from_secs(60), tool.call(json!({}), ctx))
        .await
        .expect("the call ended")
}

fn assert_cut(text: &str, fill: char, cap: usize) {
    assert!(text.len() < cap + 1000, "{} bytes", text.len());
    assert!(text.len() > cap / 2, "{} bytes", text.len());
    assert!(
        text.contains(&fill.to_string().repeat(100)),
        "{}",
        &text[..200]
    );
    assert!(
        text.ends_with("the rest was left out]"),
        "{}",
        &text[text.len() - 200..]
    );
    assert!(text.contains("max_result_bytes"));
}

#[tokio::test]
async fn a_16_mb_result_over_stdio_is_cut_with_a_note_instead_of_hanging_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let m = manager(
        vec![("h", McpServerConfig::Stdio(hostile("big", dir.path(), &[])))],
        dir.path(),
    );
    let set = m.tools(Restart::Failed).await;
    assert!(set.failures.is_empty(), "{:?}", set.failures);
    let started = Instant::now();
    let text = call(&find(&set, "mcp__h__big"), dir.path()).await.unwrap();
    assert_cut(&text, 'x', harnext_mcp::DEFAULT_MAX_RESULT_BYTES);
    let text = call(&find(&set, "mcp__h__big_id_first"), dir.path())
        .await
        .unwrap();
    assert!(text.starts_with("start-yyy"));
    assert_cut(&text, 'y', harnext_mcp::DEFAULT_MAX_RESULT_BYTES);
    // A result whose structure alone is too large is an error for that call.
    let e = call(&find(&set, "mcp__h__numbers"), dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("larger than") && e.contains("max_result_bytes"),
        "{e}"
    );
    // The server is still there.
    assert!(call(&find(&set, "mcp__h__echo"), dir.path())
        .await
        .unwrap()
        .contains("echo"));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    m.close().await;
}

#[tokio::test]
async fn max_result_bytes_is_per_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = hostile("big", dir.path(), &[]);
    c.max_result_bytes = 4096;
    let m = manager(vec![("h", McpServerConfig::Stdio(c))], dir.path());
    let set = m.tools(Restart::Failed).await;
    let text = call(&find(&set, "mcp__h__big"), dir.path()).await.unwrap();
    assert_cut(&text, 'x', 4096);
    m.close().await;
}

#[tokio::test]
async fn a_call_that_never_ends_times_out_tells_the_server_and_leaves_it_usable() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = hostile("big", dir.path(), &[("FAKE_MCP_SLOW_MS", "100")]);
    c.tool_timeout = Duration::from_millis(800);
    let m = manager(vec![("h", McpServerConfig::Stdio(c))], dir.path());
    let set = m.tools(Restart::Failed).await;
    let started = Instant::now();
    let e = call(&find(&set, "mcp__h__never"), dir.path())
        .await
        .unwrap_err()
        .to_string();
    let elapsed = started.elapsed();
    assert!(
        e.contains("did not answer `never` within 800 ms (tool_timeout_ms)"),
        "{e}"
    );
    assert!(elapsed >= Duration::from_millis(800), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    // A call within the timeout is answered.
    assert_eq!(
        call(&find(&set, "mcp__h__slow"), dir.path()).await.unwrap(),
        "slow done"
    );
    // The server heard that the call was given up.
    let log = dir.path().join("big.log");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("cancelled")
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        std::fs::read_to_string(&log).unwrap().contains("cancelled"),
        "no notifications/cancelled"
    );
    m.close().await;
}

#[tokio::test]
async fn a_tool_with_an_invalid_input_schema_is_left_out_alone_with_a_warning_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = hostile("bad-schema", dir.path(), &[]);
    c.startup_timeout = Duration::from_secs(20);
    let m = manager(vec![("s", McpServerConfig::Stdio(c))], dir.path());
    let started = Instant::now();
    let set = m.tools(Restart::Failed).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "not after the startup timeout: {:?}",
        started.elapsed()
    );
    assert!(set.failures.is_empty(), "{:?}", set.failures);
    let names: Vec<&str> = set.tools.iter().map(|t| t.name()).collect();
    assert_eq!(names, ["mcp__s__good", "mcp__s__also_good"]);
    let warned: Vec<Option<&str>> = set.warnings.iter().map(|w| w.tool.as_deref()).collect();
    assert_eq!(
        warned,
        [
            Some("string_schema"),
            Some("no_schema"),
            Some("array_schema"),
            Some("string_type"),
            Some("invalid_schema"),
            None,
        ],
        "{:#?}",
        set.warnings
    );
    for w in &set.warnings {
        assert_eq!(w.server, "s");
        assert!(w.message.starts_with("MCP server `s`:"), "{}", w.message);
        assert!(w.message.contains("is left out"), "{}", w.message);
    }
    let by_tool = |t: &str| {
        set.warnings
            .iter()
            .find(|w| w.tool.as_deref() == Some(t))
            .unwrap()
            .message
            .clone()
    };
    assert!(by_tool("string_schema").contains("not a JSON object (a string)"));
    assert!(by_tool("no_schema").contains("no inputSchema"));
    assert!(by_tool("string_type").contains("must describe an object"));
    assert!(by_tool("invalid_schema").contains("not a valid JSON Schema"));
    // The warnings stay with the tool list (a caller reports each once).
    let again = m.tools(Restart::No).await;
    assert_eq!(again.warnings, set.warnings);
    m.close().await;
}

#[tokio::test]
async fn servers_whose_names_and_tools_would_meet_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    // `a` + `b__c` and `a__b` + `c` both spell `mcp__a__b__c`.
    let a = hostile(
        "names",
        dir.path(),
        &[("FAKE_MCP_TOOLS", "b__c,x"), ("FAKE_MCP_SERVER", "a")],
    );
    let ab = hostile(
        "names",
        dir.path(),
        &[("FAKE_MCP_TOOLS", "c,x"), ("FAKE_MCP_SERVER", "a__b")],
    );
    let m = manager(
        vec![
            ("a", McpServerConfig::Stdio(a)),
            ("a__b", McpServerConfig::Stdio(ab)),
        ],
        dir.path(),
    );
    let set = m.tools(Restart::Failed).await;
    assert!(
        set.failures.is_empty() && set.warnings.is_empty(),
        "{:?}",
        set.warnings
    );
    let names: Vec<&str> = set.tools.iter().map(|t| t.name()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    let unique: std::collections::HashSet<&&str> = names.iter().collect();
    assert_eq!(unique.len(), 4, "{names:?}");
    assert!(names.contains(&"mcp__a__b__c") && names.contains(&"mcp__a__x"));
    let hashed: Vec<&&str> = names
        .iter()
        .filter(|n| n.starts_with("mcp__a__b__c_") || n.starts_with("mcp__a__b__x_"))
        .collect();
    assert_eq!(hashed.len(), 2, "{names:?}");
    // Each name reaches its own server.
    assert_eq!(
        call(&find(&set, "mcp__a__b__c"), dir.path()).await.unwrap(),
        "a:b__c:{}"
    );
    let other = names
        .iter()
        .find(|n| n.starts_with("mcp__a__b__c_"))
        .unwrap();
    assert_eq!(
        call(&find(&set, other), dir.path()).await.unwrap(),
        "a__b:c:{}"
    );
    // The names do not depend on which servers run: the same again in a new manager.
    m.close().await;
    let set2 = m.tools(Restart::Failed).await;
    let names2: Vec<&str> = set2.tools.iter().map(|t| t.name()).collect();
    assert_eq!(names, names2);

    // A server that names a tool to collide on purpose loses that tool, with a warning.
    let taken = other.to_string();
    let forger_tool = taken.strip_prefix("mcp__a__").unwrap().to_owned();
    let forger = hostile(
        "names",
        dir.path(),
        &[("FAKE_MCP_TOOLS", &forger_tool), ("FAKE_MCP_SERVER", "a")],
    );
    let ab = hostile(
        "names",
        dir.path(),
        &[("FAKE_MCP_TOOLS", "c"), ("FAKE_MCP_SERVER", "a__b")],
    );
    m.close().await;
    let m = manager(
        vec![
            ("a", McpServerConfig::Stdio(forger)),
            ("a__b", McpServerConfig::Stdio(ab)),
        ],
        dir.path(),
    );
    let set = m.tools(Restart::Failed).await;
    assert_eq!(set.tools.len(), 1);
    assert_eq!(set.warnings.len(), 1, "{:?}", set.warnings);
    assert_eq!(set.warnings[0].server, "a__b");
    assert!(set.warnings[0]
        .message
        .contains("a tool of server `a` has that name"));
    m.close().await;
}

// ---------------------------------------------------------------------------------
// Streamable HTTP: a raw server answering JSON-RPC over POST, with a 16 MB result as
// a JSON body (`big_json`) or an SSE event (`big_sse`).

async fn serve_http_mcp() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 8192];
                let head_end = loop {
                    let Ok(n) = socket.read(&mut tmp).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    let Ok(n) = socket.read(&mut tmp).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                }
                let respond = |status: &str, ct: &str, body: Vec<u8>| {
                    let mut out = format!(
                        "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-type: {ct}\r\nmcp-session-id: s1\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    out.extend_from_slice(&body);
                    out
                };
                let out = if !head.starts_with("POST") {
                    respond("405 Method Not Allowed", "text/plain", Vec::new())
                } else {
                    let msg: Value = serde_json::from_slice(&buf[head_end..head_end + length])
                        .unwrap_or_default();
                    let id = msg.get("id").cloned();
                    match (msg["method"].as_str(), id) {
                        (_, None) => respond("202 Accepted", "text/plain", Vec::new()),
                        (Some("initialize"), Some(id)) => respond("200 OK", "application/json", json!({"jsonrpc": "2.0", "id": id, "result": {
                            "protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}},
                            "serverInfo": {"name": "raw", "version": "1"}}}).to_string().into_bytes()),
                        (Some("tools/list"), Some(id)) => respond("200 OK", "application/json", json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [
                            {"name": "big_json", "inputSchema": {"type": "object"}},
                            {"name": "big_sse", "inputSchema": {"type": "object"}},
                            {"name": "bad", "inputSchema": 7}]}}).to_string().into_bytes()),
                        (Some("tools/call"), Some(id)) => {
                            let big = format!(
                                r#"{{"result":{{"content":[{{"type":"text","text":"{}"}}]}},"jsonrpc":"2.0","id":{id}}}"#,
                                "z".repeat(16 * 1024 * 1024)
                            );
                            if msg["params"]["name"] == "big_sse" {
                                respond("200 OK", "text/event-stream", format!("event: message\ndata: {big}\n\n").into_bytes())
                            } else {
                                respond("200 OK", "application/json", big.into_bytes())
                            }
                        }
                        (_, Some(id)) => respond("200 OK", "application/json", json!({"jsonrpc": "2.0", "id": id, "result": {}}).to_string().into_bytes()),
                    }
                };
                let _ = socket.write_all(&out).await;
            });
        }
    });
    url
}

#[tokio::test]
async fn a_16_mb_result_over_http_is_cut_whether_json_or_sse_and_a_bad_schema_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let url = serve_http_mcp().await;
    let m = manager(
        vec![("r", McpServerConfig::Http(HttpServerConfig::new(url)))],
        dir.path(),
    );
    let set = m.tools(Restart::Failed).await;
    assert!(set.failures.is_empty(), "{:?}", set.failures);
    assert_eq!(set.tools.len(), 2);
    assert_eq!(set.warnings.len(), 1);
    assert!(
        set.warnings[0].message.contains("`bad`"),
        "{:?}",
        set.warnings
    );
    for tool in ["mcp__r__big_json", "mcp__r__big_sse"] {
        let text = call(&find(&set, tool), dir.path()).await.unwrap();
        assert_cut(&text, 'z', harnext_mcp::DEFAULT_MAX_RESULT_BYTES);
    }
    m.close().await;
}

#[tokio::test]
async fn server_credentials_never_reach_a_result_a_failure_or_a_debug_print() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "sk-mcp-secret-token-0123456789";
    // A tool that echoes a secret from its environment.
    let echo = hostile(
        "big",
        dir.path(),
        &[("API_TOKEN", secret), ("FAKE_MCP_ECHO_ENV", "API_TOKEN")],
    );
    // A server whose stderr (kept for the failure message) shows the secret.
    let mut leak = hostile("leak", dir.path(), &[("API_TOKEN", secret)]);
    leak.startup_timeout = Duration::from_secs(10);
    // An HTTP server with credentials in its URL, on a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut remote = HttpServerConfig::new(format!(
        "http://alice:hunter2-password@127.0.0.1:{closed}/mcp?token=qs-secret-987654"
    ));
    remote.headers = vec![("Authorization".into(), format!("Bearer {secret}"))];
    let m = manager(
        vec![
            ("echo", McpServerConfig::Stdio(echo)),
            ("leak", McpServerConfig::Stdio(leak)),
            ("remote", McpServerConfig::Http(remote)),
        ],
        dir.path(),
    );
    let set = m.tools(Restart::Failed).await;
    let out = call(&find(&set, "mcp__echo__env"), dir.path())
        .await
        .unwrap();
    assert_eq!(out, "value: <redacted>");
    assert_eq!(set.failures.len(), 2, "{:?}", set.failures);
    let shown = format!("{:?} {m:?}", set.failures);
    for s in [secret, "hunter2-password", "alice", "qs-secret-987654"] {
        assert!(!shown.contains(s), "{s} in {shown}");
    }
    assert!(
        shown.contains("exited"),
        "the failure still says what happened: {shown}"
    );
    assert!(shown.contains(&format!("127.0.0.1:{closed}")), "{shown}");
    // The engine gets every server's secrets to scrub what it shows.
    let r = m.redactor();
    assert_eq!(r.redact(&format!("x {secret} y")), "x <redacted> y");
    m.close().await;
}
