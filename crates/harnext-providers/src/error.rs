use std::time::Duration;

use harnext_protocol::ErrorCode;
use harnext_protocol::HarnextError;

use crate::redact::Redactor;

/// The neutral (snake_case) key of the option that sets the API key. Bindings word it
/// in their own convention (`apiKey` in Node, `api_key` in Python).
pub const API_KEY_OPTION: &str = "api_key";
/// The neutral key of the option that sets the idle timeout of a stream.
pub const IDLE_TIMEOUT_OPTION: &str = "idle_timeout_ms";
/// The neutral key of the option that sets the total deadline of a model call.
pub const STREAM_TIMEOUT_OPTION: &str = "stream_timeout_ms";

/// A duration for a message: `30s`, or `400ms` under a second (where `0s` would say
/// nothing).
fn shown(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// A failed model call, as a provider reports it to the run loop.
///
/// Every variant maps to one public [`ErrorCode`] through [`ProviderError::to_public`].
/// The provider has already retried what its retry policy allows; the loop ends the run
/// with the error.
///
/// Messages name options by their neutral snake_case key (`api_key`); the variants that
/// are about an option carry that key in a field, and [`ProviderError::option`] returns
/// it, so a binding can word the message its own way.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// No API key for the provider. Returned before any request; never retried.
    #[error("no API key for {provider}: set the `{option}` option or the {env_var} environment variable")]
    MissingApiKey {
        provider: &'static str,
        /// The environment variable read when the option is not set.
        env_var: &'static str,
        /// The option's neutral key, [`API_KEY_OPTION`].
        option: &'static str,
    },
    /// The provider's settings are invalid (a header value with a line break, ...):
    /// reported before any request, never retried. Providers built with `try_new`
    /// refuse such settings at construction instead.
    #[error("{provider}: {error}")]
    Settings {
        provider: &'static str,
        error: SettingsError,
    },
    /// The provider answered with an HTTP error status (after retries, if retryable).
    #[error("{provider} answered HTTP {status}: {message}")]
    Http {
        provider: &'static str,
        status: u16,
        code: ErrorCode,
        message: String,
        /// How long the provider asked us to wait, when it said.
        retry_after: Option<Duration>,
        /// The provider's `x-should-retry` header, when present.
        should_retry: Option<bool>,
    },
    /// The provider reported an error inside a 200 stream (`event: error`).
    #[error("{provider} stream error ({kind}): {message}")]
    Stream {
        provider: &'static str,
        code: ErrorCode,
        kind: String,
        message: String,
    },
    /// Connecting failed, or the connection broke before the response was complete.
    #[error("{provider}: {message}")]
    Network {
        provider: &'static str,
        message: String,
    },
    /// No bytes arrived for the idle timeout.
    #[error("{provider}: no data for {}; the stream stalled", shown(*idle))]
    Timeout {
        provider: &'static str,
        idle: Duration,
    },
    /// The model call (every attempt and the waits between them) took longer than its
    /// total deadline, although data kept arriving. Never retried.
    #[error("{provider}: the response was not complete after {} (`{option}`)", shown(*limit))]
    Deadline {
        provider: &'static str,
        limit: Duration,
        /// The option's neutral key, [`STREAM_TIMEOUT_OPTION`].
        option: &'static str,
    },
    /// A 200 response that is neither an event stream nor a JSON completion (an HTML
    /// page from a proxy, ...). `content_type` is the response's `content-type`
    /// (`"none"` when absent), `snippet` the start of the body.
    #[error(
        "{provider}: expected an event stream or a JSON response, got {content_type}: {snippet}"
    )]
    UnexpectedContentType {
        provider: &'static str,
        content_type: String,
        snippet: String,
    },
    /// The response could not be understood (malformed SSE or JSON).
    #[error("{provider}: unexpected response: {message}")]
    Protocol {
        provider: &'static str,
        message: String,
    },
    /// The scripted model has no turn left, or its script is invalid.
    #[error("scripted model: {0}")]
    Script(String),
    /// The task reading the response panicked (a bug): the call ends with the panic's
    /// message instead of taking the run down.
    #[error("{provider}: the response reader panicked: {message}")]
    Panic {
        provider: &'static str,
        message: String,
    },
}

