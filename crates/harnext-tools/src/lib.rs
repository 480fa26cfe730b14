//! harnext's built-in tools and the [`Tool`] trait every tool implements.
//!
//! A tool gets its arguments as JSON and a [`ToolContext`] (the [`Workspace`] it may act
//! in, a cancellation token, the call id) and returns the text the model sees, or a
//! [`ToolError`] whose message the model sees as an error result.
//!
//! Rules every tool keeps:
//! - every path argument goes through [`Workspace::resolve`], which refuses paths that
//!   leave the workspace (`..`, absolute paths, symlinks);
//! - every file a tool writes is recorded with [`Workspace::record_change`], which is
//!   where `RunResult.filesChanged` comes from;
//! - every output is capped with [`cap_output`];
//! - cancellation ends the tool at once: either the tool sees `ctx.cancel` and returns
//!   [`ToolError::Cancelled`], or the caller drops its future, and the tool's `Drop`
//!   guards clean up (the shell tool kills its whole process group).

mod background;
mod bash;
pub mod changes;
pub mod checkpoint;
mod edit_file;
mod filetype;
mod fsutil;
mod glob;
mod grep;
mod multi_edit;
mod output;
mod read_file;
mod schema;
#[cfg(test)]
mod test_support;
pub mod todo;
mod walk;
pub mod web_fetch;
mod workspace;
mod write_file;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use background::{
    BackgroundShells, BashKillTool, BashOutputTool, MAX_BACKGROUND_SHELLS, MAX_BUFFERED_BYTES,
};
pub use bash::BashTool;
pub use edit_file::EditFileTool;
pub use glob::GlobTool;
pub use grep::GrepTool;
pub use multi_edit::MultiEditTool;
pub use output::cap_output;
pub use output::MAX_OUTPUT_CHARS;
pub use read_file::ReadFileTool;
pub use todo::TodoList;
pub use todo::TodoWriteTool;
pub use web_fetch::WebFetchSettings;
pub use web_fetch::WebFetchTool;
pub use workspace::{ChangeKind, Workspace};
pub use write_file::WriteFileTool;

/// What a tool call may use.
#[derive(Clone)]
pub struct ToolContext {
    pub workspace: Arc<Workspace>,
    pub cancel: CancellationToken,
    pub call_id: String,
    /// The sandbox of this one call when the user allowed it more than the
    /// workspace's (an escalation); `None`: the workspace's sandbox.
    pub escalated: Option<Arc<harnext_sandbox::Sandbox>>,
    /// The run's task list, which `todo_write` replaces (`None` outside a run).
    pub todos: Option<Arc<TodoList>>,
    /// Where a tool puts the images it returns beside its text (`read_file` of an
    /// image); `None`: images cannot be returned here, and `read_file` refuses them.
    pub images: Option<Arc<ImageSink>>,
}

/// The images tools returned during a batch of calls, by call id.
#[derive(Debug, Default)]
pub struct ImageSink(std::sync::Mutex<Vec<(String, harnext_protocol::ImageSource)>>);

impl ImageSink {
    pub fn push(&self, call_id: &str, image: harnext_protocol::ImageSource) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((call_id.to_owned(), image));
    }

    /// Removes and returns the images of `call_id`, in the order they were pushed.
    pub fn take(&self, call_id: &str) -> Vec<harnext_protocol::ImageSource> {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (mine, rest): (Vec<_>, Vec<_>) = all.drain(..).partition(|(id, _)| id == call_id);
        *all = rest;
        mine.into_iter().map(|(_, i)| i).collect()
    }
}

