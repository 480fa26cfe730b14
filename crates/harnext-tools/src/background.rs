//! Background shells: `bash` with `background: true` starts a command that keeps running
//! (a dev server, a watcher) and returns at once with an id; `bash_output` reads what it
//! printed since the last read, `bash_kill` stops it.
//!
//! The shells of a run live in its [`Workspace`] ([`Workspace::background_shells`]), one
//! per run, and die with it:
//! - a command starts like any `bash` command ([`crate::bash`]): in the sandbox when there
//!   is one (its own PID namespace, or under the sandbox's subreaper); without a sandbox,
//!   unconfined but under a subreaper monitor all the same (Linux; elsewhere its own
//!   process group); killing it ends its whole process tree, `setsid`, `nohup` and
//!   double forks included, and the kill is done once the tree is reaped;
//! - the run's end (success, failure, cancellation, an interrupt that ends the run)
//!   calls [`BackgroundShells::shutdown`], which kills every shell and waits until each
//!   is reaped and its changes are recorded, before the run's result is made;
//! - a run dropped without ending (its future dropped) drops its workspace, whose
//!   [`BackgroundShells`] kills every shell on drop, synchronously.
//!
//! An interrupt that goes on with a new message keeps the shells: the session goes on,
//! and a dev server the model started is still wanted.
//!
//! Limits: at most [`MAX_BACKGROUND_SHELLS`] running at once per run (the next start
//! fails, naming them); each keeps the newest [`MAX_BUFFERED_BYTES`] bytes of output not
//! read yet (a read says how many bytes were dropped); a read returns at most
//! [`crate::MAX_OUTPUT_CHARS`] characters (the rest waits for the next read); output is
//! decoded as UTF-8, invalid bytes replaced. Ended shells keep their unread output and
//! status; past [`MAX_ENDED_KEPT`] ended shells, the oldest ones' output is discarded.
//!
//! Change tracking: a background command counts as a running command of the workspace's
//! change tracker for its whole life, so the files it writes are recorded (and appear in
//! `filesChanged`) at the next `bash` call and when it ends (by itself, killed, or at the
//! run's end) — not at the moment it writes them.

use std::collections::VecDeque;
use std::io;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::bash::{describe_status, read_some, start, Kill, GRACE};
use crate::changes;
use crate::output::group_digits;
use crate::schema::schema_for;
use crate::{parse_args, Tool, ToolContext, ToolError, MAX_OUTPUT_CHARS};

/// The most background shells running at once in one run.
pub const MAX_BACKGROUND_SHELLS: usize = 8;
/// Bytes of unread output kept per shell: the newest; older ones are dropped (and
/// counted).
pub const MAX_BUFFERED_BYTES: usize = 256 * 1024;
/// Ended shells whose unread output is kept; older ended shells keep their status only.
pub const MAX_ENDED_KEPT: usize = 16;
/// How long `bash_kill` and the run's end wait for a killed shell to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// The background shells of one run (see the module documentation).
#[derive(Default)]
pub struct BackgroundShells {
    state: Mutex<State>,
}

impl std::fmt::Debug for BackgroundShells {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundShells")
            .field("running", &self.running())
            .finish()
    }
}

#[derive(Default)]
struct State {
    /// The number of the last id given (`bash_1`, `bash_2`, ...).
    last: u64,
    /// In order of start.
    shells: Vec<Shell>,
    /// The run has ended: no new shell starts.
    closed: bool,
}

struct Shell {
    id: String,
    command: String,
    out: Arc<Mutex<Output>>,
    kill: Kill,
    /// True once the shell has ended and been reaped.
    done: watch::Receiver<bool>,
    task: tokio::task::AbortHandle,
}

impl Shell {
    fn ended(&self) -> bool {
        *self.done.borrow()
    }

    fn out(&self) -> MutexGuard<'_, Output> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Kills it (unless it has already ended), saying why.
    fn kill(&self, why: &'static str) {
        if self.ended() {
            return;
        }
        {
            let mut out = self.out();
            if out.ended.is_some() || out.reaped {
                return;
            }
            out.killed_by.get_or_insert(why);
        }
        self.kill.kill();
    }
}

