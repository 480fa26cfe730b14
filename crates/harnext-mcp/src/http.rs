//! The streamable HTTP client of rmcp's transport, on the workspace's reqwest 0.12.
//!
//! rmcp's own reqwest backend needs reqwest 0.13 (a second HTTP and TLS stack in the
//! addon); this implements its [`StreamableHttpClient`] trait on the reqwest the
//! providers already use, with the same response handling: 202/204 accepted, JSON or
//! SSE bodies, JSON-RPC errors kept from failed responses, 404 on a session as an
//! expired session, and byte limits on bodies and on each SSE event.

use std::borrow::Cow;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Context;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::Stream;
use futures::StreamExt;
use http::HeaderName;
use http::HeaderValue;
use reqwest::header::ACCEPT;
use reqwest::header::CONTENT_TYPE;
use reqwest::header::RETRY_AFTER;
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::StatusCode;
use rmcp::model::ClientJsonRpcMessage;
use rmcp::model::ServerJsonRpcMessage;
use rmcp::transport::streamable_http_client::AuthRequiredError;
use rmcp::transport::streamable_http_client::HttpStatusError;
use rmcp::transport::streamable_http_client::SseError;
use rmcp::transport::streamable_http_client::StreamableHttpClient;
use rmcp::transport::streamable_http_client::StreamableHttpError;
use rmcp::transport::streamable_http_client::StreamableHttpPostResponse;
use rmcp::transport::streamable_http_client::StreamableHttpResponseLimits;
use sse_stream::Sse;
use sse_stream::SseStream;

use crate::cap::JsonCutter;
use crate::cap::LineCap;

const SESSION_ID: &str = "mcp-session-id";
const LAST_EVENT_ID: &str = "last-event-id";
const EVENT_STREAM: &str = "text/event-stream";
const JSON: &str = "application/json";

type Error = StreamableHttpError<reqwest::Error>;

/// The most raw bytes read of one JSON response or SSE line, however it is cut: past
/// this the body is given up (a server sending without end).
const MAX_RAW_MESSAGE: usize = 256 * 1024 * 1024;

/// A reqwest 0.12 client for MCP's streamable HTTP transport.
#[derive(Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    /// Each message is cut to about this many bytes while it is read
    /// (`max_result_bytes`, see [`crate::cap`]).
    max_message: usize,
}

impl HttpClient {
    pub(crate) fn new(max_message: usize) -> Result<HttpClient, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .user_agent(concat!("harnext/", env!("CARGO_PKG_VERSION")))
            // Only same-origin redirects that keep the method and body: a POST turned
            // into a GET would lose the message, and another origin must not get the
            // session id and the configured headers.
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let keeps_body = matches!(
                    attempt.status(),
                    StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
                );
                let same_origin = attempt
                    .previous()
                    .first()
                    .is_some_and(|first| first.origin() == attempt.url().origin());
                if !keeps_body || !same_origin || attempt.previous().len() > 10 {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .build()?;
        Ok(HttpClient {
            client,
            max_message,
        })
    }
}

fn media_type_is(content_type: Option<&str>, expected: &str) -> bool {
    content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case(expected))
    })
}

