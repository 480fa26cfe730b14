//! The streaming HTTP driver shared by the wire providers: send, retry, decode SSE,
//! hand each event to the provider's parser, forward what it produces.
//!
//! A spawned task owns the connection and pushes [`ModelEvent`]s into a channel; the
//! returned stream is the receiver. When the receiver is dropped the task stops at its
//! next await (it selects on the channel closing), which closes the connection.

use std::time::Duration;

use futures::FutureExt;
use futures::StreamExt;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::redact::Redactor;
use crate::retry;
use crate::sse::SseDecoder;
use crate::sse::SseEvent;
use crate::ModelEvent;
use crate::ModelResponse;
use crate::ModelStream;
use crate::ProviderError;
use crate::STREAM_TIMEOUT_OPTION;

/// How long a stream may stay silent by default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// How long one model call may take in all by default: long enough for the longest
/// legitimate answer (64k output tokens at a slow 60 tokens/s is about 18 minutes),
/// short enough that a server dripping bytes forever cannot hold a run.
pub const DEFAULT_STREAM_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The largest complete JSON response read (a server that ignored `stream: true`).
const MAX_JSON_BODY: usize = 64 * 1024 * 1024;

/// Bytes of an unexpected body quoted in its error.
const SNIPPET_CHARS: usize = 200;

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
    /// The body was one complete JSON response instead of a stream (a server that
    /// ignores `stream: true`): its content is emitted as if streamed.
    fn on_json(
        &mut self,
        body: Value,
        out: &mut Vec<ModelEvent>,
    ) -> Result<ModelResponse, ProviderError>;
}

/// Builds the request of an attempt.
pub(crate) type Build =
    Box<dyn Fn(u32) -> Result<reqwest::RequestBuilder, ProviderError> + Send + Sync>;

pub(crate) struct HttpCall {
    pub provider: &'static str,
    /// Builds the request for an attempt (0 for the first), its body serialised anew
    /// from the model request it holds (no copy of the body is kept between attempts).
    /// Dropped (with the model request) before the response is handed over: the run
    /// loop then appends to a history nothing else holds, without copying it.
    build: std::sync::Mutex<Option<Build>>,
    /// The endpoint, redacted, for messages.
    pub url_shown: String,
    /// Turns an HTTP error response into an error.
    pub parse_error: fn(u16, &HeaderMap, &str) -> ProviderError,
    pub new_parser: Box<dyn Fn() -> Box<dyn WireParser> + Send + Sync>,
    pub max_retries: u32,
    pub idle_timeout: Duration,
    pub stream_timeout: Duration,
    /// Credentials sent with the request; scrubbed from every error message.
    pub redactor: Redactor,
}

impl HttpCall {
    /// The call for `settings`' retry and timeout settings and credentials.
    pub(crate) fn new(
        provider: &'static str,
        settings: &crate::HttpSettings,
        url: &str,
        build: Build,
        parse_error: fn(u16, &HeaderMap, &str) -> ProviderError,
        new_parser: Box<dyn Fn() -> Box<dyn WireParser> + Send + Sync>,
    ) -> HttpCall {
        HttpCall {
            provider,
            build: std::sync::Mutex::new(Some(build)),
            url_shown: crate::redact::redact_url(url),
            parse_error,
            new_parser,
            max_retries: settings.max_retries,
            idle_timeout: settings.idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT),
            stream_timeout: settings.stream_timeout.unwrap_or(DEFAULT_STREAM_TIMEOUT),
            redactor: crate::redact::redactor_for(settings),
        }
    }

    /// The request of attempt `retry`.
    fn request(&self, retry: u32) -> Result<reqwest::RequestBuilder, ProviderError> {
        let build = self.build.lock().unwrap_or_else(|e| e.into_inner());
        match build.as_ref() {
            Some(build) => build(retry),
            None => Err(ProviderError::Protocol {
                provider: self.provider,
                message: "the call was already answered".into(),
            }),
        }
    }

    /// Drops the request builder and the model request it holds.
    fn release(&self) {
        self.build.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

type Tx = mpsc::UnboundedSender<Result<ModelEvent, ProviderError>>;

/// A request body, serialised for one attempt: the request owns it until it is sent.
/// (Kept for the whole turn, the bodies were the largest part of the memory of many
/// running agents: the history's text once more, for as long as each turn streamed.)
#[derive(Clone)]
pub(crate) struct JsonBody(bytes::Bytes);

impl JsonBody {
    pub(crate) fn new(body: &Value) -> JsonBody {
        // `Value`'s `Display` is its compact JSON text, the bytes `RequestBuilder::json`
        // would send.
        JsonBody(bytes::Bytes::from(body.to_string()))
    }

    /// A body already serialised (its JSON text).
    pub(crate) fn from_vec(bytes: Vec<u8>) -> JsonBody {
        JsonBody(bytes::Bytes::from(bytes))
    }

    /// What `rb.json(&body)` does: the body, and `content-type: application/json` unless
    /// `headers` (the caller's own, already on `rb`) name a content type.
    pub(crate) fn attach(
        &self,
        rb: reqwest::RequestBuilder,
        headers: &[(String, String)],
    ) -> reqwest::RequestBuilder {
        let rb = if headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            rb
        } else {
            rb.header(reqwest::header::CONTENT_TYPE, "application/json")
        };
        rb.body(self.0.clone())
    }
}