impl ProviderError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ProviderError::MissingApiKey { .. } => ErrorCode::Auth,
            ProviderError::Settings { .. } => ErrorCode::BadRequest,
            ProviderError::Http { code, .. } | ProviderError::Stream { code, .. } => *code,
            ProviderError::Network { .. } => ErrorCode::Network,
            ProviderError::Timeout { .. } | ProviderError::Deadline { .. } => ErrorCode::Timeout,
            ProviderError::Protocol { .. } | ProviderError::UnexpectedContentType { .. } => {
                ErrorCode::Server
            }
            ProviderError::Script(_) | ProviderError::Panic { .. } => ErrorCode::Internal,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ProviderError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The neutral key of the option this error is about, when it is about one
    /// (`api_key`, `stream_timeout_ms`, `headers`, ...), for bindings that word the
    /// message in their own conventions.
    pub fn option(&self) -> Option<&'static str> {
        match self {
            ProviderError::MissingApiKey { option, .. }
            | ProviderError::Deadline { option, .. } => Some(option),
            ProviderError::Settings { error, .. } => Some(error.option()),
            ProviderError::Timeout { .. } => Some(IDLE_TIMEOUT_OPTION),
            _ => None,
        }
    }

    /// Whether the retry policy may try the request again (the providers' SDK rules:
    /// obey `x-should-retry`, else 408, 409, 429 and >= 500; connection errors and
    /// stalls; overload, rate-limit and server errors reported mid-stream).
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::Http {
                status,
                should_retry,
                ..
            } => match should_retry {
                Some(v) => *v,
                None => matches!(status, 408 | 409 | 429) || *status >= 500,
            },
            ProviderError::Stream { code, .. } => matches!(
                code,
                ErrorCode::Overloaded | ErrorCode::RateLimit | ErrorCode::Server
            ),
            ProviderError::Network { .. } | ProviderError::Timeout { .. } => true,
            ProviderError::MissingApiKey { .. }
            | ProviderError::Settings { .. }
            | ProviderError::Deadline { .. }
            | ProviderError::UnexpectedContentType { .. }
            | ProviderError::Protocol { .. }
            | ProviderError::Script(_)
            | ProviderError::Panic { .. } => false,
        }
    }

    /// Replaces every occurrence of the given secrets (API keys, credential header
    /// values) in the error's text, so that a server echoing a key back cannot leak it
    /// into an event or a result.
    pub fn redact(self, secrets: &[String]) -> Self {
        self.redact_with(&Redactor::new(secrets.iter().cloned()))
    }

    /// [`ProviderError::redact`] with a prepared [`Redactor`].
    pub fn redact_with(self, redactor: &Redactor) -> Self {
        let scrub = |text: String| redactor.redact(&text).into_owned();
        match self {
            ProviderError::Http {
                provider,
                status,
                code,
                message,
                retry_after,
                should_retry,
            } => ProviderError::Http {
                provider,
                status,
                code,
                message: scrub(message),
                retry_after,
                should_retry,
            },
            ProviderError::Stream {
                provider,
                code,
                kind,
                message,
            } => ProviderError::Stream {
                provider,
                code,
                kind: scrub(kind),
                message: scrub(message),
            },
            ProviderError::Network { provider, message } => ProviderError::Network {
                provider,
                message: scrub(message),
            },
            ProviderError::Protocol { provider, message } => ProviderError::Protocol {
                provider,
                message: scrub(message),
            },
            ProviderError::UnexpectedContentType {
                provider,
                content_type,
                snippet,
            } => ProviderError::UnexpectedContentType {
                provider,
                content_type: scrub(content_type),
                snippet: scrub(snippet),
            },
            ProviderError::Script(message) => ProviderError::Script(scrub(message)),
            ProviderError::Panic { provider, message } => ProviderError::Panic {
                provider,
                message: scrub(message),
            },
            e @ (ProviderError::MissingApiKey { .. }
            | ProviderError::Settings { .. }
            | ProviderError::Timeout { .. }
            | ProviderError::Deadline { .. }) => e,
        }
    }

    pub fn to_public(&self) -> HarnextError {
        let mut e = HarnextError::new(self.code(), self.to_string()).with_status(self.status());
        e.retryable = self.is_retryable();
        e
    }
}

/// Invalid [`crate::HttpSettings`], found by [`crate::HttpSettings::validate`] (and so
/// by the providers' `try_new`). Messages name the option by its neutral key
/// ([`SettingsError::option`]) and never show a credential: a URL is shown with its
/// user info and sensitive query values replaced, a header by its name only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("`base_url`: expected an http(s) URL, got {shown}")]
    InvalidBaseUrl {
        /// The URL as given, redacted ([`crate::redact::redact_url`]).
        shown: String,
    },
    #[error("`headers`: {name:?} is not a valid header name")]
    InvalidHeaderName { name: String },
    #[error("`headers`: the value of {name:?} {problem}")]
    InvalidHeaderValue {
        name: String,
        /// `"contains a line break (CR or LF)"` or `"contains a control character"`.
        problem: &'static str,
    },
    #[error("`api_key`: the key {problem}")]
    InvalidApiKey {
        /// As for a header value: the key is sent in one.
        problem: &'static str,
    },
    #[error("`{option}`: expected a duration of at least 1 ms")]
    ZeroTimeout { option: &'static str },
}

impl SettingsError {
    /// The neutral key of the option at fault: `base_url`, `headers`, `api_key`,
    /// `idle_timeout_ms` or `stream_timeout_ms`.
    pub fn option(&self) -> &'static str {
        match self {
            SettingsError::InvalidBaseUrl { .. } => "base_url",
            SettingsError::InvalidHeaderName { .. } | SettingsError::InvalidHeaderValue { .. } => {
                "headers"
            }
            SettingsError::InvalidApiKey { .. } => API_KEY_OPTION,
            SettingsError::ZeroTimeout { option } => option,
        }
    }
}

