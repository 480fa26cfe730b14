//! JSON Schema adjustments for providers' structured-output modes.
//!
//! OpenAI's strict mode accepts a subset of JSON Schema: every object lists all its
//! properties as required and sets `additionalProperties: false`; an optional property
//! is expressed as required-but-nullable. [`strict_schema`] rewrites a schema that way, and
//! [`relax_output`] reverses it on the answer (a `null` for a property the original
//! schema made optional, and does not allow to be null, is removed), so the answer is
//! validated against the schema the user wrote.

use serde_json::Map;
use serde_json::Value;

/// The strict-mode form of `schema`.
pub fn strict_schema(schema: &Value) -> Value {
    let mut out = schema.clone();
    if let Value::Object(o) = &mut out {
        o.remove("$schema");
    }
    strictify(&mut out);
    out
}

fn strictify(schema: &mut Value) {
    let Value::Object(o) = schema else {
        return;
    };
    if o.get("properties").is_some_and(Value::is_object) {
        let required: Vec<String> = match o.get("required") {
            Some(Value::Array(r)) => r
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        let Some(Value::Object(props)) = o.get_mut("properties") else {
            return;
        };
        let names: Vec<String> = props.keys().cloned().collect();
        for (name, prop) in props.iter_mut() {
            strictify(prop);
            if !required.contains(name) && !allows_null(prop) {
                *prop = nullable(std::mem::take(prop));
            }
        }
        o.insert(
            "required".into(),
            Value::Array(names.into_iter().map(Value::String).collect()),
        );
        o.insert("additionalProperties".into(), Value::Bool(false));
    } else if o.get("type").and_then(Value::as_str) == Some("object")
        && !o.contains_key("additionalProperties")
    {
        o.insert("properties".into(), Value::Object(Map::new()));
        o.insert("required".into(), Value::Array(Vec::new()));
        o.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(items) = o.get_mut("items") {
        strictify(items);
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(list)) = o.get_mut(key) {
            list.iter_mut().for_each(strictify);
        }
    }
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(defs)) = o.get_mut(key) {
            defs.values_mut().for_each(strictify);
        }
    }
}

fn nullable(prop: Value) -> Value {
    match prop {
        Value::Object(mut o) => match o.get("type").cloned() {
            Some(Value::String(t)) => {
                o.insert(
                    "type".into(),
                    Value::Array(vec![Value::String(t), Value::String("null".into())]),
                );
                if let Some(Value::Array(e)) = o.get_mut("enum") {
                    e.push(Value::Null);
                }
                Value::Object(o)
            }
            Some(Value::Array(mut ts)) => {
                ts.push(Value::String("null".into()));
                o.insert("type".into(), Value::Array(ts));
                Value::Object(o)
            }
            _ => serde_json::json!({ "anyOf": [Value::Object(o), { "type": "null" }] }),
        },
        other => serde_json::json!({ "anyOf": [other, { "type": "null" }] }),
    }
}

fn allows_null(schema: &Value) -> bool {
    match schema {
        Value::Bool(b) => *b,
        Value::Object(o) => {
            if o.is_empty() {
                return true;
            }
            match o.get("type") {
                Some(Value::String(t)) if t == "null" => return true,
                Some(Value::Array(ts)) if ts.iter().any(|t| t == "null") => return true,
                _ => {}
            }
            ["anyOf", "oneOf"].iter().any(|k| match o.get(*k) {
                Some(Value::Array(list)) => list.iter().any(allows_null),
                _ => false,
            })
        }
        _ => false,
    }
}

/// Reverses [`strict_schema`] on an answer: drops `null`s the original schema did not
/// allow for optional properties.
pub fn relax_output(schema: &Value, value: Value) -> Value {
    match (schema, value) {
        (Value::Object(s), Value::Object(mut v)) => {
            if let Some(Value::Object(props)) = s.get("properties") {
                let required: Vec<&str> = match s.get("required") {
                    Some(Value::Array(r)) => r.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                let keys: Vec<String> = v.keys().cloned().collect();
                for k in keys {
                    let Some(prop) = props.get(&k) else { continue };
                    if v.get(&k) == Some(&Value::Null)
                        && !required.contains(&k.as_str())
                        && !allows_null(prop)
                    {
                        v.remove(&k);
                    } else if let Some(inner) = v.remove(&k) {
                        v.insert(k, relax_output(prop, inner));
                    }
                }
            }
            Value::Object(v)
        }
        (Value::Object(s), Value::Array(items)) => match s.get("items") {
            Some(item_schema) => Value::Array(
                items
                    .into_iter()
                    .map(|i| relax_output(item_schema, i))
                    .collect(),
            ),
            None => Value::Array(items),
        },
        (_, v) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn review() -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "risk": { "type": "string", "enum": ["low", "high"] },
                "notes": { "type": "string" },
                "files": { "type": "array", "items": { "type": "object", "properties": { "path": { "type": "string" }, "line": { "type": "integer" } }, "required": ["path"] } },
                "maybe": { "type": ["string", "null"] }
            },
            "required": ["risk", "files"]
        })
    }

    #[test]
    fn strict_mode_requires_everything_and_makes_optional_properties_nullable() {
        let s = strict_schema(&review());
        assert!(s.get("$schema").is_none());
        assert_eq!(s["required"], json!(["files", "maybe", "notes", "risk"]));
        assert_eq!(s["additionalProperties"], json!(false));
        assert_eq!(s["properties"]["notes"]["type"], json!(["string", "null"]));
        assert_eq!(s["properties"]["risk"]["type"], json!("string"));
        assert_eq!(
            s["properties"]["maybe"]["type"],
            json!(["string", "null"]),
            "already nullable: unchanged"
        );
        let item = &s["properties"]["files"]["items"];
        assert_eq!(item["required"], json!(["line", "path"]));
        assert_eq!(
            item["properties"]["line"]["type"],
            json!(["integer", "null"])
        );
        assert_eq!(item["additionalProperties"], json!(false));
    }

    #[test]
    fn relaxing_drops_the_nulls_strict_mode_added_and_keeps_real_ones() {
        let answer = json!({ "risk": "low", "notes": null, "maybe": null, "files": [{ "path": "a.rs", "line": null }] });
        assert_eq!(
            relax_output(&review(), answer),
            json!({ "risk": "low", "maybe": null, "files": [{ "path": "a.rs" }] })
        );
    }
}
