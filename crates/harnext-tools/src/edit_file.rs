//! `edit_file`: replaces exact text in a file.

use std::io;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::fsutil::{self, io_failure};
use crate::schema::schema_for;
use crate::{parse_args, Tool, ToolContext, ToolError, Workspace};

/// Line numbers listed in a message, at most.
const MAX_LISTED_LINES: usize = 20;

const DESCRIPTION: &str = "Replace exact text in an existing file. `old_text` must match the \
file exactly, whitespace and indentation included, without the line-number prefixes \
read_file shows. Unless `replace_all` is true, `old_text` must occur exactly once: include \
enough surrounding lines to make it unique. The file's line endings are kept (LF text \
matches and is written as CRLF in a CRLF file), and so is a UTF-8 byte-order mark. When the \
text is not found or is ambiguous, nothing changes and the error says why. For several \
changes to one file, use multi_edit; to create a file or replace all of it, use write_file.";

/// The `edit_file` tool.
pub struct EditFileTool;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// File to edit, relative to the workspace root.
    path: String,
    /// Exact text to replace; must occur once unless replace_all is true.
    old_text: String,
    /// Text to put in its place (may be empty to delete).
    new_text: String,
    /// Replace every occurrence instead of exactly one. Default false.
    replace_all: Option<bool>,
}

impl Tool for EditFileTool {
    fn name(&self) -> &str {
        "edit_file"
    }

    fn description(&self) -> &str {
        DESCRIPTION
    }

    fn input_schema(&self) -> Value {
        schema_for::<Args>()
    }

    fn read_only(&self) -> bool {
        false
    }

    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'static, Result<String, ToolError>> {
        Box::pin(async move {
            let args: Args = parse_args(args)?;
            if args.old_text.is_empty() {
                return Err(ToolError::InvalidArgs(
                    "old_text is empty; give the exact text to replace (to create a file or \
                     replace all of it, use write_file)"
                        .to_string(),
                ));
            }
            if args.old_text == args.new_text {
                return Err(ToolError::Failed(
                    "old_text and new_text are identical; there is nothing to change".to_string(),
                ));
            }
            let replace_all = args.replace_all.unwrap_or(false);
            let abs = ctx.workspace.resolve(&args.path)?;
            let display = ctx.workspace.relative(&abs);
            if ctx.cancel.is_cancelled() {
                return Err(ToolError::Cancelled);
            }
            // Not raced against cancellation: the edit is short and atomic, and the
            // change is recorded as soon as it is made.
            let workspace = ctx.workspace.clone();
            fsutil::blocking(move || {
                let content = load_text(&workspace, &abs, &display)?;
                let edit = plan_edit(&content, &args.old_text, &args.new_text, replace_all)
                    .map_err(|problem| ToolError::Failed(problem.message(&display)))?;
                workspace
                    .write_atomic(&abs, edit.content.as_bytes())
                    .map_err(|e| io_failure("write", &display, &e))?;
                workspace.record_change(&abs);
                Ok(edit.summary(&display))
            })
            .await
        })
    }
}

/// Reads the text file an edit applies to, with errors phrased for the model.
pub(crate) fn load_text(
    workspace: &Workspace,
    abs: &std::path::Path,
    display: &str,
) -> Result<String, ToolError> {
    let mut file = workspace.open_read(abs).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            ToolError::Failed(format!(
                "file not found: `{display}` (to create a file, use write_file)"
            ))
        } else {
            io_failure("read", display, &e)
        }
    })?;
    let meta = file
        .metadata()
        .map_err(|e| io_failure("read", display, &e))?;
    if meta.is_dir() {
        return Err(ToolError::Failed(format!(
            "`{display}` is a directory, not a file"
        )));
    }
    if !meta.is_file() {
        return Err(ToolError::Failed(format!(
            "`{display}` is not a regular file (a device, socket or pipe)"
        )));
    }
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| io_failure("read", display, &e))?;
    String::from_utf8(bytes).map_err(|_| {
        ToolError::Failed(format!(
            "`{display}` is not valid UTF-8 text; the edit tools only edit UTF-8 text files"
        ))
    })
}

/// A planned edit: the new content and where the replacements were.
#[derive(Debug)]
pub(crate) struct Edit {
    pub(crate) content: String,
    /// 1-based line numbers (in the original file) where each replacement starts.
    pub(crate) lines: Vec<usize>,
    pub(crate) crlf_converted: bool,
}

