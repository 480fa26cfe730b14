//! The PostgreSQL and Redis session stores against real servers (started by
//! scripts/test.sh, which passes their URLs in `HARNEXT_TEST_POSTGRES_URL` and
//! `HARNEXT_TEST_REDIS_URL`; with `HARNEXT_TEST_STORES=required` a missing URL fails the
//! test instead of skipping it). Each test keeps to its own sessions (Redis: its own key
//! prefix), so they run side by side.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use harnext_core::protocol::ErrorCode;
use harnext_core::protocol::RunResult;
use harnext_core::protocol::ScriptedToolCall;
use harnext_core::protocol::ScriptedTurn;
use harnext_core::protocol::StopReason;
use harnext_core::session;
use harnext_core::store::open_store;
use harnext_core::store::SessionRecord;
use harnext_core::store::StoreError;
use harnext_core::Agent;
use harnext_core::AgentConfig;
use harnext_core::EventSink;
use harnext_core::FileStore;
use harnext_core::RunRequest;
use harnext_core::SessionStore;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The URLs of the stores under test, named; empty (the test passes vacuously, with a
/// note) only when the servers are not required.
fn servers() -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (name, var) in [
        ("postgres", "HARNEXT_TEST_POSTGRES_URL"),
        ("redis", "HARNEXT_TEST_REDIS_URL"),
    ] {
        match std::env::var(var) {
            Ok(url) if !url.is_empty() => out.push((name, url)),
            _ if std::env::var("HARNEXT_TEST_STORES").as_deref() == Ok("required") => {
                panic!("{var} is not set but HARNEXT_TEST_STORES=required (scripts/test.sh starts the servers)")
            }
            _ => eprintln!(
                "{var} not set: the {name} store is not tested here (run scripts/test.sh)"
            ),
        }
    }
    out
}

/// The URL with this test's own Redis key prefix and a short lease.
fn isolated(name: &str, url: &str) -> String {
    if name == "redis" {
        format!("{url}/?prefix=t{}&lease_ms=1500", fastrand::u64(..))
    } else {
        url.to_owned()
    }
}

fn tool(name: &str, args: serde_json::Value) -> ScriptedToolCall {
    ScriptedToolCall {
        id: None,
        name: name.to_owned(),
        args,
    }
}

fn turn(text: Option<&str>, calls: Vec<ScriptedToolCall>) -> ScriptedTurn {
    ScriptedTurn {
        text: text.map(str::to_owned),
        tool_calls: calls,
        ..ScriptedTurn::default()
    }
}

fn config(
    store: Arc<dyn SessionStore>,
    cwd: &std::path::Path,
    script: Vec<ScriptedTurn>,
) -> AgentConfig {
    let mut c = AgentConfig::new("scripted");
    c.script = Some(script);
    c.cwd = Some(cwd.to_path_buf());
    c.session_store = Some(store);
    c
}

async fn run(agent: &Agent, request: RunRequest) -> RunResult {
    agent
        .start(request)
        .unwrap()
        .execute(CancellationToken::new(), EventSink::none())
        .await
}

fn kinds(records: &[SessionRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            let v = serde_json::to_value(r).unwrap();
            let t = v["type"].as_str().unwrap().to_owned();
            if t == "message" {
                format!("message:{}", v["message"]["role"].as_str().unwrap())
            } else {
                t
            }
        })
        .collect()
}