/// What a shell printed and not read yet, and how it ended.
#[derive(Default)]
struct Output {
    buf: VecDeque<u8>,
    /// Bytes dropped since the last read (the buffer was full).
    dropped: u64,
    /// Set by a kill: why it was killed.
    killed_by: Option<&'static str>,
    /// How it ended, once it has.
    ended: Option<String>,
    /// Its unread output was discarded (too many ended shells).
    discarded: bool,
    /// Its sandbox's monitor was reaped, and with it the whole tree: nothing to kill
    /// (and its pid may be another process's by now).
    reaped: bool,
}

impl Output {
    fn push(&mut self, chunk: &[u8]) {
        self.buf.extend(chunk);
        if self.buf.len() > MAX_BUFFERED_BYTES {
            let excess = self.buf.len() - MAX_BUFFERED_BYTES;
            self.buf.drain(..excess);
            self.dropped += excess as u64;
        }
    }

    /// Takes the oldest unread output, at most `limit` characters of it, cut on a
    /// character boundary; invalid UTF-8 becomes U+FFFD. A character still being
    /// written (cut at the end of the buffer) waits for the next read, unless the shell
    /// has ended.
    fn take(&mut self, limit: usize) -> String {
        // A character is at most 4 bytes.
        let front: Vec<u8> = self
            .buf
            .iter()
            .take(limit.saturating_mul(4))
            .copied()
            .collect();
        // The rest of a character whose start was dropped.
        let mut used = front
            .iter()
            .take(3)
            .take_while(|&&b| b & 0xC0 == 0x80)
            .count();
        let mut text = String::new();
        let mut chars = 0;
        while chars < limit && used < front.len() {
            let rest = &front[used..];
            let (valid, bad) = match std::str::from_utf8(rest) {
                Ok(s) => (s, None),
                Err(e) => (
                    std::str::from_utf8(&rest[..e.valid_up_to()]).unwrap_or_default(),
                    Some(e.error_len()),
                ),
            };
            for c in valid.chars() {
                if chars == limit {
                    break;
                }
                text.push(c);
                used += c.len_utf8();
                chars += 1;
            }
            if chars == limit {
                break;
            }
            match bad {
                None => break,
                Some(Some(n)) => {
                    text.push('\u{fffd}');
                    chars += 1;
                    used += n;
                }
                Some(None) => {
                    if self.ended.is_some() && front.len() == self.buf.len() {
                        text.push('\u{fffd}');
                        used = front.len();
                    }
                    break;
                }
            }
        }
        self.buf.drain(..used.min(self.buf.len()));
        text
    }
}

/// How a shell's watcher task ends it.
struct Watch {
    out: Arc<Mutex<Output>>,
    done: watch::Sender<bool>,
    timeout: Option<Duration>,
}

impl BackgroundShells {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ids of the shells running now.
    pub fn running(&self) -> Vec<String> {
        self.lock()
            .shells
            .iter()
            .filter(|s| !s.ended())
            .map(|s| s.id.clone())
            .collect()
    }

    /// Starts `command` in the background; the text the model sees (its id).
    pub(crate) async fn start(
        &self,
        command: &str,
        timeout: Option<Duration>,
        ctx: &ToolContext,
    ) -> Result<String, ToolError> {
        self.check_room()?;
        if ctx.cancel.is_cancelled() {
            return Err(ToolError::Cancelled);
        }
        let tracking = changes::before_command(ctx)
            .await?
            .map(changes::Command::detach);
        let (mut running, guard) = start(command, ctx, true)?;
        let Some(kill) = guard.handle() else {
            return Err(ToolError::Failed(
                "could not start bash: no process to watch".to_owned(),
            ));
        };
        let child = running.child();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let out = Arc::new(Mutex::new(Output::default()));
        let (done_tx, done_rx) = watch::channel(false);
        let watch = Watch {
            out: out.clone(),
            done: done_tx,
            timeout,
        };
        let refused = {
            let state = self.lock();
            if state.closed {
                Some(closed())
            } else {
                room(&state).err()
            }
        };
        if let Some(err) = refused {
            // Killed as `guard` drops; the tracker forgets it.
            drop(guard);
            let _ = tokio::time::timeout(GRACE, running.wait()).await;
            return Err(err);
        }
        let task = tokio::spawn(watch_shell(running, guard, stdout, stderr, tracking, watch));
        let mut state = self.lock();
        state.last += 1;
        let id = format!("bash_{}", state.last);
        let shell = Shell {
            id: id.clone(),
            command: command.to_owned(),
            out,
            kill,
            done: done_rx,
            task: task.abort_handle(),
        };
        if state.closed {
            // The run ended meanwhile.
            shell.kill("the run ended");
        }
        state.shells.push(shell);
        forget_old_output(&mut state);
        drop(state);
        let mut text = format!(
            "Started in the background with id {id}. It runs until it exits, you stop it with \
             bash_kill, or the run ends. Read what it prints (stdout and stderr) with \
             bash_output {{\"id\": \"{id}\"}}."
        );
        let sandbox = ctx.sandbox();
        if sandbox.is_active() && !sandbox.status().network {
            text.push_str(
                " Note: in this sandbox each command has a network of its own, so another \
                 command cannot connect to a server it starts; run a server and what talks \
                 to it in one command, or tell the user that network access must be on.",
            );
        }
        Ok(text)
    }

