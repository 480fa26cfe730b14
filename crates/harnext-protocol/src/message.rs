use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

use crate::ImageSource;
use crate::ToolStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
}

/// One message of a conversation, in harnext's provider-neutral form.
///
/// A session's history is a list of these; each provider converts it to its own wire
/// format, so a conversation started on one provider can continue on another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

impl Message {
    pub fn user_text(text: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: vec![ContentBlock::Text { text: text.into() }],
        }
    }

    pub fn assistant_text(text: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: vec![ContentBlock::Text { text: text.into() }],
        }
    }

    /// The concatenated text blocks of the message.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text { text } => Some(text.as_str()),
                ContentBlock::ProviderBlock { text, .. } => Some(text.as_str()),
                ContentBlock::Thinking { .. }
                | ContentBlock::RedactedThinking { .. }
                | ContentBlock::OpaqueReasoning { .. }
                | ContentBlock::ToolUse { .. }
                | ContentBlock::ToolResult { .. }
                | ContentBlock::Image { .. } => None,
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        text: String,
    },
    /// Model reasoning. `signature` is Anthropic's opaque signature, which must be
    /// sent back unchanged with the block.
    Thinking {
        thinking: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    RedactedThinking {
        data: String,
    },
    /// Reasoning state that only the provider that produced it can read back, kept
    /// verbatim so a stateless conversation can send it again: an OpenAI Responses
    /// `reasoning` item with its `encrypted_content` (`provider: "openai"`). Every
    /// other provider skips the block when it converts the history.
    OpaqueReasoning {
        /// The provider (wire format) that produced it, as in model strings: `openai`.
        provider: String,
        /// The readable part (the reasoning summary), possibly empty.
        #[serde(default)]
        text: String,
        /// The provider's item as received.
        data: Value,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        content: String,
        status: ToolStatus,
    },
    /// An image. In a user message; with `tool_use_id`, it is part of that call's result
    /// (`read_file` of an image) and follows the call's `ToolResult` in the same message.
    /// Each provider converts it to its own wire form (see the README, "Images").
    Image {
        source: ImageSource,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_use_id: Option<String>,
    },
    /// A block of a provider's server-side tool (web search), kept verbatim because the
    /// provider wants it back exactly (encrypted fields included) on the next request:
    /// Anthropic's `server_tool_use` and `web_search_tool_result` blocks and its text
    /// blocks with `citations`; OpenAI Responses' `web_search_call` items and its
    /// assistant `message` items whose text carries `url_citation` annotations. Only
    /// `provider` sends `data` back; every other provider sends `text` (if any) as
    /// plain text and skips the rest.
    ProviderBlock {
        /// The provider (wire format) that produced it, as in model strings:
        /// `anthropic` or `openai`.
        provider: String,
        /// The readable text: the text of a cited text block or message; empty for the
        /// search blocks themselves.
        #[serde(default)]
        text: String,
        /// The provider's block or item as received.
        data: Value,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn blocks_saved_before_opaque_reasoning_existed_still_load_and_the_new_block_round_trips() {
        let old = json!({"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hm", "signature": "sig"},
            {"type": "text", "text": "hi"},
            {"type": "tool_use", "id": "t1", "name": "bash", "input": {}}
        ]});
        let m: Message = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), old);

        let block = ContentBlock::OpaqueReasoning {
            provider: "openai".into(),
            text: "summary".into(),
            data: json!({"type": "reasoning", "id": "rs_1", "encrypted_content": "gAAA"}),
        };
        let v = serde_json::to_value(&block).unwrap();
        assert_eq!(v["type"], "opaque_reasoning");
        assert_eq!(serde_json::from_value::<ContentBlock>(v).unwrap(), block);
        let m = Message {
            role: Role::Assistant,
            content: vec![block, ContentBlock::Text { text: "x".into() }],
        };
        assert_eq!(m.text(), "x");
    }
}
