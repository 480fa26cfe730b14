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
use harnext_protocol::Message;
use harnext_protocol::PendingApproval;
use harnext_protocol::Role;
use harnext_protocol::RunResult;
use harnext_protocol::RunSandbox;
use harnext_protocol::StopReason;
use harnext_protocol::ToolStatus;
use harnext_protocol::ToolStep;
use harnext_providers::ModelRequest;
use harnext_providers::ModelResponse;
use harnext_providers::ModelStopReason;
use harnext_tools::TodoList;
use harnext_tools::Workspace;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::approvals;
use crate::batch;
use crate::budget::Budget;
use crate::cancel::OrCancel;
use crate::compaction;
use crate::context::redact_message;
use crate::context::redact_result;
use crate::context::AgentContext;
use crate::context::Delegate;
use crate::context::Ending;
use crate::context::EndingParts;
use crate::context::EventSink;
use crate::context::Subagent;
use crate::control::RunControl;
use crate::dispatch;
use crate::dispatch::Call;
use crate::dispatch::Dispatch;
use crate::hook_calls::HookCtx;
use crate::model_call;
use crate::model_call::Reply;
use crate::model_call::Show;
use crate::output::OutputState;
use crate::output::Verdict;
use crate::permissions::PermissionHandler;
use crate::pricing::Spend;
use crate::run_tools::RunTools;
use crate::session::SessionLease;
use crate::subagent::Rollup;
use crate::turn::stopped_short;
use crate::turn::Turn;

/// A prepared run; [`Run::execute`] runs it to the end.
pub struct Run {
    agent: Arc<AgentContext>,
    session: SessionLease,
    input: Vec<Message>,
    settings: Settings,
    permissions: Option<Arc<dyn PermissionHandler>>,
    output: Option<OutputState>,
    control: RunControl,
}

/// How far a run may go, and how it runs its tool calls.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub max_steps: u32,
    pub budget: Budget,
    /// Whether the read-only calls of a turn run concurrently (see `crate::batch`).
    pub parallel_tool_calls: bool,
    /// The provider's server-side web search, when on (the `web_search` option).
    pub web_search: Option<harnext_providers::WebSearch>,
}

impl Run {
    pub(crate) fn new(
        agent: Arc<AgentContext>,
        session: SessionLease,
        input: Vec<Message>,
        settings: Settings,
        permissions: Option<Arc<dyn PermissionHandler>>,
        output: Option<OutputState>,
    ) -> Self {
        Run {
            agent,
            session,
            input,
            settings,
            permissions,
            output,
            control: RunControl::default(),
        }
    }

    /// This run steered by `control` (one handed out before the run was prepared).
    pub fn with_control(mut self, control: RunControl) -> Self {
        self.control = control;
        self
    }