impl Edit {
    fn summary(&self, display: &str) -> String {
        let mut out = if self.lines.len() == 1 {
            format!(
                "Edited {display}: replaced 1 occurrence at line {}",
                self.lines.first().copied().unwrap_or(0)
            )
        } else {
            format!(
                "Edited {display}: replaced {} occurrences at lines {}",
                self.lines.len(),
                list_lines(&self.lines)
            )
        };
        if self.crlf_converted {
            out.push_str(" (line endings written as CRLF, like the rest of the file)");
        }
        out
    }
}

/// Why an edit cannot be made.
#[derive(Debug, PartialEq)]
pub(crate) enum Problem {
    NotFound { hints: Vec<String> },
    Ambiguous { lines: Vec<usize> },
}

impl Problem {
    pub(crate) fn message(&self, display: &str) -> String {
        match self {
            Problem::NotFound { hints } => {
                let mut msg =
                    format!("old_text was not found in `{display}`; nothing was changed.");
                if hints.is_empty() {
                    msg.push_str(
                        " Read the file again with read_file and copy the text to replace exactly.",
                    );
                }
                for hint in hints {
                    msg.push(' ');
                    msg.push_str(hint);
                }
                msg
            }
            Problem::Ambiguous { lines } => format!(
                "old_text occurs {} times in `{display}` (at lines {}); nothing was changed. \
                 Include more surrounding lines to make it unique, or set replace_all to true \
                 to replace every occurrence.",
                lines.len(),
                list_lines(lines)
            ),
        }
    }
}

pub(crate) fn list_lines(lines: &[usize]) -> String {
    let mut listed: Vec<String> = lines
        .iter()
        .take(MAX_LISTED_LINES)
        .map(|l| l.to_string())
        .collect();
    if lines.len() > MAX_LISTED_LINES {
        listed.push("…".to_string());
    }
    listed.join(", ")
}

/// Plans replacing `old` with `new` in `content`, keeping the file's line endings.
pub(crate) fn plan_edit(
    content: &str,
    old: &str,
    new: &str,
    replace_all: bool,
) -> Result<Edit, Problem> {
    let crlf_file = uses_crlf(content);
    let file_has_cr = content.contains('\r');
    // (old as searched, new as written, whether LF was converted to CRLF)
    let mut candidates: Vec<(String, String, bool)> = Vec::new();
    if crlf_file && !old.contains('\r') && old.contains('\n') {
        let new_eff = if new.contains('\r') {
            new.to_string()
        } else {
            new.replace('\n', "\r\n")
        };
        candidates.push((old.replace('\n', "\r\n"), new_eff, true));
        // A mixed file may have this part in LF.
        candidates.push((old.to_string(), new.to_string(), false));
    } else if !file_has_cr && old.contains("\r\n") {
        candidates.push((old.replace("\r\n", "\n"), new.replace("\r\n", "\n"), false));
    } else if crlf_file && !old.contains('\n') && !new.contains('\r') && new.contains('\n') {
        candidates.push((old.to_string(), new.replace('\n', "\r\n"), true));
    } else {
        candidates.push((old.to_string(), new.to_string(), false));
    }

    for (old_eff, new_eff, converted) in candidates {
        let starts: Vec<usize> = content.match_indices(&old_eff).map(|(i, _)| i).collect();
        if starts.is_empty() {
            continue;
        }
        if starts.len() > 1 && !replace_all {
            return Err(Problem::Ambiguous {
                lines: line_numbers(content, &starts),
            });
        }
        let new_content = if replace_all {
            content.replace(&old_eff, &new_eff)
        } else {
            content.replacen(&old_eff, &new_eff, 1)
        };
        return Ok(Edit {
            content: new_content,
            lines: line_numbers(content, &starts),
            crlf_converted: converted && new_eff.contains('\r'),
        });
    }
    Err(Problem::NotFound {
        hints: not_found_hints(content, old),
    })
}

/// True when most of the file's line breaks are CRLF.
fn uses_crlf(content: &str) -> bool {
    let crlf = content.matches("\r\n").count();
    let lf = content.matches('\n').count();
    crlf > 0 && crlf * 2 >= lf
}

/// 1-based line numbers of sorted byte offsets.
fn line_numbers(content: &str, starts: &[usize]) -> Vec<usize> {
    let bytes = content.as_bytes();
    let mut line = 1;
    let mut pos = 0;
    let mut out = Vec::with_capacity(starts.len());
    for &start in starts {
        line += bytes[pos..start].iter().filter(|&&b| b == b'\n').count();
        pos = start;
        out.push(line);
    }
    out
}

