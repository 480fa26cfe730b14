//! One tool call, from its `tool_call` event to its `tool_result`: the whole life of a
//! call is here, once.
//!
//! 1. **Checks.** Arguments the provider could not parse and unknown tools are answered
//!    with an error the model can act on.
//! 2. **Hooks and authorization.** The `pre_tool_use` hooks may deny the call, rewrite
//!    its arguments, allow it without asking or have it asked (`crate::hook_calls`).
//!    A tool the user allowed for the session runs; otherwise the
//!    permission mode decides ([`permissions::gate`]): run, refuse, or ask. Asking emits
//!    `permission_request` and waits for the run's [`PermissionHandler`], the wait raced
//!    against cancellation. The answer may edit the arguments, relax the sandbox for this
//!    one call (an escalation, `bash` only), remember the tool for the
//!    session, or deny with a message.
//! 3. **Running**, raced against cancellation: on cancel the tool (which sees the same
//!    cancellation through its context) gets [`TOOL_CANCEL_GRACE`] (the shell tool
//!    [`SHELL_CANCEL_GRACE`], to reap its command's process tree) to stop what it
//!    started, then its future is dropped.
//! 4. **Recording**: the `post_tool_use` hooks may replace or add to the output of a
//!    call that ran; then the `tool_result` event and the call's [`ToolStep`]; the loop puts
//!    the step's result into the history.

use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use harnext_protocol::AgentEvent;
use harnext_protocol::CallSandbox;
use harnext_protocol::ContentBlock;
use harnext_protocol::PendingApproval;
use harnext_protocol::ToolStatus;
use harnext_protocol::ToolStep;
use harnext_sandbox::Sandbox;
use harnext_tools::cap_output;
use harnext_tools::ToolContext;
use harnext_tools::ToolError;
use harnext_tools::Workspace;
use harnext_tools::MAX_OUTPUT_CHARS;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::cancel::OrCancel;
use crate::context::Delegate;
use crate::context::EventSink;
use crate::context::RegisteredTool;
use crate::context::Subagent;
use crate::hook_calls::HookCtx;
use crate::hook_calls::PreVerdict;
use crate::permissions;
use crate::permissions::Decision;
use crate::permissions::Escalation;
use crate::permissions::Gate;
use crate::permissions::PermissionHandler;
use crate::permissions::PermissionMode;
use crate::permissions::PermissionRequest;
use crate::run_tools::RunTools;
use crate::session::SessionLease;
use crate::store::SessionRecord;
use crate::subagent::Rollup;

/// How long a cancelled tool may take to clean up before its future is dropped.
pub(crate) const TOOL_CANCEL_GRACE: Duration = Duration::from_millis(40);
/// The same for the shell tool, which kills its command at once and returns as soon as
/// the command's process tree is reaped (a few milliseconds): the call is reported
/// cancelled only once nothing of it runs. The bound is for a kill that hangs.
pub(crate) const SHELL_CANCEL_GRACE: Duration = Duration::from_secs(3);

/// The output of a call the run's cancellation cut short.
pub(crate) const CANCELLED_OUTPUT: &str =
    "Cancelled: the run was aborted before this tool call finished.";

/// The outcome of a call whose approval was deferred (internal: it never reaches a
/// result; [`Dispatch::run`] turns it into a pending approval).
const DEFERRED: &str = "\u{0}deferred";

/// A tool call of the model.
pub(crate) struct Call {
    pub id: String,
    pub name: String,
    pub args: Value,
    /// Why the provider could not read the call's arguments, when it could not.
    pub invalid_input: Option<String>,
}

/// What the calls of a run share.
pub(crate) struct Dispatch<'a> {
    pub tools: &'a RunTools,
    pub workspace: &'a Arc<Workspace>,
    pub mode: PermissionMode,
    pub handler: Option<&'a Arc<dyn PermissionHandler>>,
    pub session: &'a SessionLease,
    pub events: &'a EventSink,
    pub cancel: &'a CancellationToken,
    pub hooks: HookCtx<'a>,
    /// The run's task list (`todo_write`).
    pub todos: &'a Arc<harnext_tools::TodoList>,
    /// The run's project instructions (`None`: `project_instructions` is off).
    pub instructions: Option<&'a crate::instructions::ProjectInstructions>,
    /// The subagents `task` calls run, and how (see `crate::subagent`).
    pub subagents: &'a [Subagent],
    pub delegate: Option<&'a dyn Delegate>,
    pub rollup: &'a Rollup,
}

/// A call's outcome when it does not run to its end.
type Stop = (ToolStatus, String);

