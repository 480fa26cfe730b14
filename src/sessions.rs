//! `Agent.listSessions()`, `Agent.loadSession()` and `Agent.forkSession()`: the sessions
//! kept in a session directory, read back from JavaScript (the methods are in
//! `agent.rs`; their work and their JavaScript shapes are here).

use std::path::PathBuf;

use harnext_core::protocol as core;
use harnext_core::protocol::OptionKey;
use harnext_core::session;
use harnext_core::FileStore;
use harnext_core::SessionStore;
use napi::bindgen_prelude::Either;
use napi_derive::napi;
use serde_json::Value;
use std::sync::Arc;

use crate::error::Invalid;
use crate::error::JsError;
use crate::error::OrJs;
use crate::events::TodoItem;
use crate::events::ToolStatus;
use crate::events::ToolStep;
use crate::events::Usage;
use crate::options::integer;
use crate::store::JsStoreSpec;

/// Options of `Agent.listSessions()` and `Agent.loadSession()`.
#[napi(object, object_to_js = false)]
pub struct SessionDirOptions {
    /// The session directory. Default: `$HARNEXT_SESSION_DIR`, else `~/.harnext/sessions`.
    pub session_dir: Option<String>,
    /// A session store URL (`"postgres://..."`, `"redis://..."`) or a `SessionStore` object
    /// instead of the directory.
    #[napi(ts_type = "string | SessionStore")]
    pub session_store: Option<Either<String, JsStoreSpec>>,
}

/// Options of `Agent.forkSession()`.
#[napi(object, object_to_js = false)]
pub struct ForkSessionOptions {
    /// How many messages of the session's history (`loadSession(id).messages`) the fork
    /// keeps. Default: all of them.
    pub at_message: Option<f64>,
    /// The session directory. Default: `$HARNEXT_SESSION_DIR`, else `~/.harnext/sessions`.
    pub session_dir: Option<String>,
    /// A session store URL (`"postgres://..."`, `"redis://..."`) or a `SessionStore` object
    /// instead of the directory.
    #[napi(ts_type = "string | SessionStore")]
    pub session_store: Option<Either<String, JsStoreSpec>>,
}

/// Where a forked session comes from.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct ForkedFrom {
    pub id: String,
    /// How many messages of the original's history the fork kept.
    pub at_message: i64,
}

/// A session as `Agent.listSessions()` lists it.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: String,
    /// Milliseconds since the Unix epoch (as `Date.now()`).
    pub created_at: f64,
    /// Milliseconds since the Unix epoch: the last time the session was written.
    pub updated_at: f64,
    /// The model string of the agent that started it.
    pub model: Option<String>,
    /// The workspace of the agent that started it.
    pub cwd: Option<String>,
    /// The beginning of its first user message.
    pub title: Option<String>,
    pub forked_from: Option<ForkedFrom>,
}

/// One block of a message of a session's history.
#[napi(discriminant = "type", discriminant_case = "snake_case")]
#[derive(Debug, Clone)]
pub enum ContentBlock {
    Text {
        text: String,
    },
    /// Model reasoning; `signature` is the provider's, sent back with the block.
    Thinking {
        thinking: String,
        signature: Option<String>,
    },
    RedactedThinking {
        data: String,
    },
    /// Reasoning only the provider that produced it can read back.
    OpaqueReasoning {
        provider: String,
        text: String,
        #[napi(ts_type = "unknown")]
        data: Value,
    },
    ToolUse {
        id: String,
        name: String,
        #[napi(ts_type = "Record<string, unknown>")]
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        content: String,
        status: ToolStatus,
    },
    /// An image (issue 18): kept inline as base64, or by URL; with `toolUseId`, part of
    /// that call's result (`read_file` of an image).
    Image {
        #[napi(
            ts_type = "{ type: 'base64'; mediaType: ImageMediaType; data: string } | { type: 'url'; url: string }"
        )]
        source: Value,
        tool_use_id: Option<String>,
    },
    /// A block of a provider's server-side web search (`webSearch`), kept as the provider
    /// sent it (its encrypted fields included) because it wants it back exactly: Anthropic's
    /// `server_tool_use`, `web_search_tool_result` and cited text blocks, OpenAI's
    /// `web_search_call` and cited `message` items. `text` is the readable text (of a cited
    /// text block; empty otherwise).
    ProviderBlock {
        provider: String,
        text: String,
        #[napi(ts_type = "unknown")]
        data: Value,
    },
}