/// Suggestions for why `old` was not found in `content`.
fn not_found_hints(content: &str, old: &str) -> Vec<String> {
    let mut hints = Vec::new();
    let non_empty: Vec<&str> = old.lines().filter(|l| !l.trim().is_empty()).collect();
    if !non_empty.is_empty() && non_empty.iter().all(|l| has_line_number_prefix(l)) {
        hints.push(
            "old_text seems to include the line-number prefixes of read_file's output \
             (`   12<TAB>`); leave them out."
                .to_string(),
        );
    }
    if !old.contains('\n') && old.contains("\\n") && content.contains(&old.replace("\\n", "\n")) {
        hints.push(
            "old_text has the two characters `\\n` where the file has a line break; send real \
             line breaks."
                .to_string(),
        );
    }
    let fuzzy = whitespace_insensitive_matches(content, old);
    if !fuzzy.is_empty() {
        hints.push(format!(
            "Ignoring whitespace and line endings, it matches at line{} {}: the indentation, \
             spacing or line endings differ. Read those lines with read_file and copy them exactly.",
            if fuzzy.len() == 1 { "" } else { "s" },
            list_lines(&fuzzy)
        ));
    }
    hints
}

/// `   12\tcode`: a line as read_file shows it.
fn has_line_number_prefix(line: &str) -> bool {
    let rest = line.trim_start_matches(' ');
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    digits > 0 && rest[digits..].starts_with('\t')
}