/// A request whose body could not be serialised (the history's JSON values are
/// serialisable, so this is a bug, reported as an error rather than a panic).
pub(crate) fn unserialisable(provider: &'static str, error: &serde_json::Error) -> ProviderError {
    ProviderError::Protocol {
        provider,
        message: format!("the request body could not be serialised: {error}"),
    }
}

pub(crate) fn failed(err: ProviderError) -> ModelStream {
    futures::stream::once(async move { Err(err) }).boxed()
}

pub(crate) fn spawn(call: HttpCall) -> ModelStream {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        tokio::select! {
            _ = tx.closed() => {}
            done = tokio::time::timeout(
                call.stream_timeout,
                std::panic::AssertUnwindSafe(drive(&call, &tx)).catch_unwind(),
            ) => {
                match done {
                    Err(_) => {
                        let _ = tx.send(Err(ProviderError::Deadline {
                            provider: call.provider,
                            limit: call.stream_timeout,
                            option: STREAM_TIMEOUT_OPTION,
                        }));
                    }
                    // A bug in the reader must not end silently: the run reports it.
                    Ok(Err(payload)) => {
                        let error = ProviderError::Panic {
                            provider: call.provider,
                            message: panic_message(payload.as_ref()),
                        };
                        let _ = tx.send(Err(error.redact_with(&call.redactor)));
                    }
                    Ok(Ok(())) => {}
                }
            }
        }
    });
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// The text of a panic's payload (`panic!("...")` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
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
        let err = failure.error.redact_with(&call.redactor);
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

/// How a 200 body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Sse,
    Json,
}

/// Bytes of a body's beginning looked at to tell what it is.
const SNIFF_BYTES: usize = 64 * 1024;

/// What the first bytes of a body look like: SSE (a field name or a comment), JSON
/// (an object), or neither. `None` while there are too few bytes to tell.
fn sniff(prefix: &[u8], complete: bool) -> Option<Option<BodyKind>> {
    let text = prefix
        .strip_prefix(b"\xef\xbb\xbf")
        .unwrap_or(prefix)
        .trim_ascii_start();
    if text.is_empty() {
        return if complete {
            Some(Some(BodyKind::Sse))
        } else {
            None
        };
    }
    if text[0] == b'{' {
        return Some(Some(BodyKind::Json));
    }
    if text[0] == b':' {
        return Some(Some(BodyKind::Sse));
    }
    for field in [&b"data:"[..], b"event:", b"id:", b"retry:"] {
        let n = field.len().min(text.len());
        if text[..n] == field[..n] {
            if n == field.len() {
                return Some(Some(BodyKind::Sse));
            }
            // A prefix of a field name: wait for more bytes, unless there are none.
            return if complete { Some(None) } else { None };
        }
    }
    Some(None)
}

