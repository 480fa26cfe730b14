//! The scripted model: replays a list of [`ScriptedTurn`]s, one per model call, with no
//! network. The demo runs on it, and users test their own agents with it.
//!
//! Turns are shared by every run of one provider: the first model call of the second
//! run gets the turn after the last one the first run used. A call after the last turn
//! fails with a [`ProviderError::Script`] naming how many turns the script had.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use harnext_protocol::ContentBlock;
use harnext_protocol::ScriptedTurn;
use harnext_protocol::Usage;

use crate::ModelEvent;
use crate::ModelProvider;
use crate::ModelRequest;
use crate::ModelResponse;
use crate::ModelStopReason;
use crate::ModelStream;
use crate::ProviderError;
use crate::StructuredOutputMode;

pub struct ScriptedProvider {
    turns: Arc<[ScriptedTurn]>,
    next: AtomicUsize,
}

impl ScriptedProvider {
    pub fn new(turns: Vec<ScriptedTurn>) -> Self {
        ScriptedProvider {
            turns: turns.into(),
            next: AtomicUsize::new(0),
        }
    }

    /// How many model calls the script has answered so far.
    pub fn turns_used(&self) -> usize {
        self.next.load(Ordering::SeqCst).min(self.turns.len())
    }
}

impl ModelProvider for ScriptedProvider {
    fn name(&self) -> &'static str {
        "scripted"
    }

    /// A script gives a structured answer as its reply text (or a `final_answer` call).
    fn structured_output_mode(&self) -> StructuredOutputMode {
        StructuredOutputMode::JsonText
    }

    fn stream(&self, _request: ModelRequest) -> ModelStream {
        let index = self.next.fetch_add(1, Ordering::SeqCst);
        let Some(turn) = self.turns.get(index).cloned() else {
            let err = ProviderError::Script(format!(
                "the script has {} turn(s) and all were used; model call #{} has no turn to replay",
                self.turns.len(),
                index + 1
            ));
            return futures::stream::once(async move { Err(err) }).boxed();
        };
        replay(turn, index)
    }
}

fn replay(turn: ScriptedTurn, index: usize) -> ModelStream {
    let delay = turn.delay_ms.map(Duration::from_millis);
    let mut steps: Vec<ModelEvent> = Vec::new();
    let mut content = Vec::new();
    if let Some(thinking) = &turn.thinking {
        steps.extend(
            ScriptedTurn::chunks(thinking)
                .into_iter()
                .map(|c| ModelEvent::ThinkingDelta(c.to_owned())),
        );
        content.push(ContentBlock::Thinking {
            thinking: thinking.clone(),
            signature: None,
        });
    }
    if let Some(text) = &turn.text {
        steps.extend(
            ScriptedTurn::chunks(text)
                .into_iter()
                .map(|c| ModelEvent::TextDelta(c.to_owned())),
        );
        content.push(ContentBlock::Text { text: text.clone() });
    }
    for (i, call) in turn.tool_calls.iter().enumerate() {
        content.push(ContentBlock::ToolUse {
            id: call
                .id
                .clone()
                .unwrap_or_else(|| format!("call_{}_{}", index + 1, i + 1)),
            name: call.name.clone(),
            input: call.args.clone(),
        });
    }
    let usage: Usage = turn.usage.map(Usage::from).unwrap_or_default();
    let stop_reason = if turn.tool_calls.is_empty() {
        ModelStopReason::EndTurn
    } else {
        ModelStopReason::ToolUse
    };
    steps.push(ModelEvent::Completed(ModelResponse {
        content,
        stop_reason,
        usage,
        invalid_tool_inputs: Default::default(),
    }));
    futures::stream::iter(steps)
        .then(move |ev| async move {
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            Ok(ev)
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use harnext_protocol::ScriptedToolCall;
    use serde_json::json;

    async fn collect(p: &ScriptedProvider) -> Vec<Result<ModelEvent, ProviderError>> {
        p.stream(ModelRequest::default()).collect().await
    }

    #[tokio::test]
    async fn replays_turns_in_order_then_fails_clearly() {
        let p = ScriptedProvider::new(vec![
            ScriptedTurn {
                thinking: Some("let me see".into()),
                text: Some("I will list files.".into()),
                tool_calls: vec![ScriptedToolCall {
                    id: None,
                    name: "bash".into(),
                    args: json!({"command": "ls"}),
                }],
                ..Default::default()
            },
            ScriptedTurn {
                text: Some("Done.".into()),
                ..Default::default()
            },
        ]);
        let first = collect(&p).await;
        let texts: String = first
            .iter()
            .filter_map(|e| match e {
                Ok(ModelEvent::TextDelta(t)) => Some(t.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(texts, "I will list files.");
        let Some(Ok(ModelEvent::Completed(resp))) = first.last() else {
            panic!("{first:?}")
        };
        assert_eq!(resp.stop_reason, ModelStopReason::ToolUse);
        assert_eq!(
            resp.content[2],
            ContentBlock::ToolUse {
                id: "call_1_1".into(),
                name: "bash".into(),
                input: json!({"command": "ls"})
            }
        );
        let second = collect(&p).await;
        let Some(Ok(ModelEvent::Completed(resp))) = second.last() else {
            panic!()
        };
        assert_eq!(resp.stop_reason, ModelStopReason::EndTurn);
        let third = collect(&p).await;
        let Some(Err(e)) = third.last() else { panic!() };
        assert!(e.to_string().contains("the script has 2 turn(s)"), "{e}");
        assert_eq!(p.turns_used(), 2);
    }
}
