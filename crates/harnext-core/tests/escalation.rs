//! The sandbox in the manual modes: a permission request says whether the call would
//! run sandboxed, and an approval can relax the sandbox for that one call (network,
//! more writable directories), as Codex asks for escalation.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::Mutex;

use harnext_core::permissions::Decision;
use harnext_core::permissions::Escalation;
use harnext_core::permissions::FnHandler;
use harnext_core::permissions::PermissionError;
use harnext_core::permissions::PermissionHandler;
use harnext_core::permissions::PermissionRequest;
use harnext_core::protocol::AgentEvent;
use harnext_core::protocol::CallSandbox;
use harnext_core::protocol::RunSandbox;
use harnext_core::protocol::ScriptedToolCall;
use harnext_core::protocol::ScriptedTurn;
use harnext_core::protocol::ToolStatus;
use harnext_core::{Agent, AgentConfig, EventSink, PermissionMode, RunRequest};
use serde_json::json;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

fn call(name: &str, args: Value) -> ScriptedTurn {
    ScriptedTurn {
        tool_calls: vec![ScriptedToolCall {
            id: None,
            name: name.into(),
            args,
        }],
        ..ScriptedTurn::default()
    }
}

fn bash(command: &str) -> ScriptedTurn {
    call("bash", json!({ "command": command }))
}

fn allow(escalate: Option<Escalation>) -> Decision {
    Decision::Allow {
        args: None,
        remember: false,
        escalate,
    }
}

/// Runs `script` in manual mode; the handler answers the requests with `decisions`, in
/// order. Returns the requests, the events and the steps' (status, output).
async fn run(
    ws: &std::path::Path,
    script: Vec<ScriptedTurn>,
    decisions: Vec<Decision>,
) -> (
    Vec<PermissionRequest>,
    Vec<AgentEvent>,
    Vec<(ToolStatus, String)>,
) {
    let mut config = AgentConfig::new("scripted");
    let mut script = script;
    script.push(ScriptedTurn {
        text: Some("done".into()),
        ..ScriptedTurn::default()
    });
    config.script = Some(script);
    config.cwd = Some(ws.to_path_buf());
    config.persist_session = false;
    config.permission_mode = PermissionMode::Manual;
    let agent = Agent::new(config).unwrap();
    assert_eq!(agent.sandbox_status().enforced.as_str(), "workspace-write");
    let asked: Arc<Mutex<Vec<PermissionRequest>>> = Arc::default();
    let decisions = Arc::new(Mutex::new(decisions.into_iter()));
    let log = asked.clone();
    let handler: Arc<dyn PermissionHandler> = Arc::new(FnHandler(move |req: PermissionRequest| {
        log.lock().unwrap().push(req);
        let d = decisions.lock().unwrap().next().expect("a decision");
        Box::pin(async move { Ok(d) })
            as futures::future::BoxFuture<'static, Result<Decision, PermissionError>>
    }));
    let mut request = RunRequest::text("go");
    request.permission_handler = Some(handler);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let result = agent
        .start(request)
        .unwrap()
        .execute(CancellationToken::new(), EventSink::channel(tx))
        .await;
    assert!(result.success, "{:?}", result.error);
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    let steps = result
        .steps
        .iter()
        .map(|s| (s.status, s.output.clone()))
        .collect();
    let asked = asked.lock().unwrap().clone();
    (asked, events, steps)
}

#[tokio::test]
async fn one_approved_call_gets_the_network_and_the_next_one_does_not() {
    let ws = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connect = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo CONNECTED");
    let (asked, events, steps) = run(
        ws.path(),
        vec![bash(&connect), bash(&connect)],
        vec![
            allow(Some(Escalation {
                network: true,
                writable_roots: vec![],
            })),
            allow(None),
        ],
    )
    .await;
    // The requests say the command would run in the sandbox, without network.
    let sandboxed = Some(CallSandbox {
        mode: "workspace-write".into(),
        network: false,
    });
    assert_eq!(asked.len(), 2);
    assert!(asked.iter().all(|r| r.sandbox == sandboxed), "{asked:?}");
    let requested: Vec<&Option<CallSandbox>> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::PermissionRequest { sandbox, .. } => Some(sandbox),
            _ => None,
        })
        .collect();
    assert_eq!(requested, vec![&sandboxed, &sandboxed]);
    // run_start has the chosen and the enforced mode.
    assert_eq!(
        events.first(),
        Some(&AgentEvent::RunStart {
            session_id: match &events[0] {
                AgentEvent::RunStart { session_id, .. } => session_id.clone(),
                _ => unreachable!(),
            },
            sandbox: RunSandbox {
                requested: "workspace-write".into(),
                enforced: "workspace-write".into(),
                network: false,
                partial: false,
            },
        })
    );
    assert_eq!(steps[0], (ToolStatus::Ok, "CONNECTED\nexit code: 0".into()));
    // A failed command is an `ok` result with its exit code.
    assert!(
        !steps[1].1.contains("CONNECTED") && steps[1].1.contains("exit code: 1"),
        "{}",
        steps[1].1
    );
    assert!(
        steps[1].1.contains("network connections are refused"),
        "{}",
        steps[1].1
    );
}

#[tokio::test]
async fn one_approved_call_writes_outside_and_the_next_one_cannot() {
    let ws = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let o = outside.path().display();
    let (_, _, steps) = run(
        ws.path(),
        vec![
            bash(&format!("echo one > {o}/one.txt && echo wrote")),
            bash(&format!("echo two > {o}/two.txt && echo wrote")),
        ],
        vec![
            allow(Some(Escalation {
                network: false,
                writable_roots: vec![outside.path().to_path_buf()],
            })),
            allow(None),
        ],
    )
    .await;
    assert_eq!(steps[0], (ToolStatus::Ok, "wrote\nexit code: 0".into()));
    assert_eq!(
        std::fs::read_to_string(outside.path().join("one.txt")).unwrap(),
        "one\n"
    );
    assert!(
        steps[1].1.contains("Permission denied") && steps[1].1.contains("[sandbox]"),
        "{}",
        steps[1].1
    );
    assert!(!outside.path().join("two.txt").exists());
}

#[tokio::test]
async fn an_escalation_for_a_tool_outside_the_sandbox_or_a_missing_root_is_denied() {
    let ws = tempfile::tempdir().unwrap();
    let network = || {
        Some(Escalation {
            network: true,
            writable_roots: vec![],
        })
    };
    let (asked, _, steps) = run(
        ws.path(),
        vec![
            call("write_file", json!({"path": "a.txt", "content": "a"})),
            bash("echo ran > b.txt"),
        ],
        vec![
            allow(network()),
            allow(Some(Escalation {
                network: false,
                writable_roots: vec!["/nonexistent/harnext-escalation".into()],
            })),
        ],
    )
    .await;
    // write_file is not a sandboxed call: its request says so.
    assert_eq!(asked[0].sandbox, None);
    assert_eq!(steps[0].0, ToolStatus::Denied);
    assert!(
        steps[0].1.contains("does not run in the sandbox"),
        "{}",
        steps[0].1
    );
    assert!(!ws.path().join("a.txt").exists());
    assert_eq!(steps[1].0, ToolStatus::Denied);
    assert!(
        steps[1].1.contains("could not be escalated")
            && steps[1].1.contains("/nonexistent/harnext-escalation"),
        "{}",
        steps[1].1
    );
    assert!(!ws.path().join("b.txt").exists());
}
