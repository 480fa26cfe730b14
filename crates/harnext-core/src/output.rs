//! Structured output: the final answer of a run, validated against a schema.
//!
//! The schema constrains only the final answer, never a tool step. Providers give the
//! answer either as the input of a `final_answer` tool call or as JSON reply text (see
//! [`StructuredOutputMode`]). Each answer is checked (JSON Schema in Rust, then the
//! binding's own validator, e.g. a Standard Schema in JS); when it fails, the model is told
//! the exact issues and tries again, a bounded number of times. A run never succeeds
//! without a valid answer.
//!
//! The loop hands this module the two moments an answer can come: a turn that ended
//! without tool calls (`OutputState::turn_ended`) and the model's `final_answer` calls
//! (`OutputState::final_answers`).

use std::sync::Arc;

use futures::future::BoxFuture;
use harnext_protocol::ContentBlock;
use harnext_protocol::ErrorCode;
use harnext_protocol::HarnextError;
use harnext_protocol::ToolStatus;
use harnext_providers::schema::relax_output;
use harnext_providers::OutputSpec;
use harnext_providers::StructuredOutputMode;
use harnext_providers::FINAL_ANSWER_TOOL;
use serde_json::Value;

use crate::schema::SchemaValidator;

/// Extra validation supplied by a binding (for instance a Standard Schema checked in JS).
/// Returns the (possibly transformed) value, or the issues.
pub trait OutputValidator: Send + Sync {
    fn validate(&self, value: Value) -> BoxFuture<'static, Result<Value, Vec<String>>>;
}

/// Structured output asked for by a run.
#[derive(Clone)]
pub struct OutputRequest {
    /// The JSON Schema the answer must match.
    pub schema: Value,
    pub validator: Option<Arc<dyn OutputValidator>>,
    /// How many times the model may try again after an invalid answer.
    pub max_retries: u32,
}

pub const DEFAULT_OUTPUT_RETRIES: u32 = 2;

pub(crate) struct OutputState {
    request: OutputRequest,
    json: SchemaValidator,
    /// Failed answers so far.
    failures: u32,
    /// The model ended a turn without an answer: require one now.
    force: bool,
    last_issues: Vec<String>,
}

/// What an answer the model gave means for the run.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// A valid answer: the run ends with it.
    Accepted(Value),
    /// No valid answer yet: the model is told this and tries again.
    Retry(String),
    /// The retries are used up: the run ends with this error.
    Failed(HarnextError),
}

/// The results of the model's `final_answer` calls, and what they mean for the run.
pub(crate) struct FinalAnswers {
    /// One result per call handled, in order.
    pub results: Vec<ContentBlock>,
    /// The accepted answer, or the error, when the run ends; `None` when it goes on.
    pub ending: Option<Result<Value, HarnextError>>,
}

impl OutputState {
    pub fn new(request: OutputRequest) -> Result<OutputState, String> {
        if !request.schema.is_object() {
            return Err("expected a JSON Schema object".into());
        }
        let json = SchemaValidator::new(&request.schema).map_err(|e| e.to_string())?;
        Ok(OutputState {
            request,
            json,
            failures: 0,
            force: false,
            last_issues: Vec::new(),
        })
    }

    pub fn spec(&self) -> OutputSpec {
        OutputSpec {
            schema: self.request.schema.clone(),
            force: self.force,
        }
    }

    /// Checks an answer: strict-mode nulls relaxed, then JSON Schema, then the binding's
    /// validator.
    pub async fn check(&self, candidate: Value) -> Result<Value, Vec<String>> {
        let candidate = relax_output(&self.request.schema, candidate);
        let issues = self.json.issues(&candidate);
        if !issues.is_empty() {
            return Err(issues);
        }
        match &self.request.validator {
            Some(v) => v.validate(candidate).await,
            None => Ok(candidate),
        }
    }

    /// Records a failed answer; `false` once the retries are used up.
    fn failed(&mut self, issues: Vec<String>) -> bool {
        self.failures += 1;
        self.last_issues = issues;
        self.failures <= self.request.max_retries
    }

    /// A failed answer: the model tries again with `retry`, unless the retries are used up.
    fn reject(&mut self, issues: Vec<String>, retry: String) -> Verdict {
        if self.failed(issues) {
            return Verdict::Retry(retry);
        }
        Verdict::Failed(HarnextError::new(
            ErrorCode::OutputInvalid,
            format!(
                "the final answer did not match the output schema after {} attempt(s): {}",
                self.failures,
                self.last_issues.join("; ")
            ),
        ))
    }

