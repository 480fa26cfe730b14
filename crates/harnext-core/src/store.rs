//! Where sessions are kept: the on-disk record format and the [`SessionStore`] trait, with
//! a JSONL file store (the default) and a memory store (`persistSession: false`, tests).
//!
//! A session is an append-only list of [`SessionRecord`]s. The file store writes them to
//! `<dir>/<sessionId>.jsonl`, one JSON object per line, each with a single `write` of the
//! whole line (the file is unbuffered, so the line is in the OS before `append` returns).
//! Files are not fsync'ed per record: what was appended survives a crash or `kill -9` of
//! the process (it is in the page cache), not a power loss; [`SessionWriter::sync`]
//! (fsync) runs once at the end of each run. A line cut short by a crash is skipped when
//! the file is read, and the next append starts on a new line.
//!
//! On Unix the file store takes an exclusive `flock` on the session file while a run
//! appends to it, so a second process cannot run the same session at the same time; the
//! kernel drops the lock when the process dies, so a crash leaves no stale lock.

use std::collections::HashMap;
use std::fs::File;
use std::fs::OpenOptions;
use std::io::BufRead;
use std::io::Read;
use std::io::Seek;
use std::io::SeekFrom;
use std::io::Write;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use harnext_protocol::ContentBlock;
use harnext_protocol::HarnextError;
use harnext_protocol::Message;
use harnext_protocol::Role;
use harnext_protocol::StopReason;
use harnext_protocol::ToolStatus;
use harnext_protocol::Usage;
use serde::Deserialize;
use serde::Serialize;

/// The version written in each session header.
pub const FORMAT_VERSION: u32 = 1;

/// Overrides the default session directory (`$HOME/.harnext/sessions`).
pub const SESSION_DIR_ENV: &str = "HARNEXT_SESSION_DIR";

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One line of a session file. Field names are snake_case on disk; `ts` is milliseconds
/// since the Unix epoch. Unknown record types are skipped when a session is read, so
/// later versions can add records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionRecord {
    /// The first record of a session.
    Session {
        v: u32,
        id: String,
        ts: u64,
        /// The agent's model string (`anthropic/claude-sonnet-4-5`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        /// The agent's workspace.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
        /// Set when the session was forked from another.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        forked_from: Option<ForkOrigin>,
    },
    /// A run began.
    RunStart { ts: u64 },
    /// A completed message of the conversation: the user's input, an assistant turn
    /// (with its tool calls), the results of a turn's tool calls, a partial reply.
    Message { ts: u64, message: Message },
    /// The usage of one model call (summarizing calls included).
    Usage { ts: u64, usage: Usage },
    /// The history was made smaller. Replayed in order: first the tool results whose
    /// call ids are in `trimmed` get the trimmed note instead of their content
    /// ([`trimmed_note`]), then, when `summary` is present, the history becomes
    /// `[summary] + its last `kept` messages`.
    Compaction {
        ts: u64,
        before_tokens: u64,
        after_tokens: u64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        trimmed: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<Message>,
        #[serde(default)]
        kept: usize,
        /// How many messages the summary replaced.
        #[serde(default)]
        summarized: usize,
    },
    /// The user allowed `tool` without asking for the rest of the session (a permission
    /// decision with `remember`).
    Permission { ts: u64, tool: String },
    /// A run ended.
    RunEnd {
        ts: u64,
        stop_reason: StopReason,
        success: bool,
        /// The run's totals (also in the `usage` records).
        usage: Usage,
        /// The run's tool calls (their arguments and outputs are in the messages).
        #[serde(default)]
        steps: Vec<StepRecord>,
        #[serde(default)]
        files_changed: Vec<String>,
        duration_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<HarnextError>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkOrigin {
    pub id: String,
    /// How many messages of the original's history the fork kept.
    pub at_message: usize,
}

/// A tool call of a run, as `run_end` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub id: String,
    pub tool: String,
    pub status: ToolStatus,
    pub duration_ms: u64,
}

/// How every trimmed note begins.
pub const TRIMMED_PREFIX: &str = "[Output trimmed to save context:";

