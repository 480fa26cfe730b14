//! The tool calls of one model turn, run: the calls that only read (built-in read tools,
//! custom and MCP tools marked read-only) run concurrently, a few at a time; a call
//! that writes runs alone, after the calls before it and before the calls after it.
//! Steps come back in call order whatever order the calls finish in. With
//! `parallel_tool_calls` off, every call runs alone, in order. Once an urgent message
//! is sent to the run, the calls that have not started are not run. A call whose
//! approval is deferred comes back as pending, in its place, whether it ran alone or in
//! a concurrent group; the calls beside and after it still run.

use futures::StreamExt;
use harnext_protocol::AgentEvent;
use harnext_protocol::PendingApproval;
use harnext_protocol::ToolStatus;
use harnext_protocol::ToolStep;

use crate::control::RunControl;
use crate::dispatch::Call;
use crate::dispatch::Dispatch;
use crate::permissions::ToolCategory;

/// Most read-only calls of a turn running at once.
pub(crate) const MAX_CONCURRENT_READS: usize = 16;

/// One call's outcome: its step, or its approval deferred.
pub(crate) type Outcome = Result<ToolStep, PendingApproval>;

/// Runs the turn's calls; their outcomes, in call order.
pub(crate) async fn run(
    dispatch: &Dispatch<'_>,
    calls: Vec<Call>,
    parallel: bool,
    control: &RunControl,
) -> Vec<Outcome> {
    let mut steps = Vec::with_capacity(calls.len());
    let mut calls = calls.into_iter().peekable();
    while let Some(call) = calls.next() {
        if control.has_urgent() {
            steps.push(Ok(skipped(dispatch, call)));
            continue;
        }
        if !parallel || !reads_only(dispatch, &call) {
            steps.push(dispatch.run(call).await);
            continue;
        }
        let mut group = vec![call];
        while let Some(next) = calls.next_if(|c| reads_only(dispatch, c)) {
            group.push(next);
        }
        let done: Vec<Outcome> = futures::stream::iter(group.into_iter().map(|c| dispatch.run(c)))
            .buffered(MAX_CONCURRENT_READS)
            .collect()
            .await;
        steps.extend(done);
    }
    steps
}

/// A call not run because the user sent an urgent message: its events and its step.
fn skipped(dispatch: &Dispatch<'_>, call: Call) -> ToolStep {
    let output =
        "Not run: the user sent a message before this call started; it follows these results.";
    dispatch.events.emit(AgentEvent::ToolCall {
        id: call.id.clone(),
        tool: call.name.clone(),
        args: call.args.clone(),
    });
    dispatch.events.emit(AgentEvent::ToolResult {
        id: call.id.clone(),
        status: ToolStatus::Cancelled,
        output: output.to_owned(),
    });
    ToolStep {
        id: call.id,
        tool: call.name,
        args: call.args,
        status: ToolStatus::Cancelled,
        output: output.to_owned(),
        duration_ms: 0,
    }
}

/// Whether the call is one that may run beside others: a known tool that only reads,
/// with arguments the provider could read.
fn reads_only(dispatch: &Dispatch<'_>, call: &Call) -> bool {
    call.invalid_input.is_none()
        && dispatch
            .tools
            .find(&call.name)
            .is_some_and(|t| t.category == ToolCategory::Read)
}
