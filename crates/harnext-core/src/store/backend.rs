//! The interface of a session store: where sessions are kept, how a run appends to one,
//! how they are listed; and the rules they all share (session ids, errors).

use std::path::PathBuf;

use harnext_protocol::OptionKey;
use harnext_protocol::Role;

use crate::store::record::ForkOrigin;
use crate::store::record::SessionRecord;

/// Overrides the default session directory (`$HOME/.harnext/sessions`).
pub const SESSION_DIR_ENV: &str = "HARNEXT_SESSION_DIR";

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
    pub(crate) fn from_head<'a>(
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
    #[error(
        "no home directory to keep sessions in: set `{}` (or {SESSION_DIR_ENV}), or `{}` to false",
        OptionKey::SessionDir,
        OptionKey::PersistSession
    )]
    NoHome,
    /// A server-backed store failed (unreachable, refused, timed out, lease lost).
    #[error("session store {store}: {message}")]
    Backend { store: String, message: String },
    /// A store URL or setting that cannot work.
    #[error("{0}")]
    Config(String),
}

/// Session ids name files: only `[A-Za-z0-9_-]`, 1 to 128 characters.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub(crate) fn check_id(id: &str) -> Result<(), StoreError> {
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
    /// Appends records in order (a new session's header with its first record); a store
    /// that can (the callback store) writes them all or none in one operation.
    fn append_all(&mut self, records: &[SessionRecord]) -> Result<(), StoreError> {
        records.iter().try_for_each(|r| self.append(r))
    }
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

/// `sess_` followed by 12 random characters from `[0-9a-z]`.
pub fn new_session_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut id = String::from("sess_");
    for _ in 0..12 {
        id.push(char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]));
    }
    id
}

/// Newest (last updated) first.
pub(crate) fn sort_newest_first(list: &mut [SessionSummary]) {
    list.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then(b.created_at.cmp(&a.created_at))
            .then(a.id.cmp(&b.id))
    });
}
