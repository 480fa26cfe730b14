//! A scriptable mock model server on 127.0.0.1 speaking three wire formats: the
//! Anthropic Messages API, the OpenAI Responses API and OpenAI Chat Completions.
//!
//! The same scripted turns render as whichever format the request's path asks for:
//! Anthropic's SSE (named events, padded JSON, pings, `signature_delta`,
//! `input_json_delta` fragments, cumulative `message_delta` usage), the Responses stream
//! (`response.*` events with `sequence_number`, reasoning items with
//! `encrypted_content`, function-call argument deltas, `response.completed`) or Chat
//! chunks (`reasoning_content`, tool-call fragments by `index`, the `include_usage`
//! chunk, `data: [DONE]`). It can misbehave on cue in each format: HTTP errors with
//! retry headers and the provider's error body, mid-stream errors, stalls and abrupt
//! disconnects.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use harnext_mock::{MockResponse, MockServer};
//! let server = MockServer::start().await?;
//! server.push(MockResponse::http(529));
//! server.push(MockResponse::text("Hello there"));
//! // point the client at server.url() …
//! let seen = server.requests();
//! # drop(seen);
//! # Ok(())
//! # }
//! ```
//!
//! Routes:
//! - `POST` to any path ending in `/messages` (Anthropic), `/responses` (OpenAI
//!   Responses) or `/chat/completions` (OpenAI Chat), so `/v1/messages` and also paths
//!   under a base-URL prefix: answered by the next scripted [`MockResponse`] in that
//!   path's format, or HTTP 500 with `x-should-retry: false` when none is left. The
//!   three routes share one FIFO.
//! - `POST /_mock/responses` (`[MockResponse, …]` or a single one) appends to the FIFO;
//!   `GET /_mock/requests` lists the recorded requests; `POST /_mock/reset` clears both.
//!   `POST /_mock/options` with `{"recordBodies": false}` records requests without their
//!   bodies (`body` is `null`), for long benchmark runs; a reset turns it back on.
//! - Anything else: 404 with an Anthropic-style error body.
//!
//! Error bodies follow the route: `{"type":"error","error":{"type","message"}}` for
//! Anthropic, `{"error":{"message","type","param","code"}}` for both OpenAI routes.
//!
//! Every request except the `/_mock/` control requests is recorded before it is answered.
//!
//! The parts: `server` (connections, routes, recorded requests, misbehaving bodies),
//! `wire` (the three formats), `anthropic` and `openai` (each format's streams and
//! errors), `text` (hand-written JSON and SSE shared by them), `response` (what a test
//! scripts).

mod anthropic;
mod openai;
mod response;
mod server;
mod strip;
mod text;
mod wire;

pub use anthropic::render_turn_sse;
pub use response::HttpResponse;
pub use response::InvalidMockResponse;
pub use response::MockError;
pub use response::MockResponse;
pub use response::SseResponse;
pub use response::TurnResponse;
pub use server::MockServer;
pub use server::RecordedRequest;
pub use wire::render_turn;
pub use wire::WireFormat;
