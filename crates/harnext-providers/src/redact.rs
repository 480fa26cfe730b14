//! Keeping credentials out of what a provider yields. The [`Redactor`] itself (and
//! [`redact_url`]) live in `harnext_protocol::redact`; this module knows a provider's
//! settings and its stream:
//!
//! - [`redactor_for`] gives the secrets of [`HttpSettings`]: the API key, credential
//!   header values, the base URL's user info (and the `Basic` header it makes) and
//!   sensitive query values.
//! - [`redact_model_stream`] wraps a [`ModelStream`] so that no delta, response,
//!   retry reason or error carries a secret; [`redact_response`] does it for one
//!   response.

use futures::StreamExt;
pub use harnext_protocol::redact::redact_url;
pub use harnext_protocol::redact::sensitive_name;
pub use harnext_protocol::redact::url_secrets;
pub use harnext_protocol::redact::Redactor;
pub use harnext_protocol::redact::StreamRedactor;
pub use harnext_protocol::redact::MIN_SECRET_LEN;
pub use harnext_protocol::redact::REDACTED;
use harnext_protocol::ContentBlock;

use crate::HttpSettings;
use crate::ModelEvent;
use crate::ModelResponse;
use crate::ModelStream;

/// The secrets of a provider's settings: the API key; the values of headers whose
/// names say they carry a credential (`authorization`, `*key*`, `*token*`,
/// `*secret*`, `cookie`, ...), and the token after a scheme (`Bearer <token>`); the
/// base URL's user and password (as written and percent-decoded), the `Basic` header
/// they make, and the values of its query parameters whose names say they carry a
/// credential (`key`, `api_key`, `token`, `sig`, ...).
pub fn redactor_for(settings: &HttpSettings) -> Redactor {
    let mut out: Vec<String> = settings.api_key.iter().cloned().collect();
    for (name, value) in &settings.headers {
        if sensitive_name(name) {
            out.push(value.clone());
            // `Bearer <token>`: the token alone may be echoed too.
            if let Some((_, token)) = value.split_once(' ') {
                out.push(token.trim().to_owned());
            }
        }
    }
    if let Some(base) = &settings.base_url {
        out.extend(url_secrets(base));
    }
    Redactor::new(out)
}

/// Redacts a model response: its text, reasoning text (signed reasoning included: a
/// secret in it is worse than a signature the provider may refuse), tool inputs,
/// notes and stop details. Opaque and encrypted reasoning data is left alone.
pub fn redact_response(redactor: &Redactor, response: &mut ModelResponse) {
    if redactor.is_empty() {
        return;
    }
    for block in &mut response.content {
        match block {
            ContentBlock::Text { text } => redactor.redact_string(text),
            ContentBlock::Thinking { thinking, .. } => redactor.redact_string(thinking),
            ContentBlock::OpaqueReasoning { text, .. } => redactor.redact_string(text),
            // Encrypted fields never hold a secret verbatim; readable ones (titles,
            // cited text) might.
            ContentBlock::ProviderBlock { text, data, .. } => {
                redactor.redact_string(text);
                redactor.redact_json(data);
            }
            ContentBlock::ToolUse { input, .. } => redactor.redact_json(input),
            ContentBlock::ToolResult { content, .. } => redactor.redact_string(content),
            ContentBlock::RedactedThinking { .. } | ContentBlock::Image { .. } => {}
        }
    }
    for note in response.invalid_tool_inputs.values_mut() {
        redactor.redact_string(note);
    }
    if let Some(details) = response.stop_reason.details_mut() {
        details.redact(redactor);
    }
}

