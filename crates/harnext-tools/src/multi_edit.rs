//! `multi_edit`: several exact replacements in one file, applied in order, all or none.
//!
//! A separate tool rather than an `edits` argument of `edit_file`: each tool keeps one
//! schema with its own required fields, which models follow more reliably than a schema
//! where either `old_text`/`new_text` or `edits` must be given.

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::edit_file::{load_text, plan_edit};
use crate::fsutil::{self, io_failure};
use crate::schema::schema_for;
use crate::{parse_args, Tool, ToolContext, ToolError};

/// Most edits in one call.
const MAX_EDITS: usize = 100;

const DESCRIPTION: &str = "Make several exact replacements in one existing file in a single \
call. `edits` are applied in order, each to the text as the previous edits left it; each \
works like edit_file (`old_text` must match exactly and occur once unless `replace_all` is \
true). All or nothing: if any edit fails, the file is left unchanged and the error names the \
edit. Line endings (CRLF) and a UTF-8 byte-order mark are kept. At most 100 edits.";

/// The `multi_edit` tool.
pub struct MultiEditTool;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// File to edit, relative to the workspace root.
    path: String,
    /// Replacements, applied in order.
    #[schemars(length(min = 1, max = MAX_EDITS))]
    edits: Vec<EditArgs>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EditArgs {
    /// Exact text to replace; must occur once unless replace_all is true.
    old_text: String,
    /// Text to put in its place (may be empty to delete).
    new_text: String,
    /// Replace every occurrence. Default false.
    replace_all: Option<bool>,
}

