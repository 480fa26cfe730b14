//! The OS sandbox of the commands harnext runs (the `bash` tool, MCP stdio servers).
//!
//! A [`Sandbox`] is built once per agent from a [`SandboxConfig`]: it probes what the
//! system can enforce and fails with [`SandboxError::Unenforceable`] when the asked
//! mode cannot be enforced (unless the configuration allows best effort). Its
//! [`SandboxStatus`] says honestly what is enforced, for the system prompt, the
//! `run_start` event and a command line's header. Commands are then started with
//! [`Sandbox::command`] and [`SandboxCommand::spawn`]:
//!
//! - Linux: Landlock confines reads and writes (and TCP without a network namespace);
//!   user, PID, mount, IPC and network namespaces where the system allows them; each
//!   command in its own PID namespace (or under a child subreaper), so nothing it starts
//!   outlives it; the command cannot read harnext's memory or environment.
//! - macOS: a Seatbelt profile (`sandbox-exec`), see [`seatbelt`].
//! - Every mode but `off`: the environment loses provider keys and secret-looking
//!   variables ([`EnvPolicy`]).
//!
//! The crate also holds [`private_file`], used by the session store to open its files
//! without following symbolic links.

pub mod env;
#[cfg(target_os = "linux")]
mod linux;
mod paths;
pub mod private_file;
pub mod seatbelt;

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;

pub use env::EnvPolicy;
pub use paths::DEFAULT_DENY_READ;

/// How commands are confined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// No sandbox: commands run as the user, with the agent's environment.
    Off,
    /// Commands read what the user can (but the credential folders) and write nowhere.
    ReadOnly,
    /// Commands write only in the workspace, the temp directories and the writable
    /// roots.
    #[default]
    WorkspaceWrite,
}

impl SandboxMode {
    pub const ALL: [&'static str; 3] = ["workspace-write", "read-only", "off"];

    pub fn parse(s: &str) -> Option<SandboxMode> {
        match s {
            "workspace-write" => Some(SandboxMode::WorkspaceWrite),
            "read-only" => Some(SandboxMode::ReadOnly),
            "off" => Some(SandboxMode::Off),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::Off => "off",
            SandboxMode::ReadOnly => "read-only",
            SandboxMode::WorkspaceWrite => "workspace-write",
        }
    }
}

impl std::fmt::Display for SandboxMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the user asked for (the agent options `sandbox`, `network`, `writable_roots`,
/// `deny_read`, `env_allow`, `env_deny`, `sandbox_best_effort`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxConfig {
    pub mode: SandboxMode,
    /// Commands may open network connections.
    pub network: bool,
    /// More directories commands may write in (`workspace-write`); relative ones are
    /// relative to the workspace. They must exist.
    pub writable_roots: Vec<PathBuf>,
    /// More paths commands may not read (besides [`DEFAULT_DENY_READ`] and the session
    /// directory); relative ones are relative to the workspace.
    pub deny_read: Vec<PathBuf>,
    /// The environment's allow and deny lists.
    pub env: EnvPolicy,
    /// Run with what the system can enforce instead of failing when it cannot enforce
    /// all of the mode; the status says what is missing.
    pub best_effort: bool,
}

/// A sandbox that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// The system cannot enforce the mode that was asked for.
    #[error("sandbox \"{mode}\" cannot be enforced on this system: {}. Use sandbox \"off\", or allow best effort to run with what can be enforced", .missing.join("; "))]
    Unenforceable {
        mode: SandboxMode,
        missing: Vec<String>,
    },
    /// A path of the configuration is unusable.
    #[error("{0}")]
    InvalidPath(String),
}

/// What a sandbox enforces, for people and models.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SandboxStatus {
    /// The mode asked for.
    pub requested: SandboxMode,
    /// The mode in force: the requested one, or `off` when nothing confines commands.
    pub enforced: SandboxMode,
    /// Commands may open network connections (asked for, or not blockable here).
    pub network: bool,
    /// Whether some of the requested mode is not enforced (best effort).
    pub partial: bool,
    /// One paragraph: what commands can and cannot do, and how it is enforced.
    pub summary: String,
    /// What the system could not enforce.
    pub missing: Vec<String>,
}

