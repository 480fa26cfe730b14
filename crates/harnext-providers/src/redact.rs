//! Keeping credentials out of text: the API key, credential header values and the
//! credentials of a base URL (`user:pass@`, a `?key=` query value).
//!
//! - [`Redactor`] replaces every known secret in a string, a JSON value, or a
//!   [`ModelStream`] (text and reasoning deltas are redacted even when a secret is split
//!   across two of them). Providers use it on their errors; the engine uses it on what
//!   a model or a tool says ([`Redactor::for_settings`] gives the secrets of a
//!   provider's settings).
//! - [`redact_url`] shows a URL without its credentials, for messages.
//!
//! Secrets shorter than [`MIN_SECRET_LEN`] bytes are not looked for in free text
//! (replacing `"k"` everywhere would mangle every message); a URL shown by
//! [`redact_url`] loses its user info and query values whatever their length.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine;
use futures::StreamExt;
use harnext_protocol::ContentBlock;
use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::HttpSettings;
use crate::ModelEvent;
use crate::ModelResponse;
use crate::ModelStream;

/// What a secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Shorter strings are not treated as secrets in free text.
pub const MIN_SECRET_LEN: usize = 8;

/// Replaces known secrets in text. Cheap to clone.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a secret containing another is replaced whole.
    secrets: Arc<Vec<String>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

/// Whether a header or query parameter of this name carries a credential.
fn sensitive_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "cookie"
        || [
            "auth", "key", "token", "secret", "pass", "pwd", "sig", "cred", "session",
        ]
        .iter()
        .any(|w| name.contains(w))
}

