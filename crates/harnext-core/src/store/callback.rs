//! A session store made of the embedder's own methods (`sessionStore: { acquire, append,
//! release, load, list }` in JavaScript), so that users keep sessions where they like
//! (S3, DynamoDB, a table of their own) without writing Rust.
//!
//! A binding only converts and calls ([`StoreCalls`]: a method's name and its arguments as
//! JSON, its answer as JSON or the message of what it threw). The rules are here, the
//! same for every binding:
//! - `acquire(sessionId)` takes a session for one run before anything is written to it
//!   (a new session too) and answers a lease, a non-empty string, or `null` when another
//!   run holds the session: that run is refused. Within the process, the engine's registry
//!   of running sessions refuses a second run before the store is asked.
//! - `append(sessionId, records, lease)` adds records at the end of the session, in order,
//!   all of them or none, and settles once they are stored. Each completed message is one
//!   call, made before the run takes its next step; a call that fails (or does not settle
//!   in time) stops the run with a `session_store` error, and nothing is written after it.
//!   A store shared by machines must refuse (throw) an `append` whose lease no longer
//!   holds the session (a fencing token), so a run that lost its lease cannot write.
//! - `release(sessionId, lease)` when the run ends (awaited, so the session is free when
//!   the run's end is reported). A store whose leases must outlive a dead process expires
//!   them itself (a time to live): the engine cannot release for a process that died.
//! - `load(sessionId)` answers the records in order (objects, or their JSON text), or
//!   `null` for no such session; `list()` answers every session id.
//!
//! Every call has a time limit ([`DEFAULT_CALL_TIMEOUT`] unless the store says otherwise).
//! A throw, a rejection, an answer of the wrong shape or a call that does not settle in
//! time is a [`StoreError::Backend`] naming the method.
//!
//! The records are those of the other stores ([`SessionRecord`], snake_case fields, a
//! `type` tag), with secrets already redacted as everywhere in a session. A record of a
//! type this build does not know (written by a later version) is skipped when read, as in
//! the file store; an answer that is not a record at all is an error.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::store::backend::check_id;
use crate::store::backend::sort_newest_first;
use crate::store::backend::SessionStore;
use crate::store::backend::SessionSummary;
use crate::store::backend::SessionWriter;
use crate::store::backend::StoreError;
use crate::store::record::SessionRecord;
use crate::store::remote::block_within;
use crate::store::remote::spawn;

/// A call's time limit unless the store sets its own (as the server-backed stores').
pub const DEFAULT_CALL_TIMEOUT: Duration = crate::store::remote::OP_TIMEOUT;

/// The longest time limit a store may set (an hour).
pub const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(3600);

/// The methods of a store written in the embedding's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMethod {
    Acquire,
    Append,
    Release,
    Load,
    List,
}

impl StoreMethod {
    pub const ALL: [StoreMethod; 5] = [
        StoreMethod::Acquire,
        StoreMethod::Append,
        StoreMethod::Release,
        StoreMethod::Load,
        StoreMethod::List,
    ];

    /// The method's name, as the object has it.
    pub fn name(self) -> &'static str {
        match self {
            StoreMethod::Acquire => "acquire",
            StoreMethod::Append => "append",
            StoreMethod::Release => "release",
            StoreMethod::Load => "load",
            StoreMethod::List => "list",
        }
    }
}

/// What a binding provides: calls of the store object's methods.
pub trait StoreCalls: Send + Sync + 'static {
    /// Calls `method` with `args`; resolves with its answer (`Null` for none), or with the
    /// message of what it threw or rejected with. The future may be polled on any thread.
    fn call(
        &self,
        method: StoreMethod,
        args: Vec<Value>,
    ) -> BoxFuture<'static, Result<Value, String>>;

    /// Whether the current thread may wait for a call's answer: not the thread that runs
    /// the methods (JavaScript's), which would wait for itself.
    fn may_wait(&self) -> bool {
        true
    }
}

/// A session store whose operations are the calls of [`StoreCalls`]. Clones share it.
#[derive(Clone)]
pub struct CallbackStore {
    inner: Arc<Inner>,
}

struct Inner {
    calls: Arc<dyn StoreCalls>,
    key: String,
    label: String,
    timeout: Duration,
}

impl std::fmt::Debug for CallbackStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackStore")
            .field("key", &self.inner.key)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// What is wrong with a time limit a store asks for, if anything.
