//! File helpers shared by the file tools.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use crate::ToolError;

/// Writes `data` to `path` atomically: a temporary file in the same directory, then a
/// rename over `path`. An existing file's permissions are kept.
pub(crate) fn atomic_write(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("path has no parent directory"))?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("path has no file name"))?;
    let permissions = std::fs::metadata(path).ok().map(|m| m.permissions());
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".harnext-{:016x}.tmp", fastrand::u64(..)));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(data)?;
        file.flush()?;
        drop(file);
        if let Some(permissions) = permissions {
            std::fs::set_permissions(&tmp, permissions)?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Phrases an I/O error on `display` (a workspace-relative path) for the model.
pub(crate) fn io_failure(action: &str, display: &str, e: &io::Error) -> ToolError {
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
