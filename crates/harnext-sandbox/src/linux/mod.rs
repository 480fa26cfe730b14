//! Linux: Landlock for the file system (and TCP when there is no network namespace),
//! user, PID, mount, IPC and network namespaces where the system allows them, a child
//! subreaper where it does not. See [`child`] for the processes.

pub(crate) mod child;

use std::ffi::CString;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;

use landlock::Access;
use landlock::AccessFs;
use landlock::AccessNet;
use landlock::CompatLevel;
use landlock::Compatible;
use landlock::PathBeneath;
use landlock::PathFd;
use landlock::Ruleset;
use landlock::RulesetAttr;
use landlock::RulesetCreatedAttr;
use landlock::Scope;
use landlock::ABI;

use crate::paths::Layout;
use crate::ProcessKind;
use crate::SandboxConfig;
use crate::SandboxMode;
use child::ChildPlan;
use child::Overmount;

/// Which namespaces this system lets harnext create.
///
/// /proc is not mounted afresh in the new PID namespace: Landlock ignores rules on a
/// mount point that another mount covers, so a new /proc would be unreadable under
/// the rules made for the host's. Landlock's ptrace restriction keeps other processes'
/// memory and environment out of reach instead (tested).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NsLevel {
    /// A user namespace (the command keeps no capability on the host).
    pub user: bool,
}

/// What the kernel offers, found once per process.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe {
    pub abi: i32,
    pub ns: Option<NsLevel>,
}

static PROBE: OnceLock<Probe> = OnceLock::new();

/// Set in tests to check the subreaper mode on a machine that has namespaces.
#[cfg(test)]
pub(crate) static FORCE_NO_NAMESPACES: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

pub(crate) fn probe() -> Probe {
    let probe = *PROBE.get_or_init(|| {
        let abi = child::landlock_abi();
        let euid = nix::unistd::geteuid().is_root();
        let mut levels = vec![NsLevel { user: true }];
        if euid {
            levels.push(NsLevel { user: false });
        }
        let ns = levels.into_iter().find(|level| try_namespaces(*level));
        Probe { abi, ns }
    });
    #[cfg(test)]
    if FORCE_NO_NAMESPACES.load(std::sync::atomic::Ordering::SeqCst) {
        return Probe { ns: None, ..probe };
    }
    probe
}

fn ns_flags(level: NsLevel, network: bool) -> libc::c_int {
    let mut flags = libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWIPC;
    if level.user {
        flags |= libc::CLONE_NEWUSER;
    }
    if !network {
        flags |= libc::CLONE_NEWNET;
    }
    flags
}

fn id_maps() -> (Vec<u8>, Vec<u8>) {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    (
        format!("{uid} {uid} 1\n").into_bytes(),
        format!("{gid} {gid} 1\n").into_bytes(),
    )
}

/// Runs `sh -c 'exit 0'` in the namespaces of `level`: true when everything worked.
fn try_namespaces(level: NsLevel) -> bool {
    let (uid_map, gid_map) = id_maps();
    let plan = Arc::new(ChildPlan {
        ns_flags: ns_flags(level, false),
        uid_map,
        gid_map,
        loopback_up: true,
        overmounts: Vec::new(),
        ruleset_fd: -1,
        kind: ProcessKind::Shell,
    });
    let Ok((read, write)) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) else {
        return false;
    };
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.args(["-c", "exit 0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    child::install(&mut cmd, plan, write.as_raw_fd());
    let spawned = cmd.spawn();
    drop(write);
    let Ok(mut process) = spawned else {
        return false;
    };
    let _ = process.wait();
    let mut record = Vec::new();
    let _ = std::fs::File::from(read).read_to_end(&mut record);
    matches!(child::decode(&record), Some((child::RECORD_EXITED, 0, _)))
}

/// A built sandbox: the plan every command's child side follows.
pub(crate) struct LinuxSandbox {
    pub plan: Arc<ChildPlan>,
    /// Keeps the ruleset descriptor the plan names open.
    _ruleset: Option<OwnedFd>,
}

impl LinuxSandbox {
    /// No confinement, only containment: a shell command under a child subreaper
    /// monitor that ends its whole process tree (`setsid` and double forks included),
    /// without namespaces, Landlock or a changed environment.
    pub(crate) fn contain_only() -> Arc<LinuxSandbox> {
        static CONTAIN: std::sync::OnceLock<Arc<LinuxSandbox>> = std::sync::OnceLock::new();
        CONTAIN
            .get_or_init(|| {
                Arc::new(LinuxSandbox {
                    plan: Arc::new(ChildPlan {
                        ns_flags: 0,
                        uid_map: Vec::new(),
                        gid_map: Vec::new(),
                        loopback_up: false,
                        overmounts: Vec::new(),
                        ruleset_fd: -1,
                        kind: ProcessKind::Shell,
                    }),
                    _ruleset: None,
                })
            })
            .clone()
    }
}

/// What [`build`] made, and what it could not enforce.
pub(crate) struct Built {
    pub sandbox: LinuxSandbox,
    pub mechanisms: Vec<String>,
    pub gaps: Vec<String>,
    pub network_blocked: NetworkBlock,
}

/// How outbound connections are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NetworkBlock {
    /// Allowed (`network: true`).
    Allowed,
    /// A network namespace of its own: no route out at all.
    Namespace,
    /// Landlock refuses TCP connections (other protocols are not covered).
    TcpOnly,
    /// Not blocked: the system cannot.
    NotEnforced,
}

