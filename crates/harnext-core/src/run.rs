//! The run loop, a pipeline read top to bottom. Each step: prepare the request (the MCP
//! tools of the moment, a history that fits the context window), call the model,
//! record its reply, dispatch its tool calls, record their results, and decide the next
//! step. The loop ends when the model ends its turn (with a valid answer, when one was
//! asked for), after `max_steps` model calls, on an error, or on cancellation.
//!
//! Every wait stops on cancellation (see `crate::cancel`): the model request is dropped
//! (closing its connection), the running tool's future is dropped (its guards kill what
//! it started), every open tool call gets a `cancelled` result, and the history keeps
//! everything that completed, so the session stays valid for the next run on any
//! provider.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use harnext_mcp::Restart;
use harnext_protocol::AgentEvent;
use harnext_protocol::ContentBlock;
use harnext_protocol::ErrorCode;
use harnext_protocol::HarnextError;
use harnext_protocol::Message;
use harnext_protocol::OptionKey;
use harnext_protocol::PendingApproval;
use harnext_protocol::Role;
use harnext_protocol::RunResult;
use harnext_protocol::RunSandbox;
use harnext_protocol::StopDetails;
use harnext_protocol::StopReason;
use harnext_protocol::ToolStatus;
use harnext_protocol::ToolStep;
use harnext_protocol::Usage;
use harnext_providers::ModelRequest;
use harnext_providers::ModelResponse;
use harnext_providers::ModelStopReason;
use harnext_providers::FINAL_ANSWER_TOOL;
use harnext_tools::Workspace;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::approvals;
use crate::cancel::OrCancel;
use crate::compaction;
use crate::context::redact_message;
use crate::context::redact_result;
use crate::context::AgentContext;
use crate::context::Ending;
use crate::context::EndingParts;
use crate::context::EventSink;
use crate::dispatch;
use crate::dispatch::Call;
use crate::dispatch::Dispatch;
use crate::model_call;
use crate::model_call::Reply;
use crate::model_call::Show;
use crate::output::OutputState;
use crate::output::Verdict;
use crate::permissions::PermissionHandler;
use crate::run_tools::RunTools;
use crate::session::SessionLease;

/// A prepared run; [`Run::execute`] runs it to the end.
pub struct Run {
    agent: Arc<AgentContext>,
    session: SessionLease,
    input: Vec<Message>,
    max_steps: u32,
    permissions: Option<Arc<dyn PermissionHandler>>,
    output: Option<OutputState>,
}

impl Run {
    pub(crate) fn new(
        agent: Arc<AgentContext>,
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
        let Run {
            agent,
            session,
            input,
            max_steps,
            permissions,
            output,
        } = self;
        session.begin();
        // Every event, the result and the session pass through the agent's redactor.
        let events = events.redacting(&agent.redactor);
        let status = agent.sandbox.status();
        events.emit(AgentEvent::RunStart {
            session_id: session.id().to_owned(),
            sandbox: RunSandbox {
                requested: status.requested.as_str().to_owned(),
                enforced: status.enforced.as_str().to_owned(),
                network: status.network,
                partial: status.partial,
            },
        });
        let mut state = LoopState {
            tools: RunTools::new(&agent),
            agent: &agent,
            session: &session,
            events: &events,
            cancel: &cancel,
            permissions,
            max_steps,
            history: session.messages(),
            steps: Vec::new(),
            usage: Usage::default(),
            text: String::new(),
            output,
            answer: None,
        };
        let (ending, files_changed) =
            match Workspace::new(&agent.cwd).map(|w| w.with_sandbox(agent.sandbox.clone())) {
                Err(e) => (
                    Ending::failed(
                        ErrorCode::Internal,
                        format!("the workspace {} cannot be used: {e}", agent.cwd.display()),
                    ),
                    Vec::new(),
                ),
                Ok(workspace) => {
                    let workspace = Arc::new(workspace);
                    if let Some(answers) = session.take_answers() {
                        state.answer_approvals(&workspace, answers).await;
                    }
                    for message in input {
                        state.push(message);
                    }
                    // A panic anywhere in the loop (a tool, a provider's stream, a
                    // binding's callback glue) ends the run with an `internal` error
                    // naming it, not a lost task.
                    let ending = match AssertUnwindSafe(state.run_loop(&workspace))
                        .catch_unwind()
                        .await
                    {
                        Ok(ending) => ending,
                        Err(payload) => Ending::failed(
                            ErrorCode::Internal,
                            format!(
                                "harnext panicked (a bug): {}",
                                harnext_providers::panic_message(payload.as_ref())
                            ),
                        ),
                    };
                    // Deferred calls stay open: they wait in the session for a decision.
                    if !matches!(ending, Ending::AwaitingApproval(_)) {
                        state.close_open_calls();
                    }
                    (ending, workspace.changed_files())
                }
            };
        let pending_approvals = match &ending {
            Ending::AwaitingApproval(calls) => calls.clone(),
            _ => Vec::new(),
        };
        let EndingParts {
            stop_reason,
            error,
            stop_details,
        } = ending.into_parts();
        let cancelled = stop_reason == StopReason::Cancelled;
        let success = stop_reason == StopReason::EndTurn && error.is_none();
        if let Some(err) = &error {
            events.emit(AgentEvent::Error { error: err.clone() });
        }
        let mut result = RunResult {
            text: state.text,
            steps: state.steps,
            files_changed,
            usage: state.usage,
            session_id: session.id().to_owned(),
            success,
            cancelled,
            stop_reason,
            stop_details,
            output: if success { state.answer } else { None },
            error: if cancelled { None } else { error },
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            pending_approvals,
        };
        redact_result(&agent.redactor, &mut result);
        session.finish(&result);
        crate::session::fail_if_unsaved(&session, &mut result, &events);
        // The session is free again before `run_end` reaches anyone, so a consumer can
        // start the next run on it from the `run_end` handler.
        drop(session);
        events.emit(AgentEvent::RunEnd {
            result: Box::new(result.clone()),
        });
        result
    }
}

