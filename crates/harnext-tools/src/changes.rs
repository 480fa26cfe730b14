//! What a shell command changed in the workspace.
//!
//! Each [`crate::Workspace`] (one per run) holds a [`ChangeTracker`]. It keeps an index of
//! the workspace's files, each with a stamp (a hash of size, modification time,
//! status-change time and inode, read with one `lstat`; nothing is opened or hashed), and
//! brings it up to date around every command: changes made while a command runs are
//! recorded in the workspace (so they appear in `filesChanged`), changes made between
//! commands (the agent's own file tools, a person editing) only update the index.
//! Comparing stamps catches writes (`mtime`, `size`), in-place replacement (`sed -i`,
//! editors that rename a temporary file: a new inode), `touch` and `chmod` (`ctime`,
//! which no command can set back).
//!
//! How the index is brought up to date depends on the tree:
//! - **Watching** (Linux, trees of more than [`TrackerOptions::watch_threshold`]
//!   entries): the directories of the tree are watched with inotify for the whole run.
//!   The kernel queues an event at the moment of each change, so once a command's process
//!   group has ended, reading the queue (without blocking) yields every path it touched;
//!   only those are stamped again. A command that changes nothing costs one `read`, in a
//!   tree of any size. A directory that appears (`mkdir`, `mv` of a directory, `git
//!   checkout`) is watched and walked when its event is read; one that disappears has its
//!   files reported deleted. The first command of a run pays for the initial walk (about
//!   what `rg --files` costs).
//! - **Scanning** (small trees, and every fallback): the tree is walked before and after
//!   each command and the two indexes compared, which costs about 1.5 ms per 1,000 files.
//!
//! Watching falls back to scanning, without losing a change, when:
//! - the inotify event queue overflows (`IN_Q_OVERFLOW`), or one sync meets more events
//!   than [`TrackerOptions::queue_limit`]: the tree is walked once and compared with the
//!   index, and watching goes on (a sync reads a bounded number of events, so processes
//!   left writing without end can neither hold it nor grow its memory);
//! - the watch limit is reached (`fs.inotify.max_user_watches`, or
//!   [`TrackerOptions::max_watches`]; a tracker takes at most half of the user's limit so
//!   as not to starve other programs), or inotify is not available: from then on, for the
//!   rest of the run;
//! - the tree (or a directory of it mounted from another file system) is on a network
//!   or FUSE file system (NFS, SMB, FUSE, 9p, Ceph...): another machine can change files
//!   there without any event reaching this one;
//! - the root of the workspace is moved, deleted or unmounted.
//!
//! What is tracked, and why:
//! - the files the walk of [`crate::walk`] visits: files ignored by `.gitignore`/`.ignore`
//!   are skipped, so build output and dependencies (`target/`, `node_modules/`,
//!   `dist/`...) that a command regenerates are not reported as changes (they would drown
//!   the files the agent actually edited); changing an ignore file re-reads the rules for
//!   the part of the tree under it;
//! - hidden files are included (`.env`, `.github/workflows/*.yml` are sources), but `.git`
//!   is never entered: git's own bookkeeping is not a change to the workspace;
//! - symbolic links are recorded as entries (their own `lstat`) and never followed: a
//!   directory swapped for a link has its files reported deleted, and nothing written
//!   through the link is reported;
//! - directories are not entries: an empty new directory is not a changed file, a file
//!   created in it is;
//! - a file with several hard links is stamped again after every command, since a write
//!   through a link outside the workspace raises no event inside it.
//!
//! A file created and deleted during the same run is not listed. A workspace with more
//! than [`MAX_SCANNED_FILES`] files (not ignored) that cannot be watched, or more than
//! [`MAX_WATCHED_FILES`], is not tracked: nothing is recorded, and later commands do not
//! walk it.

#[cfg(any(target_os = "linux", target_os = "android"))]
mod watch;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ignore::{DirEntry, WalkState};
use tokio_util::sync::CancellationToken;

use crate::walk::{self, Stopped};
use crate::workspace::ChangeKind;
use crate::{ToolContext, ToolError, Workspace};

