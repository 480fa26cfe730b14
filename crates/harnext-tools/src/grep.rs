//! `grep`: searches file contents with ripgrep's engine (`grep-regex`, `grep-searcher`)
//! over the parallel workspace walk of [`crate::walk`].
//!
//! Output, sorted by path whatever order the threads finish in:
//! - `content` (default): for each file its path, then its lines as `12:text` (a match)
//!   or `13-text` (context), `--` between non-adjacent groups, a blank line after;
//! - `files_with_matches`: one path a line;
//! - `count`: `path:N`, N being the matching lines.
//!
//! A closing line gives the totals. The output is capped at [`BUDGET`] characters, cut
//! at file or line boundaries with a note of what is not shown; the totals always count
//! every match (the whole tree is searched, as `rg` does). Memory stays bounded: only
//! the text that can still be shown is kept while searching.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use futures::future::BoxFuture;
use grep_matcher::Matcher;
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkContext, SinkMatch};
use ignore::overrides::{Override, OverrideBuilder};
use ignore::WalkState;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::fsutil::{self, io_failure};
use crate::output::group_digits;
use crate::walk::{self, Stopped};
use crate::{parse_args, Tool, ToolContext, ToolError, Workspace, MAX_OUTPUT_CHARS};

/// Characters of results shown; the rest of [`MAX_OUTPUT_CHARS`] is for the notes.
const BUDGET: usize = MAX_OUTPUT_CHARS - 500;
/// Longer lines are shown as an excerpt around their first match.
const MAX_LINE_CHARS: usize = 400;
/// Most context lines before or after a match.
const MAX_CONTEXT: usize = 20;

const DESCRIPTION: &str = "Search file contents with a regular expression (ripgrep syntax: \
`fn \\w+\\(`, `TODO|FIXME`; set literal=true to search for the text as written). Searches \
`path` (default: the workspace root) recursively, skipping files ignored by \
.gitignore/.ignore, hidden files and directories (unless `glob` names them), binary files \
and .git. output_mode \"content\" (default) lists matching lines grouped by file as \
`<line>:<text>` (context lines as `<line>-<text>`), \"files_with_matches\" lists the paths, \
\"count\" gives `path:N`. Results are sorted by path; paths are relative to the workspace \
root. Lines over 400 characters are cut around the match; the output is capped at 30000 \
characters with a note of what was not shown, and always ends with the total counts.";

/// The `grep` tool.
pub struct GrepTool;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Content,
    FilesWithMatches,
    Count,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    pattern: String,
    path: Option<String>,
    glob: Option<String>,
    output_mode: Option<Mode>,
    case_insensitive: Option<bool>,
    literal: Option<bool>,
    context: Option<usize>,
    before: Option<usize>,
    after: Option<usize>,
}

impl Tool for GrepTool {
    fn name(&self) -> &str {
        "grep"
    }

    fn description(&self) -> &str {
        DESCRIPTION
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "pattern": {
                    "type": "string",
                    "description": "Regular expression (Rust/ripgrep syntax), matched against single lines."
                },
                "path": {
                    "type": "string",
                    "description": "File or directory to search, relative to the workspace root. Default: the root."
                },
                "glob": {
                    "type": "string",
                    "description": "Only search files matching this glob, relative to `path` (`*.rs`, `src/**/*.{ts,tsx}`; a pattern without `/` matches file names at any depth; a leading `!` excludes)."
                },
                "output_mode": {
                    "type": "string",
                    "enum": ["content", "files_with_matches", "count"],
                    "description": "content: matching lines (default); files_with_matches: paths only; count: matching lines per file."
                },
                "case_insensitive": {
                    "type": "boolean",
                    "description": "Ignore case. Default false."
                },
                "literal": {
                    "type": "boolean",
                    "description": "Treat pattern as plain text, not a regular expression. Default false."
                },
                "context": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_CONTEXT,
                    "description": "Lines of context before and after each match (content mode). Default 0."
                },
                "before": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_CONTEXT,
                    "description": "Lines of context before each match; overrides context."
                },
                "after": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_CONTEXT,
                    "description": "Lines of context after each match; overrides context."
                }
            },
            "required": ["pattern"],
            "additionalProperties": false
        })
    }

    fn read_only(&self) -> bool {
        true
    }

    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'static, Result<String, ToolError>> {
        Box::pin(async move {
            let args: Args = parse_args(args)?;
            let query = Query::new(args, &ctx.workspace)?;
            if ctx.cancel.is_cancelled() {
                return Err(ToolError::Cancelled);
            }
            let workspace = ctx.workspace.clone();
            let cancel = ctx.cancel.clone();
            let work = fsutil::blocking(move || query.run(&workspace, &cancel));
            tokio::select! {
                biased;
                () = ctx.cancel.cancelled() => Err(ToolError::Cancelled),
                result = work => result,
            }
        })
    }
}