/// Read access for a path of the given kind.
fn read_access(abi: ABI, is_dir: bool) -> landlock::BitFlags<AccessFs> {
    if is_dir {
        AccessFs::from_read(abi)
    } else {
        AccessFs::from_read(abi) & AccessFs::from_file(abi)
    }
}

/// Device files every command may read and write (`2>/dev/null`, random numbers, a pty).
const DEVICES_RW: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
];

pub(crate) fn build(
    config: &SandboxConfig,
    layout: &Layout,
    kind_probe: Probe,
) -> Result<Built, String> {
    let mut mechanisms = Vec::new();
    let mut gaps = Vec::new();
    let namespaces = kind_probe.ns;
    let abi = ABI::from(kind_probe.abi);
    let landlock = kind_probe.abi >= 1;
    let mut ruleset_fd: Option<OwnedFd> = None;
    let writable: Vec<PathBuf> = match config.mode {
        SandboxMode::WorkspaceWrite => layout.writable.clone(),
        _ => Vec::new(),
    };

    // Network.
    let network_blocked = if config.network {
        NetworkBlock::Allowed
    } else if namespaces.is_some() {
        NetworkBlock::Namespace
    } else if kind_probe.abi >= 4 {
        NetworkBlock::TcpOnly
    } else {
        gaps.push(
            "network: outbound connections cannot be blocked (no network namespace, and \
             Landlock older than ABI 4 cannot restrict TCP)"
                .to_owned(),
        );
        NetworkBlock::NotEnforced
    };

    if landlock {
        let created = landlock_ruleset(abi, &writable, layout, network_blocked)
            .map_err(|e| format!("cannot build the Landlock ruleset: {e}"))?;
        ruleset_fd = Option::<OwnedFd>::from(created);
        mechanisms.push(format!("Landlock ABI {}", kind_probe.abi));
    } else {
        gaps.push(
            "file system: Landlock is not available (Linux 5.13 or later with Landlock in \
             the enabled LSMs is needed), so reads and writes are not confined"
                .to_owned(),
        );
    }

    // Denied paths that Landlock cannot hide: inside a writable root.
    let mut overmounts = Vec::new();
    for denied in &layout.denied {
        let inside_writable = writable.iter().any(|w| denied.starts_with(w));
        let meta = std::fs::symlink_metadata(denied).ok();
        if namespaces.is_some() {
            if let Some(meta) = &meta {
                if let Ok(path) = CString::new(denied.as_os_str().as_bytes()) {
                    overmounts.push(Overmount {
                        path,
                        dir: meta.is_dir(),
                    });
                }
            }
        } else if inside_writable && meta.is_some() {
            gaps.push(format!(
                "{} is inside a writable directory and cannot be hidden without a mount \
                 namespace",
                denied.display()
            ));
        }
    }

    // How the processes of a command are kept together and ended: a PID namespace (when
    // its init exits, the kernel kills everything in it), or a child subreaper that
    // kills its descendants.
    match namespaces {
        Some(level) => {
            let mut what = vec!["PID", "mount", "IPC"];
            if level.user {
                what.insert(0, "user");
            }
            if network_blocked == NetworkBlock::Namespace {
                what.push("network");
            }
            mechanisms.push(format!("{} namespaces", what.join(", ")));
        }
        None => mechanisms.push("a child subreaper".to_owned()),
    }
    if !landlock {
        gaps.push(
            "other processes: without Landlock, commands can read /proc/<pid>/environ and \
             /proc/<pid>/mem of processes of the same user (harnext's included)"
                .to_owned(),
        );
    }

    let (uid_map, gid_map) = id_maps();
    let plan = ChildPlan {
        ns_flags: namespaces.map_or(0, |level| ns_flags(level, config.network)),
        uid_map,
        gid_map,
        loopback_up: network_blocked == NetworkBlock::Namespace,
        overmounts,
        ruleset_fd: ruleset_fd.as_ref().map_or(-1, |fd| fd.as_raw_fd()),
        kind: ProcessKind::Shell,
    };
    Ok(Built {
        sandbox: LinuxSandbox {
            plan: Arc::new(plan),
            _ruleset: ruleset_fd,
        },
        mechanisms,
        gaps,
        network_blocked,
    })
}

