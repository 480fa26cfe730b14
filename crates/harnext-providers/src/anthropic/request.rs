//! The body of a streamed Messages request, serialised straight from the history.
//!
//! The history is converted to borrowed views ([`WireBlock`], [`WireMessage`]) that
//! point into the request's own strings and JSON values, and serde writes them to the
//! body: no `serde_json::Value` tree of the whole conversation is built and no string of
//! it is copied (with many agents running, building that tree for every request was
//! about a fifth of the CPU in `malloc`/`free`, see bench/README.md).
//!
//! The bytes are those a `Value` of the same body would print: every object's keys
//! come in sorted order (the structs below declare their fields alphabetically), so
//! [`request_body`], the same body as a `Value`, prints to the same text; a test checks
//! both against the former `Value`-built body on a rich history.
//!
//! A new kind of block is a [`WireBlock`] variant, made in [`wire_block`] and written
//! in `Cached`'s `Serialize`; a provider's own block kept verbatim (web search) is
//! [`WireBlock::Verbatim`].

use std::borrow::Cow;

use harnext_protocol::ContentBlock;
use harnext_protocol::ImageSource;
use harnext_protocol::Message;
use harnext_protocol::Role;
use serde::ser::SerializeMap;
use serde::ser::SerializeSeq;
use serde::Serialize;
use serde::Serializer;
use serde_json::Value;

use super::web_search;
use super::PROVIDER;
use crate::ModelRequest;
use crate::FINAL_ANSWER_TOOL;

/// What the final-answer tool tells the model.
const FINAL_ANSWER_DESCRIPTION: &str = "Give your final answer to the user's task. Call this exactly once, when the task is done, with the answer in the required shape; do not write the answer as text.";

/// Default `max_tokens` by model family: the request must name one, and older models
/// reject values above their limit.
fn default_max_tokens(model: &str) -> u32 {
    if model.starts_with("claude-3-haiku")
        || model.starts_with("claude-3-opus")
        || model.starts_with("claude-3-sonnet")
    {
        4096
    } else if model.starts_with("claude-3-5") {
        8192
    } else {
        16384
    }
}

/// The JSON body of a streamed Messages request, as a `Value` (for tests and callers
/// that want to look at it; the provider sends [`body_bytes`]).
pub fn request_body(req: &ModelRequest) -> Value {
    serde_json::to_value(Body::new(req)).unwrap_or_default()
}

/// The JSON text of the body, the bytes the provider sends.
pub(crate) fn body_bytes(req: &ModelRequest) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Body::new(req))
}

/// `{"type": "ephemeral"}`
#[derive(Serialize, Clone, Copy)]
struct CacheControl {
    r#type: &'static str,
}

const EPHEMERAL: CacheControl = CacheControl {
    r#type: "ephemeral",
};

/// The request's top level. Fields in alphabetical order (see the module's note).
#[derive(Serialize)]
struct Body<'a> {
    max_tokens: u32,
    messages: Vec<WireMessage<'a>>,
    model: &'a str,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<[SystemText<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Thinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<ToolChoice>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolOut<'a>>,
}

/// A tool entry: a function tool, or a server tool's entry (web search) as built.
#[derive(Serialize)]
#[serde(untagged)]
enum ToolOut<'a> {
    Function(WireTool<'a>),
    Server(Value),
}

#[derive(Serialize)]
struct SystemText<'a> {
    cache_control: CacheControl,
    text: &'a str,
    r#type: &'static str,
}

#[derive(Serialize)]
struct Thinking {
    budget_tokens: u32,
    r#type: &'static str,
}

#[derive(Serialize)]
struct ToolChoice {
    name: &'static str,
    r#type: &'static str,
}

#[derive(Serialize)]
struct WireTool<'a> {
    description: &'a str,
    input_schema: &'a Value,
    name: &'a str,
}

