//! What `mcp_servers` accepts, and its validation (at agent construction, with messages
//! that name the server and the field).

use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

use harnext_protocol::option::unknown_name_hint;
use harnext_protocol::redact::redact_url;
use serde_json::Map;
use serde_json::Value;

/// How long a server may take to start: spawn (or connect), `initialize`, and each
/// `tools/list` round, separately.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one tool call may take before it fails (and the server is told to stop
/// with `notifications/cancelled`). Long enough for builds and searches a tool may
/// run; a server that never answers costs at most this.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The most bytes of one message from a server kept while it is read: a longer tool
/// result has its text cut to fit, with a note saying so. The engine shows the model
/// far less anyway (30,000 characters per tool output).
pub const DEFAULT_MAX_RESULT_BYTES: usize = 1024 * 1024;

/// The bounds of `max_result_bytes`: at least 1 KiB; at most 16 MiB, the longest
/// message the MCP transport reads.
pub const MAX_RESULT_BYTES_RANGE: std::ops::RangeInclusive<usize> = 1024..=16 * 1024 * 1024;

/// The fields of a stdio server's configuration, by neutral key (a binding spells them
/// its own way and refuses others, with `harnext_protocol::option::unknown_name_hint`).
pub const STDIO_FIELDS: &[&str] = &[
    "command",
    "args",
    "env",
    "cwd",
    "startup_timeout_ms",
    "tool_timeout_ms",
    "max_result_bytes",
    "sandbox",
];

/// The fields of an HTTP server's configuration, by neutral key.
pub const HTTP_FIELDS: &[&str] = &[
    "url",
    "headers",
    "startup_timeout_ms",
    "tool_timeout_ms",
    "max_result_bytes",
];

/// The longest server name: keeps `mcp__<server>__<tool>` within the providers' 64
/// characters for ordinary tool names.
pub const MAX_SERVER_NAME_LEN: usize = 32;

/// One MCP server an agent may use.
#[derive(Clone, PartialEq, Eq)]
pub enum McpServerConfig {
    /// A local process speaking MCP over its stdin/stdout.
    Stdio(StdioServerConfig),
    /// A remote server speaking MCP over streamable HTTP.
    Http(HttpServerConfig),
}

impl McpServerConfig {
    pub fn startup_timeout(&self) -> Duration {
        match self {
            McpServerConfig::Stdio(s) => s.startup_timeout,
            McpServerConfig::Http(h) => h.startup_timeout,
        }
    }

    pub fn tool_timeout(&self) -> Duration {
        match self {
            McpServerConfig::Stdio(s) => s.tool_timeout,
            McpServerConfig::Http(h) => h.tool_timeout,
        }
    }

    pub fn max_result_bytes(&self) -> usize {
        match self {
            McpServerConfig::Stdio(s) => s.max_result_bytes,
            McpServerConfig::Http(h) => h.max_result_bytes,
        }
    }
}

/// `{ command, args?, env?, cwd?, startup_timeout_ms?, tool_timeout_ms?,
/// max_result_bytes? }` (neutral keys; each binding spells them its own way).
#[derive(Clone, PartialEq, Eq)]
pub struct StdioServerConfig {
    /// The program, found on `PATH` unless it is a path.
    pub command: String,
    pub args: Vec<String>,
    /// Added to (or replacing in) the environment the agent's process has.
    pub env: Vec<(String, String)>,
    /// The server's working directory; relative paths are relative to the agent's
    /// workspace. `None`: the workspace.
    pub cwd: Option<PathBuf>,
    pub startup_timeout: Duration,
    /// Runs in the agent's sandbox (when it has one); `false` opts this server out.
    pub sandbox: bool,
    /// How long one tool call may take (`tool_timeout_ms`).
    pub tool_timeout: Duration,
    /// The most bytes of one message kept while it is read (`max_result_bytes`).
    pub max_result_bytes: usize,
}

impl StdioServerConfig {
    pub fn new(command: impl Into<String>) -> Self {
        StdioServerConfig {
            command: command.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            sandbox: true,
            tool_timeout: DEFAULT_TOOL_TIMEOUT,
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
        }
    }
}

