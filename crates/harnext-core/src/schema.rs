//! JSON Schema validation (the `jsonschema` crate) for tool arguments and structured
//! output, with issues phrased for a model or a user to act on.

use serde_json::Value;

pub struct SchemaValidator {
    inner: jsonschema::Validator,
}

impl SchemaValidator {
    /// Compiles `schema`; an invalid schema is an error naming what is wrong.
    pub fn new(schema: &Value) -> Result<SchemaValidator, String> {
        jsonschema::validator_for(schema)
            .map(|inner| SchemaValidator { inner })
            .map_err(|e| format!("invalid JSON Schema: {e}"))
    }

    /// The issues of `value`, each with its location (`/path/to/field: message`); empty
    /// when it is valid.
    pub fn issues(&self, value: &Value) -> Vec<String> {
        self.inner
            .iter_errors(value)
            .map(|e| {
                let path = e.instance_path().to_string();
                if path.is_empty() {
                    e.to_string()
                } else {
                    format!("{path}: {e}")
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_each_issue_with_its_path_and_rejects_bad_schemas() {
        let v = SchemaValidator::new(&json!({
            "type": "object",
            "properties": { "city": { "type": "string" }, "days": { "type": "integer", "minimum": 1 } },
            "required": ["city"],
            "additionalProperties": false
        }))
        .unwrap();
        assert!(v.issues(&json!({"city": "Oslo", "days": 2})).is_empty());
        let issues = v.issues(&json!({"days": 0, "x": 1}));
        assert_eq!(issues.len(), 3, "{issues:?}");
        assert!(issues.iter().any(|i| i.starts_with("/days:")), "{issues:?}");
        assert!(issues.iter().any(|i| i.contains("city")), "{issues:?}");
        assert!(SchemaValidator::new(&json!({"type": 12})).is_err());
    }
}
