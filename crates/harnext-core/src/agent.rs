//! The agent: a validated configuration, a provider, tools, and the sessions of its runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;

use harnext_mcp::McpManager;
use harnext_protocol::Message;
use harnext_providers::anthropic;
use harnext_providers::anthropic::AnthropicProvider;
use harnext_providers::openai;
use harnext_providers::openai::chat::ChatProvider;
use harnext_providers::openai::responses::ResponsesProvider;
use harnext_providers::scripted::ScriptedProvider;
use harnext_providers::HttpSettings;
use harnext_providers::ModelProvider;
use harnext_providers::ToolSpec;
use harnext_tools::Tool;

use crate::config::AgentConfig;
use crate::config::ConfigError;
use crate::config::ModelRef;
use crate::config::PermissionMode;
use crate::config::SystemPrompt;
use crate::output::OutputRequest;
use crate::output::OutputState;
use crate::permissions;
use crate::permissions::PermissionHandler;
use crate::permissions::ToolCategory;
use crate::prompt;
use crate::run::Run;
use crate::session;
use crate::session::SessionData;
use crate::session::SessionError;
use crate::session::SessionMeta;
use crate::store::FileStore;
use crate::store::MemoryStore;
use crate::store::SessionStore;
use crate::store::SessionSummary;

/// Misuse detected before a run starts: `run()` rejects with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("unknown session `{0}`: there is no session with that id in this agent's sessionDir (or, with persistSession: false, among the sessions of this agent)")]
    UnknownSession(String),
    #[error("session `{0}` is already running; wait for its run to end before starting another")]
    SessionBusy(String),
    #[error("session `{0}` is being run by another process (its session file is locked); wait for that run to end")]
    SessionLocked(String),
    #[error("the session cannot be loaded: {0}")]
    SessionStore(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("invalid option `maxSteps`: expected an integer >= 1, got {0}")]
    InvalidMaxSteps(u32),
    #[error("permissionMode {0:?} asks before tools run: pass `onPermissionRequest` (or use stream() and answer with `respond()` on the permission_request event)")]
    PermissionHandlerRequired(&'static str),
    #[error("invalid option `outputSchema`: {0}")]
    InvalidOutputSchema(String),
}

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub enum RunInput {
    Text(String),
    Messages(Vec<Message>),
}

#[derive(Clone)]
pub struct RunRequest {
    pub input: RunInput,
    /// Continue this session's conversation instead of starting a new one.
    pub session_id: Option<String>,
    /// Overrides the agent's `max_steps` for this run.
    pub max_steps: Option<u32>,
    /// Answers permission requests; required in the `manual` and `accept-edits` modes.
    pub permission_handler: Option<Arc<dyn PermissionHandler>>,
    /// Structured output: the final answer must match this schema.
    pub output: Option<OutputRequest>,
}

impl RunRequest {
    pub fn text(input: impl Into<String>) -> Self {
        RunRequest {
            input: RunInput::Text(input.into()),
            session_id: None,
            max_steps: None,
            permission_handler: None,
            output: None,
        }
    }
}

pub(crate) struct AgentInner {
    pub config: AgentConfig,
    pub model: String,
    pub cwd: PathBuf,
    pub provider: Arc<dyn ModelProvider>,
    pub tools: Vec<RegisteredTool>,
    pub tool_specs: Vec<ToolSpec>,
    pub system: String,
    /// Where this agent's sessions are kept.
    pub store: Arc<dyn SessionStore>,
    /// The agent's MCP servers (none started until a run needs them).
    pub mcp: McpManager,
}

/// A tool offered to the model, with what it does for the permission modes.
#[derive(Clone)]
pub(crate) struct RegisteredTool {
    pub tool: Arc<dyn Tool>,
    pub category: ToolCategory,
}

/// A configured agent. Cheap to clone; clones share sessions.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<AgentInner>,
}

fn http_client() -> Result<reqwest::Client, ConfigError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c.clone());
    }
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .user_agent(concat!("harnext/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            ConfigError::invalid("model", format!("cannot set up the HTTP client: {e}"))
        })?;
    Ok(CLIENT.get_or_init(|| client).clone())
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Connection settings for an HTTP provider: options first, then the environment.
fn http_settings(config: &AgentConfig, base_url_env: &str, api_key_env: &str) -> HttpSettings {
    HttpSettings {
        base_url: config
            .base_url
            .clone()
            .or_else(|| non_empty_env(base_url_env)),
        api_key: config
            .api_key
            .clone()
            .or_else(|| non_empty_env(api_key_env)),
        headers: config.headers.clone(),
        max_retries: config.max_retries,
        idle_timeout: config.idle_timeout,
        ..HttpSettings::default()
    }
}

