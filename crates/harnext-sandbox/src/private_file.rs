//! Private files (the session store's): opened without following a symbolic link at
//! their last component, and refused unless they are regular files owned by the user.
//! A link planted where a session file or directory goes cannot redirect harnext's
//! writes (or reads) elsewhere.

use std::fs::File;
use std::fs::OpenOptions;
use std::io;
use std::path::Path;

/// Opens `path` for reading and appending (created with mode 0600 when `create`),
/// without following a symbolic link, and checks that it is a regular file owned by
/// the effective user.
pub fn open_private(path: &Path, create: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(create);
    open_checked(path, &mut options)
}

/// Opens `path` read-only with the same checks as [`open_private`].
pub fn open_private_read(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    open_checked(path, &mut options)
}

#[cfg(unix)]
fn open_checked(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::fs::OpenOptionsExt;
    options
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    let file = options.open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is a symbolic link; refusing to follow it",
                    path.display()
                ),
            )
        } else {
            e
        }
    })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not a regular file", path.display()),
        ));
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is owned by user {}, not by this user ({me}); refusing to use it",
                path.display(),
                meta.uid()
            ),
        ));
    }
    Ok(file)
}

#[cfg(not(unix))]
fn open_checked(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    options.open(path)
}

/// Creates `dir` (and its parents) with mode 0700 when missing, and checks that it is
/// a real directory (not a symbolic link) owned by the effective user.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    check_private_dir(dir)
}

/// Checks that `dir` is a directory, not a symbolic link, owned by the effective user.
pub fn check_private_dir(dir: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is a symbolic link; refusing to follow it",
                dir.display()
            ),
        ));
    }
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("{} is not a directory", dir.display()),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = nix::unistd::geteuid().as_raw();
        if meta.uid() != me {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is owned by user {}, not by this user ({me}); refusing to use it",
                    dir.display(),
                    meta.uid()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::io::Write;

    #[test]
    fn a_private_file_is_created_0600_and_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        let mut f = open_private(&path, true).unwrap();
        f.write_all(b"x\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(open_private_read(&path).is_ok());
        assert!(open_private(&dir.path().join("missing"), false).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_and_foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "secret").unwrap();
        let link = dir.path().join("s.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = open_private(&link, true).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let err = open_private_read(&link).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        // A dangling link is not followed to create its target either.
        let dangling = dir.path().join("d.jsonl");
        std::os::unix::fs::symlink(dir.path().join("nope"), &dangling).unwrap();
        assert!(open_private(&dangling, true).is_err());
        assert!(!dir.path().join("nope").exists());
        // A directory that is a link is refused.
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(&real, &linked).unwrap();
        assert!(check_private_dir(&linked).is_err());
        assert!(ensure_private_dir(&real).is_ok());
        // Owned by someone else (we are root here only in some runs: chown needs it).
        if nix::unistd::geteuid().is_root() {
            let foreign = dir.path().join("foreign.jsonl");
            std::fs::write(&foreign, "").unwrap();
            std::os::unix::fs::chown(&foreign, Some(12345), None).unwrap();
            let err = open_private(&foreign, false).unwrap_err();
            assert!(err.to_string().contains("owned by user 12345"), "{err}");
        }
    }
}
