//! The inotify watcher of a [`super::ChangeTracker`] (Linux).
//!
//! Every tracked directory of the tree has a watch; an event names the directory (by
//! its watch) and the entry that changed. The events are only read when the tracker
//! syncs (before and after each command), without blocking: the kernel queues each
//! event when the change is made, so after a command's processes have ended, the queue
//! holds all of its events. Each path named is then stamped again (`lstat`) and
//! compared with the index; a directory that appeared, disappeared or moved is walked
//! (watching its directories before they are read, so nothing created meanwhile is
//! missed) and compared as a whole.
//!
//! The watches are `nix`'s inotify binding rather than the `notify` crate: `notify`'s
//! recursive watch covers every directory (`node_modules/`, `target/` too, spending the
//! user's watch limit on what is never tracked), and it delivers events from a thread of
//! its own through a channel, so when a command has ended there is no telling whether
//! all of its events have crossed yet; reading the kernel's queue directly after the
//! process group has ended has no such gap. fanotify marks a whole mount or file system
//! only with `CAP_SYS_ADMIN`; without it, it marks directories one by one as inotify does,
//! with nothing gained.

use std::collections::{BTreeSet, HashMap};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ignore::IncrementalIgnore;
use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use tokio_util::sync::CancellationToken;

use super::{
    in_git, join, path_of, rel_of, split, stamp_of, walk_tree, within, DirHook, Fallback, Index,
    Name, ScanError, TrackerOptions, Walked, MAX_WATCHED_FILES,
};
use crate::walk;
use crate::workspace::ChangeKind;

/// Watchers alive in this process. Each holds an inotify instance, of which a user has
/// 128 by default (`fs.inotify.max_user_instances`), shared with every other program:
/// past this many, trackers scan.
const MAX_WATCHERS: usize = 32;
static WATCHERS: AtomicUsize = AtomicUsize::new(0);

/// The watch limit when `/proc/sys/fs/inotify/max_user_watches` cannot be read.
const DEFAULT_USER_WATCHES: usize = 8_192;

/// Events one sync keeps (about 100 bytes each, with their paths); past this many, the
/// sync walks the tree instead (see [`Watcher::read`]).
const EVENT_LIMIT: usize = 65_536;
/// How many times [`EVENT_LIMIT`] events one sync reads at most.
const DRAIN_FACTOR: usize = 4;

/// File systems on which another machine (or a user-space server) can change files
/// without an event reaching this kernel: network and cluster file systems, FUSE.
const UNREPORTED_FS: &[(u32, &str)] = &[
    (0x6969, "nfs"),
    (0x517b, "smb"),
    (0xff53_4d42, "cifs"),
    (0xfe53_4d42, "smb2"),
    (0x6573_5546, "fuse"),
    (0x0102_1997, "9p"),
    (0x00c3_6400, "ceph"),
    (0x7375_7245, "coda"),
    (0x5346_414f, "afs"),
    (0x6b41_4653, "afs"),
    (0x7461_636f, "ocfs2"),
    (0x0116_1970, "gfs2"),
    (0x0bd0_0bd0, "lustre"),
    (0x4750_4653, "gpfs"),
    (0x564c, "ncp"),
    (0xbeef_dead, "glusterfs"),
];

fn mask() -> AddWatchFlags {
    AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
        | AddWatchFlags::IN_ONLYDIR
        | AddWatchFlags::IN_DONT_FOLLOW
}

/// The name of the file system of `path` when it is one that does not report changes.
fn unreported_fs(path: &Path) -> Option<&'static str> {
    let stat = nix::sys::statfs::statfs(path).ok()?;
    // The magic numbers are 32-bit; `f_type`'s width differs between platforms.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let magic = stat.filesystem_type().0 as u32;
    UNREPORTED_FS
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, name)| *name)
}

/// `fs.inotify.max_user_watches`.
fn user_watch_limit() -> usize {
    std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(DEFAULT_USER_WATCHES)
}

/// A place among the process's [`MAX_WATCHERS`], given back when dropped.
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        WATCHERS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_WATCHERS).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        WATCHERS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the directory hook of one walk did.
struct Hook {
    inotify: Arc<Inotify>,
    root: PathBuf,
    root_dev: u64,
    /// The most watches this walk may hold.
    budget: usize,
    added: Mutex<Added>,
}

#[derive(Default)]
struct Added {
    /// The watch of each directory met (a directory already watched keeps its watch).
    wds: HashMap<WatchDescriptor, Name>,
    failure: Option<Fallback>,
}