/// The most files a scanned (not watched) workspace may hold; past this its changes are
/// not tracked (a scan would cost about half a second per command).
pub const MAX_SCANNED_FILES: usize = 300_000;
/// The most files a watched workspace may hold (the index takes about 50 bytes a file).
pub const MAX_WATCHED_FILES: usize = 2_000_000;
/// Entries a walk visits on its own thread before it starts again in parallel: a
/// parallel walk costs about a millisecond of thread coordination, more than the whole
/// walk of a few hundred files.
const SEQUENTIAL_LIMIT: usize = 2_000;

/// A path relative to the workspace root, or a file name, as bytes (`/`-separated).
type Name = Box<[u8]>;

/// How a [`ChangeTracker`] follows the workspace (tests and benchmarks set these; the
/// defaults are what runs use).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerOptions {
    /// Trees with at most this many entries (files and directories) are scanned around
    /// each command rather than watched: scanning them costs less than a millisecond, and
    /// an inotify instance is a limited resource (128 per user by default).
    pub watch_threshold: usize,
    /// Never watch (always scan).
    pub never_watch: bool,
    /// The most directories this tracker watches; `None`: half of
    /// `fs.inotify.max_user_watches`. Past it, the tracker scans.
    pub max_watches: Option<usize>,
    /// Treat the workspace's file system as one that does not report changes (as NFS
    /// or FUSE), which makes the tracker scan.
    pub assume_unreported_fs: bool,
    /// Treat a drain of more than this many events as a queue overflow (one walk of the
    /// tree instead of a path per event); `None`: 65,536. A sync keeps at most this many
    /// events and reads at most four times as many, so that processes writing without
    /// end can neither hold a sync nor grow its memory (the kernel's own queue limit is
    /// `fs.inotify.max_queued_events`).
    pub queue_limit: Option<usize>,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        TrackerOptions {
            watch_threshold: 1_000,
            never_watch: false,
            max_watches: None,
            assume_unreported_fs: false,
            queue_limit: None,
        }
    }
}

/// How a tracker currently follows its workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackingMode {
    /// No command has run yet.
    NotStarted,
    /// The tree is walked around each command.
    Scanning,
    /// The tree's directories are watched.
    Watching,
    /// The tree is too large: changes of commands are not tracked.
    Off,
}

/// Why a scan ended without a result.
#[derive(Debug, PartialEq, Eq)]
pub enum ScanError {
    Cancelled,
}

/// The workspace's files and their stamps, by directory.
#[derive(Debug, Default)]
pub struct Index {
    /// Every tracked (not ignored) directory, by path relative to the root (the root is
    /// the empty path), with its files sorted by name.
    dirs: BTreeMap<Name, Vec<(Name, u64)>>,
    files: usize,
}

/// One entry a walk met.
struct Item {
    rel: Name,
    /// `None` for a directory.
    stamp: Option<u64>,
    /// A file with more than one hard link.
    linked: bool,
}

/// Called with each directory a walk is about to read (after the ignore rules let it
/// in, before its entries are listed).
pub(crate) type DirHook = Arc<dyn Fn(&Path) + Send + Sync>;

/// How a walk ended.
enum Walked {
    Done(Vec<Item>),
    /// It found more files than allowed.
    TooMany,
}

/// The stamp of a file: a hash of what changes when it is written, replaced, touched or
/// chmod-ed.
fn stamp_of(meta: &std::fs::Metadata) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    (
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
        meta.ino(),
    )
        .hash(&mut h);
    h.finish()
}

/// `path` relative to `root`, as bytes (`None` when it is not under `root`).
fn rel_of(path: &Path, root: &Path) -> Option<Name> {
    path.strip_prefix(root)
        .ok()
        .map(|rel| rel.as_os_str().as_bytes().into())
}

/// The path for a relative name.
fn path_of(rel: &[u8]) -> &Path {
    Path::new(std::ffi::OsStr::from_bytes(rel))
}

/// `dir/name` (or `name` at the root).
fn join(dir: &[u8], name: &[u8]) -> Name {
    if dir.is_empty() {
        return name.into();
    }
    let mut out = Vec::with_capacity(dir.len() + 1 + name.len());
    out.extend_from_slice(dir);
    out.push(b'/');
    out.extend_from_slice(name);
    out.into()
}