/// Wraps a provider's stream so that nothing it yields carries a secret: text and
/// reasoning deltas (a secret split across deltas included: the end of a delta that
/// may begin a secret is held back until the next piece shows it does not), retry
/// reasons, the final response and errors.
pub fn redact_model_stream(redactor: &Redactor, stream: ModelStream) -> ModelStream {
    if redactor.is_empty() {
        return stream;
    }
    let redactor = redactor.clone();
    let mut text = redactor.stream();
    let mut thinking = redactor.stream();
    stream
        .flat_map(move |item| {
            let mut out: Vec<Result<ModelEvent, crate::ProviderError>> = Vec::new();
            let flush =
                |out: &mut Vec<_>, text: &mut StreamRedactor, thinking: &mut StreamRedactor| {
                    let rest = text.finish();
                    if !rest.is_empty() {
                        out.push(Ok(ModelEvent::TextDelta(rest)));
                    }
                    let rest = thinking.finish();
                    if !rest.is_empty() {
                        out.push(Ok(ModelEvent::ThinkingDelta(rest)));
                    }
                };
            match item {
                Ok(ModelEvent::TextDelta(t)) => {
                    let rest = thinking.finish();
                    if !rest.is_empty() {
                        out.push(Ok(ModelEvent::ThinkingDelta(rest)));
                    }
                    let piece = text.push(&t);
                    if !piece.is_empty() {
                        out.push(Ok(ModelEvent::TextDelta(piece)));
                    }
                }
                Ok(ModelEvent::ThinkingDelta(t)) => {
                    let rest = text.finish();
                    if !rest.is_empty() {
                        out.push(Ok(ModelEvent::TextDelta(rest)));
                    }
                    let piece = thinking.push(&t);
                    if !piece.is_empty() {
                        out.push(Ok(ModelEvent::ThinkingDelta(piece)));
                    }
                }
                other => {
                    flush(&mut out, &mut text, &mut thinking);
                    out.push(match other {
                        Ok(ModelEvent::Retry {
                            attempt,
                            delay_ms,
                            reason,
                        }) => Ok(ModelEvent::Retry {
                            attempt,
                            delay_ms,
                            reason: redactor.redact(&reason).into_owned(),
                        }),
                        Ok(ModelEvent::WebSearch {
                            id,
                            status,
                            query,
                            mut results,
                            error,
                        }) => {
                            let r = |s: Option<String>| s.map(|s| redactor.redact(&s).into_owned());
                            for page in &mut results {
                                page.url = redactor.redact(&page.url).into_owned();
                                page.title = r(page.title.take());
                            }
                            Ok(ModelEvent::WebSearch {
                                id,
                                status,
                                query: r(query),
                                results,
                                error,
                            })
                        }
                        Ok(ModelEvent::Citation {
                            url,
                            title,
                            cited_text,
                        }) => {
                            let r = |s: Option<String>| s.map(|s| redactor.redact(&s).into_owned());
                            Ok(ModelEvent::Citation {
                                url: redactor.redact(&url).into_owned(),
                                title: r(title),
                                cited_text: r(cited_text),
                            })
                        }
                        Ok(ModelEvent::Completed(mut response)) => {
                            redact_response(&redactor, &mut response);
                            Ok(ModelEvent::Completed(response))
                        }
                        Ok(e) => Ok(e),
                        Err(e) => Err(e.redact_with(&redactor)),
                    });
                }
            }
            futures::stream::iter(out)
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use base64::Engine;
    use serde_json::json;

    fn settings(base: Option<&str>, key: Option<&str>, headers: &[(&str, &str)]) -> HttpSettings {
        HttpSettings {
            base_url: base.map(str::to_owned),
            api_key: key.map(str::to_owned),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..HttpSettings::default()
        }
    }

    #[test]
    fn settings_secrets_cover_the_key_credential_headers_and_the_base_urls_credentials() {
        let r = redactor_for(&settings(
            Some("https://alice:p%40ss-word-1@proxy.example/v1?key=AIzaSyQueryKey123&api-version=2024-10-01"),
            Some("sk-ant-api-key-1234"),
            &[
                ("Authorization", "Bearer tok-abcdefgh-123"),
                ("x-custom-token", "custom-token-value"),
                ("anthropic-beta", "prompt-caching-2024-07-31"),
            ],
        ));
        let s = r.secrets();
        for want in [
            "sk-ant-api-key-1234",
            "Bearer tok-abcdefgh-123",
            "tok-abcdefgh-123",
            "custom-token-value",
            "p%40ss-word-1",
            "p@ss-word-1",
            "AIzaSyQueryKey123",
        ] {
            assert!(s.iter().any(|x| x == want), "{want} missing from {s:?}");
        }
        assert!(!s.iter().any(|x| x.contains("prompt-caching")), "{s:?}");
        assert!(!s.iter().any(|x| x.contains("2024-10-01")), "{s:?}");
        // The `Basic` header reqwest sends for the URL's user info.
        let basic = base64::engine::general_purpose::STANDARD.encode("alice:p@ss-word-1");
        let echoed = format!("the proxy saw Authorization: Basic {basic}");
        assert_eq!(r.redact(&echoed), "the proxy saw Authorization: <redacted>");
        // A short user and password: the whole header value is still long enough.
        let r = redactor_for(&settings(Some("http://u:p@h"), None, &[]));
        let basic = base64::engine::general_purpose::STANDARD.encode("u:p");
        assert_eq!(r.redact(&format!("Basic {basic}")), "<redacted>");
    }

    #[tokio::test]
    async fn a_wrapped_model_stream_carries_no_secret_in_deltas_the_response_or_errors() {
        use crate::ModelStopReason;
        use harnext_protocol::Usage;
        let r = Redactor::new(["sk-secret-123456"]);
        let response = ModelResponse {
            content: vec![
                ContentBlock::Text {
                    text: "the key is sk-secret-123456".into(),
                },
                ContentBlock::ToolUse {
                    id: "c".into(),
                    name: "bash".into(),
                    input: json!({"command": "echo sk-secret-123456"}),
                },
            ],
            stop_reason: ModelStopReason::EndTurn,
            usage: Usage::default(),
            invalid_tool_inputs: Default::default(),
        };
        let events = vec![
            Ok(ModelEvent::TextDelta("the key is sk-sec".into())),
            Ok(ModelEvent::TextDelta("ret-123456".into())),
            Ok(ModelEvent::Completed(response)),
            Err(crate::ProviderError::Network {
                provider: "x",
                message: "echo sk-secret-123456".into(),
            }),
        ];
        let wrapped = redact_model_stream(&r, futures::stream::iter(events).boxed());
        let out: Vec<_> = wrapped.collect().await;
        let text: String = out
            .iter()
            .filter_map(|e| match e {
                Ok(ModelEvent::TextDelta(t)) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "the key is <redacted>");
        let all = format!("{out:?}");
        assert!(!all.contains("sk-secret"), "{all}");
        assert!(all.contains("echo <redacted>"), "{all}");
    }
}
