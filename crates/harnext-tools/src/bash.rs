//! `bash`: runs a shell command in the workspace, in its own process group, and kills
//! the whole group on timeout, cancellation, or when the call's future is dropped.
//!
//! The files the command creates, modifies or deletes are recorded in the workspace (so
//! they appear in `filesChanged`) by the workspace's change tracker, brought up to date
//! before the command and after its process group has ended (see [`crate::changes`] for
//! what it covers and what it costs).

use std::collections::VecDeque;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use futures::future::BoxFuture;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::time::Instant;

use harnext_sandbox::{Killer, ProcessKind, SandboxChild};

use crate::changes;
use crate::output::cap_head_tail;
use crate::schema::schema_for;
use crate::{cap_output, parse_args, Tool, ToolContext, ToolError, MAX_OUTPUT_CHARS};

/// After the shell exits (or is killed), how long to keep reading output still held
/// open by processes it left behind before killing them.
pub(crate) const GRACE: Duration = Duration::from_millis(100);
/// Bytes of output kept from the beginning, and from the end, while capturing.
const KEEP_BYTES: usize = 64 * 1024;
/// After a kill, how long a call waits for the command to be reaped before killing its
/// sandbox's monitor outright.
pub(crate) const REAP_WAIT: Duration = Duration::from_secs(2);
/// After a cancellation, how long the call waits for the scan that records what the
/// killed command changed; a longer scan finishes (and records) in the background.
const CANCEL_SCAN_WAIT: Duration = Duration::from_millis(25);

/// Environment set for every command so that nothing waits for a terminal: git never
/// prompts for credentials, pagers print straight through, editors opened by git exit
/// at once (a commit without `-m` is aborted instead of hanging), apt does not ask.
const NON_INTERACTIVE_ENV: &[(&str, &str)] = &[
    ("GIT_TERMINAL_PROMPT", "0"),
    ("GIT_PAGER", "cat"),
    ("PAGER", "cat"),
    ("GIT_EDITOR", "true"),
    ("DEBIAN_FRONTEND", "noninteractive"),
];

const DESCRIPTION: &str = "Run a shell command with `bash -c` in the workspace root. Returns \
its output (stdout and stderr together, in the order written) and its exit code; a non-zero \
exit code is reported, not treated as a failure of the tool. Non-interactive: stdin is empty \
and nothing can prompt. Each call is a new shell: `cd` and variables do not carry over to the \
next call. The command is killed with all its child processes when it exceeds `timeout_ms` \
(default 120000, at most 600000); background processes (`&`) are killed when the command \
exits. Output over 30000 characters keeps its beginning and end. Files the command changes \
are tracked. For a command that keeps running (a dev server, a watcher, a long build), set \
`background: true`: the call returns at once with an id; read what the command prints with \
bash_output and stop it with bash_kill (at most 8 run at once; all are killed when the run \
ends; `timeout_ms` applies only when given). Do not end a command with `&` to background it: \
it would be killed when the command exits. Prefer read_file, write_file and edit_file for \
files, glob and grep to search.";

/// The `bash` tool.
#[derive(Clone, Debug)]
pub struct BashTool {
    /// Timeout when the call gives no `timeout_ms`.
    pub default_timeout: Duration,
    /// Longest timeout a call may ask for; longer ones are lowered to this.
    pub max_timeout: Duration,
}

