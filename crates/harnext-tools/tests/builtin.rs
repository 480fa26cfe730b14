//! The built-in tools as the engine sees them: names, flags, schemas, and one call each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use harnext_tools::{builtin_tool, ToolContext, ToolError, Workspace, BUILTIN_TOOL_NAMES};
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn ctx(dir: &tempfile::TempDir) -> ToolContext {
    ToolContext {
        workspace: Arc::new(Workspace::new(dir.path()).unwrap()),
        cancel: CancellationToken::new(),
        call_id: "call_1".to_string(),
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
        assert_eq!(tool.read_only(), *name == "read_file", "{name}");
    }
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
        ("write_file", json!({"path": "a.txt", "content": "x"})),
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
