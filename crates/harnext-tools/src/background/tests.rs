#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::test_support::{ctx, sandboxed_ctx};
use crate::BashTool;

async fn start_bg(ctx: &ToolContext, command: &str) -> Result<String, ToolError> {
    BashTool::default()
        .call(
            json!({ "command": command, "background": true }),
            ctx.clone(),
        )
        .await
}

async fn output(ctx: &ToolContext, id: &str) -> Result<String, ToolError> {
    BashOutputTool.call(json!({ "id": id }), ctx.clone()).await
}

async fn kill(ctx: &ToolContext, id: &str) -> Result<String, ToolError> {
    BashKillTool.call(json!({ "id": id }), ctx.clone()).await
}

/// The id in `bash`'s answer.
fn id_of(started: &str) -> String {
    let at = started.find("with id ").unwrap() + "with id ".len();
    started[at..]
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .next()
        .unwrap()
        .to_owned()
}

/// Reads until what was read (all reads joined) contains `want`; returns that text.
async fn read_until(ctx: &ToolContext, id: &str, want: &str) -> String {
    let mut seen = String::new();
    for _ in 0..500 {
        seen.push_str(&output(ctx, id).await.unwrap());
        if seen.contains(want) {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{want:?} never came: {seen}");
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
    for _ in 0..300 {
        if sleeping(arg) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("sleep {arg} never started");
}

async fn assert_not_sleeping(arg: &str) {
    for _ in 0..100 {
        if !sleeping(arg) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("sleep {arg} is still running");
}

#[tokio::test]
async fn a_server_runs_in_the_background_its_output_is_read_in_parts_and_it_is_killed() {
    let (_dir, ctx) = ctx();
    let started_at = std::time::Instant::now();
    let started = start_bg(&ctx, "exec python3 -u -m http.server 0 --bind 127.0.0.1")
        .await
        .unwrap();
    assert!(
        started_at.elapsed() < Duration::from_secs(2),
        "returned at once"
    );
    let id = id_of(&started);
    assert_eq!(id, "bash_1", "{started}");
    assert!(started.contains("bash_output"), "{started}");
    let first = read_until(&ctx, &id, "Serving HTTP").await;
    assert!(first.ends_with("bash_1: running"), "{first}");
    let port: u16 = first
        .split("port ")
        .nth(1)
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // Another command reaches it while it runs.
    let answer = BashTool::default()
        .call(
            json!({ "command": format!("exec 3<>/dev/tcp/127.0.0.1/{port}; printf 'GET /nothing-here HTTP/1.0\\r\\n\\r\\n' >&3; head -1 <&3") }),
            ctx.clone(),
        )
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.0 404"), "{answer}");
    // The second read has only what came since the first: the request's log line.
    let second = read_until(&ctx, &id, "nothing-here").await;
    assert!(!second.contains("Serving HTTP"), "{second}");
    assert!(
        second.contains("\"GET /nothing-here HTTP/1.0\" 404"),
        "{second}"
    );
    assert_eq!(
        output(&ctx, &id).await.unwrap(),
        "(no new output)\nbash_1: running"
    );
    let killed = kill(&ctx, &id).await.unwrap();
    assert!(killed.starts_with("Killed bash_1."), "{killed}");
    assert!(killed.ends_with("bash_1: killed (bash_kill)"), "{killed}");
    assert!(ctx.workspace.background_shells().running().is_empty());
    // Its port is free again: nothing of it is left.
    let closed = BashTool::default()
        .call(
            json!({ "command": format!("(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo open || echo closed") }),
            ctx.clone(),
        )
        .await
        .unwrap();
    assert!(closed.starts_with("closed"), "{closed}");
    // Killing twice is not an error; reading a killed shell says how it ended.
    let again = kill(&ctx, &id).await.unwrap();
    assert!(again.contains("already ended"), "{again}");
    assert_eq!(
        output(&ctx, &id).await.unwrap(),
        "(no new output)\nbash_1: killed (bash_kill)"
    );
}

#[tokio::test]
async fn a_command_that_ends_by_itself_reports_its_exit_and_its_changes() {
    let (_dir, ctx) = ctx();
    let id = id_of(
        &start_bg(&ctx, "echo building; echo out > built.txt; exit 3")
            .await
            .unwrap(),
    );
    let seen = read_until(&ctx, &id, "ended").await;
    assert!(seen.contains("building\n"), "{seen}");
    assert!(seen.ends_with("bash_1: ended, exit code: 3"), "{seen}");
    assert_eq!(ctx.workspace.changed_files(), vec!["built.txt"]);
    let again = kill(&ctx, &id).await.unwrap();
    assert!(again.contains("already ended"), "{again}");
}

#[tokio::test]
async fn unknown_ids_and_bad_arguments_are_clear_errors() {
    let (_dir, ctx) = ctx();
    let err = output(&ctx, "bash_7").await.unwrap_err().to_string();
    assert!(
        err.contains("\"bash_7\"") && err.contains("none was started"),
        "{err}"
    );
    let err = kill(&ctx, "bash_7").await.unwrap_err().to_string();
    assert!(err.contains("\"bash_7\""), "{err}");
    let id = id_of(&start_bg(&ctx, "sleep 30").await.unwrap());
    let err = output(&ctx, "nope").await.unwrap_err().to_string();
    assert!(err.contains("bash_1 (running: sleep 30)"), "{err}");
    let err = BashOutputTool
        .call(json!({ "id": 1 }), ctx.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::InvalidArgs(_)), "{err}");
    let err = BashKillTool
        .call(json!({ "id": "bash_1", "signal": 9 }), ctx.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::InvalidArgs(_)), "{err}");
    let err = BashTool::default()
        .call(
            json!({ "command": "true", "background": true, "timeout_ms": 0 }),
            ctx.clone(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::InvalidArgs(_)), "{err}");
    kill(&ctx, &id).await.unwrap();
}

#[tokio::test]
async fn a_timeout_given_to_a_background_command_kills_it() {
    let (_dir, ctx) = ctx();
    let id = id_of(
        &BashTool::default()
            .call(
                json!({ "command": "echo hi; sleep 142.5", "background": true, "timeout_ms": 200 }),
                ctx.clone(),
            )
            .await
            .unwrap(),
    );
    let seen = read_until(&ctx, &id, "bash_1: killed").await;
    assert!(seen.contains("hi\n"), "{seen}");
    assert!(seen.ends_with("bash_1: killed (timed out)"), "{seen}");
    assert_not_sleeping("142.5").await;
}

#[tokio::test]
async fn at_most_eight_run_at_once() {
    let (_dir, ctx) = ctx();
    let mut ids = Vec::new();
    for _ in 0..MAX_BACKGROUND_SHELLS {
        ids.push(id_of(&start_bg(&ctx, "sleep 143.5").await.unwrap()));
    }
    let err = start_bg(&ctx, "sleep 143.5").await.unwrap_err().to_string();
    assert!(
        err.contains("8 background commands are already running (bash_1, bash_2")
            && err.contains("bash_kill"),
        "{err}"
    );
    kill(&ctx, &ids[3]).await.unwrap();
    let ninth = id_of(&start_bg(&ctx, "sleep 143.5").await.unwrap());
    assert_eq!(ninth, "bash_9");
    ctx.workspace.background_shells().shutdown().await;
    assert_not_sleeping("143.5").await;
    let err = start_bg(&ctx, "true").await.unwrap_err().to_string();
    assert!(err.contains("the run is ending"), "{err}");
}

#[tokio::test]
async fn a_flood_of_output_keeps_the_newest_bytes_and_says_how_many_were_dropped() {
    let (_dir, ctx) = ctx();
    let id = id_of(
        &start_bg(
            &ctx,
            "head -c 1000000 /dev/zero | tr '\\0' x; echo; printf 'caf\\xc3\\xa9 \\xff!\\n'; echo END",
        )
        .await
        .unwrap(),
    );
    // Wait until it has ended, without reading.
    let shells = ctx.workspace.background_shells();
    for _ in 0..500 {
        if shells.running().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let first = output(&ctx, &id).await.unwrap();
    let total = 1_000_000 + 1 + "café \u{fffd}!\n".len() - 2 + 4;
    let dropped = total - MAX_BUFFERED_BYTES;
    assert!(
        first.starts_with(&format!(
            "[{} bytes of earlier output were dropped: only the newest 262,144 bytes not read yet are kept]\n",
            crate::output::group_digits(dropped as u64)
        )),
        "{}",
        &first[..200]
    );
    assert!(first.contains(&"x".repeat(MAX_OUTPUT_CHARS)));
    assert!(first.contains("more bytes not shown yet: call bash_output again"));
    assert!(first.chars().count() < MAX_OUTPUT_CHARS + 300);
    let mut rest = String::new();
    for _ in 0..20 {
        let more = output(&ctx, &id).await.unwrap();
        assert!(!more.contains("dropped"), "dropped counted once");
        rest.push_str(&more);
        if more.contains("END") {
            break;
        }
    }
    // Invalid UTF-8 is replaced, valid multi-byte characters kept whole.
    assert!(
        rest.contains("café \u{fffd}!\nEND\n"),
        "{}",
        &rest[rest.len() - 200..]
    );
    assert!(rest.ends_with("bash_1: ended, exit code: 0"), "{rest}");
}

#[test]
fn a_character_cut_between_reads_waits_for_its_end() {
    let mut out = Output::default();
    let bytes = "é😀".as_bytes();
    out.push(&bytes[..3]);
    assert_eq!(out.take(100), "é");
    out.push(&bytes[3..]);
    assert_eq!(out.take(100), "😀");
    // Cut at the limit: on a character boundary.
    out.push("aéb".as_bytes());
    assert_eq!(out.take(2), "aé");
    assert_eq!(out.take(2), "b");
    // An ended shell's cut character is replaced.
    out.push(&bytes[..2]);
    out.push(&bytes[2..4]);
    assert_eq!(out.take(100), "é");
    out.ended = Some("exit code: 0".into());
    assert_eq!(out.take(100), "\u{fffd}");
    assert!(out.buf.is_empty());
    // A buffer that dropped the start of a character skips its rest.
    let mut out = Output::default();
    out.push(&[0xA9, b'o', b'k']);
    assert_eq!(out.take(10), "ok");
}

#[tokio::test]
async fn an_interrupt_of_the_starting_call_does_not_stop_the_shell() {
    let (_dir, ctx) = ctx();
    let id = id_of(&start_bg(&ctx, "sleep 144.5").await.unwrap());
    wait_sleeping("144.5").await;
    // The step's cancellation (an interrupt) leaves it running; the run's end kills it.
    ctx.cancel.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(sleeping("144.5"));
    assert_eq!(ctx.workspace.background_shells().running(), vec![id]);
    ctx.workspace.background_shells().shutdown().await;
    assert!(!sleeping("144.5"), "reaped before shutdown returns");
}

/// Everything a sandboxed background command starts dies with the run: `setsid`,
/// `nohup` and double forks, whether the run ends (shutdown) or its workspace is
/// dropped (a run dropped without ending).
#[tokio::test]
async fn sandboxed_background_trees_die_at_the_end_of_the_run_and_on_drop() {
    let family = "setsid sleep 145.5 >/dev/null 2>&1 & nohup sleep 145.25 >/dev/null 2>&1 & (sleep 145.75 >/dev/null 2>&1 &); echo up; echo x > made-in-bg.txt; wait";
    let (_dirs, ctx) = sandboxed_ctx();
    let id = id_of(&start_bg(&ctx, family).await.unwrap());
    read_until(&ctx, &id, "up\n").await;
    for arg in ["145.5", "145.25", "145.75"] {
        wait_sleeping(arg).await;
    }
    ctx.workspace.background_shells().shutdown().await;
    for arg in ["145.5", "145.25", "145.75"] {
        assert!(!sleeping(arg), "sleep {arg} survived the shutdown");
    }
    let seen = output(&ctx, &id).await.unwrap();
    assert!(seen.ends_with("bash_1: killed (the run ended)"), "{seen}");
    // What it wrote is a change of the run.
    assert_eq!(ctx.workspace.changed_files(), vec!["made-in-bg.txt"]);

    let family = family.replace("145.", "146.");
    let (_dirs, ctx) = sandboxed_ctx();
    let id = id_of(&start_bg(&ctx, &family).await.unwrap());
    read_until(&ctx, &id, "up\n").await;
    for arg in ["146.5", "146.25", "146.75"] {
        wait_sleeping(arg).await;
    }
    let ToolContext { workspace, .. } = ctx;
    drop(workspace);
    for arg in ["146.5", "146.25", "146.75"] {
        assert_not_sleeping(arg).await;
    }
}

/// Without a sandbox a background command is not confined but still kept together (a
/// subreaper monitor): `setsid`, `nohup` and double forks die with it too, at the end of
/// the run and when the workspace is dropped; it keeps the agent's environment.
#[tokio::test]
async fn unsandboxed_background_trees_die_at_the_end_of_the_run_and_on_drop() {
    std::env::set_var("HARNEXT_BG_TEST_VISIBLE", "yes");
    let family = "setsid sleep 147.5 >/dev/null 2>&1 & nohup sleep 147.25 >/dev/null 2>&1 & (sleep 147.75 >/dev/null 2>&1 &); echo \"env $HARNEXT_BG_TEST_VISIBLE\"; wait";
    let (_dir, ctx) = ctx();
    assert!(!ctx.workspace.sandbox().is_active());
    let id = id_of(&start_bg(&ctx, family).await.unwrap());
    read_until(&ctx, &id, "env yes\n").await;
    for arg in ["147.5", "147.25", "147.75"] {
        wait_sleeping(arg).await;
    }
    ctx.workspace.background_shells().shutdown().await;
    for arg in ["147.5", "147.25", "147.75"] {
        assert!(!sleeping(arg), "sleep {arg} survived the shutdown");
    }
    let family = family.replace("147.", "148.");
    let (_dir, ctx) = crate::test_support::ctx();
    start_bg(&ctx, &family).await.unwrap();
    for arg in ["148.5", "148.25", "148.75"] {
        wait_sleeping(arg).await;
    }
    drop(ctx);
    for arg in ["148.5", "148.25", "148.75"] {
        assert_not_sleeping(arg).await;
    }
}

/// In the sandbox without network each command has a network namespace of its own: a
/// server started in the background cannot be reached from another command, and the
/// model is told so when it starts one. With the network on, it can.
#[tokio::test]
async fn a_sandboxed_server_is_reachable_from_other_commands_only_with_the_network_on() {
    for network in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let config = harnext_sandbox::SandboxConfig {
            network,
            ..harnext_sandbox::SandboxConfig::default()
        };
        let sandbox =
            harnext_sandbox::Sandbox::with_home(&config, dir.path(), None, Some(home.path()))
                .unwrap();
        let (_d, mut ctx) = ctx();
        ctx.workspace = std::sync::Arc::new(
            crate::Workspace::new(dir.path())
                .unwrap()
                .with_sandbox(std::sync::Arc::new(sandbox)),
        );
        let started = start_bg(&ctx, "exec python3 -u -m http.server 0 --bind 127.0.0.1")
            .await
            .unwrap();
        assert_eq!(
            started.contains("cannot connect to a server it starts"),
            !network,
            "{started}"
        );
        let id = id_of(&started);
        let first = read_until(&ctx, &id, "Serving HTTP").await;
        let port: u16 = first
            .split("port ")
            .nth(1)
            .unwrap()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let answer = BashTool::default()
            .call(
                json!({ "command": format!("exec 3<>/dev/tcp/127.0.0.1/{port}; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; head -1 <&3") }),
                ctx.clone(),
            )
            .await
            .unwrap();
        if network {
            assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
        } else {
            assert!(answer.contains("Connection refused"), "{answer}");
        }
        ctx.workspace.background_shells().shutdown().await;
    }
}