/// The public code for an HTTP error status and the provider's error `type` (or, for
/// OpenAI, its `code` when it has one) and message.
///
/// `insufficient_quota` (OpenAI's "you exceeded your current quota", sent with HTTP 429)
/// is `auth`, not `rate_limit`: waiting does not help, someone has to fix the account's
/// billing, so it must not be retried (the OpenAI providers mark it not retryable).
pub fn classify_http(status: u16, error_type: &str, message: &str) -> ErrorCode {
    let lower = message.to_ascii_lowercase();
    let overflow = lower.contains("prompt is too long")
        || lower.contains("context window")
        || lower.contains("context length")
        || lower.contains("maximum context")
        || error_type == "context_length_exceeded";
    if is_quota_exhausted(error_type) {
        return ErrorCode::Auth;
    }
    match status {
        401 | 403 => ErrorCode::Auth,
        429 => ErrorCode::RateLimit,
        529 => ErrorCode::Overloaded,
        408 => ErrorCode::Timeout,
        400 | 413 if overflow => ErrorCode::ContextOverflow,
        s if s >= 500 => match error_type {
            "overloaded_error" | "server_is_overloaded" | "slow_down" => ErrorCode::Overloaded,
            _ => ErrorCode::Server,
        },
        409 => ErrorCode::Server,
        _ => ErrorCode::BadRequest,
    }
}

/// OpenAI's billing errors: the account has no quota left.
pub(crate) fn is_quota_exhausted(error_type: &str) -> bool {
    error_type == "insufficient_quota"
}

/// The public code for an error `type` (Anthropic) or `code` (OpenAI) reported inside
/// a stream. Unknown kinds count as server errors.
pub fn classify_stream_error(error_type: &str, message: &str) -> ErrorCode {
    match error_type {
        "overloaded_error" | "server_is_overloaded" | "slow_down" => ErrorCode::Overloaded,
        "rate_limit_error" | "rate_limit_exceeded" => ErrorCode::RateLimit,
        "api_error" | "server_error" | "internal_server_error" | "vector_store_timeout" => {
            ErrorCode::Server
        }
        "authentication_error" | "permission_error" | "invalid_api_key" => ErrorCode::Auth,
        t if is_quota_exhausted(t) => ErrorCode::Auth,
        "context_length_exceeded" => ErrorCode::ContextOverflow,
        "invalid_request_error" => classify_http(400, error_type, message),
        "request_too_large" | "invalid_prompt" | "data_residency_mismatch" | "bio_policy" => {
            ErrorCode::BadRequest
        }
        // OpenAI's image errors (`invalid_image`, `image_too_large`, ...): the request is at fault.
        t if t.starts_with("invalid_") || t.contains("image") => ErrorCode::BadRequest,
        _ => ErrorCode::Server,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_codes_classify_like_their_anthropic_counterparts() {
        assert_eq!(
            classify_http(429, "insufficient_quota", "You exceeded your current quota"),
            ErrorCode::Auth
        );
        assert_eq!(
            classify_http(429, "rate_limit_exceeded", "slow down"),
            ErrorCode::RateLimit
        );
        assert_eq!(
            classify_http(400, "context_length_exceeded", "too long"),
            ErrorCode::ContextOverflow
        );
        assert_eq!(
            classify_http(503, "server_is_overloaded", "capacity"),
            ErrorCode::Overloaded
        );
        assert_eq!(
            classify_http(404, "model_not_found", "no"),
            ErrorCode::BadRequest
        );
        for (kind, code) in [
            ("server_is_overloaded", ErrorCode::Overloaded),
            ("slow_down", ErrorCode::Overloaded),
            ("rate_limit_exceeded", ErrorCode::RateLimit),
            ("insufficient_quota", ErrorCode::Auth),
            ("invalid_api_key", ErrorCode::Auth),
            ("context_length_exceeded", ErrorCode::ContextOverflow),
            ("server_error", ErrorCode::Server),
            ("invalid_prompt", ErrorCode::BadRequest),
            ("image_too_large", ErrorCode::BadRequest),
            ("something_new", ErrorCode::Server),
            ("overloaded_error", ErrorCode::Overloaded),
        ] {
            assert_eq!(classify_stream_error(kind, "m"), code, "{kind}");
        }
    }

    #[test]
    fn redaction_removes_secrets_from_every_message() {
        let e = ProviderError::Http {
            provider: "openai",
            status: 401,
            code: ErrorCode::Auth,
            message: "Incorrect API key provided: sk-secret-123456".into(),
            retry_after: None,
            should_retry: None,
        }
        .redact(&["sk-secret-123456".to_owned()]);
        assert!(!e.to_string().contains("sk-secret"), "{e}");
        assert!(e.to_string().contains("<redacted>"), "{e}");
        let e = ProviderError::Stream {
            provider: "openai",
            code: ErrorCode::Server,
            kind: "k".into(),
            message: "echo sk-secret-123456".into(),
        }
        .redact(&["sk-secret-123456".to_owned()]);
        assert!(!format!("{e:?}").contains("sk-secret"));
    }
}
