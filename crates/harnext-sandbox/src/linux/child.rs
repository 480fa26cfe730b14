//! The code that runs between `fork` and `exec` (`pre_exec`): the only unsafe code of
//! harnext.
//!
//! The process std forks ("A", the monitor) sets up the containment, forks the process
//! that will exec the command, and stays behind to reap; it never returns from
//! `pre_exec`. Only the innermost process returns, and std then execs the program:
//!
//! ```text
//! harnext ─ A: monitor (setsid; unshare user/pid/mount/net namespaces, or be a subreaper)
//!            └ B: init, PID 1 of the new PID namespace (hides the denied paths under
//!               │  empty mounts, brings loopback up)       [namespace mode only]
//!               └ C: Landlock, then exec of the command
//! ```
//!
//! When the command exits, B kills whatever it left in the namespace (`kill(-1)`; the
//! kernel kills the rest when PID 1 exits) and reports the command's wait status and
//! whether anything was left, on a pipe, before exiting. Without namespaces A is a
//! child subreaper: orphans are reparented to it, and it kills its children until none
//! is left. B and A are never Landlocked, so the command (Landlocked, hence in a
//! Landlock domain of its own) cannot ptrace them nor read their `/proc/<pid>/mem` or
//! `environ`, which hold harnext's memory (they are copies of it).
//!
//! Everything here runs in a child of a multi-threaded process, where only
//! async-signal-safe calls are allowed: no allocation, no locks. Every buffer and
//! string is prepared by the parent in a [`ChildPlan`]; only raw system calls are
//! made. Errors before the first fork are returned (std then reports them from
//! `spawn()`); later ones are written to the status pipe as a [`Record`].

#![allow(unsafe_code)]

use std::ffi::CStr;
use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;

pub(crate) use crate::ProcessKind;

/// A path hidden from the command by a mount (namespace mode).
pub(crate) struct Overmount {
    pub path: CString,
    pub dir: bool,
}

/// Everything the child side needs, prepared before the fork.
pub(crate) struct ChildPlan {
    /// `CLONE_NEW*` flags for `unshare`; 0 without namespaces (subreaper mode).
    pub ns_flags: libc::c_int,
    /// `uid_map` / `gid_map` lines, written when a user namespace is created.
    pub uid_map: Vec<u8>,
    pub gid_map: Vec<u8>,
    pub loopback_up: bool,
    pub overmounts: Vec<Overmount>,
    /// The Landlock ruleset (`-1`: none).
    pub ruleset_fd: RawFd,
    pub kind: ProcessKind,
}

/// The status record's kinds.
pub(crate) const RECORD_EXITED: u8 = 1;
pub(crate) const RECORD_SETUP_FAILED: u8 = 2;

/// Setup stages named in a [`RECORD_SETUP_FAILED`] record.
pub(crate) const STAGE_MOUNT_PRIVATE: i32 = 1;
pub(crate) const STAGE_HIDE_PATH: i32 = 3;
pub(crate) const STAGE_FORK: i32 = 4;
pub(crate) const STAGE_LANDLOCK: i32 = 5;
pub(crate) const STAGE_NO_NEW_PRIVS: i32 = 6;

/// Size of a record: magic, kind, 2 bytes of padding, then two native-endian i32.
pub(crate) const RECORD_LEN: usize = 12;
const MAGIC: u8 = b'H';

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Writes one record to the status pipe (best effort: a reader that went away is fine).
fn report(fd: RawFd, kind: u8, a: i32, b: i32) {
    let mut buf = [0u8; RECORD_LEN];
    buf[0] = MAGIC;
    buf[1] = kind;
    buf[4..8].copy_from_slice(&a.to_ne_bytes());
    buf[8..12].copy_from_slice(&b.to_ne_bytes());
    // SAFETY: `buf` is a live stack buffer of RECORD_LEN bytes; write(2) is
    // async-signal-safe.
    unsafe {
        libc::write(fd, buf.as_ptr().cast(), RECORD_LEN);
    }
}

/// Decodes a record read by the parent: `(kind, a, b)`.
pub(crate) fn decode(buf: &[u8]) -> Option<(u8, i32, i32)> {
    if buf.len() < RECORD_LEN || buf[0] != MAGIC {
        return None;
    }
    let a = i32::from_ne_bytes(buf[4..8].try_into().ok()?);
    let b = i32::from_ne_bytes(buf[8..12].try_into().ok()?);
    Some((buf[1], a, b))
}

