//! Durable approvals: a permission decision deferred (`"defer"`) ends the run with stop
//! reason `awaiting_approval`, its calls saved in the session; a later run of the session,
//! from any process, gives the decisions (`RunInput::Approvals`) and goes on.
//!
//! The records (see `SessionRecord`): `approvals_pending` when the run ends waiting (with
//! the results of the turn's calls that had already ended), `approval_started` just
//! before an approved call runs, `approval_done` with each call's result, then the turn's
//! results message, which closes the wait. A call is never run twice: one that was
//! started and never ended (its process died) gets an interrupted result instead of a
//! second run, and a call with a result is never run again.

use std::collections::HashMap;

use harnext_protocol::ContentBlock;
use harnext_protocol::Message;
use harnext_protocol::PendingApproval;
use harnext_protocol::Role;
use harnext_protocol::ToolStatus;
use harnext_protocol::ToolStep;
use serde_json::Value;

use crate::dispatch::result_block;
use crate::dispatch::Dispatch;
use crate::error::RunError;
use crate::permissions::Decision;
use crate::session::SessionLease;
use crate::store::now_ms;
use crate::store::tool_use_ids;
use crate::store::SessionRecord;

/// The output of an approved call whose process stopped while it ran.
pub const INTERRUPTED_APPROVED: &str = "Interrupted: this approved call was started by a run that stopped before it finished; it was not run again.";

pub use crate::permissions::Answers;

/// Parses `{ [callId]: decision }`.
pub fn parse_answers(map: &serde_json::Map<String, Value>) -> Result<Answers, RunError> {
    if map.is_empty() {
        return Err(RunError::InvalidInput(
            "`approvals` is empty: give a decision for each pending call id".into(),
        ));
    }
    map.iter()
        .map(|(id, v)| match Decision::from_json(v) {
            Ok(Decision::Defer) => Err(RunError::InvalidInput(format!(
                "approval for `{id}`: \"defer\" is not an answer (leave the session waiting instead)"
            ))),
            Ok(d) => Ok((id.clone(), d)),
            Err(e) => Err(RunError::InvalidInput(format!("approval for `{id}`: {e}"))),
        })
        .collect()
}

/// Checks the answers against what the session waits for.
pub(crate) fn check(session: &SessionLease, answers: &Answers) -> Result<(), RunError> {
    let Some(pending) = session.pending() else {
        return Err(RunError::InvalidInput(format!(
            "session `{}` has no tool calls waiting for approval",
            session.id()
        )));
    };
    let waiting: Vec<String> = pending.waiting().into_iter().map(|c| c.id).collect();
    if let Some((id, _)) = answers.iter().find(|(id, _)| !waiting.contains(id)) {
        return Err(RunError::InvalidInput(format!(
            "no call `{id}` waits for approval in session `{}` (waiting: {})",
            session.id(),
            if waiting.is_empty() {
                "none".to_owned()
            } else {
                waiting.join(", ")
            }
        )));
    }
    let missing: Vec<&String> = waiting
        .iter()
        .filter(|w| !answers.iter().any(|(id, _)| id == *w))
        .collect();
    if !missing.is_empty() {
        return Err(RunError::InvalidInput(format!(
            "`approvals` has no decision for {}",
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// Runs the approved calls and denies the others, recording each; the turn's results
/// message (in the order of the calls) and the steps of this run.
pub(crate) async fn resolve(
    dispatch: &Dispatch<'_>,
    session: &SessionLease,
    history: &[Message],
    answers: Answers,
) -> (Message, Vec<ToolStep>) {
    let pending = session.pending().unwrap_or_default();
    let mut answers: HashMap<String, Decision> = answers.into_iter().collect();
    // Each call's result, and the images it returned (which follow it).
    let mut results: HashMap<String, Vec<ContentBlock>> = HashMap::new();
    for r in &pending.results {
        match r {
            ContentBlock::ToolResult { tool_use_id, .. }
            | ContentBlock::Image {
                tool_use_id: Some(tool_use_id),
                ..
            } => results
                .entry(tool_use_id.clone())
                .or_default()
                .push(r.clone()),
            _ => {}
        }
    }
    let mut steps = Vec::new();
    for call in &pending.calls {
        if results.contains_key(&call.id) {
            continue;
        }
        if pending.started.contains(&call.id) {
            let block = ContentBlock::ToolResult {
                tool_use_id: call.id.clone(),
                content: INTERRUPTED_APPROVED.to_owned(),
                status: ToolStatus::Cancelled,
            };
            session.record(&SessionRecord::ApprovalDone {
                ts: now_ms(),
                result: block.clone(),
            });
            results.insert(call.id.clone(), vec![block]);
            continue;
        }
        let Some(decision) = answers.remove(&call.id) else {
            continue;
        };
        if matches!(decision, Decision::Allow { .. }) {
            session.record(&SessionRecord::ApprovalStarted {
                ts: now_ms(),
                id: call.id.clone(),
            });
        }
        let step = dispatch.run_decided(call.clone(), decision).await;
        let block = result_block(&step);
        session.record(&SessionRecord::ApprovalDone {
            ts: now_ms(),
            result: block.clone(),
        });
        let mut blocks = vec![block];
        // Images the call returned follow its result, as in a turn that did not wait.
        if let Some(sink) = &dispatch.images {
            blocks.extend(
                sink.take(&step.id)
                    .into_iter()
                    .map(|source| ContentBlock::Image {
                        source,
                        tool_use_id: Some(step.id.clone()),
                    }),
            );
        }
        results.insert(call.id.clone(), blocks);
        steps.push(step);
    }
    // The results in the order of the turn's calls.
    let order: Vec<String> = history
        .iter()
        .rev()
        .find(|m| m.role == Role::Assistant)
        .map(|m| tool_use_ids(m).into_iter().map(str::to_owned).collect())
        .unwrap_or_default();
    let mut content: Vec<ContentBlock> = order
        .iter()
        .filter_map(|id| results.remove(id))
        .flatten()
        .collect();
    content.extend(results.into_values().flatten());
    (
        Message {
            role: Role::User,
            content,
        },
        steps,
    )
}

/// Records that the turn waits: the deferred calls and the results it has.
pub(crate) fn wait(session: &SessionLease, calls: &[PendingApproval], results: &[ContentBlock]) {
    session.record(&SessionRecord::ApprovalsPending {
        ts: now_ms(),
        calls: calls.to_vec(),
        results: results.to_vec(),
    });
}