pub fn check_timeout_ms(ms: f64) -> Result<Duration, String> {
    let max = MAX_CALL_TIMEOUT.as_millis();
    if ms.is_finite() && ms.fract() == 0.0 && ms >= 1.0 && ms <= max as f64 {
        // In range and whole: the cast is exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = ms as u64;
        Ok(Duration::from_millis(whole))
    } else {
        Err(format!(
            "`timeoutMs` must be a whole number of milliseconds from 1 to {max}, got {ms}"
        ))
    }
}

impl CallbackStore {
    /// A store calling `calls`. `key` tells stores apart in the process (the same object
    /// given to two agents should give the same key, so that the process refuses a second
    /// run of a session before asking the store); `label` names it in messages.
    pub fn new(
        calls: Arc<dyn StoreCalls>,
        key: impl Into<String>,
        label: impl Into<String>,
        timeout: Duration,
    ) -> Self {
        CallbackStore {
            inner: Arc::new(Inner {
                calls,
                key: key.into(),
                label: label.into(),
                timeout,
            }),
        }
    }

    fn error(&self, method: StoreMethod, message: impl std::fmt::Display) -> StoreError {
        StoreError::Backend {
            store: self.inner.label.clone(),
            message: format!("`{}` {message}", method.name()),
        }
    }

    /// Calls `method` and waits for its answer, within the time limit.
    fn call(&self, method: StoreMethod, args: Vec<Value>) -> Result<Value, StoreError> {
        if !self.inner.calls.may_wait() {
            return Err(self.error(
                method,
                "cannot be called from the thread that runs the store's methods (it would wait for itself)",
            ));
        }
        let fut = self.inner.calls.call(method, args);
        let limit = self.inner.timeout;
        let this = self.clone();
        // The outer limit only guards the bridge: the call's own ends first.
        block_within(
            &self.inner.label,
            limit + Duration::from_secs(5),
            async move {
                match tokio::time::timeout(limit, fut).await {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(e)) => Err(this.error(method, format!("failed: {e}"))),
                    Err(_) => Err(this.error(
                        method,
                        format!(
                            "did not settle within {} ms (the store's `timeoutMs`)",
                            limit.as_millis()
                        ),
                    )),
                }
            },
        )
    }

    fn garbage(&self, method: StoreMethod, got: &Value, expected: &str) -> StoreError {
        self.error(
            method,
            format!("answered {}, expected {expected}", describe(got)),
        )
    }

    /// `load`'s answer as records; `None` for no such session.
    fn records(&self, answer: Value) -> Result<Option<Vec<SessionRecord>>, StoreError> {
        const EXPECTED: &str = "an array of session records or null";
        let items = match answer {
            Value::Null => return Ok(None),
            Value::Array(items) => items,
            other => return Err(self.garbage(StoreMethod::Load, &other, EXPECTED)),
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let item = match item {
                Value::String(text) => serde_json::from_str::<Value>(&text).map_err(|e| {
                    self.error(
                        StoreMethod::Load,
                        format!("answered a record [{i}] that is not JSON: {e}"),
                    )
                })?,
                other => other,
            };
            if !item.get("type").is_some_and(Value::is_string) {
                return Err(self.error(
                    StoreMethod::Load,
                    format!(
                        "answered {} at [{i}], expected a session record (an object with a `type`)",
                        describe(&item)
                    ),
                ));
            }
            let mut item = item;
            whole_numbers(&mut item);
            match serde_json::from_value::<SessionRecord>(item) {
                Ok(record) => out.push(record),
                // A record type of a later version: skipped, as in session files.
                Err(e) if e.to_string().starts_with("unknown variant") => {}
                Err(e) => {
                    return Err(self.error(
                        StoreMethod::Load,
                        format!("answered a record [{i}] that cannot be read: {e}"),
                    ))
                }
            }
        }
        Ok(Some(out))
    }

    fn release(&self, id: String, lease: String) {
        let args = vec![Value::String(id), Value::String(lease)];
        if self.inner.calls.may_wait() {
            // Waited for, so that the session is free when the run's end is reported. A
            // failure cannot be reported any more: the store's lease expiry is the remedy.
            let _ = self.call(StoreMethod::Release, args);
        } else {
            let fut = self.inner.calls.call(StoreMethod::Release, args);
            let limit = self.inner.timeout;
            spawn(async move {
                let _ = tokio::time::timeout(limit, fut).await;
            });
        }
    }
}

/// Whole numbers given as floats (a JavaScript number crosses as one) made integers again,
/// so that integer fields (`ts`, token counts) read back.
fn whole_numbers(v: &mut Value) {
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0) {
                // In range (checked): the casts are exact.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                    *v = Value::from(f as u64);
                } else if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
                    *v = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