/// Reports a failed setup stage and exits (after the first fork).
fn fail(status_fd: RawFd, stage: i32) -> ! {
    report(status_fd, RECORD_SETUP_FAILED, stage, errno());
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(126) }
}

/// Writes `data` to the file at `path` (a /proc control file).
fn write_file(path: &CStr, data: &[u8]) -> io::Result<()> {
    // SAFETY: `path` is a valid NUL-terminated string; `data` a live slice.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        let err = io::Error::last_os_error();
        libc::close(fd);
        if n < 0 || n as usize != data.len() {
            return Err(err);
        }
    }
    Ok(())
}

/// Points stdin, stdout and stderr at /dev/null, so that the monitor and the init do
/// not hold the command's output pipes open.
fn quiet_stdio() {
    // SAFETY: plain system calls on a static path and small integers.
    unsafe {
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if fd >= 0 {
            libc::dup2(fd, 0);
            libc::dup2(fd, 1);
            libc::dup2(fd, 2);
            if fd > 2 {
                libc::close(fd);
            }
        } else {
            libc::close(0);
            libc::close(1);
            libc::close(2);
        }
    }
}

/// Closes every descriptor from 3 up except those in `keep` (at most 2), among them
/// std's pipe that tells `spawn()` the exec happened: the monitor and the init never
/// exec, so they must close it for `spawn()` to return.
fn close_all_except(keep: [RawFd; 2]) {
    let mut keep = keep;
    keep.sort_unstable();
    let mut from: libc::c_uint = 3;
    for fd in keep {
        let Ok(fd) = libc::c_uint::try_from(fd) else {
            continue;
        };
        if fd < from {
            continue;
        }
        if fd > from {
            close_range(from, fd - 1);
        }
        from = fd + 1;
    }
    close_range(from, libc::c_uint::MAX);
}

fn close_range(first: libc::c_uint, last: libc::c_uint) {
    // SAFETY: close_range(2) only closes descriptors of this (single-threaded) process.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0 as libc::c_uint) };
    if r == 0 {
        return;
    }
    // Kernels before 5.9: close one by one, up to the descriptor limit.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid out-pointer.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur.min(65_536) as libc::c_uint
    } else {
        4_096
    };
    let mut fd = first;
    while fd <= last && fd < max {
        // SAFETY: closing a descriptor number, open or not.
        unsafe {
            libc::close(fd as libc::c_int);
        }
        fd += 1;
    }
}

/// True when the parent end of the liveness pipe was closed: the monitor is gone.
fn monitor_gone(read_end: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: read_end,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no timeout.
    let r = unsafe { libc::poll(&mut pfd, 1, 0) };
    r > 0 && (pfd.revents & (libc::POLLHUP | libc::POLLIN)) != 0
}

/// Waits for `pid`, reaping any other child met meanwhile (orphans reparented here).
/// Returns its wait status.
fn wait_for(pid: libc::pid_t) -> libc::c_int {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, 0) };
        if r == pid {
            return status;
        }
        if r < 0 {
            match errno() {
                libc::EINTR => continue,
                // No child left: it was reaped elsewhere or never existed.
                _ => return 0,
            }
        }
    }
}

/// The shell monitor's wait for `pid` (the init, or the command): reaps children as
/// they exit, and on SIGTERM (a kill request) sends SIGKILL to `pid` and keeps waiting,
/// so that the monitor exits only once `pid` is reaped (with namespaces, after the
/// kernel has emptied the PID namespace). SIGTERM and SIGCHLD are blocked in the monitor
/// and taken with `sigwaitinfo`, so no request is lost between two checks (a handler
/// setting a flag could fire just before a blocking `waitpid` and go unseen).
fn monitor_wait(pid: libc::pid_t, signals: &libc::sigset_t) -> libc::c_int {
    loop {
        loop {
            let mut status: libc::c_int = 0;
            // SAFETY: `status` is a valid out-pointer.
            let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if r == pid {
                return status;
            }
            if r == 0 {
                break;
            }
            if r < 0 {
                match errno() {
                    libc::EINTR => continue,
                    _ => return 0,
                }
            }
        }
        // SAFETY: `signals` is an initialized set; a null info pointer is allowed.
        let signal = unsafe { libc::sigwaitinfo(signals, std::ptr::null_mut()) };
        if signal == libc::SIGTERM {
            // SAFETY: signals this process's own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Reaps every child until none is left.
fn reap_all() {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: valid out-pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, 0) };
        if r < 0 && errno() != libc::EINTR {
            return;
        }
    }
}

