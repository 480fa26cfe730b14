//! The sandbox on this machine's kernel: what commands can and cannot do. Every test
//! runs real commands (as root here: Landlock confines root too).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::Path;
use std::path::PathBuf;
use std::process::Stdio;

use harnext_sandbox::ProcessKind;
use harnext_sandbox::Sandbox;
use harnext_sandbox::SandboxConfig;
use harnext_sandbox::SandboxMode;

struct Fixture {
    _dirs: Vec<tempfile::TempDir>,
    workspace: PathBuf,
    home: PathBuf,
    /// A directory outside the workspace and the temp directories.
    outside: PathBuf,
    sessions: PathBuf,
}

fn fixture() -> Fixture {
    let ws = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    // Not under /tmp (which is writable): under the target directory.
    let outside = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
    std::fs::write(home.path().join(".ssh/id_ed25519"), "PRIVATE KEY\n").unwrap();
    std::fs::write(home.path().join(".netrc"), "machine x password p\n").unwrap();
    std::fs::write(home.path().join("notes.txt"), "hello from home\n").unwrap();
    let sessions = home.path().join(".harnext/sessions");
    std::fs::create_dir_all(&sessions).unwrap();
    std::fs::write(sessions.join("sess_x.jsonl"), "{}\n").unwrap();
    Fixture {
        workspace: ws.path().canonicalize().unwrap(),
        home: home.path().canonicalize().unwrap(),
        outside: outside.path().canonicalize().unwrap(),
        sessions: sessions.canonicalize().unwrap(),
        _dirs: vec![ws, home, outside],
    }
}

fn sandbox(f: &Fixture, config: SandboxConfig) -> Sandbox {
    Sandbox::with_home(&config, &f.workspace, Some(&f.sessions), Some(&f.home)).unwrap()
}

/// Runs `bash -c script` in the sandbox: (exit code, stdout+stderr, leftovers).
async fn run(sb: &Sandbox, cwd: &Path, script: &str) -> (i32, String, bool) {
    let mut cmd = sb.command("bash", ProcessKind::Shell);
    cmd.command_mut()
        .arg("-c")
        .arg(format!("exec 2>&1; {script}"))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.child.stdout.take().unwrap();
    let reader = tokio::spawn(async move {
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut out)
            .await
            .unwrap();
        String::from_utf8_lossy(&out).into_owned()
    });
    let exit = child.wait().await.unwrap();
    assert!(exit.setup_error.is_none(), "{:?}", exit.setup_error);
    let out = reader.await.unwrap();
    (
        exit.status.unwrap().code().unwrap_or(-1),
        out,
        exit.leftovers,
    )
}

#[tokio::test]
async fn credentials_and_sessions_are_unreadable_the_rest_of_home_is_readable() {
    let f = fixture();
    let sb = sandbox(&f, SandboxConfig::default());
    let home = f.home.display();
    let (code, out, _) = run(&sb, &f.workspace, &format!("cat {home}/.ssh/id_ed25519")).await;
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("PRIVATE KEY"), "{out}");
    // Refused, or (with namespaces) an empty file mounted over it.
    let (_, out, _) = run(
        &sb,
        &f.workspace,
        &format!("cat {home}/.netrc; echo x >> {home}/.netrc"),
    )
    .await;
    assert!(!out.contains("password"), "{out}");
    assert_eq!(
        std::fs::read_to_string(f.home.join(".netrc")).unwrap(),
        "machine x password p\n"
    );
    // With namespaces the folder is an empty mount: not even the names show.
    let (_, out, _) = run(&sb, &f.workspace, &format!("ls {home}/.ssh")).await;
    assert!(!out.contains("id_ed25519"), "{out}");
    let sessions = f.sessions.display();
    let (code, out, _) = run(&sb, &f.workspace, &format!("cat {sessions}/sess_x.jsonl")).await;
    assert_ne!(code, 0, "{out}");
    // Also when the denied paths lie inside a writable directory (a home in the workspace).
    let inside = f.workspace.join("home");
    std::fs::create_dir_all(inside.join(".ssh")).unwrap();
    std::fs::write(inside.join(".ssh/id_ed25519"), "PRIVATE KEY\n").unwrap();
    std::fs::create_dir_all(inside.join(".harnext/sessions")).unwrap();
    std::fs::write(inside.join(".harnext/sessions/s.jsonl"), "SESSION\n").unwrap();
    let sb2 = Sandbox::with_home(
        &SandboxConfig::default(),
        &f.workspace,
        Some(&inside.join(".harnext/sessions")),
        Some(&inside),
    )
    .unwrap();
    let (code, out, _) = run(
        &sb2,
        &f.workspace,
        "cat home/.ssh/id_ed25519 home/.harnext/sessions/s.jsonl",
    )
    .await;
    assert_ne!(code, 0, "{out}");
    assert!(
        !out.contains("PRIVATE") && !out.contains("SESSION"),
        "{out}"
    );
    let (code, out, _) = run(&sb, &f.workspace, &format!("cat {home}/notes.txt")).await;
    assert_eq!((code, out.as_str()), (0, "hello from home\n"));
    // Other directories read as usual.
    let (code, out, _) = run(
        &sb,
        &f.workspace,
        "head -c 4 /etc/passwd && ls / >/dev/null && echo ok",
    )
    .await;
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn writes_go_only_to_the_workspace_temp_and_writable_roots() {
    let f = fixture();
    let sb = sandbox(&f, SandboxConfig::default());
    let (code, out, _) = run(
        &sb,
        &f.workspace,
        "echo a > in.txt && mkdir -p d/e && echo b > d/e/f && rm in.txt && echo ok",
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "ok\n"));
    let tmp = std::env::temp_dir().join(format!("harnext-sb-{}", std::process::id()));
    let (code, out, _) = run(
        &sb,
        &f.workspace,
        &format!(
            "echo t > {} && rm {} && echo ok",
            tmp.display(),
            tmp.display()
        ),
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "ok\n"));
    let target = f.outside.join("escape.txt");
    let (code, out, _) = run(&sb, &f.workspace, &format!("echo x > {}", target.display())).await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("Permission denied"), "{out}");
    assert!(!target.exists());
    let (code, out, _) = run(
        &sb,
        &f.workspace,
        &format!("echo x >> {}/.bashrc", f.home.display()),
    )
    .await;
    assert_ne!(code, 0, "{out}");
    // A writable root opens it.
    let sb = sandbox(
        &f,
        SandboxConfig {
            writable_roots: vec![f.outside.clone()],
            ..SandboxConfig::default()
        },
    );
    let (code, out, _) = run(
        &sb,
        &f.workspace,
        &format!("echo x > {} && echo ok", target.display()),
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "ok\n"));
}