impl Default for BashTool {
    fn default() -> Self {
        BashTool {
            default_timeout: Duration::from_secs(120),
            max_timeout: Duration::from_secs(600),
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// The command, run as `bash -c <command>` in the workspace root.
    command: String,
    /// Kill the command after this many milliseconds (its bounds and default are the
    /// tool's, set in `input_schema`).
    #[schemars(range(min = 1))]
    timeout_ms: Option<u64>,
    /// Run it in the background and return at once with an id for bash_output (its output so far) and bash_kill. Default false.
    background: Option<bool>,
}

impl Tool for BashTool {
    fn name(&self) -> &str {
        "bash"
    }

    fn description(&self) -> &str {
        DESCRIPTION
    }

    fn input_schema(&self) -> Value {
        let default_ms = self.default_timeout.as_millis();
        let max_ms = self.max_timeout.as_millis();
        let mut schema = schema_for::<Args>();
        // The bounds and the default depend on this tool's settings.
        if let Some(timeout) = schema.pointer_mut("/properties/timeout_ms") {
            timeout["maximum"] = json!(max_ms);
            timeout["description"] = json!(format!(
                "Kill the command after this many milliseconds. Default {default_ms}, at most {max_ms}."
            ));
        }
        schema
    }

    fn read_only(&self) -> bool {
        false
    }

    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'static, Result<String, ToolError>> {
        let this = self.clone();
        Box::pin(async move {
            let args: Args = parse_args(args)?;
            if args.command.trim().is_empty() {
                return Err(ToolError::InvalidArgs("command is empty".to_string()));
            }
            if args.background == Some(true) {
                let timeout = match args.timeout_ms {
                    None => None,
                    Some(0) => {
                        return Err(ToolError::InvalidArgs(
                            "timeout_ms must be at least 1".to_string(),
                        ))
                    }
                    Some(ms) => Some(Duration::from_millis(ms).min(this.max_timeout)),
                };
                let shells = ctx.workspace.background_shells();
                return shells.start(&args.command, timeout, &ctx).await;
            }
            let timeout = match args.timeout_ms {
                None => this.default_timeout.min(this.max_timeout),
                Some(0) => {
                    return Err(ToolError::InvalidArgs(
                        "timeout_ms must be at least 1".to_string(),
                    ))
                }
                Some(ms) => Duration::from_millis(ms).min(this.max_timeout),
            };
            run(&args.command, timeout, &ctx).await
        })
    }
}

/// Ends a started command and its process tree: its process group, or its sandbox.
#[derive(Clone)]
pub(crate) struct Kill {
    pgid: Option<Pid>,
    sandboxed: Option<Killer>,
}

impl Kill {
    /// Kills at once, not waiting for a sandbox's monitor (after [`Kill::kill`] did not
    /// end it in time).
    pub(crate) fn force(&self) -> bool {
        match &self.sandboxed {
            Some(killer) => killer.force(),
            None => self.kill(),
        }
    }

    /// Kills now. True when some process was signalled.
    pub(crate) fn kill(&self) -> bool {
        if let Some(killer) = &self.sandboxed {
            return killer.kill();
        }
        let Some(pgid) = self.pgid else {
            return false;
        };
        if killpg(pgid, Signal::SIGKILL).is_ok() {
            return true;
        }
        // No such group: the command was started an instant ago and `setsid` has not
        // made it a group leader yet. Until it does it is alone in harnext's group.
        match nix::unistd::getpgid(Some(pgid)) {
            Ok(group) if group == nix::unistd::getpgrp() => {
                nix::sys::signal::kill(pgid, Signal::SIGKILL).is_ok()
            }
            _ => false,
        }
    }
}

/// Kills the command (its process group, or its sandbox) when dropped while armed:
/// the call's future was dropped, or an error path left it running.
pub(crate) struct GroupGuard {
    armed: Option<Kill>,
}

impl GroupGuard {
    /// Kills the command now and disarms the guard. True when some process was
    /// signalled.
    pub(crate) fn kill(&mut self) -> bool {
        self.armed.take().is_some_and(|k| k.kill())
    }

    /// Forgets the command: it has ended, and nothing is left to kill.
    pub(crate) fn disarm(&mut self) {
        self.armed = None;
    }