/// Which process is started: a shell command (its own session; ending it ends
/// everything it started) or a long-lived server (SIGTERM reaches it for a graceful
/// stop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessKind {
    Shell,
    Server,
}

enum Imp {
    Off,
    #[cfg(target_os = "linux")]
    Linux(Arc<linux::LinuxSandbox>),
    #[cfg(target_os = "macos")]
    Seatbelt(Arc<String>),
}

/// A built sandbox. Cheap to share (`Arc`).
pub struct Sandbox {
    config: SandboxConfig,
    status: SandboxStatus,
    layout: paths::Layout,
    imp: Imp,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// No sandbox: commands run as they always did.
    pub fn off() -> Sandbox {
        Sandbox {
            config: SandboxConfig {
                mode: SandboxMode::Off,
                network: true,
                ..SandboxConfig::default()
            },
            status: SandboxStatus {
                requested: SandboxMode::Off,
                enforced: SandboxMode::Off,
                network: true,
                partial: false,
                summary: "No sandbox: shell commands run with the user's permissions, \
                          environment and network access."
                    .to_owned(),
                missing: Vec::new(),
            },
            layout: paths::Layout::default(),
            imp: Imp::Off,
        }
    }

    /// Builds the sandbox of an agent working in `workspace`, whose sessions are kept in
    /// `session_dir` (which commands may not read).
    pub fn new(
        config: &SandboxConfig,
        workspace: &Path,
        session_dir: Option<&Path>,
    ) -> Result<Sandbox, SandboxError> {
        Sandbox::with_home(config, workspace, session_dir, paths::home_dir().as_deref())
    }