impl Agent {
    pub fn new(config: AgentConfig) -> Result<Agent, ConfigError> {
        let model_ref = ModelRef::parse(&config.model)?;
        if config.max_steps == 0 {
            return Err(ConfigError::invalid(
                "maxSteps",
                "expected an integer >= 1, got 0",
            ));
        }
        if let Some(t) = config.temperature {
            if !(0.0..=2.0).contains(&t) {
                return Err(ConfigError::invalid(
                    "temperature",
                    format!("expected a number from 0 to 2, got {t}"),
                ));
            }
        }
        if config.max_output_tokens == Some(0) {
            return Err(ConfigError::invalid(
                "maxOutputTokens",
                "expected an integer >= 1, got 0",
            ));
        }
        if let Some(b) = config.thinking_budget {
            if b < 1024 {
                return Err(ConfigError::invalid(
                    "thinking",
                    format!("budgetTokens must be at least 1024, got {b}"),
                ));
            }
        }
        let cwd = match &config.cwd {
            Some(p) => p.clone(),
            None => std::env::current_dir().map_err(|e| {
                ConfigError::invalid("cwd", format!("cannot read the current directory: {e}"))
            })?,
        };
        let cwd = std::fs::canonicalize(&cwd)
            .ok()
            .filter(|p| p.is_dir())
            .ok_or_else(|| {
                ConfigError::invalid(
                    "cwd",
                    format!("{} is not an existing directory", cwd.display()),
                )
            })?;
        if let Some(base) = &config.base_url {
            let ok =
                reqwest::Url::parse(base).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok {
                return Err(ConfigError::invalid(
                    "baseURL",
                    format!("expected an http(s) URL, got {base:?}"),
                ));
            }
        }
        for (name, _) in &config.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(ConfigError::invalid(
                    "headers",
                    format!("{name:?} is not a valid header name"),
                ));
            }
        }

        let tool_names: Vec<String> = match &config.tools {
            Some(names) => names.clone(),
            None => harnext_tools::BUILTIN_TOOL_NAMES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        };
        let mut tools: Vec<Arc<dyn Tool>> = Vec::new();
        for name in &tool_names {
            let tool = harnext_tools::builtin_tool(name).ok_or_else(|| {
                ConfigError::invalid(
                    "tools",
                    format!(
                        "unknown built-in tool {name:?}; expected some of {:?}",
                        harnext_tools::BUILTIN_TOOL_NAMES
                    ),
                )
            })?;
            if tools.iter().any(|t| t.name() == name) {
                return Err(ConfigError::invalid(
                    "tools",
                    format!("tool {name:?} is listed twice"),
                ));
            }
            tools.push(tool);
        }
        let builtins = tools.len();
        for tool in &config.custom_tools {
            let name = tool.name();
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                return Err(ConfigError::invalid(
                    "tools",
                    format!("tool name {name:?} must be 1 to 64 characters of [a-zA-Z0-9_-]"),
                ));
            }
            if tools.iter().any(|t| t.name() == name) || harnext_tools::builtin_tool(name).is_some()
            {
                return Err(ConfigError::invalid(
                    "tools",
                    format!("tool name {name:?} is used twice (or by a built-in tool)"),
                ));
            }
            if !tool.input_schema().is_object() {
                return Err(ConfigError::invalid(
                    "tools",
                    format!("tool {name:?}: its input schema must be a JSON Schema object"),
                ));
            }
            tools.push(tool.clone());
        }
        let tool_names: Vec<String> = tools.iter().map(|t| t.name().to_owned()).collect();
        let tool_specs = tools
            .iter()
            .map(|t| ToolSpec {
                name: t.name().to_owned(),
                description: t.description().to_owned(),
                input_schema: t.input_schema(),
            })
            .collect();
        let tools: Vec<RegisteredTool> = tools
            .into_iter()
            .enumerate()
            .map(|(i, tool)| RegisteredTool {
                category: permissions::category(tool.name(), tool.read_only(), i < builtins),
                tool,
            })
            .collect();

        let (provider, model): (Arc<dyn ModelProvider>, String) = match model_ref {
            ModelRef::Scripted => {
                let Some(script) = config.script.clone() else {
                    return Err(ConfigError::invalid(
                        "script",
                        "model \"scripted\" needs `script`: a list of turns such as [{ text: \"Hello\" }]",
                    ));
                };
                (
                    Arc::new(ScriptedProvider::new(script)),
                    "scripted".to_owned(),
                )
            }
            ModelRef::Anthropic(name) => {
                let settings =
                    http_settings(&config, anthropic::BASE_URL_ENV, anthropic::API_KEY_ENV);
                (
                    Arc::new(AnthropicProvider::new(http_client()?, settings)),
                    name,
                )
            }
            ModelRef::OpenAi(name) => {
                let settings = http_settings(&config, openai::BASE_URL_ENV, openai::API_KEY_ENV);
                (
                    Arc::new(ResponsesProvider::new(http_client()?, settings)),
                    name,
                )
            }
            ModelRef::OpenAiChat(name) => {
                let settings = http_settings(&config, openai::BASE_URL_ENV, openai::API_KEY_ENV);
                (Arc::new(ChatProvider::new(http_client()?, settings)), name)
            }
        };
        let system = match &config.system_prompt {
            SystemPrompt::BuiltIn => prompt::built_in(&cwd, &tool_names),
            SystemPrompt::Replace(s) => s.clone(),
            SystemPrompt::Append(extra) => {
                format!("{}\n\n{extra}", prompt::built_in(&cwd, &tool_names))
            }
        };
        if config.context_window == Some(0) {
            return Err(ConfigError::invalid(
                "contextWindow",
                "expected an integer >= 1, got 0",
            ));
        }
        let store: Arc<dyn SessionStore> = match (&config.session_store, config.persist_session) {
            (Some(store), _) => store.clone(),
            (None, false) => Arc::new(MemoryStore::new()),
            (None, true) => {
                let dir = match &config.session_dir {
                    Some(dir) => dir.clone(),
                    None => FileStore::default_dir()
                        .map_err(|e| ConfigError::invalid("sessionDir", e.to_string()))?,
                };
                if dir.exists() && !dir.is_dir() {
                    return Err(ConfigError::invalid(
                        "sessionDir",
                        format!("{} exists and is not a directory", dir.display()),
                    ));
                }
                Arc::new(FileStore::new(dir))
            }
        };
        let mcp = McpManager::new(config.mcp_servers.clone(), &cwd)
            .map_err(|e| ConfigError::invalid("mcpServers", e.to_string()))?;
        Ok(Agent {
            inner: Arc::new(AgentInner {
                config,
                model,
                cwd,
                provider,
                tools,
                tool_specs,
                system,
                store,
                mcp,
            }),
        })
    }

    pub fn config(&self) -> &AgentConfig {
        &self.inner.config
    }

    /// The workspace directory, canonicalized.
    pub fn cwd(&self) -> &std::path::Path {
        &self.inner.cwd
    }

    /// The system prompt sent with every model call.
    pub fn system_prompt(&self) -> &str {
        &self.inner.system
    }

    /// The agent's MCP servers.
    pub fn mcp(&self) -> &McpManager {
        &self.inner.mcp
    }

    /// Shuts the agent's MCP servers down (stdio servers are ended and reaped before
    /// this returns). Runs still going lose their MCP tools; a later run starts the
    /// servers again. Dropping the last clone of the agent kills them too.
    pub async fn close(&self) {
        self.inner.mcp.close().await;
    }

    /// Checks `request` and prepares its run; misuse is reported here, before anything
    /// happens. The run starts when [`Run::execute`] is awaited.
    pub fn start(&self, request: RunRequest) -> Result<Run, RunError> {
        if let Some(0) = request.max_steps {
            return Err(RunError::InvalidMaxSteps(0));
        }
        let needs_handler = match self.inner.config.permission_mode {
            PermissionMode::Manual => Some("manual"),
            PermissionMode::AcceptEdits => Some("accept-edits"),
            PermissionMode::Auto | PermissionMode::ReadOnly => None,
        };
        if let (Some(mode), None) = (needs_handler, &request.permission_handler) {
            return Err(RunError::PermissionHandlerRequired(mode));
        }
        let output = match request.output {
            Some(o) => Some(OutputState::new(o).map_err(RunError::InvalidOutputSchema)?),
            None => None,
        };
        let input = match request.input {
            RunInput::Text(t) if t.trim().is_empty() => {
                return Err(RunError::InvalidInput("the task is an empty string".into()))
            }
            RunInput::Text(t) => vec![Message::user_text(t)],
            RunInput::Messages(m) if m.is_empty() => {
                return Err(RunError::InvalidInput(
                    "the list of messages is empty".into(),
                ))
            }
            RunInput::Messages(m) => m,
        };
        let lease = session::acquire(
            &self.inner.store,
            request.session_id.as_deref(),
            SessionMeta {
                model: Some(self.inner.config.model.clone()),
                cwd: Some(self.inner.cwd.display().to_string()),
            },
        )?;
        Ok(Run::new(
            self.inner.clone(),
            lease,
            input,
            request.max_steps.unwrap_or(self.inner.config.max_steps),
            request.permission_handler,
            output,
        ))
    }

    /// The conversation of a session of this agent's store, when it exists: the history
    /// a run continuing it would start from.
    pub fn session_messages(&self, session_id: &str) -> Option<Vec<Message>> {
        session::load(self.inner.store.as_ref(), session_id)
            .ok()
            .map(|d| d.messages)
    }

    /// Where this agent keeps its sessions.
    pub fn session_store(&self) -> Arc<dyn SessionStore> {
        self.inner.store.clone()
    }

    /// The sessions of this agent's store, newest first.
    pub fn list_sessions(&self) -> Result<Vec<SessionSummary>, SessionError> {
        session::list(self.inner.store.as_ref())
    }

    /// A session of this agent's store, read back.
    pub fn load_session(&self, session_id: &str) -> Result<SessionData, SessionError> {
        session::load(self.inner.store.as_ref(), session_id)
    }

    /// Copies a session of this agent's store, keeping its first `at_message` messages
    /// (all when `None`), and returns the new session's id.
    pub fn fork_session(
        &self,
        session_id: &str,
        at_message: Option<usize>,
    ) -> Result<String, SessionError> {
        session::fork(self.inner.store.as_ref(), session_id, at_message)
    }
}
