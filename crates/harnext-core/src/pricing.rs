//! What model calls cost: list prices (USD per million tokens) of the models whose
//! prices are known for sure, and the run's running total ([`Spend`]). Any other model
//! (an `openai-chat/…` server may be anyone's, the scripted model is free and offline)
//! has no price, and its cost is unknown rather than guessed.
//!
//! A leaf of the crate: it imports nothing of it.

use harnext_protocol::Usage;

/// A model's list prices, USD per million tokens. `output` includes reasoning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
    /// USD per server-side web search (`usage.web_search_requests`): both providers
    /// list $10 per 1,000 searches.
    pub web_search: f64,
    /// A request over 200k input tokens is billed at other (long-context) rates, which
    /// are not in the table: its cost is unknown.
    long_context_rates: bool,
}

/// Anthropic: input, output, cache read, cache write (5-minute).
const ANTHROPIC: &[(&str, [f64; 4])] = &[
    ("claude-opus-4-5", [5.0, 25.0, 0.5, 6.25]),
    ("claude-opus-4-1", [15.0, 75.0, 1.5, 18.75]),
    ("claude-opus-4", [15.0, 75.0, 1.5, 18.75]),
    ("claude-sonnet-4-5", [3.0, 15.0, 0.3, 3.75]),
    ("claude-sonnet-4", [3.0, 15.0, 0.3, 3.75]),
    ("claude-haiku-4-5", [1.0, 5.0, 0.1, 1.25]),
    ("claude-3-5-haiku", [0.8, 4.0, 0.08, 1.0]),
];
const ANTHROPIC_LONG_CONTEXT: &[&str] = &["claude-sonnet-4-5", "claude-sonnet-4"];

/// OpenAI: input, output, cached input.
const OPENAI: &[(&str, [f64; 3])] = &[
    ("gpt-5", [1.25, 10.0, 0.125]),
    ("gpt-5-mini", [0.25, 2.0, 0.025]),
    ("gpt-5-nano", [0.05, 0.4, 0.005]),
    ("gpt-4.1", [2.0, 8.0, 0.5]),
    ("gpt-4.1-mini", [0.4, 1.6, 0.1]),
    ("gpt-4.1-nano", [0.1, 0.4, 0.025]),
    ("gpt-4o", [2.5, 10.0, 1.25]),
    ("gpt-4o-mini", [0.15, 0.6, 0.075]),
    ("o3", [2.0, 8.0, 0.5]),
    ("o4-mini", [1.1, 4.4, 0.275]),
];

/// One server-side web search: $10 per 1,000 (Anthropic's `web_search` tool and
/// OpenAI's hosted `web_search` tool; OpenAI bills the search content tokens as input
/// tokens, which the usage already counts).
const WEB_SEARCH_USD: f64 = 10.0 / 1000.0;

/// The list prices of a model string (`anthropic/claude-sonnet-4-5-20250929`,
/// `openai/gpt-5`), `None` when they are not known.
pub fn price_of(model: &str) -> Option<Price> {
    let (provider, name) = model.split_once('/')?;
    match provider {
        "anthropic" => {
            let name = strip_suffix_date(name, 8).unwrap_or(name);
            let name = name.strip_suffix("-latest").unwrap_or(name);
            // `claude-opus-4-0` / `claude-sonnet-4-0` are the `-4` models.
            let name = match name {
                "claude-opus-4-0" => "claude-opus-4",
                "claude-sonnet-4-0" => "claude-sonnet-4",
                n => n,
            };
            let (_, p) = ANTHROPIC.iter().find(|(n, _)| *n == name)?;
            Some(Price {
                input: p[0],
                output: p[1],
                cache_read: p[2],
                cache_write: p[3],
                web_search: WEB_SEARCH_USD,
                long_context_rates: ANTHROPIC_LONG_CONTEXT.contains(&name),
            })
        }
        "openai" => {
            // gpt-4o-2024-05-13 is priced apart from gpt-4o: only snapshots known to match.
            if name == "gpt-4o-2024-05-13" {
                return None;
            }
            let name = strip_iso_date(name).unwrap_or(name);
            let (_, p) = OPENAI.iter().find(|(n, _)| *n == name)?;
            Some(Price {
                input: p[0],
                output: p[1],
                cache_read: p[2],
                cache_write: 0.0,
                web_search: WEB_SEARCH_USD,
                long_context_rates: false,
            })
        }
        _ => None,
    }
}

/// `name` without a trailing `-` and `digits` digits (`-20250929`).
fn strip_suffix_date(name: &str, digits: usize) -> Option<&str> {
    let cut = name.len().checked_sub(digits + 1)?;
    let (head, tail) = name.split_at_checked(cut)?;
    let tail = tail.strip_prefix('-')?;
    (tail.len() == digits && tail.bytes().all(|b| b.is_ascii_digit())).then_some(head)
}

/// `name` without a trailing `-YYYY-MM-DD`.
fn strip_iso_date(name: &str) -> Option<&str> {
    let cut = name.len().checked_sub(11)?;
    let (head, tail) = name.split_at_checked(cut)?;
    let b = tail.as_bytes();
    let ok = b[0] == b'-'
        && b[5] == b'-'
        && b[8] == b'-'
        && [1, 2, 3, 4, 6, 7, 9, 10]
            .iter()
            .all(|&i| b[i].is_ascii_digit());
    ok.then_some(head)
}

