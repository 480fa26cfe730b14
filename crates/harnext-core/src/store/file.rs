//! The file store (the default): each session is `<dir>/<sessionId>.jsonl`, appended a
//! line at a time, locked while a run appends to it. Session files are private
//! ([`harnext_sandbox::private_file`]): opened without following a symbolic link and
//! refused unless they are regular files owned by the user, so a link or a file planted
//! in the session directory cannot redirect what harnext writes or replays.

use std::fs::File;
use std::io::BufRead;
use std::io::Read;
use std::io::Seek;
use std::io::SeekFrom;
use std::io::Write;
use std::path::Path;
use std::path::PathBuf;

use harnext_protocol::Role;
use harnext_sandbox::private_file;

use crate::store::backend::check_id;
use crate::store::backend::is_valid_id;
use crate::store::backend::sort_newest_first;
use crate::store::backend::SessionStore;
use crate::store::backend::SessionSummary;
use crate::store::backend::SessionWriter;
use crate::store::backend::StoreError;
use crate::store::backend::SESSION_DIR_ENV;
use crate::store::record::parse_records;
use crate::store::record::SessionRecord;

fn encode(record: &SessionRecord) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Encode(e.to_string()))
}

/// Sessions as `<dir>/<id>.jsonl`. The directory is created (mode 0700 on Unix) on the
/// first write; files are created with mode 0600.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir: PathBuf = dir.into();
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        FileStore { dir }
    }

    /// `$HARNEXT_SESSION_DIR` when set, else `$HOME/.harnext/sessions`
    /// (`%USERPROFILE%` on Windows).
    pub fn default_dir() -> Result<PathBuf, StoreError> {
        let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = non_empty(SESSION_DIR_ENV) {
            return Ok(PathBuf::from(dir));
        }
        non_empty("HOME")
            .or_else(|| non_empty("USERPROFILE"))
            .map(|home| PathBuf::from(home).join(".harnext").join("sessions"))
            .ok_or(StoreError::NoHome)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of session `id`.
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.jsonl"))
    }

    /// Creates the directory (mode 0700) when missing; it must be a directory of the
    /// user's, not a symbolic link.
    fn create_dir(&self) -> Result<(), StoreError> {
        private_file::ensure_private_dir(&self.dir).map_err(|source| StoreError::Io {
            action: "cannot use the session directory",
            path: self.dir.clone(),
            source,
        })
    }

    /// The session's summary; `None` for a file that is not a private session file (a
    /// symbolic link, another user's) or that cannot be read.
    fn summary_of(&self, path: &Path) -> Option<SessionSummary> {
        let file = private_file::open_private_read(path).ok()?;
        let modified = file
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        // The header and the first user message are at the top: read a few lines only.
        let mut reader = std::io::BufReader::new(file);
        let mut records = Vec::new();
        let mut line = Vec::new();
        for _ in 0..16 {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => records.extend(parse_records(&line)),
            }
            let has_user = records.iter().any(|r| {
                matches!(r, SessionRecord::Message { message, .. } if message.role == Role::User)
            });
            if has_user {
                break;
            }
        }
        SessionSummary::from_head(&records, modified)
    }
}

