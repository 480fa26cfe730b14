//! The providers' server-side web search through the run loop, against the mock
//! server speaking Anthropic's and OpenAI's wire formats: the tool in every request,
//! the `web_search` and `citation` events, a `pause_turn` continued, the blocks sent
//! back exactly (also after a resume from the session store), searches counted and
//! priced; the option checked against the provider, per agent and per run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use harnext_core::protocol::AgentEvent;
use harnext_core::protocol::RunResult;
use harnext_core::protocol::StopReason;
use harnext_core::protocol::WebSearchStatus;
use harnext_core::Agent;
use harnext_core::AgentConfig;
use harnext_core::EventSink;
use harnext_core::RunRequest;
use harnext_mock::MockResponse;
use harnext_mock::MockServer;
use serde_json::json;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

fn sse(events: &[Value]) -> MockResponse {
    let body: String = events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect();
    MockResponse::sse(body)
}

fn search_block() -> Value {
    json!({"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {"query": "harnext release"}})
}

fn result_block() -> Value {
    json!({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01", "content": [
        {"type": "web_search_result", "url": "https://example.com/harnext", "title": "harnext 1.0",
         "encrypted_content": "EqgfCioIARgBIiQ3YTAw-opaque", "page_age": "1 day ago"}]})
}

fn cited_block() -> Value {
    json!({"type": "text", "text": "harnext 1.0 is out.", "citations": [
        {"type": "web_search_result_location", "url": "https://example.com/harnext", "title": "harnext 1.0",
         "encrypted_index": "Eo8BCioIAhgB-opaque", "cited_text": "We released harnext 1.0 today."}]})
}

/// A turn that searches and pauses (`pause_turn`), one search counted.
fn paused_turn() -> MockResponse {
    sse(&[
        json!({"type": "message_start", "message": {"usage": {"input_tokens": 1000, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {}}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"query\":"}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": " \"harnext release\"}"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": result_block()}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "message_delta", "delta": {"stop_reason": "pause_turn"},
               "usage": {"output_tokens": 20, "server_tool_use": {"web_search_requests": 1}}}),
        json!({"type": "message_stop"}),
    ])
}

/// The continuation: text citing the result.
fn cited_turn() -> MockResponse {
    sse(&[
        json!({"type": "message_start", "message": {"usage": {"input_tokens": 1200, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta", "citation": cited_block()["citations"][0]}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "harnext 1.0 is out."}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 30}}),
        json!({"type": "message_stop"}),
    ])
}

fn text_turn(text: &str) -> MockResponse {
    sse(&[
        json!({"type": "message_start", "message": {"usage": {"input_tokens": 10, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": text}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}}),
        json!({"type": "message_stop"}),
    ])
}

fn config(model: &str, mock: &MockServer, dir: &std::path::Path) -> AgentConfig {
    let mut c = AgentConfig::new(model);
    c.base_url = Some(mock.url());
    c.api_key = Some("sk-test-web-search".into());
    c.cwd = Some(dir.to_path_buf());
    c.session_dir = Some(dir.join(".sessions"));
    c
}

async fn run(agent: &Agent, request: RunRequest) -> (RunResult, Vec<AgentEvent>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let result = agent
        .start(request)
        .unwrap()
        .execute(CancellationToken::new(), EventSink::channel(tx))
        .await;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (result, events)
}

#[tokio::test]
async fn a_search_pauses_continues_cites_and_goes_back_exactly_after_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    let mut c = config("anthropic/claude-sonnet-4-5", &mock, dir.path());
    c.web_search = harnext_core::web_search_option(&json!({"maxUses": 2}), true).unwrap();
    let agent = Agent::new(c).unwrap();
    mock.push(paused_turn());
    mock.push(cited_turn());
    let (result, events) = run(&agent, RunRequest::text("What's new with harnext?")).await;
    assert_eq!(result.stop_reason, StopReason::EndTurn, "{result:?}");
    assert!(result.success);
    assert_eq!(result.text, "harnext 1.0 is out.");

    // Events: the search (its query, then its results), then the citation.
    let seen: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::WebSearch {
                id,
                status,
                query,
                results,
                ..
            } => Some(format!(
                "search {id} {} {} {}",
                status.as_str(),
                query.clone().unwrap_or_default(),
                results
                    .iter()
                    .map(|r| format!(
                        "{}|{}|{}",
                        r.url,
                        r.title.clone().unwrap(),
                        r.page_age.clone().unwrap()
                    ))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
            AgentEvent::Citation {
                url,
                title,
                cited_text,
            } => Some(format!(
                "cite {url} {} {}",
                title.clone().unwrap(),
                cited_text.clone().unwrap()
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            "search srvtoolu_01 searching harnext release ",
            "search srvtoolu_01 completed harnext release https://example.com/harnext|harnext 1.0|1 day ago",
            "cite https://example.com/harnext harnext 1.0 We released harnext 1.0 today.",
        ]
    );
    assert!(events.iter().any(|e| matches!(
        e,
        AgentEvent::WebSearch {
            status: WebSearchStatus::Completed,
            ..
        }
    )));

    // Usage and cost: one search, $0.01 on top of the tokens.
    assert_eq!(result.usage.web_search_requests, 1);
    let tokens = (2200.0 * 3.0 + 50.0 * 15.0) / 1e6;
    let cost = result.cost_usd.unwrap();
    assert!((cost - (tokens + 0.01)).abs() < 1e-9, "{cost}");

    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    let tool = json!({"type": "web_search_20250305", "name": "web_search", "max_uses": 2});
    for r in &requests {
        assert_eq!(r.body["tools"].as_array().unwrap().last().unwrap(), &tool);
    }
    // The paused turn is continued: its blocks, exactly, as the last (assistant) message.
    let messages = requests[1].body["messages"].as_array().unwrap();
    let last = messages.last().unwrap();
    assert_eq!(last["role"], "assistant");
    assert_eq!(last["content"], json!([search_block(), result_block()]));

    // A resumed session sends the whole turn back from the store, byte for byte.
    mock.push(text_turn("It came out yesterday."));
    let mut again = RunRequest::text("When?");
    again.session_id = Some(result.session_id.clone());
    let (resumed, _) = run(&agent, again).await;
    assert!(resumed.success, "{resumed:?}");
    let requests = mock.requests();
    let body = &requests[2].body;
    let assistant = &body["messages"][1];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(
        serde_json::to_string(&assistant["content"]).unwrap(),
        serde_json::to_string(&json!([search_block(), result_block(), cited_block()])).unwrap()
    );
    assert_eq!(body["messages"][2]["content"][0]["text"], "When?");
}

#[tokio::test]
async fn a_run_can_turn_the_search_off_or_on_and_a_provider_without_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start().await.unwrap();
    // On for the agent, off for one run: no tool in that run's request.
    let mut c = config("anthropic/claude-sonnet-4-5", &mock, dir.path());
    c.web_search = harnext_core::web_search_option(&json!(true), true).unwrap();
    let agent = Agent::new(c).unwrap();
    mock.push(text_turn("no search"));
    let mut request = RunRequest::text("hi");
    request.web_search = Some(None);
    let (result, _) = run(&agent, request).await;
    assert!(result.success);
    let tools = mock.requests()[0].body["tools"].clone();
    assert!(
        !tools
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["type"] == "web_search_20250305"),
        "{tools}"
    );

    // Off for the agent, on for one run (and checked against the provider).
    let agent = Agent::new(config("anthropic/claude-sonnet-4-5", &mock, dir.path())).unwrap();
    mock.reset();
    mock.push(text_turn("searched"));
    let mut request = RunRequest::text("hi");
    request.web_search = Some(Some(harnext_providers::WebSearch {
        allowed_domains: vec!["docs.rs".into()],
        ..Default::default()
    }));
    let (result, _) = run(&agent, request).await;
    assert!(result.success);
    let tools = mock.requests()[0].body["tools"].clone();
    assert_eq!(
        tools.as_array().unwrap().last().unwrap(),
        &json!({"type": "web_search_20250305", "name": "web_search", "allowed_domains": ["docs.rs"]})
    );
    let mut request = RunRequest::text("hi");
    request.web_search = Some(Some(harnext_providers::WebSearch {
        allowed_domains: vec!["a.com".into()],
        blocked_domains: vec!["b.com".into()],
        ..Default::default()
    }));
    let e = agent.start(request).err().unwrap().to_string();
    assert!(
        e.starts_with("invalid option `web_search`: allowed domains and blocked domains"),
        "{e}"
    );

    // Providers without a server-side search refuse it when the agent is built.
    for model in ["openai-chat/llama3.1", "scripted"] {
        let mut c = config(model, &mock, dir.path());
        c.script = Some(Vec::new());
        c.web_search = Some(harnext_providers::WebSearch::default());
        let e = Agent::new(c).err().unwrap().to_string();
        assert!(e.starts_with("invalid option `web_search`"), "{e}");
        let name = model.split('/').next().unwrap();
        assert!(e.contains(&format!("the `{name}` provider")), "{e}");
    }
    // OpenAI's hosted tool has no `max_uses`.
    let mut c = config("openai/gpt-5", &mock, dir.path());
    c.web_search = harnext_core::web_search_option(&json!({"maxUses": 1}), true).unwrap();
    let e = Agent::new(c).err().unwrap().to_string();
    assert!(e.contains("maxUses / max_uses"), "{e}");
}

#[test]
fn the_option_is_read_strictly_with_the_faces_spelling() {
    let ok = harnext_core::web_search_option(
        &json!({"max_uses": 3, "allowed_domains": ["docs.rs", "DOCS.rs"], "user_location": {"city": "Lyon", "country": "FR", "timezone": "Europe/Paris"}}),
        false,
    )
    .unwrap()
    .unwrap();
    assert_eq!(ok.max_uses, Some(3));
    assert_eq!(ok.allowed_domains, vec!["docs.rs".to_owned()]);
    assert_eq!(ok.user_location.unwrap().country.as_deref(), Some("FR"));
    assert_eq!(
        harnext_core::web_search_option(&json!(false), true).unwrap(),
        None
    );
    for (value, camel, needle) in [
        (
            json!({"maxUse": 3}),
            true,
            "unknown field \"maxUse\": did you mean `maxUses`?",
        ),
        (
            json!({"max_uses": 3}),
            true,
            "unknown field \"max_uses\": did you mean `maxUses`?",
        ),
        (
            json!({"allowedDomain": []}),
            true,
            "did you mean `allowedDomains`?",
        ),
        (
            json!({"blocked_domain": []}),
            false,
            "did you mean `blocked_domains`?",
        ),
        (
            json!({"maxUses": 0}),
            true,
            "maxUses: expected an integer >= 1, got 0",
        ),
        (
            json!({"maxUses": 1.5}),
            true,
            "maxUses: expected an integer >= 1",
        ),
        (
            json!({"allowedDomains": "docs.rs"}),
            true,
            "allowedDomains: expected a list of domain names",
        ),
        (
            json!({"allowedDomains": ["https://docs.rs"]}),
            true,
            "(no scheme)",
        ),
        (json!({"allowedDomains": [""]}), true, "(no scheme)"),
        (
            json!({"userLocation": {"citi": "x"}}),
            true,
            "userLocation: unknown field \"citi\": did you mean `city`?",
        ),
        (
            json!({"userLocation": {"country": "France"}}),
            true,
            "two-letter ISO 3166-1 country code",
        ),
        (
            json!({"userLocation": {"city": 3}}),
            true,
            "userLocation.city: expected a non-empty string",
        ),
        (
            json!({"userLocation": "Lyon"}),
            true,
            "userLocation: expected an object",
        ),
        (json!("yes"), true, "expected true, false or an object"),
        (
            json!(1),
            false,
            "expected True, False or an object { max_uses?",
        ),
    ] {
        let e = harnext_core::web_search_option(&value, camel)
            .err()
            .unwrap_or_else(|| panic!("{value} was accepted"))
            .to_string();
        assert!(e.starts_with("invalid option `web_search`: "), "{e}");
        assert!(e.contains(needle), "{value}: {e}");
    }
}
