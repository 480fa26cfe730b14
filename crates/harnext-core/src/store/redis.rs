//! The Redis store (`sessionStore: "redis://..."`): each session a list of records, one
//! run per session across machines by a lease with a fencing token.
//!
//! Keys (`<prefix>` is `harnext` unless the URL says `?prefix=...`):
//! - `<prefix>:schema`: the layout version ([`SCHEMA_VERSION`]), for later migrations;
//! - `<prefix>:sessions`: a sorted set of session ids scored by their last update (ms);
//! - `<prefix>:s:<id>:records`: the records, each the JSON text of a JSONL line;
//! - `<prefix>:s:<id>:lease`: the fencing token of the run holding the session, with a
//!   time to live (`?lease_ms=...`, default 15 000) renewed every third of it while the
//!   run is alive; `<prefix>:s:<id>:fence` counts the tokens handed out.
//!
//! An append is one Lua script that checks the lease still holds this run's token, then
//! pushes the record and bumps the session's score: a run whose lease lapsed (its process
//! was frozen past the time to live and another run took the session) can never write
//! again. The lease goes when the run ends, or lapses when its process dies.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use harnext_protocol::redact::redact_url;
use redis::aio::MultiplexedConnection;

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
use crate::store::remote::spawn;
use crate::store::remote::url_password;

/// The key layout this build writes.
pub const SCHEMA_VERSION: i64 = 1;

/// The lease's time to live unless the URL says `?lease_ms=`.
pub const DEFAULT_LEASE_MS: u64 = 15_000;

const HEAD_RECORDS: isize = 16;

const APPEND: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('LEASE_LOST the session is held by another run now')
end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
";

const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Sessions in Redis. Clones share the connection.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    location: String,
    secrets: Vec<String>,
    prefix: String,
    lease_ms: u64,
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    ready: tokio::sync::OnceCell<()>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("location", &self.inner.location)
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store for `url` (`redis://[:password@]host:port[/db][?prefix=...&lease_ms=...]`);
    /// connects on first use.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let location = redact_url(url);
        let secrets = url_password(url);
        let bad = |e: String| StoreError::Config(format!("{location}: {}", scrub(e, &secrets)));
        // Our own settings come out of the query; the rest goes to the client.
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, q),
            None => (url, ""),
        };
        let mut prefix = "harnext".to_owned();
        let mut lease_ms = DEFAULT_LEASE_MS;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("prefix", v)) => {
                    if v.is_empty()
                        || !v
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_-:.".contains(c))
                    {
                        return Err(bad(format!(
                            "`prefix` must be letters, digits, `_-:.`, got `{v}`"
                        )));
                    }
                    v.clone_into(&mut prefix);
                }
                Some(("lease_ms", v)) => {
                    lease_ms = v
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (100..=3_600_000).contains(n))
                        .ok_or_else(|| {
                            bad(format!("`lease_ms` must be 100 to 3600000, got `{v}`"))
                        })?;
                }
                _ => rest.push(pair),
            }
        }
        let url = if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let client = redis::Client::open(url.as_str()).map_err(|e| bad(e.to_string()))?;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                client,
                location: redact_url(&url),
                secrets,
                prefix,
                lease_ms,
                conn: tokio::sync::Mutex::new(None),
                ready: tokio::sync::OnceCell::new(),
            }),
        })
    }
}

impl Inner {
    fn err(&self, what: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Backend {
            store: format!("{} ({what})", self.location),
            message: scrub(e, &self.secrets),
        }
    }

    fn key(&self, id: &str, part: &str) -> String {
        format!("{}:s:{id}:{part}", self.prefix)
    }

    fn sessions_key(&self) -> String {
        format!("{}:sessions", self.prefix)
    }

