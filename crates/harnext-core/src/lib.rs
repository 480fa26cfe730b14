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

mod agent;
pub mod compaction;
pub mod config;
pub mod output;
pub mod permissions;
mod prompt;
mod run;
mod run_tools;
pub mod schema;
pub mod session;
pub mod store;

pub use agent::Agent;
pub use agent::RunError;
pub use agent::RunInput;
pub use agent::RunRequest;
pub use config::AgentConfig;
pub use config::ConfigError;
pub use config::PermissionMode;
pub use config::SystemPrompt;
pub use harnext_mcp as mcp;
pub use harnext_protocol as protocol;
pub use harnext_sandbox as sandbox;
pub use run::EventSink;
pub use run::Run;
pub use session::SessionData;
pub use session::SessionError;
pub use store::FileStore;
pub use store::MemoryStore;
pub use store::SessionStore;
pub use store::SessionSummary;