    /// How to kill the command from elsewhere (while the guard is armed).
    pub(crate) fn handle(&self) -> Option<Kill> {
        self.armed.clone()
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The running command: a plain process group, or a sandboxed command whose monitor
/// reports the command's own status and whether it left processes behind.
pub(crate) enum Running {
    Plain(tokio::process::Child),
    Sandboxed(SandboxChild),
}

/// How the command ended: its status, whether processes it left were killed, and a
/// sandbox that could not be set up.
type Ended = (io::Result<ExitStatus>, bool, Option<String>);

impl Running {
    /// Whether its end means the end of everything it started: a sandboxed command's
    /// monitor exits only once the command's whole process tree is reaped.
    pub(crate) fn reaps_its_tree(&self) -> bool {
        matches!(self, Running::Sandboxed(child) if child.monitored())
    }

    pub(crate) fn child(&mut self) -> &mut tokio::process::Child {
        match self {
            Running::Plain(child) => child,
            Running::Sandboxed(sandboxed) => &mut sandboxed.child,
        }
    }

    pub(crate) async fn wait(&mut self) -> Ended {
        match self {
            Running::Plain(child) => (child.wait().await, false, None),
            Running::Sandboxed(sandboxed) => match sandboxed.wait().await {
                Ok(exit) => (
                    exit.status
                        .ok_or_else(|| io::Error::other("the sandbox did not report it")),
                    exit.leftovers,
                    exit.setup_error,
                ),
                Err(e) => (Err(e), false, None),
            },
        }
    }
}

/// Starts `bash -c command` in the workspace: in the sandbox when there is one, else in
/// a session of its own (util-linux `setsid`, which execs bash in place since a fresh
/// child is no group leader), so that it has no controlling terminal: whatever tries to
/// prompt on /dev/tty (ssh, sudo) fails at once instead of being stopped until the
/// timeout. Its process group is still its pid. Without `setsid`, its own group.
///
/// A `background` command without a sandbox is kept together like a sandboxed one
/// ([`harnext_sandbox::contained_shell_command`]: a subreaper monitor on Linux), since
/// it outlives its call: killing it then ends everything it started, `setsid` included.
pub(crate) fn start(
    command: &str,
    ctx: &ToolContext,
    background: bool,
) -> Result<(Running, GroupGuard), ToolError> {
    let sandbox = ctx.sandbox();
    let contained = if sandbox.is_active() {
        Some((
            sandbox.command("bash", ProcessKind::Shell),
            " in the sandbox",
        ))
    } else if background {
        Some((harnext_sandbox::contained_shell_command("bash"), ""))
    } else {
        None
    };
    if let Some((mut cmd, where_)) = contained {
        cmd.command_mut()
            .arg("-c")
            .arg(command)
            .current_dir(ctx.workspace.root())
            .env_remove("BASH_ENV")
            .env_remove("ENV")
            .envs(NON_INTERACTIVE_ENV.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd
            .spawn()
            .map_err(|e| ToolError::Failed(format!("could not start bash{where_}: {e}")))?;
        let guard = GroupGuard {
            armed: Some(Kill {
                pgid: None,
                sandboxed: Some(child.killer()),
            }),
        };
        return Ok((Running::Sandboxed(child), guard));
    }
    let mut cmd = match setsid_program() {
        Some(setsid) => {
            let mut c = Command::new(setsid);
            c.arg("bash");
            c
        }
        None => {
            let mut c = Command::new("bash");
            c.process_group(0);
            c
        }
    };
    let child = cmd
        .arg("-c")
        .arg(command)
        .current_dir(ctx.workspace.root())
        .env_remove("BASH_ENV")
        .env_remove("ENV")
        .envs(NON_INTERACTIVE_ENV.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ToolError::Failed(format!("could not start bash: {e}")))?;
    let Some(pgid) = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw)
    else {
        return Err(ToolError::Failed(
            "could not start bash: no process id".to_string(),
        ));
    };
    let guard = GroupGuard {
        armed: Some(Kill {
            pgid: Some(pgid),
            sandboxed: None,
        }),
    };
    Ok((Running::Plain(child), guard))
}

/// The `setsid` program, when the system has one.
fn setsid_program() -> Option<&'static std::path::Path> {
    static SETSID: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    SETSID
        .get_or_init(|| {
            ["/usr/bin/setsid", "/bin/setsid", "/usr/local/bin/setsid"]
                .iter()
                .map(std::path::PathBuf::from)
                .find(|p| p.is_file())
        })
        .as_deref()
}

async fn run(command: &str, timeout: Duration, ctx: &ToolContext) -> Result<String, ToolError> {
    if ctx.cancel.is_cancelled() {
        return Err(ToolError::Cancelled);
    }
    let before = changes::before_command(ctx).await?;
    // Declared after `running` so that it drops first: the command dies before tokio's
    // kill-on-drop of the direct child.
    let (mut running, mut guard) = start(command, ctx, false)?;
    let child = running.child();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut out_buf = vec![0u8; 8192];
    let mut err_buf = vec![0u8; 8192];
    let mut capture = Capture::default();
    let mut status: Option<io::Result<ExitStatus>> = None;
    let mut left_behind = false;
    let mut setup_error = None;
    let mut timed_out = false;
    // Until the shell exits: the timeout. Then: the end of the grace period.
    let mut wake = Instant::now() + timeout;
    let mut pipes_held = false;

    loop {
        if status.is_some() && stdout.is_none() && stderr.is_none() {
            break;
        }
        tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => {
                let handle = guard.handle();
                guard.kill();
                // The call ends cancelled only once the command is reaped (in the
                // sandbox: its whole process tree, which its monitor waits for); a
                // monitor that does not end in time is killed outright.
                if status.is_none()
                    && tokio::time::timeout(REAP_WAIT, running.wait()).await.is_err()
                {
                    if let Some(handle) = handle {
                        handle.force();
                    }
                    let _ = tokio::time::timeout(GRACE, running.wait()).await;
                }
                // Record what the command changed before it was killed: at once for a
                // small workspace, in the background for a large one.
                let _ = tokio::time::timeout(CANCEL_SCAN_WAIT, changes::after_command(before)).await;
                return Err(ToolError::Cancelled);
            }
            () = tokio::time::sleep_until(wake) => {
                if status.is_none() && !timed_out {
                    timed_out = true;
                    guard.kill();
                    wake = Instant::now() + GRACE;
                } else {
                    pipes_held = stdout.is_some() || stderr.is_some();
                    break;
                }
            }
            (result, leftovers, failed) = running.wait(), if status.is_none() => {
                status = Some(result);
                left_behind = leftovers;
                setup_error = failed;
                if !timed_out {
                    wake = Instant::now() + GRACE;
                }
            }
            read = read_some(&mut stdout, &mut out_buf) => match read {
                Ok(n) if n > 0 => capture.push(out_buf.get(..n).unwrap_or_default()),
                _ => stdout = None,
            },
            read = read_some(&mut stderr, &mut err_buf) => match read {
                Ok(n) if n > 0 => capture.push(err_buf.get(..n).unwrap_or_default()),
                _ => stderr = None,
            },
        }
    }