/// The text that replaces a trimmed tool result.
pub fn trimmed_note(original: &str, status: ToolStatus) -> String {
    let status = match status {
        ToolStatus::Ok => "ok",
        ToolStatus::Error => "error",
        ToolStatus::Denied => "denied",
        ToolStatus::Cancelled => "cancelled",
    };
    format!(
        "{TRIMMED_PREFIX} {} characters (status {status}). Run the tool again if you need it.]",
        original.chars().count()
    )
}

/// A session as listed: what the first records and the file say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    pub updated_at: u64,
    pub model: Option<String>,
    pub cwd: Option<String>,
    /// The beginning of the first user message.
    pub title: Option<String>,
    pub forked_from: Option<ForkOrigin>,
}

const TITLE_CHARS: usize = 120;

impl SessionSummary {
    /// Builds a summary from the first records of a session (the header and the first
    /// user message are enough). `None` without a header.
    fn from_head<'a>(
        records: impl IntoIterator<Item = &'a SessionRecord>,
        updated_at: Option<u64>,
    ) -> Option<SessionSummary> {
        let mut summary: Option<SessionSummary> = None;
        let mut last_ts = 0;
        for r in records {
            last_ts = last_ts.max(r.ts());
            match r {
                SessionRecord::Session {
                    id,
                    ts,
                    model,
                    cwd,
                    forked_from,
                    ..
                } if summary.is_none() => {
                    summary = Some(SessionSummary {
                        id: id.clone(),
                        created_at: *ts,
                        updated_at: *ts,
                        model: model.clone(),
                        cwd: cwd.clone(),
                        title: None,
                        forked_from: forked_from.clone(),
                    });
                }
                SessionRecord::Message { message, .. } if message.role == Role::User => {
                    if let Some(s) = summary.as_mut().filter(|s| s.title.is_none()) {
                        let text = message.text();
                        let text = text.trim();
                        if !text.is_empty() {
                            s.title = Some(text.chars().take(TITLE_CHARS).collect());
                        }
                    }
                }
                _ => {}
            }
        }
        let mut summary = summary?;
        summary.updated_at = updated_at.unwrap_or(last_ts).max(summary.created_at);
        Some(summary)
    }
}

impl SessionRecord {
    pub fn ts(&self) -> u64 {
        match self {
            SessionRecord::Session { ts, .. }
            | SessionRecord::RunStart { ts }
            | SessionRecord::Message { ts, .. }
            | SessionRecord::Usage { ts, .. }
            | SessionRecord::Compaction { ts, .. }
            | SessionRecord::Permission { ts, .. }
            | SessionRecord::RunEnd { ts, .. } => *ts,
        }
    }
}

/// A failure of a session store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no session `{0}`")]
    NotFound(String),
    #[error("session `{0}` is being run by another process (its file is locked)")]
    Locked(String),
    #[error("`{0}` is not a valid session id (expected letters, digits, `_` or `-`)")]
    InvalidId(String),
    #[error("cannot encode a session record: {0}")]
    Encode(String),
    #[error("no home directory to keep sessions in: set `sessionDir` (or {SESSION_DIR_ENV}), or `persistSession: false`")]
    NoHome,
}

/// Session ids name files: only `[A-Za-z0-9_-]`, 1 to 128 characters.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn check_id(id: &str) -> Result<(), StoreError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(StoreError::InvalidId(id.to_owned()))
    }
}