/// The state of a running loop.
struct LoopState<'a> {
    agent: &'a AgentContext,
    session: &'a SessionLease,
    events: &'a EventSink,
    cancel: &'a CancellationToken,
    permissions: Option<Arc<dyn PermissionHandler>>,
    max_steps: u32,
    history: Vec<Message>,
    /// The tools offered to the model now (MCP tools come and go).
    tools: RunTools,
    steps: Vec<ToolStep>,
    usage: Usage,
    /// The text of the latest model call.
    text: String,
    /// Structured output asked for, and the validated answer once given.
    output: Option<OutputState>,
    answer: Option<Value>,
}

/// The tool calls of a model turn: to dispatch, and final answers (structured output).
struct Turn {
    calls: Vec<Call>,
    answers: Vec<(String, Value)>,
}

impl Turn {
    fn of(response: &ModelResponse, structured: bool) -> Turn {
        let mut turn = Turn {
            calls: Vec::new(),
            answers: Vec::new(),
        };
        for block in &response.content {
            let ContentBlock::ToolUse { id, name, input } = block else {
                continue;
            };
            if structured && name == FINAL_ANSWER_TOOL {
                turn.answers.push((id.clone(), input.clone()));
            } else {
                turn.calls.push(Call {
                    id: id.clone(),
                    name: name.clone(),
                    args: input.clone(),
                    invalid_input: response.invalid_tool_inputs.get(id).cloned(),
                });
            }
        }
        turn
    }

    fn is_empty(&self) -> bool {
        self.calls.is_empty() && self.answers.is_empty()
    }
}