/// A value as a message shows it, short.
fn describe(v: &Value) -> String {
    let text = v.to_string();
    let text = if text.chars().count() > 60 {
        format!("{}...", text.chars().take(60).collect::<String>())
    } else {
        text
    };
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(_) => format!("a boolean {text}"),
        Value::Number(_) => format!("a number {text}"),
        Value::String(_) => format!("a string {text}"),
        Value::Array(_) => format!("an array {text}"),
        Value::Object(_) => format!("an object {text}"),
    }
}

impl SessionStore for CallbackStore {
    fn key(&self) -> String {
        format!("callback:{}", self.inner.key)
    }

    fn location(&self) -> String {
        self.inner.label.clone()
    }

    fn read(&self, id: &str) -> Result<Option<Vec<SessionRecord>>, StoreError> {
        check_id(id)?;
        let answer = self.call(StoreMethod::Load, vec![Value::String(id.to_owned())])?;
        self.records(answer)
    }

    fn open(&self, id: &str, create: bool) -> Result<Box<dyn SessionWriter>, StoreError> {
        check_id(id)?;
        let answer = self.call(StoreMethod::Acquire, vec![Value::String(id.to_owned())])?;
        let lease = match answer {
            Value::Null | Value::Bool(false) => return Err(StoreError::Locked(id.to_owned())),
            Value::String(s) if !s.is_empty() => s,
            other => {
                return Err(self.garbage(
                    StoreMethod::Acquire,
                    &other,
                    "a lease (a non-empty string), or null when another run holds the session",
                ))
            }
        };
        let writer = CallbackWriter {
            store: self.clone(),
            id: id.to_owned(),
            lease,
        };
        if !create {
            // Dropping the writer releases the lease.
            match self.read(id)? {
                Some(records) if !records.is_empty() => {}
                _ => return Err(StoreError::NotFound(id.to_owned())),
            }
        }
        Ok(Box::new(writer))
    }

    fn list(&self) -> Result<Vec<SessionSummary>, StoreError> {
        const EXPECTED: &str = "an array of session ids";
        let ids = match self.call(StoreMethod::List, Vec::new())? {
            Value::Array(ids) => ids,
            other => return Err(self.garbage(StoreMethod::List, &other, EXPECTED)),
        };
        let mut out = Vec::with_capacity(ids.len());
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            let Some(id) = id.as_str().filter(|s| crate::store::is_valid_id(s)) else {
                return Err(self.garbage(
                    StoreMethod::List,
                    &id,
                    "session ids (letters, digits, `_` or `-`)",
                ));
            };
            if !seen.insert(id.to_owned()) {
                continue;
            }
            // A session removed since it was listed is not listed.
            if let Some(records) = self.read(id)? {
                if let Some(summary) = SessionSummary::from_head(&records, None) {
                    out.push(summary);
                }
            }
        }
        sort_newest_first(&mut out);
        Ok(out)
    }
}

struct CallbackWriter {
    store: CallbackStore,
    id: String,
    lease: String,
}

impl SessionWriter for CallbackWriter {
    fn append(&mut self, record: &SessionRecord) -> Result<(), StoreError> {
        self.append_all(std::slice::from_ref(record))
    }

    fn append_all(&mut self, records: &[SessionRecord]) -> Result<(), StoreError> {
        let records = records
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<Value>, _>>()
            .map_err(|e| StoreError::Encode(e.to_string()))?;
        self.store.call(
            StoreMethod::Append,
            vec![
                Value::String(self.id.clone()),
                Value::Array(records),
                Value::String(self.lease.clone()),
            ],
        )?;
        Ok(())
    }
}