    /// The model ended its turn without calling a tool: with a provider that answers in
    /// text, `text` is the answer; otherwise it must now call the final-answer tool.
    pub async fn turn_ended(&mut self, mode: StructuredOutputMode, text: &str) -> Verdict {
        match mode {
            StructuredOutputMode::JsonText => {
                let checked = match parse_answer_text(text) {
                    Ok(v) => self.check(v).await,
                    Err(e) => Err(vec![e]),
                };
                match checked {
                    Ok(v) => Verdict::Accepted(v),
                    Err(issues) => {
                        let retry = format!(
                            "Your answer does not match the required JSON Schema:\n- {}\nReply again with only the corrected JSON.",
                            issues.join("\n- ")
                        );
                        self.reject(issues, retry)
                    }
                }
            }
            StructuredOutputMode::FinalAnswerTool => {
                let issue =
                    format!("the model ended its turn without calling `{FINAL_ANSWER_TOOL}`");
                let retry =
                    format!("Give your final answer now by calling `{FINAL_ANSWER_TOOL}` with it.");
                let verdict = self.reject(vec![issue], retry);
                if matches!(verdict, Verdict::Retry(_)) {
                    self.force = true;
                }
                verdict
            }
        }
    }

    /// Checks the `final_answer` calls (`(call id, answer)`) in order: the first valid
    /// answer is accepted, those after it are ignored; an invalid one is reported to the
    /// model, and ends the run once the retries are used up.
    pub async fn final_answers(&mut self, calls: Vec<(String, Value)>) -> FinalAnswers {
        let mut results = Vec::with_capacity(calls.len());
        let mut accepted = None;
        for (id, answer) in calls {
            let (status, content) = if accepted.is_some() {
                (
                    ToolStatus::Error,
                    "Ignored: a final answer was already accepted.".to_owned(),
                )
            } else {
                match self.check(answer).await {
                    Ok(v) => {
                        accepted = Some(v);
                        (ToolStatus::Ok, "Final answer accepted.".to_owned())
                    }
                    Err(issues) => {
                        let text = format!(
                            "The answer does not match the required JSON Schema:\n- {}\nCall `{FINAL_ANSWER_TOOL}` again with a corrected answer.",
                            issues.join("\n- ")
                        );
                        if let Verdict::Failed(e) = self.reject(issues, String::new()) {
                            results.push(ContentBlock::ToolResult {
                                tool_use_id: id,
                                content: text,
                                status: ToolStatus::Error,
                            });
                            return FinalAnswers {
                                results,
                                ending: Some(Err(e)),
                            };
                        }
                        (ToolStatus::Error, text)
                    }
                }
            };
            self.force = false;
            results.push(ContentBlock::ToolResult {
                tool_use_id: id,
                content,
                status,
            });
        }
        FinalAnswers {
            results,
            ending: accepted.map(Ok),
        }
    }
}

/// The JSON value in a reply text: the whole text, or the content of a ```json fence, or
/// the outermost `{...}` / `[...]`.
pub(crate) fn parse_answer_text(text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("the reply was empty; reply with the JSON answer only".into());
    }
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        return Ok(v);
    }
    if let Some(start) = trimmed.find("```") {
        let after = &trimmed[start + 3..];
        let body = after.strip_prefix("json").unwrap_or(after);
        if let Some(end) = body.find("```") {
            if let Ok(v) = serde_json::from_str::<Value>(body[..end].trim()) {
                return Ok(v);
            }
        }
    }
    for (open, close) in [('{', '}'), ('[', ']')] {
        if let (Some(a), Some(b)) = (trimmed.find(open), trimmed.rfind(close)) {
            if a < b {
                if let Ok(v) = serde_json::from_str::<Value>(&trimmed[a..=b]) {
                    return Ok(v);
                }
            }
        }
    }
    let e = serde_json::from_str::<Value>(trimmed)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    Err(format!(
        "the reply is not JSON ({e}); reply with the JSON answer only"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_found_in_plain_fenced_or_surrounded_json() {
        assert_eq!(parse_answer_text(" {\"a\":1} ").unwrap(), json!({"a": 1}));
        assert_eq!(
            parse_answer_text("Here:\n```json\n{\"a\": 2}\n```").unwrap(),
            json!({"a": 2})
        );
        assert_eq!(
            parse_answer_text("The answer is {\"a\": 3}.").unwrap(),
            json!({"a": 3})
        );
        assert!(parse_answer_text("no json here")
            .unwrap_err()
            .contains("not JSON"));
        assert!(parse_answer_text("  ").is_err());
    }

    #[tokio::test]
    async fn check_relaxes_strict_nulls_then_validates_and_counts_failures() {
        let mut s = OutputState::new(OutputRequest {
            schema: json!({"type": "object", "properties": {"risk": {"enum": ["low", "high"]}, "note": {"type": "string"}}, "required": ["risk"]}),
            validator: None,
            max_retries: 1,
        })
        .unwrap();
        assert_eq!(
            s.check(json!({"risk": "low", "note": null})).await.unwrap(),
            json!({"risk": "low"})
        );
        let issues = s.check(json!({"risk": "medium"})).await.unwrap_err();
        assert!(issues[0].contains("/risk"), "{issues:?}");
        assert!(s.failed(issues.clone()));
        assert!(!s.failed(issues));
        assert!(OutputState::new(OutputRequest {
            schema: json!("x"),
            validator: None,
            max_retries: 0
        })
        .is_err());
    }
}