impl LoopState<'_> {
    async fn run_loop(&mut self, workspace: &Arc<Workspace>) -> Ending {
        for step in 1..=self.max_steps {
            if let Err(ending) = self.step(workspace, step == 1).await {
                return ending;
            }
        }
        Ending::MaxSteps(self.max_steps)
    }

    /// One model call and what follows from it. `Ok` goes on to the next step; `Err` is
    /// how the run ends.
    async fn step(&mut self, workspace: &Arc<Workspace>, first: bool) -> Result<(), Ending> {
        if self.cancel.is_cancelled() {
            return Err(Ending::Cancelled);
        }
        self.prepare(first).await?;
        let response = self.call_model().await?;
        let turn = Turn::of(&response, self.output.is_some());
        if !response.content.is_empty() {
            self.push(Message {
                role: Role::Assistant,
                content: response.content.clone(),
            });
        }
        if turn.is_empty() {
            return self.turn_ended(&response).await;
        }
        let (mut results, deferred) = self.dispatch(workspace, turn.calls).await;
        if !deferred.is_empty() {
            approvals::wait(self.session, &deferred, &results);
            return Err(Ending::AwaitingApproval(deferred));
        }
        let ending = self.final_answers(turn.answers, &mut results).await;
        self.push(Message {
            role: Role::User,
            content: results,
        });
        match ending {
            Some(ending) => Err(ending),
            None if self.cancel.is_cancelled() => Err(Ending::Cancelled),
            None => Ok(()),
        }
    }

    /// Before a model call: the MCP tools of the moment (servers that failed get another
    /// try at the start of a run only), and a history that fits the context window.
    async fn prepare(&mut self, first: bool) -> Result<(), Ending> {
        if RunTools::needs_update(self.agent, first) {
            let restart = if first { Restart::Failed } else { Restart::No };
            self.tools
                .update(self.agent, restart, self.events, self.cancel)
                .await?;
        }
        self.compact(false).await?;
        Ok(())
    }

    /// The model call of a step. When the provider says the history is too big, the
    /// history is compacted with force and the call made once more.
    async fn call_model(&mut self) -> Result<ModelResponse, Ending> {
        let mut reply = self.model_call().await;
        if let Reply::Failed(e) = &reply {
            if e.code == ErrorCode::ContextOverflow
                && self.text.is_empty()
                && self.compact(true).await?
            {
                reply = self.model_call().await;
            }
        }
        match reply {
            Reply::Completed(response) => Ok(response),
            Reply::Failed(e) => Err(Ending::Failed(e)),
            Reply::Cancelled => Err(Ending::Cancelled),
        }
    }

    async fn model_call(&mut self) -> Reply {
        let request = ModelRequest {
            model: self.agent.model.clone(),
            system: self.tools.system(&self.agent.system),
            messages: self.history.clone(),
            tools: self.tools.specs.clone(),
            max_output_tokens: self.agent.config.max_output_tokens,
            temperature: self.agent.config.temperature,
            thinking_budget: self.agent.config.thinking_budget,
            output: self.output.as_ref().map(OutputState::spec),
        };
        let call = model_call::call(
            self.agent.provider.as_ref(),
            request,
            Show::Reply,
            self.events,
            self.cancel,
        )
        .await;
        if let Some(u) = call.usage {
            self.usage += u;
            self.session.record_usage(u);
        }
        self.text = call.text;
        if !matches!(call.reply, Reply::Completed(_)) && !self.text.is_empty() {
            // Keep the partial reply in the session: the user saw it.
            self.push(Message::assistant_text(self.text.clone()));
        }
        call.reply
    }

    /// The model ended its turn without calling a tool: the run ends, unless a
    /// structured answer is still missing.
    async fn turn_ended(&mut self, response: &ModelResponse) -> Result<(), Ending> {
        if let Some(stopped) = stopped_short(&response.stop_reason) {
            // No answer follows a cut, refused or filtered turn: the run says so,
            // structured output or not.
            return Err(stopped);
        }
        let Some(output) = self.output.as_mut() else {
            return Err(match response.stop_reason {
                ModelStopReason::ContextWindowExceeded => Ending::failed(
                    ErrorCode::ContextOverflow,
                    "the model stopped: the conversation no longer fits its context window",
                ),
                _ => Ending::EndTurn,
            });
        };
        let mode = self.agent.provider.structured_output_mode();
        match output
            .turn_ended(mode, &self.text)
            .or_cancel(self.cancel)
            .await?
        {
            Verdict::Accepted(answer) => {
                self.answer = Some(answer);
                Err(Ending::EndTurn)
            }
            Verdict::Failed(e) => Err(Ending::Failed(e)),
            Verdict::Retry(message) => {
                self.push(Message::user_text(message));
                Ok(())
            }
        }
    }

    /// Runs the turn's tool calls in order; their results, for the history.
    async fn dispatch(
        &mut self,
        workspace: &Arc<Workspace>,
        calls: Vec<Call>,
    ) -> (Vec<ContentBlock>, Vec<PendingApproval>) {
        let dispatch = Dispatch {
            tools: &self.tools,
            workspace,
            mode: self.agent.config.permission_mode,
            handler: self.permissions.as_ref(),
            session: self.session,
            events: self.events,
            cancel: self.cancel,
        };
        let mut results = Vec::with_capacity(calls.len());
        let mut deferred = Vec::new();
        for call in calls {
            match dispatch.run(call).await {
                Ok(step) => {
                    results.push(dispatch::result_block(&step));
                    self.steps.push(step);
                }
                Err(pending) => deferred.push(pending),
            }
        }
        (results, deferred)
    }

    /// Runs or denies the calls that waited for approvals, then the turn goes on.
    async fn answer_approvals(&mut self, workspace: &Arc<Workspace>, answers: approvals::Answers) {
        let dispatch = Dispatch {
            tools: &self.tools,
            workspace,
            mode: self.agent.config.permission_mode,
            handler: self.permissions.as_ref(),
            session: self.session,
            events: self.events,
            cancel: self.cancel,
        };
        let (message, steps) =
            approvals::resolve(&dispatch, self.session, &self.history, answers).await;
        self.steps.extend(steps);
        self.push(message);
    }

    /// Checks the turn's final answers (structured output), their results added to
    /// `results`; the ending they make, if any. The checks (a binding's validator among
    /// them) stop on cancellation: the answers then get `cancelled` results.
    async fn final_answers(
        &mut self,
        answers: Vec<(String, Value)>,
        results: &mut Vec<ContentBlock>,
    ) -> Option<Ending> {
        let output = self.output.as_mut().filter(|_| !answers.is_empty())?;
        let ids: Vec<String> = answers.iter().map(|(id, _)| id.clone()).collect();
        let Ok(checked) = output.final_answers(answers).or_cancel(self.cancel).await else {
            results.extend(ids.into_iter().map(|id| ContentBlock::ToolResult {
                tool_use_id: id,
                content: dispatch::CANCELLED_OUTPUT.to_owned(),
                status: ToolStatus::Cancelled,
            }));
            return Some(Ending::Cancelled);
        };
        results.extend(checked.results);
        match checked.ending? {
            Ok(answer) => {
                self.answer = Some(answer);
                Some(Ending::EndTurn)
            }
            Err(e) => Some(Ending::Failed(e)),
        }
    }

    /// Keeps the history within the model's context window (see `crate::compaction`);
    /// also ends the run when the session can no longer be saved.
    async fn compact(&mut self, force: bool) -> Result<bool, Ending> {
        compaction::prepare(
            compaction::Ctx {
                agent: self.agent,
                history: &mut self.history,
                session: self.session,
                events: self.events,
                cancel: self.cancel,
                usage: &mut self.usage,
                specs: &self.tools.specs,
            },
            force,
        )
        .await
    }

    fn push(&mut self, mut message: Message) {
        redact_message(&self.agent.redactor, &mut message);
        self.session.append(message.clone());
        self.history.push(message);
    }

    /// After a panic: the tool calls of the last assistant message that have no
    /// result get one, so the history (and the session) stays valid.
    fn close_open_calls(&mut self) {
        let Some(last) = self.history.last() else {
            return;
        };
        if last.role != Role::Assistant {
            return;
        }
        let open: Vec<ContentBlock> = last
            .content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::ToolUse { id, .. } => Some(ContentBlock::ToolResult {
                    tool_use_id: id.clone(),
                    content: "The tool call did not finish: the run ended on an internal error."
                        .to_owned(),
                    status: ToolStatus::Error,
                }),
                _ => None,
            })
            .collect();
        if !open.is_empty() {
            self.push(Message {
                role: Role::User,
                content: open,
            });
        }
    }
}

