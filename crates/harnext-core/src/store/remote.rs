//! What the server-backed stores (PostgreSQL, Redis) share: a runtime of their own for
//! their connections, the blocking bridge from the synchronous [`SessionStore`] interface
//! to it, and the choice of a store from a `sessionStore` URL.
//!
//! The store interface is synchronous (a run appends while holding its session's state),
//! and a run may be on any runtime, or on none (`spawn_blocking`). So the client
//! libraries' futures run on one small runtime owned by the stores, and a call waits for
//! its answer on a channel, for [`OP_TIMEOUT`] at most: a server that stopped answering
//! becomes a `session_store` error, never a hang.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;

use harnext_protocol::redact::redact_url;
use harnext_protocol::OptionKey;

use crate::store::backend::SessionStore;
use crate::store::backend::StoreError;

/// How long one store operation may take before it fails.
pub const OP_TIMEOUT: Duration = Duration::from_secs(15);

static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();

fn runtime() -> Result<&'static tokio::runtime::Runtime, StoreError> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("harnext-store")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| StoreError::Backend {
            store: "session store".to_owned(),
            message: format!("cannot start the store runtime: {e}"),
        })
}

/// Runs `fut` on the stores' runtime and waits for it (from any thread, async or not).
pub(crate) fn block<T, F>(location: &str, fut: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, StoreError>> + Send + 'static,
{
    block_within(location, OP_TIMEOUT, fut)
}

/// [`block`] with a time limit of its own.
pub(crate) fn block_within<T, F>(location: &str, limit: Duration, fut: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, StoreError>> + Send + 'static,
{
    let rt = runtime()?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let out = tokio::time::timeout(limit, fut).await;
        let _ = tx.send(out);
    });
    // On a multi-threaded runtime, the wait gives the worker's other tasks to another
    // thread (they may be what the store's server waits on, as a proxy in tests).
    let on_workers = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let answer = if on_workers {
        tokio::task::block_in_place(|| rx.recv())
    } else {
        rx.recv()
    };
    match answer {
        Ok(Ok(out)) => out,
        Ok(Err(_)) => Err(StoreError::Backend {
            store: location.to_owned(),
            message: format!("no answer within {}s", limit.as_secs()),
        }),
        Err(_) => Err(StoreError::Backend {
            store: location.to_owned(),
            message: "the store runtime stopped".to_owned(),
        }),
    }
}

/// Spawns a task on the stores' runtime (lease renewals, releases on drop).
pub(crate) fn spawn(fut: impl Future<Output = ()> + Send + 'static) {
    if let Ok(rt) = runtime() {
        rt.spawn(fut);
    }
}

/// A message from a client library, with the URL's password taken out (drivers may
/// quote their connection settings).
pub(crate) fn scrub(message: impl std::fmt::Display, secrets: &[String]) -> String {
    let mut text = message.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(s.as_str(), harnext_protocol::redact::REDACTED);
    }
    text
}

/// The password of a URL (user info after the first `:`), percent-decoded and raw.
pub(crate) fn url_password(url: &str) -> Vec<String> {
    let Some((_, rest)) = url.split_once("://") else {
        return Vec::new();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let Some((userinfo, _)) = authority.rsplit_once('@') else {
        return Vec::new();
    };
    let Some((_, password)) = userinfo.split_once(':') else {
        return Vec::new();
    };
    let mut out = vec![password.to_owned()];
    let decoded = percent_decode(password);
    if decoded != password {
        out.push(decoded);
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The store a `sessionStore` URL names: `postgres://` (or `postgresql://`) and
/// `redis://` (or `rediss://`). Nothing connects yet: the first operation does.
/// A URL that names no store is [`StoreError::Config`] (the problem, without the option
/// name: see [`store_option`]).
///
/// One store per URL and process: agents, `listSessions` and the rest given the same URL
/// share its connections (a PostgreSQL pool, a Redis connection). A worker creating an
/// agent per job would otherwise keep each agent's idle connections until the garbage
/// collector drops the agent, and a database's `max_connections` runs out.
pub fn open_store(url: &str) -> Result<Arc<dyn SessionStore>, StoreError> {
    static STORES: OnceLock<std::sync::Mutex<HashMap<String, Arc<dyn SessionStore>>>> =
        OnceLock::new();
    let stores = STORES.get_or_init(Default::default);
    if let Some(store) = stores
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(url)
    {
        return Ok(store.clone());
    }
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    let store: Arc<dyn SessionStore> = match scheme.as_deref() {
        Some("postgres" | "postgresql") => Arc::new(crate::store::PostgresStore::new(url)?),
        Some("redis" | "rediss") => Arc::new(crate::store::RedisStore::new(url)?),
        _ => {
            return Err(StoreError::Config(format!(
                "expected a `postgres://` or `redis://` URL, got `{}`",
                redact_url(url)
            )))
        }
    };
    // Two first uses at once: the first one in is kept, the other dropped unused.
    Ok(stores
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(url.to_owned())
        .or_insert(store)
        .clone())
}

/// The `session_store` option: [`open_store`] with its problems as option errors.
pub fn store_option(url: &str) -> Result<Arc<dyn SessionStore>, crate::ConfigError> {
    open_store(url).map_err(|e| match e {
        StoreError::Config(problem) => {
            crate::ConfigError::invalid(OptionKey::SessionStore, problem)
        }
        other => crate::ConfigError::invalid(OptionKey::SessionStore, other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_found_raw_and_decoded() {
        assert_eq!(
            url_password("postgres://u:p%40ss@h:5432/db?x=1"),
            vec!["p%40ss".to_owned(), "p@ss".to_owned()]
        );
        assert!(url_password("redis://h:6379/0").is_empty());
        assert!(url_password("redis://user@h").is_empty());
        assert_eq!(
            scrub("bad p@ss here", &url_password("redis://:p%40ss@h")),
            "bad <redacted> here"
        );
    }

    #[test]
    fn unknown_schemes_are_refused_without_credentials() {
        let e = store_option("mysql://u:secret@h/db")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("session_store"), "{e}");
        assert!(!e.contains("secret"), "{e}");
    }
}