impl Drop for CallbackWriter {
    fn drop(&mut self) {
        self.store.release(
            std::mem::take(&mut self.id),
            std::mem::take(&mut self.lease),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use harnext_protocol::Message;
    use serde_json::json;

    use super::*;
    use crate::session::SessionMeta;

    /// A store object as a binding would call it: sessions in a map, a lease per session.
    #[derive(Default)]
    struct MapCalls {
        sessions: Mutex<HashMap<String, Vec<Value>>>,
        leases: Mutex<HashMap<String, String>>,
        /// Answers given instead of the real ones, by method.
        fake: Mutex<HashMap<&'static str, Fake>>,
        log: Mutex<Vec<String>>,
    }

    #[derive(Clone)]
    enum Fake {
        Answer(Value),
        Fail(&'static str),
        Hang,
    }

    impl StoreCalls for MapCalls {
        fn call(
            &self,
            method: StoreMethod,
            args: Vec<Value>,
        ) -> BoxFuture<'static, Result<Value, String>> {
            let s = |i: usize| args[i].as_str().unwrap_or_default().to_owned();
            self.log.lock().unwrap().push(method.name().to_owned());
            let fake = self.fake.lock().unwrap().get(method.name()).cloned();
            let answer = match fake {
                Some(Fake::Answer(v)) => Ok(v),
                Some(Fake::Fail(m)) => Err(m.to_owned()),
                Some(Fake::Hang) => return Box::pin(futures::future::pending()),
                None => match method {
                    StoreMethod::Acquire => {
                        let mut leases = self.leases.lock().unwrap();
                        if leases.contains_key(&s(0)) {
                            Ok(Value::Null)
                        } else {
                            let token = format!("t{}", leases.len() + 1);
                            leases.insert(s(0), token.clone());
                            Ok(Value::String(token))
                        }
                    }
                    StoreMethod::Release => {
                        let mut leases = self.leases.lock().unwrap();
                        if leases.get(&s(0)) == Some(&s(1)) {
                            leases.remove(&s(0));
                        }
                        Ok(Value::Null)
                    }
                    StoreMethod::Append => {
                        if self.leases.lock().unwrap().get(&s(0)) != Some(&s(2)) {
                            Err("lease lost".to_owned())
                        } else {
                            let records = args[1].as_array().cloned().unwrap_or_default();
                            self.sessions
                                .lock()
                                .unwrap()
                                .entry(s(0))
                                .or_default()
                                .extend(records);
                            Ok(Value::Null)
                        }
                    }
                    StoreMethod::Load => Ok(self
                        .sessions
                        .lock()
                        .unwrap()
                        .get(&s(0))
                        .map_or(Value::Null, |r| Value::Array(r.clone()))),
                    StoreMethod::List => Ok(Value::Array(
                        self.sessions
                            .lock()
                            .unwrap()
                            .keys()
                            .map(|k| Value::String(k.clone()))
                            .collect(),
                    )),
                },
            };
            Box::pin(async move { answer })
        }
    }

    fn store(calls: &Arc<MapCalls>, timeout_ms: u64) -> Arc<dyn SessionStore> {
        Arc::new(CallbackStore::new(
            calls.clone(),
            format!("test{}", fastrand::u64(..)),
            "(test store)",
            Duration::from_millis(timeout_ms),
        ))
    }

    fn fake(calls: &MapCalls, method: &'static str, f: Fake) {
        calls.fake.lock().unwrap().insert(method, f);
    }

    #[test]
    fn a_run_appends_through_the_calls_and_a_resume_reads_them_back() {
        let calls = Arc::new(MapCalls::default());
        let store = store(&calls, 2000);
        let lease = crate::session::acquire(&store, None, SessionMeta::default()).unwrap();
        lease.begin();
        lease.append(Message::user_text("hello"));
        let id = lease.id().to_owned();
        // The header went with the first record, in one append.
        let first_append = calls.sessions.lock().unwrap()[&id].clone();
        assert_eq!(first_append[0]["type"], "session");
        assert_eq!(first_append[1]["type"], "run_start");
        assert!(lease.failure().is_none());
        drop(lease);
        assert!(calls.leases.lock().unwrap().is_empty(), "released on drop");
        let again = crate::session::acquire(&store, Some(&id), SessionMeta::default()).unwrap();
        assert_eq!(again.messages(), vec![Message::user_text("hello")]);
        drop(again);
        let listed = store.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].title.as_deref(), Some("hello"));
        let fork = crate::session::fork(store.as_ref(), &id, None).unwrap();
        let forked = crate::session::load(store.as_ref(), &fork).unwrap();
        assert_eq!(forked.messages, vec![Message::user_text("hello")]);
        assert!(calls.leases.lock().unwrap().is_empty());
    }

    #[test]
    fn a_session_held_elsewhere_is_locked_and_a_missing_one_not_found() {
        let calls = Arc::new(MapCalls::default());
        let store = store(&calls, 2000);
        let mut w = store.open("sess_a", true).unwrap();
        w.append(&SessionRecord::RunStart { ts: 1 }).unwrap();
        // Another process (another store over the same calls) is refused.
        let other = self::store(&calls, 2000);
        assert!(matches!(
            other.open("sess_a", false),
            Err(StoreError::Locked(_))
        ));
        drop(w);
        assert!(matches!(
            other.open("sess_none", false),
            Err(StoreError::NotFound(_))
        ));
        // The lease of the missing session was given back.
        assert!(calls.leases.lock().unwrap().is_empty());
    }

    fn message(e: impl std::fmt::Display) -> String {
        e.to_string()
    }

