use std::time::Duration;

use harnext_protocol::ErrorCode;
use harnext_protocol::HarnextError;

/// A failed model call, as a provider reports it to the run loop.
///
/// Every variant maps to one public [`ErrorCode`] through [`ProviderError::to_public`].
/// The provider has already retried what its retry policy allows; the loop ends the run
/// with the error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// No API key for the provider. Returned before any request; never retried.
    #[error("no API key for {provider}: pass `apiKey` to new Agent() or set {env_var}")]
    MissingApiKey {
        provider: &'static str,
        env_var: &'static str,
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
    #[error("{provider}: no data for {}s; the stream stalled", idle.as_secs())]
    Timeout {
        provider: &'static str,
        idle: Duration,
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
}

impl ProviderError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ProviderError::MissingApiKey { .. } => ErrorCode::Auth,
            ProviderError::Http { code, .. } | ProviderError::Stream { code, .. } => *code,
            ProviderError::Network { .. } => ErrorCode::Network,
            ProviderError::Timeout { .. } => ErrorCode::Timeout,
            ProviderError::Protocol { .. } => ErrorCode::Server,
            ProviderError::Script(_) => ErrorCode::Internal,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ProviderError::Http { status, .. } => Some(*status),
            ProviderError::MissingApiKey { .. }
            | ProviderError::Stream { .. }
            | ProviderError::Network { .. }
            | ProviderError::Timeout { .. }
            | ProviderError::Protocol { .. }
            | ProviderError::Script(_) => None,
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
            | ProviderError::Protocol { .. }
            | ProviderError::Script(_) => false,
        }
    }

    pub fn to_public(&self) -> HarnextError {
        let mut e = HarnextError::new(self.code(), self.to_string()).with_status(self.status());
        e.retryable = self.is_retryable();
        e
    }
}

/// The public code for an HTTP error status and the provider's error `type`/message.
pub fn classify_http(status: u16, error_type: &str, message: &str) -> ErrorCode {
    let lower = message.to_ascii_lowercase();
    let overflow = lower.contains("prompt is too long")
        || lower.contains("context window")
        || lower.contains("context length")
        || lower.contains("maximum context")
        || error_type == "context_length_exceeded";
    match status {
        401 | 403 => ErrorCode::Auth,
        429 => ErrorCode::RateLimit,
        529 => ErrorCode::Overloaded,
        408 => ErrorCode::Timeout,
        400 | 413 if overflow => ErrorCode::ContextOverflow,
        s if s >= 500 => match error_type {
            "overloaded_error" => ErrorCode::Overloaded,
            _ => ErrorCode::Server,
        },
        409 => ErrorCode::Server,
        _ => ErrorCode::BadRequest,
    }
}

/// The public code for an error `type` reported inside a stream.
pub fn classify_stream_error(error_type: &str, message: &str) -> ErrorCode {
    match error_type {
        "overloaded_error" => ErrorCode::Overloaded,
        "rate_limit_error" => ErrorCode::RateLimit,
        "api_error" | "server_error" => ErrorCode::Server,
        "authentication_error" | "permission_error" => ErrorCode::Auth,
        "invalid_request_error" => classify_http(400, error_type, message),
        "request_too_large" => ErrorCode::BadRequest,
        _ => ErrorCode::Server,
    }
}
