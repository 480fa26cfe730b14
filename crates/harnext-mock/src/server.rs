//! The HTTP server: connections, the model routes (the next scripted response, in the
//! route's wire format), the `/_mock/` control routes, the recorded requests, and the
//! streamed bodies that misbehave on cue.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::net::Ipv4Addr;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::MutexGuard;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use http_body_util::Full;
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::header::HeaderName;
use hyper::header::HeaderValue;
use hyper::Method;
use hyper::Request;
use hyper::Response;
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::anthropic;
use crate::response::HttpResponse;
use crate::response::MockResponse;
use crate::response::SseResponse;
use crate::response::TurnResponse;
use crate::text::random_id;
use crate::wire::turn_frames;
use crate::wire::Asked;
use crate::wire::WireFormat;

/// One request the mock received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// The query string, without `?`.
    pub query: Option<String>,
    /// Header names are lowercase, in the order received.
    pub headers: Vec<(String, String)>,
    /// The parsed JSON body; `Null` when the body is empty or not JSON.
    pub body: Value,
    /// When the request arrived, in microseconds since the Unix epoch.
    pub received_at_us: u64,
    /// When the last byte of its response was handed to the connection (0 until then),
    /// in microseconds since the Unix epoch. Benchmarks measure per-step cost with it.
    pub finished_at_us: Arc<AtomicU64>,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `{"method", "path", "query"?, "headers": {name: value}, "body"}`; repeated
    /// headers are joined with `", "`.
    pub fn to_json(&self) -> Value {
        let mut headers = serde_json::Map::new();
        for (name, value) in &self.headers {
            match headers.get_mut(name) {
                Some(Value::String(existing)) => {
                    existing.push_str(", ");
                    existing.push_str(value);
                }
                _ => {
                    headers.insert(name.clone(), Value::String(value.clone()));
                }
            }
        }
        let mut out = serde_json::Map::new();
        out.insert("method".into(), Value::String(self.method.clone()));
        out.insert("path".into(), Value::String(self.path.clone()));
        if let Some(query) = &self.query {
            out.insert("query".into(), Value::String(query.clone()));
        }
        out.insert("headers".into(), Value::Object(headers));
        out.insert("body".into(), self.body.clone());
        out.insert("receivedAtUs".into(), Value::from(self.received_at_us));
        out.insert(
            "finishedAtUs".into(),
            Value::from(self.finished_at_us.load(Ordering::SeqCst)),
        );
        Value::Object(out)
    }
}

impl Serialize for RecordedRequest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

/// A running mock server. Clones share the server; it stops (and drops its open
/// connections) when the last clone is dropped.
#[derive(Clone)]
pub struct MockServer {
    inner: Arc<Handle>,
}

struct Handle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Scripted responses with the number of uses left.
    queue: VecDeque<(MockResponse, usize)>,
    requests: Vec<RecordedRequest>,
    /// Requests to the model routes so far.
    message_requests: u64,
    /// Generated `toolu_mock_<n>` ids so far.
    tool_ids: u64,
    /// Requests are recorded without their bodies (`POST /_mock/options`).
    skip_bodies: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl MockServer {
    /// Starts a server on `127.0.0.1` with an ephemeral port.
    pub async fn start() -> io::Result<MockServer> {
        MockServer::bind(0).await
    }

    /// Starts a server on `127.0.0.1:port` (0 for an ephemeral port).
    pub async fn bind(port: u16) -> io::Result<MockServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (shutdown, rx) = watch::channel(false);
        tokio::spawn(accept_loop(listener, shared.clone(), rx));
        Ok(MockServer {
            inner: Arc::new(Handle {
                addr,
                shared,
                shutdown,
            }),
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Appends a response to the FIFO of scripted responses.
    pub fn push(&self, response: impl Into<MockResponse>) {
        let response = response.into();
        let uses = response.uses();
        self.inner.shared.lock().queue.push_back((response, uses));
    }

    /// Every request received (except `/_mock/` control requests), in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.shared.lock().requests.clone()
    }

    /// How many scripted responses are left (counting each entry once, whatever its `times`).
    pub fn pending(&self) -> usize {
        self.inner.shared.lock().queue.len()
    }

    /// Clears the FIFO, the recorded requests and the counters.
    pub fn reset(&self) {
        *self.inner.shared.lock() = State::default();
    }

    /// Stops accepting connections and drops the open ones.
    pub fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    let mut shutdown = shutdown.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let shared = shared.clone();
                            async move { Ok::<_, Infallible>(handle(shared, req).await) }
                        });
                        let conn = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service);
                        tokio::select! {
                            _ = conn => {}
                            _ = async {
                                while !*shutdown.borrow_and_update() {
                                    if shutdown.changed().await.is_err() {
                                        return;
                                    }
                                }
                            } => {}
                        }
                    });
                }
                // For example too many open files: back off a little.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }
}

type Body = UnsyncBoxBody<Bytes, io::Error>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    json_text_response(status, body.to_string())
}

fn json_text_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn request_id() -> String {
    random_id("req_mock_", 24)
}

