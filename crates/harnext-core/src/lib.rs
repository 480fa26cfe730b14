//! The harnext agent engine, free of any language binding: configuration, the run
//! loop, sessions and cancellation. The Node binding (and later Python) wrap this crate.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use harnext_core::{Agent, AgentConfig, EventSink, RunRequest};
//! use tokio_util::sync::CancellationToken;
//!
//! let agent = Agent::new(AgentConfig::new("anthropic/claude-sonnet-4-5"))?;
//! let run = agent.start(RunRequest::text("List the files"))?;
//! let result = run.execute(CancellationToken::new(), EventSink::none()).await;
//! println!("{}", result.text);
//! # Ok(()) }
//! ```

//!
//! Modules, leaves first (none imports a module that imports it back;
//! `scripts/check-modules.mjs` checks it): `error`, `permissions`, `schema`, `prompt`,
//! `cancel`, `control` (messages and interrupts for a running run), `pricing` (list prices, a run's spend), `budget`, `hooks`, `store` (record /
//! backend / file / memory), `config`, `context` (what the
//! parts of a run share), `session` (lease / replay), `output`, `model_call` (one
//! streamed model call), `hook_calls` (running the hooks), `run_tools`, `dispatch` (one tool call's whole life),
//! `subagent` (the `agents` option and the `task` tool),
//! `batch` (a turn's calls, the read-only ones concurrently),
//! `compaction`, `approvals` (deferred decisions, answered by a later run), `turn` (a model turn, read),
//! `setup` (from a configuration to an agent), `run` (the loop), `agent`
//! (the entry point).

mod agent;
pub mod approvals;
mod batch;
pub mod budget;
pub mod cancel;
pub mod checkpoints;
pub mod compaction;
pub mod config;
mod context;
pub mod control;
mod dispatch;
mod error;
mod hook_calls;
pub mod hooks;
mod instructions;
mod model_call;
pub mod output;
pub mod permissions;
pub mod pricing;
mod prompt;
mod run;
mod run_tools;
pub mod schema;
pub mod session;
mod setup;
mod skills;
pub mod store;
pub mod subagent;
mod turn;

pub use agent::Agent;
pub use agent::RunInput;
pub use agent::RunRequest;
pub use budget::Budget;
pub use checkpoints::RewindError;
pub use checkpoints::RewindRequest;
pub use checkpoints::RewindResult;
pub use config::checkpoints_option;
pub use config::sandbox_mode_option;
pub use config::thinking_option;
pub use config::web_fetch_option;
pub use config::web_search_option;
pub use config::AgentConfig;
pub use config::SystemPrompt;
pub use context::EventSink;
pub use control::RunControl;
pub use control::SendError;
pub use error::ConfigError;
pub use error::RunError;
pub use harnext_mcp as mcp;
pub use harnext_protocol as protocol;
pub use harnext_sandbox as sandbox;
pub use hooks::FnHook;
pub use hooks::HookEvent;
pub use hooks::HookFn;
pub use hooks::Hooks;
pub use permissions::PermissionMode;
pub use run::Run;
pub use session::SessionData;
pub use session::SessionError;
pub use setup::check_tool_name;
pub use setup::InvalidToolName;
pub use store::FileStore;
pub use store::MemoryStore;
pub use store::SessionStore;
pub use store::SessionSummary;
pub use subagent::AgentDefinition;
