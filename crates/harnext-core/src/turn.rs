//! A model turn, read: the tool calls to dispatch, the final answers (structured output),
//! the ending of a turn that stopped short of an answer, and results for calls left open.

use harnext_protocol::ContentBlock;
use harnext_protocol::ErrorCode;
use harnext_protocol::HarnextError;
use harnext_protocol::Message;
use harnext_protocol::OptionKey;
use harnext_protocol::Role;
use harnext_protocol::StopDetails;
use harnext_protocol::StopReason;
use harnext_protocol::ToolStatus;
use harnext_providers::ModelResponse;
use harnext_providers::ModelStopReason;
use harnext_providers::FINAL_ANSWER_TOOL;
use serde_json::Value;

use crate::context::Ending;
use crate::dispatch::Call;

/// The tool calls of a model turn: to dispatch, and final answers (structured output).
pub(crate) struct Turn {
    pub calls: Vec<Call>,
    pub answers: Vec<(String, Value)>,
}

impl Turn {
    pub fn of(response: &ModelResponse, structured: bool) -> Turn {
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

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty() && self.answers.is_empty()
    }
}

/// The ending of a turn that stopped short of an answer: cut at the output token
/// limit, refused, or filtered. `None` for a turn that ended normally.
pub(crate) fn stopped_short(reason: &ModelStopReason) -> Option<Ending> {
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

/// Results for the tool calls of the last message, when it is the model's and they have
/// none (the run ended on an internal error before they finished).
pub(crate) fn unanswered(history: &[Message]) -> Option<Message> {
    let last = history.last().filter(|m| m.role == Role::Assistant)?;
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
    (!open.is_empty()).then_some(Message {
        role: Role::User,
        content: open,
    })
}
