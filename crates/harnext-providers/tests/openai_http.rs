#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The OpenAI providers over real HTTP against the mock server on 127.0.0.1: endpoint
//! paths, credentials, retries through the shared driver, error classification and
//! redaction.

use std::time::Duration;

use futures::StreamExt;
use harnext_mock::HttpResponse;
use harnext_mock::MockError;
use harnext_mock::MockResponse;
use harnext_mock::MockServer;
use harnext_mock::TurnResponse;
use harnext_protocol::ContentBlock;
use harnext_protocol::ErrorCode;
use harnext_protocol::Message;
use harnext_protocol::ScriptedToolCall;
use harnext_protocol::ScriptedTurn;
use harnext_protocol::ScriptedUsage;
use harnext_protocol::Usage;
use harnext_providers::openai::chat::ChatProvider;
use harnext_providers::openai::responses::ResponsesProvider;
use harnext_providers::HttpSettings;
use harnext_providers::ModelEvent;
use harnext_providers::ModelProvider;
use harnext_providers::ModelRequest;
use harnext_providers::ModelResponse;
use harnext_providers::ProviderError;
use serde_json::json;

fn settings(base: &str, key: Option<&str>) -> HttpSettings {
    HttpSettings {
        base_url: Some(base.to_owned()),
        api_key: key.map(str::to_owned),
        headers: Vec::new(),
        max_retries: 2,
        idle_timeout: Some(Duration::from_secs(5)),
        stream_timeout: None,
    }
}

fn request() -> ModelRequest {
    ModelRequest {
        model: "gpt-test".into(),
        system: "sys".into(),
        messages: vec![Message::user_text("hi")].into(),
        ..ModelRequest::default()
    }
}

async fn collect(p: &dyn ModelProvider) -> Vec<Result<ModelEvent, ProviderError>> {
    tokio::time::timeout(
        Duration::from_secs(20),
        p.stream(request()).collect::<Vec<_>>(),
    )
    .await
    .expect("the stream ended")
}

fn completed(events: &[Result<ModelEvent, ProviderError>]) -> &ModelResponse {
    match events.last() {
        Some(Ok(ModelEvent::Completed(r))) => r,
        other => panic!("not completed: {other:?}"),
    }
}

fn error(events: &[Result<ModelEvent, ProviderError>]) -> &ProviderError {
    match events.last() {
        Some(Err(e)) => e,
        other => panic!("no error: {other:?}"),
    }
}

fn providers(base: &str, key: Option<&str>) -> Vec<(&'static str, Box<dyn ModelProvider>)> {
    let client = reqwest::Client::new();
    vec![
        (
            "/v1/responses",
            Box::new(ResponsesProvider::new(client.clone(), settings(base, key))),
        ),
        (
            "/v1/chat/completions",
            Box::new(ChatProvider::new(client, settings(base, key))),
        ),
    ]
}

#[tokio::test]
async fn both_providers_stream_a_tool_turn_with_bearer_auth_to_their_paths() {
    let server = MockServer::start().await.unwrap();
    for (path, p) in providers(&server.url(), Some("sk-test-key-123")) {
        server.reset();
        server.push(MockResponse::turn(ScriptedTurn {
            thinking: Some("hmm".into()),
            text: Some("Listing.".into()),
            tool_calls: vec![ScriptedToolCall {
                id: Some("call_1".into()),
                name: "bash".into(),
                args: json!({"command": "ls"}),
            }],
            usage: Some(ScriptedUsage {
                input_tokens: 10,
                output_tokens: 5,
                cache_read_tokens: 4,
                cache_write_tokens: 0,
                reasoning_tokens: 2,
            }),
            delay_ms: None,
        }));
        let events = collect(p.as_ref()).await;
        let resp = completed(&events);
        assert_eq!(
            resp.usage,
            Usage {
                input_tokens: 10,
                output_tokens: 5,
                cache_read_tokens: 4,
                cache_write_tokens: 0,
                reasoning_tokens: 2,
                unreported: false,
                web_search_requests: 0,
            },
            "{path}"
        );
        assert!(resp.content.contains(&ContentBlock::ToolUse {
            id: "call_1".into(),
            name: "bash".into(),
            input: json!({"command": "ls"}),
        }));
        let req = &server.requests()[0];
        assert_eq!(req.path, path);
        assert_eq!(req.header("authorization"), Some("Bearer sk-test-key-123"));
        assert_eq!(req.header("accept"), Some("text/event-stream"));
        assert_eq!(req.body["stream"], json!(true));
    }
}

