//! `glob`: finds files by path pattern, newest first.
//!
//! Patterns are ripgrep's `--glob` globs (gitignore syntax) rooted at the searched
//! directory, matched in the parallel workspace walk of [`crate::walk`]. Results are
//! ordered by modification time, newest first (ties by path): when a pattern matches more
//! files than can be shown, the ones shown are those most recently worked on, which are
//! the likeliest to matter; in a fresh checkout, where times are equal, the order is by
//! path.

use std::path::PathBuf;
use std::time::SystemTime;

use futures::future::BoxFuture;
use ignore::overrides::OverrideBuilder;
use ignore::WalkState;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::fsutil::{self, io_failure};
use crate::output::group_digits;
use crate::schema::schema_for;
use crate::walk::{self, Stopped};
use crate::{parse_args, Tool, ToolContext, ToolError, MAX_OUTPUT_CHARS};

/// Most paths listed.
const MAX_RESULTS: usize = 500;
/// Characters of paths listed; the rest of [`MAX_OUTPUT_CHARS`] is for the note.
const BUDGET: usize = MAX_OUTPUT_CHARS - 500;

const DESCRIPTION: &str = "Find files by name or path pattern. Glob syntax: `*` and `?` \
stay within one path segment, `**` spans directories, `{a,b}` alternatives, `[abc]` \
classes. A pattern without `/` matches file names at any depth (`*.rs` finds every Rust \
file); a pattern with `/` matches paths relative to `path` (`src/**/*.ts`). Lists files \
only, as paths relative to the workspace root, most recently modified first, at most 500. \
Skips files ignored by .gitignore/.ignore, hidden files and directories (unless the pattern \
names them, e.g. `.github/**`), and .git.";

/// The `glob` tool.
pub struct GlobTool;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// Glob such as `**/*.rs`, `src/**/*.{ts,tsx}`, `*config*`.
    pattern: String,
    /// Directory to search, relative to the workspace root. Default: the root.
    path: Option<String>,
}

impl Tool for GlobTool {
    fn name(&self) -> &str {
        "glob"
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
            let pattern = args.pattern.trim().to_string();
            if pattern.is_empty() {
                return Err(ToolError::InvalidArgs("pattern is empty".to_string()));
            }
            let pattern = pattern
                .strip_prefix("./")
                .map(str::to_string)
                .unwrap_or(pattern);
            let root = ctx.workspace.resolve(args.path.as_deref().unwrap_or("."))?;
            let display = ctx.workspace.relative(&root);
            if walk::in_git_dir(&display) {
                return Err(ToolError::Failed(format!(
                    "`{display}` is inside .git, which glob does not list; use git commands with the bash tool"
                )));
            }
            let mut overrides = OverrideBuilder::new(&root);
            let overrides = overrides
                .add(&pattern)
                .and_then(|b| b.build())
                .map_err(|e| {
                    ToolError::InvalidArgs(format!("pattern `{pattern}` is not a valid glob: {e}"))
                })?;
            if ctx.cancel.is_cancelled() {
                return Err(ToolError::Cancelled);
            }
            let workspace = ctx.workspace.clone();
            let cancel = ctx.cancel.clone();
            let work = fsutil::blocking(move || {
                let meta = workspace
                    .metadata(&root)
                    .map_err(|e| io_failure("list", &display, &e))?;
                if !meta.is_dir() {
                    return Err(ToolError::Failed(format!(
                        "`{display}` is not a directory; `path` is the directory to search"
                    )));
                }
                let mut builder = walk::walker(&root, walk::glob_wants_hidden(&pattern));
                builder.overrides(overrides);
                let ws_root = workspace.root();
                let (mut found, stopped) = walk::collect_parallel(
                    &builder,
                    &cancel,
                    || (),
                    |(), entry, out: &mut Vec<(SystemTime, PathBuf)>| {
                        let Some(file_type) = entry.file_type() else {
                            return WalkState::Continue;
                        };
                        // The root itself is never a match (it is the directory searched).
                        if file_type.is_dir() || entry.depth() == 0 {
                            return WalkState::Continue;
                        }
                        let meta = if file_type.is_symlink() {
                            if !walk::link_target_inside(entry.path(), ws_root) {
                                return WalkState::Continue;
                            }
                            std::fs::metadata(entry.path())
                        } else if file_type.is_file() {
                            entry.metadata().map_err(std::io::Error::other)
                        } else {
                            return WalkState::Continue;
                        };
                        let mtime = meta
                            .and_then(|m| m.modified())
                            .unwrap_or(SystemTime::UNIX_EPOCH);
                        out.push((mtime, entry.path().to_path_buf()));
                        WalkState::Continue
                    },
                );
                if stopped == Some(Stopped::Cancelled) {
                    return Err(ToolError::Cancelled);
                }
                if found.is_empty() {
                    return Ok(format!(
                        "No files match `{pattern}` in `{display}` (the pattern is relative to \
                         `path`; files ignored by .gitignore/.ignore and hidden files are skipped)"
                    ));
                }
                found.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
                let total = found.len();
                let mut out = String::new();
                let mut shown = 0usize;
                for (_, path) in &found {
                    // Listed only when it still resolves inside the workspace through its
                    // handle: a name read from a directory swapped for a link to the
                    // outside during the walk is dropped.
                    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
                    if workspace.metadata(&target).is_err() {
                        continue;
                    }
                    let rel = workspace.relative(path);
                    if shown == MAX_RESULTS || out.len() + rel.len() + 1 > BUDGET {
                        break;
                    }
                    out.push_str(&rel);
                    out.push('\n');
                    shown += 1;
                }
                if shown < total {
                    out.push_str(&format!(
                        "[showing the {shown} most recently modified of {} files; narrow the \
                         pattern or path to see the others]",
                        group_digits(total as u64)
                    ));
                } else {
                    out.push_str(&format!(
                        "[{} file{}, most recently modified first]",
                        group_digits(total as u64),
                        if total == 1 { "" } else { "s" }
                    ));
                }
                Ok(out)
            });
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

    use super::*;
    use crate::test_support::ctx;
    use serde_json::json;
    use std::os::unix::fs::symlink;
    use std::time::Duration;

    async fn glob(ctx: &ToolContext, args: Value) -> Result<String, ToolError> {
        GlobTool.call(args, ctx.clone()).await
    }

    fn write(ctx: &ToolContext, rel: &str) {
        let path = ctx.workspace.root().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, rel).unwrap();
    }

