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
//!
//! [`query`] validates the arguments and searches (the walk, the matcher, the files kept
//! while searching); [`render`] turns what was found into the text the model reads.

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::fsutil;
use crate::schema::schema_for;
use crate::{parse_args, Tool, ToolContext, ToolError, MAX_OUTPUT_CHARS};

mod query;
mod render;

use query::Query;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Content,
    FilesWithMatches,
    Count,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// Regular expression (Rust/ripgrep syntax), matched against single lines.
    pattern: String,
    /// File or directory to search, relative to the workspace root. Default: the root.
    path: Option<String>,
    /// Only search files matching this glob, relative to `path` (`*.rs`, `src/**/*.{ts,tsx}`; a pattern without `/` matches file names at any depth; a leading `!` excludes).
    glob: Option<String>,
    /// content: matching lines (default); files_with_matches: paths only; count: matching lines per file.
    output_mode: Option<Mode>,
    /// Ignore case. Default false.
    case_insensitive: Option<bool>,
    /// Treat pattern as plain text, not a regular expression. Default false.
    literal: Option<bool>,
    /// Lines of context before and after each match (content mode). Default 0.
    #[schemars(range(max = MAX_CONTEXT))]
    context: Option<usize>,
    /// Lines of context before each match; overrides context.
    #[schemars(range(max = MAX_CONTEXT))]
    before: Option<usize>,
    /// Lines of context after each match; overrides context.
    #[schemars(range(max = MAX_CONTEXT))]
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
        schema_for::<Args>()
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::render::count_match_lines;
    use super::*;
    use crate::output::group_digits;
    use crate::test_support::ctx;
    use serde_json::json;
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
