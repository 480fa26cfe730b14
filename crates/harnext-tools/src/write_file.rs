//! `write_file`: creates or replaces a whole file.

use std::io;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::fsutil::{self, io_failure};
use crate::output::group_digits;
use crate::schema::schema_for;
use crate::{parse_args, ChangeKind, Tool, ToolContext, ToolError};

const DESCRIPTION: &str = "Create a file, or replace a file's whole content, with exactly \
`content`. Missing parent directories are created. To change part of an existing file, use \
edit_file instead. Paths are relative to the workspace root and must stay inside it.";

/// The `write_file` tool.
pub struct WriteFileTool;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Args {
    /// File to write, relative to the workspace root.
    path: String,
    /// The file's complete new content.
    content: String,
}

impl Tool for WriteFileTool {
    fn name(&self) -> &str {
        "write_file"
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
            let abs = ctx.workspace.resolve(&args.path)?;
            let display = ctx.workspace.relative(&abs);
            if ctx.cancel.is_cancelled() {
                return Err(ToolError::Cancelled);
            }
            // Not raced against cancellation: the write is short and atomic, and the
            // change is recorded as soon as it is made.
            let workspace = ctx.workspace.clone();
            fsutil::blocking(move || {
                let existed = match workspace.metadata(&abs) {
                    Ok(meta) if meta.is_dir() => {
                        return Err(ToolError::Failed(format!(
                            "`{display}` is a directory; write_file writes files"
                        )));
                    }
                    Ok(meta) if !meta.is_file() => {
                        return Err(ToolError::Failed(format!(
                            "`{display}` is not a regular file (a device, socket or pipe)"
                        )));
                    }
                    Ok(_) => true,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => false,
                    Err(e) => return Err(io_failure("write", &display, &e)),
                };
                if let Some(parent) = abs.parent() {
                    workspace.create_dir_all(parent).map_err(|e| {
                        io_failure("create the parent directories of", &display, &e)
                    })?;
                }
                workspace
                    .write_atomic(&abs, args.content.as_bytes())
                    .map_err(|e| io_failure("write", &display, &e))?;
                workspace.record(
                    &abs,
                    if existed {
                        ChangeKind::Modified
                    } else {
                        ChangeKind::Created
                    },
                );
                let lines = args.content.lines().count();
                Ok(format!(
                    "Wrote {lines} line{} ({} bytes) to {display} ({})",
                    if lines == 1 { "" } else { "s" },
                    group_digits(args.content.len() as u64),
                    if existed {
                        "replaced its previous content"
                    } else {
                        "new file"
                    }
                ))
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
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn write_creates_parents_and_records_change() {
        let (_dir, ctx) = ctx();
        let out = WriteFileTool
            .call(
                json!({"path": "src/deep/a.rs", "content": "fn main() {}\n// end\n"}),
                ctx.clone(),
            )
            .await
            .unwrap();
        assert_eq!(out, "Wrote 2 lines (20 bytes) to src/deep/a.rs (new file)");
        let written = std::fs::read_to_string(ctx.workspace.root().join("src/deep/a.rs")).unwrap();
        assert_eq!(written, "fn main() {}\n// end\n");
        assert_eq!(ctx.workspace.changed_files(), vec!["src/deep/a.rs"]);
    }

    #[tokio::test]
    async fn overwrite_keeps_permissions_and_leaves_no_temp_file() {
        let (_dir, ctx) = ctx();
        let path = ctx.workspace.root().join("run.sh");
        std::fs::write(&path, "old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = WriteFileTool
            .call(json!({"path": "run.sh", "content": "new"}), ctx.clone())
            .await
            .unwrap();
        assert!(out.contains("replaced its previous content"), "{out}");
        assert!(out.contains("1 line (3 bytes)"), "{out}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        let names: Vec<_> = std::fs::read_dir(ctx.workspace.root())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["run.sh"]);
    }

    #[tokio::test]
    async fn write_refuses_escape_and_directory() {
        let (_dir, ctx) = ctx();
        let err = WriteFileTool
            .call(json!({"path": "../evil.txt", "content": "x"}), ctx.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::OutsideWorkspace { .. }), "{err}");
        std::fs::create_dir(ctx.workspace.root().join("d")).unwrap();
        let err = WriteFileTool
            .call(json!({"path": "d", "content": "x"}), ctx.clone())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        assert!(ctx.workspace.changed_files().is_empty());
    }
}