/// The directory and file name of a relative path.
fn split(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&[], rel),
    }
}

/// True when `rel` is `sub` or inside it (`sub` empty: everything).
fn within(rel: &[u8], sub: &[u8]) -> bool {
    sub.is_empty() || rel == sub || (rel.starts_with(sub) && rel.get(sub.len()) == Some(&b'/'))
}

/// True when a component of `rel` is `.git`.
fn in_git(rel: &[u8]) -> bool {
    rel.split(|&b| b == b'/').any(|c| c == b".git")
}

fn item(entry: &DirEntry, root: &Path) -> Option<Item> {
    let file_type = entry.file_type()?;
    let rel = rel_of(entry.path(), root)?;
    if file_type.is_dir() {
        return Some(Item {
            rel,
            stamp: None,
            linked: false,
        });
    }
    let meta = entry.metadata().ok()?;
    Some(Item {
        rel,
        stamp: Some(stamp_of(&meta)),
        linked: meta.nlink() > 1,
    })
}

/// Walks `start` (the root or a directory under it) with the workspace rules, hidden
/// files included, calling `hook` before each directory is read (the start included).
/// Stops with [`Walked::TooMany`] past `max_files` files.
fn walk_tree(
    root: &Path,
    start: &Path,
    hook: Option<&DirHook>,
    cancel: &CancellationToken,
    max_files: usize,
) -> Result<Walked, ScanError> {
    let builder = || {
        let mut builder = walk::walker(start, true);
        let hook = hook.cloned();
        builder.filter_entry(move |entry| {
            if entry.file_name() == ".git" {
                return false;
            }
            if let Some(hook) = &hook {
                if entry.file_type().is_some_and(|t| t.is_dir()) {
                    hook(entry.path());
                }
            }
            true
        });
        builder
    };
    if let Some(hook) = hook {
        hook(start);
    }
    // Small trees on this thread.
    let mut items = Vec::new();
    let mut files = 0usize;
    let mut small = true;
    for (seen, entry) in builder().build().enumerate() {
        if seen >= SEQUENTIAL_LIMIT {
            small = false;
            break;
        }
        if cancel.is_cancelled() {
            return Err(ScanError::Cancelled);
        }
        if let Some(item) = entry.ok().as_ref().and_then(|e| item(e, root)) {
            if item.stamp.is_some() {
                files += 1;
                if files > max_files {
                    return Ok(Walked::TooMany);
                }
            }
            items.push(item);
        }
    }
    if small {
        return Ok(Walked::Done(items));
    }
    drop(items);
    let count = AtomicUsize::new(0);
    let (items, stopped) = walk::collect_parallel(
        &builder(),
        cancel,
        || (),
        |(), entry, out: &mut Vec<Item>| {
            let Some(item) = item(entry, root) else {
                return WalkState::Continue;
            };
            if item.stamp.is_some() && count.fetch_add(1, Ordering::Relaxed) >= max_files {
                return WalkState::Quit;
            }
            out.push(item);
            WalkState::Continue
        },
    );
    match stopped {
        Some(Stopped::Cancelled) => Err(ScanError::Cancelled),
        Some(Stopped::Quit) => Ok(Walked::TooMany),
        None => Ok(Walked::Done(items)),
    }
}

impl Index {
    /// Walks the whole tree under `root` (the canonical workspace root). `None` when it
    /// holds more than `max_files` files.
    pub fn scan(
        root: &Path,
        cancel: &CancellationToken,
        max_files: usize,
    ) -> Result<Option<Index>, ScanError> {
        match walk_tree(root, root, None, cancel, max_files)? {
            Walked::Done(items) => Ok(Some(Index::of(items).0)),
            Walked::TooMany => Ok(None),
        }
    }

