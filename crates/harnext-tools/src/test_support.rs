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
    };
    (dir, ctx)
}
