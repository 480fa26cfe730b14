//! `web_fetch` end to end: a model (the mock Anthropic server) fetches pages of a small
//! HTTP server on 127.0.0.1: as Markdown, refused when the network is off, a domain is
//! blocked or an address is private, and bounded against a redirect loop, a huge body
//! and a slow server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use std::time::Instant;

use harnext_core::protocol::AgentEvent;
use harnext_core::protocol::RunResult;
use harnext_core::protocol::ToolStatus;
use harnext_core::protocol::ToolStep;
use harnext_core::Agent;
use harnext_core::AgentConfig;
use harnext_core::EventSink;
use harnext_core::RunRequest;
use harnext_mock::MockResponse;
use harnext_mock::MockServer;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A web server on 127.0.0.1 with a few pages; its base URL.
async fn web_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&got).to_string();
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let head = |status: &str, kind: &str, extra: &str| {
                    format!("HTTP/1.1 {status}\r\ncontent-type: {kind}\r\nconnection: close\r\n{extra}\r\n")
                };
                let reply = match path.as_str() {
                    "/page" => {
                        let body = "<html><head><title>T</title><style>h1{}</style></head><body><h1>Release notes</h1><p>Version <b>2.0</b> adds <a href=\"/docs\">docs</a>.</p><script>track()</script></body></html>";
                        format!(
                            "{}{body}",
                            head(
                                "200 OK",
                                "text/html; charset=utf-8",
                                &format!("content-length: {}\r\n", body.len())
                            )
                        )
                    }
                    "/echo-headers" => {
                        let body = request.clone();
                        format!(
                            "{}{body}",
                            head(
                                "200 OK",
                                "text/plain",
                                &format!("content-length: {}\r\n", body.len())
                            )
                        )
                    }
                    "/loop" => head(
                        "302 Found",
                        "text/plain",
                        "location: /loop\r\ncontent-length: 0\r\n",
                    ),
                    "/hop" => head(
                        "301 Moved",
                        "text/plain",
                        "location: /page\r\ncontent-length: 0\r\n",
                    ),
                    "/to-blocked" => head(
                        "302 Found",
                        "text/plain",
                        "location: http://blocked.test/x\r\ncontent-length: 0\r\n",
                    ),
                    "/image" => head("200 OK", "image/png", "content-length: 4\r\n") + "\u{89}PNG",
                    "/missing" => {
                        head("404 Not Found", "text/plain", "content-length: 9\r\n") + "not here!"
                    }
                    "/huge" => {
                        let _ = socket
                            .write_all(head("200 OK", "text/plain", "").as_bytes())
                            .await;
                        let chunk = vec![b'a'; 64 * 1024];
                        // 64 MiB, unless the client hangs up first.
                        for _ in 0..1024 {
                            if socket.write_all(&chunk).await.is_err() {
                                return;
                            }
                        }
                        return;
                    }
                    "/slow" => {
                        tokio::time::sleep(Duration::from_secs(20)).await;
                        head("200 OK", "text/plain", "content-length: 4\r\n") + "late"
                    }
                    _ => head("404 Not Found", "text/plain", "content-length: 0\r\n"),
                };
                let _ = socket.write_all(reply.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    base
}

fn config(mock: &MockServer, dir: &std::path::Path) -> AgentConfig {
    let mut c = AgentConfig::new("anthropic/claude-test");
    c.base_url = Some(mock.url());
    c.api_key = Some("sk-ant-web-SECRET".into());
    c.cwd = Some(dir.to_path_buf());
    c.persist_session = false;
    c
}

/// Runs one `web_fetch` call per URL (one turn each) and returns the steps.
async fn fetch_all(
    config: AgentConfig,
    mock: &MockServer,
    urls: &[String],
) -> (Vec<ToolStep>, Vec<AgentEvent>) {
    for (i, url) in urls.iter().enumerate() {
        mock.push(
            MockResponse::from_json(json!({"turn": {"toolCalls": [
                {"id": format!("w{i}"), "name": "web_fetch", "args": {"url": url}}
            ]}}))
            .unwrap(),
        );
    }
    mock.push(MockResponse::from_json(json!({"turn": {"text": "done"}})).unwrap());
    let agent = Agent::new(config).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let result: RunResult = agent
        .start(RunRequest::text("fetch"))
        .unwrap()
        .execute(CancellationToken::new(), EventSink::channel(tx))
        .await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    assert!(result.success, "{result:?}");
    (result.steps, events)
}

