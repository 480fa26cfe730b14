//! The retry policy of the providers' own SDKs.
//!
//! Wait `retry-after-ms`, else `retry-after` (seconds or an HTTP date), when it is
//! between 0 and 60 s; otherwise exponential backoff from 0.5 s, doubling, capped at 8 s,
//! with up to 25 % jitter taken off.

use std::time::Duration;
use std::time::SystemTime;

const INITIAL: f64 = 0.5;
const MAX: f64 = 8.0;
const MAX_HONOURED: Duration = Duration::from_secs(60);

/// The wait the server asked for, from the response headers.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let wait = if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0))
    } else if let Some(v) = get("retry-after") {
        match v.parse::<f64>() {
            Ok(secs) if secs.is_finite() => Some(Duration::from_secs_f64(secs.max(0.0))),
            _ => httpdate::parse_http_date(v).ok().map(|at| {
                at.duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO)
            }),
        }
    } else {
        None
    };
    wait.filter(|d| *d <= MAX_HONOURED)
}

/// The `x-should-retry` header, when present.
pub fn should_retry(headers: &reqwest::header::HeaderMap) -> Option<bool> {
    match headers.get("x-should-retry").and_then(|v| v.to_str().ok()) {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

/// Backoff before retry number `retry` (1 for the first retry), with jitter.
pub fn backoff(retry: u32) -> Duration {
    let exp = retry.saturating_sub(1).min(16);
    let base = (INITIAL * f64::from(1u32 << exp)).min(MAX);
    let jitter = 1.0 - fastrand::f64() * 0.25;
    Duration::from_secs_f64(base * jitter)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use reqwest::header::HeaderMap;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_ms_wins_over_retry_after() {
        let h = headers(&[("retry-after-ms", "250"), ("retry-after", "3")]);
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1.5")])),
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn retry_after_over_sixty_seconds_is_ignored() {
        assert_eq!(retry_after(&headers(&[("retry-after", "120")])), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn retry_after_http_date() {
        let at = SystemTime::now() + Duration::from_secs(10);
        let h = headers(&[("retry-after", &httpdate::fmt_http_date(at))]);
        let d = retry_after(&h).unwrap();
        assert!(
            d <= Duration::from_secs(10) && d >= Duration::from_secs(8),
            "{d:?}"
        );
    }

    #[test]
    fn backoff_doubles_from_half_a_second_capped_at_eight_with_jitter() {
        for (retry, base) in [(1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (9, 8.0)] {
            for _ in 0..50 {
                let d = backoff(retry).as_secs_f64();
                assert!(d <= base && d >= base * 0.75 - 1e-9, "retry {retry}: {d}");
            }
        }
    }

    #[test]
    fn should_retry_header() {
        assert_eq!(
            should_retry(&headers(&[("x-should-retry", "true")])),
            Some(true)
        );
        assert_eq!(
            should_retry(&headers(&[("x-should-retry", "false")])),
            Some(false)
        );
        assert_eq!(should_retry(&HeaderMap::new()), None);
    }
}
