//! Project instructions (AGENTS.md, CLAUDE.md) and Agent Skills, end to end against the
//! mock Anthropic server: what the model is sent, what the user sees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use harnext_core::protocol::AgentEvent;
use harnext_core::protocol::RunResult;
use harnext_core::Agent;
use harnext_core::AgentConfig;
use harnext_core::EventSink;
use harnext_core::RunRequest;
use harnext_mock::MockResponse;
use harnext_mock::MockServer;
use serde_json::json;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn push(mock: &MockServer, v: Value) {
    mock.push(MockResponse::from_json(v).unwrap());
}

fn config(mock: &MockServer, dir: &Path) -> AgentConfig {
    let mut c = AgentConfig::new("anthropic/claude-test");
    c.base_url = Some(mock.url());
    c.api_key = Some("sk-ant-test".into());
    c.cwd = Some(dir.to_path_buf());
    c.persist_session = false;
    c
}

async fn run(agent: &Agent, task: &str) -> (Vec<AgentEvent>, RunResult) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let run = agent.start(RunRequest::text(task)).unwrap();
    let result = run
        .execute(CancellationToken::new(), EventSink::channel(tx))
        .await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (events, result)
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A repository with root and nested instructions and two skills (one malformed).
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "AGENTS.md", "Run `make check` before you finish.\n");
    write(root, "CLAUDE.md", "ignored: AGENTS.md is there\n");
    write(
        root,
        "src/api/CLAUDE.md",
        "Handlers return Result, never panic.\n",
    );
    write(root, "src/api/users.rs", "pub fn list() {}\n");
    write(root, "docs/AGENTS.md", "Docs rules.\n");
    write(
        root,
        ".agents/skills/release/SKILL.md",
        "---\nname: release\ndescription: \"Cut a release: bump the version, tag, changelog.\"\n---\n# Release\n1. Bump Cargo.toml.\n",
    );
    write(
        root,
        ".agents/skills/broken/SKILL.md",
        "---\nname: [oops\n---\nbody\n",
    );
    dir
}

fn system(mock: &MockServer, i: usize) -> String {
    mock.requests()[i].body["system"].to_string()
}

fn tool_names(mock: &MockServer, i: usize) -> Vec<String> {
    mock.requests()[i].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn root_instructions_and_skills_are_in_the_system_prompt_nested_ones_follow_the_first_call_there(
) {
    let dir = repo();
    let mock = MockServer::start().await.unwrap();
    push(
        &mock,
        json!({"turn": {"toolCalls": [
            {"id": "r1", "name": "read_file", "args": {"path": "src/api/users.rs"}},
        ]}}),
    );
    push(
        &mock,
        json!({"turn": {"toolCalls": [
            {"id": "r2", "name": "grep", "args": {"pattern": "list", "path": "src"}},
            {"id": "s1", "name": "skill", "args": {"name": "release"}},
        ]}}),
    );
    push(&mock, json!({"turn": {"text": "done"}}));
    let agent = Agent::new(config(&mock, dir.path())).unwrap();
    let (events, result) = run(&agent, "list users").await;
    assert!(result.success, "{result:?}");

    let first = system(&mock, 0);
    assert!(
        first.contains("Run `make check` before you finish."),
        "{first}"
    );
    assert!(!first.contains("ignored: AGENTS.md is there"), "{first}");
    assert!(
        !first.contains("Handlers return Result"),
        "nested ones wait: {first}"
    );
    assert!(
        first.contains("- release: Cut a release: bump the version, tag, changelog."),
        "{first}"
    );
    assert!(!first.contains("broken"), "{first}");
    assert!(tool_names(&mock, 0).contains(&"skill".to_owned()));
    // The system prompt stays the same through the run (the prompt cache keeps it).
    assert_eq!(system(&mock, 1), first);

    let output = |id: &str| {
        result
            .steps
            .iter()
            .find(|s| s.id == id)
            .unwrap()
            .output
            .clone()
    };
    let r1 = output("r1");
    assert!(
        r1.starts_with("     1\tpub fn list() {}") || r1.contains("pub fn list() {}"),
        "{r1}"
    );
    assert!(
        r1.contains("<project_instructions path=\"src/api/CLAUDE.md\">")
            && r1.contains("Handlers return Result, never panic."),
        "{r1}"
    );
    // `src` was worked in already (it holds no file of its own), `docs` never was.
    assert!(
        !output("r2").contains("project_instructions"),
        "{}",
        output("r2")
    );
    assert!(!r1.contains("Docs rules."));
    let s1 = output("s1");
    assert!(s1.contains("# Release\n1. Bump Cargo.toml."), "{s1}");
    // The tool_result event shows the user what the model was told.
    assert!(events.iter().any(|e| matches!(e,
        AgentEvent::ToolResult { id, output, .. } if id == "r1" && output.contains("Handlers return Result"))));

    let warnings: Vec<(&str, Option<&str>)> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Warning { message, path } => Some((message.as_str(), path.as_deref())),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].0.contains("front matter is not valid YAML"),
        "{warnings:?}"
    );
    assert!(warnings[0]
        .1
        .unwrap()
        .ends_with(".agents/skills/broken/SKILL.md"));
    // The warning comes at the start, before the first model call's events.
    let at = |f: fn(&AgentEvent) -> bool| events.iter().position(f).unwrap();
    assert!(
        at(|e| matches!(e, AgentEvent::Warning { .. }))
            < at(|e| matches!(e, AgentEvent::ToolCall { .. }))
    );
}

