//! Checkpoints and rewind.
//!
//! While a run works, the workspace collects the state of every file a step changes,
//! just before the change (file tools exactly; shell commands from a baseline, see
//! `harnext_tools::checkpoint`). After each batch of tool calls the run writes them to
//! its session as a `checkpoint` record at the current history length, each file's
//! content once per session in a `blob` record (content-addressed by sha256).
//!
//! [`rewind`] puts a session back to message `to_message` (an index into
//! `load_session().messages`: the first `to_message` messages are kept):
//! - it takes the session like a run does (a session a run holds is refused, as a second
//!   run would be);
//! - every file of every checkpoint at or after that point goes back to its earliest
//!   recorded state (content and permission bits; a symbolic link as the link itself;
//!   files created since are removed, files deleted since come back, a rename is both);
//!   every write goes through the workspace's directory handle, beneath the root, so a
//!   directory replaced by a link meanwhile makes that file fail, never a write outside;
//! - the files it could not restore (not checkpointed: too large, binary, past a limit,
//!   changed by a shell command in a tree too large for the baseline; or failing now)
//!   are listed with the reason;
//! - a `rewind` record is appended: the conversation is cut there for every later load
//!   and run (the records of the cut part stay in the store, unread), unless `fork` is
//!   set, in which case the original session is left as it is and a new session starts
//!   from the first `to_message` messages.

use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::Arc;

use base64::Engine as _;
use harnext_tools::checkpoint::PreImage;
use harnext_tools::checkpoint::Restored;
use harnext_tools::Workspace;
use sha2::Digest as _;

use crate::error::RunError;
use crate::session;
use crate::session::SessionMeta;
use crate::store::now_ms;
use crate::store::FileState;
use crate::store::SessionRecord;
use crate::store::SessionStore;

pub use harnext_tools::checkpoint::CheckpointOptions;

/// The sha256 of `data`, hex.
pub(crate) fn blob_hash(data: &[u8]) -> String {
    let digest = sha2::Sha256::digest(data);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn encode(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// What a rewind is asked to do.
#[derive(Debug, Clone, Default)]
pub struct RewindRequest {
    /// Keep the first `to_message` messages of `load_session().messages`.
    pub to_message: usize,
    /// Leave the session as it is and start a new one from that point (the files are
    /// restored all the same).
    pub fork: bool,
}

/// A file a rewind could not put back, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRestored {
    pub path: String,
    pub reason: String,
}

/// What a rewind did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewindResult {
    /// The session that continues from the point: the rewound one, or the fork.
    pub session_id: String,
    /// The messages kept.
    pub to_message: usize,
    /// How many messages the rewind cut from the conversation.
    pub messages_removed: usize,
    /// Files written back (content and permissions, or a link), sorted.
    pub restored: Vec<String>,
    /// Files created after the point, removed, sorted.
    pub removed: Vec<String>,
    /// Files it could not put back, with the reason, sorted by path.
    pub not_restored: Vec<NotRestored>,
}

/// Why a rewind was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewindError {
    /// The session is unknown, busy (a run holds it) or its store failed.
    #[error(transparent)]
    Session(#[from] RunError),
    #[error("cannot rewind session `{id}` to message {to}: its history has {len} messages")]
    OutOfRange { id: String, to: usize, len: usize },
    /// The agent's workspace cannot be used, or is not the session's.
    #[error("the workspace {0}")]
    Workspace(String),
}

