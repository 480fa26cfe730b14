//! The Node.js binding of harnext: option conversion, events, callbacks, errors. No
//! engine logic lives here; it is all in `harnext-core`.
//!
//! Modules, leaves first (none imports a module that imports it back; `npm test` checks
//! it with `scripts/check-modules.mjs`): `error` (the one error conversion), `events`,
//! `callbacks`, `hooks`, `tools`, `mcp`, `options`, `sessions`, `stream`, and `agent`, the class
//! with every method JavaScript sees.

// napi-rs passes owned values into exported functions.
#![allow(clippy::needless_pass_by_value)]

mod agent;
mod callbacks;
mod error;
mod events;
mod hooks;
mod mcp;
mod options;
mod sessions;
mod store;
mod stream;
mod tools;

pub use agent::Agent;
pub use agent::SendOptions;
pub use callbacks::OutputSchemaSpec;
pub use callbacks::PermissionRequest;
pub use events::AgentEvent;
pub use events::ErrorCode;
pub use events::HarnextError;
pub use events::RunResult;
pub use events::StopReason;
pub use events::ToolStatus;
pub use events::ToolStep;
pub use events::Usage;
pub use hooks::HookEntry;
pub use hooks::HooksSpec;
pub use mcp::McpHttpServer;
pub use mcp::McpStdioServer;
pub use options::option_names_problem;
pub use options::AgentOptions;
pub use options::ApprovalsInput;
pub use options::InputMessage;
pub use options::RunOptions;
pub use options::ScriptToolCall;
pub use options::ScriptTurn;
pub use options::ScriptUsage;
pub use options::SystemPromptAppend;
pub use options::ThinkingOptions;
pub use options::WebFetchOptions;
pub use options::WebSearchOptions;
pub use options::WebSearchUserLocation;
pub use sessions::ContentBlock;
pub use sessions::ForkSessionOptions;
pub use sessions::ForkedFrom;
pub use sessions::SessionData;
pub use sessions::SessionDirOptions;
pub use sessions::SessionInfo;
pub use sessions::SessionMessage;
pub use stream::EventStream;
pub use tools::builtin_tool_names;
pub use tools::tool_name_problem;
pub use tools::JsToolDefinition;
