//! [`McpManager`]: the servers of one agent, started when a run first needs them,
//! reused across runs, and shut down by [`McpManager::close`] or when dropped.

use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex as SyncMutex;
use std::time::Duration;

use harnext_protocol::redact::redact_url;
use harnext_protocol::redact::sensitive_name;
use harnext_protocol::redact::url_secrets;
use harnext_protocol::redact::Redactor;
use harnext_tools::Tool;
use rmcp::model::ClientCapabilities;
use rmcp::model::ClientConfig;
use rmcp::model::ClientRequest;
use rmcp::model::Implementation;
use rmcp::model::ListToolsRequest;
use rmcp::model::PaginatedRequestParams;
use rmcp::model::ProtocolVersion;
use rmcp::model::ServerResult;
use rmcp::service::ClientInitializeError;
use rmcp::service::NotificationContext;
use rmcp::service::Peer;
use rmcp::service::RoleClient;
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ClientCacheConfig;
use rmcp::ClientHandler;
use rmcp::ServiceExt;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use crate::cap::LineCap;
use crate::config::validate;
use crate::config::McpConfigError;
use crate::config::McpServerConfig;
use crate::http::HttpClient;
use crate::process;
use crate::process::ServerProcess;
use crate::tool::error_text;
use crate::tool::tool_name;
use crate::tool::unavailable;
use crate::tool::Link;
use crate::tool::McpTool;

/// How long a stdio server gets to exit after its stdin closes, and again after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A server that could not be used, with the message for the model and the user:
/// "MCP server `x` is unavailable: ...".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServerFailure {
    pub server: String,
    pub message: String,
}

/// Something about a running server the caller should see, though the server is
/// usable: a tool left out (its `inputSchema` is invalid, it has no name, or its name
/// is taken by a tool of another server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpWarning {
    pub server: String,
    /// The tool's name as the server gave it, when it gave one.
    pub tool: Option<String>,
    /// "MCP server `x`: tool `t` is left out: ...".
    pub message: String,
}

/// The MCP tools a run may use now, the servers that are unavailable, and warnings
/// about the tools of the running ones (repeated on every call while they hold, so
/// a caller reports each once, by its message).
#[derive(Default, Clone)]
pub struct McpToolSet {
    pub tools: Vec<Arc<dyn Tool>>,
    pub failures: Vec<McpServerFailure>,
    pub warnings: Vec<McpWarning>,
}

/// When to start a server that failed before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// At the start of a run: servers that failed or died are tried again.
    Failed,
    /// Within a run: a server that failed stays out until the next run.
    No,
}

/// The MCP servers of an agent. Cheap to clone; clones share the servers.
#[derive(Clone)]
pub struct McpManager {
    servers: Arc<Vec<Arc<Server>>>,
}

struct Server {
    name: String,
    config: McpServerConfig,
    /// Its credentials, scrubbed from every message about it.
    redactor: Redactor,
    cwd: PathBuf,
    /// The agent's sandbox, for stdio servers that do not opt out.
    sandbox: Option<Arc<harnext_sandbox::Sandbox>>,
    state: Mutex<State>,
    /// Set on `tools/list_changed`, when the process exits, and when a call finds the
    /// server gone: the tool list is looked at again before the next model call.
    dirty: Arc<AtomicBool>,
    /// The running connection's peer, readable without the state lock.
    live: SyncMutex<Option<Peer<RoleClient>>>,
}

enum State {
    Idle,
    Running(Box<Connection>),
    /// Why it is unavailable (without the "MCP server `x` is unavailable: " prefix).
    Failed(String),
}

struct Connection {
    service: RunningService<RoleClient, Handler>,
    tools: Vec<Arc<dyn Tool>>,
    /// The tools left out of `tools`, and why.
    warnings: Vec<McpWarning>,
    link: Arc<Link>,
    /// Stdio servers only. Dropping it kills the process group.
    process: Option<ServerProcess>,
}

/// The client side of a connection: answers the server, notes `tools/list_changed`.
#[derive(Clone)]
struct Handler {
    dirty: Arc<AtomicBool>,
}

impl ClientHandler for Handler {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.dirty.store(true, Ordering::SeqCst);
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("harnext", env!("CARGO_PKG_VERSION")),
        )
        // The newest version with the `initialize` handshake every server knows.
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }
}

