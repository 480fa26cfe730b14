//! Checkpoints: the state of each file just before a step changed it (its pre-image),
//! collected while the step runs and handed to the engine, which keeps them in the
//! session store so a rewind can put the files back.
//!
//! Where the pre-images come from:
//! - **File tools** (`edit_file`, `write_file`, `multi_edit`) write through
//!   [`Workspace::write_atomic`], which reads the file's current state just before the
//!   write: exact, and it costs one read of a file the tool has just read anyway.
//! - **Shell commands**: the change tracker learns what a command changed only after it
//!   ended, so the pre-image must already be at hand. Before each command the checkpointer
//!   brings a *baseline* up to date: the content of the workspace's tracked files (not
//!   ignored, as the tracker sees them), kept in memory for the run, each with the
//!   tracker's stamp (size, times, inode): only files whose stamp changed since the last
//!   command are read again, so a command after the first reads nothing in a tree nobody
//!   touched. Trees of more than [`CheckpointOptions::max_baseline_files`] files get a
//!   baseline of the files the run read or changed only (its *hot* files), looked up in
//!   the tracker's index without touching the disk; a command that changes another file
//!   of such a tree leaves it without a pre-image, and the rewind says so.
//!
//! Everything is bounded: files larger than [`CheckpointOptions::max_file_bytes`], binary
//! files (a NUL byte in their first 8 KiB) larger than
//! [`CheckpointOptions::max_binary_bytes`], and anything past
//! [`CheckpointOptions::max_run_bytes`] (the baseline's memory and the run's checkpoints
//! each) are recorded as skipped, with the reason, instead of their content.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};
use std::sync::{Arc, Mutex, MutexGuard};

use cap_std::fs::{Dir, PermissionsExt};

use crate::workspace::ChangeKind;

/// Limits of the checkpoints of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointOptions {
    /// Files larger than this are not checkpointed (default 1 MiB).
    pub max_file_bytes: u64,
    /// Binary files larger than this are not checkpointed (default 256 KiB).
    pub max_binary_bytes: u64,
    /// The most bytes of file content a run keeps: in its shell baseline (memory), and
    /// in the checkpoints it writes (default 64 MiB each).
    pub max_run_bytes: u64,
    /// Trees with more tracked files than this get a baseline of the run's hot files only
    /// (default 5,000).
    pub max_baseline_files: usize,
}

impl Default for CheckpointOptions {
    fn default() -> Self {
        CheckpointOptions {
            max_file_bytes: 1 << 20,
            max_binary_bytes: 256 << 10,
            max_run_bytes: 64 << 20,
            max_baseline_files: 5_000,
        }
    }
}

/// The state of a path before a step changed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PreImage {
    /// A regular file: its content and permission bits.
    File { data: Arc<[u8]>, mode: u32 },
    /// A symbolic link and its target (never followed).
    Symlink { target: Vec<u8> },
    /// Nothing was there (the step created it).
    Absent,
    /// Not checkpointed, and why.
    Skipped { reason: String },
}

impl PreImage {
    fn bytes(&self) -> u64 {
        match self {
            PreImage::File { data, .. } => data.len() as u64,
            _ => 0,
        }
    }
}

/// Collects the pre-images of a run's steps (see the module documentation).
#[derive(Debug)]
pub struct Checkpointer {
    options: CheckpointOptions,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// This step's pre-images, by path: the first capture of a path wins.
    pending: BTreeMap<String, PreImage>,
    /// The shell baseline: each file's stamp when read, and its pre-image.
    baseline: HashMap<Box<[u8]>, (u64, PreImage)>,
    baseline_bytes: u64,
    /// Bytes of content handed out in checkpoints so far.
    stored_bytes: u64,
    /// Files the run read or changed (the baseline of large trees).
    hot: HashSet<Box<[u8]>>,
}

impl Checkpointer {
    pub fn new(options: CheckpointOptions) -> Checkpointer {
        Checkpointer {
            options,
            state: Mutex::new(State::default()),
        }
    }