impl Hook {
    fn new(inotify: &Arc<Inotify>, root: &Path, root_dev: u64, budget: usize) -> Arc<Hook> {
        Arc::new(Hook {
            inotify: inotify.clone(),
            root: root.to_path_buf(),
            root_dev,
            budget,
            added: Mutex::new(Added::default()),
        })
    }

    fn as_dir_hook(self: &Arc<Self>) -> DirHook {
        let hook = self.clone();
        Arc::new(move |path: &Path| hook.add(path))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Added> {
        self.added.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fail(&self, why: Fallback) {
        let mut added = self.lock();
        if added.failure.is_none() {
            added.failure = Some(why);
        }
    }

    /// Watches the directory at `path` (before the walk reads it).
    fn add(&self, path: &Path) {
        if self.lock().failure.is_some() {
            return;
        }
        let Some(rel) = rel_of(path, &self.root) else {
            return;
        };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.dev() != self.root_dev => {
                if let Some(fs) = unreported_fs(path) {
                    return self.fail(Fallback::UnreportedFs(format!(
                        "{fs} (mounted at {})",
                        path.display()
                    )));
                }
            }
            Ok(_) => {}
            // Gone already: its parent's event will tell.
            Err(_) => return,
        }
        match self.inotify.add_watch(path, mask()) {
            Ok(wd) => {
                let mut added = self.lock();
                added.wds.insert(wd, rel);
                if added.wds.len() > self.budget && added.failure.is_none() {
                    added.failure = Some(Fallback::WatchLimit);
                }
            }
            Err(Errno::ENOSPC | Errno::ENOMEM) => self.fail(Fallback::WatchLimit),
            // Vanished, replaced by a file, or unreadable (then the walk cannot list it
            // either, and no file in it is tracked).
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::EACCES | Errno::ELOOP) => {}
            Err(e) => self.fail(Fallback::Failed(format!(
                "inotify_add_watch {}: {e}",
                path.display()
            ))),
        }
    }

    fn finish(&self) -> Result<HashMap<WatchDescriptor, Name>, Fallback> {
        let mut added = self.lock();
        match added.failure.take() {
            Some(why) => Err(why),
            None => Ok(std::mem::take(&mut added.wds)),
        }
    }
}

/// The first directory of `dir` (relative) that is no longer a real directory, when it
/// is still indexed as one.
fn swapped_ancestor(root: &Path, dir: &[u8]) -> Option<Name> {
    let mut end = 0;
    while end < dir.len() {
        end = dir
            .get(end + 1..)
            .and_then(|rest| rest.iter().position(|&b| b == b'/'))
            .map_or(dir.len(), |i| end + 1 + i);
        let prefix = dir.get(..end)?;
        match std::fs::symlink_metadata(root.join(path_of(prefix))) {
            Ok(meta) if meta.is_dir() => {}
            _ => return Some(prefix.into()),
        }
    }
    None
}

/// The ignore rules of the workspace walk, for paths one at a time.
fn matcher(root: &Path) -> Option<IncrementalIgnore> {
    walk::walker(root, true).build_matchers().into_iter().next()
}

pub(super) struct Watcher {
    inotify: Arc<Inotify>,
    /// The directory (relative path) each watch is on.
    wd_dirs: HashMap<WatchDescriptor, Name>,
    dir_wds: HashMap<Name, WatchDescriptor>,
    /// The watch on `.git/info` (its `exclude` file holds ignore rules).
    info_wd: Option<WatchDescriptor>,
    matcher: Option<IncrementalIgnore>,
    budget: usize,
    root_dev: u64,
    /// Files with several hard links: stamped again at every sync.
    linked: BTreeSet<Name>,
    /// A file got another hard link: the other names of that file are not known, so
    /// the tree is walked again.
    relinked: bool,
    /// Events read by the last sync.
    last_read: usize,
    _slot: Slot,
}

/// What the events of one sync name.
#[derive(Default)]
struct Named {
    /// Paths to stamp again.
    paths: BTreeSet<Name>,
    /// Directories to walk again as a whole.
    subtrees: Vec<Name>,
    overflow: bool,
    /// An ignore file changed: the rules are read again.
    ignore_changed: bool,
}