impl SessionStore for FileStore {
    fn key(&self) -> String {
        let dir = std::fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        format!("file:{}", dir.display())
    }

    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    fn read(&self, id: &str) -> Result<Option<Vec<SessionRecord>>, StoreError> {
        check_id(id)?;
        let path = self.path(id);
        let read = private_file::open_private_read(&path).and_then(|mut file| {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map(|_| bytes)
        });
        match read {
            Ok(bytes) => Ok(Some(parse_records(&bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io {
                action: "cannot read the session file",
                path,
                source,
            }),
        }
    }

    fn open(&self, id: &str, create: bool) -> Result<Box<dyn SessionWriter>, StoreError> {
        check_id(id)?;
        if create {
            self.create_dir()?;
        }
        let path = self.path(id);
        let file = match private_file::open_private(&path, create) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => {
                return Err(StoreError::NotFound(id.to_owned()))
            }
            Err(source) => {
                return Err(StoreError::Io {
                    action: "cannot open the session file",
                    path,
                    source,
                })
            }
        };
        let io = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io {
                action,
                path,
                source,
            }
        };
        let mut file = lock(file, id, &path)?;
        // A line cut short by a crash: the next record starts on a new line.
        let len = file
            .metadata()
            .map_err(io("cannot read the session file", &path))?
            .len();
        let mut needs_newline = false;
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::End(-1))
                .and_then(|_| file.read_exact(&mut last))
                .map_err(io("cannot read the session file", &path))?;
            needs_newline = last[0] != b'\n';
        }
        Ok(Box::new(FileWriter {
            file,
            path,
            needs_newline,
        }))
    }

    fn list(&self) -> Result<Vec<SessionSummary>, StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StoreError::Io {
                    action: "cannot list the session directory",
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".jsonl"))
            else {
                continue;
            };
            if !is_valid_id(id) {
                continue;
            }
            if let Some(s) = self.summary_of(&path).filter(|s| s.id == id) {
                out.push(s);
            }
        }
        sort_newest_first(&mut out);
        Ok(out)
    }
}

#[cfg(unix)]
type LockedFile = nix::fcntl::Flock<File>;
#[cfg(not(unix))]
type LockedFile = File;

#[cfg(unix)]
fn lock(file: File, id: &str, path: &Path) -> Result<LockedFile, StoreError> {
    use nix::fcntl::Flock;
    use nix::fcntl::FlockArg;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        if errno == nix::errno::Errno::EWOULDBLOCK {
            StoreError::Locked(id.to_owned())
        } else {
            StoreError::Io {
                action: "cannot lock the session file",
                path: path.to_path_buf(),
                source: std::io::Error::from(errno),
            }
        }
    })
}

/// No cross-process lock off Unix: the in-process registry still refuses a second run.
#[cfg(not(unix))]
fn lock(file: File, _id: &str, _path: &Path) -> Result<LockedFile, StoreError> {
    Ok(file)
}

struct FileWriter {
    file: LockedFile,
    path: PathBuf,
    needs_newline: bool,
}