impl<'a> Body<'a> {
    fn new(req: &'a ModelRequest) -> Body<'a> {
        let mut max_tokens = req
            .max_output_tokens
            .unwrap_or_else(|| default_max_tokens(&req.model));
        let mut thinking = req.thinking_budget.map(|budget| {
            // The budget must be below max_tokens.
            if max_tokens <= budget {
                max_tokens = budget.saturating_add(4096);
            }
            Thinking {
                budget_tokens: budget,
                r#type: "enabled",
            }
        });
        let mut tools: Vec<ToolOut<'a>> = req
            .tools
            .iter()
            .map(|t| {
                ToolOut::Function(WireTool {
                    description: &t.description,
                    input_schema: &t.input_schema,
                    name: &t.name,
                })
            })
            .collect();
        let mut tool_choice = None;
        if let Some(output) = &req.output {
            // Structured output through a final-answer tool: the schema constrains only
            // the answer, and the model keeps its other tools.
            tools.push(ToolOut::Function(WireTool {
                description: FINAL_ANSWER_DESCRIPTION,
                input_schema: &output.schema,
                name: FINAL_ANSWER_TOOL,
            }));
            if output.force {
                tool_choice = Some(ToolChoice {
                    name: FINAL_ANSWER_TOOL,
                    r#type: "tool",
                });
                // Extended thinking cannot be combined with a forced tool choice.
                thinking = None;
            }
        }
        if let Some(search) = &req.web_search {
            tools.push(ToolOut::Server(web_search::tool(search)));
        }
        Body {
            max_tokens,
            messages: wire_messages(&req.messages),
            model: &req.model,
            stream: true,
            system: (!req.system.is_empty()).then_some([SystemText {
                cache_control: EPHEMERAL,
                text: &req.system,
                r#type: "text",
            }]),
            temperature: req.temperature,
            thinking,
            tool_choice,
            tools,
        }
    }
}

/// Anthropic requires tool ids matching `^[a-zA-Z0-9_-]+$`; ids minted by other
/// providers may not.
fn wire_tool_id(id: &str) -> Cow<'_, str> {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if id.chars().all(valid) {
        return Cow::Borrowed(id);
    }
    Cow::Owned(id.chars().map(|c| if valid(c) { c } else { '_' }).collect())
}

/// One content block of the request, borrowing from the history.
enum WireBlock<'a> {
    Text(&'a str),
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking(&'a str),
    ToolUse {
        id: Cow<'a, str>,
        name: &'a str,
        input: &'a Value,
    },
    /// A tool's result, with the images the call returned (sent in its content).
    ToolResult {
        id: Cow<'a, str>,
        content: &'a str,
        is_error: bool,
        images: Vec<&'a ImageSource>,
    },
    Image(&'a ImageSource),
    /// A block of ours kept verbatim (web search), sent back as received.
    Verbatim(&'a Value),
}

fn wire_block(block: &ContentBlock) -> Option<WireBlock<'_>> {
    match block {
        ContentBlock::Text { text } if text.trim().is_empty() => None,
        ContentBlock::Text { text } => Some(WireBlock::Text(text)),
        ContentBlock::Thinking {
            thinking,
            signature: Some(signature),
        } => Some(WireBlock::Thinking {
            thinking,
            signature,
        }),
        // Reasoning without Anthropic's signature (from another provider, or the scripted
        // model) cannot be sent back; the API would reject it.
        ContentBlock::Thinking {
            signature: None, ..
        } => None,
        ContentBlock::RedactedThinking { data } => Some(WireBlock::RedactedThinking(data)),
        // Another provider's reasoning (OpenAI's encrypted items): only it can read it.
        ContentBlock::OpaqueReasoning { .. } => None,
        ContentBlock::ToolUse { id, name, input } => Some(WireBlock::ToolUse {
            id: wire_tool_id(id),
            name,
            input,
        }),
        ContentBlock::ToolResult {
            tool_use_id,
            content,
            status,
        } => Some(WireBlock::ToolResult {
            id: wire_tool_id(tool_use_id),
            content: if content.is_empty() {
                "(no output)"
            } else {
                content
            },
            is_error: status.is_error(),
            images: Vec::new(),
        }),
        ContentBlock::Image { source, .. } => Some(WireBlock::Image(source)),
        // A kept block: ours as received; another provider's as its text.
        ContentBlock::ProviderBlock {
            provider,
            text,
            data,
        } => {
            if provider == PROVIDER && data.get("type").is_some_and(Value::is_string) {
                Some(WireBlock::Verbatim(data))
            } else {
                (!text.trim().is_empty()).then_some(WireBlock::Text(text))
            }
        }
    }
}

/// Puts each image a tool returned (an `Image` block with `tool_use_id`) into the
/// content of that call's `tool_result` (text first, then the images), which Anthropic
/// allows; the rest of the message is converted block by block.
fn wire_blocks(blocks: &[ContentBlock]) -> Vec<WireBlock<'_>> {
    let mut out: Vec<WireBlock<'_>> = Vec::new();
    for block in blocks {
        if let ContentBlock::Image {
            source,
            tool_use_id: Some(id),
        } = block
        {
            let wire_id = wire_tool_id(id);
            let result = out.iter_mut().rev().find_map(|b| match b {
                WireBlock::ToolResult { id, images, .. } if *id == wire_id => Some(images),
                _ => None,
            });
            if let Some(images) = result {
                images.push(source);
                continue;
            }
        }
        out.extend(wire_block(block));
    }
    out
}

/// One message of the request: its blocks, the last one marked as the cache
/// breakpoint in the last message.
#[derive(Serialize)]
struct WireMessage<'a> {
    content: Content<'a>,
    role: &'static str,
}

