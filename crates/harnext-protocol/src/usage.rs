use serde::Deserialize;
use serde::Serialize;

/// Token accounting for one model call, or the total over a run.
///
/// `input_tokens` counts uncached input only, as Anthropic reports it; cached input is
/// in `cache_read_tokens` / `cache_write_tokens`. `output_tokens` includes the tokens
/// spent on reasoning; `reasoning_tokens` is that part, where the provider reports it.
///
/// `unreported` is set when the server did not report a usable input or output count
/// for the call (no usage at all, or a malformed figure such as `-5`, `"12"` or
/// `1e300`, which is ignored): the counts it did report are kept, and the zeros
/// elsewhere mean "unknown", not "free". On a run's total it means at least one call
/// was unreported. It is left out of the JSON when false, so usage written before it
/// existed reads as reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_tokens: u64,
    #[serde(default)]
    pub cache_write_tokens: u64,
    #[serde(default)]
    pub reasoning_tokens: u64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub unreported: bool,
    /// Server-side web searches the provider ran (billed per search; see the
    /// `web_search` option). Left out of the JSON when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub web_search_requests: u64,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Usage {
    /// Usage of a call whose server reported none.
    pub fn unreported() -> Usage {
        Usage {
            unreported: true,
            ..Usage::default()
        }
    }

    /// No tokens counted and nothing unreported.
    pub fn is_zero(&self) -> bool {
        *self == Usage::default()
    }

    /// Whether the counts are all zero (reported or not).
    pub fn counts_are_zero(&self) -> bool {
        Usage {
            unreported: false,
            ..*self
        }
        .is_zero()
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, rhs: Usage) {
        self.input_tokens = self.input_tokens.saturating_add(rhs.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(rhs.output_tokens);
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(rhs.cache_read_tokens);
        self.cache_write_tokens = self
            .cache_write_tokens
            .saturating_add(rhs.cache_write_tokens);
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(rhs.reasoning_tokens);
        self.web_search_requests = self
            .web_search_requests
            .saturating_add(rhs.web_search_requests);
        // A total is unreported when any part of it was.
        self.unreported = self.unreported || rhs.unreported;
    }
}

impl std::ops::Add for Usage {
    type Output = Usage;
    fn add(mut self, rhs: Usage) -> Usage {
        self += rhs;
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn usage_written_before_the_unreported_flag_loads_as_reported() {
        let old: Usage =
            serde_json::from_str(r#"{"input_tokens":3,"output_tokens":4,"cache_read_tokens":0,"cache_write_tokens":0,"reasoning_tokens":0}"#)
                .unwrap();
        assert!(!old.unreported);
        assert_eq!(old.input_tokens, 3);
        let text = serde_json::to_string(&old).unwrap();
        assert!(!text.contains("unreported"), "{text}");
        let text = serde_json::to_string(&Usage::unreported()).unwrap();
        assert!(text.contains(r#""unreported":true"#), "{text}");
    }

    #[test]
    fn a_total_is_unreported_when_any_call_was_and_counts_saturate() {
        let mut total = Usage {
            input_tokens: u64::MAX,
            ..Usage::default()
        };
        total += Usage::unreported();
        total += Usage {
            input_tokens: 5,
            ..Usage::default()
        };
        assert!(total.unreported);
        assert_eq!(total.input_tokens, u64::MAX);
        assert!(!Usage::unreported().is_zero());
        assert!(Usage::unreported().counts_are_zero());
    }
}