    // Whatever is left of the group (background processes) goes now. A sandboxed
    // command that was reaped took its whole tree with it (its monitor saw to it).
    let leftovers = if status.is_some() && running.reaps_its_tree() {
        guard.disarm();
        left_behind
    } else {
        guard.kill() || left_behind
    };
    if status.is_none() {
        status = tokio::time::timeout(GRACE, running.wait())
            .await
            .ok()
            .map(|(result, _, _)| result);
    }
    if let Some(problem) = setup_error {
        let _ = changes::after_command(before).await;
        return Err(ToolError::Failed(problem));
    }
    drop(stdout);
    drop(stderr);
    // The whole group is dead: nothing changes files any more.
    let _ = changes::after_command(before).await;

    let mut text = capture.finish(MAX_OUTPUT_CHARS);
    if text.is_empty() {
        text.push_str("(no output)");
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    if timed_out {
        text.push_str(&format!(
            "timed out after {} ms: the command and its child processes were killed",
            timeout.as_millis()
        ));
        return Err(ToolError::Failed(text));
    }
    let failed = !matches!(&status, Some(Ok(s)) if s.success());
    text.push_str(&describe_status(status));
    if failed {
        if let Some(hint) = ctx.sandbox().blocked_hint(&text) {
            text.push('\n');
            text.push_str(&hint);
        }
    }
    if pipes_held {
        text.push_str(
            "\nnote: background processes still held the output open after the command \
             exited; they were killed",
        );
    } else if leftovers {
        text.push_str("\nnote: background processes left running by the command were killed");
    }
    Ok(text)
}

/// Reads from the pipe, or waits forever once it is closed (`None`).
pub(crate) async fn read_some<R: AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buf: &mut [u8],
) -> io::Result<usize> {
    match pipe {
        Some(pipe) => pipe.read(buf).await,
        None => std::future::pending().await,
    }
}

pub(crate) fn describe_status(status: Option<io::Result<ExitStatus>>) -> String {
    match status {
        Some(Ok(status)) => {
            if let Some(code) = status.code() {
                format!("exit code: {code}")
            } else if let Some(signal) = status.signal() {
                match Signal::try_from(signal) {
                    Ok(name) => format!("killed by signal {signal} ({})", name.as_str()),
                    Err(_) => format!("killed by signal {signal}"),
                }
            } else {
                format!("exit status: {status}")
            }
        }
        Some(Err(e)) => format!("exit status unknown: {e}"),
        None => "exit status unknown: the shell did not exit after being killed".to_string(),
    }
}

/// Output captured in arrival order, keeping its first and last [`KEEP_BYTES`] bytes.
#[derive(Default)]
struct Capture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
}

impl Capture {
    fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        let room = KEEP_BYTES.saturating_sub(self.head.len()).min(chunk.len());
        let (to_head, to_tail) = chunk.split_at(room);
        self.head.extend_from_slice(to_head);
        self.tail.extend(to_tail);
        if self.tail.len() > KEEP_BYTES {
            let excess = self.tail.len() - KEEP_BYTES;
            self.tail.drain(..excess);
        }
    }

    fn finish(self, limit: usize) -> String {
        let kept = self.head.len() + self.tail.len();
        if self.total <= kept as u64 {
            let mut all = self.head;
            all.extend(self.tail);
            return cap_output(&String::from_utf8_lossy(&all), limit);
        }
        let head = String::from_utf8_lossy(trim_partial_end(&self.head)).into_owned();
        let tail: Vec<u8> = self.tail.into_iter().collect();
        let tail = String::from_utf8_lossy(trim_partial_start(&tail)).into_owned();
        cap_head_tail(&head, &tail, self.total, limit)
    }
}