/// A validated search.
struct Query {
    pattern: String,
    matcher: RegexMatcher,
    root: PathBuf,
    display: String,
    root_is_file: bool,
    glob: Option<String>,
    overrides: Option<Override>,
    hidden: bool,
    mode: Mode,
    before: usize,
    after: usize,
}

impl Query {
    fn new(args: Args, workspace: &Workspace) -> Result<Query, ToolError> {
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

    fn run(&self, workspace: &Workspace, cancel: &CancellationToken) -> Result<String, ToolError> {
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

    fn render(&self, found: Collector, searched: u64) -> String {
        if found.files.is_empty() {
            let mut msg = format!(
                "No matches for `{}` in `{}` ({} file{} searched",
                self.pattern,
                self.display,
                group_digits(searched),
                plural(searched)
            );
            if let Some(glob) = &self.glob {
                msg.push_str(&format!(
                    " matching glob `{glob}`, relative to `{}`",
                    self.display
                ));
            }
            if !self.root_is_file {
                msg.push_str(
                    "; files ignored by .gitignore/.ignore, hidden files and binary files are skipped",
                );
            }
            msg.push(')');
            return msg;
        }
        let files = found.total_files;
        let lines = found.matched_lines;
        let totals = match self.mode {
            Mode::FilesWithMatches => format!("{} file{}", group_digits(files), plural(files)),
            _ => format!(
                "{} matching line{} in {} file{}",
                group_digits(lines),
                plural(lines),
                group_digits(files),
                plural(files)
            ),
        };
        let mut out = String::new();
        let mut shown_files = 0u64;
        let mut shown_lines = 0u64;
        let mut cut = false;
        for (path, file) in &found.files {
            let block = match self.mode {
                Mode::Content => {
                    let len = path.len() + file.text.len() + 2;
                    if out.len() + len > BUDGET || !file.complete {
                        // Show the beginning of this file's lines when there is room.
                        let room = BUDGET.saturating_sub(out.len() + path.len() + 2);
                        if room >= 2_000 || shown_files == 0 {
                            let part = head_lines(&file.text, room);
                            shown_lines += count_match_lines(part);
                            shown_files += 1;
                            out.push_str(path);
                            out.push('\n');
                            out.push_str(part);
                            out.push('\n');
                        }
                        cut = true;
                        break;
                    }
                    shown_lines += file.matches;
                    format!("{path}\n{}\n", file.text)
                }
                Mode::FilesWithMatches => format!("{path}\n"),
                Mode::Count => format!("{path}:{}\n", file.matches),
            };
            if out.len() + block.len() > BUDGET {
                cut = true;
                break;
            }
            out.push_str(&block);
            shown_files += 1;
        }
        cut |= shown_files < files;
        match (self.mode, cut) {
            (_, false) => {
                let _ = write!(out, "[{totals}]");
            }
            (Mode::Content, true) => {
                let _ = write!(
                    out,
                    "[output limit of {} characters reached: showing {} of {totals}, from {}. \
                     Narrow the pattern, path or glob, or use output_mode \"files_with_matches\" \
                     or \"count\".]",
                    group_digits(MAX_OUTPUT_CHARS as u64),
                    group_digits(shown_lines),
                    match shown_files {
                        1 => "the first file".to_string(),
                        n => format!("the first {} files", group_digits(n)),
                    }
                );
            }
            (Mode::FilesWithMatches, true) => {
                let _ = write!(
                    out,
                    "[output limit of {} characters reached: showing {} of {totals}. \
                     Narrow the pattern, path or glob.]",
                    group_digits(MAX_OUTPUT_CHARS as u64),
                    group_digits(shown_files),
                );
            }
            (Mode::Count, true) => {
                let _ = write!(
                    out,
                    "[output limit of {} characters reached: showing {} of {} files ({totals}). \
                     Narrow the pattern, path or glob.]",
                    group_digits(MAX_OUTPUT_CHARS as u64),
                    group_digits(shown_files),
                    group_digits(files)
                );
            }
        }
        out
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
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

/// The part of `text` that fits in `room` bytes, cut after a line.
fn head_lines(text: &str, room: usize) -> &str {
    if text.len() <= room {
        return text;
    }
    let mut end = room;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    match text[..end].rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    }
}

/// Lines of rendered content that are matches (`12:text`), not context (`12-text`).
fn count_match_lines(text: &str) -> u64 {
    text.lines()
        .filter(|line| {
            let rest = line.trim_start_matches(|c: char| c.is_ascii_digit());
            rest.len() < line.len() && rest.starts_with(':')
        })
        .count() as u64
}

/// What one file gave.
#[derive(Default)]
struct FileResult {
    /// Matching lines.
    matches: u64,
    /// Rendered lines (content mode), up to about [`BUDGET`] bytes.
    text: String,
    /// False when `text` stopped short of the file's matches.
    complete: bool,
    binary: bool,
}

/// The files with matches, by path. Only the files that can still be shown are kept:
/// once the kept output passes 2 × [`BUDGET`], the files sorted after the first
/// [`BUDGET`] bytes are dropped (counted, not kept), and so is every later file sorted
/// after them, whose lines are then not even formatted.
#[derive(Default)]
struct Collector {
    files: BTreeMap<String, FileResult>,
    /// Rendered size of `files`.
    kept: usize,
    /// Files sorted after this path are not kept.
    cutoff: Option<String>,
    total_files: u64,
    matched_lines: u64,
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

/// Appends `12:text\n`; a line over [`MAX_LINE_CHARS`] characters is shown as an
/// excerpt around its first match (or its beginning).
fn push_line(
    out: &mut String,
    line_no: u64,
    sep: char,
    bytes: &[u8],
    matcher: Option<&RegexMatcher>,
) {
    let line = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(line);
    let _ = write!(out, "{line_no}{sep}");
    if text.len() <= MAX_LINE_CHARS {
        out.push_str(&text);
        out.push('\n');
        return;
    }
    let total = text.chars().count();
    if total <= MAX_LINE_CHARS {
        out.push_str(&text);
        out.push('\n');
        return;
    }
    let match_start = matcher
        .and_then(|m| m.find(line).ok().flatten())
        .map_or(0, |m| {
            String::from_utf8_lossy(&line[..m.start()]).chars().count()
        });
    let from = match_start
        .saturating_sub(MAX_LINE_CHARS / 4)
        .min(total - MAX_LINE_CHARS);
    let excerpt: String = text.chars().skip(from).take(MAX_LINE_CHARS).collect();
    if from > 0 {
        out.push('…');
    }
    out.push_str(&excerpt);
    if from + MAX_LINE_CHARS < total {
        out.push('…');
    }
    let _ = writeln!(
        out,
        " [line cut: {} characters, showing {}-{}]",
        group_digits(total as u64),
        group_digits(from as u64 + 1),
        group_digits((from + MAX_LINE_CHARS) as u64)
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::test_support::ctx;
    use std::os::unix::fs::symlink;

    async fn grep(ctx: &ToolContext, args: Value) -> Result<String, ToolError> {
        GrepTool.call(args, ctx.clone()).await
    }

    fn write(ctx: &ToolContext, rel: &str, content: impl AsRef<[u8]>) {
        let path = ctx.workspace.root().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    #[tokio::test]
    async fn content_mode_groups_by_file_with_line_numbers_sorted_by_path() {
        let (_dir, ctx) = ctx();
        write(&ctx, "src/b.rs", "fn b() {}\nlet x = foo();\n");
        write(&ctx, "src/a.rs", "foo\nbar\nfoo bar\n");
        write(&ctx, "README.md", "nothing here\n");
        let out = grep(&ctx, json!({"pattern": "foo"})).await.unwrap();
        assert_eq!(
            out,
            "src/a.rs\n1:foo\n3:foo bar\n\nsrc/b.rs\n2:let x = foo();\n\n[3 matching lines in 2 files]"
        );
    }

    #[tokio::test]
    async fn files_and_count_modes() {
        let (_dir, ctx) = ctx();
        write(&ctx, "b.txt", "x\nx\nx\n");
        write(&ctx, "a.txt", "x\n");
        write(&ctx, "c.txt", "y\n");
        let out = grep(
            &ctx,
            json!({"pattern": "x", "output_mode": "files_with_matches"}),
        )
        .await
        .unwrap();
        assert_eq!(out, "a.txt\nb.txt\n[2 files]");
        let out = grep(&ctx, json!({"pattern": "x", "output_mode": "count"}))
            .await
            .unwrap();
        assert_eq!(out, "a.txt:1\nb.txt:3\n[4 matching lines in 2 files]");
    }

    #[tokio::test]
    async fn case_insensitive_literal_and_bad_regex() {
        let (_dir, ctx) = ctx();
        write(&ctx, "a.txt", "Hello World\nhello(world)\n");
        let out = grep(&ctx, json!({"pattern": "HELLO", "case_insensitive": true}))
            .await
            .unwrap();
        assert!(out.contains("1:Hello World\n2:hello(world)\n"), "{out}");
        let out = grep(&ctx, json!({"pattern": "hello(world", "literal": true}))
            .await
            .unwrap();
        assert!(out.contains("2:hello(world)\n"), "{out}");
        let err = grep(&ctx, json!({"pattern": "hello(world"}))
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArgs(_)), "{err}");
        assert!(err.to_string().contains("literal=true"), "{err}");
    }

    #[tokio::test]
    async fn context_lines_and_breaks() {
        let (_dir, ctx) = ctx();
        let text: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        write(&ctx, "a.txt", text);
        let out = grep(&ctx, json!({"pattern": "^line (5|15)$", "context": 1}))
            .await
            .unwrap();
        assert_eq!(
            out,
            "a.txt\n4-line 4\n5:line 5\n6-line 6\n--\n14-line 14\n15:line 15\n16-line 16\n\n[2 matching lines in 1 file]"
        );
        let out = grep(
            &ctx,
            json!({"pattern": "^line 5$", "before": 2, "after": 0}),
        )
        .await
        .unwrap();
        assert!(
            out.starts_with("a.txt\n3-line 3\n4-line 4\n5:line 5\n\n"),
            "{out}"
        );
        let err = grep(&ctx, json!({"pattern": "x", "context": 99}))
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArgs(_)), "{err}");
    }

    #[tokio::test]
    async fn gitignored_hidden_git_and_binary_files_are_skipped() {
        let (_dir, ctx) = ctx();
        write(&ctx, ".gitignore", "target/\n*.log\n");
        write(&ctx, ".ignore", "vendor/\n");
        write(&ctx, "src/a.rs", "needle\n");
        write(&ctx, "target/out.rs", "needle\n");
        write(&ctx, "vendor/lib.rs", "needle\n");
        write(&ctx, "debug.log", "needle\n");
        write(&ctx, ".hidden/x.rs", "needle\n");
        write(&ctx, ".env", "needle\n");
        write(&ctx, ".git/config", "needle\n");
        write(&ctx, "blob.bin", b"needle\0\x01\x02");
        let out = grep(
            &ctx,
            json!({"pattern": "needle", "output_mode": "files_with_matches"}),
        )
        .await
        .unwrap();
        assert_eq!(out, "src/a.rs\n[1 file]");
        // A glob that names hidden files reaches them, but never .git.
        let out = grep(
            &ctx,
            json!({"pattern": "needle", "glob": ".*/**", "output_mode": "files_with_matches"}),
        )
        .await
        .unwrap();
        assert_eq!(out, ".hidden/x.rs\n[1 file]");
        let out = grep(
            &ctx,
            json!({"pattern": "needle", "glob": ".env", "output_mode": "files_with_matches"}),
        )
        .await
        .unwrap();
        assert_eq!(out, ".env\n[1 file]");
        // An ignored directory named as the path is searched.
        let out = grep(&ctx, json!({"pattern": "needle", "path": "target"}))
            .await
            .unwrap();
        assert!(out.starts_with("target/out.rs\n1:needle\n"), "{out}");
        let err = grep(&ctx, json!({"pattern": "needle", "path": ".git"}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("inside .git"), "{err}");
        let err = grep(&ctx, json!({"pattern": "needle", "path": "blob.bin"}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("binary file"), "{err}");
    }

    #[tokio::test]
    async fn glob_filter_and_path() {
        let (_dir, ctx) = ctx();
        write(&ctx, "src/a.rs", "x\n");
        write(&ctx, "src/deep/b.rs", "x\n");
        write(&ctx, "src/c.ts", "x\n");
        write(&ctx, "lib/d.rs", "x\n");
        let files = |out: String| -> Vec<String> {
            out.lines()
                .filter(|l| !l.starts_with('['))
                .map(str::to_string)
                .collect()
        };
        let args = |glob: &str, path: Option<&str>| {
            let mut v = json!({"pattern": "x", "output_mode": "files_with_matches", "glob": glob});
            if let Some(p) = path {
                v["path"] = json!(p);
            }
            v
        };
        let out = grep(&ctx, args("*.rs", None)).await.unwrap();
        assert_eq!(files(out), vec!["lib/d.rs", "src/a.rs", "src/deep/b.rs"]);
        let out = grep(&ctx, args("src/*.rs", None)).await.unwrap();
        assert_eq!(files(out), vec!["src/a.rs"]);
        let out = grep(&ctx, args("!*.ts", Some("src"))).await.unwrap();
        assert_eq!(files(out), vec!["src/a.rs", "src/deep/b.rs"]);
        let out = grep(&ctx, args("**/*.{ts,rs}", Some("src"))).await.unwrap();
        assert_eq!(files(out), vec!["src/a.rs", "src/c.ts", "src/deep/b.rs"]);
        let out = grep(&ctx, args("*.py", None)).await.unwrap();
        assert!(
            out.starts_with("No matches for `x` in `.` (0 files searched matching glob `*.py`"),
            "{out}"
        );
        let out = grep(&ctx, json!({"pattern": "x", "path": "src/c.ts"}))
            .await
            .unwrap();
        assert_eq!(out, "src/c.ts\n1:x\n\n[1 matching line in 1 file]");
    }

    #[tokio::test]
    async fn escapes_are_refused_and_outside_symlinks_not_followed() {
        let (dir, ctx) = ctx();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "needle\n").unwrap();
        symlink(outside.path(), ctx.workspace.root().join("linked_dir")).unwrap();
        symlink(
            outside.path().join("secret.txt"),
            ctx.workspace.root().join("linked_file"),
        )
        .unwrap();
        write(&ctx, "inside.txt", "needle\n");
        symlink(
            ctx.workspace.root().join("inside.txt"),
            ctx.workspace.root().join("inner_link"),
        )
        .unwrap();
        let out = grep(
            &ctx,
            json!({"pattern": "needle", "output_mode": "files_with_matches"}),
        )
        .await
        .unwrap();
        assert_eq!(out, "inner_link\ninside.txt\n[2 files]");
        for path in [
            "../",
            "/etc",
            "linked_dir",
            "linked_file",
            outside.path().to_str().unwrap(),
        ] {
            let err = grep(&ctx, json!({"pattern": "needle", "path": path}))
                .await
                .unwrap_err();
            assert!(
                matches!(err, ToolError::OutsideWorkspace { .. }),
                "{path}: {err}"
            );
        }
        drop(dir);
    }

    #[tokio::test]
    async fn huge_output_is_capped_with_totals() {
        let (_dir, ctx) = ctx();
        for f in 0..50 {
            let text: String = (0..200)
                .map(|i| format!("match {f} {i} {}\n", "x".repeat(40)))
                .collect();
            write(&ctx, &format!("f{f:02}.txt"), text);
        }
        let out = grep(&ctx, json!({"pattern": "match"})).await.unwrap();
        assert!(out.chars().count() <= MAX_OUTPUT_CHARS, "{}", out.len());
        assert!(out.starts_with("f00.txt\n1:match 0 0 "), "{}", &out[..40]);
        let last = out.lines().last().unwrap();
        assert!(
            last.contains("of 10,000 matching lines in 50 files"),
            "{last}"
        );
        assert!(last.contains("output limit"), "{last}");
        // The shown count is honest: it is the number of match lines in the output.
        let shown = count_match_lines(&out);
        assert!(
            last.contains(&format!("showing {}", group_digits(shown))),
            "{last}"
        );
        let out = grep(&ctx, json!({"pattern": "match", "output_mode": "count"}))
            .await
            .unwrap();
        assert!(
            out.ends_with("f49.txt:200\n[10,000 matching lines in 50 files]"),
            "{out}"
        );
    }

    #[tokio::test]
    async fn one_huge_file_and_a_huge_line_are_capped() {
        let (_dir, ctx) = ctx();
        let text: String = (0..100_000).map(|i| format!("needle {i}\n")).collect();
        write(&ctx, "big.txt", text);
        let out = grep(&ctx, json!({"pattern": "needle"})).await.unwrap();
        assert!(out.chars().count() <= MAX_OUTPUT_CHARS);
        assert!(
            out.contains("of 100,000 matching lines in 1 file, from the first file"),
            "{}",
            out.lines().last().unwrap()
        );
        let line = format!("{}needle{}\n", "a".repeat(100_000), "b".repeat(100_000));
        write(&ctx, "min.js", line);
        let out = grep(&ctx, json!({"pattern": "needle", "path": "min.js"}))
            .await
            .unwrap();
        assert!(out.contains("…aaaa"), "{out}");
        assert!(out.contains("needlebbb"), "{out}");
        assert!(
            out.contains("[line cut: 200,006 characters, showing 99,901-100,300]"),
            "{out}"
        );
        assert!(out.len() < 1_000, "{}", out.len());
    }

    /// A tree whose search takes far longer than the test waits before cancelling:
    /// 64 MiB of text and a pattern with no literal to skip ahead with.
    fn slow_tree(ctx: &ToolContext) {
        let line = "abc def ghi jkl mno pqr stu vwx yz0 123 456 789 abc def ghi jkl\n";
        let text = line.repeat((1 << 20) / line.len());
        for f in 0..64 {
            write(ctx, &format!("d{}/f{f}.txt", f % 8), &text);
        }
    }

    #[tokio::test]
    async fn cancel_ends_a_search_at_once() {
        let (_dir, ctx) = ctx();
        slow_tree(&ctx);
        let pattern = json!({"pattern": "[a-c]{3} [x-z]{3}$"});
        let started = std::time::Instant::now();
        let task = tokio::spawn(GrepTool.call(pattern, ctx.clone()));
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        let cancelled_at = std::time::Instant::now();
        ctx.cancel.cancel();
        let result = task.await.unwrap();
        let took = cancelled_at.elapsed();
        assert!(
            matches!(result, Err(ToolError::Cancelled)),
            "the search ended before the cancel ({:?}): {result:?}",
            started.elapsed()
        );
        assert!(
            took < std::time::Duration::from_millis(200),
            "cancel took {took:?}"
        );
    }
}