impl Redactor {
    /// A redactor for the given secrets (those shorter than [`MIN_SECRET_LEN`] are
    /// dropped, duplicates merged).
    pub fn new<I, S>(secrets: I) -> Redactor
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut list: Vec<String> = secrets
            .into_iter()
            .map(Into::into)
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        list.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        list.dedup();
        Redactor {
            secrets: Arc::new(list),
        }
    }

    /// The secrets of a provider's settings: the API key; the values of headers whose
    /// names say they carry a credential (`authorization`, `*key*`, `*token*`,
    /// `*secret*`, `cookie`, ...), and the token after a scheme (`Bearer <token>`);
    /// the base URL's user and password (as written and percent-decoded), the
    /// `Basic` header they make, and the values of its query parameters whose names
    /// say they carry a credential (`key`, `api_key`, `token`, `sig`, ...).
    pub fn for_settings(settings: &HttpSettings) -> Redactor {
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

    /// This redactor and `other`'s secrets together.
    pub fn merged(&self, other: &Redactor) -> Redactor {
        Redactor::new(self.secrets.iter().chain(other.secrets.iter()).cloned())
    }

    /// The secrets looked for, longest first.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret replaced by [`REDACTED`]; borrowed when there was none.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in self.secrets.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
        out
    }

    /// Redacts `text` in place.
    pub fn redact_string(&self, text: &mut String) {
        if let Cow::Owned(clean) = self.redact(text) {
            *text = clean;
        }
    }

    /// Redacts every string in `value`, object keys included.
    pub fn redact_json(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) => self.redact_string(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                let dirty = map.keys().any(|k| matches!(self.redact(k), Cow::Owned(_)));
                if dirty {
                    let old = std::mem::take(map);
                    for (k, mut v) in old {
                        self.redact_json(&mut v);
                        map.insert(self.redact(&k).into_owned(), v);
                    }
                } else {
                    map.values_mut().for_each(|v| self.redact_json(v));
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// A redactor for text that arrives in pieces (see [`StreamRedactor`]).
    pub fn stream(&self) -> StreamRedactor {
        StreamRedactor {
            redactor: self.clone(),
            held: String::new(),
        }
    }

    /// Redacts a model response: its text, reasoning text (signed reasoning
    /// included: a secret in it is worse than a signature the provider may refuse),
    /// tool inputs and notes. Opaque and encrypted reasoning data is left alone.
    pub fn redact_response(&self, response: &mut ModelResponse) {
        if self.is_empty() {
            return;
        }
        for block in &mut response.content {
            match block {
                ContentBlock::Text { text } => self.redact_string(text),
                ContentBlock::Thinking { thinking, .. } => self.redact_string(thinking),
                ContentBlock::OpaqueReasoning { text, .. } => self.redact_string(text),
                ContentBlock::ToolUse { input, .. } => self.redact_json(input),
                ContentBlock::ToolResult { content, .. } => self.redact_string(content),
                ContentBlock::RedactedThinking { .. } => {}
            }
        }
        for note in response.invalid_tool_inputs.values_mut() {
            self.redact_string(note);
        }
        if let Some(details) = response.stop_reason.details_mut() {
            details.redact(self);
        }
    }

    /// Wraps a provider's stream so that nothing it yields carries a secret: text and
    /// reasoning deltas (a secret split across deltas included: the end of a delta
    /// that may begin a secret is held back until the next piece shows it does not),
    /// retry reasons, the final response and errors.
    pub fn redact_model_stream(&self, stream: ModelStream) -> ModelStream {
        if self.is_empty() {
            return stream;
        }
        let redactor = self.clone();
        let mut text = self.stream();
        let mut thinking = self.stream();
        stream
            .flat_map(move |item| {
                let mut out: Vec<Result<ModelEvent, crate::ProviderError>> = Vec::new();
                let flush_text = |out: &mut Vec<_>, text: &mut StreamRedactor| {
                    let rest = text.finish();
                    if !rest.is_empty() {
                        out.push(Ok(ModelEvent::TextDelta(rest)));
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
                        flush_text(&mut out, &mut text);
                        let piece = thinking.push(&t);
                        if !piece.is_empty() {
                            out.push(Ok(ModelEvent::ThinkingDelta(piece)));
                        }
                    }
                    other => {
                        flush_text(&mut out, &mut text);
                        let rest = thinking.finish();
                        if !rest.is_empty() {
                            out.push(Ok(ModelEvent::ThinkingDelta(rest)));
                        }
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
                            Ok(ModelEvent::Completed(mut response)) => {
                                redactor.redact_response(&mut response);
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
}

/// Redacts text that arrives in pieces: [`StreamRedactor::push`] returns what can be
/// shown now, holding back an ending that could be the start of a secret;
/// [`StreamRedactor::finish`] returns what is left. The concatenated output equals
/// [`Redactor::redact`] of the concatenated input.
#[derive(Debug, Clone)]
pub struct StreamRedactor {
    redactor: Redactor,
    held: String,
}

impl StreamRedactor {
    pub fn push(&mut self, piece: &str) -> String {
        if self.redactor.is_empty() {
            return piece.to_owned();
        }
        self.held.push_str(piece);
        let clean = self.redactor.redact(&self.held).into_owned();
        let keep = self.open_prefix_len(&clean);
        let cut = clean.len() - keep;
        self.held = clean[cut..].to_owned();
        let mut out = clean;
        out.truncate(cut);
        out
    }

    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// The length of the longest ending of `text` that is a proper beginning of a
    /// secret (and so may complete into one).
    fn open_prefix_len(&self, text: &str) -> usize {
        let bytes = text.as_bytes();
        let mut best = 0;
        for secret in self.redactor.secrets.iter() {
            let s = secret.as_bytes();
            let max = (s.len() - 1).min(bytes.len());
            for len in (best + 1..=max).rev() {
                if bytes[bytes.len() - len..] == s[..len] {
                    best = len;
                    break;
                }
            }
        }
        // A secret's beginning starts on a character boundary of the text.
        while !text.is_char_boundary(text.len() - best) {
            best -= 1;
        }
        best
    }
}

/// The credentials in a base URL: user and password (as written and decoded), the
/// `Basic` header value and its base64 part, and sensitive query values.
fn url_secrets(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    let parts = UrlParts::split(url);
    if let Some(userinfo) = parts.userinfo {
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let (user, pass) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        for part in [Some(user), pass].into_iter().flatten() {
            out.push(part.to_owned());
            out.push(decode(part));
        }
        out.push(userinfo.to_owned());
        let plain = format!("{}:{}", decode(user), pass.map(decode).unwrap_or_default());
        let b64 = base64::engine::general_purpose::STANDARD.encode(plain.as_bytes());
        out.push(format!("Basic {b64}"));
        out.push(b64);
    }
    if let Some(query) = parts.query {
        for pair in query.split('&') {
            if let Some((name, value)) = pair.split_once('=') {
                if sensitive_name(name) && !value.is_empty() {
                    out.push(value.to_owned());
                    out.push(percent_decode_str(value).decode_utf8_lossy().into_owned());
                }
            }
        }
    }
    out
}

/// A URL cut where credentials may be, without parsing it (a malformed URL must be
/// shown redacted too).
struct UrlParts<'a> {
    /// Everything before the user info (`https://`), or `""`.
    scheme: &'a str,
    userinfo: Option<&'a str>,
    /// From the host to the query (or fragment).
    rest: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

impl<'a> UrlParts<'a> {
    fn split(url: &'a str) -> UrlParts<'a> {
        let (url, fragment) = match url.split_once('#') {
            Some((u, f)) => (u, Some(f)),
            None => (url, None),
        };
        let (url, query) = match url.split_once('?') {
            Some((u, q)) => (u, Some(q)),
            None => (url, None),
        };
        let after_scheme = url.find("://").map_or(0, |i| i + 3);
        let (scheme, tail) = url.split_at(after_scheme);
        let authority_end = tail.find('/').unwrap_or(tail.len());
        let (userinfo, rest) = match tail[..authority_end].rfind('@') {
            Some(at) => (Some(&tail[..at]), &tail[at + 1..]),
            None => (None, tail),
        };
        UrlParts {
            scheme,
            userinfo,
            rest,
            query,
            fragment,
        }
    }
}

/// `url` for a message: user info and every query value replaced by [`REDACTED`]
/// (`https://<redacted>@host/v1?key=<redacted>`). Works on malformed URLs too.
pub fn redact_url(url: &str) -> String {
    let parts = UrlParts::split(url);
    let mut out = String::with_capacity(url.len());
    out.push_str(parts.scheme);
    if parts.userinfo.is_some() {
        out.push_str(REDACTED);
        out.push('@');
    }
    out.push_str(parts.rest);
    if let Some(query) = parts.query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, value)) if !value.is_empty() => format!("{name}={REDACTED}"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    if parts.fragment.is_some() {
        out.push('#');
        out.push_str(REDACTED);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
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
    fn urls_are_shown_without_user_info_query_values_or_fragment_even_when_malformed() {
        assert_eq!(
            redact_url(
                "https://alice:s3cret-pass@proxy.example/v1?key=AIzaSecret&api-version=2024"
            ),
            "https://<redacted>@proxy.example/v1?key=<redacted>&api-version=<redacted>"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:8080/v1"),
            "http://127.0.0.1:8080/v1"
        );
        assert_eq!(redact_url("http://user:pw@"), "http://<redacted>@");
        assert_eq!(redact_url("user:pw@host/x?flag"), "<redacted>@host/x?flag");
        assert_eq!(redact_url("not a url#frag"), "not a url#<redacted>");
        // An `@` in the path is not user info.
        assert_eq!(redact_url("http://h/a@b"), "http://h/a@b");
    }

    #[test]
    fn settings_secrets_cover_the_key_credential_headers_and_the_base_urls_credentials() {
        let r = Redactor::for_settings(&settings(
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
        let r = Redactor::for_settings(&settings(Some("http://u:p@h"), None, &[]));
        let basic = base64::engine::general_purpose::STANDARD.encode("u:p");
        assert_eq!(r.redact(&format!("Basic {basic}")), "<redacted>");
    }

    #[test]
    fn longer_secrets_win_and_short_ones_are_ignored() {
        let r = Redactor::new(["abcdefgh", "abcdefgh-ijkl", "short"]);
        assert_eq!(
            r.redact("x abcdefgh-ijkl y abcdefgh z short"),
            "x <redacted> y <redacted> z short"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
        let mut v = json!({"cmd": "curl -H 'x: abcdefgh'", "abcdefgh": [1, "abcdefgh"]});
        r.redact_json(&mut v);
        assert_eq!(
            v,
            json!({"cmd": "curl -H 'x: <redacted>'", "<redacted>": [1, "<redacted>"]})
        );
    }

    #[test]
    fn a_secret_split_across_pieces_is_redacted_and_the_rest_flows() {
        let r = Redactor::new(["sk-secret-123456", "ébène-secret"]);
        let text = "key sk-secret-123456 and sk-secret-12 no, ébène-secret é end";
        let want = r.redact(text).into_owned();
        for size in 1..text.len() {
            let mut s = r.stream();
            let mut got = String::new();
            let mut pieces = Vec::new();
            let mut rest = text;
            while !rest.is_empty() {
                let mut n = size.min(rest.len());
                while !rest.is_char_boundary(n) {
                    n += 1;
                }
                let (a, b) = rest.split_at(n);
                pieces.push(a);
                rest = b;
            }
            for p in pieces {
                let out = s.push(p);
                assert!(!out.contains("sk-secret-123456"));
                got.push_str(&out);
            }
            got.push_str(&s.finish());
            assert_eq!(got, want, "piece size {size}");
        }
        // Text that cannot start a secret is not held back.
        let mut s = r.stream();
        assert_eq!(s.push("hello "), "hello ");
        assert_eq!(s.push("wor sk-"), "wor ");
        assert_eq!(s.finish(), "sk-");
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
        let wrapped = r.redact_model_stream(futures::stream::iter(events).boxed());
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