    #[test]
    fn every_failure_names_the_method() {
        let calls = Arc::new(MapCalls::default());
        let store = store(&calls, 150);
        fake(&calls, "load", Fake::Fail("Error: bucket gone"));
        let e = message(store.read("sess_a").unwrap_err());
        assert!(e.contains("`load` failed: Error: bucket gone"), "{e}");
        fake(&calls, "load", Fake::Answer(json!(42)));
        let e = message(store.read("sess_a").unwrap_err());
        assert!(e.contains("`load` answered a number 42"), "{e}");
        fake(&calls, "load", Fake::Answer(json!([{"no": "type"}])));
        let e = message(store.read("sess_a").unwrap_err());
        assert!(e.contains("`load` answered an object"), "{e}");
        fake(
            &calls,
            "load",
            Fake::Answer(json!([{"type": "message", "ts": 1}])),
        );
        let e = message(store.read("sess_a").unwrap_err());
        assert!(e.contains("cannot be read"), "{e}");
        // A record of a later version is skipped; JSON text is read too.
        fake(
            &calls,
            "load",
            Fake::Answer(json!([{"type": "later", "ts": 1}, "{\"type\":\"run_start\",\"ts\":2}"])),
        );
        assert_eq!(
            store.read("sess_a").unwrap(),
            Some(vec![SessionRecord::RunStart { ts: 2 }])
        );
        // Numbers as JavaScript hands them over (floats) read back as integers.
        fake(
            &calls,
            "load",
            Fake::Answer(json!([{"type": "run_start", "ts": 1_796_492_497_319.0_f64}])),
        );
        assert_eq!(
            store.read("sess_a").unwrap(),
            Some(vec![SessionRecord::RunStart {
                ts: 1_796_492_497_319
            }])
        );
        fake(&calls, "load", Fake::Hang);
        let e = message(store.read("sess_a").unwrap_err());
        assert!(e.contains("`load` did not settle within 150 ms"), "{e}");
        fake(&calls, "acquire", Fake::Answer(json!({"lease": 1})));
        let e = message(store.open("sess_a", true).err().unwrap());
        assert!(e.contains("`acquire` answered an object"), "{e}");
        fake(&calls, "list", Fake::Answer(json!(["../etc"])));
        let e = message(store.list().unwrap_err());
        assert!(e.contains("`list` answered a string \"../etc\""), "{e}");
        fake(&calls, "list", Fake::Answer(json!({})));
        assert!(message(store.list().unwrap_err()).contains("`list` answered an object"));
    }

    #[test]
    fn a_failed_append_stops_the_writes_and_still_releases() {
        let calls = Arc::new(MapCalls::default());
        let store = store(&calls, 150);
        let lease = crate::session::acquire(&store, None, SessionMeta::default()).unwrap();
        lease.begin();
        let id = lease.id().to_owned();
        fake(&calls, "append", Fake::Hang);
        lease.append(Message::user_text("lost"));
        let failure = lease.failure().unwrap();
        assert!(failure.contains("`append` did not settle"), "{failure}");
        calls.fake.lock().unwrap().clear();
        lease.append(Message::user_text("not written after a failure"));
        drop(lease);
        assert_eq!(calls.sessions.lock().unwrap()[&id].len(), 2);
        assert!(calls.leases.lock().unwrap().is_empty());
    }

    /// Calls that may not be waited for here (as on JavaScript's thread).
    struct NoWait(MapCalls);

    impl StoreCalls for NoWait {
        fn call(
            &self,
            method: StoreMethod,
            args: Vec<Value>,
        ) -> BoxFuture<'static, Result<Value, String>> {
            self.0.call(method, args)
        }
        fn may_wait(&self) -> bool {
            false
        }
    }

    #[test]
    fn the_thread_that_answers_never_waits_for_itself() {
        let calls = Arc::new(NoWait(MapCalls::default()));
        let store = CallbackStore::new(calls.clone(), "k", "(test store)", DEFAULT_CALL_TIMEOUT);
        let e = message(store.read("sess_a").unwrap_err());
        assert!(e.contains("`load` cannot be called from the thread"), "{e}");
        // A writer dropped there releases without waiting.
        calls
            .0
            .leases
            .lock()
            .unwrap()
            .insert("sess_a".into(), "t".into());
        drop(CallbackWriter {
            store: store.clone(),
            id: "sess_a".into(),
            lease: "t".into(),
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !calls.0.leases.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never released");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn time_limits_are_checked() {
        assert_eq!(check_timeout_ms(250.0), Ok(Duration::from_millis(250)));
        for bad in [0.0, -1.0, 1.5, f64::NAN, 4_000_000.0] {
            assert!(check_timeout_ms(bad).is_err(), "{bad}");
        }
    }
}