impl SessionWriter for FileWriter {
    fn append(&mut self, record: &SessionRecord) -> Result<(), StoreError> {
        let mut line = String::new();
        if self.needs_newline {
            line.push('\n');
        }
        line.push_str(&encode(record)?);
        line.push('\n');
        // One write of the whole line; `File` is unbuffered, so `flush` is a formality.
        let file: &mut File = &mut self.file;
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|source| StoreError::Io {
                action: "cannot append to the session file",
                path: self.path.clone(),
                source,
            })?;
        self.needs_newline = false;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(|source| StoreError::Io {
            action: "cannot sync the session file",
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::FORMAT_VERSION;
    use harnext_protocol::Usage;
    use std::fs::OpenOptions;

    fn header(id: &str) -> SessionRecord {
        SessionRecord::Session {
            v: FORMAT_VERSION,
            id: id.into(),
            ts: 10,
            model: Some("scripted".into()),
            cwd: None,
            forked_from: None,
        }
    }

    #[test]
    fn records_are_one_line_of_snake_case_json_with_a_type() {
        let r = SessionRecord::Usage {
            ts: 5,
            usage: Usage {
                input_tokens: 3,
                ..Usage::default()
            },
        };
        let s = encode(&r).unwrap();
        assert!(
            s.starts_with(r#"{"type":"usage","ts":5,"usage":{"input_tokens":3"#),
            "{s}"
        );
        assert!(!s.contains('\n'));
    }

    #[test]
    fn file_store_appends_after_a_torn_line_on_a_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("s"));
        let mut w = store.open("sess_x", true).unwrap();
        w.append(&header("sess_x")).unwrap();
        drop(w);
        let path = store.path("sess_x");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"type":"message","ts":1,"mess"#).unwrap();
        let mut w = store.open("sess_x", false).unwrap();
        w.append(&SessionRecord::RunStart { ts: 20 }).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert_eq!(
            store.read("sess_x").unwrap().unwrap(),
            vec![header("sess_x"), SessionRecord::RunStart { ts: 20 }]
        );
    }

    #[test]
    fn ids_that_are_not_file_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        for bad in ["../x", "", "a/b", "a.jsonl"] {
            assert!(matches!(store.read(bad), Err(StoreError::InvalidId(_))));
        }
        assert!(matches!(
            store.open("sess_missing", false),
            Err(StoreError::NotFound(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_second_writer_is_locked_out_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        let w = store.open("sess_l", true).unwrap();
        assert!(matches!(
            store.open("sess_l", false),
            Err(StoreError::Locked(_))
        ));
        drop(w);
        assert!(store.open("sess_l", false).is_ok());
    }

    /// A session planted as a symbolic link (to a file of the user's elsewhere) is
    /// neither replayed, nor appended to, nor listed; the error says why.
    #[cfg(unix)]
    #[test]
    fn a_symlinked_session_file_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("s"));
        let mut w = store.open("sess_real", true).unwrap();
        w.append(&header("sess_real")).unwrap();
        drop(w);
        let target = dir.path().join("elsewhere.txt");
        std::fs::write(&target, "keep me\n").unwrap();
        std::os::unix::fs::symlink(&target, store.path("sess_link")).unwrap();
        std::os::unix::fs::symlink(store.path("sess_real"), store.path("sess_alias")).unwrap();
        for id in ["sess_link", "sess_alias"] {
            let err = store.read(id).unwrap_err().to_string();
            assert!(
                err.contains("is a symbolic link; refusing to follow it"),
                "{err}"
            );
            let err = store.open(id, false).err().unwrap().to_string();
            assert!(err.contains("is a symbolic link"), "{err}");
            let err = store.open(id, true).err().unwrap().to_string();
            assert!(err.contains("is a symbolic link"), "{err}");
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
        let listed: Vec<String> = store.list().unwrap().into_iter().map(|s| s.id).collect();
        assert_eq!(listed, vec!["sess_real"]);
    }

    /// The session directory must not be a symbolic link either.
    #[cfg(unix)]
    #[test]
    fn a_symlinked_session_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        let store = FileStore::new(dir.path().join("link"));
        let err = store.open("sess_x", true).err().unwrap().to_string();
        assert!(
            err.contains("cannot use the session directory") && err.contains("symbolic link"),
            "{err}"
        );
        assert!(std::fs::read_dir(&real).unwrap().next().is_none());
    }

    /// A session file that belongs to another user (planted in a shared directory) is
    /// refused. Needs root to give a file away; skipped otherwise.
    #[cfg(unix)]
    #[test]
    fn a_session_file_owned_by_another_user_is_refused() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path());
        let mut w = store.open("sess_theirs", true).unwrap();
        w.append(&header("sess_theirs")).unwrap();
        drop(w);
        let path = store.path("sess_theirs");
        if std::fs::metadata(&path).unwrap().uid() != 0 {
            eprintln!("skipped: only root can give a file to another user");
            return;
        }
        const NOBODY: u32 = 65534;
        std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
        let err = store.read("sess_theirs").unwrap_err().to_string();
        assert!(
            err.contains("is owned by user 65534, not by this user (0); refusing to use it"),
            "{err}"
        );
        let err = store.open("sess_theirs", false).err().unwrap().to_string();
        assert!(err.contains("is owned by user 65534"), "{err}");
        assert!(store.list().unwrap().is_empty());
        // Given back, it is a session again.
        std::os::unix::fs::chown(&path, Some(0), Some(0)).unwrap();
        assert_eq!(
            store.read("sess_theirs").unwrap().unwrap(),
            vec![header("sess_theirs")]
        );
    }
}