/// Subreaper mode: kills the monitor's children, again and again as the orphans of the
/// killed ones are reparented to it, until it has none. Returns true when some process
/// was killed, and the wait status of `command` when it was reaped here.
fn kill_descendants(command: libc::pid_t, status_out: &mut Option<libc::c_int>) -> bool {
    let mut killed = false;
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: static path; `buf` is a live stack buffer.
        let n = unsafe {
            let fd = libc::open(
                c"/proc/thread-self/children".as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            );
            if fd < 0 {
                -1
            } else {
                let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                libc::close(fd);
                n
            }
        };
        if n > 0 {
            let mut pid: libc::pid_t = 0;
            let mut in_number = false;
            for &byte in buf.iter().take(n as usize) {
                if byte.is_ascii_digit() {
                    pid = pid
                        .saturating_mul(10)
                        .saturating_add((byte - b'0') as libc::pid_t);
                    in_number = true;
                } else {
                    if in_number && pid > 1 {
                        // SAFETY: signals one of this process's children.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                        if pid != command {
                            killed = true;
                        }
                    }
                    pid = 0;
                    in_number = false;
                }
            }
        }
        let mut status: libc::c_int = 0;
        // SAFETY: valid out-pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, 0) };
        if r == command {
            *status_out = Some(status);
        }
        if r < 0 {
            match errno() {
                libc::EINTR => continue,
                _ => return killed,
            }
        }
    }
}

/// Brings the loopback interface of the new network namespace up, so that servers a
/// command starts can be reached by the command itself. Best effort.
fn loopback_up() {
    // SAFETY: a socket, an ioctl on a zeroed `ifreq` with a NUL-terminated name, a
    // close: all on values owned here.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as libc::c_char;
        req.ifr_name[1] = b'o' as libc::c_char;
        req.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as _;
        libc::ioctl(sock, libc::SIOCSIFFLAGS as _, &req);
        libc::close(sock);
    }
}

/// The body of `pre_exec`, in the process std forked (the monitor). Returns `Ok` only
/// in the innermost process, which std then execs.
///
/// # Safety
/// Must be called only between fork and exec, in the child, with a plan prepared by
/// the parent (see the module documentation).
pub(crate) unsafe fn run(plan: &ChildPlan, status_fd: RawFd) -> io::Result<()> {
    // A session of its own: no controlling terminal, and a process group to signal.
    // (EPERM: already a group leader, as when the caller set a process group.)
    libc::setsid();
    // Shell commands: the monitor takes SIGTERM (a kill request) and SIGCHLD with
    // `sigwaitinfo` (see `monitor_wait`); its children get the mask back.
    let mut signals: libc::sigset_t = std::mem::zeroed();
    let mut old_mask: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut signals);
    libc::sigaddset(&mut signals, libc::SIGTERM);
    libc::sigaddset(&mut signals, libc::SIGCHLD);
    match plan.kind {
        ProcessKind::Shell => {
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            libc::signal(libc::SIGCHLD, libc::SIG_DFL);
            libc::sigprocmask(libc::SIG_BLOCK, &signals, &mut old_mask);
        }
        ProcessKind::Server => {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
            libc::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut old_mask);
        }
    }
    let namespaces = plan.ns_flags != 0;
    if namespaces {
        if libc::unshare(plan.ns_flags) != 0 {
            return Err(io::Error::last_os_error());
        }
        if plan.ns_flags & libc::CLONE_NEWUSER != 0 {
            // Needed before gid_map can be written without privileges.
            let _ = write_file(c"/proc/self/setgroups", b"deny");
            write_file(c"/proc/self/uid_map", &plan.uid_map)?;
            write_file(c"/proc/self/gid_map", &plan.gid_map)?;
        }
    } else if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 {
        return Err(io::Error::last_os_error());
    }
    // The liveness pipe: its write end lives only in the monitor.
    let mut live = [0 as libc::c_int; 2];
    if libc::pipe2(live.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
        return Err(io::Error::last_os_error());
    }
    let pid = libc::fork();
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        libc::sigprocmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut());
        libc::close(live[1]);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        if monitor_gone(live[0]) {
            libc::_exit(1);
        }
        return if namespaces {
            init(plan, status_fd, live[0])
        } else {
            command(plan, status_fd, live[0], false)
        };
    }
    // The monitor.
    libc::close(live[0]);
    quiet_stdio();
    if namespaces {
        close_all_except([live[1], -1]);
        // Waits for the init; a termination request kills it, and with it the namespace,
        // which the init's exit waits to be empty. Exits as the init did, which exited as
        // the command did.
        let status = match plan.kind {
            ProcessKind::Shell => monitor_wait(pid, &signals),
            ProcessKind::Server => wait_for(pid),
        };
        libc::_exit(exit_code(status))
    }
    close_all_except([live[1], status_fd]);
    let status = match plan.kind {
        ProcessKind::Shell => monitor_wait(pid, &signals),
        ProcessKind::Server => wait_for(pid),
    };
    let mut status = Some(status);
    let leftovers = kill_descendants(pid, &mut status);
    let status = status.unwrap_or(libc::SIGKILL);
    report(status_fd, RECORD_EXITED, status, i32::from(leftovers));
    libc::_exit(exit_code(status))
}