    pub fn options(&self) -> CheckpointOptions {
        self.options
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Before a file tool writes `rel`: its state now, unless this step already has it.
    pub(crate) fn capture(&self, dir: &Dir, rel: &str) {
        if self.lock().pending.contains_key(rel) {
            return;
        }
        let image = read_image(dir, Path::new(rel), &self.options);
        let mut state = self.lock();
        state.hot.insert(rel.as_bytes().into());
        state.baseline.remove(rel.as_bytes());
        if !state.pending.contains_key(rel) {
            let image = state.budget(image, &self.options);
            state.pending.insert(rel.to_owned(), image);
        }
    }

    /// A file the run read: part of the baseline of a large tree.
    pub(crate) fn touch(&self, rel: &str) {
        let mut state = self.lock();
        if !state.hot.contains(rel.as_bytes()) {
            state.hot.insert(rel.as_bytes().into());
        }
    }

    /// Whether a tree of `files` tracked files gets a baseline of all of them.
    pub(crate) fn covers_all(&self, files: usize) -> bool {
        files <= self.options.max_baseline_files
    }

    /// The hot files (for a large tree's baseline).
    pub(crate) fn hot(&self) -> Vec<Box<[u8]>> {
        self.lock().hot.iter().cloned().collect()
    }

    /// The files of `files` (directory, name, stamp) whose stamp differs from the
    /// baseline's, as paths: one lock, no allocation for the files that did not change.
    pub(crate) fn stale<'a>(
        &self,
        files: impl Iterator<Item = (&'a [u8], &'a [u8], u64)>,
    ) -> Vec<(Box<[u8]>, u64)> {
        let state = self.lock();
        let mut path = Vec::new();
        let mut out = Vec::new();
        for (dir, name, stamp) in files {
            path.clear();
            if !dir.is_empty() {
                path.extend_from_slice(dir);
                path.push(b'/');
            }
            path.extend_from_slice(name);
            if state
                .baseline
                .get(path.as_slice())
                .is_none_or(|(s, _)| *s != stamp)
            {
                out.push((path.as_slice().into(), stamp));
            }
        }
        out
    }

    /// Before a command: reads the files whose stamp differs from the baseline's.
    pub(crate) fn refresh<'a>(&self, dir: &Dir, files: impl Iterator<Item = (&'a [u8], u64)>) {
        for (rel, stamp) in files {
            if self
                .lock()
                .baseline
                .get(rel)
                .is_some_and(|(s, _)| *s == stamp)
            {
                continue;
            }
            let path = Path::new(std::ffi::OsStr::from_bytes(rel));
            let full = self.lock().baseline_bytes >= self.options.max_run_bytes;
            let image = if full {
                PreImage::Skipped {
                    reason: format!(
                        "the run's checkpoint baseline reached its limit of {} bytes",
                        self.options.max_run_bytes
                    ),
                }
            } else {
                read_image(dir, path, &self.options)
            };
            let mut state = self.lock();
            state.baseline_bytes += image.bytes();
            if let Some((_, old)) = state.baseline.insert(rel.into(), (stamp, image)) {
                state.baseline_bytes = state.baseline_bytes.saturating_sub(old.bytes());
            }
        }
    }

    /// After a command: `rel` changed (as the tracker saw it); its pre-image comes from
    /// the baseline.
    pub(crate) fn tracked(&self, rel: &[u8], kind: ChangeKind) {
        let mut state = self.lock();
        let key = String::from_utf8_lossy(rel).into_owned();
        let old = state.baseline.remove(rel);
        if let Some((_, image)) = &old {
            state.baseline_bytes = state.baseline_bytes.saturating_sub(image.bytes());
        }
        state.hot.insert(rel.into());
        if state.pending.contains_key(&key) {
            return;
        }
        let image = match (kind, old) {
            (ChangeKind::Created, _) => PreImage::Absent,
            (_, Some((_, image))) => image,
            (_, None) => PreImage::Skipped {
                reason: "changed by a shell command before the run had read it (the tree is \
                         larger than the checkpoint baseline)"
                    .into(),
            },
        };
        let image = state.budget(image, &self.options);
        state.pending.insert(key, image);
    }

    /// The pre-images collected since the last call, by path.
    pub fn take(&self) -> Vec<(String, PreImage)> {
        std::mem::take(&mut self.lock().pending)
            .into_iter()
            .collect()
    }
}