    /// The index of walked items, and the files among them with several links.
    fn of(items: Vec<Item>) -> (Index, Vec<Name>) {
        let mut dirs: BTreeMap<Name, Vec<(Name, u64)>> = BTreeMap::new();
        let mut linked = Vec::new();
        let mut files = 0;
        for item in items {
            match item.stamp {
                None => {
                    dirs.entry(item.rel).or_default();
                }
                Some(stamp) => {
                    files += 1;
                    if item.linked {
                        linked.push(item.rel.clone());
                    }
                    let (dir, name) = split(&item.rel);
                    match dirs.get_mut(dir) {
                        Some(list) => list.push((name.into(), stamp)),
                        None => {
                            dirs.insert(dir.into(), vec![(name.into(), stamp)]);
                        }
                    }
                }
            }
        }
        for list in dirs.values_mut() {
            list.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        (Index { dirs, files }, linked)
    }

    /// Files in the index.
    pub fn len(&self) -> usize {
        self.files
    }

    /// True when the index holds no file.
    pub fn is_empty(&self) -> bool {
        self.files == 0
    }

    /// Directories in the index (the root included).
    pub fn dirs(&self) -> usize {
        self.dirs.len()
    }

    /// About how many bytes of memory the index holds (its allocations, without the
    /// allocator's rounding).
    pub fn heap_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(Name, u64)>();
        self.dirs
            .iter()
            .map(|(dir, files)| {
                dir.len()
                    + std::mem::size_of::<(Name, Vec<(Name, u64)>)>()
                    + files.capacity() * entry
                    + files.iter().map(|(name, _)| name.len()).sum::<usize>()
            })
            .sum()
    }

    fn has_dir(&self, rel: &[u8]) -> bool {
        self.dirs.contains_key(rel)
    }

    fn file(&self, rel: &[u8]) -> Option<u64> {
        let (dir, name) = split(rel);
        let list = self.dirs.get(dir)?;
        let i = list.binary_search_by(|e| (*e.0).cmp(name)).ok()?;
        list.get(i).map(|e| e.1)
    }

    /// Sets (or, with `None`, removes) a file's stamp; its directory must be indexed.
    fn set_file(&mut self, rel: &[u8], stamp: Option<u64>) {
        let (dir, name) = split(rel);
        let Some(list) = self.dirs.get_mut(dir) else {
            return;
        };
        match (list.binary_search_by(|e| (*e.0).cmp(name)), stamp) {
            (Ok(i), Some(stamp)) => {
                if let Some(e) = list.get_mut(i) {
                    e.1 = stamp;
                }
            }
            (Ok(i), None) => {
                list.remove(i);
                self.files -= 1;
            }
            (Err(i), Some(stamp)) => {
                list.insert(i, (name.into(), stamp));
                self.files += 1;
            }
            (Err(_), None) => {}
        }
    }

    /// Removes and returns the directories at and under `sub` (everything for the root).
    fn take_subtree(&mut self, sub: &[u8]) -> BTreeMap<Name, Vec<(Name, u64)>> {
        let taken = if sub.is_empty() {
            std::mem::take(&mut self.dirs)
        } else {
            // Keys inside `sub/` lie in [`sub/`, `sub0`): `0` follows `/` in ASCII.
            let mut lower = sub.to_vec();
            lower.push(b'/');
            let mut upper = sub.to_vec();
            upper.push(b'0');
            let mut inside = self.dirs.split_off(lower.as_slice());
            let mut after = inside.split_off(upper.as_slice());
            self.dirs.append(&mut after);
            if let Some((key, files)) = self.dirs.remove_entry(sub) {
                inside.insert(key, files);
            }
            inside
        };
        let count: usize = taken.values().map(Vec::len).sum();
        self.files -= count;
        taken
    }

