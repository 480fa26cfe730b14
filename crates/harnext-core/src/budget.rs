//! A run's budgets: `max_cost_usd`, `max_tokens` and `max_duration_ms` (beside
//! `max_steps`). They are looked at after each step (a model call and the tool calls it
//! made): a run that has reached one stops there, with the budget's own stop reason and
//! `success: false`. A step in progress is not cut short, and a run whose model ends
//! its turn in the step that reaches a budget still succeeds.
//!
//! A leaf of the crate but for `pricing` (`config` holds a [`Budget`]).

use std::time::Duration;
use std::time::Instant;

use harnext_protocol::ErrorCode;
use harnext_protocol::HarnextError;
use harnext_protocol::OptionKey;
use harnext_protocol::StopReason;

use crate::pricing::Spend;

/// The budgets of an agent's runs, or of one run (set fields override the agent's).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budget {
    /// USD at list prices; needs a model whose price is known.
    pub max_cost_usd: Option<f64>,
    /// Input (cached or not) and output tokens of every model call, summaries included.
    pub max_tokens: Option<u64>,
    /// Wall-clock time from the start of the run.
    pub max_duration: Option<Duration>,
}

impl Budget {
    /// This run's budgets: `self` (the run's) where set, else `agent`'s.
    pub fn or(self, agent: Budget) -> Budget {
        Budget {
            max_cost_usd: self.max_cost_usd.or(agent.max_cost_usd),
            max_tokens: self.max_tokens.or(agent.max_tokens),
            max_duration: self.max_duration.or(agent.max_duration),
        }
    }

    /// What is wrong with the budget (the option, and the problem) for a model whose
    /// price is known (`priced`) or not.
    pub fn problem(&self, priced: bool, model: &str) -> Option<(OptionKey, String)> {
        if let Some(usd) = self.max_cost_usd {
            if !(usd.is_finite() && usd > 0.0) {
                return Some((
                    OptionKey::MaxCostUsd,
                    format!("expected a positive number of US dollars, got {usd}"),
                ));
            }
            if !priced {
                return Some((
                    OptionKey::MaxCostUsd,
                    format!("the price of {model:?} is not known, so its cost cannot be counted (prices are known for the `anthropic/` and `openai/` models listed in the README)"),
                ));
            }
        }
        if self.max_tokens == Some(0) {
            return Some((
                OptionKey::MaxTokens,
                "expected an integer >= 1, got 0".into(),
            ));
        }
        if self.max_duration == Some(Duration::ZERO) {
            return Some((
                OptionKey::MaxDurationMs,
                "expected an integer >= 1, got 0".into(),
            ));
        }
        None
    }

