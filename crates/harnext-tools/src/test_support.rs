//! Helpers for the unit tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::{ToolContext, Workspace};

/// A fresh workspace in a temporary directory (kept alive by the returned guard).
pub(crate) fn ctx() -> (tempfile::TempDir, ToolContext) {
    let dir = tempfile::tempdir().unwrap();
    let workspace = Arc::new(Workspace::new(dir.path()).unwrap());
    let ctx = ToolContext {
        workspace,
        cancel: CancellationToken::new(),
        call_id: "call_test".to_string(),
        escalated: None,
        todos: None,
        images: None,
    };
    (dir, ctx)
}

/// A fresh workspace whose commands run in the default sandbox (`workspace-write`, no
/// network), with a fake home directory outside the temp directories.
pub(crate) fn sandboxed_ctx() -> (Vec<tempfile::TempDir>, ToolContext) {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
    let sandbox = harnext_sandbox::Sandbox::with_home(
        &harnext_sandbox::SandboxConfig::default(),
        dir.path(),
        None,
        Some(home.path()),
    )
    .unwrap();
    let workspace = Workspace::new(dir.path())
        .unwrap()
        .with_sandbox(Arc::new(sandbox));
    let ctx = ToolContext {
        workspace: Arc::new(workspace),
        cancel: CancellationToken::new(),
        call_id: "call_test".to_string(),
        escalated: None,
        todos: None,
        images: None,
    };
    (vec![dir, home], ctx)
}
