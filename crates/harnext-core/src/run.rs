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
use harnext_mcp::Restart;
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
use harnext_providers::StructuredOutputMode;
use harnext_providers::FINAL_ANSWER_TOOL;
use harnext_tools::cap_output;
use harnext_tools::ToolContext;
use harnext_tools::ToolError;
use harnext_tools::Workspace;
use harnext_tools::MAX_OUTPUT_CHARS;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::agent::AgentInner;
use crate::output::parse_answer_text;
use crate::output::OutputState;
use crate::permissions;
use crate::permissions::Decision;
use crate::permissions::Gate;
use crate::permissions::PermissionHandler;
use crate::permissions::PermissionRequest;
use crate::run_tools::RunTools;
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

    pub(crate) fn emit(&self, event: AgentEvent) {
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
    output: Option<OutputState>,
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
        output: Option<OutputState>,
    ) -> Self {
        Run {
            agent,
            session,
            input,
            max_steps,
            permissions,
            output,
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
            output: self.output,
            answer: None,
            tools: RunTools::new(&self.agent),
        };
        self.session.begin();
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
            output: if success { state.answer.take() } else { None },
            error: if cancelled { None } else { error },
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        self.session.finish(&result);
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
    /// Structured output asked for, and the validated answer once given.
    output: Option<OutputState>,
    answer: Option<serde_json::Value>,
    /// The tools offered to the model now (MCP tools come and go).
    tools: RunTools,
}

