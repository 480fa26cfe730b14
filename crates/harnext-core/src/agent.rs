//! The agent: a validated configuration, a provider, tools, and the sessions of its runs;
//! the public entry point of the engine.

use std::sync::Arc;

use harnext_mcp::McpManager;
use harnext_protocol::ContentBlock;
use harnext_protocol::Message;

use crate::budget::Budget;
use crate::config::AgentConfig;
use crate::context::AgentContext;
use crate::error::ConfigError;
use crate::error::RunError;
use crate::output::OutputRequest;
use crate::output::OutputState;
use crate::permissions::PermissionHandler;
use crate::run::Run;
use crate::run::Settings;
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
    /// Decisions for the calls a session waits for (`{ [callId]: decision }`): the
    /// approved calls run, the denied ones are reported, and the run goes on. Needs
    /// `session_id`.
    Approvals(serde_json::Map<String, serde_json::Value>),
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
    /// Budgets of this run; the fields set override the agent's.
    pub budget: Budget,
    /// Overrides the agent's `parallel_tool_calls` for this run.
    pub parallel_tool_calls: Option<bool>,
    /// Overrides the agent's `web_search` for this run: `Some(None)` turns it off,
    /// `Some(Some(search))` on (checked against the provider by [`Agent::start`]).
    pub web_search: Option<Option<harnext_providers::WebSearch>>,
}

impl RunRequest {
    pub fn new(input: RunInput) -> Self {
        RunRequest {
            input,
            session_id: None,
            max_steps: None,
            permission_handler: None,
            output: None,
            budget: Budget::default(),
            parallel_tool_calls: None,
            web_search: None,
        }
    }

    pub fn text(input: impl Into<String>) -> Self {
        RunRequest::new(RunInput::Text(input.into()))
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
    /// servers again. Dropping the last clone of the agent kills them too. The
    /// background shells of runs still going are killed and reaped too.
    pub async fn close(&self) {
        self.inner.running.kill_background_shells().await;
        self.inner.mcp.close().await;
    }

    /// Checks `request` and prepares its run; misuse is reported here, before anything
    /// happens. The run starts when [`Run::execute`] is awaited.
    pub fn start(&self, request: RunRequest) -> Result<Run, RunError> {
        if let Some(0) = request.max_steps {
            return Err(RunError::InvalidMaxSteps(0));
        }
        let budget = request.budget.or(self.inner.config.budget);
        if let Some((option, problem)) =
            budget.problem(self.inner.price.is_some(), &self.inner.config.model)
        {
            return Err(RunError::InvalidBudget(option, problem));
        }
        let web_search = match request.web_search {
            None => self.inner.config.web_search.clone(),
            Some(search) => search,
        };
        if let Some(search) = &web_search {
            self.inner
                .provider
                .check_web_search(search)
                .map_err(|p| RunError::InvalidOption(harnext_protocol::OptionKey::WebSearch, p))?;
        }
        let mode = self.inner.config.permission_mode;
        if mode.asks() && request.permission_handler.is_none() {
            return Err(RunError::PermissionHandlerRequired(mode.as_str()));
        }
        let output = match request.output {
            Some(o) => Some(OutputState::new(o).map_err(RunError::InvalidOutputSchema)?),
            None => None,
        };
        let mut answers = None;
        let input = match request.input {
            RunInput::Approvals(_) if request.session_id.is_none() => {
                return Err(RunError::InvalidInput(
                    "`approvals` answer the calls a session waits for: give its `session_id`"
                        .into(),
                ))
            }
            RunInput::Approvals(map) => {
                answers = Some(crate::approvals::parse_answers(&map)?);
                Vec::new()
            }
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
        let input = self.load_images(input)?;
        let lease = session::acquire(
            &self.inner.store,
            request.session_id.as_deref(),
            SessionMeta {
                model: Some(self.inner.config.model.clone()),
                cwd: Some(self.inner.cwd.display().to_string()),
            },
        )?;
        match answers {
            Some(a) => {
                crate::approvals::check(&lease, &a)?;
                lease.set_answers(a);
            }
            // Calls that all ended (or were interrupted) but whose turn was never
            // closed: their results are put together first.
            None if lease.pending().is_some_and(|p| p.waiting().is_empty()) => {
                lease.set_answers(Vec::new());
            }
            None => {
                if let Some(p) = lease.pending().filter(|p| !p.waiting().is_empty()) {
                    let ids: Vec<String> = p.waiting().into_iter().map(|c| c.id).collect();
                    return Err(RunError::InvalidInput(format!(
                        "session `{}` waits for approvals of {}: answer them with `approvals` before a new task",
                        lease.id(),
                        ids.join(", ")
                    )));
                }
            }
        }
        Ok(Run::new(
            self.inner.clone(),
            lease,
            input,
            Settings {
                max_steps: request.max_steps.unwrap_or(self.inner.config.max_steps),
                budget,
                parallel_tool_calls: request
                    .parallel_tool_calls
                    .unwrap_or(self.inner.config.parallel_tool_calls),
                web_search,
            },
            request.permission_handler,
            output,
        ))
    }

    /// The control of the run of this agent going on now on `session_id` (one started
    /// with `start`, whether streamed or not): to send it messages or interrupt it.
    /// Checks the image parts of the input and reads the ones given by path through the
    /// workspace (no escape by `..` or symlinks); the history keeps them as base64 or
    /// https URLs. Any bad image refuses the run, naming the message and part.
    fn load_images(&self, mut input: Vec<Message>) -> Result<Vec<Message>, RunError> {
        use harnext_protocol::ImageSource;
        let mut workspace = None;
        for (i, m) in input.iter_mut().enumerate() {
            let role = m.role;
            for (j, block) in m.content.iter_mut().enumerate() {
                let ContentBlock::Image { source, .. } = block else {
                    continue;
                };
                let what = format!("input[{i}].content[{j}]");
                if role == harnext_protocol::Role::Assistant {
                    return Err(RunError::InvalidInput(format!(
                        "{what}: only user messages may hold images"
                    )));
                }
                let loaded = match &*source {
                    ImageSource::Path { path } => {
                        if workspace.is_none() {
                            workspace = Some(
                                harnext_tools::Workspace::new(&self.inner.cwd).map_err(|e| {
                                    RunError::InvalidInput(format!(
                                        "{what}: cannot open the workspace: {e}"
                                    ))
                                })?,
                            );
                        }
                        let Some(ws) = workspace.as_ref() else {
                            continue;
                        };
                        harnext_tools::load_image(ws, path)
                            .map_err(|e| RunError::InvalidInput(format!("{what}: {e}")))?
                    }
                    other => harnext_protocol::image::check_image(other, &what)
                        .map_err(|e| RunError::InvalidInput(e.0))?,
                };
                *source = loaded;
            }
        }
        Ok(input)
    }

    pub fn running(&self, session_id: &str) -> Option<crate::control::RunControl> {
        self.inner.running.get(session_id)
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

    /// Puts session `session_id` and the workspace's files back to message
    /// `request.to_message` (see `crate::checkpoints`). Blocking (file and store I/O):
    /// bindings call it off their event loop. A session a run holds is refused.
    pub fn rewind(
        &self,
        session_id: &str,
        request: &crate::checkpoints::RewindRequest,
    ) -> Result<crate::checkpoints::RewindResult, crate::checkpoints::RewindError> {
        crate::checkpoints::rewind(&self.inner.store, &self.inner.cwd, session_id, request)
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
