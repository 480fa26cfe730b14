//! What the parts of a run share: the agent's state ([`AgentContext`]), the tools it
//! offers ([`RegisteredTool`]), where events go ([`EventSink`]) and how a run ends
//! ([`Ending`]). A leaf of the crate: it names the shared types and imports nothing
//! that imports it back.

use std::path::PathBuf;
use std::sync::Arc;

use harnext_mcp::McpManager;
use harnext_protocol::AgentEvent;
use harnext_protocol::ErrorCode;
use harnext_protocol::HarnextError;
use harnext_protocol::OptionKey;
use harnext_protocol::StopReason;
use harnext_providers::ModelProvider;
use harnext_providers::ToolSpec;
use harnext_tools::Tool;
use tokio::sync::mpsc::UnboundedSender;

use crate::cancel::Cancelled;
use crate::config::AgentConfig;
use crate::permissions::ToolCategory;
use crate::store::SessionStore;

/// An agent's state, shared by its runs: built once from a validated configuration.
pub(crate) struct AgentContext {
    pub config: AgentConfig,
    /// The model name sent to the provider (without the provider prefix).
    pub model: String,
    /// The workspace, canonicalized.
    pub cwd: PathBuf,
    pub provider: Arc<dyn ModelProvider>,
    /// The built-in and custom tools, in the order they are offered.
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

impl RegisteredTool {
    /// How the model sees the tool.
    pub fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.tool.name().to_owned(),
            description: self.tool.description().to_owned(),
            input_schema: self.tool.input_schema(),
        }
    }
}

/// Where a run's events go. `None` drops them (for `run()`, which wants only the result).
#[derive(Clone, Default)]
pub struct EventSink(Option<UnboundedSender<AgentEvent>>);

impl EventSink {
    pub fn channel(tx: UnboundedSender<AgentEvent>) -> Self {
        EventSink(Some(tx))
    }

    pub fn none() -> Self {
        EventSink(None)
    }

    pub(crate) fn emit(&self, event: AgentEvent) {
        if let Some(tx) = &self.0 {
            // A consumer that went away (a `break` out of the stream) is not an error:
            // the run was cancelled and finishes on its own.
            let _ = tx.send(event);
        }
    }

    /// Whether anyone listens (text chunks are not built for nobody).
    pub(crate) fn wants_events(&self) -> bool {
        self.0.as_ref().is_some_and(|tx| !tx.is_closed())
    }
}

/// How a run ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ending {
    /// The model ended its turn (with a valid answer, when one was asked for).
    EndTurn,
    /// The run made its `max_steps` model calls while the model was still working.
    MaxSteps(u32),
    Cancelled,
    Failed(HarnextError),
}

impl Ending {
    pub fn failed(code: ErrorCode, message: impl Into<String>) -> Ending {
        Ending::Failed(HarnextError::new(code, message))
    }

    /// The stop reason and error of the run's result.
    pub fn into_parts(self) -> (StopReason, Option<HarnextError>) {
        match self {
            Ending::EndTurn => (StopReason::EndTurn, None),
            Ending::Cancelled => (StopReason::Cancelled, None),
            Ending::Failed(e) => (StopReason::Error, Some(e)),
            Ending::MaxSteps(n) => (
                StopReason::MaxSteps,
                Some(HarnextError::new(
                    ErrorCode::MaxSteps,
                    format!(
                        "the run stopped after {n} model calls (`{}`) while the model was still calling tools",
                        OptionKey::MaxSteps
                    ),
                )),
            ),
        }
    }
}

impl From<Cancelled> for Ending {
    fn from(_: Cancelled) -> Self {
        Ending::Cancelled
    }
}