    fn check_room(&self) -> Result<(), ToolError> {
        let state = self.lock();
        if state.closed {
            return Err(closed());
        }
        room(&state)
    }

    /// What `id` printed since the last read, and whether it still runs.
    pub(crate) fn output(&self, id: &str) -> Result<String, ToolError> {
        let state = self.lock();
        let shell = find(&state, id)?;
        let ended = shell.ended();
        let mut out = shell.out();
        let mut text = String::new();
        if out.discarded {
            text.push_str(&format!(
                "[its unread output was discarded: only the output of the last {MAX_ENDED_KEPT} ended background commands is kept]\n"
            ));
        }
        if out.dropped > 0 {
            text.push_str(&format!(
                "[{} bytes of earlier output were dropped: only the newest {} bytes not read yet are kept]\n",
                group_digits(out.dropped),
                group_digits(MAX_BUFFERED_BYTES as u64)
            ));
            out.dropped = 0;
        }
        let new = out.take(MAX_OUTPUT_CHARS);
        if new.is_empty() {
            text.push_str("(no new output)\n");
        } else {
            text.push_str(&new);
            if !new.ends_with('\n') {
                text.push('\n');
            }
        }
        if !out.buf.is_empty() {
            text.push_str(&format!(
                "[{} more bytes not shown yet: call bash_output again]\n",
                group_digits(out.buf.len() as u64)
            ));
        }
        text.push_str(&status_line(&shell.id, ended, &out));
        Ok(text)
    }

    /// Kills `id` and its process tree, and waits (a moment) until it is reaped.
    pub(crate) async fn kill(&self, id: &str) -> Result<String, ToolError> {
        let mut done = {
            let state = self.lock();
            let shell = find(&state, id)?;
            if shell.ended() {
                let out = shell.out();
                return Ok(format!(
                    "{id} had already ended; nothing to kill. {}",
                    status_line(id, true, &out)
                ));
            }
            shell.kill("bash_kill");
            shell.done.clone()
        };
        if tokio::time::timeout(KILL_WAIT, done.wait_for(|d| *d))
            .await
            .is_err()
        {
            return Err(ToolError::Failed(format!(
                "{id} was sent SIGKILL but has not ended after {} ms",
                KILL_WAIT.as_millis()
            )));
        }
        let state = self.lock();
        let shell = find(&state, id)?;
        let out = shell.out();
        let mut text = format!("Killed {id}.");
        if !out.buf.is_empty() {
            text.push_str(&format!(
                " It left {} bytes of output not read yet (bash_output returns them).",
                group_digits(out.buf.len() as u64)
            ));
        }
        text.push('\n');
        text.push_str(&status_line(id, true, &out));
        Ok(text)
    }

    /// The run's end: no new shell starts; every running one is killed, and this waits
    /// until each is reaped and its changes recorded (a couple of seconds at most).
    pub async fn shutdown(&self) {
        self.stop(true, "the run ended").await;
    }

    /// Kills every running shell (`why` says why, to `bash_output`) and waits until
    /// each is reaped; new ones may start.
    pub async fn kill_all(&self, why: &'static str) {
        self.stop(false, why).await;
    }