impl LoopState<'_> {
    /// Keeps the history within the model's context window (see `crate::compaction`);
    /// also ends the run when the session can no longer be saved.
    async fn compact(
        &mut self,
        agent: &AgentInner,
        force: bool,
    ) -> Result<bool, (StopReason, Option<HarnextError>)> {
        crate::compaction::prepare(
            crate::compaction::Ctx {
                agent,
                history: &mut self.history,
                session: self.session,
                events: &self.events,
                cancel: &self.cancel,
                usage: &mut self.usage,
                specs: &self.tools.specs,
            },
            force,
        )
        .await
    }

    fn push(&mut self, message: Message) {
        self.session.append(message.clone());
        self.history.push(message);
    }

    async fn check_answer(
        &self,
        candidate: serde_json::Value,
    ) -> Result<serde_json::Value, Vec<String>> {
        match &self.output {
            Some(o) => o.check(candidate).await,
            None => Ok(candidate),
        }
    }

    /// Counts an invalid answer; the ending of the run once the retries are used up.
    fn answer_failed(&mut self, issues: Vec<String>) -> Option<(StopReason, Option<HarnextError>)> {
        let o = self.output.as_mut()?;
        if o.failed(issues) {
            return None;
        }
        Some((
            StopReason::Error,
            Some(HarnextError::new(
                ErrorCode::OutputInvalid,
                format!(
                    "the final answer did not match the output schema after {} attempt(s): {}",
                    o.failures,
                    o.last_issues.join("; ")
                ),
            )),
        ))
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
            if RunTools::needs_update(agent, step == 1) {
                // Servers that failed before get another try at the start of a run only.
                let restart = if step == 1 {
                    Restart::Failed
                } else {
                    Restart::No
                };
                if !self
                    .tools
                    .update(agent, restart, &self.events, &self.cancel)
                    .await
                {
                    return (StopReason::Cancelled, None);
                }
            }
            if let Err(end) = self.compact(agent, false).await {
                return end;
            }
            let mut outcome = self.model_call(agent).await;
            if let ModelOutcome::Failed(e) = &outcome {
                // The provider says the history is too big: compact it and try once more.
                if e.code == ErrorCode::ContextOverflow && self.text.is_empty() {
                    match self.compact(agent, true).await {
                        Err(end) => return end,
                        Ok(true) => outcome = self.model_call(agent).await,
                        Ok(false) => {}
                    }
                }
            }
            let response = match outcome {
                ModelOutcome::Cancelled => return (StopReason::Cancelled, None),
                ModelOutcome::Failed(e) => return (StopReason::Error, Some(e)),
                ModelOutcome::Completed(r) => r,
            };
            let (answers, calls): (Vec<_>, Vec<_>) = response
                .content
                .iter()
                .filter_map(|b| match b {
                    ContentBlock::ToolUse { id, name, input } => {
                        Some((id.clone(), name.clone(), input.clone()))
                    }
                    _ => None,
                })
                .partition(|(_, name, _)| self.output.is_some() && name == FINAL_ANSWER_TOOL);
            if !response.content.is_empty() {
                self.push(Message {
                    role: Role::Assistant,
                    content: response.content.clone(),
                });
            }
            if calls.is_empty() && answers.is_empty() && self.output.is_some() {
                // The model ended its turn: its reply text is the answer (JSON-text
                // providers), or it must now give one through the final-answer tool.
                match agent.provider.structured_output_mode() {
                    StructuredOutputMode::JsonText => {
                        let checked = match parse_answer_text(&self.text) {
                            Ok(v) => self.check_answer(v).await,
                            Err(e) => Err(vec![e]),
                        };
                        match checked {
                            Ok(v) => {
                                self.answer = Some(v);
                                return (StopReason::EndTurn, None);
                            }
                            Err(issues) => {
                                if let Some(end) = self.answer_failed(issues.clone()) {
                                    return end;
                                }
                                self.push(Message::user_text(format!(
                                    "Your answer does not match the required JSON Schema:\n- {}\nReply again with only the corrected JSON.",
                                    issues.join("\n- ")
                                )));
                            }
                        }
                    }
                    StructuredOutputMode::FinalAnswerTool => {
                        let issue = format!(
                            "the model ended its turn without calling `{FINAL_ANSWER_TOOL}`"
                        );
                        if let Some(end) = self.answer_failed(vec![issue]) {
                            return end;
                        }
                        if let Some(o) = self.output.as_mut() {
                            o.force = true;
                        }
                        self.push(Message::user_text(format!(
                            "Give your final answer now by calling `{FINAL_ANSWER_TOOL}` with it."
                        )));
                    }
                }
                if step == max_steps {
                    break;
                }
                continue;
            }
            if calls.is_empty() && answers.is_empty() {
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
                    | ModelStopReason::Refusal(_)
                    | ModelStopReason::ContentFilter(_)
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
            let mut accepted = false;
            for (id, _, input) in answers {
                let (status, content) = if accepted {
                    (
                        ToolStatus::Error,
                        "Ignored: a final answer was already accepted.".to_owned(),
                    )
                } else {
                    match self.check_answer(input).await {
                        Ok(v) => {
                            self.answer = Some(v);
                            accepted = true;
                            (ToolStatus::Ok, "Final answer accepted.".to_owned())
                        }
                        Err(issues) => {
                            let text = format!(
                                "The answer does not match the required JSON Schema:\n- {}\nCall `{FINAL_ANSWER_TOOL}` again with a corrected answer.",
                                issues.join("\n- ")
                            );
                            if let Some(end) = self.answer_failed(issues) {
                                results.push(ContentBlock::ToolResult {
                                    tool_use_id: id,
                                    content: text,
                                    status: ToolStatus::Error,
                                });
                                self.push(Message {
                                    role: Role::User,
                                    content: results,
                                });
                                return end;
                            }
                            (ToolStatus::Error, text)
                        }
                    }
                };
                if let Some(o) = self.output.as_mut() {
                    o.force = false;
                }
                results.push(ContentBlock::ToolResult {
                    tool_use_id: id,
                    content,
                    status,
                });
            }
            self.push(Message {
                role: Role::User,
                content: results,
            });
            if accepted {
                return (StopReason::EndTurn, None);
            }
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
            system: self.tools.system(&agent.system),
            messages: self.history.clone(),
            tools: self.tools.specs.clone(),
            max_output_tokens: agent.config.max_output_tokens,
            temperature: agent.config.temperature,
            thinking_budget: agent.config.thinking_budget,
            output: self.output.as_ref().map(OutputState::spec),
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
            self.session.record_usage(u);
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
        let Some(registered) = self.tools.find(name).cloned() else {
            let available = self.tools.names();
            return (
                ToolStatus::Error,
                format!(
                    "Unknown tool `{name}`. Available tools: {}.",
                    available.join(", ")
                ),
                0,
            );
        };
        let gate = if self.session.is_allowed(name) {
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
                            self.session.allow(name);
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
