//! `mcpServers` of `new Agent()`: `{ [name]: McpStdioServer | McpHttpServer }`, into the
//! core's MCP server configuration. Unknown fields are refused with the closest known
//! one ("did you mean"), so a typo does not pass silently.

use std::collections::HashMap;

use harnext_core::mcp::servers_from_json;
use harnext_core::mcp::McpServerConfig;
use harnext_core::protocol::OptionKey;
use harnext_core::ConfigError;
use napi_derive::napi;
use serde::Deserialize;
use serde_json::Value;

/// An MCP server the engine starts and talks to over its stdin/stdout. Its stderr is
/// kept apart (its last lines appear in error messages).
#[napi(object, object_to_js = false)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpStdioServer {
    /// The program (found on `PATH` unless it is a path), e.g. `"node"`.
    pub command: String,
    pub args: Option<Vec<String>>,
    /// Added to the environment of the agent's process.
    pub env: Option<HashMap<String, String>>,
    /// The server's working directory; relative to the agent's `cwd`. Default: the agent's `cwd`.
    pub cwd: Option<String>,
    /// How long starting may take: spawn and `initialize`, then `tools/list`, each. Default 30000.
    pub startup_timeout_ms: Option<f64>,
    /// `false` runs this server outside the agent's sandbox. Default `true`.
    pub sandbox: Option<bool>,
    /// How long one tool call may take before it fails with an error result. Default 600000.
    pub tool_timeout_ms: Option<f64>,
    /// The most bytes of one tool result kept while it is read (1024 to 16 MiB); a longer
    /// result is cut, with a note. Default 1048576.
    pub max_result_bytes: Option<f64>,
}

/// A remote MCP server over streamable HTTP.
#[napi(object, object_to_js = false)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpHttpServer {
    /// The server's MCP endpoint, `http://` or `https://`.
    pub url: String,
    /// Sent with every request, e.g. `{ Authorization: "Bearer ..." }`.
    pub headers: Option<HashMap<String, String>>,
    /// How long connecting and `initialize`, then `tools/list`, may take, each. Default 30000.
    pub startup_timeout_ms: Option<f64>,
    /// How long one tool call may take before it fails with an error result. Default 600000.
    pub tool_timeout_ms: Option<f64>,
    /// The most bytes of one tool result kept while it is read (1024 to 16 MiB); a longer
    /// result is cut, with a note. Default 1048576.
    pub max_result_bytes: Option<f64>,
}

fn invalid(problem: impl Into<String>) -> ConfigError {
    ConfigError::invalid(OptionKey::McpServers, problem)
}

/// The neutral key `startup_timeout_ms` as JavaScript spells it: `startupTimeoutMs`.
pub(crate) fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The servers, by name (sorted: the order their tools are offered in), read by the
/// engine (`harnext_core::mcp::servers_from_json`) with their fields in camelCase. Names
/// and the rest are checked by the core when the agent is built.
pub fn mcp_servers(value: Value) -> Result<Vec<(String, McpServerConfig)>, ConfigError> {
    servers_from_json(&value, &camel).map_err(invalid)
}
