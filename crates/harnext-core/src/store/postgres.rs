//! The PostgreSQL store (`sessionStore: "postgres://..."`): sessions in two tables, one
//! run per session across machines by a session-level advisory lock.
//!
//! Tables (created on first use, under a transaction-level advisory lock so that many
//! workers starting at once do not race; `harnext_schema.version` says which layout is
//! there, for later migrations):
//! - `harnext_sessions (id, created_at, updated_at, next_seq)`
//! - `harnext_records (session_id, seq, record)`: one row per record, the record as the
//!   same JSON text as a line of a JSONL session file.
//!
//! An append is one autocommitted statement (the session's `next_seq` bumped and the row
//! inserted together), so when it returns the record is committed. A run holds one
//! connection of the pool for its whole life, with `pg_try_advisory_lock` taken on the
//! session id: a second run anywhere is refused; the lock goes with `pg_advisory_unlock`
//! when the run ends, or with the connection when its process dies.

use std::sync::Arc;

use deadpool_postgres::Pool;
use harnext_protocol::redact::redact_url;

use crate::store::backend::check_id;
use crate::store::backend::sort_newest_first;
use crate::store::backend::SessionStore;
use crate::store::backend::SessionSummary;
use crate::store::backend::SessionWriter;
use crate::store::backend::StoreError;
use crate::store::record::now_ms;
use crate::store::record::SessionRecord;
use crate::store::remote::block;
use crate::store::remote::scrub;
use crate::store::remote::url_password;

/// The table layout this build writes.
pub const SCHEMA_VERSION: i32 = 1;

/// How many records of each session `list` reads for its summary (the header and the
/// first user message are among the first few).
const HEAD_RECORDS: i64 = 16;

const MIGRATE: &str = "
CREATE TABLE IF NOT EXISTS harnext_schema (version integer NOT NULL);
CREATE TABLE IF NOT EXISTS harnext_sessions (
  id text PRIMARY KEY,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  next_seq bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS harnext_records (
  session_id text NOT NULL REFERENCES harnext_sessions(id) ON DELETE CASCADE,
  seq bigint NOT NULL,
  record text NOT NULL,
  PRIMARY KEY (session_id, seq)
);
CREATE INDEX IF NOT EXISTS harnext_sessions_updated ON harnext_sessions (updated_at DESC);
";

/// Sessions in a PostgreSQL database. Clones share the pool.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    location: String,
    secrets: Vec<String>,
    ready: tokio::sync::OnceCell<()>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.inner.location)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// A store for `url` (`postgres://user:password@host:port/db`); connects on first use.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let location = redact_url(url);
        let secrets = url_password(url);
        let bad = |e: &dyn std::fmt::Display| {
            StoreError::Config(format!(
                "{} is not a PostgreSQL URL this store can use: {}",
                location,
                scrub(e, &secrets)
            ))
        };
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| bad(&e))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(5));
        }
        config.application_name("harnext");
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(64)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(crate::store::remote::OP_TIMEOUT))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .build()
            .map_err(|e| bad(&e))?;
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                pool,
                location,
                secrets,
                ready: tokio::sync::OnceCell::new(),
            }),
        })
    }
}

impl Inner {
    fn err(&self, what: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Backend {
            store: format!("{} ({what})", self.location),
            message: scrub(&e, &self.secrets),
        }
    }

    async fn client(self: &Arc<Self>) -> Result<deadpool_postgres::Object, StoreError> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| self.err("connect", pool_error(e)))?;
        if self.ready.get().is_none() {
            self.ready
                .get_or_try_init(|| migrate(self, &client))
                .await?;
        }
        Ok(client)
    }
}

/// The whole chain of a pool error (its `Display` alone is often just "backend error").
fn pool_error(e: deadpool_postgres::PoolError) -> String {
    chain(&e)
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text = format!("{text}: {s_text}");
        }
        source = s.source();
    }
    text
}

fn pg(inner: &Inner, what: &str, e: tokio_postgres::Error) -> StoreError {
    inner.err(what, chain(&e))
}

