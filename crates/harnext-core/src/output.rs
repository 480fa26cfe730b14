//! Structured output: the final answer of a run, validated against a schema.
//!
//! The schema constrains only the final answer, never a tool step. Providers give the
//! answer either as the input of a `final_answer` tool call or as JSON reply text (see
//! [`StructuredOutputMode`]). Each answer is checked (JSON Schema in Rust, then the
//! binding's own validator, e.g. a Standard Schema in JS); when it fails, the model is told
//! the exact issues and tries again, a bounded number of times. A run never succeeds
//! without a valid answer.

use std::sync::Arc;

use futures::future::BoxFuture;
use harnext_providers::schema::relax_output;
use harnext_providers::OutputSpec;
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
    pub failures: u32,
    /// The model ended a turn without an answer: require one now.
    pub force: bool,
    pub last_issues: Vec<String>,
}

impl OutputState {
    pub fn new(request: OutputRequest) -> Result<OutputState, String> {
        if !request.schema.is_object() {
            return Err("outputSchema must be a JSON Schema object".into());
        }
        let json =
            SchemaValidator::new(&request.schema).map_err(|e| format!("outputSchema: {e}"))?;
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
    pub fn failed(&mut self, issues: Vec<String>) -> bool {
        self.failures += 1;
        self.last_issues = issues;
        self.failures <= self.request.max_retries
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