async fn attempt(call: &HttpCall, retries: u32, tx: &Tx) -> Result<(), AttemptError> {
    let early = |error| AttemptError {
        error,
        output_started: false,
    };
    let provider = call.provider;
    let request = call.request(retries).map_err(early)?;
    let sent = tokio::time::timeout(call.idle_timeout, request.send()).await;
    let response = match sent {
        Err(_) => {
            return Err(early(ProviderError::Timeout {
                provider,
                idle: call.idle_timeout,
            }))
        }
        Ok(Err(e)) => return Err(early(network_error(provider, &call.url_shown, e))),
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
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let mut body = response.bytes_stream().fuse();

    // The body is told by its first bytes, whatever its content type says: servers
    // label streams `text/plain` or `application/json`, and a complete JSON answer
    // `text/event-stream`. The bytes read meanwhile are parsed first.
    let mut first = Vec::new();
    let kind = loop {
        let next = tokio::time::timeout(call.idle_timeout, body.next()).await;
        let complete = match next {
            Err(_) => {
                return Err(early(ProviderError::Timeout {
                    provider,
                    idle: call.idle_timeout,
                }))
            }
            Ok(Some(Err(e))) => return Err(early(broken(provider, &e))),
            Ok(Some(Ok(bytes))) => {
                first.extend_from_slice(&bytes);
                false
            }
            Ok(None) => true,
        };
        match sniff(&first, complete) {
            None if first.len() < SNIFF_BYTES => {}
            Some(Some(k)) => break k,
            None | Some(None) => {
                let snippet: String = String::from_utf8_lossy(&first)
                    .trim()
                    .chars()
                    .take(SNIPPET_CHARS)
                    .collect();
                return Err(early(ProviderError::UnexpectedContentType {
                    provider,
                    content_type: content_type
                        .clone()
                        .unwrap_or_else(|| "no content type".into()),
                    snippet: if snippet.is_empty() {
                        "(an empty body)".into()
                    } else {
                        snippet
                    },
                }));
            }
        }
    };

    let mut parser = (call.new_parser)();
    let mut out = Vec::new();
    if kind == BodyKind::Json {
        let mut bytes = first;
        loop {
            let next = tokio::time::timeout(call.idle_timeout, body.next()).await;
            match next {
                Err(_) => {
                    return Err(early(ProviderError::Timeout {
                        provider,
                        idle: call.idle_timeout,
                    }))
                }
                Ok(Some(Err(e))) => return Err(early(broken(provider, &e))),
                Ok(Some(Ok(chunk))) => {
                    if bytes.len() + chunk.len() > MAX_JSON_BODY {
                        return Err(early(ProviderError::Protocol {
                            provider,
                            message: format!(
                                "the JSON response is larger than {MAX_JSON_BODY} bytes"
                            ),
                        }));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
            }
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            let snippet: String = String::from_utf8_lossy(&bytes)
                .trim()
                .chars()
                .take(SNIPPET_CHARS)
                .collect();
            early(ProviderError::Protocol {
                provider,
                message: format!("the response is not valid JSON ({e}): {snippet}"),
            })
        })?;
        let response = parser.on_json(value, &mut out).map_err(early)?;
        for ev in out.drain(..) {
            let _ = tx.send(Ok(ev));
        }
        call.release();
        let _ = tx.send(Ok(ModelEvent::Completed(response)));
        return Ok(());
    }

    let mut decoder = SseDecoder::default();
    let mut events = Vec::new();
    let mut output_started = false;
    let fail = |error, output_started| AttemptError {
        error,
        output_started,
    };
    let mut pending = Some(bytes::Bytes::from(first)).filter(|b| !b.is_empty());
    loop {
        let next = match pending.take() {
            Some(bytes) => Ok(Some(Ok(bytes))),
            None => tokio::time::timeout(call.idle_timeout, body.next()).await,
        };
        let eof = match next {
            Err(_) => {
                let error = ProviderError::Timeout {
                    provider,
                    idle: call.idle_timeout,
                };
                return Err(fail(error, output_started));
            }
            Ok(Some(Err(e))) => return Err(fail(broken(provider, &e), output_started)),
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
                call.release();
                let _ = tx.send(Ok(ModelEvent::Completed(response)));
                return Ok(());
            }
        }
        if eof {
            let response = parser.on_eof().map_err(|e| fail(e, output_started))?;
            call.release();
            let _ = tx.send(Ok(ModelEvent::Completed(response)));
            return Ok(());
        }
    }
}

/// The connection broke while the body was read.
fn broken(provider: &'static str, e: &reqwest::Error) -> ProviderError {
    ProviderError::Network {
        provider,
        message: format!(
            "the connection broke mid-stream: {}",
            error_chain(&strip_url(e))
        ),
    }
}

fn network_error(provider: &'static str, url_shown: &str, e: reqwest::Error) -> ProviderError {
    ProviderError::Network {
        provider,
        message: format!(
            "request to {url_shown} failed: {}",
            error_chain(&strip_url(&e))
        ),
    }
}

/// reqwest's errors quote the URL, credentials and all: the message shows the
/// redacted one instead (see [`HttpCall::url_shown`]).
fn strip_url(e: &reqwest::Error) -> ErrorWithoutUrl<'_> {
    ErrorWithoutUrl(e)
}