impl McpManager {
    /// Checks the configuration; starts nothing. `workspace` is the agent's working
    /// directory: stdio servers run there unless their `cwd` says otherwise.
    pub fn new(
        servers: Vec<(String, McpServerConfig)>,
        workspace: &Path,
    ) -> Result<McpManager, McpConfigError> {
        McpManager::with_sandbox(servers, workspace, None)
    }

    /// [`McpManager::new`] whose stdio servers run in `sandbox` (unless their config
    /// opts out with `sandbox: false`).
    pub fn with_sandbox(
        servers: Vec<(String, McpServerConfig)>,
        workspace: &Path,
        sandbox: Option<Arc<harnext_sandbox::Sandbox>>,
    ) -> Result<McpManager, McpConfigError> {
        let dirs = validate(&servers, workspace)?;
        let servers = servers
            .into_iter()
            .zip(dirs)
            .map(|((name, config), cwd)| {
                Arc::new(Server {
                    redactor: redactor_for(&config),
                    name,
                    config,
                    cwd,
                    sandbox: sandbox.clone(),
                    state: Mutex::new(State::Idle),
                    dirty: Arc::new(AtomicBool::new(false)),
                    live: SyncMutex::new(None),
                })
            })
            .collect();
        Ok(McpManager {
            servers: Arc::new(servers),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// The credentials of every server (URL user info and sensitive query values,
    /// credential header values, environment values whose names say they are
    /// secrets), for the engine to scrub from what it shows and saves. The manager
    /// already scrubs them from its messages and from tool results.
    pub fn redactor(&self) -> Redactor {
        self.servers
            .iter()
            .fold(Redactor::default(), |all, s| all.merged(&s.redactor))
    }

    /// The names of the configured servers, in order.
    pub fn server_names(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.name.clone()).collect()
    }

    /// Whether a tool list may have changed since [`McpManager::tools`] last looked:
    /// a `tools/list_changed`, or a server that died. Cheap; call it before each model
    /// call.
    pub fn needs_refresh(&self) -> bool {
        self.servers.iter().any(|s| {
            s.dirty.load(Ordering::SeqCst)
                || s.live
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .is_some_and(Peer::is_transport_closed)
        })
    }

    /// Starts the servers that are not running (all at once; each within its startup
    /// timeout), lists the tools of those whose list changed, and returns every tool
    /// of the running servers, in configuration order, with the servers that are
    /// unavailable. Never fails and never waits past the startup timeouts; drop the
    /// future to give up (a half-started server is killed).
    ///
    /// Tool names are unique: should a tool of a later server (in configuration
    /// order) get the name of an earlier one's, it is left out with a warning. (The
    /// names keep servers apart already, see `tool_name`; this only happens to a
    /// server that names a tool to collide on purpose.)
    pub async fn tools(&self, restart: Restart) -> McpToolSet {
        let results =
            futures::future::join_all(self.servers.iter().map(|s| s.refresh(restart))).await;
        let mut set = McpToolSet::default();
        let mut owners: std::collections::HashMap<String, String> =
            std::collections::HashMap::new();
        for (server, result) in self.servers.iter().zip(results) {
            match result {
                Ok((tools, warnings)) => {
                    set.warnings.extend(warnings.into_iter().map(|mut w| {
                        server.redactor.redact_string(&mut w.message);
                        w
                    }));
                    for tool in tools {
                        if let Some(owner) = owners.get(tool.name()) {
                            set.warnings.push(McpWarning {
                                server: server.name.clone(),
                                tool: Some(tool.name().to_owned()),
                                message: format!(
                                    "MCP server `{}`: tool `{}` is left out: a tool of server `{owner}` has that name",
                                    server.name,
                                    tool.name()
                                ),
                            });
                            continue;
                        }
                        owners.insert(tool.name().to_owned(), server.name.clone());
                        set.tools.push(tool);
                    }
                }
                Err(reason) => set.failures.push(McpServerFailure {
                    server: server.name.clone(),
                    message: unavailable(&server.name, &server.redactor.redact(&reason)),
                }),
            }
        }
        set
    }

    /// The process ids of the running stdio servers, by server name (for tests and
    /// diagnostics).
    pub async fn pids(&self) -> Vec<(String, u32)> {
        let mut pids = Vec::new();
        for server in self.servers.iter() {
            if let State::Running(conn) = &*server.state.lock().await {
                if let Some(pid) = conn.process.as_ref().and_then(ServerProcess::pid) {
                    pids.push((server.name.clone(), pid));
                }
            }
        }
        pids
    }

    /// Shuts every server down: the connection is closed, and stdio servers get their
    /// stdin closed, then SIGTERM, then SIGKILL, and are reaped before this returns.
    /// A later [`McpManager::tools`] starts them again.
    pub async fn close(&self) {
        futures::future::join_all(self.servers.iter().map(|s| s.close())).await;
    }
}

impl Server {
    fn set_live(&self, peer: Option<Peer<RoleClient>>) {
        *self.live.lock().unwrap_or_else(|e| e.into_inner()) = peer;
    }

    async fn refresh(
        &self,
        restart: Restart,
    ) -> Result<(Vec<Arc<dyn Tool>>, Vec<McpWarning>), String> {
        let mut state = self.state.lock().await;
        let dirty = self.dirty.swap(false, Ordering::SeqCst);
        if let State::Running(conn) = &*state {
            if conn.link.is_gone() {
                if let Some(p) = &conn.link.process {
                    // The connection closes a moment before the exit status is known.
                    p.wait_exit(Duration::from_millis(500)).await;
                }
                let reason = conn.link.gone_reason(None);
                self.set_live(None);
                *state = State::Failed(reason);
            }
        }
        match &mut *state {
            State::Running(conn) => {
                if dirty {
                    match list_tools(&self.name, &conn.link, self.config.startup_timeout()).await {
                        Ok((tools, warnings)) => {
                            conn.tools = tools;
                            conn.warnings = warnings;
                        }
                        Err(reason) => {
                            self.set_live(None);
                            *state = State::Failed(reason.clone());
                            return Err(reason);
                        }
                    }
                }
                return Ok((conn.tools.clone(), conn.warnings.clone()));
            }
            State::Failed(reason) if restart == Restart::No => return Err(reason.clone()),
            State::Failed(_) | State::Idle => {}
        }
        // A new connection lists its tools anyway.
        self.dirty.store(false, Ordering::SeqCst);
        match self.start().await {
            Ok(conn) => {
                let listed = (conn.tools.clone(), conn.warnings.clone());
                self.set_live(Some(conn.link.peer.clone()));
                *state = State::Running(Box::new(conn));
                Ok(listed)
            }
            Err(reason) => {
                *state = State::Failed(reason.clone());
                Err(reason)
            }
        }
    }

    async fn start(&self) -> Result<Connection, String> {
        let limit = self.config.startup_timeout();
        let handler = Handler {
            dirty: self.dirty.clone(),
        };
        let too_slow = |what: &str| {
            format!(
                "it did not complete {what} within {} ms (startup_timeout_ms)",
                limit.as_millis()
            )
        };
        let (service, process) = match &self.config {
            McpServerConfig::Stdio(config) => {
                let (process, stdout, stdin) = process::spawn(
                    config,
                    &self.cwd,
                    self.dirty.clone(),
                    self.sandbox.as_deref(),
                )
                .map_err(|e| format!("cannot start `{}`: {e}", config.command))?;
                let status = process.status();
                let stdout = capped(stdout, config.max_result_bytes);
                let served = tokio::time::timeout(limit, handler.serve((stdout, stdin))).await;
                let service = match served {
                    Ok(Ok(service)) => service,
                    Ok(Err(e)) => {
                        // Most failures here are a process that exited: say how.
                        status.wait_exit(Duration::from_millis(500)).await;
                        return Err(match status.describe(" during initialization") {
                            Some(how) => how,
                            None => format!(
                                "initialization failed: {}{}",
                                init_error(&e),
                                status.stderr.note()
                            ),
                        });
                    }
                    Err(_) => {
                        return Err(format!(
                            "{}{}",
                            too_slow("the MCP initialization"),
                            status.stderr.note()
                        ))
                    }
                };
                (service, Some(process))
            }
            McpServerConfig::Http(config) => {
                let client = HttpClient::new(config.max_result_bytes)
                    .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
                let headers = config
                    .headers
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((
                            http::HeaderName::from_bytes(k.as_bytes()).ok()?,
                            http::HeaderValue::from_str(v).ok()?,
                        ))
                    })
                    .collect();
                let transport = StreamableHttpClientTransport::with_client(
                    client,
                    StreamableHttpClientTransportConfig::with_uri(config.url.as_str())
                        .custom_headers(headers),
                );
                let served = tokio::time::timeout(limit, handler.serve(transport)).await;
                let service = match served {
                    Ok(Ok(service)) => service,
                    Ok(Err(e)) => {
                        return Err(format!(
                            "cannot connect to {}: {}",
                            redact_url(&config.url),
                            init_error(&e)
                        ))
                    }
                    Err(_) => return Err(too_slow("the MCP initialization")),
                };
                (service, None)
            }
        };
        // harnext keeps its own tool list; rmcp's response cache would only hide errors.
        service
            .peer()
            .set_response_cache_config(ClientCacheConfig::disabled())
            .await;
        let link = Arc::new(Link {
            server: self.name.clone(),
            peer: service.peer().clone(),
            dirty: self.dirty.clone(),
            process: process.as_ref().map(ServerProcess::status),
            tool_timeout: self.config.tool_timeout(),
            redactor: self.redactor.clone(),
        });
        let (tools, warnings) = list_tools(&self.name, &link, limit).await?;
        Ok(Connection {
            service,
            tools,
            warnings,
            link,
            process,
        })
    }

