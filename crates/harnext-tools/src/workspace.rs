//! The directory the tools may act in, and the record of the files they changed.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use harnext_sandbox::Sandbox;

use crate::ToolError;

/// How many symbolic links [`Workspace::resolve`] follows before giving up.
const MAX_SYMLINKS: u32 = 40;

/// How a file changed during a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// It did not exist before.
    Created,
    /// It existed and its content (or metadata) changed.
    Modified,
    /// It existed and is gone.
    Deleted,
}

/// The workspace root (canonical) and the files tools changed in it.
#[derive(Debug)]
pub struct Workspace {
    root: PathBuf,
    changed: Mutex<BTreeMap<String, ChangeKind>>,
    /// Set once a change scan found too many files: later commands skip the scans.
    too_large_to_scan: AtomicBool,
    /// What shell commands change in the workspace (see [`crate::changes`]).
    change_tracker: crate::changes::ChangeTracker,
    /// How commands run (the `bash` tool): [`Sandbox::off`] unless given.
    sandbox: Arc<Sandbox>,
    /// A handle of the root: every file the tools open is opened relative to it and
    /// cannot resolve outside it, whatever is renamed or swapped meanwhile.
    dir: cap_std::fs::Dir,
    /// The background shells of the run (see [`crate::background`]): killed on
    /// [`crate::BackgroundShells::shutdown`], or when the workspace is dropped.
    background: crate::background::BackgroundShells,
}