struct Content<'a> {
    blocks: Vec<WireBlock<'a>>,
    /// The last block carries `cache_control`.
    cache_last: bool,
}

/// Converts the history, merging consecutive messages of one role (the API wants
/// alternation) and marking the last block as a cache breakpoint.
fn wire_messages(messages: &[Message]) -> Vec<WireMessage<'_>> {
    let mut merged: Vec<(Role, Vec<WireBlock<'_>>)> = Vec::new();
    for m in messages {
        let blocks = wire_blocks(&m.content);
        if blocks.is_empty() {
            continue;
        }
        match merged.last_mut() {
            Some((role, content)) if *role == m.role => {
                // Tool results must lead a user message.
                let (mut results, rest): (Vec<_>, Vec<_>) = content
                    .drain(..)
                    .chain(blocks)
                    .partition(|b| matches!(b, WireBlock::ToolResult { .. }));
                results.extend(rest);
                *content = results;
            }
            _ => merged.push((m.role, blocks)),
        }
    }
    let count = merged.len();
    merged
        .into_iter()
        .enumerate()
        .map(|(i, (role, blocks))| WireMessage {
            content: Content {
                blocks,
                cache_last: i + 1 == count,
            },
            role: match role {
                Role::User => "user",
                Role::Assistant => "assistant",
            },
        })
        .collect()
}

impl Serialize for Content<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.blocks.len()))?;
        let last = self.blocks.len().saturating_sub(1);
        for (i, block) in self.blocks.iter().enumerate() {
            // Not on a block the API wants back exactly.
            let verbatim =
                matches!(block, WireBlock::Verbatim(v) if web_search::is_kept_verbatim(v));
            let cache_control = (self.cache_last && i == last && !verbatim).then_some(EPHEMERAL);
            seq.serialize_element(&Cached {
                block,
                cache_control,
            })?;
        }
        seq.end()
    }
}

/// A block with its optional `cache_control` (which sorts before every other key).
struct Cached<'b, 'a> {
    block: &'b WireBlock<'a>,
    cache_control: Option<CacheControl>,
}

#[derive(Serialize)]
struct TextOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl>,
    text: &'a str,
    r#type: &'static str,
}

#[derive(Serialize)]
struct ThinkingOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl>,
    signature: &'a str,
    thinking: &'a str,
    r#type: &'static str,
}

#[derive(Serialize)]
struct RedactedOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl>,
    data: &'a str,
    r#type: &'static str,
}

#[derive(Serialize)]
struct ToolUseOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl>,
    id: &'a str,
    input: &'a Value,
    name: &'a str,
    r#type: &'static str,
}

#[derive(Serialize)]
struct ToolResultOut<'b, 'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl>,
    content: ResultContent<'b, 'a>,
    is_error: bool,
    tool_use_id: &'b str,
    r#type: &'static str,
}