    async fn close(&self) {
        let mut state = self.state.lock().await;
        self.set_live(None);
        self.dirty.store(false, Ordering::SeqCst);
        if let State::Running(conn) = std::mem::replace(&mut *state, State::Idle) {
            conn.shutdown().await;
        }
    }
}

impl Connection {
    async fn shutdown(self) {
        let Connection {
            mut service,
            process,
            ..
        } = self;
        // Ends the protocol: for stdio the server's stdin closes, for HTTP the session
        // is deleted.
        let _ = service.close_with_timeout(SHUTDOWN_GRACE).await;
        if let Some(process) = process {
            process.shutdown(SHUTDOWN_GRACE).await;
        }
    }
}

/// The credentials of a server's configuration: for HTTP, the URL's user info and
/// sensitive query values and the values of credential headers (and the token after
/// `Bearer `); for stdio, the values of environment variables whose names say they
/// are secrets (`GITHUB_TOKEN`, `API_KEY`, ...).
fn redactor_for(config: &McpServerConfig) -> Redactor {
    let mut secrets = Vec::new();
    let mut add = |name: &str, value: &str| {
        if sensitive_name(name) {
            secrets.push(value.to_owned());
            if let Some((_, token)) = value.split_once(' ') {
                secrets.push(token.trim().to_owned());
            }
        }
    };
    match config {
        McpServerConfig::Stdio(s) => s.env.iter().for_each(|(k, v)| add(k, v)),
        McpServerConfig::Http(h) => {
            h.headers.iter().for_each(|(k, v)| add(k, v));
            secrets.extend(url_secrets(&h.url));
        }
    }
    Redactor::new(secrets)
}