/// Lines where `old` matches `content` once runs of whitespace are collapsed and line
/// endings ignored (the first and last line of `old` may be parts of lines).
fn whitespace_insensitive_matches(content: &str, old: &str) -> Vec<usize> {
    fn norm(line: &str) -> String {
        line.split_whitespace().collect::<Vec<_>>().join(" ")
    }
    let mut old_lines: Vec<String> = old.lines().map(norm).collect();
    while old_lines.first().is_some_and(|l| l.is_empty()) {
        old_lines.remove(0);
    }
    while old_lines.last().is_some_and(|l| l.is_empty()) {
        old_lines.pop();
    }
    let k = old_lines.len();
    if k == 0 {
        return Vec::new();
    }
    let file_lines: Vec<String> = content.lines().map(norm).collect();
    if file_lines.len() < k {
        return Vec::new();
    }
    let mut found = Vec::new();
    for i in 0..=file_lines.len() - k {
        let window = &file_lines[i..i + k];
        let hit = if k == 1 {
            window[0].contains(&old_lines[0])
        } else {
            window[0].ends_with(&old_lines[0])
                && window[k - 1].starts_with(&old_lines[k - 1])
                && window[1..k - 1] == old_lines[1..k - 1]
        };
        if hit {
            found.push(i + 1);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::test_support::ctx;
    use serde_json::json;

    async fn edit(ctx: &ToolContext, args: Value) -> Result<String, ToolError> {
        EditFileTool.call(args, ctx.clone()).await
    }

    #[tokio::test]
    async fn edit_replaces_exact_text_and_records_change() {
        let (_dir, ctx) = ctx();
        let path = ctx.workspace.root().join("a.rs");
        std::fs::write(&path, "fn a() {}\nfn b() {\n    1\n}\n").unwrap();
        let out = edit(
            &ctx,
            json!({"path": "a.rs", "old_text": "fn b() {\n    1", "new_text": "fn b() {\n    2"}),
        )
        .await
        .unwrap();
        assert_eq!(out, "Edited a.rs: replaced 1 occurrence at line 2");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "fn a() {}\nfn b() {\n    2\n}\n"
        );
        assert_eq!(ctx.workspace.changed_files(), vec!["a.rs"]);
    }

    #[tokio::test]
    async fn edit_not_found_changes_nothing_and_hints_whitespace() {
        let (_dir, ctx) = ctx();
        let path = ctx.workspace.root().join("a.py");
        std::fs::write(&path, "def f():\n    return 1\n").unwrap();
        let err = edit(
            &ctx,
            json!({"path": "a.py", "old_text": "def f():\n  return 1", "new_text": "x"}),
        )
        .await
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("old_text was not found in `a.py`"), "{msg}");
        assert!(msg.contains("Ignoring whitespace"), "{msg}");
        assert!(msg.contains("at line 1"), "{msg}");
        let err = edit(
            &ctx,
            json!({"path": "a.py", "old_text": "nowhere", "new_text": "x"}),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("not found"), "{err}");
        assert!(!err.to_string().contains("Ignoring whitespace"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "def f():\n    return 1\n"
        );
        assert!(ctx.workspace.changed_files().is_empty());
    }

    #[tokio::test]
    async fn edit_not_found_hints_line_number_prefixes() {
        let (_dir, ctx) = ctx();
        std::fs::write(ctx.workspace.root().join("a.txt"), "alpha\nbeta\n").unwrap();
        let err = edit(
            &ctx,
            json!({"path": "a.txt", "old_text": "     1\talpha\n     2\tbeta", "new_text": "x"}),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("line-number prefixes"), "{err}");
    }

    #[tokio::test]
    async fn edit_ambiguous_lists_lines_and_changes_nothing() {
        let (_dir, ctx) = ctx();
        let path = ctx.workspace.root().join("a.txt");
        std::fs::write(&path, "x = 1\ny = 2\nx = 1\nz\nx = 1\n").unwrap();
        let err = edit(
            &ctx,
            json!({"path": "a.txt", "old_text": "x = 1", "new_text": "x = 9"}),
        )
        .await
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("occurs 3 times"), "{msg}");
        assert!(msg.contains("lines 1, 3, 5"), "{msg}");
        assert!(msg.contains("replace_all"), "{msg}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "x = 1\ny = 2\nx = 1\nz\nx = 1\n"
        );
    }

    #[tokio::test]
    async fn edit_replace_all_replaces_every_occurrence() {
        let (_dir, ctx) = ctx();
        let path = ctx.workspace.root().join("a.txt");
        std::fs::write(&path, "x = 1\ny = 2\nx = 1\nz\nx = 1\n").unwrap();
        let out = edit(
            &ctx,
            json!({"path": "a.txt", "old_text": "x = 1", "new_text": "x = 9", "replace_all": true}),
        )
        .await
        .unwrap();
        assert_eq!(out, "Edited a.txt: replaced 3 occurrences at lines 1, 3, 5");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "x = 9\ny = 2\nx = 9\nz\nx = 9\n"
        );
    }

    #[tokio::test]
    async fn edit_preserves_crlf_line_endings() {
        let (_dir, ctx) = ctx();
        let path = ctx.workspace.root().join("win.txt");
        std::fs::write(&path, "one\r\ntwo\r\nthree\r\n").unwrap();
        let out = edit(
            &ctx,
            json!({"path": "win.txt", "old_text": "two\nthree", "new_text": "2\n2.5\n3"}),
        )
        .await
        .unwrap();
        assert!(
            out.starts_with("Edited win.txt: replaced 1 occurrence at line 2"),
            "{out}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "one\r\n2\r\n2.5\r\n3\r\n"
        );
        // A one-line old_text with a multi-line new_text gets CRLF too.
        edit(
            &ctx,
            json!({"path": "win.txt", "old_text": "one", "new_text": "a\nb"}),
        )
        .await
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "a\r\nb\r\n2\r\n2.5\r\n3\r\n"
        );
    }

    #[tokio::test]
    async fn edit_keeps_a_utf8_bom() {
        let (_dir, ctx) = ctx();
        let path = ctx.workspace.root().join("bom.cs");
        std::fs::write(&path, "\u{feff}using System;\r\nclass A {}\r\n").unwrap();
        // old_text as read_file shows it: without the (invisible) mark.
        edit(
            &ctx,
            json!({"path": "bom.cs", "old_text": "using System;\nclass A", "new_text": "using System.IO;\nclass B"}),
        )
        .await
        .unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            "\u{feff}using System.IO;\r\nclass B {}\r\n".as_bytes()
        );
    }

    #[tokio::test]
    async fn edit_crlf_old_text_matches_lf_file() {
        let (_dir, ctx) = ctx();
        let path = ctx.workspace.root().join("a.txt");
        std::fs::write(&path, "one\ntwo\n").unwrap();
        edit(
            &ctx,
            json!({"path": "a.txt", "old_text": "one\r\ntwo", "new_text": "1\r\n2"}),
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n2\n");
    }

    #[tokio::test]
    async fn edit_errors_for_missing_file_and_empty_old_text() {
        let (_dir, ctx) = ctx();
        let err = edit(
            &ctx,
            json!({"path": "nope.txt", "old_text": "a", "new_text": "b"}),
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("file not found: `nope.txt`"),
            "{err}"
        );
        std::fs::write(ctx.workspace.root().join("a.txt"), "a").unwrap();
        let err = edit(
            &ctx,
            json!({"path": "a.txt", "old_text": "", "new_text": "b"}),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArgs(_)), "{err}");
        let err = edit(
            &ctx,
            json!({"path": "a.txt", "old_string": "a", "new_text": "b"}),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ToolError::InvalidArgs(_)), "{err}");
        let err = edit(
            &ctx,
            json!({"path": "../a.txt", "old_text": "a", "new_text": "b"}),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ToolError::OutsideWorkspace { .. }), "{err}");
    }

    #[test]
    fn line_numbers_of_offsets() {
        let content = "a\nb\nc\nd";
        assert_eq!(line_numbers(content, &[0, 2, 6]), vec![1, 2, 4]);
    }
}