impl Workspace {
    /// Opens `root`, which must be an existing directory; symlinks in it are resolved.
    pub fn new(root: impl AsRef<Path>) -> io::Result<Workspace> {
        let root = std::fs::canonicalize(root.as_ref())?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("workspace root {} is not a directory", root.display()),
            ));
        }
        let dir = cap_std::fs::Dir::open_ambient_dir(&root, cap_std::ambient_authority())?;
        Ok(Workspace {
            dir,
            root,
            changed: Mutex::new(BTreeMap::new()),
            too_large_to_scan: AtomicBool::new(false),
            change_tracker: crate::changes::ChangeTracker::default(),
            sandbox: Arc::new(Sandbox::off()),
            background: crate::background::BackgroundShells::default(),
        })
    }

    /// The workspace with commands run in `sandbox` (built for this root).
    pub fn with_sandbox(mut self, sandbox: Arc<Sandbox>) -> Workspace {
        self.sandbox = sandbox;
        self
    }

    /// The sandbox commands run in.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    /// The background shells started in this workspace (one run's).
    pub fn background_shells(&self) -> &crate::background::BackgroundShells {
        &self.background
    }

    /// `abs` (from [`Workspace::resolve`]) relative to the root, for opening beneath it.
    fn beneath<'a>(&self, abs: &'a Path) -> io::Result<&'a Path> {
        match abs.strip_prefix(&self.root) {
            Ok(rel) if rel.as_os_str().is_empty() => Ok(Path::new(".")),
            Ok(rel) => Ok(rel),
            Err(_) => Err(escaped()),
        }
    }

    /// Opens the file at `abs` for reading, beneath the root: a path that leads outside
    /// at the time of the open (a directory swapped for a symbolic link) fails with
    /// [`is_escape`]. Opened non-blocking, so that a FIFO does not hang; check the
    /// handle's metadata.
    pub fn open_read(&self, abs: &Path) -> io::Result<std::fs::File> {
        use cap_std::fs::OpenOptionsExt;
        let mut options = cap_std::fs::OpenOptions::new();
        options.read(true).custom_flags(nix::libc::O_NONBLOCK);
        let file = self.dir.open_with(self.beneath(abs)?, &options)?;
        Ok(file.into_std())
    }

    /// The metadata of `abs` (symbolic links inside followed), resolved beneath the root.
    pub fn metadata(&self, abs: &Path) -> io::Result<cap_std::fs::Metadata> {
        match self.beneath(abs)? {
            rel if rel == Path::new(".") => self.dir.dir_metadata(),
            rel => self.dir.metadata(rel),
        }
    }

    /// Creates the directory `abs` and its missing parents, beneath the root.
    pub fn create_dir_all(&self, abs: &Path) -> io::Result<()> {
        self.dir.create_dir_all(self.beneath(abs)?)
    }

    /// Writes `data` to `abs` atomically, beneath the root: a temporary file in the same
    /// directory, then a rename over `abs` (both relative to a handle of that directory,
    /// so the file cannot land outside the workspace). An existing file's permissions
    /// are kept.
    pub fn write_atomic(&self, abs: &Path, data: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let rel = self.beneath(abs)?;
        let name = rel
            .file_name()
            .ok_or_else(|| io::Error::other("path has no file name"))?;
        let parent = match rel.parent() {
            Some(p) if !p.as_os_str().is_empty() => self.dir.open_dir(p)?,
            _ => self.dir.try_clone()?,
        };
        let permissions = parent.metadata(name).ok().map(|m| m.permissions());
        let mut tmp_name = OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".harnext-{:016x}.tmp", fastrand::u64(..)));
        let mut options = cap_std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        let result = (|| {
            let mut file = parent.open_with(&tmp_name, &options)?;
            file.write_all(data)?;
            file.flush()?;
            if let Some(permissions) = permissions {
                file.set_permissions(permissions)?;
            }
            drop(file);
            parent.rename(&tmp_name, &parent, name)
        })();
        if result.is_err() {
            let _ = parent.remove_file(&tmp_name);
        }
        result
    }

    /// The tracker of the changes shell commands make in the workspace.
    pub fn change_tracker(&self) -> &crate::changes::ChangeTracker {
        &self.change_tracker
    }

    /// The canonical workspace root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves a path argument to an absolute path inside the workspace.
    ///
    /// Relative paths are relative to the root; absolute paths must lie inside it. `..`
    /// is applied lexically, then symbolic links are followed (for the part of the path
    /// that exists; a dangling link is followed to where it points), and the result
    /// must still be inside the root, else [`ToolError::OutsideWorkspace`].
    pub fn resolve(&self, path: &str) -> Result<PathBuf, ToolError> {
        if path.trim().is_empty() {
            return Err(ToolError::InvalidArgs("path is empty".to_string()));
        }
        if path.contains('\0') {
            return Err(ToolError::InvalidArgs(
                "path contains a NUL character".to_string(),
            ));
        }
        let joined = self.root.join(path);
        let normalized = normalize(&joined);
        let real = resolve_links(&normalized, 0)
            .map_err(|e| ToolError::Failed(format!("cannot resolve path `{path}`: {e}")))?;
        if real.starts_with(&self.root) {
            Ok(real)
        } else {
            Err(ToolError::OutsideWorkspace {
                path: path.to_string(),
            })
        }
    }

    /// Records that a tool changed `abs` (an absolute path from [`Workspace::resolve`]):
    /// the same as [`Workspace::record`] with [`ChangeKind::Modified`].
    pub fn record_change(&self, abs: &Path) {
        self.record(abs, ChangeKind::Modified);
    }

    /// Records a change of `abs`, which may no longer exist (a deleted file is still a
    /// changed file). Successive changes of one path combine: created then modified is
    /// created; deleted then created is modified; created then deleted is forgotten
    /// (the file existed only during the run, so nothing changed).
    pub fn record(&self, abs: &Path, kind: ChangeKind) {
        use ChangeKind::{Created, Deleted, Modified};
        let rel = self.relative(abs);
        let mut changed = self.changed.lock().unwrap_or_else(|e| e.into_inner());
        let merged = match (changed.get(&rel).copied(), kind) {
            (None, kind) => Some(kind),
            (Some(Created), Deleted) => None,
            (Some(Created), _) => Some(Created),
            (Some(Deleted), Created | Modified) => Some(Modified),
            (Some(Modified), Created | Modified) => Some(Modified),
            (Some(_), Deleted) => Some(Deleted),
        };
        match merged {
            Some(kind) => {
                changed.insert(rel, kind);
            }
            None => {
                changed.remove(&rel);
            }
        }
    }

    /// The changed files (deleted ones included), relative to the root with `/`
    /// separators, sorted.
    pub fn changed_files(&self) -> Vec<String> {
        let changed = self.changed.lock().unwrap_or_else(|e| e.into_inner());
        changed.keys().cloned().collect()
    }

    /// The changed files with how each changed, sorted by path.
    pub fn changes(&self) -> Vec<(String, ChangeKind)> {
        let changed = self.changed.lock().unwrap_or_else(|e| e.into_inner());
        changed.iter().map(|(p, k)| (p.clone(), *k)).collect()
    }

    /// True once a change scan found the workspace too large to track the changes of
    /// shell commands (see [`crate::changes`]).
    pub fn too_large_to_scan(&self) -> bool {
        self.too_large_to_scan.load(Ordering::Relaxed)
    }

    pub(crate) fn set_too_large_to_scan(&self) {
        self.too_large_to_scan.store(true, Ordering::Relaxed);
    }

    /// `abs` relative to the root with `/` separators (`.` for the root itself), or
    /// `abs` as it is when it is not inside the root.
    pub fn relative(&self, abs: &Path) -> String {
        match abs.strip_prefix(&self.root) {
            Ok(rel) => {
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if parts.is_empty() {
                    ".".to_string()
                } else {
                    parts.join("/")
                }
            }
            Err(_) => abs.display().to_string(),
        }
    }
}

