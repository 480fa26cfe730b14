//! What the parts of a run share: the agent's state ([`AgentContext`]), the tools it
//! offers ([`RegisteredTool`]), where events go ([`EventSink`]) and how a run ends
//! ([`Ending`]). A leaf of the crate: it names the shared types and imports nothing
//! that imports it back.

use std::path::PathBuf;
use std::sync::Arc;

use harnext_mcp::McpManager;
use harnext_protocol::redact::Redactor;
use harnext_protocol::AgentEvent;
use harnext_protocol::ErrorCode;
use harnext_protocol::HarnextError;
use harnext_protocol::OptionKey;
use harnext_protocol::StopDetails;
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
    pub tool_specs: Arc<Vec<ToolSpec>>,
    pub system: String,
    /// Where this agent's sessions are kept.
    pub store: Arc<dyn SessionStore>,
    /// The agent's MCP servers (none started until a run needs them).
    pub mcp: McpManager,
    /// How the agent's commands are confined (built and probed at construction).
    pub sandbox: Arc<harnext_sandbox::Sandbox>,
    /// The runs going on, by session: where `Agent::send` finds them.
    pub running: crate::control::Running,
    /// Every credential the agent knows (the provider's key, header values and base
    /// URL credentials; the MCP servers'): nothing the run shows or keeps carries one.
    pub redactor: Redactor,
    /// The model's list prices, when known: costs are counted with them.
    pub price: Option<crate::pricing::Price>,
    /// The subagents the `task` tool runs (the `agents` option); see `crate::subagent`.
    pub subagents: Vec<Subagent>,
}

/// A subagent of an agent (an entry of the `agents` option), built with it.
pub(crate) struct Subagent {
    pub name: String,
    pub description: String,
    pub agent: Arc<AgentContext>,
    /// Where its runs keep their session until the transcript is in the parent's.
    pub store: crate::store::MemoryStore,
}

/// Runs a subagent on a prompt to its end (implemented by the run loop, which the
/// dispatch of a `task` call cannot name).
pub(crate) trait Delegate: Send + Sync {
    fn run<'a>(
        &'a self,
        subagent: &'a Subagent,
        prompt: String,
        cancel: tokio_util::sync::CancellationToken,
        events: EventSink,
    ) -> futures::future::BoxFuture<'a, Result<harnext_protocol::RunResult, String>>;
}

/// A tool offered to the model, with what it does for the permission modes.
#[derive(Clone)]
pub(crate) struct RegisteredTool {
    pub tool: Arc<dyn Tool>,
    pub category: ToolCategory,
    /// The call runs its command in the agent's OS sandbox (the built-in `bash`).
    pub sandboxed: bool,
}

impl RegisteredTool {
    /// How the model sees the tool.
    pub fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.tool.name().to_owned(),
            description: self.tool.description().to_owned(),
            input_schema: shared_schema(self.tool.input_schema()),
        }
    }
}

/// One copy of each distinct tool schema in the process, shared by every agent that
/// offers it (a thousand agents with the built-in tools held a thousand copies of the
/// same schemas, about 43 KB each, and each run deep-copied them again). Keyed by the
/// schema's JSON text; entries whose last agent is gone are dropped as new ones come.
fn shared_schema(schema: serde_json::Value) -> Arc<serde_json::Value> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::OnceLock;
    use std::sync::Weak;
    static SCHEMAS: OnceLock<Mutex<HashMap<String, Weak<serde_json::Value>>>> = OnceLock::new();
    let key = schema.to_string();
    let mut schemas = SCHEMAS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(shared) = schemas.get(&key).and_then(Weak::upgrade) {
        return shared;
    }
    if schemas.len() >= 64 && schemas.len().is_power_of_two() {
        schemas.retain(|_, weak| weak.strong_count() > 0);
    }
    let shared = Arc::new(schema);
    schemas.insert(key, Arc::downgrade(&shared));
    shared
}