    /// The directories at and under `sub`, with their files.
    fn subtree(&self, sub: &[u8]) -> impl Iterator<Item = (&Name, &Vec<(Name, u64)>)> + '_ {
        let sub: Name = sub.into();
        self.dirs
            .range::<[u8], _>((std::ops::Bound::Included(&*sub), std::ops::Bound::Unbounded))
            .take_while({
                let sub = sub.clone();
                move |(d, _)| d.starts_with(&sub)
            })
            .filter(move |(d, _)| within(d, &sub))
    }

    /// The directories at and under `sub`.
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    fn subtree_dirs(&self, sub: &[u8]) -> Vec<Name> {
        self.subtree(sub).map(|(d, _)| d.clone()).collect()
    }

    /// The files at and under `sub`.
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    fn subtree_files(&self, sub: &[u8]) -> usize {
        self.subtree(sub).map(|(_, files)| files.len()).sum()
    }

    fn put_subtree(&mut self, mut dirs: BTreeMap<Name, Vec<(Name, u64)>>) {
        self.files += dirs.values().map(Vec::len).sum::<usize>();
        self.dirs.append(&mut dirs);
    }

    /// Replaces the part of the index at and under `sub` with `new`, pushing the changes
    /// to `changes`. A file missing from `new` is checked with `lstat` under `root` before
    /// it counts as deleted: it may only have become ignored.
    fn replace_subtree(
        &mut self,
        sub: &[u8],
        new: Index,
        root: &Path,
        changes: &mut Vec<(Name, ChangeKind)>,
    ) {
        let old = self.take_subtree(sub);
        diff_dirs(&old, &new.dirs, root, changes);
        self.put_subtree(new.dirs);
    }

    /// The changes from `self` (before) to `after`, sorted by path.
    pub fn diff(&self, after: &Index, root: &Path) -> Vec<(PathBuf, ChangeKind)> {
        let mut changes = Vec::new();
        diff_dirs(&self.dirs, &after.dirs, root, &mut changes);
        let mut out: Vec<(PathBuf, ChangeKind)> = changes
            .into_iter()
            .map(|(rel, kind)| (path_of(&rel).to_path_buf(), kind))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// Pushes the changes from `old` to `new` (directories with their files).
fn diff_dirs(
    old: &BTreeMap<Name, Vec<(Name, u64)>>,
    new: &BTreeMap<Name, Vec<(Name, u64)>>,
    root: &Path,
    changes: &mut Vec<(Name, ChangeKind)>,
) {
    let empty: Vec<(Name, u64)> = Vec::new();
    let mut a = old.iter().peekable();
    let mut b = new.iter().peekable();
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((da, _)), Some((db, _))) => da.cmp(db),
        };
        let (left, right) = match order {
            std::cmp::Ordering::Less => (a.next(), None),
            std::cmp::Ordering::Greater => (None, b.next()),
            std::cmp::Ordering::Equal => (a.next(), b.next()),
        };
        let Some(dir) = left.or(right).map(|(d, _)| d) else {
            break;
        };
        let before = left.map_or(&empty, |(_, files)| files);
        let after = right.map_or(&empty, |(_, files)| files);
        diff_files(dir, before, after, root, changes);
    }
}

fn diff_files(
    dir: &[u8],
    before: &[(Name, u64)],
    after: &[(Name, u64)],
    root: &Path,
    changes: &mut Vec<(Name, ChangeKind)>,
) {
    let mut i = 0;
    let mut j = 0;
    let mut dir_real = None;
    loop {
        match (before.get(i), after.get(j)) {
            (None, None) => break,
            (Some((name, stamp)), None) => {
                gone(dir, name, *stamp, root, &mut dir_real, changes);
                i += 1;
            }
            (None, Some((name, _))) => {
                changes.push((join(dir, name), ChangeKind::Created));
                j += 1;
            }
            (Some((na, sa)), Some((nb, sb))) => match na.cmp(nb) {
                std::cmp::Ordering::Less => {
                    gone(dir, na, *sa, root, &mut dir_real, changes);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    changes.push((join(dir, nb), ChangeKind::Created));
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    if sa != sb {
                        changes.push((join(dir, na), ChangeKind::Modified));
                    }
                    i += 1;
                    j += 1;
                }
            },
        }
    }
}

/// A file no longer found by the walk: deleted, unless it is still there (it became
/// ignored), in which case it changed only if its stamp did. `dir_real` tells (once
/// per directory) whether its directory is still a real directory of the tree: when a
/// directory on the way was swapped for a symbolic link, the file at that path is not
/// the workspace's any more (it may be outside it), and the tracked one is gone.
fn gone(
    dir: &[u8],
    name: &[u8],
    stamp: u64,
    root: &Path,
    dir_real: &mut Option<bool>,
    changes: &mut Vec<(Name, ChangeKind)>,
) {
    let rel = join(dir, name);
    if !*dir_real.get_or_insert_with(|| real_dir(root, dir)) {
        changes.push((rel, ChangeKind::Deleted));
        return;
    }
    match std::fs::symlink_metadata(root.join(path_of(&rel))) {
        Ok(meta) if !meta.is_dir() => {
            if stamp_of(&meta) != stamp {
                changes.push((rel, ChangeKind::Modified));
            }
        }
        _ => changes.push((rel, ChangeKind::Deleted)),
    }
}

