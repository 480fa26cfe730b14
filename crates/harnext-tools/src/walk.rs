//! The directory walk shared by `glob`, `grep` and the change scan of `bash`: ripgrep's
//! `ignore` crate, in parallel, with the rules every walk of the workspace keeps.
//!
//! - `.gitignore` (also outside a git repository), `.ignore`, `.git/info/exclude` and the
//!   global git excludes file are respected, as ripgrep does;
//! - `.git` (directory or worktree file) is never entered;
//! - symbolic links are never followed: a linked directory is not walked, and a linked
//!   file is only used when it resolves inside the workspace ([`link_target_inside`]);
//! - hidden files and directories are skipped unless the caller asks for them.

#[cfg(test)]
use std::path::PathBuf;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use ignore::{DirEntry, ParallelVisitor, ParallelVisitorBuilder, WalkBuilder, WalkState};
use tokio_util::sync::CancellationToken;

/// Threads a walk uses: the machine's parallelism, at most 12 (as ripgrep).
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(12)
}

/// A walk of `root` with the workspace rules; `hidden` includes hidden files and dirs.
pub(crate) fn walker(root: &Path, hidden: bool) -> WalkBuilder {
    let mut builder = WalkBuilder::new(root);
    builder
        .hidden(!hidden)
        .require_git(false)
        .follow_links(false)
        .threads(threads())
        .filter_entry(|entry| entry.file_name() != ".git");
    builder
}

/// True when `rel` (a path relative to the workspace root) is `.git` or inside it.
pub(crate) fn in_git_dir(rel: &str) -> bool {
    Path::new(rel)
        .components()
        .any(|c| matches!(c, Component::Normal(name) if name == ".git"))
}

/// True when a glob pattern names a hidden file or directory (a component starting
/// with `.`, other than `.` and `..`), so hidden entries must be walked.
pub(crate) fn glob_wants_hidden(pattern: &str) -> bool {
    let pattern = pattern.strip_prefix('!').unwrap_or(pattern);
    pattern
        .split('/')
        .any(|part| part.starts_with('.') && part != "." && part != "..")
}

/// For a symbolic link met in a walk: true when it resolves to a regular file inside
/// `workspace_root` (a canonical path). Links that dangle, point at directories, or
/// leave the workspace are skipped by the tools.
pub(crate) fn link_target_inside(path: &Path, workspace_root: &Path) -> bool {
    match std::fs::canonicalize(path) {
        Ok(target) => {
            target.starts_with(workspace_root)
                && std::fs::metadata(&target).is_ok_and(|m| m.is_file())
        }
        Err(_) => false,
    }
}

/// Why a walk ended early.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stopped {
    Cancelled,
    /// A visitor asked to stop (a limit was reached).
    Quit,
}

/// Runs `builder` as a parallel walk. Each thread gets its own state from `make_state`
/// and its own output vector; `visit` is called for every entry that is not an error.
/// The outputs are concatenated (in no particular order). Returns the items and, when
/// the walk stopped early, why.
pub(crate) fn collect_parallel<T, S, MS, V>(
    builder: &WalkBuilder,
    cancel: &CancellationToken,
    make_state: MS,
    visit: V,
) -> (Vec<T>, Option<Stopped>)
where
    T: Send,
    S: Send,
    MS: Fn() -> S + Sync,
    V: Fn(&mut S, &DirEntry, &mut Vec<T>) -> WalkState + Sync,
{
    let shared = Shared {
        results: Mutex::new(Vec::new()),
        cancelled: AtomicBool::new(false),
        quit: AtomicBool::new(false),
        cancel,
        make_state: &make_state,
        visit: &visit,
    };
    let mut visitor_builder = VisitorBuilder { shared: &shared };
    builder.build_parallel().visit(&mut visitor_builder);
    let stopped = if shared.cancelled.load(Ordering::Relaxed) {
        Some(Stopped::Cancelled)
    } else if shared.quit.load(Ordering::Relaxed) {
        Some(Stopped::Quit)
    } else {
        None
    };
    let batches = shared
        .results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    (batches.into_iter().flatten().collect(), stopped)
}

struct Shared<'a, T, MS, V> {
    results: Mutex<Vec<Vec<T>>>,
    cancelled: AtomicBool,
    quit: AtomicBool,
    cancel: &'a CancellationToken,
    make_state: &'a MS,
    visit: &'a V,
}

