//! The run loop: model call, tool calls, results back, until the model ends its turn,
//! `max_steps` model calls were made, an error ends the run, or it is cancelled.
//!
//! Every await selects on the run's cancellation token. On cancellation the model
//! request is dropped (closing its connection), the running tool's future is dropped
//! (its guards kill what it started), every open tool call gets a `cancelled` result,
//! and the history keeps everything that completed, so the session stays valid for the
//! next run on any provider.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use harnext_protocol::AgentEvent;
use harnext_protocol::ContentBlock;
use harnext_protocol::ErrorCode;
use harnext_protocol::HarnextError;
use harnext_protocol::Message;
use harnext_protocol::Role;
use harnext_protocol::RunResult;
use harnext_protocol::StopReason;
use harnext_protocol::ToolStatus;
use harnext_protocol::ToolStep;
use harnext_protocol::Usage;
use harnext_providers::ModelEvent;
use harnext_providers::ModelRequest;
use harnext_providers::ModelResponse;
use harnext_providers::ModelStopReason;
use harnext_tools::cap_output;
use harnext_tools::ToolContext;
use harnext_tools::ToolError;
use harnext_tools::Workspace;
use harnext_tools::MAX_OUTPUT_CHARS;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::agent::AgentInner;
use crate::permissions;
use crate::permissions::Decision;
use crate::permissions::Gate;
use crate::permissions::PermissionHandler;
use crate::permissions::PermissionRequest;
use crate::session::SessionLease;

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

    fn emit(&self, event: AgentEvent) {
        if let Some(tx) = &self.0 {
            // A consumer that went away (a `break` out of the stream) is not an error:
            // the run was cancelled and finishes on its own.
            let _ = tx.send(event);
        }
    }

    fn wants_events(&self) -> bool {
        self.0.as_ref().is_some_and(|tx| !tx.is_closed())
    }
}

/// How long a cancelled tool may take to clean up before its future is dropped.
const TOOL_CANCEL_GRACE: std::time::Duration = std::time::Duration::from_millis(40);

const CANCELLED_OUTPUT: &str = "Cancelled: the run was aborted before this tool call finished.";

/// A prepared run; [`Run::execute`] runs it to the end.
pub struct Run {
    agent: Arc<AgentInner>,
    session: SessionLease,
    input: Vec<Message>,
    max_steps: u32,
    permissions: Option<Arc<dyn PermissionHandler>>,
}

/// How one model call ended.
enum ModelOutcome {
    Completed(ModelResponse),
    Failed(HarnextError),
    Cancelled,
}

impl Run {
    pub(crate) fn new(
        agent: Arc<AgentInner>,
        session: SessionLease,
        input: Vec<Message>,
        max_steps: u32,
        permissions: Option<Arc<dyn PermissionHandler>>,
    ) -> Self {
        Run {
            agent,
            session,
            input,
            max_steps,
            permissions,
        }
    }

    pub fn session_id(&self) -> &str {
        self.session.id()
    }

    /// Runs the loop. Never fails: every ending is a [`RunResult`], and the last event
    /// sent to `events` is `run_end`, exactly once.
    pub async fn execute(self, cancel: CancellationToken, events: EventSink) -> RunResult {
        let started = Instant::now();
        let mut state = LoopState {
            events,
            cancel,
            history: self.session.messages(),
            session: &self.session,
            permissions: self.permissions.clone(),
            steps: Vec::new(),
            usage: Usage::default(),
            text: String::new(),
            files_changed: Vec::new(),
        };
        state.events.emit(AgentEvent::RunStart {
            session_id: self.session.id().to_owned(),
        });
        let workspace = Workspace::new(&self.agent.cwd).map(Arc::new);
        let (stop, error) = match workspace {
            Err(e) => (
                StopReason::Error,
                Some(HarnextError::new(
                    ErrorCode::Internal,
                    format!(
                        "the workspace {} cannot be used: {e}",
                        self.agent.cwd.display()
                    ),
                )),
            ),
            Ok(workspace) => {
                for m in self.input {
                    state.push(m);
                }
                let ending = state
                    .run_loop(&self.agent, &workspace, self.max_steps)
                    .await;
                state.files_changed = workspace.changed_files();
                ending
            }
        };
        let cancelled = stop == StopReason::Cancelled;
        let success = stop == StopReason::EndTurn && error.is_none();
        if let Some(err) = &error {
            state.events.emit(AgentEvent::Error { error: err.clone() });
        }
        let result = RunResult {
            text: std::mem::take(&mut state.text),
            steps: std::mem::take(&mut state.steps),
            files_changed: std::mem::take(&mut state.files_changed),
            usage: state.usage,
            session_id: self.session.id().to_owned(),
            success,
            cancelled,
            stop_reason: stop,
            output: None,
            error: if cancelled { None } else { error },
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        let events = state.events.clone();
        // The session is free again before `run_end` reaches anyone, so a consumer can
        // start the next run on it from the `run_end` handler.
        drop(state);
        drop(self.session);
        events.emit(AgentEvent::RunEnd {
            result: Box::new(result.clone()),
        });
        result
    }
}

struct LoopState<'a> {
    events: EventSink,
    cancel: CancellationToken,
    history: Vec<Message>,
    session: &'a SessionLease,
    permissions: Option<Arc<dyn PermissionHandler>>,
    steps: Vec<ToolStep>,
    usage: Usage,
    /// The text of the latest model call.
    text: String,
    files_changed: Vec<String>,
}