/// True when every component of `dir` (relative to `root`) is a directory, none a
/// symbolic link: the path leads where the walk would, inside the tree.
pub(crate) fn real_dir(root: &Path, dir: &[u8]) -> bool {
    if dir.is_empty() {
        return true;
    }
    let mut at = 0;
    loop {
        let end = dir
            .get(at..)
            .and_then(|rest| rest.iter().position(|&b| b == b'/'))
            .map_or(dir.len(), |i| at + i);
        let prefix = dir.get(..end).unwrap_or(dir);
        match std::fs::symlink_metadata(root.join(path_of(prefix))) {
            Ok(meta) if meta.is_dir() => {}
            _ => return false,
        }
        if end >= dir.len() {
            return true;
        }
        at = end + 1;
    }
}

/// Why a tracker scans instead of watching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// The tree is small enough to scan.
    SmallTree,
    /// Watching is turned off ([`TrackerOptions::never_watch`]) or not available here.
    NotAvailable(String),
    /// The watch limit was reached.
    WatchLimit,
    /// The tree is on a file system that may change without telling this machine.
    UnreportedFs(String),
    /// The workspace root was moved, deleted or unmounted while watched.
    RootGone,
    /// More files than a watched tree may hold, or another failure of the watch.
    Failed(String),
}

enum Mode {
    NotStarted,
    Scanning,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Watching(Box<watch::Watcher>),
    Off,
}

struct State {
    options: TrackerOptions,
    mode: Mode,
    /// The files as of the last time the tracker looked.
    index: Index,
    /// Commands running (between `begin` and `finish`).
    active: usize,
    fallback: Option<Fallback>,
    /// Queue overflows met while watching (each cost one walk of the tree).
    overflows: u64,
}

/// Follows the changes of one workspace for the length of a run; see the module docs.
pub struct ChangeTracker {
    state: Mutex<State>,
}

impl std::fmt::Debug for ChangeTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeTracker")
            .field("mode", &self.mode())
            .finish()
    }
}

impl Default for ChangeTracker {
    fn default() -> Self {
        ChangeTracker {
            state: Mutex::new(State {
                options: TrackerOptions::default(),
                mode: Mode::NotStarted,
                index: Index::default(),
                active: 0,
                fallback: None,
                overflows: 0,
            }),
        }
    }
}

impl ChangeTracker {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the options and starts over (the next command walks the tree again).
    pub fn set_options(&self, options: TrackerOptions) {
        let mut state = self.lock();
        state.options = options;
        state.mode = Mode::NotStarted;
        state.index = Index::default();
        state.fallback = None;
    }

    /// How the workspace is followed now.
    pub fn mode(&self) -> TrackingMode {
        match self.lock().mode {
            Mode::NotStarted => TrackingMode::NotStarted,
            Mode::Scanning => TrackingMode::Scanning,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Mode::Watching(_) => TrackingMode::Watching,
            Mode::Off => TrackingMode::Off,
        }
    }

    /// Why the tracker scans rather than watches (`None` while watching or not started).
    pub fn fallback(&self) -> Option<Fallback> {
        self.lock().fallback.clone()
    }

    /// Event-queue overflows met so far.
    pub fn overflows(&self) -> u64 {
        self.lock().overflows
    }

    /// Files in the index.
    pub fn indexed_files(&self) -> usize {
        self.lock().index.len()
    }

    /// About how many bytes the index takes ([`Index::heap_bytes`]).
    pub fn index_bytes(&self) -> usize {
        self.lock().index.heap_bytes()
    }

    /// Events the last sync read from the watch queue (0 when not watching).
    pub fn events_last_read(&self) -> usize {
        match &self.lock().mode {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Mode::Watching(w) => w.last_read(),
            _ => 0,
        }
    }

