//! Sessions on disk: written as the run goes, resumed from disk by another agent,
//! repaired after a crash, listed, loaded, forked, kept in memory, and compacted as a
//! conversation nears the model's context window. Against the mock Anthropic server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use harnext_core::protocol::AgentEvent;
use harnext_core::protocol::ContentBlock;
use harnext_core::protocol::Role;
use harnext_core::protocol::RunResult;
use harnext_core::protocol::ToolStatus;
use harnext_core::Agent;
use harnext_core::AgentConfig;
use harnext_core::EventSink;
use harnext_core::FileStore;
use harnext_core::MemoryStore;
use harnext_core::RunError;
use harnext_core::RunRequest;
use harnext_core::SessionError;
use harnext_core::SessionStore;
use harnext_core::SystemPrompt;
use harnext_mock::MockResponse;
use harnext_mock::MockServer;
use serde_json::json;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const KEY: &str = "sk-ant-test-SECRET-123";

fn push(mock: &MockServer, v: Value) {
    mock.push(MockResponse::from_json(v).unwrap());
}

struct Env {
    mock: MockServer,
    work: tempfile::TempDir,
    sessions: tempfile::TempDir,
}

impl Env {
    async fn new() -> Env {
        Env {
            mock: MockServer::start().await.unwrap(),
            work: tempfile::tempdir().unwrap(),
            sessions: tempfile::tempdir().unwrap(),
        }
    }

    fn config(&self) -> AgentConfig {
        let mut c = AgentConfig::new("anthropic/claude-test");
        c.base_url = Some(self.mock.url());
        c.api_key = Some(KEY.into());
        c.cwd = Some(self.work.path().to_path_buf());
        c.session_dir = Some(self.sessions.path().to_path_buf());
        c
    }

    fn agent(&self) -> Agent {
        Agent::new(self.config()).unwrap()
    }

    fn file(&self, id: &str) -> PathBuf {
        self.sessions.path().join(format!("{id}.jsonl"))
    }
}

/// The records of a session file, skipping lines that are not JSON.
fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn types(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            let t = r["type"].as_str().unwrap().to_owned();
            if t == "message" {
                let m = &r["message"];
                let kinds: Vec<&str> = m["content"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b["type"].as_str().unwrap())
                    .collect();
                format!("{}:{}", m["role"].as_str().unwrap(), kinds.join("+"))
            } else {
                t
            }
        })
        .collect()
}

async fn run(agent: &Agent, request: RunRequest) -> (Vec<AgentEvent>, RunResult) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let result = agent
        .start(request)
        .unwrap()
        .execute(CancellationToken::new(), EventSink::channel(tx))
        .await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (events, result)
}

async fn run_ok(agent: &Agent, request: RunRequest) -> (Vec<AgentEvent>, RunResult) {
    let (events, result) = run(agent, request).await;
    assert!(result.success, "{result:?}");
    (events, result)
}

