//! The agent: a validated configuration, a provider, tools, and the sessions of its runs;
//! the public entry point of the engine.

use std::sync::Arc;

use harnext_mcp::McpManager;
use harnext_protocol::Message;

use crate::config::AgentConfig;
use crate::context::AgentContext;
use crate::error::ConfigError;
use crate::error::RunError;
use crate::output::OutputRequest;
use crate::output::OutputState;
use crate::permissions::PermissionHandler;
use crate::run::Run;
use crate::session;
use crate::session::SessionData;
use crate::session::SessionError;
use crate::session::SessionMeta;
use crate::setup;
use crate::store::SessionStore;
use crate::store::SessionSummary;

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

/// A configured agent. Cheap to clone; clones share sessions.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<AgentContext>,
}

impl Agent {
    /// Checks the configuration (an error names the option that is wrong) and sets the
    /// agent up; nothing is started until a run needs it.
    pub fn new(config: AgentConfig) -> Result<Agent, ConfigError> {
        Ok(Agent {
            inner: Arc::new(setup::context(config)?),
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

    /// What the agent's sandbox enforces (for a header line; `run_start` carries it).
    pub fn sandbox_status(&self) -> &harnext_sandbox::SandboxStatus {
        self.inner.sandbox.status()
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
        let mode = self.inner.config.permission_mode;
        if mode.asks() && request.permission_handler.is_none() {
            return Err(RunError::PermissionHandlerRequired(mode.as_str()));
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