impl LoopState<'_> {
    fn push(&mut self, message: Message) {
        self.session.append(message.clone());
        self.history.push(message);
    }

    async fn run_loop(
        &mut self,
        agent: &AgentInner,
        workspace: &Arc<Workspace>,
        max_steps: u32,
    ) -> (StopReason, Option<HarnextError>) {
        for step in 1..=max_steps {
            if self.cancel.is_cancelled() {
                return (StopReason::Cancelled, None);
            }
            let response = match self.model_call(agent).await {
                ModelOutcome::Cancelled => return (StopReason::Cancelled, None),
                ModelOutcome::Failed(e) => return (StopReason::Error, Some(e)),
                ModelOutcome::Completed(r) => r,
            };
            let calls: Vec<(String, String, serde_json::Value)> = response
                .content
                .iter()
                .filter_map(|b| match b {
                    ContentBlock::ToolUse { id, name, input } => {
                        Some((id.clone(), name.clone(), input.clone()))
                    }
                    _ => None,
                })
                .collect();
            if !response.content.is_empty() {
                self.push(Message {
                    role: Role::Assistant,
                    content: response.content.clone(),
                });
            }
            if calls.is_empty() {
                return match response.stop_reason {
                    ModelStopReason::ContextWindowExceeded => (
                        StopReason::Error,
                        Some(HarnextError::new(
                            ErrorCode::ContextOverflow,
                            "the model stopped: the conversation no longer fits its context window",
                        )),
                    ),
                    ModelStopReason::EndTurn
                    | ModelStopReason::ToolUse
                    | ModelStopReason::MaxTokens
                    | ModelStopReason::StopSequence
                    | ModelStopReason::Refusal
                    | ModelStopReason::PauseTurn
                    | ModelStopReason::Other(_) => (StopReason::EndTurn, None),
                };
            }
            let mut results = Vec::with_capacity(calls.len());
            for (id, name, mut args) in calls {
                let (status, output, duration_ms) = if self.cancel.is_cancelled() {
                    self.events.emit(AgentEvent::ToolCall {
                        id: id.clone(),
                        tool: name.clone(),
                        args: args.clone(),
                    });
                    (ToolStatus::Cancelled, CANCELLED_OUTPUT.to_owned(), 0)
                } else {
                    let invalid = response.invalid_tool_inputs.get(&id).cloned();
                    self.call_tool(agent, workspace, &id, &name, &mut args, invalid)
                        .await
                };
                self.events.emit(AgentEvent::ToolResult {
                    id: id.clone(),
                    status,
                    output: output.clone(),
                });
                results.push(ContentBlock::ToolResult {
                    tool_use_id: id.clone(),
                    content: output.clone(),
                    status,
                });
                self.steps.push(ToolStep {
                    id,
                    tool: name,
                    args,
                    status,
                    output,
                    duration_ms,
                });
            }
            self.push(Message {
                role: Role::User,
                content: results,
            });
            if self.cancel.is_cancelled() {
                return (StopReason::Cancelled, None);
            }
            if step == max_steps {
                break;
            }
        }
        (
            StopReason::MaxSteps,
            Some(HarnextError::new(
                ErrorCode::MaxSteps,
                format!("the run stopped after {max_steps} model calls (maxSteps) while the model was still calling tools"),
            )),
        )
    }

    async fn model_call(&mut self, agent: &AgentInner) -> ModelOutcome {
        let request = ModelRequest {
            model: agent.model.clone(),
            system: agent.system.clone(),
            messages: self.history.clone(),
            tools: agent.tool_specs.clone(),
            max_output_tokens: agent.config.max_output_tokens,
            temperature: agent.config.temperature,
            thinking_budget: agent.config.thinking_budget,
        };
        let mut stream = agent.provider.stream(request);
        self.text.clear();
        let mut last_usage: Option<Usage> = None;
        let outcome = loop {
            let next = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => break ModelOutcome::Cancelled,
                next = stream.next() => next,
            };
            match next {
                Some(Ok(ModelEvent::TextDelta(t))) => {
                    self.text.push_str(&t);
                    if self.events.wants_events() {
                        self.events.emit(AgentEvent::Text { text: t });
                    }
                }
                Some(Ok(ModelEvent::ThinkingDelta(t))) => {
                    self.events.emit(AgentEvent::Thinking { text: t })
                }
                Some(Ok(ModelEvent::UsageUpdate(u))) => last_usage = Some(u),
                Some(Ok(ModelEvent::Retry {
                    attempt,
                    delay_ms,
                    reason,
                })) => {
                    // A retried attempt starts over; text it streamed is not part of the answer.
                    self.text.clear();
                    last_usage = None;
                    self.events.emit(AgentEvent::Retry {
                        attempt,
                        delay_ms,
                        reason,
                    });
                }
                Some(Ok(ModelEvent::Completed(r))) => {
                    last_usage = Some(r.usage);
                    break ModelOutcome::Completed(r);
                }
                Some(Err(e)) => break ModelOutcome::Failed(e.to_public()),
                None => {
                    break ModelOutcome::Failed(HarnextError::new(
                        ErrorCode::Internal,
                        "the model stream ended without a response",
                    ))
                }
            }
        };
        drop(stream);
        // Honest usage: a call that was cut short still reports what it consumed.
        if let Some(u) = last_usage {
            self.usage += u;
            self.events.emit(AgentEvent::Usage(u));
        }
        if !matches!(outcome, ModelOutcome::Completed(_)) && !self.text.is_empty() {
            // Keep the partial reply in the session: the user saw it.
            self.push(Message::assistant_text(self.text.clone()));
        }
        outcome
    }

    async fn call_tool(
        &mut self,
        agent: &AgentInner,
        workspace: &Arc<Workspace>,
        id: &str,
        name: &str,
        args: &mut serde_json::Value,
        invalid_input: Option<String>,
    ) -> (ToolStatus, String, u64) {
        self.events.emit(AgentEvent::ToolCall {
            id: id.to_owned(),
            tool: name.to_owned(),
            args: args.clone(),
        });
        let started = Instant::now();
        let elapsed = |s: Instant| u64::try_from(s.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let Some(problem) = invalid_input {
            return (
                ToolStatus::Error,
                format!("The tool was not run: its {problem}. Send the call again with complete JSON arguments."),
                0,
            );
        }
        let Some(registered) = agent.tools.iter().find(|t| t.tool.name() == name) else {
            let available: Vec<&str> = agent.tools.iter().map(|t| t.tool.name()).collect();
            return (
                ToolStatus::Error,
                format!(
                    "Unknown tool `{name}`. Available tools: {}.",
                    available.join(", ")
                ),
                0,
            );
        };
        let session_id = self.session.id().to_owned();
        let gate = if agent.is_remembered(&session_id, name) {
            Gate::Run
        } else {
            permissions::gate(agent.config.permission_mode, registered.category)
        };
        match gate {
            Gate::Run => {}
            Gate::Refuse => {
                return (
                    ToolStatus::Denied,
                    format!(
                        "Refused: permissionMode is \"read-only\", and `{name}` writes files or runs commands. Use the read-only tools instead."
                    ),
                    0,
                )
            }
            Gate::Ask => {
                self.events.emit(AgentEvent::PermissionRequest {
                    id: id.to_owned(),
                    tool: name.to_owned(),
                    args: args.clone(),
                });
                let Some(handler) = self.permissions.clone() else {
                    return (ToolStatus::Denied, "Refused: no one can approve this call.".to_owned(), 0);
                };
                let asked = handler.decide(PermissionRequest {
                    id: id.to_owned(),
                    tool: name.to_owned(),
                    args: args.clone(),
                });
                let decision = tokio::select! {
                    biased;
                    _ = self.cancel.cancelled() => {
                        return (ToolStatus::Cancelled, CANCELLED_OUTPUT.to_owned(), elapsed(started));
                    }
                    d = asked => d,
                };
                match decision {
                    Ok(Decision::Allow { args: edited, remember }) => {
                        if remember {
                            agent.remember(&session_id, name);
                        }
                        if let Some(edited) = edited {
                            *args = edited;
                        }
                    }
                    Ok(Decision::Deny { message }) => {
                        let output = message
                            .filter(|m| !m.trim().is_empty())
                            .unwrap_or_else(|| "The user denied this tool call.".to_owned());
                        return (ToolStatus::Denied, cap_output(&output, MAX_OUTPUT_CHARS), elapsed(started));
                    }
                    Err(e) => {
                        return (
                            ToolStatus::Denied,
                            format!("The tool call was not approved: the permission callback failed ({e})."),
                            elapsed(started),
                        )
                    }
                }
            }
        }
        let tool = &registered.tool;
        let ctx = ToolContext {
            workspace: workspace.clone(),
            cancel: self.cancel.child_token(),
            call_id: id.to_owned(),
        };
        let mut fut = tool.call(args.clone(), ctx);
        let outcome = tokio::select! {
            r = &mut fut => r,
            _ = self.cancel.cancelled() => {
                // The tool saw the same cancellation: give it a moment to stop what it
                // started (kill and reap a process group), then drop it regardless.
                match tokio::time::timeout(TOOL_CANCEL_GRACE, fut).await {
                    Ok(Ok(out)) => Ok(out),
                    Ok(Err(_)) | Err(_) => Err(ToolError::Cancelled),
                }
            }
        };
        let (status, output) = match outcome {
            Ok(out) => (ToolStatus::Ok, cap_output(&out, MAX_OUTPUT_CHARS)),
            Err(ToolError::Cancelled) => (ToolStatus::Cancelled, CANCELLED_OUTPUT.to_owned()),
            Err(e) => (
                ToolStatus::Error,
                cap_output(&e.to_string(), MAX_OUTPUT_CHARS),
            ),
        };
        (status, output, elapsed(started))
    }
}