async fn migrate(inner: &Arc<Inner>, client: &deadpool_postgres::Object) -> Result<(), StoreError> {
    let e = |e| pg(inner, "create tables", e);
    // One transaction, serialized between processes by an advisory lock, so that two
    // workers starting together do not both create the tables.
    client
        .batch_execute("BEGIN; SELECT pg_advisory_xact_lock(7366827364819)")
        .await
        .map_err(e)?;
    let result = async {
        client.batch_execute(MIGRATE).await.map_err(e)?;
        let row = client
            .query_opt("SELECT max(version) FROM harnext_schema", &[])
            .await
            .map_err(e)?;
        let version: Option<i32> = row.and_then(|r| r.get(0));
        match version {
            None => {
                client
                    .execute(
                        "INSERT INTO harnext_schema (version) VALUES ($1)",
                        &[&SCHEMA_VERSION],
                    )
                    .await
                    .map_err(e)?;
            }
            Some(v) if v > SCHEMA_VERSION => {
                return Err(inner.err(
                    "schema",
                    format!(
                        "the tables are at version {v}, newer than this harnext's {SCHEMA_VERSION}; upgrade harnext"
                    ),
                ))
            }
            Some(_) => {}
        }
        Ok(())
    }
    .await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = client.batch_execute(end).await.map_err(e);
    result.and(ended)
}

fn decode(text: &str) -> Option<SessionRecord> {
    serde_json::from_str(text).ok()
}

fn encode(record: &SessionRecord) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Encode(e.to_string()))
}

impl SessionStore for PostgresStore {
    fn key(&self) -> String {
        format!("postgres:{}", self.inner.location)
    }

    fn location(&self) -> String {
        self.inner.location.clone()
    }

    fn read(&self, id: &str) -> Result<Option<Vec<SessionRecord>>, StoreError> {
        check_id(id)?;
        let inner = self.inner.clone();
        let id = id.to_owned();
        block(&self.inner.location, async move {
            let client = inner.client().await?;
            let e = |e| pg(&inner, "read", e);
            let exists = client
                .query_opt("SELECT 1 FROM harnext_sessions WHERE id = $1", &[&id])
                .await
                .map_err(e)?;
            if exists.is_none() {
                return Ok(None);
            }
            let rows = client
                .query(
                    "SELECT record FROM harnext_records WHERE session_id = $1 ORDER BY seq",
                    &[&id],
                )
                .await
                .map_err(e)?;
            Ok(Some(
                rows.iter()
                    .filter_map(|r| decode(r.get::<_, &str>(0)))
                    .collect(),
            ))
        })
    }

    fn open(&self, id: &str, create: bool) -> Result<Box<dyn SessionWriter>, StoreError> {
        check_id(id)?;
        let inner = self.inner.clone();
        let owned = id.to_owned();
        let client = block(&self.inner.location, async move {
            let id = owned;
            let client = inner.client().await?;
            let e = |e| pg(&inner, "lock", e);
            let row = client
                .query_one(
                    "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                    &[&id],
                )
                .await
                .map_err(e)?;
            if !row.get::<_, bool>(0) {
                return Err(StoreError::Locked(id));
            }
            let now = i64::try_from(now_ms()).unwrap_or(i64::MAX);
            let found = if create {
                client
                    .execute(
                        "INSERT INTO harnext_sessions (id, created_at, updated_at) VALUES ($1, $2, $2) ON CONFLICT (id) DO NOTHING",
                        &[&id, &now],
                    )
                    .await
                    .map(|_| true)
            } else {
                client
                    .query_opt("SELECT 1 FROM harnext_sessions WHERE id = $1", &[&id])
                    .await
                    .map(|r| r.is_some())
            };
            match found {
                Ok(true) => Ok(client),
                Ok(false) => {
                    unlock(client, &id).await;
                    Err(StoreError::NotFound(id))
                }
                Err(err) => {
                    unlock(client, &id).await;
                    Err(e(err))
                }
            }
        })?;
        Ok(Box::new(PostgresWriter {
            inner: self.inner.clone(),
            id: id.to_owned(),
            client: Some(client),
        }))
    }