impl Dispatch<'_> {
    /// Runs one call from `tool_call` to `tool_result` and returns its step; a call
    /// whose approval was deferred returns it as pending, without a result.
    pub async fn run(&self, call: Call) -> Result<ToolStep, PendingApproval> {
        let Call {
            id,
            name,
            mut args,
            invalid_input,
        } = call;
        self.events.emit(AgentEvent::ToolCall {
            id: id.clone(),
            tool: name.clone(),
            args: args.clone(),
        });
        let started = Instant::now();
        let (status, mut output) = match self.outcome(&id, &name, &mut args, invalid_input).await {
            Ok(output) => (
                ToolStatus::Ok,
                self.with_instructions(&name, &args, cap_output(&output, MAX_OUTPUT_CHARS)),
            ),
            Err((_, output)) if output == DEFERRED => {
                return Err(PendingApproval {
                    id,
                    tool: name,
                    args,
                })
            }
            Err(stop) => stop,
        };
        self.after_tool_use(&id, &name, &args, status, &mut output)
            .await;
        Ok(self.finish(id, name, args, status, output, started))
    }

    /// Runs a call of an earlier run whose approval was deferred, with the decision
    /// given now: its `tool_call` again (this run's events are whole), then its result.
    pub async fn run_decided(&self, call: PendingApproval, decision: Decision) -> ToolStep {
        let PendingApproval { id, tool, mut args } = call;
        self.events.emit(AgentEvent::ToolCall {
            id: id.clone(),
            tool: tool.clone(),
            args: args.clone(),
        });
        let started = Instant::now();
        let outcome = match (decision, self.tools.find(&tool)) {
            (
                Decision::Allow {
                    args: edited,
                    remember,
                    escalate,
                },
                Some(registered),
            ) => {
                if remember {
                    self.session.allow(&tool);
                }
                if let Some(edited) = edited {
                    args = edited;
                }
                match escalate {
                    Some(escalation) => match self.escalate(registered, &escalation) {
                        Ok(sandbox) => {
                            self.execute(&id, registered, args.clone(), Some(sandbox))
                                .await
                        }
                        Err(stop) => Err(stop),
                    },
                    None => self.execute(&id, registered, args.clone(), None).await,
                }
            }
            (Decision::Allow { .. }, None) => Err((
                ToolStatus::Error,
                format!(
                    "The tool `{tool}` is no longer available, so the approved call was not run."
                ),
            )),
            (Decision::Deny { message }, _) => Err(denied(message)),
            (Decision::Defer, _) => Err((
                ToolStatus::Denied,
                "The approval was deferred again.".to_owned(),
            )),
        };
        let (status, mut output) = match outcome {
            Ok(output) => (
                ToolStatus::Ok,
                self.with_instructions(&tool, &args, cap_output(&output, MAX_OUTPUT_CHARS)),
            ),
            Err(stop) => stop,
        };
        self.after_tool_use(&id, &tool, &args, status, &mut output)
            .await;
        self.finish(id, tool, args, status, output, started)
    }

    /// The output of a call that ended `ok`, followed by the project instructions of
    /// the directories it was the first to work in (see `crate::instructions`).
    fn with_instructions(&self, tool: &str, args: &Value, output: String) -> String {
        let Some(instructions) = self.instructions else {
            return output;
        };
        let docs = instructions.first_touched(self.workspace, tool, args);
        if docs.is_empty() {
            return output;
        }
        for doc in docs.iter().filter(|d| d.cut) {
            self.events.emit(crate::instructions::cut_warning(doc));
        }
        output + &crate::instructions::tool_note(&docs)
    }

    /// The `post_tool_use` hooks of a call that ran (ended `ok` or `error`): they may
    /// add to or replace its output.
    async fn after_tool_use(
        &self,
        id: &str,
        name: &str,
        args: &Value,
        status: ToolStatus,
        output: &mut String,
    ) {
        if matches!(status, ToolStatus::Ok | ToolStatus::Error) {
            self.hooks
                .post_tool_use(id, name, args, status, output)
                .await;
            *output = cap_output(output, MAX_OUTPUT_CHARS);
        }
    }

    fn finish(
        &self,
        id: String,
        name: String,
        args: Value,
        status: ToolStatus,
        output: String,
        started: Instant,
    ) -> ToolStep {
        self.events.emit(AgentEvent::ToolResult {
            id: id.clone(),
            status,
            output: output.clone(),
        });
        ToolStep {
            id,
            tool: name,
            args,
            status,
            output,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// The call's output, or how it stopped short.
    async fn outcome(
        &self,
        id: &str,
        name: &str,
        args: &mut Value,
        invalid_input: Option<String>,
    ) -> Result<String, Stop> {
        if self.cancel.is_cancelled() {
            return Err(cancelled());
        }
        if let Some(problem) = invalid_input {
            return Err((
                ToolStatus::Error,
                format!("The tool was not run: its {problem}. Send the call again with complete JSON arguments."),
            ));
        }
        let Some(registered) = self.tools.find(name) else {
            return Err((
                ToolStatus::Error,
                format!(
                    "Unknown tool `{name}`. Available tools: {}.",
                    self.tools.names().join(", ")
                ),
            ));
        };
        let verdict = match self.hooks.pre_tool_use(id, name, args).await {
            Ok(PreVerdict::Deny(message)) => {
                return Err((ToolStatus::Denied, cap_output(&message, MAX_OUTPUT_CHARS)))
            }
            Ok(verdict) => verdict,
            Err(_) => return Err(cancelled()),
        };
        let escalated = self.authorize(id, registered, args, &verdict).await?;
        self.execute(id, registered, args.clone(), escalated).await
    }

    /// Whether the call may run; the answer to a permission request may edit `args`,
    /// and may give this one call a relaxed sandbox (returned).
    async fn authorize(
        &self,
        id: &str,
        registered: &RegisteredTool,
        args: &mut Value,
        hooks: &PreVerdict,
    ) -> Result<Option<Arc<Sandbox>>, Stop> {
        let name = registered.tool.name();
        if *hooks != PreVerdict::Ask && self.session.is_allowed(name) {
            return Ok(None);
        }
        match hooks.gate(permissions::gate(self.mode, registered.category)) {
            Gate::Run => return Ok(None),
            Gate::Refuse => {
                return Err((
                    ToolStatus::Denied,
                    format!(
                        "Refused: the permission mode is \"{}\", and `{name}` writes files or runs commands. Use the read-only tools instead.",
                        self.mode
                    ),
                ))
            }
            Gate::Ask => {}
        }
        let sandbox = self.workspace.sandbox();
        let call_sandbox = (registered.sandboxed && sandbox.is_active()).then(|| CallSandbox {
            mode: sandbox.status().enforced.as_str().to_owned(),
            network: sandbox.status().network,
        });
        let request = PermissionRequest {
            id: id.to_owned(),
            tool: name.to_owned(),
            args: args.clone(),
            request_id: PermissionRequest::new_request_id(),
            sandbox: call_sandbox.clone(),
        };
        self.events.emit(AgentEvent::PermissionRequest {
            id: request.id.clone(),
            tool: request.tool.clone(),
            args: request.args.clone(),
            request_id: request.request_id.clone(),
            sandbox: call_sandbox,
        });
        let Some(handler) = self.handler else {
            return Err((
                ToolStatus::Denied,
                "Refused: no one can approve this call.".to_owned(),
            ));
        };
        let decision = handler
            .decide(request)
            .or_cancel(self.cancel)
            .await
            .map_err(|_| cancelled())?;
        match decision {
            Ok(Decision::Allow {
                args: edited,
                remember,
                escalate,
            }) => {
                let escalated = match escalate {
                    Some(escalation) => Some(self.escalate(registered, &escalation)?),
                    None => None,
                };
                if remember {
                    self.session.allow(name);
                }
                if let Some(edited) = edited {
                    *args = edited;
                }
                Ok(escalated)
            }
            Ok(Decision::Deny { message }) => Err(denied(message)),
            Ok(Decision::Defer) => Err((ToolStatus::Cancelled, DEFERRED.to_owned())),
            Err(e) => Err((
                ToolStatus::Denied,
                format!("The tool call was not approved: the permission callback failed ({e})."),
            )),
        }
    }

    /// The sandbox of one call the user allowed with `escalation`. A tool that does not
    /// run in the sandbox cannot be escalated: the call is denied, saying so.
    fn escalate(
        &self,
        registered: &RegisteredTool,
        escalation: &Escalation,
    ) -> Result<Arc<Sandbox>, Stop> {
        let sandbox = self.workspace.sandbox();
        if !registered.sandboxed {
            return Err((
                ToolStatus::Denied,
                format!(
                    "The tool call was not run: the approval asked to escalate the sandbox, but `{}` does not run in the sandbox (only `bash` does). Allow it without `escalate`.",
                    registered.tool.name()
                ),
            ));
        }
        if !sandbox.is_active() {
            // No sandbox: the command already runs with the network and writes anywhere.
            return Ok(sandbox.clone());
        }
        sandbox
            .escalated(escalation.network, &escalation.writable_roots)
            .map(Arc::new)
            .map_err(|e| {
                (
                    ToolStatus::Denied,
                    format!("The tool call was not run: the sandbox could not be escalated as approved ({e})."),
                )
            })
    }

    /// Runs the tool, raced against the run's cancellation; `escalated` is this call's
    /// sandbox when the user relaxed it.
    async fn execute(
        &self,
        id: &str,
        registered: &RegisteredTool,
        args: Value,
        escalated: Option<Arc<Sandbox>>,
    ) -> Result<String, Stop> {
        if let Some(delegate) = self
            .delegate
            .filter(|_| registered.tool.name() == crate::subagent::TASK_TOOL)
        {
            return self.delegate_task(delegate, id, &args).await;
        }
        let ctx = ToolContext {
            workspace: self.workspace.clone(),
            cancel: self.cancel.child_token(),
            call_id: id.to_owned(),
            escalated,
            todos: Some(self.todos.clone()),
        };
        let mut running = registered.tool.call(args, ctx);
        let outcome = match (&mut running).or_cancel(self.cancel).await {
            Ok(outcome) => outcome,
            // The tool saw the same cancellation: give it a moment to stop what it
            // started (kill and reap a process group), then drop it regardless.
            Err(_) => match tokio::time::timeout(
                if registered.sandboxed {
                    SHELL_CANCEL_GRACE
                } else {
                    TOOL_CANCEL_GRACE
                },
                running,
            )
            .await
            {
                Ok(Ok(out)) => Ok(out),
                Ok(Err(_)) | Err(_) => Err(ToolError::Cancelled),
            },
        };
        outcome.map_err(|e| match e {
            ToolError::Cancelled => cancelled(),
            e => (
                ToolStatus::Error,
                cap_output(&e.to_string(), MAX_OUTPUT_CHARS),
            ),
        })
    }
}

impl Dispatch<'_> {
    /// A `task` call: the subagent runs to its end (it stops on the run's cancellation
    /// itself); its usage goes to the run's rollup, the files it changed to the run's,
    /// its transcript to the session; its final reply is the call's output.
    async fn delegate_task(
        &self,
        delegate: &dyn Delegate,
        id: &str,
        args: &Value,
    ) -> Result<String, Stop> {
        let names: Vec<&str> = self.subagents.iter().map(|a| a.name.as_str()).collect();
        let (index, prompt) = crate::subagent::parse_args(&names, args)
            .map_err(|problem| (ToolStatus::Error, problem))?;
        let subagent = &self.subagents[index];
        let events = self.events.nested(&subagent.name, id);
        let result = delegate
            .run(subagent, prompt, self.cancel.child_token(), events)
            .await
            .map_err(|problem| {
                (
                    ToolStatus::Error,
                    format!("The agent `{}` could not start: {problem}", subagent.name),
                )
            })?;
        self.rollup.add(result.usage, result.cost_usd);
        for file in &result.files_changed {
            self.workspace
                .record_change(&self.workspace.root().join(file));
        }
        if let Ok(data) = crate::session::load(&subagent.store, &result.session_id) {
            self.session.record(&SessionRecord::Subagent {
                ts: crate::store::now_ms(),
                transcript: crate::store::SubagentTranscript {
                    call_id: id.to_owned(),
                    agent: subagent.name.clone(),
                    messages: data.messages,
                    usage: result.usage,
                    stop_reason: result.stop_reason,
                },
            });
        }
        subagent.store.remove(&result.session_id);
        subagent_outcome(&subagent.name, &result)
    }
}