    async fn conn(self: &Arc<Self>) -> Result<MultiplexedConnection, StoreError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(10)));
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| self.err("connect", e))?;
        if self.ready.get().is_none() {
            let key = format!("{}:schema", self.prefix);
            let _: bool = redis::cmd("SETNX")
                .arg(&key)
                .arg(SCHEMA_VERSION)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.err("schema", e))?;
            let v: Option<i64> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.err("schema", e))?;
            if v.unwrap_or(0) > SCHEMA_VERSION {
                return Err(self.err(
                    "schema",
                    format!(
                        "the keys are at version {}, newer than this harnext's {SCHEMA_VERSION}; upgrade harnext",
                        v.unwrap_or(0)
                    ),
                ));
            }
            let _ = self.ready.set(());
        }
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Forgets the connection after a failure, so that the next call reconnects.
    async fn reset(&self) {
        *self.conn.lock().await = None;
    }

    async fn run<T>(
        self: &Arc<Self>,
        what: &str,
        f: impl AsyncFnOnce(&mut MultiplexedConnection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn().await?;
        match f(&mut conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                    self.reset().await;
                }
                Err(self.err(what, e))
            }
        }
    }
}

fn decode(text: &str) -> Option<SessionRecord> {
    serde_json::from_str(text).ok()
}

impl SessionStore for RedisStore {
    fn key(&self) -> String {
        format!("redis:{}#{}", self.inner.location, self.inner.prefix)
    }

    fn location(&self) -> String {
        self.inner.location.clone()
    }

    fn read(&self, id: &str) -> Result<Option<Vec<SessionRecord>>, StoreError> {
        check_id(id)?;
        let inner = self.inner.clone();
        let id = id.to_owned();
        block(&self.inner.location, async move {
            let sessions = inner.sessions_key();
            let records = inner.key(&id, "records");
            let (score, lines): (Option<f64>, Vec<String>) = inner
                .run("read", async |c| {
                    redis::pipe()
                        .cmd("ZSCORE")
                        .arg(&sessions)
                        .arg(&id)
                        .cmd("LRANGE")
                        .arg(&records)
                        .arg(0)
                        .arg(-1)
                        .query_async(c)
                        .await
                })
                .await?;
            Ok(score.map(|_| lines.iter().filter_map(|l| decode(l)).collect()))
        })
    }

    fn open(&self, id: &str, create: bool) -> Result<Box<dyn SessionWriter>, StoreError> {
        check_id(id)?;
        let inner = self.inner.clone();
        let owned = id.to_owned();
        let token = block(&self.inner.location, async move {
            let id = owned;
            let lease = inner.key(&id, "lease");
            let fence = inner.key(&id, "fence");
            let token: i64 = inner
                .run("lock", async |c| {
                    redis::cmd("INCR").arg(&fence).query_async(c).await
                })
                .await?;
            let token = token.to_string();
            let ms = inner.lease_ms;
            let taken: Option<String> = inner
                .run("lock", async |c| {
                    redis::cmd("SET")
                        .arg(&lease)
                        .arg(&token)
                        .arg("NX")
                        .arg("PX")
                        .arg(ms)
                        .query_async(c)
                        .await
                })
                .await?;
            if taken.is_none() {
                return Err(StoreError::Locked(id));
            }
            let sessions = inner.sessions_key();
            let exists: Option<f64> = inner
                .run("open", async |c| {
                    redis::cmd("ZSCORE")
                        .arg(&sessions)
                        .arg(&id)
                        .query_async(c)
                        .await
                })
                .await?;
            if exists.is_none() {
                if !create {
                    release(&inner, &id, &token).await;
                    return Err(StoreError::NotFound(id));
                }
                let now = now_ms();
                inner
                    .run("open", async |c| {
                        redis::cmd("ZADD")
                            .arg(&sessions)
                            .arg("NX")
                            .arg(now)
                            .arg(&id)
                            .query_async::<i64>(c)
                            .await
                    })
                    .await?;
            }
            Ok(token)
        })?;
        let lost = Arc::new(AtomicBool::new(false));
        let alive = Arc::new(());
        renew_while_alive(
            self.inner.clone(),
            id.to_owned(),
            token.clone(),
            Arc::downgrade(&alive),
            lost.clone(),
        );
        Ok(Box::new(RedisWriter {
            inner: self.inner.clone(),
            id: id.to_owned(),
            token,
            lost,
            _alive: alive,
        }))
    }

