//! Where sessions are kept: the on-disk record format and the [`SessionStore`] trait, with
//! a JSONL file store (the default) and a memory store (`persist_session` false, tests).
//!
//! A session is an append-only list of [`SessionRecord`]s. The file store writes them to
//! `<dir>/<session id>.jsonl`, one JSON object per line, each with a single `write` of the
//! whole line (the file is unbuffered, so the line is in the OS before `append` returns).
//! Files are not fsync'ed per record: what was appended survives a crash or `kill -9` of
//! the process (it is in the page cache), not a power loss; [`SessionWriter::sync`]
//! (fsync) runs once at the end of each run. A line cut short by a crash is skipped when
//! the file is read, and the next append starts on a new line.
//!
//! On Unix the file store takes an exclusive `flock` on the session file while a run
//! appends to it, so a second process cannot run the same session at the same time; the
//! kernel drops the lock when the process dies, so a crash leaves no stale lock.
//!
//! Beside them, server-backed stores for sessions shared by many machines, chosen by a
//! `session_store` URL ([`open_store`]): PostgreSQL (`postgres`: tables, an advisory lock
//! per running session) and Redis (`redis`: lists, a lease with a fencing token); they
//! share a small runtime and the bridge to this synchronous interface (`remote`).
//!
//! A store can also be the embedder's own object (`callback`: a JavaScript object with
//! `acquire`, `append`, `release`, `load` and `list` methods).
//!
//! The parts: `record` (the format), the store interface with the rules every store
//! shares (`backend`), the file store (`file`) and the memory store (`memory`).

mod backend;
mod callback;
mod file;
mod memory;
mod postgres;
mod record;
mod redis;
mod remote;

pub use backend::is_valid_id;
pub use backend::new_session_id;
pub use backend::SessionStore;
pub use backend::SessionSummary;
pub use backend::SessionWriter;
pub use backend::StoreError;
pub use backend::SESSION_DIR_ENV;
pub use callback::check_timeout_ms;
pub use callback::CallbackStore;
pub use callback::StoreCalls;
pub use callback::StoreMethod;
pub use callback::DEFAULT_CALL_TIMEOUT;
pub use file::FileStore;
pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use record::now_ms;
pub use record::parse_records;
pub use record::trimmed_note;
pub use record::ForkOrigin;
pub use record::SessionRecord;
pub use record::StepRecord;
pub use record::SubagentTranscript;
pub use record::FORMAT_VERSION;
pub use record::TRIMMED_PREFIX;
pub use redis::RedisStore;
pub use remote::open_store;
pub use remote::store_option;
pub use remote::OP_TIMEOUT;

pub(crate) use record::apply_compaction;
pub(crate) use record::tool_use_ids;