/// A result's content: its text, or (with images) a list of a text part and the images.
struct ResultContent<'b, 'a> {
    text: &'a str,
    images: &'b [&'a ImageSource],
}

impl Serialize for ResultContent<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.images.is_empty() {
            return serializer.serialize_str(self.text);
        }
        let mut seq = serializer.serialize_seq(Some(self.images.len() + 1))?;
        seq.serialize_element(&TextOut {
            cache_control: None,
            text: self.text,
            r#type: "text",
        })?;
        for image in self.images {
            seq.serialize_element(&ImageOut {
                source: image,
                cache_control: None,
            })?;
        }
        seq.end()
    }
}

/// An image block: `{type:"image", source:{type:"base64", media_type, data}}` or
/// `{type:"image", source:{type:"url", url}}`. A path the engine did not load (never
/// sent by the run loop) becomes a text note rather than a request the API rejects.
struct ImageOut<'a> {
    source: &'a ImageSource,
    cache_control: Option<CacheControl>,
}

#[derive(Serialize)]
struct ImageBlockOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl>,
    source: SourceOut<'a>,
    r#type: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum SourceOut<'a> {
    Base64 {
        data: &'a str,
        media_type: &'a str,
        r#type: &'static str,
    },
    Url {
        r#type: &'static str,
        url: &'a str,
    },
}

impl Serialize for ImageOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let cache_control = self.cache_control;
        let source = match self.source {
            ImageSource::Base64 { media_type, data } => SourceOut::Base64 {
                data,
                media_type,
                r#type: "base64",
            },
            ImageSource::Url { url } => SourceOut::Url { r#type: "url", url },
            ImageSource::Path { path } => {
                return TextOut {
                    cache_control,
                    text: &format!("[image `{path}` was not loaded]"),
                    r#type: "text",
                }
                .serialize(serializer)
            }
        };
        ImageBlockOut {
            cache_control,
            source,
            r#type: "image",
        }
        .serialize(serializer)
    }
}

impl Serialize for Cached<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let cache_control = self.cache_control;
        match self.block {
            WireBlock::Text(text) => TextOut {
                cache_control,
                text,
                r#type: "text",
            }
            .serialize(serializer),
            WireBlock::Thinking {
                thinking,
                signature,
            } => ThinkingOut {
                cache_control,
                signature,
                thinking,
                r#type: "thinking",
            }
            .serialize(serializer),
            WireBlock::RedactedThinking(data) => RedactedOut {
                cache_control,
                data,
                r#type: "redacted_thinking",
            }
            .serialize(serializer),
            WireBlock::ToolUse { id, name, input } => ToolUseOut {
                cache_control,
                id,
                input,
                name,
                r#type: "tool_use",
            }
            .serialize(serializer),
            WireBlock::ToolResult {
                id,
                content,
                is_error,
                images,
            } => ToolResultOut {
                cache_control,
                content: ResultContent {
                    text: content,
                    images,
                },
                is_error: *is_error,
                tool_use_id: id,
                r#type: "tool_result",
            }
            .serialize(serializer),
            WireBlock::Image(source) => ImageOut {
                source,
                cache_control,
            }
            .serialize(serializer),
            WireBlock::Verbatim(value) => match (value, cache_control) {
                (Value::Object(map), Some(cache_control)) => {
                    // `cache_control` among the block's keys, in their sorted order
                    // (replacing one it had), as a `Value` with it inserted prints.
                    let mut out = serializer.serialize_map(None)?;
                    let mut pending = Some(cache_control);
                    for (key, v) in map {
                        if key.as_str() >= "cache_control" {
                            if let Some(c) = pending.take() {
                                out.serialize_entry("cache_control", &c)?;
                            }
                            if key == "cache_control" {
                                continue;
                            }
                        }
                        out.serialize_entry(key, v)?;
                    }
                    if let Some(c) = pending {
                        out.serialize_entry("cache_control", &c)?;
                    }
                    out.end()
                }
                _ => value.serialize(serializer),
            },
        }
    }
}