struct ErrorWithoutUrl<'a>(&'a reqwest::Error);

impl std::fmt::Display for ErrorWithoutUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0.to_string();
        match self.0.url() {
            // "error sending request for url (http://…)": drop the parenthesis.
            Some(url) => {
                let quoted = format!(" for url ({url})");
                f.write_str(&text.replace(&quoted, ""))
            }
            None => f.write_str(&text),
        }
    }
}

impl std::fmt::Debug for ErrorWithoutUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ErrorWithoutUrl<'_> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(self.0)
    }
}

/// The error and its causes on one line.
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_panic_in_the_reader_task_ends_the_stream_with_its_message_not_silently() {
        let settings = crate::HttpSettings {
            api_key: Some("sk-panic-test-secret".into()),
            ..crate::HttpSettings::default()
        };
        let call = HttpCall::new(
            "test",
            &settings,
            "http://127.0.0.1:9/v1",
            Box::new(|_| -> Result<reqwest::RequestBuilder, ProviderError> {
                panic!("the reader blew up with sk-panic-test-secret")
            }),
            |status, _, _| ProviderError::Network {
                provider: "test",
                message: status.to_string(),
            },
            Box::new(|| panic!("no parser is made")),
        );
        let mut stream = spawn(call);
        let first = stream.next().await.unwrap();
        match first {
            Err(e @ ProviderError::Panic { .. }) => {
                let text = e.to_string();
                assert!(text.contains("the reader blew up"), "{text}");
                assert!(!text.contains("sk-panic-test-secret"), "{text}");
                assert_eq!(e.code(), harnext_protocol::ErrorCode::Internal);
            }
            other => panic!("expected a panic error, got {other:?}"),
        }
        assert!(stream.next().await.is_none());
    }

    #[test]
    fn a_json_body_is_sent_as_json_would_be_and_a_callers_content_type_wins() {
        let value =
            serde_json::json!({"model": "m", "text": "a \"quoted\" line\n", "n": [1, 2.5, null]});
        let body = JsonBody::new(&value);
        let client = reqwest::Client::new();
        let sent = |rb: reqwest::RequestBuilder| -> (Vec<String>, Vec<u8>) {
            let req = rb.build().unwrap();
            let types = req
                .headers()
                .get_all(reqwest::header::CONTENT_TYPE)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect();
            (types, req.body().unwrap().as_bytes().unwrap().to_vec())
        };
        let (types, bytes) = sent(body.attach(client.post("http://127.0.0.1:9/"), &[]));
        let (json_types, json_bytes) = sent(client.post("http://127.0.0.1:9/").json(&value));
        assert_eq!(types, json_types);
        assert_eq!(bytes, json_bytes);
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), value);

        let own = vec![(
            "Content-Type".to_owned(),
            "application/vnd.x+json".to_owned(),
        )];
        let rb = client
            .post("http://127.0.0.1:9/")
            .header("Content-Type", "application/vnd.x+json");
        let (types, _) = sent(body.attach(rb, &own));
        assert_eq!(types, ["application/vnd.x+json"]);
    }

    #[test]
    fn the_body_kind_comes_from_its_first_bytes() {
        assert_eq!(sniff(b"  {\"id\"", false), Some(Some(BodyKind::Json)));
        assert_eq!(
            sniff(b"\xef\xbb\xbfdata: x", false),
            Some(Some(BodyKind::Sse))
        );
        assert_eq!(sniff(b": ping", false), Some(Some(BodyKind::Sse)));
        assert_eq!(sniff(b"\n\nevent: x", false), Some(Some(BodyKind::Sse)));
        assert_eq!(sniff(b"eve", false), None, "could still be `event:`");
        assert_eq!(sniff(b"eve", true), Some(None));
        assert_eq!(sniff(b"<!DOCTYPE html>", false), Some(None));
        assert_eq!(sniff(b"", false), None);
        assert_eq!(sniff(b"", true), Some(Some(BodyKind::Sse)));
    }
}