#[tokio::test]
async fn read_only_writes_nowhere() {
    let f = fixture();
    let sb = sandbox(
        &f,
        SandboxConfig {
            mode: SandboxMode::ReadOnly,
            ..SandboxConfig::default()
        },
    );
    std::fs::write(f.workspace.join("a.txt"), "content\n").unwrap();
    let (code, out, _) = run(&sb, &f.workspace, "cat a.txt; echo x > b.txt").await;
    assert_ne!(code, 0);
    assert!(out.starts_with("content\n"), "{out}");
    assert!(!f.workspace.join("b.txt").exists());
    let (code, _, _) = run(&sb, &f.workspace, "echo x > /tmp/harnext-ro-test").await;
    assert_ne!(code, 0);
    let (code, out, _) = run(&sb, &f.workspace, "echo fine >/dev/null && echo ok").await;
    assert_eq!((code, out.as_str()), (0, "ok\n"));
}

#[tokio::test]
async fn no_network_unless_allowed() {
    let f = fixture();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected");
    let sb = sandbox(&f, SandboxConfig::default());
    let (code, out, _) = run(&sb, &f.workspace, &script).await;
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("connected"), "{out}");
    assert!(!sb.status().network);
    // A server the command starts itself on loopback is reachable (its own namespace).
    let (code, out, _) = run(
        &sb,
        &f.workspace,
        "python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); s.listen(); c=socket.create_connection(s.getsockname()); print(\"local ok\")' 2>&1 || echo no-python",
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("local ok") || out.contains("no-python"),
        "{out}"
    );
    let sb = sandbox(
        &f,
        SandboxConfig {
            network: true,
            ..SandboxConfig::default()
        },
    );
    let (code, out, _) = run(&sb, &f.workspace, &script).await;
    assert_eq!((code, out.as_str()), (0, "connected\n"));
}

#[tokio::test]
async fn secrets_are_out_of_reach() {
    let f = fixture();
    // A unique name no other test reads.
    std::env::set_var("HARNEXT_SANDBOX_TEST_API_KEY", "sk-test-very-secret");
    let sb = sandbox(&f, SandboxConfig::default());
    let (code, out, _) = run(&sb, &f.workspace, "env; cat /proc/$PPID/environ; cat /proc/1/environ; head -c 64 /proc/$PPID/mem; head -c 64 /proc/1/mem; true").await;
    assert_eq!(code, 0);
    assert!(!out.contains("sk-test-very-secret"), "{out}");
    assert!(out.contains("PATH="), "{out}");
    // The test process itself is not even visible.
    let me = std::process::id();
    let (_, out, _) = run(
        &sb,
        &f.workspace,
        &format!("cat /proc/{me}/environ && echo readable"),
    )
    .await;
    assert!(
        !out.contains("sk-test-very-secret") && !out.contains("readable"),
        "{out}"
    );
    // Off: as before.
    let off = sandbox(
        &f,
        SandboxConfig {
            mode: SandboxMode::Off,
            ..SandboxConfig::default()
        },
    );
    let (_, out, _) = run(
        &off,
        &f.workspace,
        &format!("env; cat {}/.ssh/id_ed25519", f.home.display()),
    )
    .await;
    assert!(out.contains("sk-test-very-secret"), "{out}");
    assert!(out.contains("PRIVATE KEY"), "{out}");
}

