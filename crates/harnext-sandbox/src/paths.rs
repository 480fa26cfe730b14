//! Where commands may write and what they may not read, as canonical paths.

use std::path::Path;
use std::path::PathBuf;

use crate::SandboxConfig;
use crate::SandboxError;

/// Credential folders and files under the home directory that commands never read.
pub const DEFAULT_DENY_READ: &[&str] = &[
    ".ssh",
    ".aws",
    ".gnupg",
    ".config/gcloud",
    ".docker",
    ".netrc",
    ".npmrc",
];

/// The resolved paths of a sandbox.
#[derive(Clone, Debug, Default)]
pub(crate) struct Layout {
    /// Writable in `workspace-write`: the workspace, the temp directories, the
    /// writable roots.
    pub writable: Vec<PathBuf>,
    /// Never readable: the credential folders, the session directory, `deny_read`.
    pub denied: Vec<PathBuf>,
    pub workspace: PathBuf,
    pub home: Option<PathBuf>,
}

/// `path` made absolute and canonical as far as it exists (the rest appended), so that
/// a symbolic link to a denied folder denies its target.
pub(crate) fn canonical_lenient(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.clone();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(&existing) {
            let mut out = real;
            for name in rest.iter().rev() {
                out.push(name);
            }
            return out;
        }
        match (
            existing.file_name().map(|n| n.to_os_string()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return absolute,
        }
    }
}

pub(crate) fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

impl Layout {
    pub(crate) fn new(
        config: &SandboxConfig,
        workspace: &Path,
        session_dir: Option<&Path>,
        home: Option<PathBuf>,
    ) -> Result<Layout, SandboxError> {
        let workspace = std::fs::canonicalize(workspace).map_err(|e| {
            SandboxError::InvalidPath(format!(
                "the workspace {} cannot be opened: {e}",
                workspace.display()
            ))
        })?;
        let mut temp = Vec::new();
        for dir in [
            PathBuf::from("/tmp"),
            std::env::temp_dir(),
            PathBuf::from("/dev/shm"),
        ] {
            if let Ok(real) = std::fs::canonicalize(&dir) {
                if real != Path::new("/") && !temp.contains(&real) {
                    temp.push(real);
                }
            }
        }
        let mut writable = vec![workspace.clone()];
        writable.extend(temp.iter().cloned());
        for root in &config.writable_roots {
            // Relative roots are relative to the workspace.
            let joined = if root.is_absolute() {
                root.clone()
            } else {
                workspace.join(root)
            };
            let real = std::fs::canonicalize(&joined).map_err(|e| {
                SandboxError::InvalidPath(format!(
                    "writable root {} cannot be used: {e}",
                    joined.display()
                ))
            })?;
            if !real.is_dir() {
                return Err(SandboxError::InvalidPath(format!(
                    "writable root {} is not a directory",
                    joined.display()
                )));
            }
            if !writable.contains(&real) {
                writable.push(real);
            }
        }
        let home = home.map(|h| canonical_lenient(&h));
        let mut denied = Vec::new();
        if let Some(home) = &home {
            for rel in DEFAULT_DENY_READ {
                denied.push(canonical_lenient(&home.join(rel)));
            }
        }
        if let Some(dir) = session_dir {
            denied.push(canonical_lenient(dir));
        }
        for path in &config.deny_read {
            let joined = if path.is_absolute() {
                path.clone()
            } else {
                workspace.join(path)
            };
            denied.push(canonical_lenient(&joined));
        }
        denied.sort();
        denied.dedup();
        Ok(Layout {
            writable,
            denied,
            workspace,
            home,
        })
    }

    /// `path` for a message: `~/…` under the home directory.
    pub(crate) fn show(&self, path: &Path) -> String {
        if let Some(home) = &self.home {
            if let Ok(rel) = path.strip_prefix(home) {
                return format!("~/{}", rel.display());
            }
        }
        path.display().to_string()
    }
}