/// Where a run's events go. `None` drops them (for `run()`, which wants only the result).
/// Every event sent is redacted first (see [`AgentContext::redactor`]).
#[derive(Clone, Default)]
pub struct EventSink {
    tx: Option<UnboundedSender<AgentEvent>>,
    redactor: Redactor,
    /// A subagent's sink: its events go out wrapped in `subagent` events naming the
    /// agent and the parent's `task` call.
    nested: Option<Arc<(String, String)>>,
}

impl EventSink {
    pub fn channel(tx: UnboundedSender<AgentEvent>) -> Self {
        EventSink {
            tx: Some(tx),
            redactor: Redactor::default(),
            nested: None,
        }
    }

    pub fn none() -> Self {
        EventSink::default()
    }

    /// This sink, redacting the secrets of `redactor` from every event.
    pub(crate) fn redacting(mut self, redactor: &Redactor) -> Self {
        self.redactor = redactor.clone();
        self
    }

    /// The sink of a subagent run by the `task` call `call_id` of this sink's run: its
    /// events come out wrapped (and still redacted with this sink's secrets).
    pub(crate) fn nested(&self, agent: &str, call_id: &str) -> EventSink {
        let mut sink = self.clone();
        sink.nested = Some(Arc::new((agent.to_owned(), call_id.to_owned())));
        sink
    }

    pub(crate) fn emit(&self, mut event: AgentEvent) {
        if let Some(tx) = &self.tx {
            redact_event(&self.redactor, &mut event);
            if let Some(nested) = &self.nested {
                event = AgentEvent::Subagent {
                    agent: nested.0.clone(),
                    call_id: nested.1.clone(),
                    event: Box::new(event),
                };
            }
            // A consumer that went away (a `break` out of the stream) is not an error:
            // the run was cancelled and finishes on its own.
            let _ = tx.send(event);
        }
    }

    /// Whether anyone listens (text chunks are not built for nobody).
    pub(crate) fn wants_events(&self) -> bool {
        self.tx.as_ref().is_some_and(|tx| !tx.is_closed())
    }
}

/// Replaces every secret of `r` in the event's text.
pub(crate) fn redact_event(r: &Redactor, event: &mut AgentEvent) {
    if r.is_empty() {
        return;
    }
    match event {
        AgentEvent::RunStart { .. } | AgentEvent::Usage { .. } | AgentEvent::Compaction { .. } => {}
        AgentEvent::Thinking { text }
        | AgentEvent::Text { text }
        | AgentEvent::UserMessage { text } => r.redact_string(text),
        AgentEvent::ToolCall { id, tool, args }
        | AgentEvent::PermissionRequest { id, tool, args, .. } => {
            r.redact_string(id);
            r.redact_string(tool);
            r.redact_json(args);
        }
        AgentEvent::ToolResult { id, output, .. } => {
            r.redact_string(id);
            r.redact_string(output);
        }
        AgentEvent::Retry { reason, .. } => r.redact_string(reason),
        AgentEvent::McpServerError { message, .. }
        | AgentEvent::McpWarning { message, .. }
        | AgentEvent::HookError { message, .. } => r.redact_string(message),
        AgentEvent::Warning { message, path } => {
            r.redact_string(message);
            if let Some(path) = path {
                r.redact_string(path);
            }
        }
        AgentEvent::Todo { todos } => {
            for item in todos {
                r.redact_string(&mut item.content);
            }
        }
        AgentEvent::WebSearch {
            query,
            results,
            error,
            ..
        } => {
            for text in [query, error].into_iter().flatten() {
                r.redact_string(text);
            }
            for page in results {
                r.redact_string(&mut page.url);
                if let Some(title) = &mut page.title {
                    r.redact_string(title);
                }
            }
        }
        AgentEvent::Citation {
            url,
            title,
            cited_text,
        } => {
            r.redact_string(url);
            for text in [title, cited_text].into_iter().flatten() {
                r.redact_string(text);
            }
        }
        AgentEvent::Error { error } => r.redact_string(&mut error.message),
        AgentEvent::RunEnd { result } => redact_result(r, result),
        AgentEvent::Subagent { event, .. } => redact_event(r, event),
    }
}