fn allowing_local(mock: &MockServer, dir: &std::path::Path) -> AgentConfig {
    let mut c = config(mock, dir);
    c.sandbox.network = true;
    c.web_fetch.allowed_domains = vec!["127.0.0.1".into()];
    c.web_fetch.blocked_domains = vec!["blocked.test".into()];
    c.web_fetch.timeout = Duration::from_millis(1500);
    c
}

#[tokio::test]
async fn a_local_page_is_fetched_as_markdown_and_redirects_are_followed_within_bounds() {
    let base = web_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    let urls: Vec<String> = [
        "/page",
        "/hop",
        "/loop",
        "/to-blocked",
        "/image",
        "/missing",
        "/echo-headers",
    ]
    .iter()
    .map(|p| format!("{base}{p}"))
    .collect();
    let (steps, _) = fetch_all(allowing_local(&mock, dir.path()), &mock, &urls).await;
    let page = &steps[0];
    assert_eq!(page.status, ToolStatus::Ok, "{}", page.output);
    assert!(
        page.output
            .starts_with(&format!("Fetched {base}/page (HTTP 200, text/html)")),
        "{}",
        page.output
    );
    assert!(page.output.contains("# Release notes"), "{}", page.output);
    assert!(
        page.output.contains("Version **2.0** adds [docs](/docs)."),
        "{}",
        page.output
    );
    assert!(
        !page.output.contains("track()") && !page.output.contains("h1{}"),
        "{}",
        page.output
    );
    let hop = &steps[1];
    assert!(
        hop.output.starts_with(&format!(
            "Fetched {base}/page (HTTP 200, text/html, after 1 redirect)"
        )),
        "{}",
        hop.output
    );
    let looped = &steps[2];
    assert_eq!(looped.status, ToolStatus::Error);
    assert!(
        looped
            .output
            .contains("stopped after 5 redirects (a redirect loop?)"),
        "{}",
        looped.output
    );
    let out = &steps[3];
    assert_eq!(out.status, ToolStatus::Error);
    assert!(
        out.output
            .contains("blocked.test is blocked by the user's settings"),
        "re-checked at each hop: {}",
        out.output
    );
    assert!(
        steps[4]
            .output
            .contains("the content is image/png, not text"),
        "{}",
        steps[4].output
    );
    assert!(
        steps[5].output.contains("HTTP 404 Not Found: not here!"),
        "{}",
        steps[5].output
    );
    // No credential of the agent goes with the request.
    let echoed = steps[6].output.to_ascii_lowercase();
    assert!(
        !echoed.contains("sk-ant")
            && !echoed.contains("x-api-key")
            && !echoed.contains("authorization")
            && !echoed.contains("cookie"),
        "{echoed}"
    );
}

