//! The Node.js binding of harnext: option conversion, events, callbacks, errors. No
//! engine logic lives here; it is all in `harnext-core`.

// napi-rs passes owned values into exported functions.
#![allow(clippy::needless_pass_by_value)]

mod abort;
mod agent;
mod callbacks;
mod events;
mod mcp;
mod options;
mod sessions;
mod stream;

pub use agent::builtin_tool_names;
pub use agent::Agent;
pub use callbacks::PermissionRequest;
pub use events::AgentEvent;
pub use events::ErrorCode;
pub use events::HarnextError;
pub use events::RunResult;
pub use events::StopReason;
pub use events::ToolStatus;
pub use events::ToolStep;
pub use events::Usage;
pub use mcp::McpHttpServer;
pub use mcp::McpStdioServer;
pub use options::AgentOptions;
pub use options::InputMessage;
pub use options::ScriptToolCall;
pub use options::ScriptTurn;
pub use options::ScriptUsage;
pub use options::SystemPromptAppend;
pub use options::ThinkingOptions;
pub use sessions::ContentBlock;
pub use sessions::ForkSessionOptions;
pub use sessions::ForkedFrom;
pub use sessions::SessionData;
pub use sessions::SessionDirOptions;
pub use sessions::SessionInfo;
pub use sessions::SessionMessage;
pub use stream::EventStream;