fn error_response(status: StatusCode, error_type: &str, message: &str) -> Response<Body> {
    format_error_response(WireFormat::Anthropic, status, error_type, message)
}

/// An error response in `format`'s shape. OpenAI sends the request id as `x-request-id`.
fn format_error_response(
    format: WireFormat,
    status: StatusCode,
    error_type: &str,
    message: &str,
) -> Response<Body> {
    let id = request_id();
    let (body, header) = format.error_body(error_type, message, &id);
    let mut response = json_text_response(status, body);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(header, value);
    }
    response
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let received_at = now_us();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let bytes = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("harnext-mock: could not read the request body: {e}"),
            )
        }
    };

    if let Some(control) = path.strip_prefix("/_mock/") {
        return handle_control(&shared, &method, control, &bytes);
    }

    let body = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
    let format = WireFormat::from_path(&path);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(format.unwrap_or(WireFormat::Anthropic).default_model())
        .to_owned();
    let asked = Asked::from_body(&body);
    let is_model_route = format.is_some();
    let finished = Arc::new(AtomicU64::new(0));
    let recorded = RecordedRequest {
        method: method.as_str().to_owned(),
        path: path.clone(),
        query,
        headers,
        body,
        received_at_us: received_at,
        finished_at_us: finished.clone(),
    };

    let next = {
        let mut state = shared.lock();
        let mut recorded = recorded;
        if state.skip_bodies {
            recorded.body = Value::Null;
        }
        state.requests.push(recorded);
        if !is_model_route || method != Method::POST {
            None
        } else {
            state.message_requests += 1;
            let number = state.message_requests;
            let response = match state.queue.front_mut() {
                Some((response, uses)) if *uses > 1 => {
                    *uses -= 1;
                    Some(response.clone())
                }
                Some(_) => state.queue.pop_front().map(|(response, _)| response),
                None => None,
            };
            Some((number, response))
        }
    };

    let format = format.unwrap_or(WireFormat::Anthropic);
    match next {
        None if is_model_route => format_error_response(
            format,
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            &format!("harnext-mock: {method} is not allowed on {path}; use POST"),
        ),
        None => error_response(
            StatusCode::NOT_FOUND,
            "not_found_error",
            &format!("harnext-mock: no route for {method} {path}"),
        ),
        Some((number, None)) => {
            let mut response = format_error_response(
                format,
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                &format!("harnext-mock: no scripted response left for request #{number}"),
            );
            response
                .headers_mut()
                .insert("x-should-retry", HeaderValue::from_static("false"));
            response
        }
        Some((_, Some(response))) => serve(&shared, response, &model, format, asked).map(|body| {
            TimedBody {
                inner: body,
                finished: Some(finished),
            }
            .boxed_unsync()
        }),
    }
}

