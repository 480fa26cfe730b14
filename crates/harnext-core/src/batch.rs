//! The tool calls of one model turn, run: the calls that only read (built-in read tools,
//! custom and MCP tools marked read-only) run concurrently, a few at a time; a call
//! that writes runs alone, after the calls before it and before the calls after it.
//! Steps come back in call order whatever order the calls finish in. With
//! `parallel_tool_calls` off, every call runs alone, in order.

use futures::StreamExt;
use harnext_protocol::ToolStep;

use crate::dispatch::Call;
use crate::dispatch::Dispatch;
use crate::permissions::ToolCategory;

/// Most read-only calls of a turn running at once.
pub(crate) const MAX_CONCURRENT_READS: usize = 16;

/// Runs the turn's calls; their steps, in call order.
pub(crate) async fn run(
    dispatch: &Dispatch<'_>,
    calls: Vec<Call>,
    parallel: bool,
) -> Vec<ToolStep> {
    let mut steps = Vec::with_capacity(calls.len());
    let mut calls = calls.into_iter().peekable();
    while let Some(call) = calls.next() {
        if !parallel || !reads_only(dispatch, &call) {
            steps.push(dispatch.run(call).await);
            continue;
        }
        let mut group = vec![call];
        while let Some(next) = calls.next_if(|c| reads_only(dispatch, c)) {
            group.push(next);
        }
        let done: Vec<ToolStep> = futures::stream::iter(group.into_iter().map(|c| dispatch.run(c)))
            .buffered(MAX_CONCURRENT_READS)
            .collect()
            .await;
        steps.extend(done);
    }
    steps
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