/// Rewinds session `id` of `store` and the files of `cwd` (see the module
/// documentation). Blocking: call it off the async runtime.
pub fn rewind(
    store: &Arc<dyn SessionStore>,
    cwd: &std::path::Path,
    id: &str,
    request: &RewindRequest,
) -> Result<RewindResult, RewindError> {
    let lease = session::acquire(store, Some(id), SessionMeta::default())?;
    let records = match store.read(id) {
        Ok(Some(r)) => r,
        Ok(None) => return Err(RunError::UnknownSession(id.to_owned()).into()),
        Err(e) => return Err(RunError::SessionStore(e.to_string()).into()),
    };
    let replayed = session::replay::replay(id, &records);
    // The files are this agent's workspace's: a session run in another one is refused
    // rather than restored into the wrong tree.
    if let Some(theirs) = replayed.data.cwd.as_deref() {
        if std::path::Path::new(theirs) != cwd {
            return Err(RewindError::Workspace(format!(
                "{} is not the workspace session `{id}` ran in ({theirs}): rewind it with an agent whose `cwd` is {theirs}",
                cwd.display()
            )));
        }
    }
    let len = replayed.data.messages.len();
    let to = request.to_message;
    if to > len {
        return Err(RewindError::OutOfRange {
            id: id.to_owned(),
            to,
            len,
        });
    }
    // The earliest state of each path among the checkpoints from the point on.
    let mut wanted: Vec<(String, FileState)> = Vec::new();
    let mut seen = HashSet::new();
    for (at, files) in &replayed.checkpoints {
        if *at < to {
            continue;
        }
        for f in files {
            if seen.insert(f.path.clone()) {
                wanted.push((f.path.clone(), f.state.clone()));
            }
        }
    }
    let hashes: HashSet<&str> = wanted
        .iter()
        .filter_map(|(_, s)| match s {
            FileState::File { blob, .. } => Some(blob.as_str()),
            _ => None,
        })
        .collect();
    let mut blobs: HashMap<&str, Arc<[u8]>> = HashMap::new();
    for r in &records {
        if let SessionRecord::Blob { hash, data, .. } = r {
            if hashes.contains(hash.as_str()) && !blobs.contains_key(hash.as_str()) {
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) {
                    if blob_hash(&bytes) == *hash {
                        blobs.insert(hash.as_str(), bytes.into());
                    }
                }
            }
        }
    }
    let images: Vec<(String, PreImage)> = wanted
        .into_iter()
        .map(|(path, state)| {
            let image = match state {
                FileState::File { blob, mode, .. } => match blobs.get(blob.as_str()) {
                    Some(data) => PreImage::File {
                        data: data.clone(),
                        mode,
                    },
                    None => PreImage::Skipped {
                        reason: "its checkpointed content is missing from the session store".into(),
                    },
                },
                FileState::Symlink { target } => PreImage::Symlink {
                    target: target.into_bytes(),
                },
                FileState::Absent => PreImage::Absent,
                FileState::Skipped { reason } => PreImage::Skipped {
                    reason: format!("not checkpointed: {reason}"),
                },
            };
            (path, image)
        })
        .collect();
    let workspace = Workspace::new(cwd)
        .map_err(|e| RewindError::Workspace(format!("{} cannot be used: {e}", cwd.display())))?;
    let mut result = RewindResult {
        session_id: id.to_owned(),
        to_message: to,
        messages_removed: len - to,
        restored: Vec::new(),
        removed: Vec::new(),
        not_restored: Vec::new(),
    };
    for (path, outcome) in workspace.restore(&images) {
        match outcome {
            Ok(Restored::Written) => result.restored.push(path),
            Ok(Restored::Removed) => result.removed.push(path),
            Ok(Restored::Unchanged) => {}
            Err(reason) => result.not_restored.push(NotRestored { path, reason }),
        }
    }
    result.restored.sort();
    result.removed.sort();
    result.not_restored.sort_by(|a, b| a.path.cmp(&b.path));
    if request.fork {
        drop(lease);
        result.session_id = session::fork(store.as_ref(), id, Some(to))
            .map_err(|e| RunError::SessionStore(e.to_string()))?;
    } else {
        lease.record(&SessionRecord::Rewind {
            ts: now_ms(),
            to_message: to,
        });
        if let Some(problem) = lease.failure() {
            return Err(RunError::SessionStore(problem).into());
        }
    }
    Ok(result)
}
