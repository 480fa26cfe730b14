//! The processes of stdio servers.
//!
//! Each server runs in its own process group (on Unix), with stdin and stdout for the
//! protocol and stderr piped apart: its last lines are kept for error messages and
//! never mixed with the protocol stream. A supervisor task owns the child, reaps it,
//! and kills whatever is left of its group when it exits. Dropping a
//! [`ServerProcess`] kills the whole group at once, synchronously, so no server
//! outlives its manager even when no runtime is left to run async cleanup.

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::io::BufReader;
use tokio::process::ChildStdin;
use tokio::process::ChildStdout;
use tokio::sync::oneshot;
use tokio::sync::watch;

use crate::config::StdioServerConfig;

/// The process groups of the stdio servers running in this process, for
/// [`kill_all_stdio_servers`].
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<u32>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Kills every stdio server (with its process group) running in this process, at once.
/// For a process that is about to exit without dropping its managers (Node's
/// `process.exit()` runs no finalizers); managers whose servers were killed this way
/// see them as exited.
pub fn kill_all_stdio_servers() {
    for pid in std::mem::take(&mut *live()) {
        signal_group(Some(pid), Signal::Kill);
    }
}

/// Lines of stderr kept per server.
const STDERR_LINES: usize = 20;
/// Characters kept of one stderr line.
const STDERR_LINE_CHARS: usize = 300;

/// The end of a server's stderr.
#[derive(Default)]
pub(crate) struct StderrTail {
    lines: Mutex<VecDeque<String>>,
}

impl StderrTail {
    fn push(&self, line: &str) {
        let line = line.trim_end();
        let line: String = if line.chars().count() > STDERR_LINE_CHARS {
            let mut cut: String = line.chars().take(STDERR_LINE_CHARS).collect();
            cut.push('…');
            cut
        } else {
            line.to_owned()
        };
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == STDERR_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// `"; its stderr ended with:\n<lines>"`, or nothing when it wrote nothing.
    pub(crate) fn note(&self) -> String {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let text: Vec<&str> = lines
            .iter()
            .map(String::as_str)
            .filter(|l| !l.trim().is_empty())
            .collect();
        if text.is_empty() {
            String::new()
        } else {
            format!("; its stderr ended with:\n{}", text.join("\n"))
        }
    }
}

/// What the manager and the tools may read about a server's process.
pub(crate) struct ProcessStatus {
    /// `Some(description)` once the process has exited and was reaped.
    exit: watch::Receiver<Option<String>>,
    pub stderr: Arc<StderrTail>,
}

impl ProcessStatus {
    pub(crate) fn exit(&self) -> Option<String> {
        self.exit.borrow().clone()
    }

    /// Waits up to `limit` for the process to exit; returns how it exited.
    pub(crate) async fn wait_exit(&self, limit: Duration) -> Option<String> {
        let mut rx = self.exit.clone();
        let waited = tokio::time::timeout(limit, rx.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(v)) => v.clone(),
            Ok(Err(_)) | Err(_) => self.exit(),
        }
    }

    /// Why the server is unreachable, for a message: how it exited (`when`: " during
    /// initialization", or nothing) and its stderr.
    pub(crate) fn describe(&self, when: &str) -> Option<String> {
        self.exit()
            .map(|how| format!("its process exited ({how}){when}{}", self.stderr.note()))
    }
}

/// A running stdio server process. Dropping it kills the process group.
pub(crate) struct ServerProcess {
    pid: Option<u32>,
    status: Arc<ProcessStatus>,
    /// Sending (or dropping) it makes the supervisor kill the group and reap the child.
    kill: Option<oneshot::Sender<()>>,
}

