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

/// The wait the server asked for, from the response headers: `retry-after-ms`, else
/// `retry-after` (seconds or an HTTP date). A value that is not a number or a date, is
/// negative, infinite, NaN or over 60 s is ignored (the caller falls back to backoff).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if let Some(wait) = seconds(ms / 1000.0) {
            return Some(wait);
        }
    }
    let v = get("retry-after")?;
    match v.parse::<f64>() {
        Ok(secs) => seconds(secs),
        Err(_) => httpdate::parse_http_date(v)
            .ok()
            .map(|at| {
                at.duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO)
            })
            .filter(|d| *d <= MAX_HONOURED),
    }
}

/// A wait of `secs` seconds, when it is a number from 0 to 60.
fn seconds(secs: f64) -> Option<Duration> {
    if !(0.0..=MAX_HONOURED.as_secs_f64()).contains(&secs) {
        return None;
    }
    Duration::try_from_secs_f64(secs).ok()
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
    fn retry_after_values_that_are_huge_infinite_nan_or_negative_fall_back_to_backoff() {
        for bad in [
            "inf", "-inf", "Infinity", "NaN", "nan", "1e300", "-1", "-0.5", "1e20",
        ] {
            assert_eq!(
                retry_after(&headers(&[("retry-after", bad)])),
                None,
                "retry-after {bad}"
            );
            assert_eq!(
                retry_after(&headers(&[("retry-after-ms", bad)])),
                None,
                "retry-after-ms {bad}"
            );
        }
        assert_eq!(retry_after(&headers(&[("retry-after", "61")])), None);
        assert_eq!(retry_after(&headers(&[("retry-after-ms", "60001")])), None);
        // A bad `retry-after-ms` does not hide a good `retry-after`.
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "inf"), ("retry-after", "2")])),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "0")])),
            Some(Duration::ZERO)
        );
        // A date far in the future is over the limit too.
        let far = SystemTime::now() + Duration::from_secs(3600);
        let h = headers(&[("retry-after", &httpdate::fmt_http_date(far))]);
        assert_eq!(retry_after(&h), None);
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