impl Watcher {
    /// Watches the tree and indexes it, or says why it will be scanned instead.
    pub(super) fn start(
        root: &Path,
        options: &TrackerOptions,
        cancel: &CancellationToken,
    ) -> Result<Result<(Watcher, Index), Fallback>, ScanError> {
        if options.assume_unreported_fs {
            return Ok(Err(Fallback::UnreportedFs("assumed by the options".into())));
        }
        if let Some(fs) = unreported_fs(root) {
            return Ok(Err(Fallback::UnreportedFs(fs.into())));
        }
        let Some(slot) = Slot::take() else {
            return Ok(Err(Fallback::NotAvailable(format!(
                "{MAX_WATCHERS} workspaces are watched in this process already"
            ))));
        };
        let inotify = match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
            Ok(inotify) => Arc::new(inotify),
            Err(e) => return Ok(Err(Fallback::NotAvailable(format!("inotify_init: {e}")))),
        };
        let root_dev = match std::fs::symlink_metadata(root) {
            Ok(meta) => meta.dev(),
            Err(e) => return Ok(Err(Fallback::Failed(format!("lstat of the root: {e}")))),
        };
        let budget = options
            .max_watches
            .unwrap_or_else(|| user_watch_limit() / 2);
        let hook = Hook::new(&inotify, root, root_dev, budget);
        let items = match walk_tree(
            root,
            root,
            Some(&hook.as_dir_hook()),
            cancel,
            MAX_WATCHED_FILES,
        )? {
            Walked::Done(items) => items,
            Walked::TooMany => {
                return Ok(Err(Fallback::Failed(format!(
                    "more than {MAX_WATCHED_FILES} files"
                ))))
            }
        };
        let wds = match hook.finish() {
            Ok(wds) => wds,
            Err(why) => return Ok(Err(why)),
        };
        let (index, linked) = Index::of(items);
        let mut watcher = Watcher {
            inotify,
            wd_dirs: HashMap::new(),
            dir_wds: HashMap::new(),
            info_wd: None,
            matcher: matcher(root),
            budget,
            root_dev,
            linked: linked.into_iter().collect(),
            relinked: false,
            last_read: 0,
            _slot: slot,
        };
        watcher.map(wds);
        let info = root.join(".git/info");
        if info.is_dir() {
            watcher.info_wd = watcher.inotify.add_watch(&info, mask()).ok();
        }
        Ok(Ok((watcher, index)))
    }

    /// Directories watched.
    pub(super) fn watched(&self) -> usize {
        self.dir_wds.len()
    }

    fn map(&mut self, wds: HashMap<WatchDescriptor, Name>) {
        for (wd, dir) in wds {
            if let Some(previous) = self.wd_dirs.insert(wd, dir.clone()) {
                // The directory moved: its watch followed it.
                if previous != dir && self.dir_wds.get(&previous) == Some(&wd) {
                    self.dir_wds.remove(&previous);
                }
            }
            self.dir_wds.insert(dir, wd);
        }
    }

    /// Reads the queued events and brings `index` up to date, pushing the changes.
    /// Returns the queue overflows met (each costs one walk of the tree); an error when
    /// the tree can no longer be watched (the caller then scans it).
    pub(super) fn sync(
        &mut self,
        root: &Path,
        index: &mut Index,
        options: &TrackerOptions,
        changes: &mut Vec<(Name, ChangeKind)>,
    ) -> Result<u64, Fallback> {
        let named = self.read(options)?;
        if named.ignore_changed {
            self.matcher = matcher(root);
        }
        if named.overflow {
            self.resync(root, &[], index, changes)?;
            return Ok(1);
        }
        let mut subtrees = named.subtrees;
        subtrees.sort();
        subtrees.dedup();
        let mut kept: Vec<Name> = Vec::new();
        for sub in subtrees {
            if !kept.iter().any(|k| within(&sub, k)) {
                kept.push(sub);
            }
        }
        for sub in &kept {
            self.resync(root, sub, index, changes)?;
        }
        let linked: Vec<Name> = self.linked.iter().cloned().collect();
        // Whether each directory named is still a real one (no symbolic link on the way).
        let mut real: HashMap<Name, bool> = HashMap::new();
        for rel in named.paths.iter().chain(linked.iter()) {
            // Inside a directory walked again just now.
            if kept.iter().any(|k| rel.len() > k.len() && within(rel, k)) {
                continue;
            }
            let dir = split(rel).0;
            if !*real
                .entry(dir.into())
                .or_insert_with(|| super::real_dir(root, dir))
            {
                // A directory on the way was swapped for a link: the path leads
                // elsewhere. The swap's own event walks that directory again.
                if let Some(swapped) = swapped_ancestor(root, dir) {
                    self.resync(root, &swapped, index, changes)?;
                }
                continue;
            }
            self.update(root, rel, index, changes)?;
        }
        if std::mem::take(&mut self.relinked) {
            self.resync(root, &[], index, changes)?;
        }
        Ok(0)
    }

    /// Drains the event queue, keeping at most the event limit's worth of paths: past
    /// it (a command that touched more than that, or processes it left behind that keep
    /// writing), the sync is an overflow (one walk), the paths are dropped, and the
    /// queue is read on without keeping them, up to [`DRAIN_FACTOR`] times the limit in
    /// all, so that a writer that never stops neither keeps the sync from returning nor
    /// grows its memory. What is left in the queue is read by the next sync.
    fn read(&mut self, options: &TrackerOptions) -> Result<Named, Fallback> {
        let limit = options.queue_limit.unwrap_or(EVENT_LIMIT);
        let mut named = Named::default();
        let mut count = 0usize;
        self.last_read = 0;
        while count <= limit.saturating_mul(DRAIN_FACTOR) {
            let events = match self.inotify.read_events() {
                Ok(events) => events,
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Fallback::Failed(format!("reading inotify events: {e}"))),
            };
            count += events.len();
            self.last_read = count;
            if count > limit && !named.overflow {
                named.overflow = true;
            }
            if named.overflow {
                // The walk covers every path: keep none.
                named.paths = BTreeSet::new();
                named.subtrees = Vec::new();
            }
            for event in events {
                let mask = event.mask;
                if mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    named.overflow = true;
                    continue;
                }
                if Some(event.wd) == self.info_wd {
                    // `.git/info/exclude` changed: the rules of the whole tree may have.
                    named.ignore_changed = true;
                    named.subtrees.push(Name::default());
                    continue;
                }
                let Some(dir) = self.wd_dirs.get(&event.wd) else {
                    // A watch removed since (its IN_IGNORED, or events queued before).
                    continue;
                };
                if mask.intersects(AddWatchFlags::IN_IGNORED | AddWatchFlags::IN_UNMOUNT) {
                    // The directory is gone (its parent's event tells how) or a file
                    // system was unmounted from under it.
                    if dir.is_empty() {
                        return Err(Fallback::RootGone);
                    }
                    let dir = dir.clone();
                    if mask.contains(AddWatchFlags::IN_IGNORED) {
                        self.wd_dirs.remove(&event.wd);
                        if self.dir_wds.get(&dir) == Some(&event.wd) {
                            self.dir_wds.remove(&dir);
                        }
                    }
                    if !named.overflow {
                        named.subtrees.push(dir);
                    }
                    continue;
                }
                if mask.intersects(AddWatchFlags::IN_DELETE_SELF | AddWatchFlags::IN_MOVE_SELF) {
                    if dir.is_empty() {
                        return Err(Fallback::RootGone);
                    }
                    continue;
                }
                let Some(name) = event.name else {
                    continue;
                };
                let name = name.as_bytes();
                if name == b".git" {
                    continue;
                }
                if name == b".gitignore" || name == b".ignore" {
                    named.ignore_changed = true;
                }
                if named.overflow {
                    continue;
                }
                let rel = join(dir, name);
                if name == b".gitignore" || name == b".ignore" {
                    named.subtrees.push(dir.clone());
                }
                if mask.contains(AddWatchFlags::IN_ISDIR)
                    && mask.intersects(
                        AddWatchFlags::IN_CREATE
                            | AddWatchFlags::IN_DELETE
                            | AddWatchFlags::IN_MOVED_FROM
                            | AddWatchFlags::IN_MOVED_TO,
                    )
                {
                    named.subtrees.push(rel.clone());
                }
                named.paths.insert(rel);
            }
        }
        Ok(named)
    }

    /// Events read by the last sync.
    pub(super) fn last_read(&self) -> usize {
        self.last_read
    }

    fn ignored(&mut self, rel: &[u8], is_dir: bool) -> bool {
        if in_git(rel) {
            return true;
        }
        match &mut self.matcher {
            Some(matcher) => matcher.matched(path_of(rel), is_dir).is_ignore(),
            None => false,
        }
    }

    /// Stamps one path again.
    fn update(
        &mut self,
        root: &Path,
        rel: &[u8],
        index: &mut Index,
        changes: &mut Vec<(Name, ChangeKind)>,
    ) -> Result<(), Fallback> {
        let (dir, _) = split(rel);
        if in_git(rel) || !index.has_dir(dir) {
            // Under a directory that is not tracked (ignored, or gone).
            return Ok(());
        }
        match std::fs::symlink_metadata(root.join(path_of(rel))) {
            Err(_) => {
                if index.file(rel).is_some() {
                    index.set_file(rel, None);
                    changes.push((rel.into(), ChangeKind::Deleted));
                }
                self.linked.remove(rel);
                if index.has_dir(rel) {
                    self.resync(root, rel, index, changes)?;
                }
            }
            Ok(meta) if meta.is_dir() => {
                if index.file(rel).is_some() {
                    index.set_file(rel, None);
                    changes.push((rel.into(), ChangeKind::Deleted));
                    self.linked.remove(rel);
                }
                if !index.has_dir(rel) {
                    self.resync(root, rel, index, changes)?;
                }
            }
            Ok(meta) => {
                if index.has_dir(rel) {
                    // A directory replaced by a file: its files are gone.
                    self.resync(root, rel, index, changes)?;
                }
                let stamp = stamp_of(&meta);
                if self.ignored(rel, false) {
                    if let Some(old) = index.file(rel) {
                        // It became ignored: a change only if it was written too.
                        index.set_file(rel, None);
                        if old != stamp {
                            changes.push((rel.into(), ChangeKind::Modified));
                        }
                    }
                    self.linked.remove(rel);
                    return Ok(());
                }
                match index.file(rel) {
                    None => changes.push((rel.into(), ChangeKind::Created)),
                    Some(old) if old != stamp => {
                        changes.push((rel.into(), ChangeKind::Modified));
                    }
                    Some(_) => {}
                }
                index.set_file(rel, Some(stamp));
                if meta.nlink() > 1 {
                    if self.linked.insert(rel.into()) {
                        self.relinked = true;
                    }
                } else {
                    self.linked.remove(rel);
                }
            }
        }
        Ok(())
    }

    /// Walks the directory `sub` (the root when empty) again, watching what is new in
    /// it, and replaces its part of the index.
    fn resync(
        &mut self,
        root: &Path,
        sub: &[u8],
        index: &mut Index,
        changes: &mut Vec<(Name, ChangeKind)>,
    ) -> Result<(), Fallback> {
        let abs = root.join(path_of(sub));
        let old_dirs: Vec<(Name, WatchDescriptor)> = index
            .subtree_dirs(sub)
            .into_iter()
            .filter_map(|d| self.dir_wds.get(&d).map(|wd| (d, *wd)))
            .collect();
        let is_dir = std::fs::symlink_metadata(&abs).is_ok_and(|m| m.is_dir());
        let tracked =
            is_dir && (sub.is_empty() || (index.has_dir(split(sub).0) && !self.ignored(sub, true)));
        let mut wds = HashMap::new();
        let fresh = if tracked {
            let others = self.dir_wds.len().saturating_sub(old_dirs.len());
            let hook = Hook::new(
                &self.inotify,
                root,
                self.root_dev,
                self.budget.saturating_sub(others),
            );
            let room = MAX_WATCHED_FILES.saturating_sub(index.len() - index.subtree_files(sub));
            let walked = walk_tree(
                root,
                &abs,
                Some(&hook.as_dir_hook()),
                &CancellationToken::new(),
                room,
            );
            let items = match walked {
                Ok(Walked::Done(items)) => items,
                Ok(Walked::TooMany) => {
                    return Err(Fallback::Failed(format!(
                        "more than {MAX_WATCHED_FILES} files"
                    )))
                }
                Err(ScanError::Cancelled) => return Err(Fallback::Failed("cancelled".into())),
            };
            wds = hook.finish()?;
            items
        } else {
            Vec::new()
        };
        let (fresh, linked) = Index::of(fresh);
        index.replace_subtree(sub, fresh, root, changes);
        for (dir, wd) in old_dirs {
            if self.dir_wds.get(&dir) == Some(&wd) {
                self.dir_wds.remove(&dir);
            }
            if !wds.contains_key(&wd) && self.wd_dirs.get(&wd) == Some(&dir) {
                self.wd_dirs.remove(&wd);
                let _ = self.inotify.rm_watch(wd);
            }
        }
        self.map(wds);
        self.linked.retain(|rel| !within(rel, sub));
        self.linked.extend(linked);
        Ok(())
    }
}