/// Spawns the server. `on_exit` is set when the process exits (the manager's "look
/// again" flag).
pub(crate) fn spawn(
    config: &StdioServerConfig,
    cwd: &Path,
    on_exit: Arc<AtomicBool>,
    sandbox: Option<&harnext_sandbox::Sandbox>,
) -> std::io::Result<(ServerProcess, ChildStdout, ChildStdin)> {
    if let Some(sandbox) = sandbox.filter(|s| s.is_active() && config.sandbox) {
        // In the sandbox: its own session and process group (the monitor's), which
        // `signal_group` signals as before; SIGTERM reaches the server.
        let mut sandboxed = sandbox.command(&config.command, harnext_sandbox::ProcessKind::Server);
        sandboxed
            .command_mut()
            .args(&config.args)
            .envs(config.env.iter().map(|(k, v)| (k, v)))
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = sandboxed.spawn()?.child;
        return supervise(child, on_exit);
    }
    let mut cmd = tokio::process::Command::new(&config.command);
    cmd.args(&config.args)
        .envs(config.env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Last resort, should the supervisor task be dropped with its runtime.
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    supervise(cmd.spawn()?, on_exit)
}

/// Watches a started server: its stderr tail, its exit, the kill on request.
fn supervise(
    mut child: tokio::process::Child,
    on_exit: Arc<AtomicBool>,
) -> std::io::Result<(ServerProcess, ChildStdout, ChildStdin)> {
    let pid = child.id();
    if let Some(pid) = pid {
        live().push(pid);
    }
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.start_kill();
        return Err(std::io::Error::other("the child's stdio pipes are missing"));
    };
    let stderr_tail = Arc::new(StderrTail::default());
    if let Some(stderr) = child.stderr.take() {
        let tail = stderr_tail.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            // Lines that are not UTF-8 end the reading; what was kept stays.
            while let Ok(Some(line)) = lines.next_line().await {
                tail.push(&line);
            }
        });
    }
    let (exit_tx, exit_rx) = watch::channel(None);
    let (kill_tx, kill_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let status = tokio::select! {
            status = child.wait() => status,
            _ = kill_rx => {
                signal_group(pid, Signal::Kill);
                let _ = child.start_kill();
                child.wait().await
            }
        };
        // The leader is gone: what it left in its group goes too.
        signal_group(pid, Signal::Kill);
        live().retain(|p| Some(*p) != pid);
        let how = match status {
            Ok(s) => s.to_string(),
            Err(e) => format!("cannot be waited for: {e}"),
        };
        let _ = exit_tx.send(Some(how));
        on_exit.store(true, Ordering::SeqCst);
    });
    Ok((
        ServerProcess {
            pid,
            status: Arc::new(ProcessStatus {
                exit: exit_rx,
                stderr: stderr_tail,
            }),
            kill: Some(kill_tx),
        },
        stdout,
        stdin,
    ))
}

impl ServerProcess {
    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    pub(crate) fn status(&self) -> Arc<ProcessStatus> {
        self.status.clone()
    }

    /// Ends the process the way the MCP spec asks, once its stdin was closed: wait for
    /// it to exit, then SIGTERM, then SIGKILL. Returns when it has been reaped.
    pub(crate) async fn shutdown(mut self, grace: Duration) {
        if self.status.wait_exit(grace).await.is_some() {
            return;
        }
        signal_group(self.pid, Signal::Term);
        if self.status.wait_exit(grace).await.is_some() {
            return;
        }
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        // SIGKILL cannot be ignored; the bound only guards against a stuck reaper.
        self.status.wait_exit(Duration::from_secs(5)).await;
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.status.exit().is_none() {
            signal_group(self.pid, Signal::Kill);
        }
        live().retain(|p| Some(*p) != self.pid);
        // Dropping the sender wakes the supervisor, which reaps the child.
        drop(self.kill.take());
    }
}

#[derive(Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

#[cfg(unix)]
fn signal_group(pid: Option<u32>, signal: Signal) {
    use nix::sys::signal::killpg;
    use nix::sys::signal::Signal as NixSignal;
    use nix::unistd::Pid;
    let Some(pgid) = pid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 1) else {
        return;
    };
    let sig = match signal {
        Signal::Term => NixSignal::SIGTERM,
        Signal::Kill => NixSignal::SIGKILL,
    };
    // ESRCH (nothing left in the group) is the usual, harmless answer.
    let _ = killpg(Pid::from_raw(pgid), sig);
}

#[cfg(not(unix))]
fn signal_group(_pid: Option<u32>, _signal: Signal) {
    // Without process groups the supervisor's `start_kill` and `kill_on_drop` end
    // the server itself.
}