    /// How a run that has reached one of its budgets (after a step) stops.
    pub(crate) fn exceeded(
        &self,
        spend: &Spend,
        started: Instant,
    ) -> Option<(StopReason, HarnextError)> {
        let stop = |reason: StopReason, code: ErrorCode, message: String| {
            (reason, HarnextError::new(code, message))
        };
        if let Some(max) = self.max_cost_usd {
            match spend.cost_usd {
                Some(usd) if usd < max => {}
                Some(usd) => {
                    return Some(stop(
                        StopReason::CostBudget,
                        ErrorCode::CostBudget,
                        format!(
                            "the run stopped after a step that brought its cost to ${usd:.4}, reaching `{}` (${max})",
                            OptionKey::MaxCostUsd
                        ),
                    ))
                }
                None => {
                    return Some(stop(
                        StopReason::CostBudget,
                        ErrorCode::CostBudget,
                        format!(
                            "the run stopped: its cost is no longer known (a model call's usage was not reported, or was billed at long-context rates), so `{}` cannot be kept",
                            OptionKey::MaxCostUsd
                        ),
                    ))
                }
            }
        }
        if let Some(max) = self.max_tokens {
            let tokens = spend.tokens();
            if tokens >= max {
                return Some(stop(
                    StopReason::TokenBudget,
                    ErrorCode::TokenBudget,
                    format!(
                        "the run stopped after a step that brought its tokens to {tokens}, reaching `{}` ({max})",
                        OptionKey::MaxTokens
                    ),
                ));
            }
        }
        if let Some(max) = self.max_duration {
            let elapsed = started.elapsed();
            if elapsed >= max {
                return Some(stop(
                    StopReason::TimeBudget,
                    ErrorCode::TimeBudget,
                    format!(
                        "the run stopped after a step that ended {} ms into it, reaching `{}` ({} ms)",
                        elapsed.as_millis(),
                        OptionKey::MaxDurationMs,
                        max.as_millis()
                    ),
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use harnext_protocol::Usage;

    use super::*;
    use crate::pricing::price_of;

    fn spend(tokens: u64, usd: Option<f64>) -> Spend {
        let price = price_of("anthropic/claude-sonnet-4-5").unwrap();
        let mut s = Spend::new(Some(&price));
        s.add(
            Usage {
                input_tokens: tokens,
                ..Usage::default()
            },
            usd,
        );
        s
    }

    fn reason(e: Option<(StopReason, HarnextError)>) -> Option<StopReason> {
        e.map(|e| e.0)
    }

    #[test]
    fn each_budget_stops_at_its_limit_with_its_own_reason() {
        let now = Instant::now();
        let cost = Budget {
            max_cost_usd: Some(1.0),
            ..Budget::default()
        };
        assert_eq!(reason(cost.exceeded(&spend(0, Some(0.99)), now)), None);
        assert_eq!(
            reason(cost.exceeded(&spend(0, Some(1.0)), now)),
            Some(StopReason::CostBudget)
        );
        // A cost that became unknown cannot be kept under the budget: the run stops.
        let (reason_, error) = cost.exceeded(&spend(0, None), now).unwrap();
        assert_eq!(reason_, StopReason::CostBudget);
        assert!(error.message.contains("no longer known"));
        let tokens = Budget {
            max_tokens: Some(100),
            ..Budget::default()
        };
        assert_eq!(reason(tokens.exceeded(&spend(99, Some(0.0)), now)), None);
        let (reason_, error) = tokens.exceeded(&spend(100, Some(0.0)), now).unwrap();
        assert_eq!(reason_, StopReason::TokenBudget);
        assert_eq!(error.code, ErrorCode::TokenBudget);
        let time = Budget {
            max_duration: Some(Duration::from_millis(50)),
            ..Budget::default()
        };
        assert_eq!(reason(time.exceeded(&spend(0, None), now)), None);
        let long_ago = now.checked_sub(Duration::from_millis(60)).unwrap();
        assert_eq!(
            reason(time.exceeded(&spend(0, None), long_ago)),
            Some(StopReason::TimeBudget)
        );
        assert_eq!(
            reason(Budget::default().exceeded(&spend(u64::MAX, None), long_ago)),
            None
        );
    }

    #[test]
    fn a_run_budget_overrides_the_agents_field_by_field_and_bad_costs_are_named() {
        let agent = Budget {
            max_cost_usd: Some(2.0),
            max_tokens: Some(10),
            max_duration: None,
        };
        let run = Budget {
            max_tokens: Some(5),
            ..Budget::default()
        };
        assert_eq!(
            run.or(agent),
            Budget {
                max_cost_usd: Some(2.0),
                max_tokens: Some(5),
                max_duration: None
            }
        );
        assert!(agent.problem(true, "m").is_none());
        let (key, m) = agent.problem(false, "openai-chat/llama").unwrap();
        assert_eq!(key, OptionKey::MaxCostUsd);
        assert!(m.contains("openai-chat/llama"), "{m}");
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let b = Budget {
                max_cost_usd: Some(bad),
                ..Budget::default()
            };
            assert!(
                b.problem(true, "m").unwrap().1.contains("positive"),
                "{bad}"
            );
        }
    }
}
