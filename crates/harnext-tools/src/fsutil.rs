//! File helpers shared by the file tools.

use std::io;

use crate::ToolError;

/// Phrases an I/O error on `display` (a workspace-relative path) for the model.
pub(crate) fn io_failure(action: &str, display: &str, e: &io::Error) -> ToolError {
    if crate::workspace::is_escape(e) {
        return ToolError::OutsideWorkspace {
            path: display.to_string(),
        };
    }
    let msg = match e.kind() {
        io::ErrorKind::NotFound => format!("cannot {action} `{display}`: file not found"),
        io::ErrorKind::PermissionDenied => {
            format!("cannot {action} `{display}`: permission denied")
        }
        io::ErrorKind::IsADirectory => format!("cannot {action} `{display}`: it is a directory"),
        io::ErrorKind::NotADirectory => {
            format!("cannot {action} `{display}`: a parent of it is a file, not a directory")
        }
        _ => format!("cannot {action} `{display}`: {e}"),
    };
    ToolError::Failed(msg)
}

/// Runs blocking file work off the async runtime.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ToolError>
where
    F: FnOnce() -> Result<T, ToolError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) => Err(ToolError::Failed(format!("internal error: {e}"))),
    }
}