    /// [`Sandbox::new`] with the home directory given (whose credential folders are
    /// denied) instead of taken from `$HOME`.
    pub fn with_home(
        config: &SandboxConfig,
        workspace: &Path,
        session_dir: Option<&Path>,
        home: Option<&Path>,
    ) -> Result<Sandbox, SandboxError> {
        if config.mode == SandboxMode::Off {
            let mut off = Sandbox::off();
            off.config = config.clone();
            off.config.network = true;
            return Ok(off);
        }
        let layout =
            paths::Layout::new(config, workspace, session_dir, home.map(Path::to_path_buf))?;
        build(config, layout)
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    pub fn status(&self) -> &SandboxStatus {
        &self.status
    }

    /// True when commands are confined in some way (the enforced mode is not `off`).
    pub fn is_active(&self) -> bool {
        !matches!(self.imp, Imp::Off)
    }

    /// A copy for one call the user allowed to do more: with the network on, and/or
    /// writing in more directories.
    pub fn escalated(
        &self,
        network: bool,
        extra_writable: &[PathBuf],
    ) -> Result<Sandbox, SandboxError> {
        if matches!(self.imp, Imp::Off) {
            return Ok(Sandbox::off());
        }
        let mut config = self.config.clone();
        config.network |= network;
        config.writable_roots.extend(extra_writable.iter().cloned());
        config.best_effort = true;
        let mut layout = paths::Layout::new(
            &config,
            &self.layout.workspace,
            None,
            self.layout.home.clone(),
        )?;
        layout.denied = self.layout.denied.clone();
        build(&config, layout)
    }

    /// What the system prompt says about the shell, in one or two sentences.
    pub fn prompt_text(&self) -> String {
        if !self.is_active() {
            return "Shell commands run without a sandbox, with the user's permissions.".to_owned();
        }
        let mut text = String::from("Shell commands run in an OS sandbox: ");
        text.push_str(&self.capabilities());
        text.push_str(
            " A command the sandbox blocks fails (permission denied, read-only file system, \
             network unreachable); do not retry it or work around it: tell the user what \
             was blocked, and they can allow it in the agent's sandbox settings.",
        );
        text
    }

    /// What commands can do, as sentences.
    fn capabilities(&self) -> String {
        let l = &self.layout;
        let mut parts = Vec::new();
        match self.status.enforced {
            SandboxMode::WorkspaceWrite => {
                let mut dirs: Vec<String> = l.writable.iter().map(|p| l.show(p)).collect();
                dirs.dedup();
                parts.push(format!("they can write only in {}", dirs.join(", ")));
            }
            SandboxMode::ReadOnly => parts.push("they cannot write files".to_owned()),
            SandboxMode::Off => {}
        }
        if !l.denied.is_empty() {
            let denied: Vec<String> = l.denied.iter().map(|p| l.show(p)).collect();
            parts.push(format!("they cannot read {}", denied.join(", ")));
        }
        if !self.status.network {
            parts.push("they have no network access".to_owned());
        }
        parts.push(
            "secret-looking environment variables (API keys, tokens, passwords) are removed"
                .to_owned(),
        );
        parts.push("background processes are killed when the command ends".to_owned());
        let mut s = parts.join("; ");
        s.push('.');
        s
    }

    /// A note for a failed command's output that may come from the sandbox: what was
    /// blocked and how the user can allow it. `None` when nothing in `output` looks
    /// like a refusal, or when there is no sandbox.
    pub fn blocked_hint(&self, output: &str) -> Option<String> {
        if !self.is_active() {
            return None;
        }
        let lower = output.to_ascii_lowercase();
        let write_denied = [
            "permission denied",
            "operation not permitted",
            "read-only file system",
            "eacces",
            "eperm",
            "erofs",
        ]
        .iter()
        .any(|s| lower.contains(s));
        let network_denied = !self.status.network
            && [
                "network is unreachable",
                "could not resolve host",
                "temporary failure in name resolution",
                "name or service not known",
                "enetunreach",
                "eai_again",
                "getaddrinfo",
                "failed to connect",
                "couldn't connect",
                "connection refused",
                "econnrefused",
                "fetch failed",
            ]
            .iter()
            .any(|s| lower.contains(s));
        if !write_denied && !network_denied {
            return None;
        }
        let mut note = String::from("[sandbox] This command ran in the sandbox (");
        note.push_str(self.status.enforced.as_str());
        if !self.status.network {
            note.push_str(", no network");
        }
        note.push_str("), and the error above is what the sandbox does to a blocked operation: ");
        let mut what = Vec::new();
        if write_denied {
            what.push(format!(
                "{} outside the writable directories and reading the protected paths are refused",
                if self.status.enforced == SandboxMode::ReadOnly {
                    "writing anywhere"
                } else {
                    "writing"
                }
            ));
        }
        if network_denied {
            what.push("network connections are refused".to_owned());
        }
        note.push_str(&what.join("; "));
        note.push_str(
            ". Do not retry it or look for a way around it. If it is needed, tell the user: \
             they can allow it by adding a writable root, turning network access on, or \
             approving this one call with the sandbox relaxed.",
        );
        Some(note)
    }

    /// A command for `program`, with the sandbox's environment (provider keys and
    /// secret-looking variables removed). Set its arguments, directory, stdio and
    /// extra variables, then [`SandboxCommand::spawn`] it.
    pub fn command(&self, program: impl AsRef<OsStr>, kind: ProcessKind) -> SandboxCommand {
        let mut cmd = std::process::Command::new(program.as_ref());
        let contain = match &self.imp {
            Imp::Off => Contain::Group,
            #[cfg(target_os = "linux")]
            Imp::Linux(linux) => {
                cmd.env_clear();
                cmd.envs(self.config.env.filter(std::env::vars_os()));
                Contain::Linux(linux.clone(), kind)
            }
            #[cfg(target_os = "macos")]
            Imp::Seatbelt(profile) => {
                cmd.env_clear();
                cmd.envs(self.config.env.filter(std::env::vars_os()));
                let mut wrapped = std::process::Command::new("/usr/bin/sandbox-exec");
                wrapped
                    .arg("-p")
                    .arg(profile.as_str())
                    .arg("--")
                    .arg(program.as_ref());
                wrapped.env_clear();
                wrapped.envs(self.config.env.filter(std::env::vars_os()));
                cmd = wrapped;
                Contain::Group
            }
        };
        SandboxCommand { cmd, contain }
    }
}

/// A shell command kept together without being confined, for a command that outlives
/// its call (a background shell) when there is no sandbox: on Linux it runs under a
/// child subreaper monitor (as the sandbox's, without namespaces, Landlock or a changed
/// environment), so that killing it ends its whole process tree, `setsid` and double
/// forks included, and waiting for it waits for that tree; elsewhere, its own process
/// group.
pub fn contained_shell_command(program: impl AsRef<OsStr>) -> SandboxCommand {
    let cmd = std::process::Command::new(program.as_ref());
    #[cfg(target_os = "linux")]
    let contain = Contain::Linux(linux::LinuxSandbox::contain_only(), ProcessKind::Shell);
    #[cfg(not(target_os = "linux"))]
    let contain = Contain::Group;
    SandboxCommand { cmd, contain }
}

fn build(config: &SandboxConfig, layout: paths::Layout) -> Result<Sandbox, SandboxError> {
    #[cfg(target_os = "linux")]
    {
        let probe = linux::probe();
        let built =
            linux::build(config, &layout, probe).map_err(|e| SandboxError::Unenforceable {
                mode: config.mode,
                missing: vec![e],
            })?;
        if !built.gaps.is_empty() && !config.best_effort {
            return Err(SandboxError::Unenforceable {
                mode: config.mode,
                missing: built.gaps,
            });
        }
        let fs_enforced = probe.abi >= 1;
        let enforced = if fs_enforced {
            config.mode
        } else {
            SandboxMode::Off
        };
        let network = built.network_blocked == linux::NetworkBlock::Allowed
            || built.network_blocked == linux::NetworkBlock::NotEnforced;
        let mut sandbox = Sandbox {
            config: config.clone(),
            status: SandboxStatus {
                requested: config.mode,
                enforced,
                network,
                partial: !built.gaps.is_empty(),
                summary: String::new(),
                missing: built.gaps.clone(),
            },
            layout,
            imp: Imp::Linux(Arc::new(built.sandbox)),
        };
        let mut summary = format!(
            "Sandbox \"{}\" enforced with {}: shell commands {}",
            config.mode,
            built.mechanisms.join(" and "),
            sandbox.capabilities()
        );
        // The first letter after the colon stays lower case; the list reads on.
        if built.network_blocked == linux::NetworkBlock::TcpOnly {
            summary.push_str(
                " Network: TCP connections are refused by Landlock; other protocols (UDP) \
                 are not blocked without a network namespace.",
            );
        }
        if enforced == SandboxMode::Off {
            summary = format!(
                "Sandbox \"{}\" requested, but the file system is not confined (best effort): {}",
                config.mode,
                sandbox.capabilities()
            );
        }
        if !built.gaps.is_empty() {
            summary.push_str(" Not enforced: ");
            summary.push_str(&built.gaps.join("; "));
            summary.push('.');
        }
        sandbox.status.summary = summary;
        Ok(sandbox)
    }
    #[cfg(target_os = "macos")]
    {
        let profile = seatbelt::profile(config, &layout);
        let available = Path::new("/usr/bin/sandbox-exec").exists();
        if !available && !config.best_effort {
            return Err(SandboxError::Unenforceable {
                mode: config.mode,
                missing: vec!["/usr/bin/sandbox-exec (Seatbelt) is missing".to_owned()],
            });
        }
        let mut sandbox = Sandbox {
            config: config.clone(),
            status: SandboxStatus {
                requested: config.mode,
                enforced: if available {
                    config.mode
                } else {
                    SandboxMode::Off
                },
                network: config.network,
                partial: !available,
                summary: String::new(),
                missing: Vec::new(),
            },
            layout,
            imp: if available {
                Imp::Seatbelt(Arc::new(profile))
            } else {
                Imp::Off
            },
        };
        sandbox.status.summary = format!(
            "Sandbox \"{}\" enforced with a Seatbelt profile (sandbox-exec): shell commands {} Processes a command leaves in its process group are killed when it ends (macOS has no PID namespaces: a `setsid` one can survive).",
            config.mode,
            sandbox.capabilities()
        );
        Ok(sandbox)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = layout;
        if config.best_effort {
            let mut off = Sandbox::off();
            off.status.requested = config.mode;
            off.status.partial = true;
            off.status.missing =
                vec!["this operating system has no sandbox support in harnext".to_owned()];
            off.status.summary = format!(
                "Sandbox \"{}\" requested, but nothing is enforced on this operating system (best effort): shell commands run with the user's permissions.",
                config.mode
            );
            return Ok(off);
        }
        Err(SandboxError::Unenforceable {
            mode: config.mode,
            missing: vec!["this operating system has no sandbox support in harnext".to_owned()],
        })
    }
}

enum Contain {
    /// Its own process group, killed whole (no sandbox, or macOS).
    Group,
    #[cfg(target_os = "linux")]
    Linux(Arc<linux::LinuxSandbox>, ProcessKind),
}

/// A command being prepared. [`SandboxCommand::command_mut`] gives the std command to
/// set arguments, directory, stdio and variables on (do not set a process group: the
/// sandbox makes one).
pub struct SandboxCommand {
    cmd: std::process::Command,
    contain: Contain,
}

impl SandboxCommand {
    pub fn command_mut(&mut self) -> &mut std::process::Command {
        &mut self.cmd
    }