    async fn stop(&self, close: bool, why: &'static str) {
        let mut waits = Vec::new();
        {
            let mut state = self.lock();
            state.closed |= close;
            for shell in &state.shells {
                if !shell.ended() {
                    shell.kill(why);
                    waits.push(shell.done.clone());
                }
            }
        }
        let all = futures::future::join_all(waits.iter_mut().map(|d| async move {
            let _ = d.wait_for(|d| *d).await;
        }));
        let _ = tokio::time::timeout(KILL_WAIT, all).await;
    }
}

impl Drop for BackgroundShells {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        for shell in &state.shells {
            shell.kill("the run ended");
            shell.task.abort();
        }
    }
}

fn closed() -> ToolError {
    ToolError::Failed("the run is ending: no background command can start".to_owned())
}

fn room(state: &State) -> Result<(), ToolError> {
    let running: Vec<&str> = state
        .shells
        .iter()
        .filter(|s| !s.ended())
        .map(|s| s.id.as_str())
        .collect();
    if running.len() >= MAX_BACKGROUND_SHELLS {
        return Err(ToolError::Failed(format!(
            "{} background commands are already running ({}), the most a run may have: stop one with bash_kill before starting another",
            running.len(),
            running.join(", ")
        )));
    }
    Ok(())
}

fn find<'a>(state: &'a State, id: &str) -> Result<&'a Shell, ToolError> {
    state.shells.iter().find(|s| s.id == id).ok_or_else(|| {
        let known: Vec<String> = state
            .shells
            .iter()
            .map(|s| {
                format!(
                    "{} ({}: {})",
                    s.id,
                    if s.ended() { "ended" } else { "running" },
                    short(&s.command)
                )
            })
            .collect();
        ToolError::Failed(if known.is_empty() {
            format!("no background command has the id {id:?}: none was started in this run (start one with bash and background: true)")
        } else {
            format!(
                "no background command has the id {id:?}; this run's are: {}",
                known.join(", ")
            )
        })
    })
}

/// The start of a command, for naming it.
fn short(command: &str) -> String {
    let line = command.lines().next().unwrap_or_default();
    let mut s: String = line.chars().take(40).collect();
    if s.len() < command.len() {
        s.push('…');
    }
    s
}

fn status_line(id: &str, ended: bool, out: &Output) -> String {
    match (&out.ended, out.killed_by) {
        (Some(_), Some(why)) => format!("{id}: killed ({why})"),
        (Some(how), None) => format!("{id}: ended, {how}"),
        (None, _) if ended => format!("{id}: ended"),
        (None, _) => format!("{id}: running"),
    }
}

/// Past [`MAX_ENDED_KEPT`] ended shells, the oldest ones' unread output goes.
fn forget_old_output(state: &mut State) {
    let ended: Vec<&Shell> = state.shells.iter().filter(|s| s.ended()).collect();
    if ended.len() <= MAX_ENDED_KEPT {
        return;
    }
    for shell in &ended[..ended.len() - MAX_ENDED_KEPT] {
        let mut out = shell.out();
        if !out.buf.is_empty() {
            out.buf = VecDeque::new();
            out.discarded = true;
        }
    }
}