    fn list(&self) -> Result<Vec<SessionSummary>, StoreError> {
        let inner = self.inner.clone();
        block(&self.inner.location, async move {
            let client = inner.client().await?;
            let rows = client
                .query(
                    "SELECT s.id, s.updated_at, r.record FROM harnext_sessions s \
                     JOIN harnext_records r ON r.session_id = s.id AND r.seq < $1 \
                     ORDER BY s.id, r.seq",
                    &[&HEAD_RECORDS],
                )
                .await
                .map_err(|e| pg(&inner, "list", e))?;
            let mut out = Vec::new();
            let mut current: Option<(String, i64, Vec<SessionRecord>)> = None;
            let flush = |c: Option<(String, i64, Vec<SessionRecord>)>,
                         out: &mut Vec<SessionSummary>| {
                if let Some((_, updated, records)) = c {
                    let updated = u64::try_from(updated).ok();
                    if let Some(s) = SessionSummary::from_head(&records, updated) {
                        out.push(s);
                    }
                }
            };
            for row in &rows {
                let id: &str = row.get(0);
                if current.as_ref().is_none_or(|c| c.0 != id) {
                    flush(current.take(), &mut out);
                    current = Some((id.to_owned(), row.get(1), Vec::new()));
                }
                if let (Some(c), Some(r)) = (current.as_mut(), decode(row.get(2))) {
                    c.2.push(r);
                }
            }
            flush(current, &mut out);
            sort_newest_first(&mut out);
            Ok(out)
        })
    }
}

/// Gives the advisory lock back; a connection that cannot is closed (the server then
/// drops its locks) instead of going back to the pool.
async fn unlock(client: deadpool_postgres::Object, id: &str) {
    let unlocked = client
        .query_one("SELECT pg_advisory_unlock(hashtextextended($1, 0))", &[&id])
        .await
        .map(|r| r.get::<_, bool>(0))
        .unwrap_or(false);
    if !unlocked {
        drop(deadpool_postgres::Object::take(client));
    }
}

struct PostgresWriter {
    inner: Arc<Inner>,
    id: String,
    /// The connection holding the session's advisory lock.
    client: Option<deadpool_postgres::Object>,
}

impl SessionWriter for PostgresWriter {
    fn append(&mut self, record: &SessionRecord) -> Result<(), StoreError> {
        let text = encode(record)?;
        let Some(client) = self.client.take() else {
            return Err(self
                .inner
                .err("append", "the session's connection was lost"));
        };
        let inner = self.inner.clone();
        let id = self.id.clone();
        let ts = i64::try_from(record.ts()).unwrap_or(i64::MAX);
        let (client, result) = block(&self.inner.location.clone(), async move {
            let result = client
                .execute(
                    "WITH s AS (UPDATE harnext_sessions SET next_seq = next_seq + 1, \
                     updated_at = GREATEST(updated_at, $3) WHERE id = $1 RETURNING next_seq - 1 AS seq) \
                     INSERT INTO harnext_records (session_id, seq, record) SELECT $1, seq, $2 FROM s",
                    &[&id, &text, &ts],
                )
                .await;
            let result = match result {
                Ok(1) => Ok(()),
                Ok(_) => Err(inner.err(
                    "append",
                    format!("session `{id}` is gone from the database"),
                )),
                Err(e) => Err(pg(&inner, "append", e)),
            };
            Ok((client, result))
        })?;
        // A broken connection no longer holds the lock: it is not used again.
        if result.is_ok() || !client.is_closed() {
            self.client = Some(client);
        } else {
            drop(deadpool_postgres::Object::take(client));
        }
        result
    }
}

impl Drop for PostgresWriter {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let id = std::mem::take(&mut self.id);
            // Waited for, so that the session is free when the run's end is reported.
            let _ = block(&self.inner.location.clone(), async move {
                unlock(client, &id).await;
                Ok(())
            });
        }
    }
}
