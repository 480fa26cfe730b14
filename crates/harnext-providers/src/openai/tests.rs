#![allow(clippy::unwrap_used, clippy::expect_used)]

use harnext_protocol::ErrorCode;
use reqwest::header::HeaderValue;
use serde_json::json;

use super::*;
use crate::ModelEvent;
use crate::ModelResponse;

pub(crate) use crate::testing::{digest, fixtures_dir, parse_with, text_of, thinking_of};

/// Asserts that `body` parses the same whole, byte by byte, and at random boundaries.
pub(crate) fn assert_chunking_invariant<P: WireParser>(
    name: &str,
    body: &str,
    new: impl Fn() -> P,
) -> (Vec<ModelEvent>, Result<ModelResponse, ProviderError>) {
    let (whole_events, whole) = parse_with(new(), body.as_bytes(), &[body.len().max(1)]);
    let want = digest(&whole_events, &whole);
    let mut rng = fastrand::Rng::with_seed(11);
    for round in 0..24 {
        let sizes: Vec<usize> = if round < 4 {
            vec![round + 1]
        } else {
            (0..64).map(|_| rng.usize(1..=97)).collect()
        };
        let (events, resp) = parse_with(new(), body.as_bytes(), &sizes);
        assert_eq!(digest(&events, &resp), want, "{name}, round {round}");
    }
    (whole_events, whole)
}

#[test]
fn base_urls_follow_the_sdk_convention_and_a_bare_host_gets_v1() {
    let cases = [
        (None, "https://api.openai.com/v1/responses"),
        (
            Some("https://api.openai.com/v1"),
            "https://api.openai.com/v1/responses",
        ),
        (
            Some("https://api.openai.com/v1/"),
            "https://api.openai.com/v1/responses",
        ),
        (
            Some("https://api.openai.com"),
            "https://api.openai.com/v1/responses",
        ),
        (
            Some("http://127.0.0.1:4000"),
            "http://127.0.0.1:4000/v1/responses",
        ),
        (
            Some("http://localhost:11434/v1"),
            "http://localhost:11434/v1/responses",
        ),
        (
            Some("https://openrouter.ai/api/v1"),
            "https://openrouter.ai/api/v1/responses",
        ),
        (
            Some("https://generativelanguage.googleapis.com/v1beta/openai/"),
            "https://generativelanguage.googleapis.com/v1beta/openai/responses",
        ),
        (
            Some("https://x.openai.azure.com/openai/v1?api-version=preview"),
            "https://x.openai.azure.com/openai/v1/responses?api-version=preview",
        ),
    ];
    for (base, want) in cases {
        assert_eq!(endpoint_url(base, "responses"), want, "{base:?}");
    }
    assert_eq!(
        endpoint_url(Some("http://localhost:8000/v1"), "chat/completions"),
        "http://localhost:8000/v1/chat/completions"
    );
}

#[test]
fn only_openais_own_service_is_recognised_as_such() {
    assert!(is_openai_service(
        "https://api.openai.com/v1/chat/completions"
    ));
    assert!(is_openai_service(
        "https://me.openai.azure.com/openai/v1/chat/completions"
    ));
    assert!(!is_openai_service(
        "http://localhost:11434/v1/chat/completions"
    ));
    assert!(!is_openai_service(
        "https://openrouter.ai/api/v1/chat/completions"
    ));
    assert!(!is_openai_service("https://api.openai.com.evil.example/v1"));
}

#[test]
fn a_key_is_required_only_for_the_default_endpoint() {
    let mut s = HttpSettings::default();
    let e = api_key(&s, "openai").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Auth);
    assert!(e.to_string().contains("OPENAI_API_KEY"), "{e}");
    s.api_key = Some("  ".into());
    assert!(api_key(&s, "openai-chat").is_err(), "a blank key is no key");
    s.base_url = Some("http://localhost:11434/v1".into());
    assert_eq!(api_key(&s, "openai-chat").unwrap(), None);
    s.api_key = Some("sk-local".into());
    assert_eq!(api_key(&s, "openai").unwrap().as_deref(), Some("sk-local"));
}

#[test]
fn tool_ids_from_any_provider_become_valid_openai_ids_deterministically() {
    assert_eq!(
        wire_call_id("toolu_01A9HHF5Ezy3oBrKmSgfASm9"),
        "toolu_01A9HHF5Ezy3oBrKmSgfASm9"
    );
    assert_eq!(wire_call_id("call_abc"), "call_abc");
    assert_eq!(wire_call_id("c.1:x"), "c_1_x");
    let long = "x".repeat(100);
    let a = wire_call_id(&long);
    assert!(a.len() <= 64, "{a}");
    assert_eq!(a, wire_call_id(&long));
    assert_ne!(a, wire_call_id(&format!("{long}y")));
}