impl State {
    /// Counts a pre-image against the run's limit (past it, the pre-image is skipped).
    fn budget(&mut self, image: PreImage, options: &CheckpointOptions) -> PreImage {
        let bytes = image.bytes();
        if bytes > 0 && self.stored_bytes + bytes > options.max_run_bytes {
            return PreImage::Skipped {
                reason: format!(
                    "the run's checkpoints reached their limit of {} bytes",
                    options.max_run_bytes
                ),
            };
        }
        self.stored_bytes += bytes;
        image
    }
}

/// The state of `rel` now, read beneath `dir` without following a symbolic link.
fn read_image(dir: &Dir, rel: &Path, options: &CheckpointOptions) -> PreImage {
    match try_read_image(dir, rel, options) {
        Ok(image) => image,
        Err(e) if e.kind() == io::ErrorKind::NotFound => PreImage::Absent,
        Err(e) => PreImage::Skipped {
            reason: format!("could not be read: {e}"),
        },
    }
}

fn try_read_image(dir: &Dir, rel: &Path, options: &CheckpointOptions) -> io::Result<PreImage> {
    let meta = dir.symlink_metadata(rel)?;
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        let target = dir.read_link_contents(rel)?;
        return Ok(PreImage::Symlink {
            target: target.as_os_str().as_bytes().to_vec(),
        });
    }
    if !file_type.is_file() {
        return Ok(PreImage::Skipped {
            reason: "not a regular file".into(),
        });
    }
    if meta.len() > options.max_file_bytes {
        return Ok(PreImage::Skipped {
            reason: format!(
                "{} bytes, over the checkpoint limit of {} bytes per file",
                meta.len(),
                options.max_file_bytes
            ),
        });
    }
    let mut open = cap_std::fs::OpenOptions::new();
    {
        use cap_std::fs::OpenOptionsExt;
        open.read(true)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK);
    }
    let file = dir.open_with(rel, &open)?;
    let mut data = Vec::new();
    file.take(options.max_file_bytes + 1)
        .read_to_end(&mut data)?;
    if data.len() as u64 > options.max_file_bytes {
        return Ok(PreImage::Skipped {
            reason: format!(
                "over the checkpoint limit of {} bytes per file",
                options.max_file_bytes
            ),
        });
    }
    let head = &data[..data.len().min(8 << 10)];
    if head.contains(&0) && data.len() as u64 > options.max_binary_bytes {
        return Ok(PreImage::Skipped {
            reason: format!(
                "a binary file of {} bytes, over the checkpoint limit of {} bytes for binary files",
                data.len(),
                options.max_binary_bytes
            ),
        });
    }
    Ok(PreImage::File {
        data: data.into(),
        mode: meta.permissions().mode() & 0o7777,
    })
}

/// What a restore did to a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restored {
    /// The file (or link) is back as it was.
    Written,
    /// It did not exist at that point and was removed.
    Removed,
    /// It was already as it should be (absent).
    Unchanged,
}