    /// The handle that sends messages to this run and interrupts it while it works.
    pub fn control(&self) -> RunControl {
        self.control.clone()
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
            settings,
            permissions,
            output,
            control,
        } = self;
        session.begin();
        let _registered = agent.running.register(session.id(), &control);
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
        // The task list `todo_write` keeps: the session's, each change an event.
        let todo_events = events.clone();
        let todos = Arc::new(TodoList::new(session.todos()).on_change(move |items| {
            todo_events.emit(AgentEvent::Todo {
                todos: items.to_vec(),
            });
        }));
        let delegated_permissions = permissions.clone();
        let mut state = LoopState {
            todos,
            instructions: agent
                .config
                .project_instructions
                .then(crate::instructions::ProjectInstructions::default),
            tools: RunTools::new(&agent),
            agent: &agent,
            session: &session,
            events: &events,
            run_cancel: &cancel,
            cancel: cancel.clone(),
            control: control.clone(),
            permissions,
            settings: settings.clone(),
            history: Arc::new(session.messages()),
            steps: Vec::new(),
            outputs_in_history: Vec::new(),
            turn_outputs: Vec::new(),
            spend: Spend::new(agent.price.as_ref()),
            started,
            text: String::new(),
            output,
            answer: None,
            continued: 0,
            delegator: Delegator {
                permissions: delegated_permissions,
                settings,
            },
            rollup: Rollup::default(),
        };
        let (ending, files_changed) =
            match Workspace::new(&agent.cwd).map(|w| with_checkpoints(w, &agent)) {
                Err(e) => (
                    Ending::failed(
                        ErrorCode::Internal,
                        format!("the workspace {} cannot be used: {e}", agent.cwd.display()),
                    ),
                    Vec::new(),
                ),
                Ok(workspace) => {
                    let workspace = Arc::new(workspace);
                    agent.running.register_workspace(&workspace);
                    state.project_context(&workspace);
                    // Calls that waited for approvals are answered first; the input
                    // (through the hooks) follows their results.
                    if let Some(answers) = session.take_answers() {
                        state.answer_approvals(&workspace, answers).await;
                    }
                    // A panic anywhere in the loop (a tool, a provider's stream, a
                    // binding's callback glue) ends the run with an `internal` error
                    // naming it, not a lost task.
                    let ending = match AssertUnwindSafe(state.run_loop(&workspace, input))
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
                    session.record_checkpoint(workspace.take_checkpoint());
                    // Deferred calls stay open: they wait in the session for a decision.
                    if !matches!(ending, Ending::AwaitingApproval(_)) {
                        state.close_open_calls();
                    }
                    // Background shells die with the run, reaped and their changes
                    // recorded before the result is made.
                    workspace.background_shells().shutdown().await;
                    session.record_checkpoint(workspace.take_checkpoint());
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
        let hooks = HookCtx {
            agent: &agent,
            session: session.id(),
            events: &events,
            cancel: &cancel,
        };
        hooks.session_end(stop_reason.as_str()).await;
        control.end();
        let cancelled = stop_reason == StopReason::Cancelled;
        let success = stop_reason == StopReason::EndTurn && error.is_none();
        if let Some(err) = &error {
            events.emit(AgentEvent::Error { error: err.clone() });
        }
        state.restore_outputs();
        let mut result = RunResult {
            text: state.text,
            steps: state.steps,
            files_changed,
            usage: state.spend.usage,
            cost_usd: state.spend.cost_usd,
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
    /// The run's cancellation, and the current step's (a child an interrupt cancels).
    run_cancel: &'a CancellationToken,
    cancel: CancellationToken,
    /// Messages sent to the run, and its interrupts.
    control: RunControl,
    permissions: Option<Arc<dyn PermissionHandler>>,
    settings: Settings,
    /// Shared with the model call in flight (see `ModelRequest::messages`); changed
    /// between calls, when nothing else holds it.
    history: Arc<Vec<Message>>,
    /// The tools offered to the model now (MCP tools come and go).
    tools: RunTools,
    /// The task list of `todo_write`; the session keeps each change.
    todos: Arc<TodoList>,
    /// The project instructions seen in this run (`None`: `project_instructions` off).
    instructions: Option<crate::instructions::ProjectInstructions>,
    steps: Vec<ToolStep>,
    /// Steps whose output only the history holds (the step's copy was freed once the
    /// results were in the history; with many agents running, that copy of every
    /// output was a large part of their memory): (step, message, block). The outputs
    /// are copied back before the history changes otherwise than by appending
    /// (compaction), and when the run ends.
    outputs_in_history: Vec<(usize, usize, usize)>,
    /// The current turn's results: (step, block in the turn's results message).
    turn_outputs: Vec<(usize, usize)>,
    /// Usage and cost so far (held to `settings.budget`), and when the run started.
    spend: Spend,
    started: Instant,
    /// The text of the latest model call.
    text: String,
    /// Structured output asked for, and the validated answer once given.
    output: Option<OutputState>,
    answer: Option<Value>,
    /// How many times `stop` hooks continued the run.
    continued: u32,
    /// Runs the subagents of `task` calls; what they spent, until the loop takes it.
    delegator: Delegator,
    rollup: Rollup,
}

/// Runs subagents for the `task` calls of a run: with the run's permission handler,
/// budget and concurrency setting (see `crate::subagent`).
struct Delegator {
    permissions: Option<Arc<dyn PermissionHandler>>,
    settings: Settings,
}

impl Delegate for Delegator {
    fn run<'a>(
        &'a self,
        subagent: &'a Subagent,
        prompt: String,
        cancel: CancellationToken,
        events: EventSink,
    ) -> futures::future::BoxFuture<'a, Result<RunResult, String>> {
        Box::pin(async move {
            let agent = subagent.agent.clone();
            let lease = crate::session::acquire(
                &agent.store,
                None,
                crate::session::SessionMeta {
                    model: Some(agent.config.model.clone()),
                    cwd: Some(agent.cwd.display().to_string()),
                },
            )
            .map_err(|e| e.to_string())?;
            // A subagent searches the web when its parent's run does and its own
            // model's provider can.
            let web_search = self
                .settings
                .web_search
                .clone()
                .filter(|s| agent.provider.check_web_search(s).is_ok());
            let settings = Settings {
                max_steps: agent.config.max_steps,
                web_search,
                ..self.settings.clone()
            };
            let run = Run::new(
                agent,
                lease,
                vec![Message::user_text(prompt)],
                settings,
                self.permissions.clone(),
                None,
            );
            Ok(run.execute(cancel, events).await)
        })
    }
}

impl<'a> LoopState<'a> {
    async fn run_loop(&mut self, workspace: &Arc<Workspace>, input: Vec<Message>) -> Ending {
        let resumed = !self.history.is_empty();
        match self.hooks().admit(input, resumed).await {
            Ok(Ok(input)) => input.into_iter().for_each(|m| self.push(m)),
            Ok(Err(error)) => return Ending::blocked(error),
            Err(_) => return Ending::Cancelled,
        }
        for step in 1..=self.settings.max_steps {
            self.cancel = self.control.step_token(self.run_cancel);
            match self.step(workspace, step == 1).await {
                Ok(()) => {}
                // Interrupted with a new message: the run goes on with it.
                Err(Ending::Cancelled)
                    if !self.run_cancel.is_cancelled() && self.control.has_messages() => {}
                Err(ending) => return ending,
            }
            let budget = self.settings.budget;
            if let Some((reason, error)) = budget.exceeded(&self.spend, self.started) {
                return Ending::Stopped {
                    reason,
                    details: None,
                    error,
                };
            }
        }
        Ending::MaxSteps(self.settings.max_steps)
    }