/// Drops a UTF-8 sequence cut short at the end.
fn trim_partial_end(bytes: &[u8]) -> &[u8] {
    let len = bytes.len();
    for back in 1..=len.min(4) {
        let i = len - back;
        let b = bytes[i];
        if b & 0xC0 == 0x80 {
            continue; // continuation byte: look further back for the lead byte
        }
        let need = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if back < need { &bytes[..i] } else { bytes };
    }
    bytes
}

/// Drops continuation bytes of a UTF-8 sequence cut at the start.
fn trim_partial_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes
        .iter()
        .take(3)
        .take_while(|&&b| b & 0xC0 == 0x80)
        .count();
    &bytes[skip..]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::test_support::ctx;
    use std::path::Path;
    use std::time::Instant as StdInstant;

    async fn bash(ctx: &ToolContext, command: &str) -> Result<String, ToolError> {
        BashTool::default()
            .call(json!({ "command": command }), ctx.clone())
            .await
    }

    /// Waits until the file holds a pid, then returns it.
    async fn wait_for_pid(path: &Path) -> i32 {
        for _ in 0..500 {
            if let Ok(text) = std::fs::read_to_string(path) {
                if let Ok(pid) = text.trim().parse() {
                    return pid;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no pid in {}", path.display());
    }

    /// True while the process exists and is not a zombie.
    fn alive(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => {
                // The state follows the command name, which is in parentheses.
                let state = stat.rsplit(')').next().unwrap_or("").trim_start();
                !state.starts_with('Z') && !state.starts_with('X')
            }
            Err(_) => false,
        }
    }

    /// Waits up to a second for the process to be gone.
    async fn assert_dies(pid: i32) {
        for _ in 0..100 {
            if !alive(pid) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("process {pid} is still alive");
    }

    #[tokio::test]
    async fn echo_output_and_exit_code() {
        let (_dir, ctx) = ctx();
        let out = bash(&ctx, "echo hello; pwd").await.unwrap();
        let root = ctx.workspace.root().display().to_string();
        assert_eq!(out, format!("hello\n{root}\nexit code: 0"));
    }

    #[tokio::test]
    async fn nonzero_exit_is_ok_and_reported() {
        let (_dir, ctx) = ctx();
        let out = bash(&ctx, "echo out; echo oops >&2; exit 3").await.unwrap();
        assert!(out.contains("out\n"), "{out}");
        assert!(out.contains("oops\n"), "{out}");
        assert!(out.ends_with("exit code: 3"), "{out}");
    }

    #[tokio::test]
    async fn stdout_and_stderr_merge_in_order() {
        let (_dir, ctx) = ctx();
        let out = bash(
            &ctx,
            "echo one; sleep 0.05; echo two >&2; sleep 0.05; echo three",
        )
        .await
        .unwrap();
        assert_eq!(out, "one\ntwo\nthree\nexit code: 0");
    }

    #[tokio::test]
    async fn no_output_and_signal_are_described() {
        let (_dir, ctx) = ctx();
        let out = bash(&ctx, "true").await.unwrap();
        assert_eq!(out, "(no output)\nexit code: 0");
        let out = bash(&ctx, "kill -SEGV $$").await.unwrap();
        assert!(out.contains("killed by signal 11 (SIGSEGV)"), "{out}");
    }

    #[tokio::test]
    async fn nothing_waits_for_a_terminal() {
        let (_dir, ctx) = ctx();
        let out = bash(
            &ctx,
            "echo \"$GIT_TERMINAL_PROMPT $GIT_PAGER $PAGER $GIT_EDITOR $DEBIAN_FRONTEND\"",
        )
        .await
        .unwrap();
        assert_eq!(out, "0 cat cat true noninteractive\nexit code: 0");
    }

    #[tokio::test]
    async fn the_command_leads_its_own_session_and_process_group_without_a_terminal() {
        let (_dir, ctx) = ctx();
        // Fields 5 and 6 of /proc/<pid>/stat: process group and session.
        let out = bash(&ctx, "set -- $(cut -d' ' -f5,6 /proc/$$/stat); echo \"$$ $1 $2\"; exec 3</dev/tty && echo tty || echo no-tty")
            .await
            .unwrap();
        let first = out.lines().next().unwrap();
        let ids: Vec<&str> = first.split(' ').collect();
        assert_eq!(ids[0], ids[1], "its own process group: {out}");
        if setsid_program().is_some() {
            assert_eq!(ids[0], ids[2], "its own session: {out}");
            assert!(out.contains("no-tty"), "no controlling terminal: {out}");
        }
    }

    #[tokio::test]
    async fn per_call_timeout_is_capped_at_the_maximum() {
        let (_dir, ctx) = ctx();
        let tool = BashTool {
            default_timeout: Duration::from_secs(120),
            max_timeout: Duration::from_millis(200),
        };
        let err = tool
            .call(
                json!({"command": "sleep 5", "timeout_ms": 60_000}),
                ctx.clone(),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("timed out after 200 ms"), "{err}");
        assert_eq!(
            tool.input_schema()["properties"]["timeout_ms"]["maximum"],
            json!(200)
        );
    }

    #[tokio::test]
    async fn stdin_is_empty() {
        let (_dir, ctx) = ctx();
        let out = bash(&ctx, "cat; read -r line; echo \"read exit $?\"")
            .await
            .unwrap();
        assert_eq!(out, "read exit 1\nexit code: 0");
    }

    #[tokio::test]
    async fn large_output_keeps_head_and_tail() {
        let (_dir, ctx) = ctx();
        let out = bash(&ctx, "seq 1 200000").await.unwrap();
        assert!(out.starts_with("1\n2\n3\n"), "{}", &out[..50]);
        assert!(
            out.ends_with("199999\n200000\nexit code: 0"),
            "{}",
            &out[out.len() - 50..]
        );
        assert!(
            out.contains("middle cut: output was 1,288,895 bytes"),
            "no note"
        );
        assert!(out.chars().count() < MAX_OUTPUT_CHARS + 300);
    }

    #[tokio::test]
    async fn timeout_kills_the_group() {
        let (dir, ctx) = ctx();
        let pidfile = dir.path().join("pid");
        let started = StdInstant::now();
        let err = BashTool::default()
            .call(
                json!({
                    "command": format!("echo started; sleep 30 & echo $! > {}; wait", pidfile.display()),
                    "timeout_ms": 300
                }),
                ctx.clone(),
            )
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        let msg = match err {
            ToolError::Failed(msg) => msg,
            other => panic!("expected Failed, got {other:?}"),
        };
        assert!(msg.starts_with("started\n"), "{msg}");
        assert!(msg.contains("timed out after 300 ms"), "{msg}");
        assert_dies(wait_for_pid(&pidfile).await).await;
    }

    #[tokio::test]
    async fn cancel_returns_quickly_and_kills_the_group() {
        let (dir, ctx) = ctx();
        let pidfile = dir.path().join("pid");
        let command = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let call = BashTool::default().call(json!({ "command": command }), ctx.clone());
        let task = tokio::spawn(call);
        let pid = wait_for_pid(&pidfile).await;
        assert!(alive(pid));
        let cancelled_at = StdInstant::now();
        ctx.cancel.cancel();
        let result = task.await.unwrap();
        let took = cancelled_at.elapsed();
        assert!(matches!(result, Err(ToolError::Cancelled)), "{result:?}");
        assert!(took < Duration::from_millis(200), "cancel took {took:?}");
        assert_dies(pid).await;
    }

    #[tokio::test]
    async fn dropping_the_future_kills_the_group() {
        let (dir, ctx) = ctx();
        let pidfile = dir.path().join("pid");
        let command = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let mut call = BashTool::default().call(json!({ "command": command }), ctx.clone());
        let pid = tokio::select! {
            result = &mut call => panic!("the command ended early: {result:?}"),
            pid = wait_for_pid(&pidfile) => pid,
        };
        assert!(alive(pid));
        drop(call);
        assert_dies(pid).await;
    }

    #[tokio::test]
    async fn grandchild_holding_pipes_does_not_hang() {
        let (dir, ctx) = ctx();
        let pidfile = dir.path().join("pid");
        let started = StdInstant::now();
        let out = bash(
            &ctx,
            &format!("sleep 100 & echo $! > {}; echo hi", pidfile.display()),
        )
        .await
        .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(out.starts_with("hi\nexit code: 0"), "{out}");
        assert!(out.contains("background processes"), "{out}");
        assert_dies(wait_for_pid(&pidfile).await).await;
    }

    #[tokio::test]
    async fn background_process_with_redirected_output_is_killed() {
        let (dir, ctx) = ctx();
        let pidfile = dir.path().join("pid");
        let out = bash(
            &ctx,
            &format!(
                "sleep 100 >/dev/null 2>&1 & echo $! > {}",
                pidfile.display()
            ),
        )
        .await
        .unwrap();
        assert!(
            out.contains("left running by the command were killed"),
            "{out}"
        );
        assert_dies(wait_for_pid(&pidfile).await).await;
    }

    #[tokio::test]
    async fn bad_args_are_refused() {
        let (_dir, ctx) = ctx();
        let tool = BashTool::default();
        let err = tool
            .call(json!({"command": "  "}), ctx.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArgs(_)), "{err}");
        let err = tool
            .call(json!({"command": "true", "timeout_ms": 0}), ctx.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArgs(_)), "{err}");
        let err = tool
            .call(json!({"cmd": "true"}), ctx.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArgs(_)), "{err}");
    }

    /// True when some process on the machine runs `sleep <arg>`.
    fn sleeping(arg: &str) -> bool {
        let want = format!("sleep\0{arg}\0");
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .any(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == want.as_bytes()))
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
    async fn sandboxed_commands_report_like_plain_ones() {
        let (_dir, plain) = ctx();
        let (_dirs, boxed) = crate::test_support::sandboxed_ctx();
        for command in [
            "echo hello",
            "echo out; echo oops >&2; exit 3",
            "echo one; sleep 0.05; echo two >&2; sleep 0.05; echo three",
            "true",
            "kill -SEGV $$",
            "cat; read -r line; echo \"read exit $?\"",
            "echo \"$GIT_TERMINAL_PROMPT $GIT_PAGER $PAGER $GIT_EDITOR $DEBIAN_FRONTEND\"",
            // Its own session and process group, without a terminal.
            "read -r stat < /proc/self/stat; set -- $stat; [ $1 = $5 ] && [ $1 = $6 ] && echo leader; { exec 3</dev/tty; } 2>/dev/null && echo tty || echo no-tty",
        ] {
            let a = bash(&plain, command).await;
            let b = bash(&boxed, command).await;
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{command}");
        }
        let out = bash(&boxed, "echo x > f.txt && cat f.txt").await.unwrap();
        assert_eq!(out, "x\nexit code: 0");
        assert_eq!(boxed.workspace.changed_files(), vec!["f.txt"]);
    }

    /// What a watched workspace records of sandboxed and plain commands: the same.
    #[tokio::test]
    async fn a_watched_workspace_tracks_sandboxed_commands_like_plain_ones() {
        use crate::changes::{TrackerOptions, TrackingMode};
        let (_dir, plain) = ctx();
        let (_dirs, boxed) = crate::test_support::sandboxed_ctx();
        assert!(boxed.workspace.sandbox().is_active());
        let mut seen = Vec::new();
        for ctx in [&plain, &boxed] {
            let root = ctx.workspace.root();
            std::fs::create_dir_all(root.join("src/deep")).unwrap();
            std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
            for name in ["a", "b", "c"] {
                std::fs::write(root.join(format!("src/{name}.rs")), name).unwrap();
            }
            ctx.workspace.change_tracker().set_options(TrackerOptions {
                watch_threshold: 0,
                ..TrackerOptions::default()
            });
            bash(ctx, "true").await.unwrap();
            assert_eq!(
                ctx.workspace.change_tracker().mode(),
                TrackingMode::Watching,
                "{:?}",
                ctx.workspace.change_tracker().fallback()
            );
            for command in [
                "echo 1 >> src/a.rs && rm src/b.rs && mv src/c.rs src/c2.rs",
                "mkdir -p gen/x target && echo > gen/x/out.rs && mv gen gen2 && echo > target/ignored",
                // Forked into the background and writing after the command: killed with it
                // (the sandbox ends its whole process tree, `setsid` included).
                "(sleep 0.3; echo late > late-bg.txt) >/dev/null 2>&1 & echo started",
            ] {
                let out = bash(ctx, command).await.unwrap();
                assert!(out.contains("exit code: 0"), "{command}: {out}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            bash(ctx, "true").await.unwrap();
            assert!(!root.join("late-bg.txt").exists());
            seen.push(ctx.workspace.changes());
        }
        assert_eq!(seen[0], seen[1]);
        let paths: Vec<&str> = seen[1].iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "gen2/x/out.rs",
                "src/a.rs",
                "src/b.rs",
                "src/c.rs",
                "src/c2.rs"
            ]
        );
    }

    #[tokio::test]
    async fn sandboxed_background_processes_are_killed_and_reported() {
        let (_dirs, ctx) = crate::test_support::sandboxed_ctx();
        let out = bash(
            &ctx,
            "setsid sleep 130.5 >/dev/null 2>&1 & nohup sleep 130.25 >/dev/null 2>&1 & echo hi",
        )
        .await
        .unwrap();
        assert!(out.starts_with("hi\nexit code: 0"), "{out}");
        assert!(
            out.contains("left running by the command were killed"),
            "{out}"
        );
        assert_not_sleeping("130.5").await;
        assert_not_sleeping("130.25").await;
        // Holding the output open does not hang either.
        let started = StdInstant::now();
        let out = bash(&ctx, "sleep 130.75 & echo hi").await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(out.contains("background processes"), "{out}");
        assert_not_sleeping("130.75").await;
    }

    #[tokio::test]
    async fn sandboxed_timeout_cancel_and_drop_end_everything() {
        let (_dirs, ctx) = crate::test_support::sandboxed_ctx();
        let err = BashTool::default()
            .call(
                json!({"command": "setsid sleep 131.5 & echo started; sleep 131.25", "timeout_ms": 300}),
                ctx.clone(),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("timed out after 300 ms"), "{err}");
        assert_not_sleeping("131.5").await;
        assert_not_sleeping("131.25").await;

        let call = BashTool::default().call(
            json!({ "command": "setsid sleep 132.5 & sleep 132.25" }),
            ctx.clone(),
        );
        let task = tokio::spawn(call);
        for _ in 0..200 {
            if sleeping("132.5") && sleeping("132.25") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(sleeping("132.5"));
        let cancelled_at = StdInstant::now();
        ctx.cancel.cancel();
        let result = task.await.unwrap();
        assert!(matches!(result, Err(ToolError::Cancelled)), "{result:?}");
        assert!(cancelled_at.elapsed() < Duration::from_millis(500));
        assert_not_sleeping("132.5").await;
        assert_not_sleeping("132.25").await;

        let (_dirs, ctx) = crate::test_support::sandboxed_ctx();
        let mut call = BashTool::default().call(
            json!({ "command": "setsid sleep 133.5 & sleep 133.25" }),
            ctx.clone(),
        );
        for _ in 0..200 {
            tokio::select! {
                result = &mut call => panic!("ended early: {result:?}"),
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
            if sleeping("133.5") {
                break;
            }
        }
        drop(call);
        assert_not_sleeping("133.5").await;
        assert_not_sleeping("133.25").await;
    }

    /// A cancelled call returns only once the command's whole tree is reaped: nothing of
    /// it is alive when the call ends `cancelled` (no polling here).
    #[tokio::test]
    async fn a_cancelled_sandboxed_call_returns_after_its_tree_is_reaped() {
        let (_dirs, ctx) = crate::test_support::sandboxed_ctx();
        for round in 0..10 {
            let (a, b) = (format!("134.{round}5"), format!("134.{round}25"));
            let ctx = ToolContext {
                cancel: tokio_util::sync::CancellationToken::new(),
                ..ctx.clone()
            };
            let call = BashTool::default().call(
                json!({ "command": format!("setsid sleep {a} >/dev/null 2>&1 & exec sleep {b}") }),
                ctx.clone(),
            );
            let task = tokio::spawn(call);
            for _ in 0..300 {
                if sleeping(&a) && sleeping(&b) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(sleeping(&a) && sleeping(&b), "round {round}: never started");
            ctx.cancel.cancel();
            let result = task.await.unwrap();
            assert!(matches!(result, Err(ToolError::Cancelled)), "{result:?}");
            assert!(
                !sleeping(&a) && !sleeping(&b),
                "round {round}: alive after the call ended"
            );
        }
    }

    #[tokio::test]
    async fn a_blocked_command_is_told_it_was_the_sandbox() {
        let (_dirs, ctx) = crate::test_support::sandboxed_ctx();
        let outside = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let target = outside.path().join("x.txt");
        let out = bash(&ctx, &format!("echo x > {}", target.display()))
            .await
            .unwrap();
        assert!(out.contains("Permission denied"), "{out}");
        assert!(
            out.contains("[sandbox]") && out.contains("Do not retry"),
            "{out}"
        );
        assert!(!target.exists());
        // A failure that is not the sandbox's gets no note.
        let out = bash(&ctx, "exit 1").await.unwrap();
        assert!(!out.contains("[sandbox]"), "{out}");
    }

    #[test]
    fn capture_keeps_head_and_tail_on_char_boundaries() {
        let mut capture = Capture::default();
        let chunk = "é".repeat(KEEP_BYTES); // 2 bytes each
        capture.push(chunk.as_bytes());
        capture.push(b"x");
        capture.push(chunk.as_bytes());
        assert_eq!(capture.total, 4 * KEEP_BYTES as u64 + 1);
        let out = capture.finish(100);
        assert!(!out.contains('\u{fffd}'), "{out}");
        assert!(out.starts_with("éé"));
        assert!(out.ends_with("éé"));
        assert!(out.contains("middle cut"), "{out}");
    }

    #[test]
    fn partial_utf8_sequences_are_trimmed() {
        let s = "aé😀".as_bytes();
        assert_eq!(trim_partial_end(&s[..s.len() - 1]), "aé".as_bytes());
        assert_eq!(trim_partial_end(s), s);
        assert_eq!(trim_partial_end(&s[..2]), b"a");
        assert_eq!(trim_partial_start(&s[2..]), "😀".as_bytes());
        assert_eq!(trim_partial_start(&s[4..]), b"");
    }
}