/// `rel` as a path beneath the root: relative, no `..`, not empty.
fn checked(rel: &str) -> io::Result<&Path> {
    let path = Path::new(rel);
    let ok = !rel.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(path)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{rel}` is not a path inside the workspace"),
        ))
    }
}

/// Removes what is at `rel` now (a file, a link, an empty directory).
fn remove_existing(dir: &Dir, rel: &Path) -> io::Result<bool> {
    match dir.symlink_metadata(rel) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
        Ok(meta) if meta.is_dir() => dir.remove_dir(rel).map(|()| true).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("a directory is there now and cannot be removed: {e}"),
            )
        }),
        Ok(_) => dir.remove_file(rel).map(|()| true),
    }
}

/// Puts `rel` back to `image` beneath `dir` (every step relative to the handle, so a
/// directory swapped for a link meanwhile makes it fail rather than write outside).
pub(crate) fn restore(dir: &Dir, rel: &str, image: &PreImage) -> io::Result<Restored> {
    let path = checked(rel)?;
    let parent_of = |path: &Path| -> Option<std::path::PathBuf> {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
    };
    match image {
        PreImage::Skipped { reason } => Err(io::Error::other(reason.clone())),
        PreImage::Absent => Ok(if remove_existing(dir, path)? {
            Restored::Removed
        } else {
            Restored::Unchanged
        }),
        PreImage::Symlink { target } => {
            if let Some(parent) = parent_of(path) {
                dir.create_dir_all(parent)?;
            }
            remove_existing(dir, path)?;
            dir.symlink_contents(std::ffi::OsStr::from_bytes(target), path)?;
            Ok(Restored::Written)
        }
        PreImage::File { data, mode } => {
            use std::io::Write;
            let parent = match parent_of(path) {
                Some(p) => {
                    dir.create_dir_all(&p)?;
                    dir.open_dir(&p)?
                }
                None => dir.try_clone()?,
            };
            let name = path
                .file_name()
                .ok_or_else(|| io::Error::other("path has no file name"))?;
            // A directory in the way (the step replaced the file with one) goes if empty.
            if parent.symlink_metadata(name).is_ok_and(|m| m.is_dir()) {
                remove_existing(&parent, Path::new(name))?;
            }
            let mut tmp = std::ffi::OsString::from(".");
            tmp.push(name);
            tmp.push(format!(".harnext-{:016x}.tmp", fastrand::u64(..)));
            let mut options = cap_std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            let result = (|| {
                let mut file = parent.open_with(&tmp, &options)?;
                file.write_all(data)?;
                file.flush()?;
                file.set_permissions(cap_std::fs::Permissions::from_mode(*mode))?;
                drop(file);
                parent.rename(&tmp, &parent, name)
            })();
            if result.is_err() {
                let _ = parent.remove_file(&tmp);
            }
            result.map(|()| Restored::Written)
        }
    }
}

/// Pre-images given to a rewind, and what each path became.
pub type RestoreOutcome = Vec<(String, Result<Restored, String>)>;

/// True when a directory on the way to `rel` is a symbolic link now.
fn linked_parent(dir: &Dir, rel: &str) -> bool {
    let mut path = Path::new(rel);
    while let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if dir
            .symlink_metadata(parent)
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return true;
        }
        path = parent;
    }
    false
}

/// Restores every path of `images` beneath the workspace root (removals first, deepest
/// paths first, so a directory a step created can hold a file that comes back).
pub fn restore_all(dir: &Dir, images: &[(String, PreImage)]) -> RestoreOutcome {
    let mut order: Vec<&(String, PreImage)> = images.iter().collect();
    order.sort_by(|a, b| {
        let absent = |i: &PreImage| !matches!(i, PreImage::Absent);
        absent(&a.1)
            .cmp(&absent(&b.1))
            .then(b.0.matches('/').count().cmp(&a.0.matches('/').count()))
            .then(a.0.cmp(&b.0))
    });
    order
        .into_iter()
        .map(|(rel, image)| {
            (
                rel.clone(),
                restore(dir, rel, image).map_err(|e| {
                    if crate::workspace::is_escape(&e) || linked_parent(dir, rel) {
                        "the path leads outside the workspace now (a directory was replaced \
                         by a link); not restored"
                            .to_owned()
                    } else {
                        e.to_string()
                    }
                }),
            )
        })
        .collect()
}