#[tokio::test]
async fn a_local_server_needs_no_key_and_gets_no_authorization_header() {
    let server = MockServer::start().await.unwrap();
    for (path, p) in providers(&format!("{}/v1", server.url()), None) {
        server.reset();
        server.push(MockResponse::text("local"));
        let events = collect(p.as_ref()).await;
        assert_eq!(
            completed(&events).content,
            vec![ContentBlock::Text {
                text: "local".into()
            }]
        );
        let req = &server.requests()[0];
        assert_eq!(req.path, path);
        assert_eq!(req.header("authorization"), None, "{path}");
    }
}

#[tokio::test]
async fn without_a_base_url_a_missing_key_is_an_auth_error_before_any_request() {
    let client = reqwest::Client::new();
    let no_base = HttpSettings::default();
    for p in [
        Box::new(ResponsesProvider::new(client.clone(), no_base.clone())) as Box<dyn ModelProvider>,
        Box::new(ChatProvider::new(client.clone(), no_base.clone())),
    ] {
        let events = collect(p.as_ref()).await;
        assert_eq!(events.len(), 1);
        let e = error(&events);
        assert!(
            matches!(
                e,
                ProviderError::MissingApiKey {
                    env_var: "OPENAI_API_KEY",
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.code(), ErrorCode::Auth);
    }
}

#[tokio::test]
async fn rate_limits_are_retried_as_for_anthropic_honouring_retry_after() {
    let server = MockServer::start().await.unwrap();
    for (_, p) in providers(&server.url(), Some("sk-test-key-123")) {
        server.reset();
        server.push(
            HttpResponse {
                status: 429,
                ..HttpResponse::default()
            }
            .with_header("retry-after-ms", "30"),
        );
        server.push(MockResponse::http(500));
        server.push(MockResponse::text("third time"));
        let events = collect(p.as_ref()).await;
        let retries: Vec<(u32, u64)> = events
            .iter()
            .filter_map(|e| match e {
                Ok(ModelEvent::Retry {
                    attempt, delay_ms, ..
                }) => Some((*attempt, *delay_ms)),
                _ => None,
            })
            .collect();
        assert_eq!(retries.len(), 2, "{events:?}");
        assert_eq!(retries[0], (1, 30));
        assert!(retries[1].1 <= 1000, "backoff from 0.5 s: {retries:?}");
        assert_eq!(
            completed(&events).content,
            vec![ContentBlock::Text {
                text: "third time".into()
            }]
        );
        assert_eq!(server.requests().len(), 3);
    }
}

#[tokio::test]
async fn insufficient_quota_is_an_auth_error_and_is_not_retried() {
    let server = MockServer::start().await.unwrap();
    for (_, p) in providers(&server.url(), Some("sk-test-key-123")) {
        server.reset();
        server.push(HttpResponse {
            status: 429,
            body: Some(json!({"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                                         "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}})),
            ..HttpResponse::default()
        });
        server.push(MockResponse::text("never reached"));
        let events = collect(p.as_ref()).await;
        let e = error(&events);
        assert_eq!(e.code(), ErrorCode::Auth);
        assert_eq!(e.status(), Some(429));
        assert!(!e.to_public().retryable);
        assert!(e.to_string().contains("exceeded your current quota"));
        assert_eq!(server.requests().len(), 1, "not retried");
        assert!(!events
            .iter()
            .any(|e| matches!(e, Ok(ModelEvent::Retry { .. }))));
    }
}

#[tokio::test]
async fn a_mid_stream_error_is_retried_before_output_and_not_after() {
    let server = MockServer::start().await.unwrap();
    for (_, p) in providers(&server.url(), Some("sk-test-key-123")) {
        server.reset();
        // Before any text: the overloaded error is retried.
        server.push(TurnResponse {
            turn: ScriptedTurn {
                text: Some("x".into()),
                ..ScriptedTurn::default()
            },
            error: Some(MockError {
                error_type: "overloaded_error".into(),
                message: None,
            }),
            ..TurnResponse::default()
        });
        server.push(MockResponse::text("recovered"));
        let events = collect(p.as_ref()).await;
        assert!(events
            .iter()
            .any(|e| matches!(e, Ok(ModelEvent::Retry { .. }))));
        assert_eq!(
            completed(&events).content,
            vec![ContentBlock::Text {
                text: "recovered".into()
            }]
        );

        // After text reached the caller: the run gets the error, marked retryable.
        server.reset();
        server.push(TurnResponse {
            turn: ScriptedTurn {
                text: Some("one two three four five".into()),
                ..ScriptedTurn::default()
            },
            error_after: Some(5),
            error: Some(MockError {
                error_type: "overloaded_error".into(),
                message: None,
            }),
            ..TurnResponse::default()
        });
        server.push(MockResponse::text("not used"));
        let events = collect(p.as_ref()).await;
        assert!(events
            .iter()
            .any(|e| matches!(e, Ok(ModelEvent::TextDelta(_)))));
        let e = error(&events);
        assert_eq!(e.code(), ErrorCode::Overloaded);
        assert!(e.to_public().retryable);
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn a_dropped_connection_after_text_ends_with_a_network_error() {
    let server = MockServer::start().await.unwrap();
    for (_, p) in providers(&server.url(), Some("sk-test-key-123")) {
        server.reset();
        server.push(TurnResponse {
            turn: ScriptedTurn {
                text: Some("one two three four five six".into()),
                ..ScriptedTurn::default()
            },
            disconnect_after: Some(5),
            ..TurnResponse::default()
        });
        let events = collect(p.as_ref()).await;
        assert!(events
            .iter()
            .any(|e| matches!(e, Ok(ModelEvent::TextDelta(_)))));
        assert_eq!(error(&events).code(), ErrorCode::Network);
    }
}

#[tokio::test]
async fn keys_echoed_by_a_server_never_reach_an_error() {
    let server = MockServer::start().await.unwrap();
    let key = "sk-very-secret-key-0123456789";
    for (_, p) in providers(&server.url(), Some(key)) {
        server.reset();
        server.push(HttpResponse {
            status: 401,
            body: Some(json!({"error": {"message": format!("Invalid key {key} for this proxy"), "type": "invalid_request_error", "code": "invalid_api_key"}})),
            ..HttpResponse::default()
        });
        let events = collect(p.as_ref()).await;
        let e = error(&events);
        assert_eq!(e.code(), ErrorCode::Auth);
        let shown = format!("{e} {e:?} {:?}", e.to_public());
        assert!(!shown.contains(key), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}

#[tokio::test]
async fn a_users_own_authorization_header_replaces_the_bearer_key() {
    let server = MockServer::start().await.unwrap();
    let client = reqwest::Client::new();
    let mut s = settings(&server.url(), Some("sk-ignored-key-000"));
    s.headers = vec![
        ("Authorization".into(), "Bearer proxy-token-xyz".into()),
        ("OpenAI-Project".into(), "proj_1".into()),
    ];
    server.push(MockResponse::text("ok"));
    let p = ChatProvider::new(client, s);
    let events = collect(&p).await;
    completed(&events);
    let req = &server.requests()[0];
    let auth: Vec<&str> = req
        .headers
        .iter()
        .filter(|(n, _)| n == "authorization")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(auth, ["Bearer proxy-token-xyz"]);
    assert_eq!(req.header("openai-project"), Some("proj_1"));
}
