//! The errors the engine returns to a binding: a bad option when an agent is built
//! ([`ConfigError`]) and misuse found before a run starts ([`RunError`]).
//!
//! Messages name options by their neutral key (`` `max_steps` ``, see [`OptionKey`]); each
//! binding words them in its own conventions with [`OptionKey::reword`].

use harnext_protocol::OptionKey;

/// A bad option, reported when the agent is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid option `{option}`: {problem}")]
    Invalid { option: OptionKey, problem: String },
}

impl ConfigError {
    pub fn invalid(option: OptionKey, problem: impl Into<String>) -> Self {
        ConfigError::Invalid {
            option,
            problem: problem.into(),
        }
    }

    /// The option that is wrong.
    pub fn option(&self) -> OptionKey {
        match self {
            ConfigError::Invalid { option, .. } => *option,
        }
    }
}

/// Misuse detected before a run starts: `run()` rejects with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("unknown session `{0}`: there is no session with that id in this agent's `{sd}` (or, with `{ps}` false, among the sessions of this agent)", sd = OptionKey::SessionDir, ps = OptionKey::PersistSession)]
    UnknownSession(String),
    #[error("session `{0}` is already running; wait for its run to end before starting another")]
    SessionBusy(String),
    #[error("session `{0}` is being run by another process (its session file or store lock is held); wait for that run to end")]
    SessionLocked(String),
    #[error("the session cannot be loaded: {0}")]
    SessionStore(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("invalid option `{key}`: expected an integer >= 1, got {0}", key = OptionKey::MaxSteps)]
    InvalidMaxSteps(u32),
    /// The mode (`"manual"`, `"accept-edits"`) asks, and the run has no handler.
    #[error("`{pm}` \"{0}\" asks before tools run: pass `{opr}` (or stream the run and answer each permission_request event with `respond()`)", pm = OptionKey::PermissionMode, opr = OptionKey::OnPermissionRequest)]
    PermissionHandlerRequired(&'static str),
    #[error("invalid option `{key}`: {0}", key = OptionKey::OutputSchema)]
    InvalidOutputSchema(String),
    /// A budget of the run that cannot be kept (`max_cost_usd` for a model without a
    /// known price, ...).
    #[error("invalid option `{0}`: {1}")]
    InvalidBudget(OptionKey, String),
    /// A run option the agent's provider cannot honour (`web_search` for a provider
    /// without server-side web search, ...).
    #[error("invalid option `{0}`: {1}")]
    InvalidOption(OptionKey, String),
}