    /// One model call and what follows from it. `Ok` goes on to the next step; `Err` is
    /// how the run ends.
    async fn step(&mut self, workspace: &Arc<Workspace>, first: bool) -> Result<(), Ending> {
        if self.cancel.is_cancelled() {
            return Err(Ending::Cancelled);
        }
        for text in self.control.take() {
            self.events
                .emit(AgentEvent::UserMessage { text: text.clone() });
            self.push(Message::user_text(text));
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
        // A turn the store could not keep is not acted on: its tool calls would run
        // unrecorded (and run again on a resume).
        if let Some(problem) = self.session.failure() {
            return Err(Ending::failed(
                ErrorCode::SessionStore,
                format!("the session could not be saved, so the run stopped: {problem}"),
            ));
        }
        if turn.is_empty()
            && response.stop_reason == ModelStopReason::PauseTurn
            && !response.content.is_empty()
        {
            // The provider paused a long turn (server-side web search): the next call
            // sends its content back as it is, and the model goes on from there. (A
            // pause with nothing in it would only repeat the same request: it ends.)
            return Ok(());
        }
        if turn.is_empty() {
            let ended = self.turn_ended(&response).await;
            if matches!(ended, Err(Ending::EndTurn)) && self.output.is_none() {
                // Messages sent meanwhile, then the `stop` hooks, may continue the run.
                if self.control.has_messages() {
                    return Ok(());
                }
                let more = self.hooks().stop(&self.text, self.continued).await?;
                if let Some(message) = more {
                    self.continued += 1;
                    self.push(Message::user_text(message));
                    return Ok(());
                }
            }
            return ended;
        }
        let (mut results, deferred) = self.dispatch(workspace, turn.calls).await;
        // The files the calls changed, as they were before (ahead of the results).
        self.session.record_checkpoint(workspace.take_checkpoint());
        if !deferred.is_empty() {
            approvals::wait(self.session, &deferred, &results);
            return Err(Ending::AwaitingApproval(deferred));
        }
        let ending = self.final_answers(turn.answers, &mut results).await;
        self.push(Message {
            role: Role::User,
            content: results,
        });
        self.release_turn_outputs();
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
                .update(self.agent, restart, self.events, &self.cancel)
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
            web_search: self.settings.web_search.clone(),
        };
        let call =
            model_call::call(self.agent, request, Show::Reply, self.events, &self.cancel).await;
        if let Some(u) = call.usage {
            self.spend.add(u, call.cost_usd);
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
            .or_cancel(&self.cancel)
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

    /// Runs the turn's tool calls (the read-only ones concurrently, see `crate::batch`);
    /// their results in call order, for the history.
    async fn dispatch(
        &mut self,
        workspace: &Arc<Workspace>,
        calls: Vec<Call>,
    ) -> (Vec<ContentBlock>, Vec<PendingApproval>) {
        self.turn_outputs.clear();
        let dispatch = Dispatch {
            tools: &self.tools,
            workspace,
            mode: self.agent.config.permission_mode,
            handler: self.permissions.as_ref(),
            session: self.session,
            events: self.events,
            cancel: &self.cancel,
            hooks: self.hooks(),
            todos: &self.todos,
            instructions: self.instructions.as_ref(),
            subagents: &self.agent.subagents,
            delegate: Some(&self.delegator),
            rollup: &self.rollup,
            images: Some(Arc::default()),
        };
        let parallel = self.settings.parallel_tool_calls;
        let images = dispatch.images.clone();
        let outcomes = batch::run(&dispatch, calls, parallel, &self.control).await;
        // What the turn's subagents spent is the run's.
        for (usage, cost_usd) in self.rollup.take() {
            self.spend.add(usage, cost_usd);
            self.session.record_side_usage(usage);
        }
        self.keep_todos();
        let mut results = Vec::with_capacity(outcomes.len());
        let mut deferred = Vec::new();
        for outcome in outcomes {
            match outcome {
                Ok(step) => {
                    self.turn_outputs.push((self.steps.len(), results.len()));
                    results.push(dispatch::result_block(&step));
                    // Images the call returned follow its result (see `ContentBlock::Image`).
                    if let Some(sink) = &images {
                        results.extend(sink.take(&step.id).into_iter().map(|source| {
                            ContentBlock::Image {
                                source,
                                tool_use_id: Some(step.id.clone()),
                            }
                        }));
                    }
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
            cancel: &self.cancel,
            hooks: self.hooks(),
            todos: &self.todos,
            instructions: self.instructions.as_ref(),
            subagents: &self.agent.subagents,
            delegate: Some(&self.delegator),
            rollup: &self.rollup,
            // Images the answered calls return follow their results (`approvals::resolve`).
            images: Some(Arc::default()),
        };
        let (message, steps) =
            approvals::resolve(&dispatch, self.session, &self.history, answers).await;
        self.session.record_checkpoint(workspace.take_checkpoint());
        for (usage, cost_usd) in self.rollup.take() {
            self.spend.add(usage, cost_usd);
            self.session.record_side_usage(usage);
        }
        self.keep_todos();
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
        let Ok(checked) = output.final_answers(answers).or_cancel(&self.cancel).await else {
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
        // The history as it was, while steps' outputs are only in it.
        let before = (!self.outputs_in_history.is_empty()).then(|| Arc::clone(&self.history));
        let compacted = compaction::prepare(
            compaction::Ctx {
                agent: self.agent,
                history: &mut self.history,
                session: self.session,
                events: self.events,
                cancel: &self.cancel,
                spend: &mut self.spend,
                specs: &self.tools.specs,
            },
            force,
        )
        .await;
        if let Some(before) = before.filter(|b| !Arc::ptr_eq(b, &self.history)) {
            restore_outputs(&mut self.steps, &mut self.outputs_in_history, &before);
        }
        compacted
    }

    /// The turn's results are in the history: the steps' copies of their outputs are
    /// freed (see `outputs_in_history`).
    fn release_turn_outputs(&mut self) {
        let turn = std::mem::take(&mut self.turn_outputs);
        let Some(at) = self.history.len().checked_sub(1) else {
            return;
        };
        for (s, b) in turn {
            let Some(step) = self.steps.get_mut(s) else {
                continue;
            };
            let held = matches!(
                self.history[at].content.get(b),
                Some(ContentBlock::ToolResult { tool_use_id, .. }) if *tool_use_id == step.id
            );
            if held && !step.output.is_empty() {
                step.output = String::new();
                self.outputs_in_history.push((s, at, b));
            }
        }
    }

    /// Gives the steps their outputs back from the history (at the end of the run).
    fn restore_outputs(&mut self) {
        restore_outputs(&mut self.steps, &mut self.outputs_in_history, &self.history);
    }

    /// The run's part of the context, read as it starts: the workspace root's project
    /// instructions and the skills (with the `skill` tool), each into the system prompt;
    /// what cannot be used is a `warning` event.
    fn project_context(&mut self, workspace: &Workspace) {
        if let Some(doc) = self.instructions.as_ref().and_then(|p| p.root(workspace)) {
            if doc.cut {
                self.events.emit(crate::instructions::cut_warning(&doc));
            }
            self.tools
                .add_own(None, &crate::instructions::system_text(&doc));
        }
        let found = crate::skills::discover(&self.agent.config.skills, &self.agent.cwd);
        for (path, message) in found.warnings {
            self.events.emit(AgentEvent::Warning {
                message,
                path: Some(path),
            });
        }
        if found.skills.is_empty() {
            return;
        }
        if self.tools.find("skill").is_some() {
            self.events.emit(AgentEvent::Warning {
                message: "skills are not offered: a tool named `skill` is taken".to_owned(),
                path: None,
            });
            return;
        }
        let text = crate::skills::system_text(&found.skills);
        let tool = crate::context::RegisteredTool {
            tool: Arc::new(crate::skills::SkillTool {
                skills: Arc::new(found.skills),
            }),
            category: crate::permissions::ToolCategory::Read,
            sandboxed: false,
        };
        self.tools.add_own(Some(tool), &text);
    }

    /// The session keeps the task list when a call changed it.
    fn keep_todos(&self) {
        if let Some(mut items) = self.todos.take_changed() {
            for item in &mut items {
                self.agent.redactor.redact_string(&mut item.content);
            }
            self.session.record_todos(items);
        }
    }

    /// The hooks of this run.
    fn hooks(&self) -> HookCtx<'_> {
        HookCtx {
            agent: self.agent,
            session: self.session.id(),
            events: self.events,
            cancel: &self.cancel,
        }
    }

    fn push(&mut self, mut message: Message) {
        redact_message(&self.agent.redactor, &mut message);
        self.session.append(message.clone());
        Arc::make_mut(&mut self.history).push(message);
    }

    /// After a panic: the tool calls of the last assistant message that have no
    /// result get one, so the history (and the session) stays valid.
    fn close_open_calls(&mut self) {
        if let Some(results) = crate::turn::unanswered(&self.history) {
            self.push(results);
        }
    }
}

/// The run's workspace: commands in the agent's sandbox, and checkpoints of the files its
/// steps change unless they are off (see `crate::checkpoints`).
fn with_checkpoints(workspace: Workspace, agent: &AgentContext) -> Workspace {
    let workspace = workspace.with_sandbox(agent.sandbox.clone());
    match agent.config.checkpoints {
        Some(options) => workspace.with_checkpoints(options),
        None => workspace,
    }
}

/// Copies the outputs of `moved` steps back from `history` (see
/// `LoopState::outputs_in_history`). The history holds them redacted; the result is
/// redacted as a whole at the end, and redacting twice changes nothing.
fn restore_outputs(
    steps: &mut [ToolStep],
    moved: &mut Vec<(usize, usize, usize)>,
    history: &[Message],
) {
    for (s, m, b) in moved.drain(..) {
        let block = history.get(m).and_then(|message| message.content.get(b));
        if let (
            Some(step),
            Some(ContentBlock::ToolResult {
                tool_use_id,
                content,
                ..
            }),
        ) = (steps.get_mut(s), block)
        {
            if *tool_use_id == step.id {
                step.output.clone_from(content);
            }
        }
    }
}
