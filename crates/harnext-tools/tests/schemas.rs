//! The JSON Schemas the model sees for the built-in tools. They are derived from the
//! tools' argument types (`schemars`); `schemas.json` holds the hand-written schemas
//! they replaced, so this test proves the model sees the same schemas, descriptions
//! and bounds included (`required` compared as the set it is).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

/// `required` is a set: sorted, so that order does not count.
fn normalize(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(required)) = map.get_mut("required") {
                required.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
            map.values_mut().for_each(normalize);
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

#[test]
fn every_builtin_schema_is_the_one_the_model_saw_before_the_derivation() {
    let mut expected: serde_json::Map<String, Value> =
        serde_json::from_str(include_str!("schemas.json")).unwrap();
    let names: Vec<&str> = expected.keys().map(String::as_str).collect();
    let mut builtin = harnext_tools::BUILTIN_TOOL_NAMES.to_vec();
    builtin.extend(harnext_tools::BASH_COMPANION_NAMES);
    builtin.sort_unstable();
    assert_eq!(names, builtin);
    let companions = harnext_tools::companion_tools("bash");
    let names: Vec<&str> = companions.iter().map(|t| t.name()).collect();
    assert_eq!(names, harnext_tools::BASH_COMPANION_NAMES);
    for name in builtin {
        let tool = harnext_tools::builtin_tool(name)
            .or_else(|| companions.iter().find(|t| t.name() == name).cloned())
            .unwrap();
        let mut schema = tool.input_schema();
        normalize(&mut schema);
        let want = expected.get_mut(name).unwrap();
        normalize(want);
        assert_eq!(
            &schema,
            want,
            "{name}: derived\n{}\nbefore\n{}",
            serde_json::to_string_pretty(&schema).unwrap(),
            serde_json::to_string_pretty(want).unwrap()
        );
    }
}

#[test]
fn the_bash_schema_follows_the_configured_timeouts() {
    let tool = harnext_tools::BashTool {
        default_timeout: std::time::Duration::from_secs(5),
        max_timeout: std::time::Duration::from_secs(30),
    };
    let schema = harnext_tools::Tool::input_schema(&tool);
    assert_eq!(schema["properties"]["timeout_ms"]["maximum"], 30_000);
    assert_eq!(
        schema["properties"]["timeout_ms"]["description"],
        "Kill the command after this many milliseconds. Default 5000, at most 30000."
    );
}
