//! The built-in tools as the engine sees them: names, flags, schemas, and one call each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::symlink;
use std::sync::Arc;
use std::time::Duration;

use harnext_tools::{
    builtin_tool, ChangeKind, ToolContext, ToolError, Workspace, BUILTIN_TOOL_NAMES,
};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

fn ctx(dir: &tempfile::TempDir) -> ToolContext {
    ToolContext {
        workspace: Arc::new(Workspace::new(dir.path()).unwrap()),
        cancel: CancellationToken::new(),
        call_id: "call_1".to_string(),
        escalated: None,
        todos: None,
        images: None,
    }
}

#[test]
fn every_builtin_has_matching_name_flags_and_an_object_schema() {
    for name in BUILTIN_TOOL_NAMES {
        let tool = builtin_tool(name).unwrap();
        assert_eq!(tool.name(), *name);
        assert!(!tool.description().is_empty());
        let schema = tool.input_schema();
        assert_eq!(schema["type"], "object", "{name}");
        assert_eq!(schema["additionalProperties"], false, "{name}");
        for required in schema["required"].as_array().unwrap() {
            let field = required.as_str().unwrap();
            assert!(schema["properties"].get(field).is_some(), "{name}.{field}");
        }
        // `todo_write` changes no file and runs nothing: it is never asked for.
        let read_only = matches!(*name, "read_file" | "glob" | "grep" | "todo_write");
        assert_eq!(tool.read_only(), read_only, "{name}");
    }
    assert_eq!(
        BUILTIN_TOOL_NAMES,
        &[
            "read_file",
            "write_file",
            "edit_file",
            "multi_edit",
            "glob",
            "grep",
            "bash",
            "todo_write",
            "web_fetch"
        ]
    );
    assert!(builtin_tool("nope").is_none());
}

#[tokio::test]
async fn write_edit_read_and_bash_work_together() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(&dir);
    let tool = |name| builtin_tool(name).unwrap();
    tool("write_file")
        .call(
            json!({"path": "src/a.txt", "content": "hello\nworld\n"}),
            ctx.clone(),
        )
        .await
        .unwrap();
    tool("edit_file")
        .call(
            json!({"path": "src/a.txt", "old_text": "world", "new_text": "there"}),
            ctx.clone(),
        )
        .await
        .unwrap();
    let read = tool("read_file")
        .call(json!({"path": "src/a.txt"}), ctx.clone())
        .await
        .unwrap();
    assert_eq!(read, "     1\thello\n     2\tthere\n");
    let out = tool("bash")
        .call(json!({"command": "cat src/a.txt"}), ctx.clone())
        .await
        .unwrap();
    assert_eq!(out, "hello\nthere\nexit code: 0");
    assert_eq!(ctx.workspace.changed_files(), vec!["src/a.txt"]);
}

#[tokio::test]
async fn a_cancelled_context_stops_every_tool_before_it_acts() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(&dir);
    ctx.cancel.cancel();
    let calls = [
        ("read_file", json!({"path": "a.txt"})),
        ("write_file", json!({"path": "a.txt", "content": "x"})),
        (
            "edit_file",
            json!({"path": "a.txt", "old_text": "x", "new_text": "y"}),
        ),
        (
            "multi_edit",
            json!({"path": "a.txt", "edits": [{"old_text": "x", "new_text": "y"}]}),
        ),
        ("glob", json!({"pattern": "*"})),
        ("grep", json!({"pattern": "x"})),
        ("bash", json!({"command": "touch b.txt"})),
    ];
    for (name, args) in calls {
        let err = builtin_tool(name)
            .unwrap()
            .call(args, ctx.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::Cancelled), "{name}: {err}");
    }
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    assert!(ctx.workspace.changed_files().is_empty());
}

async fn call(ctx: &ToolContext, name: &str, args: Value) -> Result<String, ToolError> {
    builtin_tool(name).unwrap().call(args, ctx.clone()).await
}

#[tokio::test]
async fn every_tool_refuses_paths_that_leave_the_workspace() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("ws");
    let outside = outer.path().join("outside");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "x secret\n").unwrap();
    symlink(&outside, root.join("out_dir")).unwrap();
    symlink(outside.join("secret.txt"), root.join("out_file")).unwrap();
    let ctx = ToolContext {
        workspace: Arc::new(Workspace::new(&root).unwrap()),
        cancel: CancellationToken::new(),
        call_id: "call_1".to_string(),
        escalated: None,
        todos: None,
        images: None,
    };
    let secret = outside.join("secret.txt").display().to_string();
    let escapes = [
        "../outside/secret.txt",
        "sub/../../outside/secret.txt",
        secret.as_str(),
        "/etc/passwd",
        "out_file",
        "out_dir/secret.txt",
    ];
    for path in escapes {
        let calls = [
            ("read_file", json!({"path": path})),
            ("write_file", json!({"path": path, "content": "pwned"})),
            (
                "edit_file",
                json!({"path": path, "old_text": "x", "new_text": "pwned"}),
            ),
            (
                "multi_edit",
                json!({"path": path, "edits": [{"old_text": "x", "new_text": "pwned"}]}),
            ),
            ("glob", json!({"pattern": "*", "path": path})),
            ("grep", json!({"pattern": "secret", "path": path})),
        ];
        for (name, args) in calls {
            let err = call(&ctx, name, args).await.unwrap_err();
            assert!(
                matches!(err, ToolError::OutsideWorkspace { .. }),
                "{name} {path}: {err}"
            );
            assert!(err.to_string().contains("outside the workspace"), "{err}");
        }
    }
    for dir_path in ["..", "out_dir", outside.to_str().unwrap()] {
        for (name, pattern) in [("glob", "*"), ("grep", "x")] {
            let err = call(&ctx, name, json!({"pattern": pattern, "path": dir_path}))
                .await
                .unwrap_err();
            assert!(
                matches!(err, ToolError::OutsideWorkspace { .. }),
                "{name} {dir_path}: {err}"
            );
        }
    }
    // Searching the workspace itself does not follow the links out of it.
    let out = call(&ctx, "grep", json!({"pattern": "secret"}))
        .await
        .unwrap();
    assert!(out.starts_with("No matches"), "{out}");
    let out = call(&ctx, "glob", json!({"pattern": "**/*"}))
        .await
        .unwrap();
    assert!(out.starts_with("No files match"), "{out}");
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).unwrap(),
        "x secret\n"
    );
    assert!(ctx.workspace.changed_files().is_empty());
}