/// Microseconds since the Unix epoch.
fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A response body that notes when its last frame went out.
struct TimedBody {
    inner: Body,
    finished: Option<Arc<AtomicU64>>,
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(None) = &polled {
            if let Some(f) = self.finished.take() {
                f.store(now_us(), Ordering::SeqCst);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

fn handle_control(shared: &Shared, method: &Method, route: &str, bytes: &[u8]) -> Response<Body> {
    let bad_request = |message: String| {
        json_response(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({ "error": message }),
        )
    };
    match (method, route) {
        (&Method::POST, "responses") => {
            let value = match serde_json::from_slice::<Value>(bytes) {
                Ok(value) => value,
                Err(e) => return bad_request(format!("the body is not valid JSON: {e}")),
            };
            let responses = match MockResponse::list_from_json(value) {
                Ok(responses) => responses,
                Err(e) => return bad_request(e.message),
            };
            let added = responses.len();
            let mut state = shared.lock();
            for response in responses {
                let uses = response.uses();
                state.queue.push_back((response, uses));
            }
            let pending = state.queue.len();
            json_response(
                StatusCode::OK,
                &serde_json::json!({ "queued": added, "pending": pending }),
            )
        }
        (&Method::GET, "requests") => {
            let requests: Vec<Value> = shared
                .lock()
                .requests
                .iter()
                .map(RecordedRequest::to_json)
                .collect();
            json_response(StatusCode::OK, &Value::Array(requests))
        }
        (&Method::POST, "options") => {
            let value = match serde_json::from_slice::<Value>(bytes) {
                Ok(value) => value,
                Err(e) => return bad_request(format!("the body is not valid JSON: {e}")),
            };
            match value.get("recordBodies").map(Value::as_bool) {
                Some(Some(record)) if value.as_object().is_some_and(|o| o.len() == 1) => {
                    shared.lock().skip_bodies = !record;
                    json_response(StatusCode::OK, &serde_json::json!({ "ok": true }))
                }
                _ => bad_request(
                    "expected {\"recordBodies\": true|false} and nothing else".to_string(),
                ),
            }
        }
        (&Method::POST, "reset") => {
            *shared.lock() = State::default();
            json_response(StatusCode::OK, &serde_json::json!({ "ok": true }))
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            &serde_json::json!({
                "error": format!(
                    "harnext-mock: unknown control request {method} /_mock/{route}; \
                     use POST /_mock/responses, GET /_mock/requests, POST /_mock/options or POST /_mock/reset"
                )
            }),
        ),
    }
}

/// What the streamed body does after its data.
enum Step {
    Data(Bytes),
    /// Send nothing more and keep the connection open.
    Stall,
    /// Abort the connection (no terminal chunk).
    Abort,
}

fn streamed(steps: Vec<Step>, delay: Duration) -> Body {
    let stream = futures::stream::unfold(steps.into_iter(), move |mut steps| async move {
        match steps.next()? {
            Step::Data(bytes) => {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Some((Ok(Frame::data(bytes)), steps))
            }
            Step::Stall => {
                std::future::pending::<()>().await;
                None
            }
            Step::Abort => {
                // Let hyper flush what it has buffered before it drops the connection.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let error = io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "harnext-mock: disconnectAfter",
                );
                Some((Err(error), Vec::new().into_iter()))
            }
        }
    });
    StreamBody::new(stream).boxed_unsync()
}

fn sse_response(body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    if let Ok(id) = HeaderValue::from_str(&request_id()) {
        headers.insert("request-id", id);
    }
    response
}

fn serve(
    shared: &Shared,
    response: MockResponse,
    model: &str,
    format: WireFormat,
    asked: Asked,
) -> Response<Body> {
    match response {
        MockResponse::Turn(turn) => serve_turn(shared, &turn, model, format, asked),
        MockResponse::Http(http) => serve_http(&http, format),
        MockResponse::Sse(sse) => serve_sse(&sse),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ending {
    Error,
    Disconnect,
    Stall,
}

fn serve_turn(
    shared: &Shared,
    turn: &TurnResponse,
    model: &str,
    format: WireFormat,
    asked: Asked,
) -> Response<Body> {
    let frames = turn_frames(
        format,
        &turn.turn,
        turn.stop_reason.as_deref(),
        model,
        asked,
        &mut || {
            let mut state = shared.lock();
            state.tool_ids += 1;
            state.tool_ids
        },
    );
    let frames = match turn.no_usage {
        Some(true) => crate::strip::without_usage(frames),
        _ => frames,
    };
    let error_after = turn.error_after.or(turn.error.as_ref().map(|_| 1usize));
    // The earliest of the three endings wins; on a tie error, then disconnect, then stall.
    let ending = [
        error_after.map(|n| (n, Ending::Error)),
        turn.disconnect_after.map(|n| (n, Ending::Disconnect)),
        turn.stall_after.map(|n| (n, Ending::Stall)),
    ]
    .into_iter()
    .flatten()
    .min();
    let keep = ending.map_or(frames.len(), |(n, _)| n.min(frames.len()));
    let mut steps: Vec<Step> = frames
        .into_iter()
        .take(keep)
        .map(|f| Step::Data(Bytes::from(f)))
        .collect();
    match ending.map(|(_, e)| e) {
        None => {}
        Some(Ending::Error) => {
            let (error_type, message) = match &turn.error {
                Some(error) => (
                    error.error_type.clone(),
                    error.message.clone().unwrap_or_else(|| {
                        anthropic::default_message(&error.error_type).to_owned()
                    }),
                ),
                None => ("overloaded_error".to_owned(), "Overloaded".to_owned()),
            };
            let frame = format.error_frame(&error_type, &message);
            steps.push(Step::Data(Bytes::from(frame)));
        }
        Some(Ending::Disconnect) => steps.push(Step::Abort),
        Some(Ending::Stall) => steps.push(Step::Stall),
    }
    let delay = turn.chunk_delay_ms.or(turn.turn.delay_ms).unwrap_or(0);
    sse_response(streamed(steps, Duration::from_millis(delay)))
}

fn serve_http(http: &HttpResponse, format: WireFormat) -> Response<Body> {
    let status = StatusCode::from_u16(http.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let id = request_id();
    let default_body = format.default_error_body(http.status, &id);
    let (bytes, is_json) = match &http.body {
        None => match default_body {
            Some(body) => (body, true),
            None => (String::new(), false),
        },
        Some(Value::String(raw)) => (
            raw.clone(),
            serde_json::from_str::<serde::de::IgnoredAny>(raw).is_ok(),
        ),
        Some(value) => (value.to_string(), true),
    };
    let mut response = Response::new(full(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static(if is_json {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        }),
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(format.request_id_header(), value);
    }
    for (name, value) in &http.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    response
}

fn serve_sse(sse: &SseResponse) -> Response<Body> {
    let bytes = Bytes::from(sse.sse.clone());
    let mut steps = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let size = sse
            .chunk_size
            .unwrap_or_else(|| fastrand::usize(1..=64))
            .max(1);
        let end = (start + size).min(bytes.len());
        steps.push(Step::Data(bytes.slice(start..end)));
        start = end;
    }
    let delay = Duration::from_millis(sse.chunk_delay_ms.unwrap_or(0));
    sse_response(streamed(steps, delay))
}
