//! `mcpServers` of `new Agent()`: `{ [name]: McpStdioServer | McpHttpServer }`, into the
//! core's MCP server configuration. Unknown fields are refused with the closest known
//! one ("did you mean"), so a typo does not pass silently.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use harnext_core::mcp::HttpServerConfig;
use harnext_core::mcp::McpServerConfig;
use harnext_core::mcp::StdioServerConfig;
use harnext_core::mcp::DEFAULT_STARTUP_TIMEOUT;
use harnext_core::mcp::DEFAULT_TOOL_TIMEOUT;
use harnext_core::mcp::HTTP_FIELDS;
use harnext_core::mcp::STDIO_FIELDS;
use harnext_core::protocol::option::unknown_name_hint;
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

/// A positive integer field of server `name`, when given.
fn integer_field(name: &str, field: &str, v: Option<f64>) -> Result<Option<u64>, ConfigError> {
    match v {
        None => Ok(None),
        Some(v) if v.fract() == 0.0 && (1.0..=f64::from(u32::MAX)).contains(&v) => {
            // Checked above: an integer within u32's range.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(Some(u64::from(v as u32)))
        }
        Some(v) => Err(invalid(format!(
            "`{name}.{field}`: expected an integer >= 1, got {v}"
        ))),
    }
}

fn millis(
    name: &str,
    field: &str,
    v: Option<f64>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    Ok(integer_field(name, field, v)?.map_or(default, Duration::from_millis))
}

fn bytes(name: &str, v: Option<f64>) -> Result<usize, ConfigError> {
    Ok(integer_field(name, "maxResultBytes", v)?
        .map_or(harnext_core::mcp::DEFAULT_MAX_RESULT_BYTES, |b| {
            usize::try_from(b).unwrap_or(usize::MAX)
        }))
}

/// The neutral key `startup_timeout_ms` as JavaScript spells it: `startupTimeoutMs`.
fn camel(key: &str) -> String {
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

/// The first field of `config` that is not one of `fields` (neutral keys), as an error
/// with the closest known field.
fn check_fields(
    name: &str,
    config: &serde_json::Map<String, Value>,
    fields: &[&str],
) -> Result<(), ConfigError> {
    let known: Vec<String> = fields.iter().map(|f| camel(f)).collect();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    for key in config.keys() {
        if !known.contains(&key.as_str()) {
            return Err(invalid(format!(
                "`{name}`: unknown field {key:?}: {}",
                unknown_name_hint(key, &known)
            )));
        }
    }
    Ok(())
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
        "{ command, args?, env?, cwd?, startupTimeoutMs?, toolTimeoutMs?, maxResultBytes? } or { url, headers?, startupTimeoutMs?, toolTimeoutMs?, maxResultBytes? }";
    let Value::Object(servers) = value else {
        return Err(invalid(format!(
            "expected an object of servers by name, such as {{ fs: {{ command: \"node\", args: [...] }} }}, got {value}"
        )));
    };
    let mut out = Vec::with_capacity(servers.len());
    for (name, config) in servers {
        let Value::Object(fields) = &config else {
            return Err(invalid(format!("`{name}`: expected {SHAPES}")));
        };
        let has = |key: &str| fields.get(key).is_some_and(|v| !v.is_null());
        let parsed = if has("command") {
            check_fields(&name, fields, STDIO_FIELDS)?;
            let s: McpStdioServer =
                serde_json::from_value(config).map_err(|e| invalid(format!("`{name}`: {e}")))?;
            let mut c = StdioServerConfig::new(s.command);
            c.args = s.args.unwrap_or_default();
            c.env = sorted(s.env);
            c.cwd = s.cwd.map(PathBuf::from);
            c.startup_timeout = millis(
                &name,
                "startupTimeoutMs",
                s.startup_timeout_ms,
                DEFAULT_STARTUP_TIMEOUT,
            )?;
            c.tool_timeout = millis(
                &name,
                "toolTimeoutMs",
                s.tool_timeout_ms,
                DEFAULT_TOOL_TIMEOUT,
            )?;
            c.max_result_bytes = bytes(&name, s.max_result_bytes)?;
            c.sandbox = s.sandbox.unwrap_or(true);
            McpServerConfig::Stdio(c)
        } else if has("url") {
            check_fields(&name, fields, HTTP_FIELDS)?;
            let h: McpHttpServer =
                serde_json::from_value(config).map_err(|e| invalid(format!("`{name}`: {e}")))?;
            let mut c = HttpServerConfig::new(h.url);
            c.headers = sorted(h.headers);
            c.startup_timeout = millis(
                &name,
                "startupTimeoutMs",
                h.startup_timeout_ms,
                DEFAULT_STARTUP_TIMEOUT,
            )?;
            c.tool_timeout = millis(
                &name,
                "toolTimeoutMs",
                h.tool_timeout_ms,
                DEFAULT_TOOL_TIMEOUT,
            )?;
            c.max_result_bytes = bytes(&name, h.max_result_bytes)?;
            McpServerConfig::Http(c)
        } else {
            return Err(invalid(format!("`{name}`: expected {SHAPES}")));
        };
        out.push((name, parsed));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