/// One message of a session's history.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct SessionMessage {
    #[napi(ts_type = "'user' | 'assistant'")]
    pub role: String,
    pub content: Vec<ContentBlock>,
}

/// A session read back by `Agent.loadSession()`.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct SessionData {
    pub id: String,
    /// The history a run continuing the session starts from: compactions applied, tool
    /// calls that never got a result closed with `cancelled` results.
    pub messages: Vec<SessionMessage>,
    /// Every tool call of the session, in order (also those a compaction summarized).
    pub steps: Vec<ToolStep>,
    /// The sum of every model call's usage.
    pub usage: Usage,
    /// Paths relative to `cwd`, sorted, changed by the session's runs.
    pub files_changed: Vec<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at: f64,
    pub updated_at: f64,
    pub model: Option<String>,
    pub cwd: Option<String>,
    pub forked_from: Option<ForkedFrom>,
    /// How many runs the session had.
    pub runs: u32,
    /// How many times its history was compacted.
    pub compactions: u32,
    /// Tools allowed without asking for the rest of the session (`remember: true`).
    pub allowed_tools: Vec<String>,
    /// Tool calls waiting for approvals (deferred decisions): answer them with
    /// `agent.run({ approvals: { [id]: decision } }, { sessionId })`.
    pub pending_approvals: Vec<WaitingCall>,
    /// The task list the model keeps with `todo_write`, as it is now (empty when none).
    pub todos: Vec<TodoItem>,
    /// The transcripts of the subagents its `task` calls ran (the `agents` option), in
    /// the order they ended.
    pub subagents: Vec<SubagentTranscript>,
}

/// A subagent's run, kept in its parent's session.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct SubagentTranscript {
    /// The parent's `task` call that ran it.
    pub call_id: String,
    /// Its name: a key of the `agents` option.
    pub agent: String,
    /// Its conversation: the prompt first, then its turns and tool results.
    pub messages: Vec<SessionMessage>,
    /// Its model calls' usage (also counted in the session's `usage`).
    pub usage: Usage,
    pub stop_reason: crate::events::StopReason,
}

/// A tool call of a session waiting for an approval.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct WaitingCall {
    pub id: String,
    pub tool: String,
    #[napi(ts_type = "Record<string, unknown>")]
    pub args: Value,
}

fn ms(n: u64) -> f64 {
    // Milliseconds since 1970 stay far below 2^53.
    #[allow(clippy::cast_precision_loss)]
    let f = n as f64;
    f
}

fn int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn store(
    session_dir: Option<String>,
    session_store: Option<Either<String, JsStoreSpec>>,
) -> napi::Result<Arc<dyn SessionStore>> {
    match session_store {
        Some(Either::A(url)) => return harnext_core::store::store_option(&url).or_js(),
        Some(Either::B(spec)) => return crate::store::js_store(spec).or_js(),
        None => {}
    }
    let dir = match session_dir {
        Some(d) if d.trim().is_empty() => {
            return Err(Invalid(format!(
                "invalid option `{}`: expected a directory path, got an empty string",
                OptionKey::SessionDir
            )))
            .or_js()
        }
        Some(d) => PathBuf::from(d),
        None => FileStore::default_dir().or_js()?,
    };
    Ok(Arc::new(FileStore::new(dir)))
}

/// Runs blocking file work off the JavaScript thread and off the async workers.
async fn blocking<T: Send + 'static, E: JsError + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> napi::Result<T> {
    tokio::task::spawn_blocking(f).await.or_js()?.or_js()
}

fn forked_from(f: Option<harnext_core::store::ForkOrigin>) -> Option<ForkedFrom> {
    f.map(|f| ForkedFrom {
        id: f.id,
        at_message: int(f.at_message),
    })
}

