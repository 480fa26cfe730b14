//! The search: the validated [`Query`] (matcher, root, glob filter) and its run over
//! the workspace walk, with the files whose lines can still be shown kept in a
//! [`Collector`].

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkMatch};
use ignore::overrides::{Override, OverrideBuilder};
use ignore::WalkState;
use tokio_util::sync::CancellationToken;

use super::render::push_line;
use super::{Args, Mode, BUDGET, MAX_CONTEXT};
use crate::fsutil::io_failure;
use crate::walk::{self, Stopped};
use crate::{ToolError, Workspace};

/// A validated search.
pub(super) struct Query {
    pub(super) pattern: String,
    pub(super) matcher: RegexMatcher,
    pub(super) root: PathBuf,
    pub(super) display: String,
    pub(super) root_is_file: bool,
    pub(super) glob: Option<String>,
    pub(super) overrides: Option<Override>,
    pub(super) hidden: bool,
    pub(super) mode: Mode,
    pub(super) before: usize,
    pub(super) after: usize,
}

impl Query {
    pub(super) fn new(args: Args, workspace: &Workspace) -> Result<Query, ToolError> {
        if args.pattern.is_empty() {
            return Err(ToolError::InvalidArgs("pattern is empty".to_string()));
        }
        let context = args.context.unwrap_or(0);
        let before = args.before.unwrap_or(context);
        let after = args.after.unwrap_or(context);
        if before > MAX_CONTEXT || after > MAX_CONTEXT {
            return Err(ToolError::InvalidArgs(format!(
                "context, before and after are at most {MAX_CONTEXT}"
            )));
        }
        let literal = args.literal.unwrap_or(false);
        let matcher = RegexMatcherBuilder::new()
            .case_insensitive(args.case_insensitive.unwrap_or(false))
            .fixed_strings(literal)
            .line_terminator(Some(b'\n'))
            .build(&args.pattern)
            .map_err(|e| {
                let hint = if literal {
                    ""
                } else {
                    " (set literal=true to search for the text as written)"
                };
                ToolError::InvalidArgs(format!(
                    "pattern is not a valid regular expression{hint}: {e}"
                ))
            })?;
        let root = workspace.resolve(args.path.as_deref().unwrap_or("."))?;
        let display = workspace.relative(&root);
        if walk::in_git_dir(&display) {
            return Err(ToolError::Failed(format!(
                "`{display}` is inside .git, which grep does not search; use git commands with the bash tool"
            )));
        }
        let meta = workspace
            .metadata(&root)
            .map_err(|e| io_failure("search", &display, &e))?;
        let root_is_file = meta.is_file();
        if !root_is_file && !meta.is_dir() {
            return Err(ToolError::Failed(format!(
                "`{display}` is not a regular file or directory"
            )));
        }
        let glob = args.glob.filter(|g| !g.trim().is_empty());
        let overrides = match (&glob, root_is_file) {
            (Some(glob), false) => Some(build_overrides(&root, glob)?),
            _ => None,
        };
        let hidden = glob.as_deref().is_some_and(walk::glob_wants_hidden);
        Ok(Query {
            pattern: args.pattern,
            matcher,
            root,
            display,
            root_is_file,
            glob,
            overrides,
            hidden,
            mode: args.output_mode.unwrap_or(Mode::Content),
            before,
            after,
        })
    }

    fn searcher(&self) -> Searcher {
        let content = self.mode == Mode::Content;
        SearcherBuilder::new()
            .line_number(content)
            .binary_detection(BinaryDetection::quit(0))
            .before_context(if content { self.before } else { 0 })
            .after_context(if content { self.after } else { 0 })
            .build()
    }