impl Tool for MultiEditTool {
    fn name(&self) -> &str {
        "multi_edit"
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
            let n = args.edits.len();
            if n == 0 {
                return Err(ToolError::InvalidArgs(
                    "edits is empty; give at least one {old_text, new_text}".to_string(),
                ));
            }
            if n > MAX_EDITS {
                return Err(ToolError::InvalidArgs(format!(
                    "{n} edits; at most {MAX_EDITS} in one call"
                )));
            }
            for (i, edit) in args.edits.iter().enumerate() {
                if edit.old_text.is_empty() {
                    return Err(ToolError::InvalidArgs(format!(
                        "edit {} of {n}: old_text is empty; give the exact text to replace",
                        i + 1
                    )));
                }
                if edit.old_text == edit.new_text {
                    return Err(ToolError::InvalidArgs(format!(
                        "edit {} of {n}: old_text and new_text are identical",
                        i + 1
                    )));
                }
            }
            let abs = ctx.workspace.resolve(&args.path)?;
            let display = ctx.workspace.relative(&abs);
            if ctx.cancel.is_cancelled() {
                return Err(ToolError::Cancelled);
            }
            // Not raced against cancellation: the edits are planned in memory and written
            // with one atomic rename.
            let workspace = ctx.workspace.clone();
            fsutil::blocking(move || {
                let mut content = load_text(&workspace, &abs, &display)?;
                let mut summary = Vec::with_capacity(n);
                let mut crlf = false;
                for (i, edit) in args.edits.iter().enumerate() {
                    let planned = plan_edit(
                        &content,
                        &edit.old_text,
                        &edit.new_text,
                        edit.replace_all.unwrap_or(false),
                    )
                    .map_err(|problem| {
                        let mut msg = format!("edit {} of {n} failed: ", i + 1);
                        msg.push_str(&problem.message(&display));
                        if i > 0 {
                            msg.push_str(
                                " (Edits apply in order: this one was matched against the text \
                                 as the edits before it left it.) No edit was applied.",
                            );
                        }
                        ToolError::Failed(msg)
                    })?;
                    crlf |= planned.crlf_converted;
                    summary.push(match planned.lines.as_slice() {
                        [line] => format!("line {line}"),
                        lines => format!(
                            "{} occurrences at lines {}",
                            lines.len(),
                            crate::edit_file::list_lines(lines)
                        ),
                    });
                    content = planned.content;
                }
                workspace
                    .write_atomic(&abs, content.as_bytes())
                    .map_err(|e| io_failure("write", &display, &e))?;
                workspace.record_change(&abs);
                let mut out = format!(
                    "Edited {display}: applied {n} edit{}: ",
                    if n == 1 { "" } else { "s" }
                );
                let parts: Vec<String> = summary
                    .iter()
                    .enumerate()
                    .map(|(i, s)| format!("{}) {s}", i + 1))
                    .collect();
                out.push_str(&parts.join("; "));
                if crlf {
                    out.push_str(" (line endings written as CRLF, like the rest of the file)");
                }
                Ok(out)
            })
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::test_support::ctx;
    use serde_json::json;

    async fn multi(ctx: &ToolContext, args: Value) -> Result<String, ToolError> {
        MultiEditTool.call(args, ctx.clone()).await
    }

    #[tokio::test]
    async fn edits_apply_in_order_and_record_the_change() {
        let (_dir, ctx) = ctx();
        let path = ctx.workspace.root().join("a.rs");
        std::fs::write(&path, "fn a() {}\nfn b() {}\nlet x = 1;\nlet y = x;\n").unwrap();
        let out = multi(
            &ctx,
            json!({"path": "a.rs", "edits": [
                {"old_text": "fn a() {}", "new_text": "fn alpha() {}"},
                // Sees the result of the first edit.
                {"old_text": "fn alpha() {}\nfn b", "new_text": "fn alpha() {}\n\nfn beta"},
                {"old_text": "x", "new_text": "z", "replace_all": true},
            ]}),
        )
        .await
        .unwrap();
        assert_eq!(
            out,
            "Edited a.rs: applied 3 edits: 1) line 1; 2) line 1; 3) 2 occurrences at lines 4, 5"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "fn alpha() {}\n\nfn beta() {}\nlet z = 1;\nlet y = z;\n"
        );
        assert_eq!(ctx.workspace.changed_files(), vec!["a.rs"]);
    }

    #[tokio::test]
    async fn a_failing_edit_changes_nothing_and_is_named() {
        let (_dir, ctx) = ctx();
        let path = ctx.workspace.root().join("a.txt");
        std::fs::write(&path, "one\ntwo\ntwo\n").unwrap();
        let err = multi(
            &ctx,
            json!({"path": "a.txt", "edits": [
                {"old_text": "one", "new_text": "1"},
                {"old_text": "two", "new_text": "2"},
            ]}),
        )
        .await
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("edit 2 of 2 failed: old_text occurs 2 times"),
            "{msg}"
        );
        assert!(msg.contains("No edit was applied"), "{msg}");
        let err = multi(
            &ctx,
            json!({"path": "a.txt", "edits": [
                {"old_text": "one", "new_text": "1"},
                {"old_text": "one", "new_text": "uno"},
            ]}),
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("edit 2 of 2 failed: old_text was not found"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\ntwo\n");
        assert!(ctx.workspace.changed_files().is_empty());
    }

    #[tokio::test]
    async fn crlf_and_utf8_bom_are_kept() {
        let (_dir, ctx) = ctx();
        let path = ctx.workspace.root().join("win.txt");
        std::fs::write(&path, "\u{feff}alpha\r\nbeta\r\ngamma\r\n").unwrap();
        let out = multi(
            &ctx,
            json!({"path": "win.txt", "edits": [
                {"old_text": "alpha\nbeta", "new_text": "ALPHA\nBETA\nBETA2"},
                {"old_text": "gamma", "new_text": "GAMMA"},
            ]}),
        )
        .await
        .unwrap();
        assert!(
            out.ends_with("(line endings written as CRLF, like the rest of the file)"),
            "{out}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            "\u{feff}ALPHA\r\nBETA\r\nBETA2\r\nGAMMA\r\n".as_bytes()
        );
    }

    #[tokio::test]
    async fn bad_arguments_and_escapes_are_refused() {
        let (_dir, ctx) = ctx();
        std::fs::write(ctx.workspace.root().join("a.txt"), "a").unwrap();
        for args in [
            json!({"path": "a.txt", "edits": []}),
            json!({"path": "a.txt", "edits": [{"old_text": "", "new_text": "b"}]}),
            json!({"path": "a.txt", "edits": [{"old_text": "a", "new_text": "a"}]}),
            json!({"path": "a.txt", "edits": [{"old_text": "a"}]}),
            json!({"path": "a.txt", "old_text": "a", "new_text": "b"}),
        ] {
            let err = multi(&ctx, args.clone()).await.unwrap_err();
            assert!(matches!(err, ToolError::InvalidArgs(_)), "{args}: {err}");
        }
        let edits = json!([{"old_text": "a", "new_text": "b"}]);
        for path in ["../a.txt", "/etc/hosts"] {
            let err = multi(&ctx, json!({"path": path, "edits": edits}))
                .await
                .unwrap_err();
            assert!(
                matches!(err, ToolError::OutsideWorkspace { .. }),
                "{path}: {err}"
            );
        }
        let err = multi(&ctx, json!({"path": "missing.txt", "edits": edits}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("file not found"), "{err}");
    }
}