/// `{ url, headers?, startup_timeout_ms?, tool_timeout_ms?, max_result_bytes? }`
#[derive(Clone, PartialEq, Eq)]
pub struct HttpServerConfig {
    /// The server's MCP endpoint, `http://` or `https://`.
    pub url: String,
    /// Sent with every request (an `Authorization` header, for instance).
    pub headers: Vec<(String, String)>,
    pub startup_timeout: Duration,
    /// How long one tool call may take (`tool_timeout_ms`).
    pub tool_timeout: Duration,
    /// The most bytes of one message kept while it is read (`max_result_bytes`).
    pub max_result_bytes: usize,
}

impl HttpServerConfig {
    pub fn new(url: impl Into<String>) -> Self {
        HttpServerConfig {
            url: url.into(),
            headers: Vec::new(),
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            tool_timeout: DEFAULT_TOOL_TIMEOUT,
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
        }
    }
}

// Environment values and header values may be credentials: a Debug print shows names only.
impl std::fmt::Debug for McpServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            McpServerConfig::Stdio(s) => f
                .debug_struct("Stdio")
                .field("command", &s.command)
                .field("args", &s.args)
                .field("env", &s.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
                .field("cwd", &s.cwd)
                .field("startup_timeout", &s.startup_timeout)
                .field("tool_timeout", &s.tool_timeout)
                .field("max_result_bytes", &s.max_result_bytes)
                .finish(),
            McpServerConfig::Http(h) => f
                .debug_struct("Http")
                .field("url", &redact_url(&h.url))
                .field(
                    "headers",
                    &h.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
                )
                .field("startup_timeout", &h.startup_timeout)
                .field("tool_timeout", &h.tool_timeout)
                .field("max_result_bytes", &h.max_result_bytes)
                .finish(),
        }
    }
}

/// A bad `mcp_servers` entry. `field` is the path below `mcp_servers` (`"fs.url"`,
/// `"fs.tool_timeout_ms"`: neutral snake_case keys), or empty for the option as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McpConfigError {
    #[error("server name {0:?} must be 1 to {MAX_SERVER_NAME_LEN} characters of [a-zA-Z0-9_-]")]
    InvalidName(String),
    #[error("server name {0:?} is used twice")]
    DuplicateName(String),
    #[error("`{field}`: {problem}")]
    Invalid { field: String, problem: String },
}

impl McpConfigError {
    fn invalid(server: &str, field: &str, problem: impl Into<String>) -> Self {
        McpConfigError::Invalid {
            field: format!("{server}.{field}"),
            problem: problem.into(),
        }
    }
}

/// `mcp_servers` as a face hands it over, as JSON: `{ name: { field: value } }`, each
/// field spelled by the face (`spell` turns a neutral key of [`STDIO_FIELDS`] or
/// [`HTTP_FIELDS`] into it: `toolTimeoutMs` in JavaScript, `tool_timeout_ms` in Python).
/// A server with `command` is a stdio server, one with `url` an HTTP server. Unknown
/// fields are refused with the closest known one ("did you mean"), values of the wrong
/// type and timeouts that are not integers >= 1 name the server and the field as the
/// face spells it. The rest ([`validate`]) is checked when the agent is built. `null`
/// counts as absent. Sorted by name.
pub fn servers_from_json(
    value: &Value,
    spell: &dyn Fn(&str) -> String,
) -> Result<Vec<(String, McpServerConfig)>, String> {
    let Value::Object(servers) = value else {
        return Err(format!(
            "expected an object of servers by name, such as {{ fs: {{ command: \"node\", args: [...] }} }}, got {}",
            shown(value)
        ));
    };
    let shape = |fields: &[&str]| {
        let parts: Vec<String> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| format!("{}{}", spell(f), if i == 0 { "" } else { "?" }))
            .collect();
        format!("{{ {} }}", parts.join(", "))
    };
    let shapes = format!("{} or {}", shape(STDIO_FIELDS), shape(HTTP_FIELDS));
    let mut out = Vec::with_capacity(servers.len());
    for (name, config) in servers {
        let Value::Object(given) = config else {
            return Err(format!(
                "`{name}`: expected {shapes}, got {}",
                shown(config)
            ));
        };
        // Fields by neutral key; null is absent.
        let fields = |known: &[&str]| -> Result<Map<String, Value>, String> {
            let spelled: Vec<String> = known.iter().map(|k| spell(k)).collect();
            let spelled_refs: Vec<&str> = spelled.iter().map(String::as_str).collect();
            let mut by_key = Map::new();
            for (field, v) in given {
                let Some(i) = spelled_refs.iter().position(|s| s == field) else {
                    return Err(format!(
                        "`{name}`: unknown field {field:?}: {}",
                        unknown_name_hint(field, &spelled_refs)
                    ));
                };
                if !v.is_null() {
                    by_key.insert(known[i].to_owned(), v.clone());
                }
            }
            Ok(by_key)
        };
        let has = |key: &str| given.get(&spell(key)).is_some_and(|v| !v.is_null());
        let reader = Reader {
            server: name,
            spell,
        };
        let parsed = if has("command") {
            let f = fields(STDIO_FIELDS)?;
            let mut c = StdioServerConfig::new(reader.string(&f, "command")?.unwrap_or_default());
            c.args = reader.strings(&f, "args")?.unwrap_or_default();
            c.env = reader.string_map(&f, "env")?;
            c.cwd = reader.string(&f, "cwd")?.map(PathBuf::from);
            reader.common(
                &f,
                &mut c.startup_timeout,
                &mut c.tool_timeout,
                &mut c.max_result_bytes,
            )?;
            if let Some(sandbox) = reader.boolean(&f, "sandbox")? {
                c.sandbox = sandbox;
            }
            McpServerConfig::Stdio(c)
        } else if has("url") {
            let f = fields(HTTP_FIELDS)?;
            let mut c = HttpServerConfig::new(reader.string(&f, "url")?.unwrap_or_default());
            c.headers = reader.string_map(&f, "headers")?;
            reader.common(
                &f,
                &mut c.startup_timeout,
                &mut c.tool_timeout,
                &mut c.max_result_bytes,
            )?;
            McpServerConfig::Http(c)
        } else {
            return Err(format!("`{name}`: expected {shapes}"));
        };
        out.push((name.clone(), parsed));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// A JSON value as a message shows it (strings quoted, long values cut).
fn shown(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text,
    }
}