#[tokio::test]
async fn project_instructions_off_leaves_every_file_out_and_skills_still_come() {
    let dir = repo();
    let mock = MockServer::start().await.unwrap();
    push(
        &mock,
        json!({"turn": {"toolCalls": [{"id": "r1", "name": "read_file", "args": {"path": "src/api/users.rs"}}]}}),
    );
    push(&mock, json!({"turn": {"text": "done"}}));
    let mut c = config(&mock, dir.path());
    c.project_instructions = false;
    let (_, result) = run(&Agent::new(c).unwrap(), "go").await;
    let first = system(&mock, 0);
    assert!(
        !first.contains("make check") && !first.contains("Project instructions"),
        "{first}"
    );
    assert!(first.contains("- release:"), "{first}");
    assert!(!result.steps[0].output.contains("project_instructions"));
}

#[tokio::test]
async fn skills_from_the_option_come_before_the_workspace_ones_and_a_missing_folder_is_a_config_error(
) {
    let dir = repo();
    let extra = tempfile::tempdir().unwrap();
    write(
        extra.path(),
        "release/SKILL.md",
        "---\nname: release\ndescription: The team's own release skill.\n---\nTeam steps.\n",
    );
    let mock = MockServer::start().await.unwrap();
    push(&mock, json!({"turn": {"text": "hi"}}));
    let mut c = config(&mock, dir.path());
    c.skills = vec![extra.path().to_path_buf()];
    let (events, _) = run(&Agent::new(c).unwrap(), "go").await;
    let first = system(&mock, 0);
    assert!(
        first.contains("- release: The team's own release skill."),
        "{first}"
    );
    assert!(!first.contains("Cut a release"), "{first}");
    assert!(events.iter().any(|e| matches!(e,
        AgentEvent::Warning { message, .. } if message.contains("skill `release` is left out: a skill found before has that name"))));

    let mut c = config(&mock, dir.path());
    c.skills = vec!["no/such/dir".into()];
    let e = Agent::new(c).err().unwrap().to_string();
    assert!(
        e.contains("invalid option `skills`: no/such/dir is not an existing directory"),
        "{e}"
    );
}

#[tokio::test]
async fn no_instructions_and_no_skills_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    push(&mock, json!({"turn": {"text": "hi"}}));
    let agent = Agent::new(config(&mock, dir.path())).unwrap();
    let (events, _) = run(&agent, "go").await;
    let first = mock.requests()[0].body["system"].clone();
    assert!(first
        .to_string()
        .contains(&agent.system_prompt().replace('\n', "\\n")));
    assert!(!first.to_string().contains("# Skills"));
    assert!(!tool_names(&mock, 0).contains(&"skill".to_owned()));
    assert!(!events
        .iter()
        .any(|e| matches!(e, AgentEvent::Warning { .. })));
}
