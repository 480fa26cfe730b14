//! Keeping credentials out of text: the API key, credential header values and the
//! credentials of a URL (`user:pass@`, a `?key=` query value).
//!
//! - [`Redactor`] replaces every known secret in a string or a JSON value;
//!   [`StreamRedactor`] does it for text that arrives in pieces (a secret split
//!   across two pieces included).
//! - [`redact_url`] shows a URL without its credentials, for messages;
//!   [`url_secrets`] lists them, for a [`Redactor`].
//!
//! Secrets shorter than [`MIN_SECRET_LEN`] bytes are not looked for in free text
//! (replacing `"k"` everywhere would mangle every message); a URL shown by
//! [`redact_url`] loses its user info and query values whatever their length.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine;
use percent_encoding::percent_decode_str;
use serde_json::Value;

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

/// Whether a header or query parameter of this name carries a credential
/// (`authorization`, `x-api-key`, `token`, `secret`, `password`, `sig`, `cookie`, ...).
pub fn sensitive_name(name: &str) -> bool {
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

/// The credentials in a URL: user and password (as written and decoded), the
/// `Basic` header value and its base64 part, and sensitive query values.
pub fn url_secrets(url: &str) -> Vec<String> {
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
}