/// Appends records to one session; obtained from [`SessionStore::open`]. Holds the
/// store's lock on the session (if it has one) until dropped.
pub trait SessionWriter: Send {
    /// Appends one record. When this returns `Ok`, the record is in the store.
    fn append(&mut self, record: &SessionRecord) -> Result<(), StoreError>;
    /// Makes every appended record durable (fsync for files).
    fn sync(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A place to keep sessions. Implementations must be safe to share between threads.
pub trait SessionStore: Send + Sync {
    /// Tells stores apart inside the process: two stores with the same key hold the
    /// same sessions (the registry of running sessions uses it).
    fn key(&self) -> String;
    /// Where the sessions are, for messages.
    fn location(&self) -> String;
    /// The records of a session in order, `None` when there is no such session.
    /// Unreadable records (a line cut short by a crash) are skipped.
    fn read(&self, id: &str) -> Result<Option<Vec<SessionRecord>>, StoreError>;
    /// Opens a session for appending, taking its lock. With `create` false, a session
    /// that does not exist is [`StoreError::NotFound`]; a session locked by another
    /// process is [`StoreError::Locked`].
    fn open(&self, id: &str, create: bool) -> Result<Box<dyn SessionWriter>, StoreError>;
    /// Every session with a header, newest (last updated) first.
    fn list(&self) -> Result<Vec<SessionSummary>, StoreError>;
}

/// Parses JSONL, skipping lines that are not a known record (a torn last line, a line
/// of a later format).
pub fn parse_records(bytes: &[u8]) -> Vec<SessionRecord> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .filter_map(|line| serde_json::from_slice::<SessionRecord>(line).ok())
        .collect()
}

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

    fn create_dir(&self) -> Result<(), StoreError> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&self.dir).map_err(|source| StoreError::Io {
            action: "cannot create the session directory",
            path: self.dir.clone(),
            source,
        })
    }

    fn summary_of(&self, path: &Path) -> Option<SessionSummary> {
        let file = File::open(path).ok()?;
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
        match std::fs::read(&path) {
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
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(create);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = match options.open(&path) {
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

fn sort_newest_first(list: &mut [SessionSummary]) {
    list.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then(b.created_at.cmp(&a.created_at))
            .then(a.id.cmp(&b.id))
    });
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

/// Sessions in memory, for `persistSession: false` and tests. Clones share sessions.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: std::sync::Arc<MemoryInner>,
}

#[derive(Default)]
struct MemoryInner {
    key: u64,
    sessions: Mutex<HashMap<String, Vec<SessionRecord>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        MemoryStore {
            inner: std::sync::Arc::new(MemoryInner {
                key: NEXT.fetch_add(1, Ordering::Relaxed),
                sessions: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<SessionRecord>>> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("key", &self.inner.key)
            .finish_non_exhaustive()
    }
}

impl SessionStore for MemoryStore {
    fn key(&self) -> String {
        format!("memory:{}", self.inner.key)
    }

    fn location(&self) -> String {
        "memory (persistSession: false)".to_owned()
    }

    fn read(&self, id: &str) -> Result<Option<Vec<SessionRecord>>, StoreError> {
        check_id(id)?;
        Ok(self.sessions().get(id).cloned())
    }

    fn open(&self, id: &str, create: bool) -> Result<Box<dyn SessionWriter>, StoreError> {
        check_id(id)?;
        let mut sessions = self.sessions();
        if !sessions.contains_key(id) {
            if !create {
                return Err(StoreError::NotFound(id.to_owned()));
            }
            sessions.insert(id.to_owned(), Vec::new());
        }
        Ok(Box::new(MemoryWriter {
            store: self.clone(),
            id: id.to_owned(),
        }))
    }

    fn list(&self) -> Result<Vec<SessionSummary>, StoreError> {
        let mut out: Vec<SessionSummary> = self
            .sessions()
            .values()
            .filter_map(|records| SessionSummary::from_head(records, None))
            .collect();
        sort_newest_first(&mut out);
        Ok(out)
    }
}

struct MemoryWriter {
    store: MemoryStore,
    id: String,
}

impl SessionWriter for MemoryWriter {
    fn append(&mut self, record: &SessionRecord) -> Result<(), StoreError> {
        self.store
            .sessions()
            .entry(self.id.clone())
            .or_default()
            .push(record.clone());
        Ok(())
    }
}

/// The tool calls of `message` (an assistant turn), in order.
pub(crate) fn tool_use_ids(message: &Message) -> Vec<&str> {
    message
        .content
        .iter()
        .filter_map(|b| match b {
            ContentBlock::ToolUse { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
    fn unknown_and_torn_lines_are_skipped() {
        let good = encode(&header("sess_a")).unwrap();
        let text = format!("{good}\n{{\"type\":\"later_kind\",\"ts\":1}}\n{{\"type\":\"run_st");
        let records = parse_records(text.as_bytes());
        assert_eq!(records, vec![header("sess_a")]);
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
}