/// The exit code that mirrors a wait status: the command's own, or 128 + its signal
/// (the monitor cannot die of the same signal reliably).
fn exit_code(status: libc::c_int) -> libc::c_int {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

/// PID 1 of the new PID namespace: prepares the mounts, forks the command, reaps, and
/// kills what the command left behind.
unsafe fn init(plan: &ChildPlan, status_fd: RawFd, live: RawFd) -> io::Result<()> {
    // Mounts made here must never propagate back to the host.
    if libc::mount(
        std::ptr::null(),
        c"/".as_ptr(),
        std::ptr::null(),
        libc::MS_REC | libc::MS_PRIVATE,
        std::ptr::null(),
    ) != 0
    {
        fail(status_fd, STAGE_MOUNT_PRIVATE);
    }
    for hidden in &plan.overmounts {
        let ok = if hidden.dir {
            libc::mount(
                c"tmpfs".as_ptr(),
                hidden.path.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                c"size=4k,mode=0".as_ptr().cast(),
            ) == 0
        } else {
            libc::mount(
                c"/dev/null".as_ptr(),
                hidden.path.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ) == 0
                && libc::mount(
                    std::ptr::null(),
                    hidden.path.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                    std::ptr::null(),
                ) == 0
        };
        // A path that does not exist (yet) has nothing to hide.
        if !ok && errno() != libc::ENOENT {
            fail(status_fd, STAGE_HIDE_PATH);
        }
    }
    if plan.loopback_up {
        loopback_up();
    }
    // The init is a copy of harnext's memory: nothing may read it.
    libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    let pid = libc::fork();
    if pid < 0 {
        fail(status_fd, STAGE_FORK);
    }
    if pid == 0 {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        return command(plan, status_fd, live, true);
    }
    libc::close(live);
    quiet_stdio();
    close_all_except([status_fd, -1]);
    let status = wait_for(pid);
    // Everything else in the namespace: background jobs, `setsid` and `nohup` ones,
    // double forks. kill(-1) from the init reaches every other process of the namespace.
    let leftovers = libc::kill(-1, libc::SIGKILL) == 0;
    reap_all();
    report(status_fd, RECORD_EXITED, status, i32::from(leftovers));
    libc::_exit(exit_code(status))
}

/// The process that execs the command: its own session (a shell command, in namespace
/// mode), SIGTERM back to default, then Landlock.
unsafe fn command(
    plan: &ChildPlan,
    status_fd: RawFd,
    live: RawFd,
    namespaces: bool,
) -> io::Result<()> {
    libc::close(live);
    libc::signal(libc::SIGTERM, libc::SIG_DFL);
    libc::signal(libc::SIGCHLD, libc::SIG_DFL);
    if namespaces && plan.kind == ProcessKind::Shell {
        libc::setsid();
    }
    if plan.ruleset_fd >= 0 {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            report(status_fd, RECORD_SETUP_FAILED, STAGE_NO_NEW_PRIVS, errno());
            return Err(io::Error::last_os_error());
        }
        if libc::syscall(libc::SYS_landlock_restrict_self, plan.ruleset_fd, 0_u32) != 0 {
            report(status_fd, RECORD_SETUP_FAILED, STAGE_LANDLOCK, errno());
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The Landlock ABI version of the running kernel (0: no Landlock).
pub(crate) fn landlock_abi() -> i32 {
    const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
    // SAFETY: the documented version query: NULL attributes, size 0.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    i32::try_from(r).unwrap_or(0).max(0)
}

/// Installs the child side on `cmd`.
pub(crate) fn install(
    cmd: &mut std::process::Command,
    plan: std::sync::Arc<ChildPlan>,
    status_fd: RawFd,
) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure makes only async-signal-safe system calls on data prepared
    // before the fork (see the module documentation); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || run(&plan, status_fd));
    }
}
