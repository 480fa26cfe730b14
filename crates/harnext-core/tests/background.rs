//! Background shells through the run loop, on the scripted model: `bash` with
//! `background: true`, `bash_output`, `bash_kill`, and the shells' end with the run, a
//! cancellation and `close()`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use harnext_core::protocol::ScriptedTurn;
use harnext_core::protocol::StopReason;
use harnext_core::protocol::ToolStatus;
use harnext_core::Agent;
use harnext_core::AgentConfig;
use harnext_core::EventSink;
use harnext_core::RunRequest;
use serde_json::json;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

fn scripted(dir: &std::path::Path, turns: Vec<Value>) -> Agent {
    let mut c = AgentConfig::new("scripted");
    c.cwd = Some(dir.to_path_buf());
    c.persist_session = false;
    c.script = Some(
        turns
            .into_iter()
            .map(|t| serde_json::from_value::<ScriptedTurn>(t).unwrap())
            .collect(),
    );
    Agent::new(c).unwrap()
}

fn call(name: &str, args: Value) -> Value {
    json!({ "toolCalls": [{ "name": name, "args": args }] })
}

/// True when some process on the machine runs `sleep <arg>`.
fn sleeping(arg: &str) -> bool {
    let want = format!("sleep\0{arg}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .any(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == want.as_bytes()))
}

async fn wait_sleeping(arg: &str) {
    for _ in 0..500 {
        if sleeping(arg) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("sleep {arg} never started");
}

/// Waits (in the workspace) for `flag`, then a moment for the output to be read.
fn wait_for(flag: &str) -> Value {
    json!({ "command": format!("while [ ! -f {flag} ]; do sleep 0.02; done; sleep 0.2") })
}

#[tokio::test]
async fn a_background_command_is_read_twice_killed_and_its_file_counted() {
    let dir = tempfile::tempdir().unwrap();
    let server = "echo first; echo x > bg.txt; touch first.flag; while [ ! -f go ]; do sleep 0.02; done; echo second; touch second.flag; sleep 160.5";
    let agent = scripted(
        dir.path(),
        vec![
            call("bash", json!({ "command": server, "background": true })),
            call("bash", wait_for("first.flag")),
            call("bash_output", json!({ "id": "bash_1" })),
            call(
                "bash",
                json!({ "command": "touch go; while [ ! -f second.flag ]; do sleep 0.02; done; sleep 0.2" }),
            ),
            call("bash_output", json!({ "id": "bash_1" })),
            call("bash_kill", json!({ "id": "bash_1" })),
            call("bash_output", json!({ "id": "bash_9" })),
            json!({ "text": "done" }),
        ],
    );
    assert!(agent.system_prompt().contains("background: true"));
    let result = agent
        .start(RunRequest::text("serve"))
        .unwrap()
        .execute(CancellationToken::new(), EventSink::none())
        .await;
    assert!(result.success, "{result:?}");
    let steps: Vec<(&str, ToolStatus, &str)> = result
        .steps
        .iter()
        .map(|s| (s.tool.as_str(), s.status, s.output.as_str()))
        .collect();
    assert!(steps[0].2.contains("with id bash_1"), "{steps:?}");
    assert_eq!(
        (steps[2].0, steps[2].1, steps[2].2),
        ("bash_output", ToolStatus::Ok, "first\nbash_1: running")
    );
    assert_eq!(steps[4].2, "second\nbash_1: running", "only the new output");
    assert!(steps[5].2.starts_with("Killed bash_1."), "{steps:?}");
    assert!(!sleeping("160.5"), "killed and reaped by bash_kill");
    assert_eq!(steps[6].1, ToolStatus::Error);
    assert!(steps[6].2.contains("\"bash_9\""), "{steps:?}");
    // What the background command wrote is a change of the run (flags included).
    assert!(
        result.files_changed.contains(&"bg.txt".to_owned()),
        "{:?}",
        result.files_changed
    );
}

/// `setsid`, `nohup` and a double fork, left running by a background command.
const FAMILY: &str = "setsid sleep {n}.5 >/dev/null 2>&1 & nohup sleep {n}.25 >/dev/null 2>&1 & (sleep {n}.75 >/dev/null 2>&1 &); sleep {n}.125";

fn family(n: u32) -> String {
    FAMILY.replace("{n}", &n.to_string())
}

fn none_sleeping(n: u32) -> Vec<String> {
    ["5", "25", "75", "125"]
        .iter()
        .map(|f| format!("{n}.{f}"))
        .filter(|a| sleeping(a))
        .collect()
}

#[tokio::test]
async fn background_trees_are_gone_when_the_run_ends() {
    let dir = tempfile::tempdir().unwrap();
    let agent = scripted(
        dir.path(),
        vec![
            call(
                "bash",
                json!({ "command": family(161), "background": true }),
            ),
            call(
                "bash",
                json!({ "command": "while ! pgrep -f 'sleep 161.75' >/dev/null; do sleep 0.02; done" }),
            ),
            json!({ "text": "done" }),
        ],
    );
    let result = agent
        .start(RunRequest::text("go"))
        .unwrap()
        .execute(CancellationToken::new(), EventSink::none())
        .await;
    assert!(result.success, "{result:?}");
    // Reaped before the result: nothing left, at once.
    assert_eq!(none_sleeping(161), Vec::<String>::new());
}

#[tokio::test]
async fn background_trees_are_gone_when_the_run_is_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let agent = scripted(
        dir.path(),
        vec![
            call(
                "bash",
                json!({ "command": family(162), "background": true }),
            ),
            call("bash", json!({ "command": "sleep 162.875" })),
            json!({ "text": "never" }),
        ],
    );
    let cancel = CancellationToken::new();
    let run = agent.start(RunRequest::text("go")).unwrap();
    let task = tokio::spawn(run.execute(cancel.clone(), EventSink::none()));
    for arg in ["162.5", "162.25", "162.75", "162.875"] {
        wait_sleeping(arg).await;
    }
    cancel.cancel();
    let result = task.await.unwrap();
    assert_eq!(result.stop_reason, StopReason::Cancelled);
    assert_eq!(none_sleeping(162), Vec::<String>::new());
    assert!(!sleeping("162.875"));
}

#[tokio::test]
async fn close_kills_the_background_shells_of_a_run_going_on() {
    let dir = tempfile::tempdir().unwrap();
    let agent = scripted(
        dir.path(),
        vec![
            call(
                "bash",
                json!({ "command": family(163), "background": true }),
            ),
            call("bash", wait_for("closed.flag")),
            call("bash_output", json!({ "id": "bash_1" })),
            json!({ "text": "done" }),
        ],
    );
    let run = agent.start(RunRequest::text("go")).unwrap();
    let task = tokio::spawn(run.execute(CancellationToken::new(), EventSink::none()));
    for arg in ["163.5", "163.25", "163.75", "163.125"] {
        wait_sleeping(arg).await;
    }
    agent.close().await;
    assert_eq!(none_sleeping(163), Vec::<String>::new());
    std::fs::write(dir.path().join("closed.flag"), "").unwrap();
    let result = task.await.unwrap();
    assert!(result.success, "{result:?}");
    assert_eq!(
        result.steps[2].output,
        "(no new output)\nbash_1: killed (the agent was closed)"
    );
}

#[tokio::test]
async fn bash_output_and_bash_kill_come_with_bash_and_never_ask() {
    use harnext_core::permissions::{
        Decision, FnHandler, PermissionError, PermissionHandler, PermissionRequest,
    };
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let mut c = AgentConfig::new("scripted");
    c.cwd = Some(dir.path().to_path_buf());
    c.persist_session = false;
    c.permission_mode = harnext_core::PermissionMode::Manual;
    c.script = Some(
        [
            call(
                "bash",
                json!({ "command": "sleep 164.5", "background": true }),
            ),
            call("bash_output", json!({ "id": "bash_1" })),
            call("bash_kill", json!({ "id": "bash_1" })),
            json!({ "text": "done" }),
        ]
        .into_iter()
        .map(|t| serde_json::from_value::<ScriptedTurn>(t).unwrap())
        .collect(),
    );
    let agent = Agent::new(c).unwrap();
    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = asked.clone();
    let handler: Arc<dyn PermissionHandler> = Arc::new(FnHandler(move |req: PermissionRequest| {
        log.lock().unwrap().push(req.tool.clone());
        Box::pin(async move {
            Ok(Decision::Allow {
                args: None,
                remember: false,
                escalate: None,
            })
        }) as futures::future::BoxFuture<'static, Result<Decision, PermissionError>>
    }));
    let mut request = RunRequest::text("go");
    request.permission_handler = Some(handler);
    let result = agent
        .start(request)
        .unwrap()
        .execute(CancellationToken::new(), EventSink::none())
        .await;
    assert!(result.success, "{result:?}");
    assert_eq!(*asked.lock().unwrap(), vec!["bash".to_owned()]);
    assert!(
        result.steps[2].output.starts_with("Killed bash_1."),
        "{result:?}"
    );
    assert!(!sleeping("164.5"));

    // Without `bash`, neither is offered, and neither can be listed on its own.
    let mut c = AgentConfig::new("scripted");
    c.cwd = Some(dir.path().to_path_buf());
    c.persist_session = false;
    c.tools = Some(vec!["read_file".into()]);
    c.script = Some(vec![
        serde_json::from_value(json!({ "text": "hi" })).unwrap()
    ]);
    let agent = Agent::new(c).unwrap();
    assert!(!agent.system_prompt().contains("bash_output"));
    let mut c = AgentConfig::new("scripted");
    c.cwd = Some(dir.path().to_path_buf());
    c.tools = Some(vec!["bash_output".into()]);
    c.script = Some(vec![
        serde_json::from_value(json!({ "text": "hi" })).unwrap()
    ]);
    let err = Agent::new(c).err().unwrap().to_string();
    assert!(
        err.contains("unknown built-in tool \"bash_output\""),
        "{err}"
    );
}

/// An interrupt that goes on with a new message keeps the background commands (the
/// session goes on, the server is still wanted); the run's end then kills them.
#[tokio::test]
async fn an_interrupt_that_goes_on_keeps_the_background_commands() {
    let dir = tempfile::tempdir().unwrap();
    let agent = scripted(
        dir.path(),
        vec![
            call(
                "bash",
                json!({ "command": "echo up; exec sleep 165.5", "background": true }),
            ),
            call("bash", json!({ "command": "exec sleep 165.25" })),
            call("bash_output", json!({ "id": "bash_1" })),
            json!({ "text": "done" }),
        ],
    );
    let run = agent.start(RunRequest::text("go")).unwrap();
    let control = run.control();
    let task = tokio::spawn(run.execute(CancellationToken::new(), EventSink::none()));
    wait_sleeping("165.5").await;
    wait_sleeping("165.25").await;
    control
        .interrupt(Some("Check on the server.".into()))
        .unwrap();
    let result = task.await.unwrap();
    assert!(result.success && !result.cancelled, "{result:?}");
    assert_eq!(result.steps[1].status, ToolStatus::Cancelled);
    assert_eq!(result.steps[2].output, "up\nbash_1: running");
    assert!(!sleeping("165.5") && !sleeping("165.25"));
}
