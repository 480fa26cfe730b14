//! Stream variants of the servers that leave things out: no usage at all
//! ([`TurnResponse::no_usage`](crate::TurnResponse::no_usage)).

use serde_json::Value;

/// `frames` without any usage: `usage` removed from Anthropic's `message_start` and
/// `message_delta`, set to null in the Responses `response` objects, and the Chat
/// `include_usage` chunk (empty `choices`) dropped.
pub(crate) fn without_usage(frames: Vec<String>) -> Vec<String> {
    frames
        .into_iter()
        .filter_map(|frame| {
            let mut out = String::with_capacity(frame.len());
            for line in frame.split_inclusive('\n') {
                let Some(data) = line.strip_prefix("data: ") else {
                    out.push_str(line);
                    continue;
                };
                let Ok(mut v) = serde_json::from_str::<Value>(data.trim()) else {
                    out.push_str(line);
                    continue;
                };
                let usage_chunk = v
                    .get("choices")
                    .and_then(Value::as_array)
                    .is_some_and(Vec::is_empty)
                    && v.get("usage").is_some_and(Value::is_object);
                if usage_chunk {
                    return None;
                }
                if let Some(o) = v.as_object_mut() {
                    o.remove("usage");
                    for key in ["message", "response"] {
                        if let Some(inner) = o.get_mut(key).and_then(Value::as_object_mut) {
                            if key == "response" {
                                inner.insert("usage".into(), Value::Null);
                            } else {
                                inner.remove("usage");
                            }
                        }
                    }
                }
                out.push_str("data: ");
                out.push_str(&v.to_string());
                out.push('\n');
            }
            Some(out)
        })
        .collect()
}