    pub(super) fn run(
        &self,
        workspace: &Workspace,
        cancel: &CancellationToken,
    ) -> Result<String, ToolError> {
        let collector = Mutex::new(Collector::default());
        let searched = AtomicU64::new(0);
        if self.root_is_file {
            let mut searcher = self.searcher();
            let found = search_file(self, workspace, &mut searcher, &self.root, cancel, &|| true)
                .map_err(|e| io_failure("search", &self.display, &e))?;
            if cancel.is_cancelled() {
                return Err(ToolError::Cancelled);
            }
            if found.binary {
                return Err(ToolError::Failed(format!(
                    "`{}` is a binary file; grep only searches text",
                    self.display
                )));
            }
            searched.store(1, Ordering::Relaxed);
            if found.matches > 0 {
                lock(&collector).add(self.display.clone(), found);
            }
        } else {
            let mut builder = walk::walker(&self.root, self.hidden);
            if let Some(overrides) = &self.overrides {
                builder.overrides(overrides.clone());
            }
            let ws_root = workspace.root();
            let (_, stopped) = walk::collect_parallel(
                &builder,
                cancel,
                || self.searcher(),
                |searcher, entry, _out: &mut Vec<()>| {
                    let Some(file_type) = entry.file_type() else {
                        return WalkState::Continue;
                    };
                    // What is opened: the file itself, or the file a link inside points to.
                    let target = if file_type.is_symlink() {
                        if !walk::link_target_inside(entry.path(), ws_root) {
                            return WalkState::Continue;
                        }
                        match std::fs::canonicalize(entry.path()) {
                            Ok(real) => std::borrow::Cow::Owned(real),
                            Err(_) => return WalkState::Continue,
                        }
                    } else if file_type.is_file() {
                        std::borrow::Cow::Borrowed(entry.path())
                    } else {
                        return WalkState::Continue;
                    };
                    searched.fetch_add(1, Ordering::Relaxed);
                    let rel = std::cell::OnceCell::new();
                    let rel_path = || rel.get_or_init(|| workspace.relative(entry.path())).clone();
                    let wants_text = || lock(&collector).wants(&rel_path());
                    // Unreadable files are skipped, as by rg (which prints a warning).
                    let Ok(found) =
                        search_file(self, workspace, searcher, &target, cancel, &wants_text)
                    else {
                        return WalkState::Continue;
                    };
                    if found.matches > 0 && !found.binary {
                        lock(&collector).add(rel_path(), found);
                    }
                    WalkState::Continue
                },
            );
            if stopped == Some(Stopped::Cancelled) {
                return Err(ToolError::Cancelled);
            }
        }
        let collector = collector.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok(self.render(collector, searched.load(Ordering::Relaxed)))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `--glob` filter: ripgrep's override globs rooted at the searched directory.
fn build_overrides(root: &Path, glob: &str) -> Result<Override, ToolError> {
    let mut builder = OverrideBuilder::new(root);
    let glob = glob.trim();
    let glob = glob.strip_prefix("./").unwrap_or(glob);
    builder
        .add(glob)
        .and_then(|b| b.build())
        .map_err(|e| ToolError::InvalidArgs(format!("glob `{glob}` is not valid: {e}")))
}

/// What one file gave.
#[derive(Default)]
pub(super) struct FileResult {
    /// Matching lines.
    pub(super) matches: u64,
    /// Rendered lines (content mode), up to about [`BUDGET`] bytes.
    pub(super) text: String,
    /// False when `text` stopped short of the file's matches.
    pub(super) complete: bool,
    pub(super) binary: bool,
}

/// The files with matches, by path. Only the files that can still be shown are kept:
/// once the kept output passes 2 × [`BUDGET`], the files sorted after the first
/// [`BUDGET`] bytes are dropped (counted, not kept), and so is every later file sorted
/// after them, whose lines are then not even formatted.
#[derive(Default)]
pub(super) struct Collector {
    pub(super) files: BTreeMap<String, FileResult>,
    /// Rendered size of `files`.
    pub(super) kept: usize,
    /// Files sorted after this path are not kept.
    pub(super) cutoff: Option<String>,
    pub(super) total_files: u64,
    pub(super) matched_lines: u64,
}

impl Collector {
    fn wants(&self, path: &str) -> bool {
        self.cutoff.as_deref().is_none_or(|cutoff| path <= cutoff)
    }

    fn cost(path: &str, file: &FileResult) -> usize {
        path.len() + file.text.len() + 8
    }

    fn add(&mut self, path: String, file: FileResult) {
        self.total_files += 1;
        self.matched_lines += file.matches;
        if !self.wants(&path) {
            return;
        }
        self.kept += Collector::cost(&path, &file);
        self.files.insert(path, file);
        if self.kept <= 2 * BUDGET {
            return;
        }
        let mut before = 0usize;
        let mut last_kept = None;
        for (path, file) in &self.files {
            before += Collector::cost(path, file);
            if before > BUDGET {
                last_kept = Some(path.clone());
                break;
            }
        }
        if let Some(last) = last_kept {
            let mut rest = self.files.split_off(&last);
            if let Some(file) = rest.remove(&last) {
                self.files.insert(last.clone(), file);
            }
            self.kept = before;
            self.cutoff = Some(last);
        }
    }
}

/// A file reader that fails once the call is cancelled, so a long file stops at once.
struct CancelRead<'a> {
    file: File,
    cancel: &'a CancellationToken,
}

impl Read for CancelRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.is_cancelled() {
            return Err(io::Error::other("cancelled"));
        }
        self.file.read(buf)
    }
}