/// True when some process on the host runs `sleep <arg>`.
fn sleeping(arg: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        let mut cmdline = String::new();
        std::fs::File::open(e.path().join("cmdline"))
            .and_then(|mut f| f.read_to_string(&mut cmdline))
            .is_ok()
            && cmdline == format!("sleep\0{arg}\0")
    })
}

#[tokio::test]
async fn nothing_outlives_the_command() {
    let f = fixture();
    let sb = sandbox(&f, SandboxConfig::default());
    let (code, out, leftovers) = run(
        &sb,
        &f.workspace,
        "setsid sleep 120.25 >/dev/null 2>&1 & nohup sleep 120.5 >/dev/null 2>&1 & (sleep 120.75 >/dev/null 2>&1 &) ; sleep 0.2; echo started",
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "started\n"));
    assert!(leftovers);
    for arg in ["120.25", "120.5", "120.75"] {
        assert!(!sleeping(arg), "sleep {arg} survived");
    }
}

#[tokio::test]
async fn killing_ends_everything_at_once() {
    let f = fixture();
    let sb = sandbox(&f, SandboxConfig::default());
    let mut cmd = sb.command("bash", ProcessKind::Shell);
    cmd.command_mut()
        .arg("-c")
        .arg("setsid sleep 121.5 >/dev/null 2>&1 & sleep 121.25")
        .current_dir(&f.workspace)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    for _ in 0..200 {
        if sleeping("121.5") && sleeping("121.25") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(sleeping("121.5"));
    assert!(child.killer().kill());
    let _ = child.wait().await;
    for _ in 0..100 {
        if !sleeping("121.5") && !sleeping("121.25") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("a process survived the kill");
}

#[tokio::test]
async fn status_says_what_is_enforced() {
    let f = fixture();
    let sb = sandbox(&f, SandboxConfig::default());
    let status = sb.status();
    assert_eq!(status.requested, SandboxMode::WorkspaceWrite);
    assert_eq!(status.enforced, SandboxMode::WorkspaceWrite);
    assert!(!status.partial && status.missing.is_empty(), "{status:?}");
    assert!(
        status.summary.contains("Landlock ABI"),
        "{}",
        status.summary
    );
    assert!(
        status.summary.contains("network namespaces"),
        "{}",
        status.summary
    );
    assert!(status.summary.contains("~/.ssh"), "{}", status.summary);
    let prompt = sb.prompt_text();
    assert!(prompt.contains("no network access"), "{prompt}");
    assert!(
        prompt.contains(&f.workspace.display().to_string()),
        "{prompt}"
    );
    let hint = sb.blocked_hint("bash: /x: Permission denied").unwrap();
    assert!(
        hint.contains("sandbox") && hint.contains("Do not retry"),
        "{hint}"
    );
    assert!(sb.blocked_hint("all good").is_none());
}

/// `wait()` dropped after the monitor exited but before its report was read (a
/// `select!` taking another branch, as the bash tool's loop does when the output's end
/// and the exit come together) must not lose the report: the next `wait()` gives the
/// command's own status, not the monitor's exit code (128 + the signal).
#[tokio::test]
async fn a_wait_dropped_midway_still_reports_the_commands_own_status() {
    let f = fixture();
    let sb = sandbox(&f, SandboxConfig::default());
    let mut dropped_midway = 0;
    for _ in 0..20 {
        let mut cmd = sb.command("bash", ProcessKind::Shell);
        cmd.command_mut()
            .arg("-c")
            .arg("kill -SEGV $$")
            .current_dir(&f.workspace)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        assert!(child.monitored());
        // The monitor has exited (and is reaped): the next wait() gets past it at once.
        child.child.wait().await.unwrap();
        {
            // One poll: the monitor's status is there, the report is being read (off
            // the runtime, so this poll almost always ends there); then it is dropped.
            let mut first = std::pin::pin!(child.wait());
            tokio::select! {
                biased;
                _ = &mut first => {}
                () = std::future::ready(()) => dropped_midway += 1,
            }
        }
        let exit = child.wait().await.unwrap();
        let status = exit.status.expect("the monitor's report");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(11),
            "{status:?}"
        );
        assert_eq!(status.code(), None, "{status:?}");
    }
    assert!(
        dropped_midway > 0,
        "no wait() was dropped midway: nothing was tested"
    );
}
