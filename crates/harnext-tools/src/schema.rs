//! A tool's JSON Schema, derived from its argument type with `schemars`, in the plain
//! form the tools always gave the model: subschemas inlined, an optional field typed as
//! its value (it may be left out, not sent as `null`), and no `$schema`, `title` or
//! `format` keys (the model has no use for them).

use schemars::JsonSchema;
use serde_json::Map;
use serde_json::Value;

/// The input schema of a tool whose arguments deserialize into `T`.
pub(crate) fn schema_for<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let mut value = generator.into_root_schema_for::<T>().to_value();
    plain(&mut value);
    value
}

/// Rewrites a generated schema into the plain form, recursively.
fn plain(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in ["$schema", "title", "format"] {
                map.remove(key);
            }
            not_null(map);
            map.values_mut().for_each(plain);
        }
        Value::Array(items) => items.iter_mut().for_each(plain),
        _ => {}
    }
}

/// `Option<T>`'s schema is `T`'s: `"type": ["integer", "null"]` becomes
/// `"type": "integer"`, `null` leaves an `enum`'s values, and `anyOf: [T, {"type": "null"}]` becomes `T` (with the
/// field's own keys, such as its description, kept).
fn not_null(map: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = map.get("type") {
        let rest: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        if rest.len() == 1 && rest.len() < types.len() {
            map.insert(
                "type".to_owned(),
                rest.into_iter().next().unwrap_or_default(),
            );
        }
    }
    if let Some(Value::Array(any_of)) = map.get("anyOf") {
        let is_null = |s: &Value| s.get("type").and_then(Value::as_str) == Some("null");
        let rest: Vec<&Value> = any_of.iter().filter(|s| !is_null(s)).collect();
        if rest.len() == 1 && rest.len() < any_of.len() {
            if let Some(Value::Object(inner)) = rest.first().map(|v| (*v).clone()) {
                map.remove("anyOf");
                for (k, v) in inner {
                    map.entry(k).or_insert(v);
                }
            }
        }
    }
    // `Option<Enum>`: the enum's values, without the `null` the option added.
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    // A null default tells the model nothing.
    if map.get("default") == Some(&Value::Null) {
        map.remove("default");
    }
}