/// Pages of `tools/list` followed at most (a server whose cursors never end).
const MAX_TOOL_PAGES: usize = 100;

/// Lists a server's tools (every page) within `limit`, as harnext tools, with a
/// warning for each tool left out: one without a name, or whose `inputSchema` is not
/// a JSON Schema of an object (one bad tool costs that tool, not the server).
async fn list_tools(
    server: &str,
    link: &Arc<Link>,
    limit: Duration,
) -> Result<(Vec<Arc<dyn Tool>>, Vec<McpWarning>), String> {
    let listed = tokio::time::timeout(limit, list_raw(link)).await;
    let listed = match listed {
        Ok(Ok(tools)) => tools,
        Ok(Err(ListError::Service(e))) => {
            if let Some(p) = &link.process {
                p.wait_exit(Duration::from_millis(500)).await;
            }
            return Err(match link.process.as_ref().and_then(|p| p.describe("")) {
                Some(how) => how,
                None => format!("tools/list failed: {}", error_text(&e)),
            });
        }
        Ok(Err(ListError::Shape(problem))) => {
            return Err(format!(
                "its tools/list answer is not a tool list: {problem}"
            ))
        }
        Err(_) => {
            return Err(format!(
                "it did not answer tools/list within {} ms (startup_timeout_ms)",
                limit.as_millis()
            ))
        }
    };
    let mut tools: Vec<Arc<dyn Tool>> = Vec::with_capacity(listed.len());
    let mut warnings = Vec::new();
    let mut warn = |tool: Option<&str>, problem: String| {
        let message = match tool {
            Some(name) => format!("MCP server `{server}`: tool `{name}` is left out: {problem}"),
            None => format!("MCP server `{server}`: a tool is left out: {problem}"),
        };
        warnings.push(McpWarning {
            server: server.to_owned(),
            tool: tool.map(str::to_owned),
            message,
        });
    };
    for raw in &listed {
        let name = raw.get("name").and_then(Value::as_str).map(str::to_owned);
        let tool = match serde_json::from_value::<rmcp::model::Tool>(raw.clone()) {
            Ok(tool) => tool,
            Err(e) => {
                let problem = match raw.get("inputSchema") {
                    None => "it has no inputSchema".to_owned(),
                    Some(s) if !s.is_object() => {
                        format!("its inputSchema is not a JSON object ({})", kind(s))
                    }
                    Some(_) => format!("it is not a valid tool description ({e})"),
                };
                warn(name.as_deref(), problem);
                continue;
            }
        };
        if tool.name.is_empty() {
            warn(None, "it has an empty name".to_owned());
            continue;
        }
        if let Err(problem) = check_schema(&tool.input_schema) {
            warn(Some(&tool.name), problem);
            continue;
        }
        let name = tool_name(server, &tool.name);
        // The same name twice from one server: the first one wins.
        if tools.iter().any(|t| t.name() == name) {
            warn(
                Some(&tool.name),
                format!("another of its tools is also offered as `{name}`"),
            );
            continue;
        }
        tools.push(Arc::new(McpTool::new(&tool, name, link.clone())));
    }
    Ok((tools, warnings))
}