/// Runs a command with the bash tool and returns the changes recorded so far.
async fn bash_changes(ctx: &ToolContext, command: &str) -> Vec<(String, ChangeKind)> {
    let out = call(ctx, "bash", json!({ "command": command }))
        .await
        .unwrap();
    assert!(out.ends_with("exit code: 0"), "{command}: {out}");
    ctx.workspace.changes()
}

#[tokio::test]
async fn files_changed_sees_what_shell_commands_do() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(&dir);
    let root = ctx.workspace.root().to_path_buf();
    std::fs::write(root.join("a.txt"), "x = 1\n").unwrap();
    std::fs::write(root.join("b.txt"), "b\n").unwrap();
    std::fs::write(root.join("c.txt"), "c\n").unwrap();
    let changed = |path: &str, kind: ChangeKind| (path.to_string(), kind);

    assert_eq!(
        bash_changes(&ctx, "sed -i 's/1/2/' a.txt").await,
        vec![changed("a.txt", ChangeKind::Modified)]
    );
    // touch of an existing file: only its times change.
    let changes = bash_changes(&ctx, "touch b.txt").await;
    assert!(
        changes.contains(&changed("b.txt", ChangeKind::Modified)),
        "{changes:?}"
    );
    let changes = bash_changes(&ctx, "touch new.txt").await;
    assert!(
        changes.contains(&changed("new.txt", ChangeKind::Created)),
        "{changes:?}"
    );
    let changes = bash_changes(&ctx, "rm c.txt").await;
    assert!(
        changes.contains(&changed("c.txt", ChangeKind::Deleted)),
        "{changes:?}"
    );
    let changes = bash_changes(&ctx, "mkdir -p x && echo > x/y").await;
    assert!(
        changes.contains(&changed("x/y", ChangeKind::Created)),
        "{changes:?}"
    );
    // A read-only command changes nothing.
    let before = ctx.workspace.changes();
    assert_eq!(
        bash_changes(&ctx, "cat a.txt; ls -R > /dev/null").await,
        before
    );
    assert_eq!(
        ctx.workspace.changed_files(),
        vec!["a.txt", "b.txt", "c.txt", "new.txt", "x/y"]
    );
}

#[tokio::test]
async fn shell_changes_in_ignored_dirs_and_git_are_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(&dir);
    std::fs::write(ctx.workspace.root().join(".gitignore"), "target/\n").unwrap();
    let changes = bash_changes(
        &ctx,
        "mkdir -p target/debug .git && touch target/debug/app .git/index && touch .env",
    )
    .await;
    assert_eq!(changes, vec![(".env".to_string(), ChangeKind::Created)]);
}

#[tokio::test]
async fn file_tool_and_shell_changes_combine() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(&dir);
    call(
        &ctx,
        "write_file",
        json!({"path": "gen.txt", "content": "v1\n"}),
    )
    .await
    .unwrap();
    // Created by write_file, deleted by the shell: it existed only during the run.
    bash_changes(&ctx, "rm gen.txt && echo > kept.txt").await;
    assert_eq!(ctx.workspace.changed_files(), vec!["kept.txt"]);
}

#[tokio::test]
async fn changes_of_a_timed_out_or_cancelled_command_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(&dir);
    let err = call(
        &ctx,
        "bash",
        json!({"command": "touch slow.txt; sleep 30", "timeout_ms": 300}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(ctx.workspace.changed_files(), vec!["slow.txt"]);

    let marker = ctx.workspace.root().join("cancelled.txt");
    let task = tokio::spawn(builtin_tool("bash").unwrap().call(
        json!({"command": "touch cancelled.txt; sleep 30"}),
        ctx.clone(),
    ));
    while !marker.exists() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ctx.cancel.cancel();
    let result = task.await.unwrap();
    assert!(matches!(result, Err(ToolError::Cancelled)), "{result:?}");
    // Recorded at once for a small workspace (a large one finishes in the background).
    for _ in 0..200 {
        if ctx.workspace.changed_files().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        ctx.workspace.changed_files(),
        vec!["cancelled.txt", "slow.txt"]
    );
}