impl Price {
    /// What one model call with this usage cost, `None` when it cannot be known: the
    /// server reported no usage, or the request was billed at long-context rates.
    pub fn cost(&self, u: &Usage) -> Option<f64> {
        if u.unreported {
            return None;
        }
        let input = u
            .input_tokens
            .saturating_add(u.cache_read_tokens)
            .saturating_add(u.cache_write_tokens);
        if self.long_context_rates && input > 200_000 {
            return None;
        }
        #[allow(clippy::cast_precision_loss)] // token counts are far below 2^52
        let usd = (u.input_tokens as f64 * self.input
            + u.output_tokens as f64 * self.output
            + u.cache_read_tokens as f64 * self.cache_read
            + u.cache_write_tokens as f64 * self.cache_write)
            / 1e6
            + u.web_search_requests as f64 * self.web_search;
        Some(usd)
    }
}

/// A run's usage and cost so far: every model call's, summaries included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spend {
    pub usage: Usage,
    /// `None` once one call's cost is unknown (or the model has no price).
    pub cost_usd: Option<f64>,
}

impl Spend {
    pub fn new(price: Option<&Price>) -> Spend {
        Spend {
            usage: Usage::default(),
            cost_usd: price.map(|_| 0.0),
        }
    }

    /// Adds a call's usage and cost (`None`: unknown).
    pub fn add(&mut self, usage: Usage, cost_usd: Option<f64>) {
        self.usage += usage;
        self.cost_usd = self.cost_usd.zip(cost_usd).map(|(a, b)| a + b);
    }

    /// Every token the run's calls processed: input (cached or not) and output.
    pub fn tokens(&self) -> u64 {
        let u = &self.usage;
        u.input_tokens
            .saturating_add(u.output_tokens)
            .saturating_add(u.cache_read_tokens)
            .saturating_add(u.cache_write_tokens)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn dated_snapshots_and_aliases_find_their_model_and_unknown_models_have_no_price() {
        assert_eq!(
            price_of("anthropic/claude-sonnet-4-5-20250929")
                .unwrap()
                .input,
            3.0
        );
        assert_eq!(price_of("anthropic/claude-opus-4-0").unwrap().output, 75.0);
        assert_eq!(
            price_of("anthropic/claude-3-5-haiku-latest")
                .unwrap()
                .cache_read,
            0.08
        );
        assert_eq!(price_of("openai/gpt-4o-2024-08-06").unwrap().input, 2.5);
        assert_eq!(price_of("openai/gpt-4o-mini").unwrap().output, 0.6);
        for none in [
            "openai/gpt-4o-2024-05-13",
            "openai-chat/gpt-4o",
            "anthropic/claude-2",
            "anthropic/claude-sonnet-4-5-2025",
            "scripted",
            "openai/",
            "",
        ] {
            assert_eq!(price_of(none), None, "{none}");
        }
    }

    #[test]
    fn web_searches_cost_ten_dollars_a_thousand_on_top_of_the_tokens() {
        for model in ["anthropic/claude-sonnet-4-5", "openai/gpt-5"] {
            let p = price_of(model).unwrap();
            let tokens = Usage {
                input_tokens: 1000,
                output_tokens: 100,
                ..Usage::default()
            };
            let searched = Usage {
                web_search_requests: 3,
                ..tokens
            };
            let extra = p.cost(&searched).unwrap() - p.cost(&tokens).unwrap();
            assert!((extra - 0.03).abs() < 1e-12, "{model}: {extra}");
        }
    }

    #[test]
    fn a_call_costs_its_tokens_at_list_prices_unless_unreported_or_long_context() {
        let p = price_of("anthropic/claude-sonnet-4-5").unwrap();
        let u = Usage {
            input_tokens: 1000,
            output_tokens: 100,
            cache_read_tokens: 2000,
            cache_write_tokens: 400,
            ..Usage::default()
        };
        // 1000*3 + 100*15 + 2000*0.3 + 400*3.75 = 6600 per million.
        assert!((p.cost(&u).unwrap() - 0.0066).abs() < 1e-12);
        assert_eq!(p.cost(&Usage::unreported()), None);
        let long = Usage {
            input_tokens: 150_000,
            cache_read_tokens: 60_000,
            ..Usage::default()
        };
        assert_eq!(p.cost(&long), None);
        // Opus has no long-context rates: the same call is priced.
        assert!(price_of("anthropic/claude-opus-4-5")
            .unwrap()
            .cost(&long)
            .is_some());
    }

    #[test]
    fn a_spend_stays_unknown_once_one_call_is() {
        let p = price_of("openai/gpt-5").unwrap();
        let mut s = Spend::new(Some(&p));
        assert_eq!(s.cost_usd, Some(0.0));
        s.add(Usage::default(), Some(0.5));
        s.add(Usage::default(), Some(0.25));
        assert_eq!(s.cost_usd, Some(0.75));
        s.add(Usage::unreported(), None);
        s.add(Usage::default(), Some(1.0));
        assert_eq!(s.cost_usd, None);
        assert_eq!(Spend::new(None).cost_usd, None);
    }
}
