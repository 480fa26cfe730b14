//! The memory store: sessions kept in the process (`persist_session` false, tests).

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use harnext_protocol::OptionKey;

use crate::store::backend::check_id;
use crate::store::backend::sort_newest_first;
use crate::store::backend::SessionStore;
use crate::store::backend::SessionSummary;
use crate::store::backend::SessionWriter;
use crate::store::backend::StoreError;
use crate::store::record::SessionRecord;

/// Sessions in memory, for `persist_session` false and tests. Clones share sessions.
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

    /// Forgets a session (a subagent's, once its transcript is kept elsewhere).
    pub(crate) fn remove(&self, id: &str) {
        self.sessions().remove(id);
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
        format!("memory (`{}` false)", OptionKey::PersistSession)
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
