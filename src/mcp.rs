//! `mcpServers` of `new Agent()`: `{ [name]: McpStdioServer | McpHttpServer }`, into the
//! core's MCP server configuration. Unknown fields are refused, so a typo does not pass
//! silently.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use harnext_core::mcp::HttpServerConfig;
use harnext_core::mcp::McpServerConfig;
use harnext_core::mcp::StdioServerConfig;
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
}

fn invalid(problem: impl Into<String>) -> ConfigError {
    ConfigError::invalid(OptionKey::McpServers, problem)
}

fn timeout(name: &str, ms: Option<f64>) -> Result<Duration, ConfigError> {
    match ms {
        None => Ok(harnext_core::mcp::DEFAULT_STARTUP_TIMEOUT),
        Some(v) if v.fract() == 0.0 && (1.0..=f64::from(u32::MAX)).contains(&v) => {
            // Checked above: an integer within u32's range.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(Duration::from_millis(u64::from(v as u32)))
        }
        Some(v) => Err(invalid(format!(
            "`{name}.startupTimeoutMs`: expected an integer >= 1, got {v}"
        ))),
    }
}

fn sorted(map: Option<HashMap<String, String>>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = map.unwrap_or_default().into_iter().collect();
    pairs.sort();
    pairs
}

/// The servers, by name (sorted: the order their tools are offered in). Names and the
/// rest are checked by the core when the agent is built.
pub fn mcp_servers(value: Value) -> Result<Vec<(String, McpServerConfig)>, ConfigError> {
    const SHAPES: &str =
        "{ command, args?, env?, cwd?, startupTimeoutMs? } or { url, headers?, startupTimeoutMs? }";
    let Value::Object(servers) = value else {
        return Err(invalid(format!(
            "expected an object of servers by name, such as {{ fs: {{ command: \"node\", args: [...] }} }}, got {value}"
        )));
    };
    let mut out = Vec::with_capacity(servers.len());
    for (name, config) in servers {
        let has = |key: &str| config.get(key).is_some_and(|v| !v.is_null());
        let parsed = if has("command") {
            let s: McpStdioServer =
                serde_json::from_value(config).map_err(|e| invalid(format!("`{name}`: {e}")))?;
            let mut c = StdioServerConfig::new(s.command);
            c.args = s.args.unwrap_or_default();
            c.env = sorted(s.env);
            c.cwd = s.cwd.map(PathBuf::from);
            c.startup_timeout = timeout(&name, s.startup_timeout_ms)?;
            McpServerConfig::Stdio(c)
        } else if has("url") {
            let h: McpHttpServer =
                serde_json::from_value(config).map_err(|e| invalid(format!("`{name}`: {e}")))?;
            let mut c = HttpServerConfig::new(h.url);
            c.headers = sorted(h.headers);
            c.startup_timeout = timeout(&name, h.startup_timeout_ms)?;
            McpServerConfig::Http(c)
        } else {
            return Err(invalid(format!("`{name}`: expected {SHAPES}")));
        };
        out.push((name, parsed));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