impl LinuxSandbox {
    /// The plan for a process of `kind` (shell commands share the built one).
    pub(crate) fn plan_for(&self, kind: ProcessKind) -> Arc<ChildPlan> {
        if kind == self.plan.kind {
            return self.plan.clone();
        }
        let p = &self.plan;
        Arc::new(ChildPlan {
            ns_flags: p.ns_flags,
            uid_map: p.uid_map.clone(),
            gid_map: p.gid_map.clone(),
            loopback_up: p.loopback_up,
            overmounts: p
                .overmounts
                .iter()
                .map(|o| Overmount {
                    path: o.path.clone(),
                    dir: o.dir,
                })
                .collect(),
            ruleset_fd: p.ruleset_fd,
            kind,
        })
    }
}

fn landlock_ruleset(
    abi: ABI,
    writable: &[PathBuf],
    layout: &Layout,
    network: NetworkBlock,
) -> Result<landlock::RulesetCreated, landlock::RulesetError> {
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(abi))?;
    if network == NetworkBlock::TcpOnly {
        ruleset = ruleset.handle_access(AccessNet::ConnectTcp)?;
    }
    if abi >= ABI::V6 {
        let scopes = if network == NetworkBlock::Allowed {
            landlock::BitFlags::from(Scope::Signal)
        } else {
            Scope::from_all(abi)
        };
        ruleset = ruleset.scope(scopes)?;
    }
    let mut created = ruleset.create()?;
    // Reads: everything but the denied paths and /dev, whose devices are listed.
    let mut denied = split_for_reads(&layout.denied, writable);
    denied.push(PathBuf::from("/dev"));
    let mut readable = Vec::new();
    allow_except(Path::new("/"), &denied, &mut readable);
    for (path, entry) in readable {
        let Ok(fd) = PathFd::new(&path) else {
            continue;
        };
        let access = match entry {
            Entry::Dir => read_access(abi, true),
            Entry::File => read_access(abi, false),
            // Listing a split directory (and, beneath it, the names in the denied
            // directories: their contents stay unreadable; namespaces hide the names).
            Entry::Split => landlock::BitFlags::from(AccessFs::ReadDir),
        };
        created = created.add_rule(PathBeneath::new(fd, access))?;
    }
    for device in DEVICES_RW {
        let Ok(meta) = std::fs::metadata(device) else {
            continue;
        };
        let Ok(fd) = PathFd::new(device) else {
            continue;
        };
        let access = if meta.is_dir() {
            read_access(abi, true) | AccessFs::from_file(abi)
        } else {
            read_access(abi, false) | AccessFs::from_file(abi)
        };
        created = created.add_rule(PathBeneath::new(fd, access))?;
    }
    for root in writable {
        let Ok(fd) = PathFd::new(root) else {
            continue;
        };
        created = created.add_rule(PathBeneath::new(fd, AccessFs::from_all(abi)))?;
    }
    Ok(created)
}

/// The denied paths the read rules are split around: not those inside a writable root.
/// Landlock grants a path what any rule on it or an ancestor grants, so the writable
/// root's rule lets such a path be read whatever the read rules say (the mount namespace
/// hides it; without one, `build` reports the gap). Splitting around it anyway would
/// cost a rule per entry of every directory on its way: a session directory in a `/tmp`
/// of 13,000 entries took 2 s of each `new Agent()` on a loaded machine, for nothing.
fn split_for_reads(denied: &[PathBuf], writable: &[PathBuf]) -> Vec<PathBuf> {
    denied
        .iter()
        .filter(|d| !writable.iter().any(|w| d.starts_with(w)))
        .cloned()
        .collect()
}

/// What a path of [`allow_except`] gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    Dir,
    File,
    /// A directory holding a denied path: only listed.
    Split,
}

