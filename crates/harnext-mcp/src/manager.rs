//! [`McpManager`]: the servers of one agent, started when a run first needs them,
//! reused across runs, and shut down by [`McpManager::close`] or when dropped.

use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex as SyncMutex;
use std::time::Duration;

use harnext_tools::Tool;
use rmcp::model::ClientCapabilities;
use rmcp::model::ClientConfig;
use rmcp::model::Implementation;
use rmcp::model::ProtocolVersion;
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
use tokio::sync::Mutex;

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

/// The MCP tools a run may use now, and the servers that are unavailable.
#[derive(Default, Clone)]
pub struct McpToolSet {
    pub tools: Vec<Arc<dyn Tool>>,
    pub failures: Vec<McpServerFailure>,
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
    pub async fn tools(&self, restart: Restart) -> McpToolSet {
        let results =
            futures::future::join_all(self.servers.iter().map(|s| s.refresh(restart))).await;
        let mut set = McpToolSet::default();
        for (server, result) in self.servers.iter().zip(results) {
            match result {
                Ok(tools) => set.tools.extend(tools),
                Err(reason) => set.failures.push(McpServerFailure {
                    server: server.name.clone(),
                    message: unavailable(&server.name, &reason),
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

    async fn refresh(&self, restart: Restart) -> Result<Vec<Arc<dyn Tool>>, String> {
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
                        Ok(tools) => conn.tools = tools,
                        Err(reason) => {
                            self.set_live(None);
                            *state = State::Failed(reason.clone());
                            return Err(reason);
                        }
                    }
                }
                return Ok(conn.tools.clone());
            }
            State::Failed(reason) if restart == Restart::No => return Err(reason.clone()),
            State::Failed(_) | State::Idle => {}
        }
        // A new connection lists its tools anyway.
        self.dirty.store(false, Ordering::SeqCst);
        match self.start().await {
            Ok(conn) => {
                let tools = conn.tools.clone();
                self.set_live(Some(conn.link.peer.clone()));
                *state = State::Running(Box::new(conn));
                Ok(tools)
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
                "it did not complete {what} within {} ms (startupTimeoutMs)",
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
                let client =
                    HttpClient::new().map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
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
                            config.url,
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
        });
        let tools = list_tools(&self.name, &link, limit).await?;
        Ok(Connection {
            service,
            tools,
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

/// Lists a server's tools (every page) within `limit`, as harnext tools.
async fn list_tools(
    server: &str,
    link: &Arc<Link>,
    limit: Duration,
) -> Result<Vec<Arc<dyn Tool>>, String> {
    let listed = tokio::time::timeout(limit, link.peer.list_all_tools()).await;
    let listed = match listed {
        Ok(Ok(tools)) => tools,
        Ok(Err(e)) => {
            if let Some(p) = &link.process {
                p.wait_exit(Duration::from_millis(500)).await;
            }
            return Err(match link.process.as_ref().and_then(|p| p.describe("")) {
                Some(how) => how,
                None => format!("tools/list failed: {}", error_text(&e)),
            });
        }
        Err(_) => {
            return Err(format!(
                "it did not answer tools/list within {} ms (startupTimeoutMs)",
                limit.as_millis()
            ))
        }
    };
    let mut tools: Vec<Arc<dyn Tool>> = Vec::with_capacity(listed.len());
    for tool in &listed {
        if tool.name.is_empty() {
            continue;
        }
        let name = tool_name(server, &tool.name);
        // The same name twice from one server: the first one wins.
        if tools.iter().any(|t| t.name() == name) {
            continue;
        }
        tools.push(Arc::new(McpTool::new(tool, name, link.clone())));
    }
    Ok(tools)
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