fn escaped() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, ESCAPE)
}

const ESCAPE: &str = "the path leads outside the workspace";

/// True when an error of [`Workspace::open_read`] (and the other handle-relative
/// operations) means the path led outside the workspace when it was opened.
pub fn is_escape(e: &io::Error) -> bool {
    let text = e.to_string();
    text.contains(ESCAPE) || text.contains("outside of the filesystem")
}

/// Applies `.` and `..` lexically (`..` at `/` stays at `/`).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => out.push(component.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
        }
    }
    out
}

/// Follows the symbolic links of a normalized absolute path: the longest part of it
/// that exists is canonicalized and the rest (which does not exist yet, so holds no
/// links) is appended. A dangling link is followed to its target.
fn resolve_links(path: &Path, depth: u32) -> io::Result<PathBuf> {
    let mut existing = path.to_path_buf();
    let mut rest: Vec<OsString> = Vec::new();
    while std::fs::symlink_metadata(&existing).is_err() {
        match existing.file_name() {
            Some(name) => {
                rest.push(name.to_os_string());
                existing.pop();
            }
            None => break,
        }
    }
    rest.reverse();
    let base = match std::fs::canonicalize(&existing) {
        Ok(base) => base,
        Err(e) => {
            let is_link = std::fs::symlink_metadata(&existing)
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false);
            if !is_link {
                return Err(e);
            }
            if depth >= MAX_SYMLINKS {
                return Err(io::Error::other("too many levels of symbolic links"));
            }
            // A dangling link: continue from where it points.
            let target = std::fs::read_link(&existing)?;
            let parent = match existing.parent() {
                Some(parent) => std::fs::canonicalize(parent)?,
                None => PathBuf::from("/"),
            };
            let mut next = normalize(&parent.join(target));
            for name in &rest {
                next.push(name);
            }
            return resolve_links(&next, depth + 1);
        }
    };
    let mut out = base;
    for name in rest {
        if name == ".." || name == "." {
            return Err(io::Error::other("`..` in a path that does not exist"));
        }
        out.push(name);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::os::unix::fs::symlink;

    struct Setup {
        _dir: tempfile::TempDir,
        ws: Workspace,
        outside: PathBuf,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.txt"), "secret").unwrap();
        std::fs::write(root.join("a/file.txt"), "hi").unwrap();
        let ws = Workspace::new(&root).unwrap();
        Setup {
            _dir: dir,
            ws,
            outside: std::fs::canonicalize(outside).unwrap(),
        }
    }

    fn assert_outside(ws: &Workspace, path: &str) {
        match ws.resolve(path) {
            Err(ToolError::OutsideWorkspace { path: p }) => assert_eq!(p, path),
            other => panic!("expected OutsideWorkspace for {path:?}, got {other:?}"),
        }
    }

    #[test]
    fn new_refuses_a_file_and_a_missing_dir() {
        let s = setup();
        assert!(Workspace::new(s.ws.root().join("a/file.txt")).is_err());
        assert!(Workspace::new(s.ws.root().join("nope")).is_err());
    }

    #[test]
    fn parent_escape_is_refused() {
        let s = setup();
        assert_outside(&s.ws, "../x");
        assert_outside(&s.ws, "../outside/secret.txt");
    }

    #[test]
    fn absolute_path_outside_is_refused() {
        let s = setup();
        assert_outside(&s.ws, "/etc/passwd");
        assert_outside(&s.ws, s.outside.join("secret.txt").to_str().unwrap());
    }

    #[test]
    fn dotdot_through_subdir_escape_is_refused() {
        let s = setup();
        assert_outside(&s.ws, "a/../../x");
        assert_outside(&s.ws, "a/b/../../../outside/secret.txt");
    }

    #[test]
    fn symlink_pointing_outside_is_refused() {
        let s = setup();
        symlink(&s.outside, s.ws.root().join("link")).unwrap();
        symlink(s.outside.join("secret.txt"), s.ws.root().join("a/secret")).unwrap();
        assert_outside(&s.ws, "link");
        assert_outside(&s.ws, "link/secret.txt");
        assert_outside(&s.ws, "link/new/file.txt");
        assert_outside(&s.ws, "a/secret");
    }

    #[test]
    fn dangling_symlink_pointing_outside_is_refused() {
        let s = setup();
        symlink(s.outside.join("not-yet.txt"), s.ws.root().join("dangling")).unwrap();
        assert_outside(&s.ws, "dangling");
        // A dangling link that stays inside resolves to its target.
        symlink("a/new.txt", s.ws.root().join("inner")).unwrap();
        assert_eq!(
            s.ws.resolve("inner").unwrap(),
            s.ws.root().join("a/new.txt")
        );
    }

    #[test]
    fn paths_inside_resolve() {
        let s = setup();
        let root = s.ws.root().to_path_buf();
        assert_eq!(s.ws.resolve("a/file.txt").unwrap(), root.join("a/file.txt"));
        assert_eq!(
            s.ws.resolve("./a/b/../file.txt").unwrap(),
            root.join("a/file.txt")
        );
        assert_eq!(
            s.ws.resolve("new/dir/x.rs").unwrap(),
            root.join("new/dir/x.rs")
        );
        assert_eq!(s.ws.resolve(".").unwrap(), root);
        let abs = root.join("a/file.txt");
        assert_eq!(s.ws.resolve(abs.to_str().unwrap()).unwrap(), abs);
        symlink(root.join("a"), root.join("alias")).unwrap();
        assert_eq!(
            s.ws.resolve("alias/file.txt").unwrap(),
            root.join("a/file.txt")
        );
    }

    #[test]
    fn empty_path_is_invalid() {
        let s = setup();
        assert!(matches!(s.ws.resolve(""), Err(ToolError::InvalidArgs(_))));
        assert!(matches!(s.ws.resolve("  "), Err(ToolError::InvalidArgs(_))));
    }

    #[test]
    fn changes_are_recorded_relative_and_sorted() {
        let s = setup();
        let root = s.ws.root().to_path_buf();
        s.ws.record_change(&root.join("z.txt"));
        s.ws.record_change(&root.join("a/b/c.rs"));
        s.ws.record_change(&root.join("z.txt"));
        assert_eq!(s.ws.changed_files(), vec!["a/b/c.rs", "z.txt"]);
        assert_eq!(s.ws.relative(&root), ".");
        assert_eq!(s.ws.relative(&root.join("a/b")), "a/b");
    }

    #[test]
    fn deleted_paths_are_recorded_and_kinds_combine() {
        let s = setup();
        let root = s.ws.root().to_path_buf();
        // A path that never existed in this test run can still be recorded as deleted.
        s.ws.record(&root.join("gone/old.rs"), ChangeKind::Deleted);
        s.ws.record(&root.join("new.rs"), ChangeKind::Created);
        s.ws.record(&root.join("new.rs"), ChangeKind::Modified);
        s.ws.record(&root.join("tmp.rs"), ChangeKind::Created);
        s.ws.record(&root.join("tmp.rs"), ChangeKind::Deleted);
        s.ws.record(&root.join("back.rs"), ChangeKind::Deleted);
        s.ws.record(&root.join("back.rs"), ChangeKind::Created);
        s.ws.record_change(&root.join("a/file.txt"));
        s.ws.record(&root.join("a/file.txt"), ChangeKind::Deleted);
        assert_eq!(
            s.ws.changes(),
            vec![
                ("a/file.txt".to_string(), ChangeKind::Deleted),
                ("back.rs".to_string(), ChangeKind::Modified),
                ("gone/old.rs".to_string(), ChangeKind::Deleted),
                ("new.rs".to_string(), ChangeKind::Created),
            ]
        );
        assert_eq!(
            s.ws.changed_files(),
            vec!["a/file.txt", "back.rs", "gone/old.rs", "new.rs"]
        );
    }
}