/// The paths to allow so that everything under `dir` is allowed except `denied` (and
/// what is under them): `dir` itself when nothing denied is inside it, else each of its
/// entries, recursively. Symbolic links are skipped (what they point to has its own
/// rules), so a link cannot lead into a denied path. Entries created later in a split
/// directory are not readable.
fn allow_except(dir: &Path, denied: &[PathBuf], out: &mut Vec<(PathBuf, Entry)>) {
    if denied.iter().any(|d| d == dir) {
        return;
    }
    if !denied.iter().any(|d| d.starts_with(dir)) {
        let is_dir = std::fs::metadata(dir).is_ok_and(|m| m.is_dir());
        out.push((
            dir.to_path_buf(),
            if is_dir { Entry::Dir } else { Entry::File },
        ));
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    out.push((dir.to_path_buf(), Entry::Split));
    for entry in entries.flatten() {
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_symlink() {
            continue;
        }
        allow_except(&entry.path(), denied, out);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::Sandbox;
    use std::process::Stdio;

    /// A denied path inside a writable root does not split the read rules (the writable
    /// root's rule covers it anyway); one outside every writable root does.
    #[test]
    fn reads_are_split_only_around_denied_paths_outside_the_writable_roots() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tempfile::tempdir().unwrap();
        for i in 0..50 {
            std::fs::write(tmp.path().join(format!("f{i}")), "").unwrap();
        }
        let sessions = tmp.path().join("sessions");
        std::fs::create_dir(&sessions).unwrap();
        let denied = vec![sessions.clone(), PathBuf::from("/etc/shadow")];
        let writable = vec![tmp.path().to_path_buf(), ws.path().to_path_buf()];
        let kept = split_for_reads(&denied, &writable);
        assert_eq!(kept, vec![PathBuf::from("/etc/shadow")]);
        let mut split = Vec::new();
        allow_except(Path::new("/"), &kept, &mut split);
        assert!(
            !split.iter().any(|(p, _)| p.starts_with(tmp.path())),
            "{split:?}"
        );
        // Read-only (no writable root): the directory holding it is split, entry by entry.
        let kept = split_for_reads(&denied, &[]);
        assert_eq!(kept.len(), 2);
        let mut split = Vec::new();
        allow_except(Path::new("/"), &kept, &mut split);
        assert!(split.contains(&(tmp.path().to_path_buf(), Entry::Split)));
        assert!(split.contains(&(tmp.path().join("f7"), Entry::File)));
        assert!(!split.iter().any(|(p, _)| p.starts_with(&sessions)));
    }

    /// Landlock alone (no namespaces: the subreaper mode of systems that refuse user
    /// namespaces) still keeps the command from harnext's memory and environment, from
    /// TCP, and from outliving its call.
    #[tokio::test]
    async fn without_namespaces_landlock_and_the_subreaper_still_hold() {
        FORCE_NO_NAMESPACES.store(true, std::sync::atomic::Ordering::SeqCst);
        std::env::set_var("HARNEXT_SUBREAPER_TEST_TOKEN", "tok-very-secret");
        let ws = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        std::fs::write(home.path().join(".ssh/id_ed25519"), "PRIVATE KEY").unwrap();
        let sb = Sandbox::with_home(
            &crate::SandboxConfig::default(),
            ws.path(),
            None,
            Some(home.path()),
        )
        .unwrap();
        assert!(
            sb.status().summary.contains("subreaper"),
            "{}",
            sb.status().summary
        );
        assert!(
            sb.status().summary.contains("TCP"),
            "{}",
            sb.status().summary
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = std::process::id();
        let script = format!(
            "exec 2>&1; cat /proc/$PPID/environ; cat /proc/{me}/environ; head -c 100 /proc/{me}/mem; \
             cat {}/.ssh/id_ed25519; (exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected); \
             ls {} >/dev/null && echo listed; \
             setsid sleep 122.5 >/dev/null 2>&1 & echo done",
            home.path().display(),
            home.path().display()
        );
        let mut cmd = sb.command("bash", ProcessKind::Shell);
        cmd.command_mut()
            .arg("-c")
            .arg(script)
            .current_dir(ws.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let mut stdout = child.child.stdout.take().unwrap();
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut out)
            .await
            .unwrap();
        let exit = child.wait().await.unwrap();
        let out = String::from_utf8_lossy(&out);
        FORCE_NO_NAMESPACES.store(false, std::sync::atomic::Ordering::SeqCst);
        assert!(exit.setup_error.is_none(), "{:?}", exit.setup_error);
        assert!(!out.contains("tok-very-secret"), "{out}");
        assert!(!out.contains("PRIVATE KEY"), "{out}");
        assert!(!out.contains("connected"), "{out}");
        assert!(out.contains("listed"), "{out}");
        assert!(out.contains("Permission denied"), "{out}");
        assert!(out.ends_with("done\n"), "{out}");
        assert!(exit.leftovers, "{out}");
        let alive = std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == b"sleep\x00122.5\x00")
        });
        assert!(!alive, "the setsid process survived");
    }
}
