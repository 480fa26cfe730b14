//! Checkpoints and rewind: files changed by `edit_file` and by `bash` come back exactly,
//! the conversation is cut so the next run sees only the earlier messages, a fork starts
//! from the point, limits are reported, a busy session is refused; on the file store and
//! (when scripts/test.sh started them) PostgreSQL and Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use harnext_core::checkpoints::CheckpointOptions;
use harnext_core::protocol::Role;
use harnext_core::protocol::ScriptedToolCall;
use harnext_core::protocol::ScriptedTurn;
use harnext_core::store::open_store;
use harnext_core::Agent;
use harnext_core::AgentConfig;
use harnext_core::EventSink;
use harnext_core::FileStore;
use harnext_core::RewindError;
use harnext_core::RewindRequest;
use harnext_core::RunError;
use harnext_core::RunRequest;
use harnext_core::SessionStore;
use harnext_mock::MockResponse;
use harnext_mock::MockServer;
use serde_json::json;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

fn respond(v: Value) -> MockResponse {
    MockResponse::from_json(v).unwrap()
}

async fn run(agent: &Agent, request: RunRequest) -> harnext_core::protocol::RunResult {
    agent
        .start(request)
        .unwrap()
        .execute(CancellationToken::new(), EventSink::none())
        .await
}

fn read(dir: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(rel)).ok()
}