impl From<core::ContentBlock> for ContentBlock {
    fn from(b: core::ContentBlock) -> Self {
        match b {
            core::ContentBlock::Text { text } => ContentBlock::Text { text },
            core::ContentBlock::Thinking {
                thinking,
                signature,
            } => ContentBlock::Thinking {
                thinking,
                signature,
            },
            core::ContentBlock::RedactedThinking { data } => {
                ContentBlock::RedactedThinking { data }
            }
            core::ContentBlock::OpaqueReasoning {
                provider,
                text,
                data,
            } => ContentBlock::OpaqueReasoning {
                provider,
                text,
                data,
            },
            core::ContentBlock::ToolUse { id, name, input } => {
                ContentBlock::ToolUse { id, name, input }
            }
            core::ContentBlock::ToolResult {
                tool_use_id,
                content,
                status,
            } => ContentBlock::ToolResult {
                tool_use_id,
                content,
                status: status.into(),
            },
            core::ContentBlock::Image {
                source,
                tool_use_id,
            } => ContentBlock::Image {
                source: match source {
                    core::ImageSource::Base64 { media_type, data } => {
                        serde_json::json!({ "type": "base64", "mediaType": media_type, "data": data })
                    }
                    core::ImageSource::Url { url } => {
                        serde_json::json!({ "type": "url", "url": url })
                    }
                    // Never kept: paths are read when the run starts.
                    core::ImageSource::Path { path } => {
                        serde_json::json!({ "type": "path", "path": path })
                    }
                },
                tool_use_id,
            },
            core::ContentBlock::ProviderBlock {
                provider,
                text,
                data,
            } => ContentBlock::ProviderBlock {
                provider,
                text,
                data,
            },
        }
    }
}

impl From<core::Message> for SessionMessage {
    fn from(m: core::Message) -> Self {
        SessionMessage {
            role: match m.role {
                core::Role::User => "user".to_owned(),
                core::Role::Assistant => "assistant".to_owned(),
            },
            content: m.content.into_iter().map(ContentBlock::from).collect(),
        }
    }
}

/// The sessions in a session directory, newest (last updated) first.
pub async fn list(options: Option<SessionDirOptions>) -> napi::Result<Vec<SessionInfo>> {
    let (dir, url) = options.map_or((None, None), |o| (o.session_dir, o.session_store));
    let store = store(dir, url)?;
    let list = blocking(move || session::list(store.as_ref())).await?;
    Ok(list
        .into_iter()
        .map(|s| SessionInfo {
            id: s.id,
            created_at: ms(s.created_at),
            updated_at: ms(s.updated_at),
            model: s.model,
            cwd: s.cwd,
            title: s.title,
            forked_from: forked_from(s.forked_from),
        })
        .collect())
}

/// A session read back.
pub async fn load(id: String, options: Option<SessionDirOptions>) -> napi::Result<SessionData> {
    let (dir, url) = options.map_or((None, None), |o| (o.session_dir, o.session_store));
    let store = store(dir, url)?;
    let d = blocking(move || session::load(store.as_ref(), &id)).await?;
    Ok(SessionData {
        id: d.id,
        messages: d.messages.into_iter().map(SessionMessage::from).collect(),
        steps: d.steps.into_iter().map(ToolStep::from).collect(),
        usage: d.usage.into(),
        files_changed: d.files_changed,
        created_at: ms(d.created_at),
        updated_at: ms(d.updated_at),
        model: d.model,
        cwd: d.cwd,
        forked_from: forked_from(d.forked_from),
        runs: d.runs,
        compactions: d.compactions,
        allowed_tools: d.allowed_tools,
        pending_approvals: d
            .pending_approvals
            .into_iter()
            .map(|p| WaitingCall {
                id: p.id,
                tool: p.tool,
                args: p.args,
            })
            .collect(),
        todos: d.todos.into_iter().map(TodoItem::from).collect(),
        subagents: d
            .subagents
            .into_iter()
            .map(|t| SubagentTranscript {
                call_id: t.call_id,
                agent: t.agent,
                messages: t.messages.into_iter().map(SessionMessage::from).collect(),
                usage: t.usage.into(),
                stop_reason: t.stop_reason.into(),
            })
            .collect(),
    })
}

/// Copies a session into a new one in the same directory; the new id.
pub async fn fork(id: String, options: Option<ForkSessionOptions>) -> napi::Result<String> {
    let (at, dir, url) = match options {
        Some(o) => (o.at_message, o.session_dir, o.session_store),
        None => (None, None, None),
    };
    let at = match at {
        None => None,
        Some(v) => {
            let n = integer(v, 0, u32::MAX)
                .map_err(|p| Invalid(format!("invalid option `{}`: {p}", OptionKey::AtMessage)))
                .or_js()?;
            Some(usize::try_from(n).unwrap_or(usize::MAX))
        }
    };
    let store = store(dir, url)?;
    blocking(move || session::fork(store.as_ref(), &id, at)).await
}