fn header_str(
    response: &reqwest::Response,
    name: impl reqwest::header::AsHeaderName,
) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Reads at most `max` bytes of the body. `Err(Err(max))` when it is longer.
async fn read_body(
    response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, Result<reqwest::Error, usize>> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(Ok)?;
        if body.len() + chunk.len() > max {
            return Err(Err(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads a JSON message body, cut to about `cap` bytes while it is read (see
/// [`crate::cap`]); gives up past [`MAX_RAW_MESSAGE`] raw bytes.
async fn read_capped(
    response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, Result<reqwest::Error, usize>> {
    let mut body = Vec::new();
    let mut cutter: Option<JsonCutter> = None;
    let mut raw = 0usize;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(Ok)?;
        raw = raw.saturating_add(chunk.len());
        if raw > MAX_RAW_MESSAGE {
            return Err(Err(MAX_RAW_MESSAGE));
        }
        match &mut cutter {
            Some(c) => c.feed(&chunk),
            None => {
                body.extend_from_slice(&chunk);
                if body.len() > cap {
                    let mut c = JsonCutter::new(cap);
                    c.feed(&std::mem::take(&mut body));
                    cutter = Some(c);
                }
            }
        }
    }
    match cutter {
        None => Ok(body),
        // Too large even cut, with no request to answer: nothing is delivered.
        Some(c) => Ok(c.finish().unwrap_or_default()),
    }
}

/// The first `max` bytes of a body, for an error message.
async fn body_prefix(response: reqwest::Response, max: usize) -> String {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        let room = max.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= max {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

fn auth_required(response: &reqwest::Response) -> Option<Error> {
    if response.status() != StatusCode::UNAUTHORIZED {
        return None;
    }
    let challenge = header_str(response, WWW_AUTHENTICATE)?;
    Some(StreamableHttpError::AuthRequired(AuthRequiredError::new(
        challenge,
    )))
}

fn status_error(response: &reqwest::Response) -> Option<Error> {
    let status = response.status();
    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
        return None;
    }
    Some(StreamableHttpError::HttpStatus(HttpStatusError::new(
        status.as_u16(),
        header_str(response, RETRY_AFTER),
    )))
}

fn with_headers(
    mut request: reqwest::RequestBuilder,
    session_id: Option<&str>,
    auth_token: Option<String>,
    custom_headers: HashMap<HeaderName, HeaderValue>,
) -> reqwest::RequestBuilder {
    for (name, value) in custom_headers {
        request = request.header(name, value);
    }
    if let Some(token) = auth_token {
        request = request.bearer_auth(token);
    }
    if let Some(id) = session_id {
        request = request.header(SESSION_ID, id);
    }
    request
}

impl HttpClient {
    async fn post(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_token: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let body = serde_json::to_vec(&message)?;
        let request = self
            .client
            .post(uri.as_ref())
            .header(ACCEPT, format!("{JSON}, {EVENT_STREAM}"))
            .header(CONTENT_TYPE, JSON)
            .body(body);
        let request = with_headers(request, session_id.as_deref(), auth_token, custom_headers);
        let response = request.send().await.map_err(StreamableHttpError::Client)?;
        let status = response.status();
        if let Some(e) = auth_required(&response) {
            return Err(e);
        }
        if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if status == StatusCode::NOT_FOUND && session_id.is_some() {
            return Err(StreamableHttpError::SessionExpired);
        }
        let content_type = header_str(&response, CONTENT_TYPE);
        let new_session = header_str(&response, SESSION_ID);
        // Notifications and responses wait for nothing back.
        let awaits_nothing = !matches!(message, ClientJsonRpcMessage::Request(_));
        if !status.is_success() {
            if media_type_is(content_type.as_deref(), JSON)
                && status != StatusCode::TOO_MANY_REQUESTS
            {
                let fallback = status_error(&response);
                return match read_body(response, limits.max_json_response_size).await {
                    Ok(body) => match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
                        // A JSON-RPC error in a failed response is the answer to the request.
                        Ok(error @ ServerJsonRpcMessage::Error(_)) => {
                            Ok(StreamableHttpPostResponse::Json(error, new_session))
                        }
                        _ => Err(fallback.unwrap_or_else(|| {
                            let mut text = String::from_utf8_lossy(&body).into_owned();
                            truncate(&mut text, limits.max_error_response_size);
                            StreamableHttpError::UnexpectedServerResponse(Cow::Owned(format!(
                                "HTTP {status}: {text}"
                            )))
                        })),
                    },
                    Err(Ok(e)) => Err(fallback.unwrap_or(StreamableHttpError::Client(e))),
                    Err(Err(max_size)) => {
                        Err(fallback
                            .unwrap_or(StreamableHttpError::ResponseBodyTooLarge { max_size }))
                    }
                };
            }
            if let Some(e) = status_error(&response) {
                return Err(e);
            }
            let text = body_prefix(response, limits.max_error_response_size).await;
            return Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                format!("HTTP {status}: {text}"),
            )));
        }
        if media_type_is(content_type.as_deref(), EVENT_STREAM) {
            let events = sse_events(response, limits.max_sse_event_size, self.max_message);
            return Ok(StreamableHttpPostResponse::Sse(events, new_session));
        }
        if media_type_is(content_type.as_deref(), JSON) {
            let body = match read_capped(response, self.max_message).await {
                Ok(body) => body,
                Err(Ok(e)) => return Err(StreamableHttpError::Client(e)),
                Err(Err(max_size)) => {
                    return Err(StreamableHttpError::ResponseBodyTooLarge { max_size })
                }
            };
            if awaits_nothing && body.iter().all(u8::is_ascii_whitespace) {
                return Ok(StreamableHttpPostResponse::Accepted);
            }
            return match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
                Ok(message) => Ok(StreamableHttpPostResponse::Json(message, new_session)),
                Err(_) if awaits_nothing => Ok(StreamableHttpPostResponse::Accepted),
                Err(e) => Err(StreamableHttpError::Deserialize(e)),
            };
        }
        if awaits_nothing {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        Err(StreamableHttpError::UnexpectedContentType(content_type))
    }

    async fn open_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_token: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Error> {
        let mut request = self.client.get(uri.as_ref()).header(ACCEPT, EVENT_STREAM);
        if let Some(id) = last_event_id {
            request = request.header(LAST_EVENT_ID, id);
        }
        let request = with_headers(request, session_id.as_deref(), auth_token, custom_headers);
        let response = request.send().await.map_err(StreamableHttpError::Client)?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        if let Some(e) = auth_required(&response).or_else(|| status_error(&response)) {
            return Err(e);
        }
        let response = response
            .error_for_status()
            .map_err(StreamableHttpError::Client)?;
        let content_type = header_str(&response, CONTENT_TYPE);
        if !media_type_is(content_type.as_deref(), EVENT_STREAM)
            && !media_type_is(content_type.as_deref(), JSON)
        {
            return Err(StreamableHttpError::UnexpectedContentType(content_type));
        }
        Ok(sse_events(response, max_event_size, self.max_message))
    }
}

fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

impl StreamableHttpClient for HttpClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let limits = StreamableHttpResponseLimits::default();
        self.post(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, Error> {
        self.post(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), Error> {
        let request = with_headers(
            self.client.delete(uri.as_ref()),
            Some(&session_id),
            auth_header,
            custom_headers,
        );
        let response = request.send().await.map_err(StreamableHttpError::Client)?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Ok(());
        }
        response
            .error_for_status()
            .map(|_| ())
            .map_err(StreamableHttpError::Client)
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Error> {
        let max = StreamableHttpResponseLimits::default().max_sse_event_size;
        self.open_stream(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            max,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Error> {
        self.open_stream(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            max_sse_event_size,
        )
        .await
    }
}

#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error("an SSE event is larger than {0} bytes")]
    EventTooLarge(usize),
}

/// Bytes of a response, failing once one SSE event grows past `max` bytes.
struct BoundedEvents {
    inner: BoxStream<'static, Result<Bytes, reqwest::Error>>,
    max: usize,
    /// Bytes of the current event so far (line ends not counted).
    size: usize,
    line_empty: bool,
    prev: u8,
    failed: bool,
}

impl BoundedEvents {
    fn measure(&mut self, chunk: &[u8]) -> bool {
        for &b in chunk {
            if b == b'\n' && self.prev == b'\r' {
                self.prev = b;
                continue;
            }
            if b == b'\n' || b == b'\r' {
                // A blank line ends the event.
                if self.line_empty {
                    self.size = 0;
                }
                self.line_empty = true;
            } else {
                self.line_empty = false;
                self.size += 1;
            }
            self.prev = b;
        }
        self.size <= self.max
    }
}

impl Stream for BoundedEvents {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => {
                self.failed = true;
                Poll::Ready(Some(Err(BodyError::Http(e))))
            }
            Poll::Ready(Some(Ok(chunk))) => {
                if self.measure(&chunk) {
                    Poll::Ready(Some(Ok(chunk)))
                } else {
                    self.failed = true;
                    let max = self.max;
                    Poll::Ready(Some(Err(BodyError::EventTooLarge(max))))
                }
            }
        }
    }
}

/// The body's bytes with each `data:` line cut to about `cap` bytes while it is read
/// (see [`crate::cap`]).
fn capped_lines(
    body: BoxStream<'static, Result<Bytes, reqwest::Error>>,
    cap: usize,
) -> BoxStream<'static, Result<Bytes, reqwest::Error>> {
    let state = (body, LineCap::new(cap, true), false);
    futures::stream::unfold(state, |(mut body, mut lines, done)| async move {
        if done {
            return None;
        }
        loop {
            match body.next().await {
                Some(Ok(chunk)) => {
                    let mut out = Vec::new();
                    lines.feed(&chunk, &mut out);
                    if !out.is_empty() {
                        return Some((Ok(Bytes::from(out)), (body, lines, false)));
                    }
                }
                Some(Err(e)) => return Some((Err(e), (body, lines, true))),
                None => {
                    let mut out = Vec::new();
                    lines.finish(&mut out);
                    return Some((Ok(Bytes::from(out)), (body, lines, true)));
                }
            }
        }
    })
    .boxed()
}

fn sse_events(
    response: reqwest::Response,
    max: usize,
    cap: usize,
) -> BoxStream<'static, Result<Sse, SseError>> {
    let bytes = BoundedEvents {
        inner: capped_lines(response.bytes_stream().boxed(), cap),
        max,
        size: 0,
        line_empty: true,
        prev: 0,
        failed: false,
    };
    SseStream::from_bytes_stream(bytes).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounded(max: usize) -> BoundedEvents {
        BoundedEvents {
            inner: futures::stream::empty().boxed(),
            max,
            size: 0,
            line_empty: true,
            prev: 0,
            failed: false,
        }
    }

    #[test]
    fn event_size_resets_at_blank_lines_in_any_line_ending_and_split_across_chunks() {
        let mut b = bounded(10);
        assert!(b.measure(b"data: 1234\n\n"));
        assert!(b.measure(b"data: 12\r"));
        assert!(b.measure(b"\n\r\ndata: 1234\n\n"));
        assert!(!b.measure(b"data: 12345"), "11 bytes of one event");
        let mut b = bounded(10);
        assert!(b.measure(b"data: 12\n"));
        assert!(!b.measure(b"data: 12\n"), "two lines of one event add up");
    }

    #[test]
    fn media_types_ignore_parameters_and_case() {
        assert!(media_type_is(Some("application/json; charset=utf-8"), JSON));
        assert!(media_type_is(Some("Text/Event-Stream"), EVENT_STREAM));
        assert!(!media_type_is(Some("text/html"), JSON));
        assert!(!media_type_is(None, JSON));
    }
}