/// Reads the shell's output into its buffer until it ends, then reaps it, kills what it
/// left behind and records the files it changed.
async fn watch_shell(
    mut running: crate::bash::Running,
    mut guard: crate::bash::GroupGuard,
    mut stdout: Option<tokio::process::ChildStdout>,
    mut stderr: Option<tokio::process::ChildStderr>,
    tracking: Option<changes::Detached>,
    watch: Watch,
) {
    let push = |chunk: &[u8]| {
        watch
            .out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(chunk);
    };
    let mut out_buf = vec![0u8; 8192];
    let mut err_buf = vec![0u8; 8192];
    let mut status: Option<io::Result<ExitStatus>> = None;
    let mut timed_out = false;
    let mut left_behind = false;
    let mut setup_error = None;
    let far = Duration::from_secs(86_400 * 365);
    let mut wake = Instant::now() + watch.timeout.unwrap_or(far);
    loop {
        if status.is_some() && stdout.is_none() && stderr.is_none() {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {
                if status.is_none() && !timed_out {
                    timed_out = true;
                    guard.kill();
                    wake = Instant::now() + GRACE;
                } else {
                    break;
                }
            }
            (result, left, failed) = running.wait(), if status.is_none() => {
                status = Some(result);
                left_behind = left;
                setup_error = failed;
                if running.reaps_its_tree() {
                    watch.out.lock().unwrap_or_else(|e| e.into_inner()).reaped = true;
                }
                if !timed_out {
                    wake = Instant::now() + GRACE;
                }
            }
            read = read_some(&mut stdout, &mut out_buf) => match read {
                Ok(n) if n > 0 => push(out_buf.get(..n).unwrap_or_default()),
                _ => stdout = None,
            },
            read = read_some(&mut stderr, &mut err_buf) => match read {
                Ok(n) if n > 0 => push(err_buf.get(..n).unwrap_or_default()),
                _ => stderr = None,
            },
        }
    }
    // What is left of its process tree goes now (a sandboxed command that was reaped
    // took its whole tree with it).
    let leftovers = if status.is_some() && running.reaps_its_tree() {
        guard.disarm();
        left_behind
    } else {
        guard.kill()
    };
    if status.is_none() {
        status = tokio::time::timeout(GRACE, running.wait())
            .await
            .ok()
            .map(|(result, _, _)| result);
    }
    drop(stdout);
    drop(stderr);
    let _ = changes::after_detached(tracking).await;
    let mut how = describe_status(status);
    if let Some(problem) = setup_error {
        how = format!("did not start: {problem}");
    } else if timed_out {
        how = format!(
            "timed out after {} ms and was killed",
            watch.timeout.unwrap_or_default().as_millis()
        );
    } else if leftovers {
        how.push_str(" (processes it left running were killed)");
    }
    {
        let mut out = watch.out.lock().unwrap_or_else(|e| e.into_inner());
        if timed_out {
            out.killed_by.get_or_insert("timed out");
        }
        out.ended = Some(how);
    }
    let _ = watch.done.send(true);
}

// The arguments of `bash_output` and `bash_kill` (no doc comment: it would be the schema's description).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct IdArgs {
    /// The id `bash` returned when it started the command in the background (`bash_1`, ...).
    id: String,
}

const OUTPUT_DESCRIPTION: &str = "Read what a background command (started with bash and \
`background: true`) printed since the last read, stdout and stderr together, and whether it \
is still running or how it ended. Returns at once, without waiting for more output: to wait, \
run a bash command such as `sleep 2` between reads. At most 30000 characters a read (call \
again for the rest); only the newest 256 KiB not read yet are kept, and a read says how \
much older output was dropped.";

const KILL_DESCRIPTION: &str = "Stop a background command (started with bash and \
`background: true`) and every process it started. Its output not read yet can still be read \
with bash_output. Background commands are also stopped when the run ends.";

/// `bash_output`: reads a background command's new output.
#[derive(Clone, Debug, Default)]
pub struct BashOutputTool;

/// `bash_kill`: stops a background command.
#[derive(Clone, Debug, Default)]
pub struct BashKillTool;

impl Tool for BashOutputTool {
    fn name(&self) -> &str {
        "bash_output"
    }

    fn description(&self) -> &str {
        OUTPUT_DESCRIPTION
    }

    fn input_schema(&self) -> Value {
        schema_for::<IdArgs>()
    }

    fn read_only(&self) -> bool {
        true
    }

    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'static, Result<String, ToolError>> {
        Box::pin(async move {
            let args: IdArgs = parse_args(args)?;
            ctx.workspace.background_shells().output(args.id.trim())
        })
    }
}

impl Tool for BashKillTool {
    fn name(&self) -> &str {
        "bash_kill"
    }

    fn description(&self) -> &str {
        KILL_DESCRIPTION
    }

    fn input_schema(&self) -> Value {
        schema_for::<IdArgs>()
    }

    /// It only stops what this run started: it never asks for approval.
    fn read_only(&self) -> bool {
        true
    }

    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'static, Result<String, ToolError>> {
        Box::pin(async move {
            let args: IdArgs = parse_args(args)?;
            ctx.workspace.background_shells().kill(args.id.trim()).await
        })
    }
}

#[cfg(test)]
mod tests;