enum ListError {
    Service(rmcp::ServiceError),
    Shape(String),
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Every page of `tools/list`, each tool as the JSON the server sent (a typed list
/// would fail whole on one malformed tool).
async fn list_raw(link: &Link) -> Result<Vec<Value>, ListError> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_TOOL_PAGES {
        let request = match cursor.take() {
            None => ListToolsRequest::default(),
            Some(c) => {
                ListToolsRequest::with_param(PaginatedRequestParams::default().with_cursor(Some(c)))
            }
        };
        let result = link
            .peer
            .send_request(ClientRequest::ListToolsRequest(request))
            .await
            .map_err(ListError::Service)?;
        let (tools, next) = match result {
            ServerResult::ListToolsResult(page) => (
                page.tools
                    .iter()
                    .filter_map(|t| serde_json::to_value(t).ok())
                    .collect(),
                page.next_cursor,
            ),
            other => {
                let value = serde_json::to_value(&other).unwrap_or(Value::Null);
                let Some(tools) = value.get("tools").and_then(Value::as_array) else {
                    return Err(ListError::Shape(format!(
                        "it has no `tools` array ({})",
                        kind(value.get("tools").unwrap_or(&Value::Null))
                    )));
                };
                let next = value
                    .get("nextCursor")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                (tools.clone(), next)
            }
        };
        out.extend(tools);
        match next.filter(|c| !c.is_empty()) {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
    Ok(out)
}

/// A tool's `inputSchema` must be a JSON Schema (checked against its meta-schema) of
/// an object: providers refuse anything else, and one bad tool would fail every model
/// call.
fn check_schema(schema: &rmcp::model::JsonObject) -> Result<(), String> {
    match schema.get("type") {
        None => {}
        Some(Value::String(t)) if t == "object" => {}
        Some(other) => {
            return Err(format!(
                "its inputSchema must describe an object, but its type is {other}"
            ))
        }
    }
    let value = Value::Object(schema.clone());
    jsonschema::meta::validate(&value)
        .map_err(|e| format!("its inputSchema is not a valid JSON Schema: {e}"))
}

/// The child's stdout as the MCP transport reads it: each message capped at
/// `max_bytes` while it is read (see [`crate::cap`]).
fn capped(stdout: tokio::process::ChildStdout, max_bytes: usize) -> tokio::io::DuplexStream {
    let (reader, mut writer) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let mut stdout = stdout;
        let mut cap = LineCap::new(max_bytes, false);
        let mut buf = vec![0u8; 64 * 1024];
        let mut out = Vec::new();
        loop {
            let n = match stdout.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            cap.feed(&buf[..n], &mut out);
            if !out.is_empty() {
                // The transport is gone: stop reading.
                if writer.write_all(&out).await.is_err() {
                    return;
                }
                out.clear();
            }
        }
        cap.finish(&mut out);
        let _ = writer.write_all(&out).await;
        let _ = writer.shutdown().await;
    });
    reader
}

impl std::fmt::Debug for McpManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.servers.iter().map(|s| (&s.name, &s.config)))
            .finish()
    }
}

/// Why `initialize` failed, without the transport's Rust type names.
fn init_error(error: &ClientInitializeError) -> String {
    match error {
        ClientInitializeError::TransportError { error, context } => {
            format!("{} ({context})", error_text(error.error.as_ref()))
        }
        other => error_text(other),
    }
}