fn mode(dir: &Path, rel: &str) -> u32 {
    std::fs::symlink_metadata(dir.join(rel))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// The texts of the user messages of the last request the mock provider got.
fn user_texts(mock: &MockServer) -> Vec<String> {
    let requests = mock.requests();
    let body = &requests.last().unwrap().body;
    body["messages"]
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

/// The workspace before the second task: files of several kinds.
fn seed(dir: &Path) {
    std::fs::write(dir.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(dir.join("b.txt"), "beta\n").unwrap();
    std::fs::set_permissions(dir.join("b.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(dir.join("keep.txt"), "keep\n").unwrap();
    std::fs::write(dir.join("run.sh"), "echo hi\n").unwrap();
    std::os::unix::fs::symlink("a.txt", dir.join("link")).unwrap();
    std::fs::create_dir(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/lib.rs"), "fn a() {}\n").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewind_restores_edit_file_and_bash_changes_and_the_next_run_sees_only_the_earlier_messages(
) {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    seed(dir);
    let sessions = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    let mut c = AgentConfig::new("anthropic/claude-test");
    c.base_url = Some(mock.url());
    c.api_key = Some("sk-ant-test".into());
    c.cwd = Some(dir.to_path_buf());
    c.session_dir = Some(sessions.path().to_path_buf());
    let agent = Agent::new(c).unwrap();

    // First task: one edit, kept by the rewind.
    mock.push(respond(json!({"turn": {"toolCalls": [{"name": "edit_file",
        "args": {"path": "src/lib.rs", "old_text": "fn a() {}", "new_text": "fn a() { 1 }"}}]}})));
    mock.push(respond(json!({"turn": {"text": "first done"}})));
    let first = run(&agent, RunRequest::text("first task")).await;
    assert!(first.success, "{first:?}");
    let id = first.session_id.clone();
    let point = agent.load_session(&id).unwrap().messages.len();

    // Second task: edits, writes and a shell command that deletes, creates, renames,
    // chmods and relinks.
    mock.push(respond(json!({"turn": {"toolCalls": [
        {"name": "edit_file", "args": {"path": "a.txt", "old_text": "alpha", "new_text": "ALPHA"}},
        {"name": "write_file", "args": {"path": "new/made.txt", "content": "made\n"}}
    ]}})));
    mock.push(respond(json!({"turn": {"toolCalls": [{"name": "bash", "args": {"command":
        "rm b.txt && echo c > c.txt && mv keep.txt moved.txt && chmod 755 run.sh && echo more >> run.sh && ln -sfn b.txt link && echo edit >> a.txt && echo x > src/lib.rs"}}]}})));
    mock.push(respond(json!({"turn": {"text": "second done"}})));
    let second = {
        let mut r = RunRequest::text("second task");
        r.session_id = Some(id.clone());
        run(&agent, r).await
    };
    assert!(second.success, "{second:?}");
    assert_eq!(read(dir, "a.txt").as_deref(), Some("ALPHA\nedit\n"));
    assert!(read(dir, "b.txt").is_none());
    let before = agent.load_session(&id).unwrap().messages.len();

    // A fork from the point first: the files go back, the session stays whole.
    let fork = agent
        .rewind(
            &id,
            &RewindRequest {
                to_message: point,
                fork: true,
            },
        )
        .unwrap();
    assert_ne!(fork.session_id, id);
    assert!(fork.not_restored.is_empty(), "{fork:?}");
    assert_eq!(
        fork.restored,
        vec!["a.txt", "b.txt", "keep.txt", "link", "run.sh", "src/lib.rs"]
    );
    assert_eq!(fork.removed, vec!["c.txt", "moved.txt", "new/made.txt"]);
    assert_eq!(read(dir, "a.txt").as_deref(), Some("alpha\n"));
    assert_eq!(agent.load_session(&id).unwrap().messages.len(), before);
    assert_eq!(
        agent.load_session(&fork.session_id).unwrap().messages,
        agent.load_session(&id).unwrap().messages[..point]
    );
    let result = agent
        .rewind(
            &id,
            &RewindRequest {
                to_message: point,
                fork: false,
            },
        )
        .unwrap();
    assert_eq!(result.session_id, id);
    assert_eq!(result.messages_removed, before - point);
    assert!(result.not_restored.is_empty(), "{result:?}");
    assert_eq!(
        result.restored,
        vec!["a.txt", "b.txt", "keep.txt", "link", "run.sh", "src/lib.rs"]
    );
    // Already gone (the fork's rewind removed them): nothing to remove again.
    assert!(result.removed.is_empty(), "{result:?}");
    // Exactly as before the second task: content, deletions, creations, mode, link.
    assert_eq!(read(dir, "a.txt").as_deref(), Some("alpha\n"));
    assert_eq!(read(dir, "b.txt").as_deref(), Some("beta\n"));
    assert_eq!(mode(dir, "b.txt"), 0o640);
    assert_eq!(read(dir, "keep.txt").as_deref(), Some("keep\n"));
    assert!(!dir.join("moved.txt").exists() && !dir.join("c.txt").exists());
    assert!(!dir.join("new/made.txt").exists());
    assert_eq!(read(dir, "run.sh").as_deref(), Some("echo hi\n"));
    assert_eq!(mode(dir, "run.sh") & 0o111, 0);
    assert_eq!(
        std::fs::read_link(dir.join("link")).unwrap(),
        Path::new("a.txt")
    );
    // The first task's edit stays.
    assert_eq!(read(dir, "src/lib.rs").as_deref(), Some("fn a() { 1 }\n"));

    // The conversation is cut there, and a later run continues from it.
    assert_eq!(agent.load_session(&id).unwrap().messages.len(), point);
    mock.push(respond(json!({"turn": {"text": "third done"}})));
    let mut r = RunRequest::text("third task");
    r.session_id = Some(id.clone());
    let third = run(&agent, r).await;
    assert!(third.success, "{third:?}");
    assert_eq!(user_texts(&mock), vec!["first task", "third task"]);

    // The fork kept the first task's checkpoint: rewound to its start, that edit goes.
    let start = agent
        .rewind(
            &fork.session_id,
            &RewindRequest {
                to_message: 0,
                fork: false,
            },
        )
        .unwrap();
    assert_eq!(start.restored, vec!["src/lib.rs"]);
    assert_eq!(read(dir, "src/lib.rs").as_deref(), Some("fn a() {}\n"));

    // An agent on another workspace does not restore this session's files there.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut c = AgentConfig::new("scripted");
    c.script = Some(vec![]);
    c.cwd = Some(elsewhere.path().to_path_buf());
    c.session_dir = Some(sessions.path().to_path_buf());
    let other = Agent::new(c).unwrap();
    let err = other
        .rewind(
            &id,
            &RewindRequest {
                to_message: 0,
                fork: false,
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, RewindError::Workspace(ref m) if m.contains("is not the workspace session")),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);

    // Out of range is an error that says so; nothing changes.
    let err = agent
        .rewind(
            &id,
            &RewindRequest {
                to_message: 99,
                fork: false,
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, RewindError::OutOfRange { to: 99, .. }),
        "{err}"
    );
}

fn tool(name: &str, args: Value) -> ScriptedToolCall {
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

fn scripted(store: Arc<dyn SessionStore>, cwd: &Path, script: Vec<ScriptedTurn>) -> Agent {
    let mut c = AgentConfig::new("scripted");
    c.script = Some(script);
    c.cwd = Some(cwd.to_path_buf());
    c.session_store = Some(store);
    Agent::new(c).unwrap()
}

/// A run that writes, edits and runs a command, then a rewind to its start; on `store`.
async fn rewind_on(store: Arc<dyn SessionStore>, label: &str) {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(dir.join("a.txt"), "one\n").unwrap();
    std::fs::write(dir.join("gone.txt"), "gone\n").unwrap();
    let agent = scripted(
        store.clone(),
        dir,
        vec![
            turn(
                None,
                vec![tool(
                    "edit_file",
                    json!({"path": "a.txt", "old_text": "one", "new_text": "two"}),
                )],
            ),
            turn(
                None,
                vec![tool(
                    "bash",
                    json!({"command": "rm gone.txt; echo b > b.txt; echo three >> a.txt"}),
                )],
            ),
            turn(Some("done"), vec![]),
        ],
    );
    let r = run(&agent, RunRequest::text("task")).await;
    assert!(r.success, "{label}: {r:?}");
    assert_eq!(read(dir, "a.txt").as_deref(), Some("two\nthree\n"));

    // A fork from the start: files back, the original untouched, the fork empty.
    let len = agent.load_session(&r.session_id).unwrap().messages.len();
    let fork = agent
        .rewind(
            &r.session_id,
            &RewindRequest {
                to_message: 1,
                fork: true,
            },
        )
        .unwrap();
    assert_ne!(fork.session_id, r.session_id, "{label}");
    assert_eq!(read(dir, "a.txt").as_deref(), Some("one\n"), "{label}");
    assert_eq!(read(dir, "gone.txt").as_deref(), Some("gone\n"), "{label}");
    assert!(read(dir, "b.txt").is_none(), "{label}");
    let forked = agent.load_session(&fork.session_id).unwrap();
    assert_eq!(forked.messages.len(), 1, "{label}");
    assert_eq!(forked.messages[0].role, Role::User);
    assert_eq!(
        forked.forked_from.map(|f| f.id),
        Some(r.session_id.clone()),
        "{label}"
    );
    assert_eq!(
        agent.load_session(&r.session_id).unwrap().messages.len(),
        len,
        "{label}"
    );

    // The same rewind in place: the files are already back (nothing left to do), the
    // conversation is cut.
    std::fs::write(dir.join("a.txt"), "changed by hand\n").unwrap();
    let back = agent
        .rewind(
            &r.session_id,
            &RewindRequest {
                to_message: 1,
                fork: false,
            },
        )
        .unwrap();
    assert_eq!(back.restored, vec!["a.txt", "gone.txt"], "{label}");
    assert_eq!(read(dir, "a.txt").as_deref(), Some("one\n"), "{label}");
    assert_eq!(
        agent.load_session(&r.session_id).unwrap().messages.len(),
        1,
        "{label}"
    );
    // A second agent on the store (a new handle) reads the same cut.
    let again = scripted(store, dir, vec![turn(Some("ok"), vec![])]);
    assert_eq!(
        again.load_session(&r.session_id).unwrap().messages.len(),
        1,
        "{label}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewind_and_fork_from_the_point_on_the_file_store() {
    let sessions = tempfile::tempdir().unwrap();
    rewind_on(Arc::new(FileStore::new(sessions.path())), "file").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewind_and_fork_from_the_point_on_postgres_and_redis() {
    for (name, var) in [
        ("postgres", "HARNEXT_TEST_POSTGRES_URL"),
        ("redis", "HARNEXT_TEST_REDIS_URL"),
    ] {
        let url = match std::env::var(var) {
            Ok(url) if !url.is_empty() => url,
            _ if std::env::var("HARNEXT_TEST_STORES").as_deref() == Ok("required") => {
                panic!("{var} is not set but HARNEXT_TEST_STORES=required")
            }
            _ => {
                eprintln!("{var} not set: the {name} store is not tested here");
                continue;
            }
        };
        let url = if name == "redis" {
            format!("{url}/?prefix=rw{}", fastrand::u64(..))
        } else {
            url
        };
        rewind_on(open_store(&url).unwrap(), name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_limits_and_escapes_are_reported_not_silently_skipped() {
    let work = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(dir.join("big.txt"), "x".repeat(5_000)).unwrap();
    let mut bin = vec![0u8; 3_000];
    bin[10] = 7;
    std::fs::write(dir.join("blob.bin"), &bin).unwrap();
    std::fs::write(dir.join("small.bin"), [0u8, 1, 2]).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/f.txt"), "inside\n").unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let mut c = AgentConfig::new("scripted");
    c.script = Some(vec![
        turn(
            None,
            vec![tool(
                "bash",
                json!({"command": "echo y >> big.txt; echo z >> blob.bin; echo w >> small.bin; echo changed > sub/f.txt"}),
            )],
        ),
        turn(Some("done"), vec![]),
    ]);
    c.cwd = Some(dir.to_path_buf());
    c.session_dir = Some(sessions.path().to_path_buf());
    c.checkpoints = Some(CheckpointOptions {
        max_file_bytes: 4_000,
        max_binary_bytes: 1_000,
        ..CheckpointOptions::default()
    });
    let agent = Agent::new(c).unwrap();
    let r = run(&agent, RunRequest::text("task")).await;
    assert!(r.success, "{r:?}");
    // The directory is swapped for a link to outside before the rewind.
    std::fs::rename(dir.join("sub"), dir.join("sub.moved")).unwrap();
    std::fs::write(outside.path().join("f.txt"), "outside\n").unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.join("sub")).unwrap();

    let result = agent
        .rewind(
            &r.session_id,
            &RewindRequest {
                to_message: 0,
                fork: false,
            },
        )
        .unwrap();
    assert_eq!(result.restored, vec!["small.bin"]);
    let reasons: Vec<(&str, &str)> = result
        .not_restored
        .iter()
        .map(|n| (n.path.as_str(), n.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons[0].0, "big.txt");
    assert!(reasons[0]
        .1
        .contains("over the checkpoint limit of 4000 bytes per file"));
    assert_eq!(reasons[1].0, "blob.bin");
    assert!(reasons[1].1.contains("binary"), "{}", reasons[1].1);
    assert_eq!(reasons[2].0, "sub/f.txt");
    assert!(
        reasons[2].1.contains("outside the workspace"),
        "{}",
        reasons[2].1
    );
    // Nothing was written through the link.
    assert_eq!(read(outside.path(), "f.txt").as_deref(), Some("outside\n"));
    assert_eq!(
        std::fs::read(dir.join("small.bin")).unwrap(),
        vec![0u8, 1, 2]
    );
    assert_eq!(agent.load_session(&r.session_id).unwrap().messages.len(), 0);

    // With checkpoints off, nothing is kept and a rewind restores nothing.
    let mut c = AgentConfig::new("scripted");
    c.script = Some(vec![
        turn(
            None,
            vec![tool("bash", json!({"command": "echo q > q.txt"}))],
        ),
        turn(Some("done"), vec![]),
    ]);
    c.cwd = Some(dir.to_path_buf());
    c.session_dir = Some(sessions.path().to_path_buf());
    c.checkpoints = None;
    let off = Agent::new(c).unwrap();
    let r = run(&off, RunRequest::text("task")).await;
    let result = off
        .rewind(
            &r.session_id,
            &RewindRequest {
                to_message: 0,
                fork: false,
            },
        )
        .unwrap();
    assert!(result.removed.is_empty() && result.restored.is_empty());
    assert!(dir.join("q.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewinding_a_session_a_run_holds_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let sessions = tempfile::tempdir().unwrap();
    let mut c = AgentConfig::new("scripted");
    c.script = Some(vec![
        turn(None, vec![tool("bash", json!({"command": "sleep 2"}))]),
        turn(Some("done"), vec![]),
    ]);
    c.cwd = Some(work.path().to_path_buf());
    c.session_dir = Some(sessions.path().to_path_buf());
    let agent = Agent::new(c).unwrap();
    let running = agent.start(RunRequest::text("task")).unwrap();
    let id = running.session_id().to_owned();
    let task = tokio::spawn(running.execute(CancellationToken::new(), EventSink::none()));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let err = agent
        .rewind(
            &id,
            &RewindRequest {
                to_message: 0,
                fork: false,
            },
        )
        .unwrap_err();
    assert_eq!(err, RewindError::Session(RunError::SessionBusy(id.clone())));
    assert!(err.to_string().contains("already running"), "{err}");
    let r = task.await.unwrap();
    assert!(r.success, "{r:?}");
    // Once it ended, the rewind goes through.
    assert!(agent
        .rewind(
            &id,
            &RewindRequest {
                to_message: 0,
                fork: false,
            },
        )
        .is_ok());
}

#[test]
fn the_checkpoints_option_is_read_by_the_engine_naming_a_bad_limit_as_each_face_spells_it() {
    use harnext_core::checkpoints_option;
    assert_eq!(checkpoints_option(&json!(false), true).unwrap(), None);
    assert_eq!(
        checkpoints_option(&json!(true), false).unwrap(),
        Some(CheckpointOptions::default())
    );
    let limits = checkpoints_option(
        &json!({"maxFileBytes": 2000, "maxBinaryBytes": 0, "maxRunBytes": 4294967295u64, "maxBaselineFiles": 7}),
        true,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        (
            limits.max_file_bytes,
            limits.max_binary_bytes,
            limits.max_run_bytes,
            limits.max_baseline_files
        ),
        (2000, 0, 4_294_967_295, 7)
    );
    let snake = checkpoints_option(&json!({"max_file_bytes": 5}), false)
        .unwrap()
        .unwrap();
    assert_eq!(snake.max_file_bytes, 5);
    assert_eq!(
        snake.max_run_bytes,
        CheckpointOptions::default().max_run_bytes
    );

    let err = |v: Value, camel: bool| checkpoints_option(&v, camel).unwrap_err().to_string();
    // A typo in a limit's name: named, with the name the face uses.
    let e = err(json!({"maxFileByte": 1}), true);
    assert!(
        e.contains("invalid option `checkpoints`: unknown limit `maxFileByte`: did you mean `maxFileBytes`?"),
        "{e}"
    );
    let e = err(json!({"max_fle_bytes": 1}), false);
    assert!(e.contains("did you mean `max_file_bytes`?"), "{e}");
    // The other face's spelling is a typo too.
    let e = err(json!({"max_file_bytes": 1}), true);
    assert!(e.contains("did you mean `maxFileBytes`?"), "{e}");
    // Bad values: negative, fractional, too large, not a number.
    for v in [
        json!(-1),
        json!(1.5),
        json!(4294967296u64),
        json!("10"),
        json!(null),
    ] {
        let e = err(json!({"maxRunBytes": v}), true);
        assert!(
            e.contains(&format!(
                "invalid option `checkpoints`: `maxRunBytes`: expected an integer from 0 to 4294967295, got {v}"
            )),
            "{e}"
        );
    }
    let e = err(json!({"max_baseline_files": -3}), false);
    assert!(
        e.contains("`max_baseline_files`: expected an integer"),
        "{e}"
    );
    // Neither a boolean nor an object.
    let e = err(json!("yes"), true);
    assert!(
        e.contains("invalid option `checkpoints`: expected true, false or an object of limits"),
        "{e}"
    );
}