fn resume(text: &str, id: &str) -> RunRequest {
    let mut r = RunRequest::text(text);
    r.session_id = Some(id.to_owned());
    r
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..500 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Every tool_use of the request's history has its tool_result in the next message.
fn assert_paired(messages: &Value) {
    let messages = messages.as_array().unwrap();
    for (i, m) in messages.iter().enumerate() {
        let uses: Vec<&str> = m["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "tool_use")
            .map(|b| b["id"].as_str().unwrap())
            .collect();
        if uses.is_empty() {
            continue;
        }
        let next = &messages.get(i + 1).expect("results after tool_use")["content"];
        for id in uses {
            assert!(
                next.as_array()
                    .unwrap()
                    .iter()
                    .any(|b| b["type"] == "tool_result" && b["tool_use_id"] == id),
                "tool_use {id} has no result in {next}"
            );
        }
    }
}

#[tokio::test]
async fn each_completed_message_is_on_disk_before_the_next_step_starts() {
    let env = Env::new().await;
    push(
        &env.mock,
        json!({"turn": {"text": "Working.", "toolCalls": [{"name": "bash", "args": {"command": "echo go > started; sleep 0.4; echo done"}}], "usage": {"inputTokens": 50, "outputTokens": 5}}}),
    );
    // The second model call streams slowly: time to read the file while it is in flight.
    push(
        &env.mock,
        json!({"turn": {"text": "All finished now, thank you.", "usage": {"inputTokens": 80, "outputTokens": 7}}, "chunkDelayMs": 60}),
    );
    let agent = env.agent();
    let start = agent.start(RunRequest::text("do it")).unwrap();
    let id = start.session_id().to_owned();
    let handle = tokio::spawn(start.execute(CancellationToken::new(), EventSink::none()));
    let file = env.file(&id);

    // While the tool runs: the user's task and the assistant turn with its call are saved.
    let started = env.work.path().join("started");
    wait_until("the command started", || started.exists()).await;
    assert_eq!(
        types(&records(&file)),
        vec![
            "session",
            "run_start",
            "user:text",
            "usage",
            "assistant:text+tool_use"
        ]
    );

    // While the second model call streams: the tool's result is saved (after the
    // checkpoint of the file the command created, for a rewind).
    wait_until("the second request", || env.mock.requests().len() == 2).await;
    let during = records(&file);
    assert_eq!(
        types(&during)[5..],
        ["checkpoint", "user:tool_result"],
        "{:?}",
        types(&during)
    );
    assert_eq!(
        during[6]["message"]["content"][0]["content"],
        "done\nexit code: 0"
    );

    let result = handle.await.unwrap();
    assert!(result.success, "{result:?}");
    let after = records(&file);
    assert_eq!(
        types(&after)[7..],
        ["usage", "assistant:text", "run_end"],
        "{:?}",
        types(&after)
    );
    let end = after.last().unwrap();
    assert_eq!(end["stop_reason"], "end_turn");
    assert_eq!(end["usage"]["input_tokens"], 130);
    assert_eq!(end["steps"][0]["tool"], "bash");
    assert_eq!(after[0]["id"], id.as_str());
    assert_eq!(after[0]["model"], "anthropic/claude-test");
    // One record per line, every line complete.
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.ends_with('\n'));
    assert_eq!(text.lines().count(), after.len());
}

#[tokio::test]
async fn session_files_hold_no_api_key_or_header_values() {
    let env = Env::new().await;
    push(&env.mock, json!({"turn": {"text": "Hi."}}));
    let mut c = env.config();
    c.headers = vec![("x-custom-auth".into(), "Bearer OTHER-SECRET".into())];
    let agent = Agent::new(c).unwrap();
    let (_, result) = run(&agent, RunRequest::text("hello")).await;
    assert!(result.success);
    let text = std::fs::read_to_string(env.file(&result.session_id)).unwrap();
    assert!(
        !text.contains("SECRET") && !text.contains("x-custom-auth"),
        "{text}"
    );
}

#[tokio::test]
async fn a_torn_last_line_is_ignored_and_the_next_append_starts_on_a_new_line() {
    let env = Env::new().await;
    push(&env.mock, json!({"turn": {"text": "First answer."}}));
    push(&env.mock, json!({"turn": {"text": "Second answer."}}));
    let agent = env.agent();
    let (_, first) = run(&agent, RunRequest::text("one")).await;
    let file = env.file(&first.session_id);
    let before = agent.load_session(&first.session_id).unwrap();

    // A crash in the middle of writing a record.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(
        r#"{"type":"message","ts":1,"message":{"role":"assistant","content":[{"type":"te"#,
    );
    std::fs::write(&file, &text).unwrap();

    let loaded = agent.load_session(&first.session_id).unwrap();
    assert_eq!(loaded.messages, before.messages);

    let (_, second) = run(&agent, resume("two", &first.session_id)).await;
    assert!(second.success, "{second:?}");
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let bad: Vec<&String> = lines
        .iter()
        .filter(|l| serde_json::from_str::<Value>(l).is_err())
        .collect();
    assert_eq!(bad.len(), 1, "only the torn line is not JSON: {bad:?}");
    assert!(bad[0].ends_with(r#""type":"te"#));
    let after_torn: Vec<&String> = lines
        .iter()
        .skip_while(|l| !l.ends_with(r#""type":"te"#))
        .skip(1)
        .collect();
    assert!(after_torn[0].starts_with(r#"{"type":"run_start""#));
    let texts: Vec<String> = agent
        .load_session(&first.session_id)
        .unwrap()
        .messages
        .iter()
        .map(|m| m.text())
        .collect();
    assert_eq!(texts, ["one", "First answer.", "two", "Second answer."]);
}

#[tokio::test]
async fn a_new_agent_resumes_a_session_from_disk_with_its_full_history() {
    let env = Env::new().await;
    push(
        &env.mock,
        json!({"turn": {"text": "Writing.", "toolCalls": [{"name": "write_file", "args": {"path": "a.txt", "content": "A\n"}}]}}),
    );
    push(&env.mock, json!({"turn": {"text": "Wrote a.txt."}}));
    push(&env.mock, json!({"turn": {"text": "It holds A."}}));
    let (_, first) = run(&env.agent(), RunRequest::text("write a.txt")).await;
    assert!(first.success);

    // Another agent, which never saw the session, finds it in the session directory.
    let other = env.agent();
    let (_, second) = run(&other, resume("what is in it?", &first.session_id)).await;
    assert!(second.success, "{second:?}");
    assert_eq!(second.session_id, first.session_id);
    let body = &env.mock.requests()[2].body;
    let messages = &body["messages"];
    let roles: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant", "user"]);
    assert_eq!(messages[0]["content"][0]["text"], "write a.txt");
    let call = &messages[1]["content"][1];
    assert_eq!(call["type"], "tool_use");
    assert_eq!(call["input"], json!({"path": "a.txt", "content": "A\n"}));
    assert_eq!(messages[2]["content"][0]["type"], "tool_result");
    assert_eq!(messages[2]["content"][0]["tool_use_id"], call["id"]);
    assert_eq!(messages[3]["content"][0]["text"], "Wrote a.txt.");
    assert_eq!(messages[4]["content"][0]["text"], "what is in it?");
    assert_paired(messages);

    let data = other.load_session(&first.session_id).unwrap();
    assert_eq!(data.runs, 2);
    assert_eq!(data.files_changed, ["a.txt"]);
    assert_eq!(data.messages.len(), 6);
}

#[tokio::test]
async fn a_dangling_tool_use_is_closed_with_cancelled_results_on_load() {
    let env = Env::new().await;
    // What a `kill -9` between the assistant turn and its results leaves behind.
    let id = "sess_crashed00001";
    let lines = [
        json!({"type": "session", "v": 1, "id": id, "ts": 1000, "model": "anthropic/claude-test"}),
        json!({"type": "run_start", "ts": 1001}),
        json!({"type": "message", "ts": 1002, "message": {"role": "user", "content": [{"type": "text", "text": "list twice"}]}}),
        json!({"type": "message", "ts": 1003, "message": {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_a", "name": "bash", "input": {"command": "ls"}},
            {"type": "tool_use", "id": "toolu_b", "name": "bash", "input": {"command": "ls -a"}}
        ]}}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(env.file(id), &text).unwrap();

    let agent = env.agent();
    let data = agent.load_session(id).unwrap();
    let last = data.messages.last().unwrap();
    assert_eq!(last.role, Role::User);
    let results: Vec<(&str, ToolStatus)> = last
        .content
        .iter()
        .map(|b| match b {
            ContentBlock::ToolResult {
                tool_use_id,
                status,
                ..
            } => (tool_use_id.as_str(), *status),
            other => panic!("not a result: {other:?}"),
        })
        .collect();
    assert_eq!(
        results,
        [
            ("toolu_a", ToolStatus::Cancelled),
            ("toolu_b", ToolStatus::Cancelled)
        ]
    );
    assert_eq!(data.steps.len(), 2);
    assert!(data.steps.iter().all(|s| s.status == ToolStatus::Cancelled));
    assert_eq!(
        std::fs::read_to_string(env.file(id)).unwrap(),
        text,
        "loading never writes"
    );

    // Resuming appends the repair, and the provider gets a valid history.
    push(&env.mock, json!({"turn": {"text": "Both were cut off."}}));
    let (_, result) = run(&agent, resume("what happened?", id)).await;
    assert!(result.success, "{result:?}");
    let messages = &env.mock.requests()[0].body["messages"];
    assert_paired(messages);
    let repaired = &messages[2]["content"];
    assert_eq!(repaired[0]["tool_use_id"], "toolu_a");
    assert_eq!(repaired[0]["is_error"], true);
    assert!(repaired[0]["content"]
        .as_str()
        .unwrap()
        .starts_with("Cancelled"));
    assert_eq!(repaired[2]["text"], "what happened?");
    let on_disk = types(&records(&env.file(id)));
    assert_eq!(
        on_disk[4..7],
        ["user:tool_result+tool_result", "run_start", "user:text"]
    );
}

#[tokio::test]
async fn sessions_are_listed_newest_first_loaded_and_forked() {
    let env = Env::new().await;
    push(
        &env.mock,
        json!({"turn": {"toolCalls": [{"name": "bash", "args": {"command": "echo one"}}], "usage": {"inputTokens": 10, "outputTokens": 2}}}),
    );
    push(
        &env.mock,
        json!({"turn": {"text": "Echoed.", "usage": {"inputTokens": 20, "outputTokens": 3}}}),
    );
    push(&env.mock, json!({"turn": {"text": "Second session."}}));
    let agent = env.agent();
    let (_, a) = run(&agent, RunRequest::text("echo one, please")).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (_, b) = run(&agent, RunRequest::text("another task")).await;

    let list = harnext_core::session::list(&FileStore::new(env.sessions.path())).unwrap();
    let ids: Vec<&str> = list.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, [b.session_id.as_str(), a.session_id.as_str()]);
    assert_eq!(list[1].title.as_deref(), Some("echo one, please"));
    assert_eq!(list[1].model.as_deref(), Some("anthropic/claude-test"));
    assert!(list[0].updated_at >= list[1].updated_at);
    assert!(list[1].created_at <= list[1].updated_at);

    let data = agent.load_session(&a.session_id).unwrap();
    assert_eq!(data.messages.len(), 4);
    assert_eq!(data.steps.len(), 1);
    assert_eq!(data.steps[0].output, "one\nexit code: 0");
    assert_eq!(data.steps[0].duration_ms, a.steps[0].duration_ms);
    assert_eq!(data.usage, a.usage);
    assert_eq!(data.runs, 1);
    assert_eq!(
        data.cwd.as_deref(),
        Some(agent.cwd().display().to_string().as_str())
    );

    // A fork at message 2 keeps the task and the assistant's call, and closes the call.
    let fork = agent.fork_session(&a.session_id, Some(2)).unwrap();
    assert_ne!(fork, a.session_id);
    let forked = agent.load_session(&fork).unwrap();
    assert_eq!(forked.messages.len(), 3);
    assert_eq!(forked.messages[..2], data.messages[..2]);
    assert!(matches!(
        &forked.messages[2].content[0],
        ContentBlock::ToolResult {
            status: ToolStatus::Cancelled,
            ..
        }
    ));
    let origin = forked.forked_from.unwrap();
    assert_eq!(
        (origin.id.as_str(), origin.at_message),
        (a.session_id.as_str(), 2)
    );
    // The original is untouched; a whole copy equals it.
    assert_eq!(
        agent.load_session(&a.session_id).unwrap().messages,
        data.messages
    );
    let copy = agent.fork_session(&a.session_id, None).unwrap();
    assert_eq!(agent.load_session(&copy).unwrap().messages, data.messages);
    // The fork goes on independently.
    push(&env.mock, json!({"turn": {"text": "Forked reply."}}));
    let (_, f) = run_ok(&agent, resume("continue the fork", &fork)).await;
    assert_eq!(f.session_id, fork);
    assert_eq!(agent.load_session(&a.session_id).unwrap().messages.len(), 4);

    assert!(matches!(
        agent.fork_session(&a.session_id, Some(5)),
        Err(SessionError::ForkOutOfRange { at: 5, len: 4, .. })
    ));
    assert!(matches!(
        agent.load_session("sess_nope"),
        Err(SessionError::NotFound { .. })
    ));
    assert_eq!(
        agent.start(resume("x", "sess_nope")).err(),
        Some(RunError::UnknownSession("sess_nope".into()))
    );
    assert_eq!(
        agent.start(resume("x", "../etc/passwd")).err(),
        Some(RunError::UnknownSession("../etc/passwd".into()))
    );
    assert_eq!(
        harnext_core::session::list(&FileStore::new(env.sessions.path()))
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn persist_session_false_keeps_sessions_in_memory_only() {
    let env = Env::new().await;
    push(&env.mock, json!({"turn": {"text": "One."}}));
    push(&env.mock, json!({"turn": {"text": "Two."}}));
    let dir = env.sessions.path().join("never");
    let mut c = env.config();
    c.session_dir = Some(dir.clone());
    c.persist_session = false;
    let agent = Agent::new(c.clone()).unwrap();
    let (_, first) = run_ok(&agent, RunRequest::text("one")).await;
    let (_, second) = run_ok(&agent, resume("two", &first.session_id)).await;
    assert_eq!(second.session_id, first.session_id);
    assert_eq!(
        env.mock.requests()[1].body["messages"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(!dir.exists(), "nothing was written to disk");
    assert_eq!(agent.list_sessions().unwrap().len(), 1);
    // Another agent has its own memory.
    let other = Agent::new(c).unwrap();
    assert_eq!(
        other.start(resume("x", &first.session_id)).err(),
        Some(RunError::UnknownSession(first.session_id.clone()))
    );
}

#[tokio::test]
async fn a_shared_memory_store_lets_agents_continue_each_others_sessions() {
    let env = Env::new().await;
    push(&env.mock, json!({"turn": {"text": "One."}}));
    push(&env.mock, json!({"turn": {"text": "Two."}}));
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let mut c = env.config();
    c.session_store = Some(store.clone());
    let a = Agent::new(c.clone()).unwrap();
    let b = Agent::new(c).unwrap();
    let (_, first) = run_ok(&a, RunRequest::text("one")).await;
    run_ok(&b, resume("two", &first.session_id)).await;
    let data = harnext_core::session::load(store.as_ref(), &first.session_id).unwrap();
    let texts: Vec<String> = data.messages.iter().map(|m| m.text()).collect();
    assert_eq!(texts, ["one", "One.", "two", "Two."]);
    assert!(std::fs::read_dir(env.sessions.path())
        .unwrap()
        .next()
        .is_none());
}

#[tokio::test]
async fn a_running_session_is_refused_to_other_agents_and_to_other_lock_holders() {
    let env = Env::new().await;
    push(&env.mock, json!({"turn": {"text": "First."}}));
    push(
        &env.mock,
        json!({"turn": {"text": "A slow answer in many words."}, "chunkDelayMs": 50}),
    );
    let agent = env.agent();
    let (_, first) = run_ok(&agent, RunRequest::text("one")).await;
    let id = first.session_id.clone();
    let running = agent.start(resume("two", &id)).unwrap();
    let handle = tokio::spawn(running.execute(CancellationToken::new(), EventSink::none()));
    // Another agent of the process, on the same directory, is refused.
    let other = env.agent();
    assert_eq!(
        other.start(resume("three", &id)).err(),
        Some(RunError::SessionBusy(id.clone()))
    );
    assert!(handle.await.unwrap().success);

    // A lock held elsewhere (as another process would hold it) is refused too.
    let held = FileStore::new(env.sessions.path())
        .open(&id, false)
        .unwrap();
    let refused = other.start(resume("three", &id)).err().unwrap();
    assert_eq!(refused, RunError::SessionLocked(id.clone()));
    assert!(refused.to_string().contains("another process"), "{refused}");
    drop(held);
    push(&env.mock, json!({"turn": {"text": "Third."}}));
    run_ok(&other, resume("three", &id)).await;
}

fn big_output(n: usize) -> String {
    format!("head -c {n} /dev/zero | tr '\\0' a")
}

fn compaction_config(env: &Env, window: u64) -> AgentConfig {
    let mut c = env.config();
    c.context_window = Some(window);
    c.system_prompt = SystemPrompt::Replace("You are a test agent.".into());
    c.tools = Some(vec!["bash".into()]);
    c
}

#[tokio::test]
async fn a_conversation_near_a_small_context_window_is_summarized_and_goes_on() {
    let env = Env::new().await;
    let call = |n: usize| json!({"name": "bash", "args": {"command": big_output(n)}});
    push(
        &env.mock,
        json!({"turn": {"text": "Reading the first file.", "toolCalls": [call(3000)], "usage": {"inputTokens": 300}}}),
    );
    push(
        &env.mock,
        json!({"turn": {"text": "Reading the second file.", "toolCalls": [call(3000)], "usage": {"inputTokens": 1100}}}),
    );
    // The summarizing call.
    push(
        &env.mock,
        json!({"turn": {"text": "SUMMARY: the user asked to read two files; the first was 3000 a's.", "usage": {"inputTokens": 900, "outputTokens": 30}}}),
    );
    push(
        &env.mock,
        json!({"turn": {"text": "Done: both files hold only a's.", "usage": {"inputTokens": 1000}}}),
    );
    let agent = Agent::new(compaction_config(&env, 2000)).unwrap();
    let (events, result) = run(&agent, RunRequest::text("read the two files")).await;
    assert!(result.success, "{result:?}");
    assert_eq!(result.text, "Done: both files hold only a's.");
    assert_eq!(result.steps.len(), 2);
    // The steps keep the outputs the summary replaced in the history.
    for step in &result.steps {
        assert!(
            step.output.contains(&"a".repeat(3000)),
            "{:.80}",
            step.output
        );
    }

    let compaction = events
        .iter()
        .find_map(|e| match e {
            AgentEvent::Compaction {
                before_tokens,
                after_tokens,
                trimmed,
                summarized,
            } => Some((*before_tokens, *after_tokens, *trimmed, *summarized)),
            _ => None,
        })
        .expect("a compaction event");
    let (before, after, trimmed, summarized) = compaction;
    assert!(before > 1600 && after < before, "{compaction:?}");
    assert_eq!((trimmed, summarized), (0, 3));
    // The summarizing call's usage is counted like any model call's.
    assert_eq!(result.usage.output_tokens, 30);

    let requests = env.mock.requests();
    assert_eq!(requests.len(), 4);
    let summarizing = &requests[2].body;
    assert!(summarizing.get("tools").is_none(), "{summarizing}");
    let prompt = summarizing["messages"][0]["content"][0]["text"]
        .as_str()
        .unwrap();
    assert!(prompt.contains("read the two files") && prompt.contains("head -c 3000"));
    assert_eq!(summarizing["messages"].as_array().unwrap().len(), 1);

    // The next request carries the summary, then the recent tail verbatim.
    let next = &requests[3].body;
    assert!(next["tools"].as_array().is_some_and(|t| !t.is_empty()));
    let messages = &next["messages"];
    assert_eq!(messages.as_array().unwrap().len(), 3);
    let first = messages[0]["content"][0]["text"].as_str().unwrap();
    assert!(first.contains("compacted") && first.contains("SUMMARY: the user asked"));
    assert_eq!(
        messages[1]["content"][0]["text"],
        "Reading the second file."
    );
    assert_paired(messages);

    // The compaction is in the session: a resume continues from the compacted history.
    let data = agent.load_session(&result.session_id).unwrap();
    assert_eq!(data.compactions, 1);
    assert_eq!(data.steps.len(), 2, "steps keep what the summary replaced");
    assert_eq!(data.messages.len(), 4);
    assert!(data.messages[0].text().contains("SUMMARY: the user asked"));
    push(&env.mock, json!({"turn": {"text": "Resumed."}}));
    let again = Agent::new(compaction_config(&env, 2000)).unwrap();
    run_ok(&again, resume("and now?", &result.session_id)).await;
    let resumed = &env.mock.requests()[4].body["messages"];
    assert!(resumed[0]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("SUMMARY: the user asked"));
    assert_eq!(resumed.as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn old_tool_outputs_are_trimmed_first_keeping_the_newest_intact() {
    let env = Env::new().await;
    for i in 0..6 {
        // The sixth call reports a history close to the window.
        let input = if i == 5 { 4700 } else { 100 };
        push(
            &env.mock,
            json!({"turn": {"toolCalls": [{"name": "bash", "args": {"command": big_output(3000)}}], "usage": {"inputTokens": input}}}),
        );
    }
    push(&env.mock, json!({"turn": {"text": "Six files read."}}));
    let agent = Agent::new(compaction_config(&env, 6000)).unwrap();
    let (events, result) = run(&agent, RunRequest::text("read six files")).await;
    assert!(result.success, "{result:?}");
    let compactions: Vec<(u32, u32)> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Compaction {
                trimmed,
                summarized,
                ..
            } => Some((*trimmed, *summarized)),
            _ => None,
        })
        .collect();
    assert_eq!(compactions, [(2, 0)], "trimming was enough: no summary");
    // The result's steps keep the outputs the trimmed history no longer holds.
    assert_eq!(result.steps.len(), 6);
    for step in &result.steps {
        assert!(
            step.output.contains(&"a".repeat(3000)),
            "{:.80}",
            step.output
        );
    }
    let requests = env.mock.requests();
    assert_eq!(requests.len(), 7, "no summarizing call");
    let results: Vec<String> = requests[6].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().unwrap().clone())
        .filter(|b| b["type"] == "tool_result")
        .map(|b| b["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(results.len(), 6);
    assert!(
        results[..2]
            .iter()
            .all(|r| r.starts_with("[Output trimmed to save context:")
                && r.contains("characters (status ok)")),
        "{:?}",
        &results[..2]
    );
    assert!(results[2..].iter().all(|r| r.len() > 3000));
    // The trimmed history is what a resume sees; the steps keep the full outputs.
    let data = agent.load_session(&result.session_id).unwrap();
    assert!(data.steps.iter().all(|s| s.output.len() > 3000));
    let trimmed_on_load = data
        .messages
        .iter()
        .flat_map(|m| m.content.iter())
        .filter(|b| matches!(b, ContentBlock::ToolResult { content, .. } if content.starts_with("[Output trimmed")))
        .count();
    assert_eq!(trimmed_on_load, 2);
}

#[tokio::test]
async fn a_context_overflow_error_compacts_and_retries_the_call_once() {
    let env = Env::new().await;
    push(
        &env.mock,
        json!({"turn": {"text": "Reading.", "toolCalls": [{"name": "bash", "args": {"command": big_output(2000)}}]}}),
    );
    push(
        &env.mock,
        json!({"status": 400, "body": {"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000 maximum"}}}),
    );
    push(
        &env.mock,
        json!({"turn": {"text": "SUMMARY: read one file."}}),
    );
    push(&env.mock, json!({"turn": {"text": "It was all a's."}}));
    let mut c = env.config();
    c.system_prompt = SystemPrompt::Replace("You are a test agent.".into());
    let agent = Agent::new(c).unwrap();
    let (events, result) = run(&agent, RunRequest::text("read the file")).await;
    assert!(result.success, "{result:?}");
    assert_eq!(result.text, "It was all a's.");
    assert!(events
        .iter()
        .any(|e| matches!(e, AgentEvent::Compaction { summarized: 1, .. })));
    let requests = env.mock.requests();
    assert_eq!(requests.len(), 4);
    assert!(requests[2].body.get("tools").is_none());
    let retried = &requests[3].body["messages"];
    assert!(retried[0]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("SUMMARY: read one file."));
    assert_paired(retried);
    assert_eq!(retried.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_tool_allowed_for_the_session_stays_allowed_when_another_agent_resumes_it() {
    use harnext_core::permissions::{
        Decision, FnHandler, PermissionError, PermissionHandler, PermissionRequest,
    };
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let env = Env::new().await;
    let bash = json!({"turn": {"toolCalls": [{"name": "bash", "args": {"command": "echo hi"}}]}});
    push(&env.mock, bash.clone());
    push(&env.mock, json!({"turn": {"text": "one"}}));
    push(&env.mock, bash);
    push(&env.mock, json!({"turn": {"text": "two"}}));
    let asked = Arc::new(AtomicUsize::new(0));
    let handler = |asked: Arc<AtomicUsize>| -> Arc<dyn PermissionHandler> {
        Arc::new(FnHandler(move |_req: PermissionRequest| {
            asked.fetch_add(1, Ordering::SeqCst);
            Box::pin(async {
                Ok(Decision::Allow {
                    args: None,
                    remember: true,
                    escalate: None,
                })
            }) as futures::future::BoxFuture<'static, Result<Decision, PermissionError>>
        }))
    };
    let manual = || {
        let mut c = env.config();
        c.permission_mode = harnext_core::PermissionMode::Manual;
        Agent::new(c).unwrap()
    };
    let mut first = RunRequest::text("run it");
    first.permission_handler = Some(handler(asked.clone()));
    let (_, r1) = run(&manual(), first).await;
    assert!(r1.success && asked.load(Ordering::SeqCst) == 1);
    let mut second = resume("again", &r1.session_id);
    second.permission_handler = Some(handler(asked.clone()));
    let (events, r2) = run(&manual(), second).await;
    assert!(r2.success, "{r2:?}");
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "not asked again after the resume"
    );
    assert!(!events
        .iter()
        .any(|e| matches!(e, AgentEvent::PermissionRequest { .. })));
    assert_eq!(r2.steps[0].status, harnext_core::protocol::ToolStatus::Ok);
    assert_eq!(
        manual().load_session(&r1.session_id).unwrap().allowed_tools,
        ["bash"]
    );
}
