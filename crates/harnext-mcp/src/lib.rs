//! Model Context Protocol servers as harnext tool sources, over stdio and streamable
//! HTTP, with the official Rust SDK (`rmcp`). Knows nothing of any language binding.
//!
//! - [`McpServerConfig`]: a stdio server (a command the engine spawns) or an HTTP server
//!   (a URL), validated by [`McpManager::new`].
//! - [`McpManager`]: starts servers lazily (the first [`McpManager::tools`] call), keeps
//!   them across runs, refreshes a server's tools after `tools/list_changed`, reports
//!   servers that fail to start or die as [`McpServerFailure`]s (the run goes on without
//!   them), and shuts them down with [`McpManager::close`] or when dropped.
//! - Each MCP tool is a [`harnext_tools::Tool`] named `mcp__<server>__<tool>`: read-only
//!   when the server annotates it `readOnlyHint: true`, writing otherwise; its calls go
//!   through `tools/call` and are cancelled (with `notifications/cancelled`) with the run
//!   or after the server's `tool_timeout` ([`DEFAULT_TOOL_TIMEOUT`]). The tools of a
//!   server whose name contains `__` or ends with `_` get a hash suffix, so that two
//!   servers never offer one name.
//! - What a server sends is capped while it is read (`max_result_bytes`,
//!   [`DEFAULT_MAX_RESULT_BYTES`]): a larger tool result has its text cut, with a note.
//! - A tool whose `inputSchema` is not a JSON Schema of an object, or that has no
//!   name, is left out with an [`McpWarning`] in [`McpToolSet::warnings`]; the server's
//!   other tools stay.
//!
//! No server process outlives its manager: stdio servers run in their own process
//! group, which is killed when the server is shut down or its manager dropped.

mod cap;
mod config;
mod http;
mod manager;
mod process;
mod tool;

pub use config::servers_from_json;
pub use config::valid_server_name;
pub use config::HttpServerConfig;
pub use config::McpConfigError;
pub use config::McpServerConfig;
pub use config::StdioServerConfig;
pub use config::DEFAULT_MAX_RESULT_BYTES;
pub use config::DEFAULT_STARTUP_TIMEOUT;
pub use config::DEFAULT_TOOL_TIMEOUT;
pub use config::HTTP_FIELDS;
pub use config::MAX_RESULT_BYTES_RANGE;
pub use config::MAX_SERVER_NAME_LEN;
pub use config::STDIO_FIELDS;
pub use manager::McpManager;
pub use manager::McpServerFailure;
pub use manager::McpToolSet;
pub use manager::McpWarning;
pub use manager::Restart;
pub use process::kill_all_stdio_servers;
pub use tool::unavailable;