fn two_steps() -> Vec<ScriptedTurn> {
    vec![
        turn(
            Some("writing"),
            vec![tool(
                "write_file",
                json!({"path": "a.txt", "content": "one\n"}),
            )],
        ),
        turn(None, vec![tool("bash", json!({"command": "cat a.txt"}))]),
        turn(Some("done"), vec![]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_records_as_the_file_store_listed_loaded_and_forked() {
    for (name, url) in servers() {
        let work = tempfile::tempdir().unwrap();
        let file_work = tempfile::tempdir().unwrap();
        let files = tempfile::tempdir().unwrap();
        let file_store: Arc<dyn SessionStore> = Arc::new(FileStore::new(files.path()));
        let store = open_store(&isolated(name, &url)).unwrap();

        let by_file = run(
            &Agent::new(config(file_store.clone(), file_work.path(), two_steps())).unwrap(),
            RunRequest::text("task"),
        )
        .await;
        let by_server = run(
            &Agent::new(config(store.clone(), work.path(), two_steps())).unwrap(),
            RunRequest::text("task"),
        )
        .await;
        assert!(by_server.success, "{name}: {by_server:?}");
        let id = by_server.session_id.clone();

        // The same record kinds in the same order, and the same history and steps.
        let file_records = file_store.read(&by_file.session_id).unwrap().unwrap();
        let records = store.read(&id).unwrap().unwrap();
        assert_eq!(kinds(&records), kinds(&file_records), "{name}");
        let loaded = session::load(store.as_ref(), &id).unwrap();
        let from_file = session::load(file_store.as_ref(), &by_file.session_id).unwrap();
        assert_eq!(loaded.messages, from_file.messages, "{name}");
        assert_eq!(loaded.steps.len(), 2, "{name}");
        assert_eq!(loaded.files_changed, vec!["a.txt".to_owned()], "{name}");
        assert_eq!(loaded.runs, 1, "{name}");

        // Listed with its title, newest first.
        let listed = session::list(store.as_ref()).unwrap();
        let mine = listed
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("{name}: not listed"));
        assert_eq!(mine.title.as_deref(), Some("task"), "{name}");
        assert_eq!(mine.model.as_deref(), Some("scripted"), "{name}");

        // Forked at its first two messages; the fork is a session of its own.
        let fork = session::fork(store.as_ref(), &id, Some(2)).unwrap();
        let forked = session::load(store.as_ref(), &fork).unwrap();
        assert_eq!(forked.messages[..2], loaded.messages[..2], "{name}");
        assert_eq!(
            forked.forked_from.as_ref().map(|f| f.id.as_str()),
            Some(id.as_str())
        );

        // Another agent (another handle on the store) resumes it with the whole history.
        let again = Agent::new(config(
            open_store(&url_of(name, &url, &store)).unwrap(),
            work.path(),
            vec![turn(Some("again"), vec![])],
        ))
        .unwrap();
        let mut r = RunRequest::text("more");
        r.session_id = Some(id.clone());
        let resumed = run(&again, r).await;
        assert!(resumed.success, "{name}: {resumed:?}");
        let loaded = session::load(store.as_ref(), &id).unwrap();
        assert_eq!(loaded.runs, 2, "{name}");
        assert_eq!(loaded.messages.len(), 8, "{name}: {:?}", loaded.messages);
    }
}

/// The same store's URL (the Redis prefix kept) for a second, independent handle.
fn url_of(name: &str, url: &str, store: &Arc<dyn SessionStore>) -> String {
    if name == "redis" {
        let key = store.key();
        let prefix = key.rsplit_once('#').map(|(_, p)| p).unwrap();
        format!("{url}/?prefix={prefix}&lease_ms=1500")
    } else {
        url.to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_held_by_one_handle_is_refused_to_another_until_released() {
    for (name, url) in servers() {
        let a = open_store(&isolated(name, &url)).unwrap();
        let b = open_store(&url_of(name, &url, &a)).unwrap();
        let id = harnext_core::store::new_session_id();
        let mut writer = a.open(&id, true).unwrap();
        writer.append(&SessionRecord::RunStart { ts: 1 }).unwrap();
        assert!(
            matches!(b.open(&id, false), Err(StoreError::Locked(_))),
            "{name}"
        );
        assert!(
            matches!(
                b.open("sess_nobody_here", false),
                Err(StoreError::NotFound(_))
            ),
            "{name}"
        );
        drop(writer);
        let writer = b.open(&id, false).unwrap_or_else(|e| panic!("{name}: {e}"));
        drop(writer);
        assert_eq!(b.read(&id).unwrap().unwrap().len(), 1, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runs_of_different_sessions_through_one_store() {
    for (name, url) in servers() {
        let store = open_store(&isolated(name, &url)).unwrap();
        let mut tasks = Vec::new();
        for i in 0..12 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let work = tempfile::tempdir().unwrap();
                let script = vec![
                    turn(
                        None,
                        vec![tool("bash", json!({"command": format!("echo run{i}")}))],
                    ),
                    turn(
                        None,
                        vec![tool("bash", json!({"command": format!("echo again{i}")}))],
                    ),
                    turn(Some(&format!("done {i}")), vec![]),
                ];
                let agent = Agent::new(config(store, work.path(), script)).unwrap();
                (i, run(&agent, RunRequest::text(format!("task {i}"))).await)
            }));
        }
        for t in tasks {
            let (i, result) = t.await.unwrap();
            assert!(result.success, "{name} {i}: {result:?}");
            let data = session::load(store.as_ref(), &result.session_id).unwrap();
            assert_eq!(data.messages.len(), 6, "{name} {i}");
            let text = serde_json::to_string(&data.messages).unwrap();
            assert!(
                text.contains(&format!("run{i}")) && text.contains(&format!("done {i}")),
                "{name} {i}"
            );
            // Nothing of another run leaked in.
            for j in (0..12).filter(|j| *j != i) {
                assert!(!text.contains(&format!("task {j}\"")), "{name} {i} has {j}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_run_whose_lease_was_taken_over_cannot_write_again() {
    let Some((_, url)) = servers().into_iter().find(|(n, _)| *n == "redis") else {
        return;
    };
    let prefix = format!("t{}", fastrand::u64(..));
    let store = open_store(&format!("{url}/?prefix={prefix}&lease_ms=1500")).unwrap();
    let id = harnext_core::store::new_session_id();
    let mut a = store.open(&id, true).unwrap();
    a.append(&SessionRecord::RunStart { ts: 1 }).unwrap();
    // As if `a`'s process froze past its lease and another run took the session.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("DEL")
        .arg(format!("{prefix}:s:{id}:lease"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let other = open_store(&format!("{url}/?prefix={prefix}&lease_ms=1500")).unwrap();
    let mut b = other.open(&id, false).unwrap();
    let e = a
        .append(&SessionRecord::RunStart { ts: 2 })
        .unwrap_err()
        .to_string();
    assert!(e.contains("another run") || e.contains("lapsed"), "{e}");
    b.append(&SessionRecord::RunStart { ts: 3 }).unwrap();
    drop(a);
    drop(b);
    let records = store.read(&id).unwrap().unwrap();
    assert_eq!(
        records.iter().map(SessionRecord::ts).collect::<Vec<_>>(),
        vec![1, 3]
    );
}

/// A TCP proxy to a server that the test can cut: connections and listener go at once.
struct Proxy {
    port: u16,
    stop: CancellationToken,
}

async fn proxy(target: std::net::SocketAddr) -> Proxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = token.cancelled() => return,
                a = listener.accept() => a,
            };
            let Ok((mut inbound, _)) = accepted else {
                return;
            };
            let token = token.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                tokio::select! {
                    () = token.cancelled() => {}
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                }
            });
        }
    });
    Proxy { port, stop }
}

fn host_port(url: &str) -> std::net::SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split(['/', '?']).next().unwrap();
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    hostport.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_goes_away_mid_run_stops_it_with_session_store_and_keeps_what_was_saved() {
    for (name, url) in servers() {
        let direct_url = isolated(name, &url);
        let p = proxy(host_port(&url)).await;
        let via_proxy =
            direct_url.replacen(&host_port(&url).port().to_string(), &p.port.to_string(), 1);
        let store = open_store(&via_proxy).unwrap();
        let work = tempfile::tempdir().unwrap();
        let script = vec![
            turn(None, vec![tool("bash", json!({"command": "echo first"}))]),
            turn(
                None,
                vec![tool("bash", json!({"command": "sleep 1; echo second"}))],
            ),
            turn(Some("never reached"), vec![]),
        ];
        let agent = Agent::new(config(store, work.path(), script)).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let handle = agent.start(RunRequest::text("task")).unwrap();
        let running =
            tokio::spawn(handle.execute(CancellationToken::new(), EventSink::channel(tx)));
        // Cut the server off while the second command runs.
        let mut calls = 0;
        while let Some(e) = rx.recv().await {
            if let harnext_core::protocol::AgentEvent::ToolCall { .. } = e {
                calls += 1;
                if calls == 2 {
                    p.stop.cancel();
                    break;
                }
            }
        }
        let result = tokio::time::timeout(Duration::from_secs(30), running)
            .await
            .expect("the run ended")
            .unwrap();
        assert!(!result.success, "{name}: {result:?}");
        assert_eq!(result.stop_reason, StopReason::Error, "{name}");
        let error = result.error.clone().unwrap();
        assert_eq!(error.code, ErrorCode::SessionStore, "{name}: {error:?}");
        assert!(
            error.message.contains("session store"),
            "{name}: {}",
            error.message
        );

        // What was saved before is whole and loads (the open tool call closed as cancelled).
        let direct = open_store(&direct_url).unwrap();
        let data = session::load(direct.as_ref(), &result.session_id).unwrap();
        let text = serde_json::to_string(&data.messages).unwrap();
        assert!(text.contains("first"), "{name}: {text}");
        assert!(!text.contains("never reached"), "{name}");
        assert!(data.messages.len() >= 3, "{name}: {text}");
        // And another run can take the session over once the lock or lease is gone.
        let again = Agent::new(config(
            direct.clone(),
            work.path(),
            vec![turn(Some("resumed"), vec![])],
        ))
        .unwrap();
        let mut resumed = None;
        let mut last = None;
        for _ in 0..50 {
            let mut r = RunRequest::text("go on");
            r.session_id = Some(result.session_id.clone());
            match again.start(r) {
                Ok(h) => {
                    resumed = Some(h.execute(CancellationToken::new(), EventSink::none()).await);
                    break;
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let resumed =
            resumed.unwrap_or_else(|| panic!("{name}: the session stayed locked: {last:?}"));
        assert!(resumed.success, "{name}: {resumed:?}");
    }
}

/// A worker creating an agent per job, whose agents are dropped late (a garbage-collected
/// binding): the agents given one URL share its store, so the database sees a few
/// connections, not one idle pool per agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_given_one_url_share_its_connections() {
    let Some((_, url)) = servers().into_iter().find(|(n, _)| *n == "postgres") else {
        return;
    };
    let first = open_store(&url).unwrap();
    assert!(Arc::ptr_eq(&first, &open_store(&url).unwrap()));
    let other = format!("{url}?application_name=other");
    assert!(!Arc::ptr_eq(&first, &open_store(&other).unwrap()));

    const AGENTS: usize = 60;
    let work = tempfile::tempdir().unwrap();
    let mut kept = Vec::new();
    for i in 0..AGENTS {
        let agent = Agent::new(config(
            open_store(&url).unwrap(),
            work.path(),
            vec![turn(Some(&format!("done {i}")), vec![])],
        ))
        .unwrap();
        let result = run(&agent, RunRequest::text(format!("task {i}"))).await;
        assert!(result.success, "{i}: {result:?}");
        kept.push(agent);
    }
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'harnext'",
            &[],
        )
        .await
        .unwrap();
    let open: i64 = row.get(0);
    // The other tests of this file run at the same time through the same pool (and a
    // few through proxies): well under one connection per agent.
    assert!(
        open < (AGENTS / 2) as i64,
        "{open} connections for {AGENTS} agents"
    );
    drop(kept);
}