    /// Directories watched now.
    pub fn watched_dirs(&self) -> usize {
        match &self.lock().mode {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Mode::Watching(w) => w.watched(),
            _ => 0,
        }
    }

    /// Before a command: brings the index up to date (the first call walks the tree and
    /// chooses how to follow it). Changes found now are recorded only while another
    /// command runs (they are its changes); otherwise they happened between commands.
    /// False when the workspace is not tracked.
    pub fn begin(
        &self,
        workspace: &Workspace,
        cancel: &CancellationToken,
    ) -> Result<bool, ScanError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let root = workspace.root();
        let record = state.active > 0;
        let mut changes = Vec::new();
        match &state.mode {
            Mode::Off => return Ok(false),
            Mode::NotStarted => start(state, root, cancel)?,
            Mode::Scanning => {
                if !record {
                    match Index::scan(root, cancel, MAX_SCANNED_FILES)? {
                        Some(index) => state.index = index,
                        None => state.mode = Mode::Off,
                    }
                }
            }
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Mode::Watching(_) => sync_watch(state, root, &mut changes),
        }
        if matches!(state.mode, Mode::Off) {
            drop(guard);
            workspace.set_too_large_to_scan();
            return Ok(false);
        }
        state.active += 1;
        drop(guard);
        if record {
            record_changes(workspace, changes);
        }
        Ok(true)
    }

    /// After a command whose processes have all ended: records what changed since
    /// [`ChangeTracker::begin`]. Not cancellable.
    pub fn finish(&self, workspace: &Workspace) {
        let mut guard = self.lock();
        let state = &mut *guard;
        state.active = state.active.saturating_sub(1);
        let root = workspace.root();
        let mut changes = Vec::new();
        match &state.mode {
            Mode::Off | Mode::NotStarted => {}
            Mode::Scanning => rescan(state, root, &mut changes),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Mode::Watching(_) => sync_watch(state, root, &mut changes),
        }
        let off = matches!(state.mode, Mode::Off);
        drop(guard);
        if off {
            workspace.set_too_large_to_scan();
        }
        record_changes(workspace, changes);
    }

    /// A command that began and will not finish (its call was dropped).
    pub fn abandon(&self) {
        let mut state = self.lock();
        state.active = state.active.saturating_sub(1);
    }
}