#[tokio::test]
async fn a_huge_body_is_cut_and_a_slow_server_times_out() {
    let base = web_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    let started = Instant::now();
    let urls = vec![format!("{base}/huge"), format!("{base}/slow")];
    let (steps, _) = fetch_all(allowing_local(&mock, dir.path()), &mock, &urls).await;
    let huge = &steps[0];
    assert_eq!(huge.status, ToolStatus::Ok);
    assert!(
        huge.output.contains("only the first 2097152 bytes read"),
        "{}",
        &huge.output[..200]
    );
    assert!(huge
        .output
        .contains("[Cut: the page has 2097152 characters; the first 29000 are shown.]"));
    assert!(huge.output.chars().count() < 30_000);
    let slow = &steps[1];
    assert_eq!(slow.status, ToolStatus::Error);
    assert!(
        slow.output.contains("no complete answer within 1500 ms"),
        "{}",
        slow.output
    );
    // The slow server holds its answer for 20 s: the time limit ended the call.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn refused_without_network_for_a_blocked_domain_and_for_private_addresses_unless_allowed() {
    let base = web_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    let page = format!("{base}/page");

    // The default: no network.
    let (steps, _) = fetch_all(
        config(&mock, dir.path()),
        &mock,
        std::slice::from_ref(&page),
    )
    .await;
    assert_eq!(steps[0].status, ToolStatus::Error);
    assert!(steps[0].output.contains("web_fetch is off: this agent has no network access. The user can allow it with the agent's `network` option set to true"), "{}", steps[0].output);
    // The model is told up front.
    let system = |i: usize| mock.requests()[i].body["system"].to_string();
    assert!(system(0).contains("web_fetch cannot be used: this agent has no network access."));
    let offline_requests = mock.requests().len();

    // Network on, but 127.0.0.1 blocked.
    let mut c = config(&mock, dir.path());
    c.sandbox.network = true;
    c.web_fetch.blocked_domains = vec!["127.0.0.1".into()];
    let (steps, _) = fetch_all(c, &mock, std::slice::from_ref(&page)).await;
    assert!(
        steps[0]
            .output
            .contains("127.0.0.1 is blocked by the user's settings"),
        "{}",
        steps[0].output
    );
    assert!(!system(offline_requests).contains("web_fetch cannot be used"));

    // Network on, no lists: private addresses are refused, by address and by name.
    let mut c = config(&mock, dir.path());
    c.sandbox.network = true;
    let by_name = page.replace("127.0.0.1", "localhost");
    let (steps, _) = fetch_all(c, &mock, &[page.clone(), by_name]).await;
    assert!(
        steps[0]
            .output
            .contains("127.0.0.1 is a private network address"),
        "{}",
        steps[0].output
    );
    assert!(
        steps[1]
            .output
            .contains("localhost resolves to 127.0.0.1, a private network address"),
        "{}",
        steps[1].output
    );

    // An allow list without that host refuses it too.
    let mut c = config(&mock, dir.path());
    c.sandbox.network = true;
    c.web_fetch.allowed_domains = vec!["example.com".into()];
    let (steps, _) = fetch_all(c, &mock, &[page]).await;
    assert!(
        steps[0]
            .output
            .contains("is not among the domains the user allows"),
        "{}",
        steps[0].output
    );
}

#[tokio::test]
async fn the_option_is_checked_and_read_only_refuses_a_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    let e = harnext_core::web_fetch_option(&json!({"allowedDomain": ["x"]}), true).unwrap_err();
    assert!(e.to_string().contains("invalid option `web_fetch`: unknown field \"allowedDomain\": did you mean `allowedDomains`?"), "{e}");
    let e = harnext_core::web_fetch_option(&json!({"blocked_domains": ["https://x.com/a"]}), false)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("blocked_domains: \"https://x.com/a\" is not a domain"),
        "{e}"
    );
    let e = harnext_core::web_fetch_option(&json!({"timeoutMs": 0}), true).unwrap_err();
    assert!(
        e.to_string()
            .contains("timeoutMs: expected an integer >= 1, got 0"),
        "{e}"
    );
    let ok = harnext_core::web_fetch_option(
        &json!({"allowed_domains": ["Docs.RS"], "timeout_ms": 5000}),
        false,
    )
    .unwrap();
    assert_eq!(
        (ok.allowed_domains, ok.timeout),
        (vec!["docs.rs".to_owned()], Duration::from_secs(5))
    );

    // Settings for a tool that is not on are an error, not ignored.
    let mut c = config(&mock, dir.path());
    c.tools = Some(vec!["read_file".into()]);
    c.web_fetch.blocked_domains = vec!["x.com".into()];
    let e = Agent::new(c).err().unwrap().to_string();
    assert!(
        e.contains(
            "invalid option `web_fetch`: it is set, but `tools` leaves the web_fetch tool out"
        ),
        "{e}"
    );

    // Read-only: refused like a command, before anything is fetched.
    let mut c = config(&mock, dir.path());
    c.sandbox.network = true;
    c.permission_mode = harnext_core::permissions::PermissionMode::parse("read-only").unwrap();
    let (steps, _) = fetch_all(c, &mock, &["http://127.0.0.1:9/".to_owned()]).await;
    assert_eq!(steps[0].status, ToolStatus::Denied, "{}", steps[0].output);
}