    /// Starts it (on a tokio runtime). Fails when the program cannot be started or the
    /// sandbox cannot be set up.
    pub fn spawn(self) -> io::Result<SandboxChild> {
        let SandboxCommand { mut cmd, contain } = self;
        match contain {
            Contain::Group => {
                use std::os::unix::process::CommandExt;
                cmd.process_group(0);
                let mut cmd = tokio::process::Command::from(cmd);
                cmd.kill_on_drop(true);
                let child = cmd.spawn()?;
                let pid = child.id().and_then(|p| i32::try_from(p).ok());
                Ok(SandboxChild {
                    child,
                    report: Report::None,
                    killer: Killer {
                        pid,
                        how: KillHow::Group,
                    },
                })
            }
            #[cfg(target_os = "linux")]
            Contain::Linux(linux, kind) => {
                let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
                let plan = linux.plan_for(kind);
                linux::child::install(&mut cmd, plan, std::os::fd::AsRawFd::as_raw_fd(&write));
                let mut cmd = tokio::process::Command::from(cmd);
                // The monitor ends the command; killing it first would orphan it.
                cmd.kill_on_drop(false);
                let spawned = cmd.spawn();
                drop(write);
                let child = spawned?;
                let pid = child.id().and_then(|p| i32::try_from(p).ok());
                // A shell command's monitor kills its tree on SIGTERM and exits only
                // once it is reaped; a server's process group is killed at once.
                let how = match kind {
                    ProcessKind::Shell => KillHow::Monitor,
                    ProcessKind::Server => KillHow::Group,
                };
                Ok(SandboxChild {
                    child,
                    report: Report::Pipe(read),
                    killer: Killer { pid, how },
                })
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum KillHow {
    /// SIGKILL to the process group (with namespaces: the init dies, and the kernel
    /// kills the rest of the namespace).
    Group,
    /// SIGTERM to the monitor, which kills the command's whole tree (the PID
    /// namespace's init, or every descendant in subreaper mode) and exits once it is
    /// reaped: waiting for the monitor waits for the tree.
    Monitor,
}

/// Ends a started command and everything it started, synchronously.
#[derive(Clone, Debug)]
pub struct Killer {
    pid: Option<i32>,
    how: KillHow,
}

impl Killer {
    /// Kills now. True when some process was signalled.
    pub fn kill(&self) -> bool {
        use nix::sys::signal::kill;
        use nix::sys::signal::killpg;
        use nix::sys::signal::Signal;
        use nix::unistd::Pid;
        let Some(pid) = self.pid.filter(|p| *p > 1) else {
            return false;
        };
        match self.how {
            KillHow::Group => killpg(Pid::from_raw(pid), Signal::SIGKILL).is_ok(),
            KillHow::Monitor => kill(Pid::from_raw(pid), Signal::SIGTERM).is_ok(),
        }
    }

    /// Kills the whole process group (the monitor included) with SIGKILL at once,
    /// without waiting for the monitor: for a monitor that did not end after
    /// [`Killer::kill`]. True when some process was signalled.
    pub fn force(&self) -> bool {
        let Some(pid) = self.pid.filter(|p| *p > 1) else {
            return false;
        };
        nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .is_ok()
    }

    /// The process group (and monitor) id.
    pub fn pid(&self) -> Option<i32> {
        self.pid
    }
}

/// How a sandboxed command ended.
#[derive(Debug, Clone)]
pub struct Exit {
    /// The command's own exit status (not the monitor's); `None` when unknown.
    pub status: Option<ExitStatus>,
    /// Processes the command left running were killed when it exited.
    pub leftovers: bool,
    /// The sandbox could not be set up for it: what failed.
    pub setup_error: Option<String>,
}

/// The monitor's report of a sandboxed command, read once the monitor has exited.
enum Report {
    /// No monitor (no sandbox, or macOS): the process's own status is the command's.
    None,
    /// The status pipe, not read yet.
    Pipe(std::os::fd::OwnedFd),
    /// Being read (off the async runtime).
    Reading(tokio::task::JoinHandle<Vec<u8>>),
    /// Read.
    Read(Exit),
}

/// A started command.
pub struct SandboxChild {
    /// The process started (with a sandbox: the monitor). Take its stdio pipes.
    pub child: tokio::process::Child,
    report: Report,
    killer: Killer,
}

impl SandboxChild {
    pub fn killer(&self) -> Killer {
        self.killer.clone()
    }

    /// True when the command runs under the sandbox's monitor (whose report gives the
    /// command's own status).
    pub fn monitored(&self) -> bool {
        !matches!(self.report, Report::None)
    }

    /// Waits for the command to end and reports how. Cancel-safe: a call dropped
    /// before it returns (a `select!` that took another branch) loses nothing, and the
    /// next call goes on where it stopped (the monitor's report is read once, and
    /// never mistaken for the monitor's own exit status).
    pub async fn wait(&mut self) -> io::Result<Exit> {
        let waited = self.child.wait().await?;
        loop {
            match &mut self.report {
                Report::None => {
                    return Ok(Exit {
                        status: Some(waited),
                        leftovers: false,
                        setup_error: None,
                    })
                }
                Report::Read(exit) => return Ok(exit.clone()),
                Report::Pipe(_) => {
                    let Report::Pipe(fd) = std::mem::replace(&mut self.report, Report::None) else {
                        continue;
                    };
                    // Every writer has exited: the read ends at once.
                    self.report = Report::Reading(tokio::task::spawn_blocking(move || {
                        use std::io::Read;
                        let mut buf = Vec::new();
                        let _ = std::fs::File::from(fd).read_to_end(&mut buf);
                        buf
                    }));
                }
                Report::Reading(reading) => {
                    let record = reading.await.unwrap_or_default();
                    self.report = Report::Read(decode_exit(&record));
                }
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn decode_exit(record: &[u8]) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    let mut exit = Exit {
        status: None,
        leftovers: false,
        setup_error: None,
    };
    let mut rest = record;
    while rest.len() >= linux::child::RECORD_LEN {
        if let Some((kind, a, b)) = linux::child::decode(rest) {
            match kind {
                linux::child::RECORD_EXITED => {
                    exit.status = Some(ExitStatus::from_raw(a));
                    exit.leftovers = b != 0;
                }
                linux::child::RECORD_SETUP_FAILED => {
                    let stage = match a {
                        linux::child::STAGE_MOUNT_PRIVATE => "making the mounts private",
                        linux::child::STAGE_HIDE_PATH => "hiding a denied path",
                        linux::child::STAGE_FORK => "forking",
                        linux::child::STAGE_LANDLOCK => "applying Landlock",
                        linux::child::STAGE_NO_NEW_PRIVS => "setting no_new_privs",
                        _ => "setting up",
                    };
                    exit.setup_error = Some(format!(
                        "the sandbox could not be set up ({stage}): {}",
                        io::Error::from_raw_os_error(b)
                    ));
                }
                _ => {}
            }
        }
        rest = &rest[linux::child::RECORD_LEN..];
    }
    exit
}

#[cfg(not(target_os = "linux"))]
fn decode_exit(_record: &[u8]) -> Exit {
    Exit {
        status: None,
        leftovers: false,
        setup_error: None,
    }
}