/// Walks the whole tree and compares it with the index (scanning, and every fallback).
fn rescan(state: &mut State, root: &Path, changes: &mut Vec<(Name, ChangeKind)>) {
    match Index::scan(root, &CancellationToken::new(), MAX_SCANNED_FILES) {
        Ok(Some(index)) => state.index.replace_subtree(&[], index, root, changes),
        Ok(None) => state.mode = Mode::Off,
        Err(ScanError::Cancelled) => {}
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn sync_watch(state: &mut State, root: &Path, changes: &mut Vec<(Name, ChangeKind)>) {
    let Mode::Watching(watcher) = &mut state.mode else {
        return;
    };
    match watcher.sync(root, &mut state.index, &state.options, changes) {
        Ok(overflows) => state.overflows += overflows,
        Err(fallback) => {
            state.fallback = Some(fallback);
            state.mode = Mode::Scanning;
            rescan(state, root, changes);
        }
    }
}

/// The first look at the tree: an index, and whether to watch it.
fn start(state: &mut State, root: &Path, cancel: &CancellationToken) -> Result<(), ScanError> {
    let threshold = state.options.watch_threshold;
    // Small trees are walked on this thread and scanned around each command.
    if let Walked::Done(items) = walk_tree(root, root, None, cancel, threshold)? {
        if items.len() <= threshold {
            state.index = Index::of(items).0;
            state.mode = Mode::Scanning;
            state.fallback = Some(Fallback::SmallTree);
            return Ok(());
        }
    }
    let fallback = match watch_or_why(state, root, cancel)? {
        None => return Ok(()),
        Some(fallback) => fallback,
    };
    state.fallback = Some(fallback);
    match Index::scan(root, cancel, MAX_SCANNED_FILES)? {
        Some(index) => {
            state.index = index;
            state.mode = Mode::Scanning;
        }
        None => state.mode = Mode::Off,
    }
    Ok(())
}

/// Starts watching (`None`), or says why the tree will be scanned.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn watch_or_why(
    state: &mut State,
    root: &Path,
    cancel: &CancellationToken,
) -> Result<Option<Fallback>, ScanError> {
    if state.options.never_watch {
        return Ok(Some(Fallback::NotAvailable(
            "watching is turned off".into(),
        )));
    }
    match watch::Watcher::start(root, &state.options, cancel)? {
        Ok((watcher, index)) => {
            state.index = index;
            state.mode = Mode::Watching(Box::new(watcher));
            state.fallback = None;
            Ok(None)
        }
        Err(fallback) => Ok(Some(fallback)),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn watch_or_why(
    _state: &mut State,
    _root: &Path,
    _cancel: &CancellationToken,
) -> Result<Option<Fallback>, ScanError> {
    Ok(Some(Fallback::NotAvailable(
        "file watching is implemented for Linux only".into(),
    )))
}

fn record_changes(workspace: &Workspace, changes: Vec<(Name, ChangeKind)>) {
    let root = workspace.root();
    for (rel, kind) in changes {
        workspace.record(&root.join(path_of(&rel)), kind);
    }
}

/// A command between [`before_command`] and [`after_command`]; dropped without
/// finishing (the call was dropped), it leaves the tracker's count of running commands.
pub(crate) struct Command {
    workspace: Arc<Workspace>,
    finished: bool,
}

impl Drop for Command {
    fn drop(&mut self) {
        if !self.finished {
            self.workspace.change_tracker().abandon();
        }
    }
}

impl Command {
    /// For a command that runs on after its call returned (a background shell): it
    /// stays counted as running without keeping the workspace alive.
    pub(crate) fn detach(mut self) -> Detached {
        self.finished = true;
        Detached {
            workspace: Arc::downgrade(&self.workspace),
            finished: false,
        }
    }
}

/// A detached [`Command`]; see [`after_detached`].
pub(crate) struct Detached {
    workspace: std::sync::Weak<Workspace>,
    finished: bool,
}

impl Drop for Detached {
    fn drop(&mut self) {
        if !self.finished {
            if let Some(workspace) = self.workspace.upgrade() {
                workspace.change_tracker().abandon();
            }
        }
    }
}

/// [`after_command`] for a detached command (nothing when the workspace is gone).
pub(crate) fn after_detached(command: Option<Detached>) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        if let Some(mut command) = command {
            command.finished = true;
            if let Some(workspace) = command.workspace.upgrade() {
                workspace.change_tracker().finish(&workspace);
            }
        }
    })
}

/// Before a shell command: brings the workspace's index up to date off the async
/// runtime; stops when the call is cancelled. `None` when the workspace is not tracked.
pub(crate) async fn before_command(ctx: &ToolContext) -> Result<Option<Command>, ToolError> {
    if ctx.workspace.too_large_to_scan() {
        return Ok(None);
    }
    let workspace = ctx.workspace.clone();
    let cancel = ctx.cancel.clone();
    let work = tokio::task::spawn_blocking(move || {
        let tracked = workspace.change_tracker().begin(&workspace, &cancel)?;
        Ok::<_, ScanError>(tracked.then_some(Command {
            workspace,
            finished: false,
        }))
    });
    tokio::select! {
        biased;
        () = ctx.cancel.cancelled() => Err(ToolError::Cancelled),
        result = work => match result {
            Ok(Ok(command)) => Ok(command),
            Ok(Err(ScanError::Cancelled)) => Err(ToolError::Cancelled),
            Err(e) => Err(ToolError::Failed(format!("internal error: {e}"))),
        },
    }
}

/// After a shell command whose process group has ended: records what it changed. Not
/// cancellable: it also runs after a cancellation, to record what the killed command
/// had changed.
pub(crate) fn after_command(command: Option<Command>) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        if let Some(mut command) = command {
            command.finished = true;
            command
                .workspace
                .change_tracker()
                .finish(&command.workspace);
        }
    })
}

#[cfg(test)]
mod tests;