/// Loads an image file of the workspace (a path as the model or the caller gives it,
/// resolved by [`Workspace::resolve`]: no escape by `..` or symlinks): a PNG, JPEG, GIF
/// or WebP by its magic bytes, at most [`harnext_protocol::image::MAX_IMAGE_BYTES`]
/// (checked before reading it).
pub fn load_image(
    workspace: &Workspace,
    path: &str,
) -> Result<harnext_protocol::ImageSource, ToolError> {
    use harnext_protocol::image::MAX_IMAGE_BYTES;
    let abs = workspace.resolve(path)?;
    let failed = |e: std::io::Error| ToolError::Failed(format!("cannot read image `{path}`: {e}"));
    // Opened beneath the root and non-blocking (a FIFO does not hang), then checked
    // through the handle: what is read is what was checked.
    let file = workspace.open_read(&abs).map_err(failed)?;
    let meta = file.metadata().map_err(failed)?;
    if !meta.is_file() {
        return Err(ToolError::Failed(format!(
            "image `{path}` is not a regular file"
        )));
    }
    if meta.len() > MAX_IMAGE_BYTES as u64 {
        return Err(ToolError::Failed(format!(
            "image `{path}`: the image is {} bytes, over the {MAX_IMAGE_BYTES}-byte cap \
             (harnext does not downscale; make it smaller first)",
            meta.len()
        )));
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_IMAGE_BYTES as u64 + 1),
        &mut bytes,
    )
    .map_err(failed)?;
    harnext_protocol::image::image_from_bytes(&bytes, None, &format!("image `{path}`"))
        .map_err(|e| ToolError::Failed(e.0))
}

impl ToolContext {
    /// The sandbox this call's commands run in.
    pub fn sandbox(&self) -> &Arc<harnext_sandbox::Sandbox> {
        self.escalated
            .as_ref()
            .unwrap_or_else(|| self.workspace.sandbox())
    }
}

/// A failure the model sees as the tool's output (status `error`), or a cancellation.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The arguments do not match the tool's schema. Returned before anything runs.
    #[error("invalid arguments: {0}")]
    InvalidArgs(String),
    /// A path argument resolves outside the workspace (after `..` and symlinks).
    #[error("path `{path}` is outside the workspace")]
    OutsideWorkspace { path: String },
    /// Any other failure, already phrased for the model (file not found, old text
    /// ambiguous, command timed out...).
    #[error("{0}")]
    Failed(String),
    /// The run was cancelled while the tool ran; its work was stopped.
    #[error("cancelled")]
    Cancelled,
}

/// A tool the model can call.
pub trait Tool: Send + Sync {
    fn name(&self) -> &str;
    /// Written for the model: what it does, its limits.
    fn description(&self) -> &str;
    /// JSON Schema of the arguments object.
    fn input_schema(&self) -> Value;
    /// True when the tool never changes the workspace or runs commands.
    fn read_only(&self) -> bool;
    /// Runs the tool. The future must be `'static`: clone what it needs from `self`.
    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'static, Result<String, ToolError>>;
}

/// The names of the built-in tools, in the order they are offered to the model.
pub const BUILTIN_TOOL_NAMES: &[&str] = &[
    "read_file",
    "write_file",
    "edit_file",
    "multi_edit",
    "glob",
    "grep",
    "bash",
    "todo_write",
    "web_fetch",
];

/// The tools that come with `bash` (offered whenever it is, not listed on their own):
/// reading and stopping the commands it starts in the background.
pub const BASH_COMPANION_NAMES: &[&str] = &["bash_output", "bash_kill"];

/// The tools offered with the built-in tool `name` ([`BASH_COMPANION_NAMES`] for `bash`).
pub fn companion_tools(name: &str) -> Vec<Arc<dyn Tool>> {
    match name {
        "bash" => vec![Arc::new(BashOutputTool), Arc::new(BashKillTool)],
        _ => Vec::new(),
    }
}

/// Builds a built-in tool by name, or `None` for an unknown name.
pub fn builtin_tool(name: &str) -> Option<Arc<dyn Tool>> {
    match name {
        "read_file" => Some(Arc::new(ReadFileTool)),
        "write_file" => Some(Arc::new(WriteFileTool)),
        "edit_file" => Some(Arc::new(EditFileTool)),
        "multi_edit" => Some(Arc::new(MultiEditTool)),
        "glob" => Some(Arc::new(GlobTool)),
        "grep" => Some(Arc::new(GrepTool)),
        "bash" => Some(Arc::new(BashTool::default())),
        "todo_write" => Some(Arc::new(TodoWriteTool)),
        "web_fetch" => Some(Arc::new(WebFetchTool::default())),
        _ => None,
    }
}

/// Parses a tool's JSON arguments into its typed argument struct, naming what is wrong.
pub fn parse_args<T: serde::de::DeserializeOwned>(args: Value) -> Result<T, ToolError> {
    serde_json::from_value(args).map_err(|e| ToolError::InvalidArgs(e.to_string()))
}