    /// Sets a file's modification time to `secs` after the epoch.
    fn set_mtime(ctx: &ToolContext, rel: &str, secs: u64) {
        let file = std::fs::File::options()
            .write(true)
            .open(ctx.workspace.root().join(rel))
            .unwrap();
        file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap();
    }

    fn paths(out: &str) -> Vec<&str> {
        out.lines().filter(|l| !l.starts_with('[')).collect()
    }

    #[tokio::test]
    async fn newest_first_then_by_path() {
        let (_dir, ctx) = ctx();
        for (rel, t) in [
            ("src/a.rs", 100),
            ("src/b.rs", 300),
            ("lib/c.rs", 200),
            ("d.rs", 100),
        ] {
            write(&ctx, rel);
            set_mtime(&ctx, rel, t);
        }
        write(&ctx, "src/e.ts");
        let out = glob(&ctx, json!({"pattern": "*.rs"})).await.unwrap();
        assert_eq!(
            out,
            "src/b.rs\nlib/c.rs\nd.rs\nsrc/a.rs\n[4 files, most recently modified first]"
        );
    }

    #[tokio::test]
    async fn patterns_with_slash_are_relative_to_path() {
        let (_dir, ctx) = ctx();
        for rel in ["src/a.rs", "src/deep/b.rs", "src/c.ts", "lib/d.rs"] {
            write(&ctx, rel);
            set_mtime(&ctx, rel, 100);
        }
        let out = glob(&ctx, json!({"pattern": "src/*.rs"})).await.unwrap();
        assert_eq!(paths(&out), vec!["src/a.rs"]);
        let out = glob(&ctx, json!({"pattern": "src/**/*.{rs,ts}"}))
            .await
            .unwrap();
        assert_eq!(paths(&out), vec!["src/a.rs", "src/c.ts", "src/deep/b.rs"]);
        let out = glob(&ctx, json!({"pattern": "**/*.rs", "path": "src"}))
            .await
            .unwrap();
        assert_eq!(paths(&out), vec!["src/a.rs", "src/deep/b.rs"]);
        let out = glob(&ctx, json!({"pattern": "src/*.rs", "path": "src"}))
            .await
            .unwrap();
        assert!(
            out.starts_with("No files match `src/*.rs` in `src`"),
            "{out}"
        );
        let err = glob(&ctx, json!({"pattern": "*", "path": "src/a.rs"}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
        let err = glob(&ctx, json!({"pattern": "a[b"})).await.unwrap_err();
        assert!(matches!(err, ToolError::InvalidArgs(_)), "{err}");
    }

    #[tokio::test]
    async fn ignored_hidden_and_git_are_skipped_unless_named() {
        let (_dir, ctx) = ctx();
        std::fs::write(ctx.workspace.root().join(".gitignore"), "target/\n").unwrap();
        for rel in [
            "src/a.yml",
            "target/b.yml",
            ".github/ci.yml",
            ".git/c.yml",
            ".hidden.yml",
        ] {
            write(&ctx, rel);
            set_mtime(&ctx, rel, 100);
        }
        let out = glob(&ctx, json!({"pattern": "**/*.yml"})).await.unwrap();
        // `*` matches a leading dot in a file name, as in ripgrep's globs.
        assert_eq!(paths(&out), vec![".hidden.yml", "src/a.yml"]);
        let out = glob(&ctx, json!({"pattern": ".github/**"})).await.unwrap();
        assert_eq!(paths(&out), vec![".github/ci.yml"]);
        let out = glob(&ctx, json!({"pattern": ".*/**/*.yml"})).await.unwrap();
        assert_eq!(paths(&out), vec![".github/ci.yml"]);
        let out = glob(&ctx, json!({"pattern": "*.yml", "path": "target"}))
            .await
            .unwrap();
        assert_eq!(paths(&out), vec!["target/b.yml"]);
        let err = glob(&ctx, json!({"pattern": "*", "path": ".git"}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("inside .git"), "{err}");
    }

    #[tokio::test]
    async fn escapes_are_refused_and_outside_symlinks_not_followed() {
        let (_dir, ctx) = ctx();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.rs"), "x").unwrap();
        std::fs::create_dir(outside.path().join("sub")).unwrap();
        std::fs::write(outside.path().join("sub/deep.rs"), "x").unwrap();
        let root = ctx.workspace.root().to_path_buf();
        symlink(outside.path(), root.join("linked_dir")).unwrap();
        symlink(outside.path().join("secret.rs"), root.join("linked.rs")).unwrap();
        write(&ctx, "in.rs");
        symlink(root.join("in.rs"), root.join("alias.rs")).unwrap();
        let out = glob(&ctx, json!({"pattern": "**/*.rs"})).await.unwrap();
        let mut listed = paths(&out);
        listed.sort();
        assert_eq!(listed, vec!["alias.rs", "in.rs"]);
        for path in [
            "..",
            "/",
            "linked_dir",
            "linked_dir/sub",
            outside.path().to_str().unwrap(),
        ] {
            let err = glob(&ctx, json!({"pattern": "*", "path": path}))
                .await
                .unwrap_err();
            assert!(
                matches!(err, ToolError::OutsideWorkspace { .. }),
                "{path}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn many_matches_are_capped_with_a_note() {
        let (_dir, ctx) = ctx();
        for i in 0..700 {
            let rel = format!("d{}/f{i:03}.txt", i % 7);
            write(&ctx, &rel);
            set_mtime(&ctx, &rel, 1_000 + i);
        }
        let out = glob(&ctx, json!({"pattern": "*.txt"})).await.unwrap();
        let listed = paths(&out);
        assert_eq!(listed.len(), MAX_RESULTS);
        assert_eq!(listed[0], "d6/f699.txt");
        assert!(out.ends_with(
            "[showing the 500 most recently modified of 700 files; narrow the pattern or path to see the others]"
        ), "{out}");
    }

    #[tokio::test]
    async fn a_cancelled_call_returns_cancelled() {
        let (_dir, ctx) = ctx();
        write(&ctx, "a.txt");
        ctx.cancel.cancel();
        let err = glob(&ctx, json!({"pattern": "*"})).await.unwrap_err();
        assert!(matches!(err, ToolError::Cancelled), "{err}");
    }
}
