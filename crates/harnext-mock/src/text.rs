//! Hand-written JSON and SSE text shared by the renderers of the three wire formats.

use serde::Serialize;
use serde_json::Value;

/// A JSON string literal.
pub(crate) fn js(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// One SSE frame: `event: NAME\ndata: JSON\n\n`.
pub(crate) fn frame(event: &str, data: &str) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

pub(crate) fn random_id(prefix: &str, len: usize) -> String {
    let tail: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(len)
        .collect();
    format!("{prefix}{tail}")
}

/// JSON with `": "` and `", "` separators, as the real API streams tool inputs
/// (`{"location": "San Francisco, CA", "units": "f"}`).
struct SpacedFormatter;

impl serde_json::ser::Formatter for SpacedFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

pub(crate) fn spaced_json(value: &Value) -> String {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, SpacedFormatter);
    match value.serialize(&mut ser) {
        Ok(()) => String::from_utf8(buf).unwrap_or_else(|_| value.to_string()),
        Err(_) => value.to_string(),
    }
}

/// Splits `s` into fragments of about 8 bytes, on char boundaries.
pub(crate) fn fragments(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < s.len() {
        let mut end = (start + fastrand::usize(2..=12)).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        out.push(&s[start..end]);
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fragments_concatenate_on_char_boundaries() {
        let args = json!({"path": "é/ü/日本語.txt", "n": [1, 2], "ok": true});
        let text = spaced_json(&args);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), args);
        assert_eq!(
            spaced_json(&json!({"path": "é/日本語.txt"})),
            r#"{"path": "é/日本語.txt"}"#
        );
        assert_eq!(spaced_json(&json!([1, {"a": null}])), r#"[1, {"a": null}]"#);
        for _ in 0..100 {
            let parts = fragments(&text);
            assert_eq!(parts.concat(), text);
            assert!(parts.iter().all(|p| !p.is_empty() && p.len() <= 15));
        }
    }
}