/// Reads the fields of one server (by neutral key), naming `server.field` as the face
/// spells it in its errors.
struct Reader<'a> {
    server: &'a str,
    spell: &'a dyn Fn(&str) -> String,
}

impl Reader<'_> {
    fn wrong(&self, key: &str, expected: &str, v: &Value) -> String {
        format!(
            "`{}.{}`: expected {expected}, got {}",
            self.server,
            (self.spell)(key),
            shown(v)
        )
    }

    fn string(&self, f: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
        match f.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.wrong(key, "a string", v)),
        }
    }

    fn boolean(&self, f: &Map<String, Value>, key: &str) -> Result<Option<bool>, String> {
        match f.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong(key, "a boolean", v)),
        }
    }

    fn strings(&self, f: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, String> {
        match f.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(Some(
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            )),
            Some(v) => Err(self.wrong(key, "a list of strings", v)),
        }
    }

    /// A map of strings, sorted by key.
    fn string_map(
        &self,
        f: &Map<String, Value>,
        key: &str,
    ) -> Result<Vec<(String, String)>, String> {
        match f.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Object(m)) if m.values().all(Value::is_string) => {
                let mut pairs: Vec<(String, String)> = m
                    .iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect();
                pairs.sort();
                Ok(pairs)
            }
            // The values are not shown: they may be credentials.
            Some(Value::Object(_)) => Err(format!(
                "`{}.{}`: expected a map of strings to strings",
                self.server,
                (self.spell)(key)
            )),
            Some(v) => Err(self.wrong(key, "a map of strings to strings", v)),
        }
    }

    /// An integer >= 1 (and within u32), when given.
    fn positive(&self, f: &Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
        match f.get(key) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(n) if n.fract() == 0.0 && (1.0..=f64::from(u32::MAX)).contains(&n) => {
                    Ok(v.as_u64())
                }
                _ => Err(self.wrong(key, "an integer >= 1", v)),
            },
        }
    }

    fn common(
        &self,
        f: &Map<String, Value>,
        startup: &mut Duration,
        tool: &mut Duration,
        bytes: &mut usize,
    ) -> Result<(), String> {
        if let Some(ms) = self.positive(f, "startup_timeout_ms")? {
            *startup = Duration::from_millis(ms);
        }
        if let Some(ms) = self.positive(f, "tool_timeout_ms")? {
            *tool = Duration::from_millis(ms);
        }
        if let Some(b) = self.positive(f, "max_result_bytes")? {
            *bytes = usize::try_from(b).unwrap_or(usize::MAX);
        }
        Ok(())
    }
}