#[test]
fn tool_results_that_failed_say_so_in_their_output() {
    assert_eq!(tool_output("fine", ToolStatus::Ok), "fine");
    assert_eq!(tool_output("", ToolStatus::Ok), "(no output)");
    assert_eq!(tool_output("boom", ToolStatus::Error), "[error] boom");
    assert_eq!(
        tool_output("Refused: read-only", ToolStatus::Denied),
        "[denied] Refused: read-only"
    );
    assert_eq!(
        tool_output("", ToolStatus::Cancelled),
        "[cancelled] (no output)"
    );
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn http_error_bodies_of_openai_and_compatible_servers_are_classified() {
    let e = parse_http_error(
        "openai",
        429,
        &headers(&[("retry-after-ms", "1200")]),
        r#"{"error":{"message":"Rate limit reached for gpt-4o","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
    );
    assert_eq!(e.code(), ErrorCode::RateLimit);
    assert!(e.is_retryable());
    assert!(matches!(e, ProviderError::Http { retry_after: Some(d), .. } if d.as_millis() == 1200));
    assert!(e.to_string().contains("Rate limit reached"), "{e}");

    // No quota left: HTTP 429, but auth and never retried, even if the server says so.
    let e = parse_http_error(
        "openai",
        429,
        &headers(&[("x-should-retry", "true")]),
        r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
    );
    assert_eq!(e.code(), ErrorCode::Auth);
    assert!(!e.is_retryable());
    assert!(!e.to_public().retryable);
    assert_eq!(e.status(), Some(429));

    let e = parse_http_error(
        "openai-chat",
        400,
        &HeaderMap::new(),
        r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
    );
    assert_eq!(e.code(), ErrorCode::ContextOverflow);
    assert!(!e.is_retryable());

    let e = parse_http_error(
        "openai",
        401,
        &HeaderMap::new(),
        r#"{"error":{"message":"Incorrect API key provided: sk-proj-****abcd.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
    );
    assert_eq!(e.code(), ErrorCode::Auth);
    assert!(!e.is_retryable());

    let e = parse_http_error(
        "openai",
        503,
        &HeaderMap::new(),
        r#"{"error":{"message":"Selected model is at capacity.","type":"service_unavailable_error","param":null,"code":"server_is_overloaded"}}"#,
    );
    assert_eq!(e.code(), ErrorCode::Overloaded);
    assert!(e.is_retryable());

    // Compatible servers: vLLM's flat body, FastAPI's detail, a string error, plain text.
    let e = parse_http_error(
        "openai-chat",
        400,
        &HeaderMap::new(),
        r#"{"object":"error","message":"This model's maximum context length is 4096 tokens.","type":"BadRequestError","param":null,"code":400}"#,
    );
    assert_eq!(e.code(), ErrorCode::ContextOverflow);
    let e = parse_http_error(
        "openai-chat",
        404,
        &HeaderMap::new(),
        r#"{"detail":"Not Found"}"#,
    );
    assert_eq!(e.code(), ErrorCode::BadRequest);
    assert!(e.to_string().contains("Not Found"));
    let e = parse_http_error(
        "openai-chat",
        404,
        &HeaderMap::new(),
        r#"{"error":"model \"llama9\" not found, try pulling it first"}"#,
    );
    assert!(e.to_string().contains("try pulling it first"), "{e}");
    let e = parse_http_error("openai-chat", 502, &HeaderMap::new(), "Bad Gateway");
    assert_eq!(e.code(), ErrorCode::Server);
    assert!(e.is_retryable());
    assert!(e.to_string().contains("Bad Gateway"));
    let e = parse_http_error(
        "openai-chat",
        500,
        &headers(&[("x-should-retry", "false")]),
        "",
    );
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("HTTP 500 with no body"));
}

#[test]
fn stream_errors_nested_flat_and_numeric_are_classified() {
    let nested = json!({"type":"error","sequence_number":2,"error":{"type":"insufficient_quota","code":"insufficient_quota","message":"You exceeded your current quota","param":null}});
    let e = stream_error("openai", &nested);
    assert_eq!(e.code(), ErrorCode::Auth);
    assert!(!e.is_retryable());
    assert!(
        e.to_string().contains("insufficient_quota") && e.to_string().contains("exceeded"),
        "{e}"
    );

    let flat = json!({"type":"error","code":"ERR_SOMETHING","message":"Something went wrong","param":null,"sequence_number":1});
    let e = stream_error("openai", &flat);
    assert_eq!(e.code(), ErrorCode::Server);
    assert!(
        e.to_string().contains("ERR_SOMETHING") && e.to_string().contains("Something went wrong"),
        "{e}"
    );

    let overloaded = json!({"error":{"message":"Overloaded","type":"server_is_overloaded","code":"server_is_overloaded"}});
    assert_eq!(
        stream_error("openai-chat", &overloaded).code(),
        ErrorCode::Overloaded
    );

    // OpenRouter: a numeric code is an HTTP status.
    let openrouter = json!({"id":"gen-1","object":"chat.completion.chunk","error":{"code":429,"message":"Provider rate limited"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]});
    let e = stream_error("openai-chat", &openrouter);
    assert_eq!(e.code(), ErrorCode::RateLimit);
    assert!(e.is_retryable());
    let e = stream_error(
        "openai-chat",
        &json!({"error":{"code":502,"message":"upstream died"}}),
    );
    assert_eq!(e.code(), ErrorCode::Server);

    let bare = json!({"error":"something broke"});
    assert!(stream_error("openai-chat", &bare)
        .to_string()
        .contains("something broke"));
}

#[test]
fn reasoning_effort_follows_the_budget() {
    assert_eq!(reasoning_effort(1024), "low");
    assert_eq!(reasoning_effort(4096), "medium");
    assert_eq!(reasoning_effort(8192), "medium");
    assert_eq!(reasoning_effort(32000), "high");
}