    fn list(&self) -> Result<Vec<SessionSummary>, StoreError> {
        let inner = self.inner.clone();
        block(&self.inner.location, async move {
            let sessions = inner.sessions_key();
            let ids: Vec<(String, f64)> = inner
                .run("list", async |c| {
                    redis::cmd("ZREVRANGE")
                        .arg(&sessions)
                        .arg(0)
                        .arg(-1)
                        .arg("WITHSCORES")
                        .query_async(c)
                        .await
                })
                .await?;
            let mut out = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(256) {
                let mut pipe = redis::pipe();
                for (id, _) in chunk {
                    pipe.cmd("LRANGE")
                        .arg(inner.key(id, "records"))
                        .arg(0)
                        .arg(HEAD_RECORDS - 1);
                }
                let heads: Vec<Vec<String>> = inner
                    .run("list", async |c| pipe.query_async(c).await)
                    .await?;
                for ((_, score), head) in chunk.iter().zip(heads) {
                    let records: Vec<SessionRecord> =
                        head.iter().filter_map(|l| decode(l)).collect();
                    // Scores are whole milliseconds.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let updated = *score as u64;
                    if let Some(s) = SessionSummary::from_head(&records, Some(updated)) {
                        out.push(s);
                    }
                }
            }
            sort_newest_first(&mut out);
            Ok(out)
        })
    }
}

async fn release(inner: &Arc<Inner>, id: &str, token: &str) {
    let lease = inner.key(id, "lease");
    let _ = inner
        .run("unlock", async |c| {
            redis::Script::new(RELEASE)
                .key(&lease)
                .arg(token)
                .invoke_async::<i64>(c)
                .await
        })
        .await;
}

/// Renews the lease every third of its time to live until the writer is dropped; a
/// renewal that finds the lease gone marks it lost (the next append fails).
fn renew_while_alive(
    inner: Arc<Inner>,
    id: String,
    token: String,
    alive: std::sync::Weak<()>,
    lost: Arc<AtomicBool>,
) {
    spawn(async move {
        let every = Duration::from_millis((inner.lease_ms / 3).max(30));
        let lease = inner.key(&id, "lease");
        loop {
            tokio::time::sleep(every).await;
            if alive.upgrade().is_none() {
                return;
            }
            let ms = inner.lease_ms;
            let renewed = inner
                .run("renew", async |c| {
                    redis::Script::new(RENEW)
                        .key(&lease)
                        .arg(&token)
                        .arg(ms)
                        .invoke_async::<i64>(c)
                        .await
                })
                .await;
            // A failed call is retried at the next tick; a lease found gone is lost.
            if matches!(renewed, Ok(0)) {
                lost.store(true, Ordering::SeqCst);
                return;
            }
        }
    });
}

struct RedisWriter {
    inner: Arc<Inner>,
    id: String,
    token: String,
    lost: Arc<AtomicBool>,
    /// Dropped with the writer: stops the renewals.
    _alive: Arc<()>,
}

impl SessionWriter for RedisWriter {
    fn append(&mut self, record: &SessionRecord) -> Result<(), StoreError> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(self.inner.err(
                "append",
                format!(
                    "the lease on session `{}` lapsed; another run may hold it",
                    self.id
                ),
            ));
        }
        let text = serde_json::to_string(record).map_err(|e| StoreError::Encode(e.to_string()))?;
        let inner = self.inner.clone();
        let id = self.id.clone();
        let token = self.token.clone();
        let ts = record.ts().max(1);
        block(&self.inner.location, async move {
            let keys = (
                inner.key(&id, "lease"),
                inner.key(&id, "records"),
                inner.sessions_key(),
            );
            inner
                .run("append", async |c| {
                    redis::Script::new(APPEND)
                        .key(&keys.0)
                        .key(&keys.1)
                        .key(&keys.2)
                        .arg(&token)
                        .arg(&text)
                        .arg(ts)
                        .arg(&id)
                        .invoke_async::<i64>(c)
                        .await
                })
                .await
                .map(|_| ())
        })
    }
}

impl Drop for RedisWriter {
    fn drop(&mut self) {
        let inner = self.inner.clone();
        let id = std::mem::take(&mut self.id);
        let token = std::mem::take(&mut self.token);
        // Waited for, so that the session is free when the run's end is reported.
        let _ = block(&self.inner.location.clone(), async move {
            release(&inner, &id, &token).await;
            Ok(())
        });
    }
}
