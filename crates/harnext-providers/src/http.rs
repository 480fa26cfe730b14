//! The streaming HTTP driver shared by the wire providers: send, retry, decode SSE,
//! hand each event to the provider's parser, forward what it produces.
//!
//! A spawned task owns the connection and pushes [`ModelEvent`]s into a channel; the
//! returned stream is the receiver. When the receiver is dropped the task stops at its
//! next await (it selects on the channel closing), which closes the connection.

use std::time::Duration;

use futures::StreamExt;
use reqwest::header::HeaderMap;
use tokio::sync::mpsc;

use crate::retry;
use crate::sse::SseDecoder;
use crate::sse::SseEvent;
use crate::ModelEvent;
use crate::ModelResponse;
use crate::ModelStream;
use crate::ProviderError;

pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// A provider's stream parser: turns decoded SSE events into model events.
pub(crate) trait WireParser: Send + 'static {
    /// Handles one event. Returns the finished response when the event ends the stream.
    fn on_event(
        &mut self,
        event: SseEvent,
        out: &mut Vec<ModelEvent>,
    ) -> Result<Option<ModelResponse>, ProviderError>;
    /// The body ended without a terminal event.
    fn on_eof(&mut self) -> Result<ModelResponse, ProviderError>;
}

pub(crate) struct HttpCall {
    pub provider: &'static str,
    /// Builds the request for an attempt (0 for the first).
    pub build: Box<dyn Fn(u32) -> reqwest::RequestBuilder + Send + Sync>,
    /// Turns an HTTP error response into an error.
    pub parse_error: fn(u16, &HeaderMap, &str) -> ProviderError,
    pub new_parser: Box<dyn Fn() -> Box<dyn WireParser> + Send + Sync>,
    pub max_retries: u32,
    pub idle_timeout: Duration,
    /// Credentials sent with the request; scrubbed from every error message.
    pub secrets: Vec<String>,
}

/// The credentials among `settings`: the API key and the values of headers whose names
/// say they carry one (`authorization`, `*key*`, `*token*`, `*secret*`, `cookie`).
pub(crate) fn secrets_of(settings: &crate::HttpSettings) -> Vec<String> {
    let mut out: Vec<String> = settings.api_key.iter().cloned().collect();
    for (name, value) in &settings.headers {
        let name = name.to_ascii_lowercase();
        let sensitive = name == "authorization"
            || name == "cookie"
            || ["key", "token", "secret"].iter().any(|w| name.contains(w));
        if sensitive {
            out.push(value.clone());
            // `Bearer <token>`: the token alone may be echoed too.
            if let Some((_, token)) = value.split_once(' ') {
                out.push(token.trim().to_owned());
            }
        }
    }
    out
}

type Tx = mpsc::UnboundedSender<Result<ModelEvent, ProviderError>>;

pub(crate) fn failed(err: ProviderError) -> ModelStream {
    futures::stream::once(async move { Err(err) }).boxed()
}

pub(crate) fn spawn(call: HttpCall) -> ModelStream {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        tokio::select! {
            _ = tx.closed() => {}
            _ = drive(&call, &tx) => {}
        }
    });
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

struct AttemptError {
    error: ProviderError,
    /// Text or reasoning already reached the caller: retrying would repeat it.
    output_started: bool,
}

async fn drive(call: &HttpCall, tx: &Tx) {
    let mut retries = 0;
    loop {
        let Err(failure) = attempt(call, retries, tx).await else {
            return;
        };
        let err = failure.error.redact(&call.secrets);
        if failure.output_started || !err.is_retryable() || retries >= call.max_retries {
            let _ = tx.send(Err(err));
            return;
        }
        retries += 1;
        let delay = match &err {
            ProviderError::Http {
                retry_after: Some(d),
                ..
            } => *d,
            _ => retry::backoff(retries),
        };
        let _ = tx.send(Ok(ModelEvent::Retry {
            attempt: retries,
            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            reason: err.to_string(),
        }));
        tokio::time::sleep(delay).await;
    }
}

async fn attempt(call: &HttpCall, retries: u32, tx: &Tx) -> Result<(), AttemptError> {
    let early = |error| AttemptError {
        error,
        output_started: false,
    };
    let provider = call.provider;
    let sent = tokio::time::timeout(call.idle_timeout, (call.build)(retries).send()).await;
    let response = match sent {
        Err(_) => {
            return Err(early(ProviderError::Timeout {
                provider,
                idle: call.idle_timeout,
            }))
        }
        Ok(Err(e)) => return Err(early(network_error(provider, &e))),
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    if !status.is_success() {
        let headers = response.headers().clone();
        let body = match tokio::time::timeout(call.idle_timeout, response.text()).await {
            Ok(Ok(text)) => text,
            Ok(Err(_)) | Err(_) => String::new(),
        };
        return Err(early((call.parse_error)(status.as_u16(), &headers, &body)));
    }

    let mut parser = (call.new_parser)();
    let mut decoder = SseDecoder::default();
    let mut body = response.bytes_stream();
    let mut events = Vec::new();
    let mut out = Vec::new();
    let mut output_started = false;
    let fail = |error, output_started| AttemptError {
        error,
        output_started,
    };
    loop {
        let next = tokio::time::timeout(call.idle_timeout, body.next()).await;
        let eof = match next {
            Err(_) => {
                let error = ProviderError::Timeout {
                    provider,
                    idle: call.idle_timeout,
                };
                return Err(fail(error, output_started));
            }
            Ok(Some(Err(e))) => {
                let error = ProviderError::Network {
                    provider,
                    message: format!("the connection broke mid-stream: {}", error_chain(&e)),
                };
                return Err(fail(error, output_started));
            }
            Ok(Some(Ok(bytes))) => {
                decoder.feed(&bytes, &mut events).map_err(|e| {
                    let error = ProviderError::Protocol {
                        provider,
                        message: e.to_string(),
                    };
                    fail(error, output_started)
                })?;
                false
            }
            Ok(None) => {
                decoder.finish(&mut events);
                true
            }
        };
        for event in events.drain(..) {
            let done = parser
                .on_event(event, &mut out)
                .map_err(|e| fail(e, output_started))?;
            for ev in out.drain(..) {
                output_started |=
                    matches!(ev, ModelEvent::TextDelta(_) | ModelEvent::ThinkingDelta(_));
                let _ = tx.send(Ok(ev));
            }
            if let Some(response) = done {
                let _ = tx.send(Ok(ModelEvent::Completed(response)));
                return Ok(());
            }
        }
        if eof {
            let response = parser.on_eof().map_err(|e| fail(e, output_started))?;
            let _ = tx.send(Ok(ModelEvent::Completed(response)));
            return Ok(());
        }
    }
}

fn network_error(provider: &'static str, e: &reqwest::Error) -> ProviderError {
    ProviderError::Network {
        provider,
        message: format!("request failed: {}", error_chain(e)),
    }
}

/// The error and its causes on one line. reqwest's errors carry the URL, never
/// headers, so no credential can appear here.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = cause.source();
    }
    s
}
