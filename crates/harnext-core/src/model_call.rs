//! One streamed model call, cancellable: the loop's turns and compaction's summaries are
//! both made here.
//!
//! The call reads the provider's stream to its end, passing retries on as `retry`
//! events and, for the loop's turns, the reply and the reasoning as `text` and
//! `thinking` events. On cancellation the stream is dropped, which closes the request.
//! Whatever way it ends, the usage the provider reported is kept and sent as a `usage`
//! event with its cost at the model's list prices (when known): a call cut short still
//! counts what it consumed.

use futures::StreamExt;
use harnext_protocol::AgentEvent;
use harnext_protocol::ErrorCode;
use harnext_protocol::HarnextError;
use harnext_protocol::Usage;
use harnext_providers::ModelEvent;
use harnext_providers::ModelRequest;
use harnext_providers::ModelResponse;
use tokio_util::sync::CancellationToken;

use crate::cancel::OrCancel;
use crate::context::AgentContext;
use crate::context::EventSink;

/// What the user sees of a call as it streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Show {
    /// A turn of the conversation: its text and reasoning stream as events.
    Reply,
    /// A call behind the scenes (a summary): only its retries and usage show.
    Nothing,
}

/// How a call ended.
pub(crate) enum Reply {
    Completed(ModelResponse),
    Failed(HarnextError),
    Cancelled,
}

pub(crate) struct ModelCall {
    pub reply: Reply,
    /// The text the (last) attempt streamed, also when it was cut short.
    pub text: String,
    /// The usage reported for the call, also when it was cut short.
    pub usage: Option<Usage>,
    /// What the call cost in USD, when the model's price and the usage are known.
    pub cost_usd: Option<f64>,
}

/// Makes one model call and reads its stream to the end.
pub(crate) async fn call(
    agent: &AgentContext,
    request: ModelRequest,
    show: Show,
    events: &EventSink,
    cancel: &CancellationToken,
) -> ModelCall {
    let mut stream = agent.provider.stream(request);
    let mut text = String::new();
    let mut usage: Option<Usage> = None;
    let reply = loop {
        let Ok(next) = stream.next().or_cancel(cancel).await else {
            break Reply::Cancelled;
        };
        match next {
            Some(Ok(ModelEvent::TextDelta(t))) => {
                text.push_str(&t);
                if show == Show::Reply && events.wants_events() {
                    events.emit(AgentEvent::Text { text: t });
                }
            }
            Some(Ok(ModelEvent::ThinkingDelta(t))) => {
                if show == Show::Reply {
                    events.emit(AgentEvent::Thinking { text: t });
                }
            }
            Some(Ok(ModelEvent::UsageUpdate(u))) => usage = Some(u),
            Some(Ok(ModelEvent::WebSearch {
                id,
                status,
                query,
                results,
                error,
            })) => {
                if show == Show::Reply {
                    events.emit(AgentEvent::WebSearch {
                        id,
                        status,
                        query,
                        results,
                        error,
                    });
                }
            }
            Some(Ok(ModelEvent::Citation {
                url,
                title,
                cited_text,
            })) => {
                if show == Show::Reply {
                    events.emit(AgentEvent::Citation {
                        url,
                        title,
                        cited_text,
                    });
                }
            }
            Some(Ok(ModelEvent::Retry {
                attempt,
                delay_ms,
                reason,
            })) => {
                // A retried attempt starts over: what it streamed is not part of the answer.
                text.clear();
                usage = None;
                events.emit(AgentEvent::Retry {
                    attempt,
                    delay_ms,
                    reason,
                });
            }
            Some(Ok(ModelEvent::Completed(r))) => {
                usage = Some(r.usage);
                break Reply::Completed(r);
            }
            Some(Err(e)) => break Reply::Failed(e.to_public()),
            None => {
                break Reply::Failed(HarnextError::new(
                    ErrorCode::Internal,
                    "the model stream ended without a response",
                ))
            }
        }
    };
    drop(stream);
    let cost_usd = usage
        .as_ref()
        .and_then(|u| agent.price.as_ref().and_then(|p| p.cost(u)));
    if let Some(usage) = usage {
        events.emit(AgentEvent::Usage { usage, cost_usd });
    }
    ModelCall {
        reply,
        text,
        usage,
        cost_usd,
    }
}