/// The ending of a turn that stopped short of an answer: cut at the output token
/// limit, refused, or filtered. `None` for a turn that ended normally.
fn stopped_short(reason: &ModelStopReason) -> Option<Ending> {
    let details = |d: &harnext_providers::StopDetails| {
        Some(StopDetails {
            category: d.category.clone(),
            explanation: d.explanation.clone(),
            raw: d.raw.clone(),
        })
    };
    let with_explanation = |base: &str, d: &harnext_providers::StopDetails| match &d.explanation {
        Some(e) => format!("{base}: {e}"),
        None => base.to_owned(),
    };
    Some(match reason {
        ModelStopReason::MaxTokens => Ending::Stopped {
            reason: StopReason::MaxTokens,
            details: None,
            error: HarnextError::new(
                ErrorCode::MaxTokens,
                format!(
                    "the model's output was cut at its output token limit (`{}`); the answer is incomplete",
                    OptionKey::MaxOutputTokens
                ),
            ),
        },
        ModelStopReason::Refusal(d) => Ending::Stopped {
            reason: StopReason::Refusal,
            details: details(d),
            error: HarnextError::new(
                ErrorCode::Refusal,
                with_explanation("the model declined to answer", d),
            ),
        },
        ModelStopReason::ContentFilter(d) => Ending::Stopped {
            reason: StopReason::ContentFilter,
            details: details(d),
            error: HarnextError::new(
                ErrorCode::ContentFilter,
                with_explanation("the provider's content filter stopped the output", d),
            ),
        },
        _ => return None,
    })
}