/// Searches one file. In content mode, `wants_text` is asked at the first match whether
/// the file's lines can still be shown (else they are only counted).
fn search_file(
    query: &Query,
    workspace: &Workspace,
    searcher: &mut Searcher,
    path: &Path,
    cancel: &CancellationToken,
    wants_text: &dyn Fn() -> bool,
) -> io::Result<FileResult> {
    // Opened beneath the workspace's handle: a directory swapped for a link to the
    // outside since the walk listed it is not followed.
    let file = workspace.open_read(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let mut sink = FileSink {
        query,
        wants_text,
        keep_text: None,
        result: FileResult {
            complete: true,
            ..FileResult::default()
        },
    };
    searcher.search_reader(&query.matcher, CancelRead { file, cancel }, &mut sink)?;
    Ok(sink.result)
}

struct FileSink<'a> {
    query: &'a Query,
    wants_text: &'a dyn Fn() -> bool,
    /// Decided at the first match.
    keep_text: Option<bool>,
    result: FileResult,
}

impl FileSink<'_> {
    /// True while this file's lines are still rendered.
    fn room(&mut self) -> bool {
        let keep = *self.keep_text.get_or_insert_with(|| (self.wants_text)());
        if !keep {
            self.result.complete = false;
            return false;
        }
        if self.result.text.len() >= BUDGET {
            self.result.complete = false;
        }
        self.result.complete
    }
}

impl Sink for FileSink<'_> {
    type Error = io::Error;

    fn matched(&mut self, _: &Searcher, mat: &SinkMatch<'_>) -> Result<bool, io::Error> {
        self.result.matches += 1;
        match self.query.mode {
            Mode::FilesWithMatches => Ok(false),
            Mode::Count => Ok(true),
            Mode::Content => {
                if self.room() {
                    let line_no = mat.line_number().unwrap_or(0);
                    push_line(
                        &mut self.result.text,
                        line_no,
                        ':',
                        mat.bytes(),
                        Some(&self.query.matcher),
                    );
                }
                Ok(true)
            }
        }
    }

    fn context(&mut self, _: &Searcher, ctx: &SinkContext<'_>) -> Result<bool, io::Error> {
        if self.query.mode == Mode::Content && self.room() {
            let line_no = ctx.line_number().unwrap_or(0);
            push_line(&mut self.result.text, line_no, '-', ctx.bytes(), None);
        }
        Ok(true)
    }

    fn context_break(&mut self, _: &Searcher) -> Result<bool, io::Error> {
        if self.query.mode == Mode::Content && self.room() {
            self.result.text.push_str("--\n");
        }
        Ok(true)
    }

    fn binary_data(&mut self, _: &Searcher, _offset: u64) -> Result<bool, io::Error> {
        self.result.binary = true;
        Ok(false)
    }
}
