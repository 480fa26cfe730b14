use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

use crate::Usage;

/// One model turn, as replayed by the scripted model and rendered by the mock servers.
///
/// The same JSON shape (camelCase) serves `new Agent({ model: "scripted", script })`
/// and the mock provider's scripts, so a test can move between the two unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScriptedTurn {
    /// Reasoning streamed before the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    /// The reply text, streamed in chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Tool calls made after the text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ScriptedToolCall>,
    /// Token usage reported for the turn (zero when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<ScriptedUsage>,
    /// Milliseconds to wait before each streamed chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScriptedToolCall {
    /// The call id; generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    #[serde(default = "empty_object")]
    pub args: Value,
}

/// [`Usage`] with camelCase names, as users write it in scripts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScriptedUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_tokens: u64,
    #[serde(default)]
    pub cache_write_tokens: u64,
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl From<ScriptedUsage> for Usage {
    fn from(u: ScriptedUsage) -> Usage {
        Usage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cache_read_tokens: u.cache_read_tokens,
            cache_write_tokens: u.cache_write_tokens,
            reasoning_tokens: u.reasoning_tokens,
            unreported: false,
            web_search_requests: 0,
        }
    }
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

impl ScriptedTurn {
    /// Splits `text` into the chunks a streaming model would send: words with their
    /// trailing whitespace, so that the chunks concatenate back to the text exactly.
    pub fn chunks(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut seen_space = false;
        for (i, c) in text.char_indices() {
            if c.is_whitespace() {
                seen_space = true;
            } else if seen_space {
                out.push(&text[start..i]);
                start = i;
                seen_space = false;
            }
        }
        if start < text.len() {
            out.push(&text[start..]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_concatenate_back_to_the_text() {
        for text in [
            "",
            "one",
            "Hello, world! ",
            "  lead and  double  ",
            "é ü\nnext",
        ] {
            let chunks = ScriptedTurn::chunks(text);
            assert_eq!(chunks.concat(), text);
            assert!(chunks.iter().all(|c| !c.is_empty()));
        }
        assert_eq!(ScriptedTurn::chunks("a b c"), vec!["a ", "b ", "c"]);
    }

    #[test]
    fn turns_parse_from_camel_case_and_reject_unknown_fields() {
        let turn: ScriptedTurn = serde_json::from_value(serde_json::json!({
            "text": "hi",
            "toolCalls": [{ "name": "bash", "args": { "command": "ls" } }],
            "usage": { "inputTokens": 3, "outputTokens": 4 }
        }))
        .unwrap();
        assert_eq!(turn.tool_calls[0].name, "bash");
        assert_eq!(turn.usage.unwrap().output_tokens, 4);
        let err = serde_json::from_value::<ScriptedTurn>(serde_json::json!({ "txt": "hi" }))
            .unwrap_err()
            .to_string();
        assert!(err.contains("txt"), "{err}");
    }
}