struct VisitorBuilder<'a, T, MS, V> {
    shared: &'a Shared<'a, T, MS, V>,
}

impl<'s, T, S, MS, V> ParallelVisitorBuilder<'s> for VisitorBuilder<'s, T, MS, V>
where
    T: Send,
    S: Send + 's,
    MS: Fn() -> S + Sync,
    V: Fn(&mut S, &DirEntry, &mut Vec<T>) -> WalkState + Sync,
{
    fn build(&mut self) -> Box<dyn ParallelVisitor + 's> {
        Box::new(Visitor {
            shared: self.shared,
            state: (self.shared.make_state)(),
            out: Vec::new(),
        })
    }
}

struct Visitor<'a, T, S, MS, V> {
    shared: &'a Shared<'a, T, MS, V>,
    state: S,
    out: Vec<T>,
}

impl<T, S, MS, V> ParallelVisitor for Visitor<'_, T, S, MS, V>
where
    T: Send,
    S: Send,
    MS: Fn() -> S + Sync,
    V: Fn(&mut S, &DirEntry, &mut Vec<T>) -> WalkState + Sync,
{
    fn visit(&mut self, entry: Result<DirEntry, ignore::Error>) -> WalkState {
        if self.shared.cancel.is_cancelled() {
            self.shared.cancelled.store(true, Ordering::Relaxed);
            return WalkState::Quit;
        }
        // Unreadable directories and broken ignore files are skipped, as ripgrep does
        // (it prints a warning; the model has no use for one).
        let Ok(entry) = entry else {
            return WalkState::Continue;
        };
        let state = (self.shared.visit)(&mut self.state, &entry, &mut self.out);
        if matches!(state, WalkState::Quit) {
            self.shared.quit.store(true, Ordering::Relaxed);
        }
        state
    }
}

impl<T, S, MS, V> Drop for Visitor<'_, T, S, MS, V> {
    fn drop(&mut self) {
        let out = std::mem::take(&mut self.out);
        if !out.is_empty() {
            let mut results = self
                .shared
                .results
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            results.push(out);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn a_walk_stops_when_cancelled_midway() {
        let dir = tempfile::tempdir().unwrap();
        for d in 0..20 {
            std::fs::create_dir(dir.path().join(format!("d{d}"))).unwrap();
            for f in 0..50 {
                std::fs::write(dir.path().join(format!("d{d}/f{f}")), "x").unwrap();
            }
        }
        let cancel = CancellationToken::new();
        let seen = AtomicUsize::new(0);
        let (items, stopped) = collect_parallel(
            &walker(dir.path(), false),
            &cancel,
            || (),
            |(), entry, out: &mut Vec<PathBuf>| {
                if seen.fetch_add(1, Ordering::Relaxed) == 100 {
                    cancel.cancel();
                }
                out.push(entry.path().to_path_buf());
                WalkState::Continue
            },
        );
        assert_eq!(stopped, Some(Stopped::Cancelled));
        // Each thread notices at its next entry: far fewer than the 1,021 entries.
        assert!(items.len() < 200, "{}", items.len());
        let (items, stopped) = collect_parallel(
            &walker(dir.path(), false),
            &CancellationToken::new(),
            || (),
            |(), entry, out: &mut Vec<PathBuf>| {
                out.push(entry.path().to_path_buf());
                WalkState::Continue
            },
        );
        assert_eq!(stopped, None);
        assert_eq!(items.len(), 1 + 20 + 20 * 50);
    }

    #[test]
    fn hidden_patterns_are_recognised() {
        assert!(glob_wants_hidden(".github/**/*.yml"));
        assert!(glob_wants_hidden("**/.env*"));
        assert!(glob_wants_hidden("!.cache/**"));
        assert!(!glob_wants_hidden("**/*.rs"));
        assert!(!glob_wants_hidden("./src/*.rs"));
        assert!(!glob_wants_hidden("../x/*.rs"));
    }

    #[test]
    fn git_dir_paths_are_recognised() {
        assert!(in_git_dir(".git"));
        assert!(in_git_dir("sub/.git/config"));
        assert!(!in_git_dir(".github/x"));
        assert!(!in_git_dir("src/git"));
    }
}