/// The output of a `task` call from its subagent's result.
fn subagent_outcome(name: &str, result: &harnext_protocol::RunResult) -> Result<String, Stop> {
    if result.cancelled {
        return Err(cancelled());
    }
    if result.success {
        return Ok(if result.text.trim().is_empty() {
            format!("The agent `{name}` finished without a report.")
        } else {
            result.text.clone()
        });
    }
    let why = result.error.as_ref().map_or_else(
        || format!("it stopped ({})", result.stop_reason.as_str()),
        |e| e.message.clone(),
    );
    let mut out = format!("The agent `{name}` did not finish: {why}");
    if !result.text.trim().is_empty() {
        out.push_str("\n\nIts last reply:\n");
        out.push_str(&result.text);
    }
    Err((ToolStatus::Error, cap_output(&out, MAX_OUTPUT_CHARS)))
}

fn denied(message: Option<String>) -> Stop {
    let output = message
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| "The user denied this tool call.".to_owned());
    (ToolStatus::Denied, cap_output(&output, MAX_OUTPUT_CHARS))
}

fn cancelled() -> Stop {
    (ToolStatus::Cancelled, CANCELLED_OUTPUT.to_owned())
}

/// The step's result, as the history keeps it.
pub(crate) fn result_block(step: &ToolStep) -> ContentBlock {
    ContentBlock::ToolResult {
        tool_use_id: step.id.clone(),
        content: step.output.clone(),
        status: step.status,
    }
}