/// Replaces every secret of `r` in a run's result.
pub(crate) fn redact_result(r: &Redactor, result: &mut harnext_protocol::RunResult) {
    if r.is_empty() {
        return;
    }
    r.redact_string(&mut result.text);
    for step in &mut result.steps {
        r.redact_string(&mut step.id);
        r.redact_json(&mut step.args);
        r.redact_string(&mut step.output);
    }
    if let Some(output) = &mut result.output {
        r.redact_json(output);
    }
    if let Some(error) = &mut result.error {
        r.redact_string(&mut error.message);
    }
    if let Some(details) = &mut result.stop_details {
        for text in [&mut details.category, &mut details.explanation]
            .into_iter()
            .flatten()
        {
            r.redact_string(text);
        }
        if let Some(raw) = &mut details.raw {
            r.redact_json(raw);
        }
    }
}

/// Replaces every secret of `r` in a message's text, tool inputs and tool results.
pub(crate) fn redact_message(r: &Redactor, message: &mut harnext_protocol::Message) {
    if r.is_empty() {
        return;
    }
    for block in &mut message.content {
        match block {
            harnext_protocol::ContentBlock::Text { text } => r.redact_string(text),
            harnext_protocol::ContentBlock::Thinking { thinking, .. } => r.redact_string(thinking),
            harnext_protocol::ContentBlock::ToolUse { input, .. } => r.redact_json(input),
            harnext_protocol::ContentBlock::ToolResult { content, .. } => r.redact_string(content),
            _ => {}
        }
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
    /// Tool calls wait for approvals given later (deferred decisions).
    AwaitingApproval(Vec<harnext_protocol::PendingApproval>),
    /// The model's turn ended short of an answer: cut at `max_tokens`, refused, or
    /// filtered.
    Stopped {
        reason: StopReason,
        details: Option<StopDetails>,
        error: HarnextError,
    },
}

/// How a run ended, for its result.
pub(crate) struct EndingParts {
    pub stop_reason: StopReason,
    pub error: Option<HarnextError>,
    pub stop_details: Option<StopDetails>,
}

impl Ending {
    pub fn failed(code: ErrorCode, message: impl Into<String>) -> Ending {
        Ending::Failed(HarnextError::new(code, message))
    }

    /// A hook blocked the run.
    pub fn blocked(error: HarnextError) -> Ending {
        Ending::Stopped {
            reason: StopReason::Blocked,
            details: None,
            error,
        }
    }

    /// The stop reason, error and stop details of the run's result.
    pub fn into_parts(self) -> EndingParts {
        let (stop_reason, error, stop_details) = match self {
            Ending::EndTurn => (StopReason::EndTurn, None, None),
            Ending::Cancelled => (StopReason::Cancelled, None, None),
            Ending::Failed(e) => (StopReason::Error, Some(e), None),
            Ending::Stopped {
                reason,
                details,
                error,
            } => (reason, Some(error), details),
            Ending::AwaitingApproval(_) => (StopReason::AwaitingApproval, None, None),
            Ending::MaxSteps(n) => (
                StopReason::MaxSteps,
                Some(HarnextError::new(
                    ErrorCode::MaxSteps,
                    format!(
                        "the run stopped after {n} model calls (`{}`) while the model was still calling tools",
                        OptionKey::MaxSteps
                    ),
                )),
                None,
            ),
        };
        EndingParts {
            stop_reason,
            error,
            stop_details,
        }
    }
}

impl From<Cancelled> for Ending {
    fn from(_: Cancelled) -> Self {
        Ending::Cancelled
    }
}