pub fn valid_server_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SERVER_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Checks every server; `workspace` resolves relative `cwd`s. Returns the working
/// directory of each stdio server (the workspace for HTTP servers, unused).
pub(crate) fn validate(
    servers: &[(String, McpServerConfig)],
    workspace: &Path,
) -> Result<Vec<PathBuf>, McpConfigError> {
    let mut dirs = Vec::with_capacity(servers.len());
    for (i, (name, config)) in servers.iter().enumerate() {
        if !valid_server_name(name) {
            return Err(McpConfigError::InvalidName(name.clone()));
        }
        if servers[..i].iter().any(|(n, _)| n == name) {
            return Err(McpConfigError::DuplicateName(name.clone()));
        }
        for (timeout, key) in [
            (config.startup_timeout(), "startup_timeout_ms"),
            (config.tool_timeout(), "tool_timeout_ms"),
        ] {
            if timeout.is_zero() {
                return Err(McpConfigError::invalid(
                    name,
                    key,
                    "expected an integer >= 1",
                ));
            }
        }
        if !MAX_RESULT_BYTES_RANGE.contains(&config.max_result_bytes()) {
            return Err(McpConfigError::invalid(
                name,
                "max_result_bytes",
                format!(
                    "expected an integer from {} to {}, got {}",
                    MAX_RESULT_BYTES_RANGE.start(),
                    MAX_RESULT_BYTES_RANGE.end(),
                    config.max_result_bytes()
                ),
            ));
        }
        match config {
            McpServerConfig::Stdio(s) => {
                if s.command.trim().is_empty() {
                    return Err(McpConfigError::invalid(
                        name,
                        "command",
                        "expected a program to run, got an empty string",
                    ));
                }
                for (key, value) in &s.env {
                    if key.is_empty() || key.contains('=') || key.contains('\0') {
                        return Err(McpConfigError::invalid(
                            name,
                            "env",
                            format!("{key:?} is not a valid environment variable name"),
                        ));
                    }
                    if value.contains('\0') {
                        return Err(McpConfigError::invalid(
                            name,
                            "env",
                            format!("the value of {key:?} contains a NUL character"),
                        ));
                    }
                }
                if s.args.iter().any(|a| a.contains('\0')) || s.command.contains('\0') {
                    return Err(McpConfigError::invalid(
                        name,
                        "args",
                        "arguments cannot contain NUL characters",
                    ));
                }
                let dir = match &s.cwd {
                    None => workspace.to_path_buf(),
                    Some(dir) => {
                        let joined = workspace.join(dir);
                        if !joined.is_dir() {
                            return Err(McpConfigError::invalid(
                                name,
                                "cwd",
                                format!("{} is not an existing directory", joined.display()),
                            ));
                        }
                        joined
                    }
                };
                dirs.push(dir);
            }
            McpServerConfig::Http(h) => {
                let ok = reqwest::Url::parse(&h.url)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
                if !ok {
                    // Shown without its credentials (`user:pass@`, query values).
                    return Err(McpConfigError::invalid(
                        name,
                        "url",
                        format!("expected an http(s) URL, got {:?}", redact_url(&h.url)),
                    ));
                }
                for (key, value) in &h.headers {
                    if http::HeaderName::from_bytes(key.as_bytes()).is_err() {
                        return Err(McpConfigError::invalid(
                            name,
                            "headers",
                            format!("{key:?} is not a valid header name"),
                        ));
                    }
                    if http::HeaderValue::from_str(value).is_err() {
                        // The value itself is not shown: it may be a credential.
                        return Err(McpConfigError::invalid(
                            name,
                            "headers",
                            format!("the value of {key:?} is not a valid header value"),
                        ));
                    }
                    let lower = key.to_ascii_lowercase();
                    if matches!(
                        lower.as_str(),
                        "accept" | "content-type" | "mcp-session-id" | "last-event-id"
                    ) {
                        return Err(McpConfigError::invalid(
                            name,
                            "headers",
                            format!("{key:?} is set by the MCP transport and cannot be overridden"),
                        ));
                    }
                }
                dirs.push(workspace.to_path_buf());
            }
        }
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn stdio(cmd: &str) -> McpServerConfig {
        McpServerConfig::Stdio(StdioServerConfig::new(cmd))
    }

    #[test]
    fn names_fields_and_values_are_checked_with_messages_naming_them() {
        let ws = std::env::temp_dir();
        let ok = validate(
            &[("fs".into(), stdio("node")), ("a-b_9".into(), stdio("x"))],
            &ws,
        );
        assert_eq!(ok.unwrap().len(), 2);
        for bad in ["", "has space", "dot.name", "é", &"x".repeat(33)] {
            let e = validate(&[(bad.to_owned(), stdio("node"))], &ws).unwrap_err();
            assert_eq!(e, McpConfigError::InvalidName(bad.to_owned()));
            assert!(e.to_string().contains("[a-zA-Z0-9_-]"), "{e}");
        }
        let e = validate(&[("a".into(), stdio("x")), ("a".into(), stdio("y"))], &ws).unwrap_err();
        assert_eq!(e.to_string(), "server name \"a\" is used twice");
        let e = validate(&[("a".into(), stdio(" "))], &ws).unwrap_err();
        assert!(e.to_string().starts_with("`a.command`"), "{e}");
        let mut s = StdioServerConfig::new("node");
        s.cwd = Some("does/not/exist".into());
        let e = validate(&[("a".into(), McpServerConfig::Stdio(s))], &ws).unwrap_err();
        assert!(e.to_string().starts_with("`a.cwd`"), "{e}");
        let mut s = StdioServerConfig::new("node");
        s.env = vec![("A=B".into(), "1".into())];
        assert!(validate(&[("a".into(), McpServerConfig::Stdio(s))], &ws).is_err());
        let mut s = StdioServerConfig::new("node");
        s.startup_timeout = Duration::ZERO;
        let e = validate(&[("a".into(), McpServerConfig::Stdio(s))], &ws).unwrap_err();
        assert!(e.to_string().contains("a.startup_timeout_ms"), "{e}");
        let mut s = StdioServerConfig::new("node");
        s.tool_timeout = Duration::ZERO;
        let e = validate(&[("a".into(), McpServerConfig::Stdio(s))], &ws).unwrap_err();
        assert!(e.to_string().starts_with("`a.tool_timeout_ms`"), "{e}");
        for bytes in [0, 1023, 16 * 1024 * 1024 + 1] {
            let mut h = HttpServerConfig::new("https://example.com/mcp");
            h.max_result_bytes = bytes;
            let e = validate(&[("r".into(), McpServerConfig::Http(h))], &ws).unwrap_err();
            assert!(e.to_string().starts_with("`r.max_result_bytes`"), "{e}");
        }
        let e = validate(
            &[(
                "r".into(),
                McpServerConfig::Http(HttpServerConfig::new(
                    "ftp://alice:hunter2-pw@host/mcp?token=t0ps3cret",
                )),
            )],
            &ws,
        )
        .unwrap_err();
        assert!(
            !e.to_string().contains("hunter2") && !e.to_string().contains("t0ps3cret"),
            "{e}"
        );
        for url in ["ftp://x/mcp", "not a url", "http://"] {
            let h = McpServerConfig::Http(HttpServerConfig::new(url));
            let e = validate(&[("r".into(), h)], &ws).unwrap_err();
            assert!(e.to_string().starts_with("`r.url`"), "{e}");
        }
        let mut h = HttpServerConfig::new("https://example.com/mcp");
        h.headers = vec![("authorization".into(), "Bearer secret\n".into())];
        let e = validate(&[("r".into(), McpServerConfig::Http(h))], &ws).unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        let mut h = HttpServerConfig::new("https://example.com/mcp");
        h.headers = vec![("Mcp-Session-Id".into(), "x".into())];
        assert!(validate(&[("r".into(), McpServerConfig::Http(h))], &ws).is_err());
    }

    fn camel(key: &str) -> String {
        let mut out = String::new();
        let mut upper = false;
        for c in key.chars() {
            if c == '_' {
                upper = true;
            } else {
                out.push(if upper { c.to_ascii_uppercase() } else { c });
                upper = false;
            }
        }
        out
    }

    #[test]
    fn servers_from_json_reads_each_face_spelling_and_names_bad_fields() {
        let neutral = |k: &str| k.to_owned();
        let json = serde_json::json!({
            "web": { "url": "https://example.com/mcp", "headers": { "b": "2", "a": "1" }, "tool_timeout_ms": 500 },
            "fs": { "command": "node", "args": ["s.js"], "env": { "K": "v" }, "cwd": "sub",
                    "startup_timeout_ms": 1000, "max_result_bytes": 4096, "sandbox": false, "tool_timeout_ms": null },
        });
        let servers = servers_from_json(&json, &neutral).unwrap();
        assert_eq!(servers[0].0, "fs");
        let McpServerConfig::Stdio(s) = &servers[0].1 else {
            panic!("stdio")
        };
        assert_eq!(s.args, ["s.js"]);
        assert_eq!(s.env, [("K".to_owned(), "v".to_owned())]);
        assert_eq!(s.cwd.as_deref(), Some(Path::new("sub")));
        assert_eq!(s.startup_timeout, Duration::from_millis(1000));
        assert_eq!(s.tool_timeout, DEFAULT_TOOL_TIMEOUT);
        assert_eq!(s.max_result_bytes, 4096);
        assert!(!s.sandbox);
        let McpServerConfig::Http(h) = &servers[1].1 else {
            panic!("http")
        };
        assert_eq!(h.headers[0].0, "a");
        assert_eq!(h.tool_timeout, Duration::from_millis(500));

        let e = servers_from_json(
            &serde_json::json!({ "fs": { "command": "node", "toolTimeout": 5 } }),
            &camel,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "`fs`: unknown field \"toolTimeout\": did you mean `toolTimeoutMs`?"
        );
        let e = servers_from_json(
            &serde_json::json!({ "fs": { "command": "node", "tool_timeout": 5 } }),
            &neutral,
        )
        .unwrap_err();
        assert!(e.ends_with("did you mean `tool_timeout_ms`?"), "{e}");
        let e = servers_from_json(
            &serde_json::json!({ "fs": { "command": "node", "toolTimeoutMs": 0 } }),
            &camel,
        )
        .unwrap_err();
        assert_eq!(e, "`fs.toolTimeoutMs`: expected an integer >= 1, got 0");
        let e = servers_from_json(
            &serde_json::json!({ "fs": { "command": "node", "startup_timeout_ms": 1.5 } }),
            &neutral,
        )
        .unwrap_err();
        assert!(
            e.starts_with("`fs.startup_timeout_ms`: expected an integer"),
            "{e}"
        );
        let e = servers_from_json(
            &serde_json::json!({ "fs": { "command": "node", "args": "x" } }),
            &neutral,
        )
        .unwrap_err();
        assert!(
            e.starts_with("`fs.args`: expected a list of strings"),
            "{e}"
        );
        let e = servers_from_json(
            &serde_json::json!({ "fs": { "command": "node", "sandbox": "no" } }),
            &neutral,
        )
        .unwrap_err();
        assert!(e.starts_with("`fs.sandbox`: expected a boolean"), "{e}");
        let e = servers_from_json(
            &serde_json::json!({ "r": { "url": "https://x/", "headers": { "a": 1 } } }),
            &neutral,
        )
        .unwrap_err();
        assert!(e.starts_with("`r.headers`"), "{e}");
        let e =
            servers_from_json(&serde_json::json!({ "fs": { "args": [] } }), &camel).unwrap_err();
        assert!(
            e.starts_with("`fs`: expected { command, args?, env?, cwd?, startupTimeoutMs?"),
            "{e}"
        );
        let e = servers_from_json(&serde_json::json!([1]), &camel).unwrap_err();
        assert!(
            e.starts_with("expected an object of servers by name"),
            "{e}"
        );
    }

    #[test]
    fn debug_output_hides_env_and_header_values() {
        let mut s = StdioServerConfig::new("node");
        s.env = vec![("TOKEN".into(), "hunter2".into())];
        let mut h = HttpServerConfig::new("https://example.com/mcp");
        h.headers = vec![("authorization".into(), "Bearer sk-secret".into())];
        let text = format!(
            "{:?} {:?}",
            McpServerConfig::Stdio(s),
            McpServerConfig::Http(h)
        );
        assert!(
            text.contains("TOKEN") && text.contains("authorization"),
            "{text}"
        );
        assert!(
            !text.contains("hunter2") && !text.contains("sk-secret"),
            "{text}"
        );
    }
}
