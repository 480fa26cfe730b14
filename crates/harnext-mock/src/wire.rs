//! The three wire formats of the model routes, chosen by the request path: what each
//! route's stream and errors look like (rendered by `anthropic` and `openai`).

use harnext_protocol::ScriptedTurn;
use serde_json::Value;

use crate::anthropic;
use crate::openai;

/// The wire format a model route speaks, chosen by the request path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireFormat {
    /// `…/messages`: the Anthropic Messages API.
    Anthropic,
    /// `…/responses`: the OpenAI Responses API.
    OpenAiResponses,
    /// `…/chat/completions`: OpenAI Chat Completions.
    OpenAiChat,
}

impl WireFormat {
    /// The format of a model route, or `None` for any other path.
    pub fn from_path(path: &str) -> Option<WireFormat> {
        if path.ends_with("/messages") {
            Some(WireFormat::Anthropic)
        } else if path.ends_with("/responses") {
            Some(WireFormat::OpenAiResponses)
        } else if path.ends_with("/chat/completions") {
            Some(WireFormat::OpenAiChat)
        } else {
            None
        }
    }

    pub(crate) fn default_model(self) -> &'static str {
        match self {
            WireFormat::Anthropic => "claude-mock",
            WireFormat::OpenAiResponses | WireFormat::OpenAiChat => "gpt-mock",
        }
    }
}

/// What the request asked the OpenAI routes to include, as the real APIs honour it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Asked {
    /// Chat: `stream_options.include_usage` (the trailing usage chunk).
    pub usage: bool,
    /// Responses: `include: ["reasoning.encrypted_content"]` (reasoning items carry
    /// their encrypted content).
    pub encrypted_reasoning: bool,
}

impl Asked {
    pub(crate) fn from_body(body: &Value) -> Asked {
        Asked {
            usage: body
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            encrypted_reasoning: body.get("include").and_then(Value::as_array).is_some_and(
                |items| {
                    items
                        .iter()
                        .any(|i| i.as_str() == Some("reasoning.encrypted_content"))
                },
            ),
        }
    }
}

/// Renders `turn` as the complete body of a stream in `format`, as
/// [`MockServer`](crate::MockServer) would send it (random ids; tool calls without an id get numbered
/// ids). Chat streams include the `include_usage` chunk, Responses reasoning items
/// their `encrypted_content`.
pub fn render_turn(
    format: WireFormat,
    turn: &ScriptedTurn,
    stop_reason: Option<&str>,
    model: &str,
) -> String {
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    let asked = Asked {
        usage: true,
        encrypted_reasoning: true,
    };
    turn_frames(format, turn, stop_reason, model, asked, &mut next).concat()
}

pub(crate) fn turn_frames(
    format: WireFormat,
    turn: &ScriptedTurn,
    stop_reason: Option<&str>,
    model: &str,
    asked: Asked,
    next_tool_id: &mut dyn FnMut() -> u64,
) -> Vec<String> {
    match format {
        WireFormat::Anthropic => anthropic::turn_frames(turn, stop_reason, model, next_tool_id),
        WireFormat::OpenAiResponses => openai::responses_frames(
            turn,
            stop_reason,
            model,
            asked.encrypted_reasoning,
            next_tool_id,
        ),
        WireFormat::OpenAiChat => {
            openai::chat_frames(turn, stop_reason, model, asked.usage, next_tool_id)
        }
    }
}

impl WireFormat {
    /// The body of an error response, and the header that carries its request id.
    pub(crate) fn error_body(
        self,
        error_type: &str,
        message: &str,
        request_id: &str,
    ) -> (String, &'static str) {
        let body = match self {
            WireFormat::Anthropic => anthropic::error_body(error_type, message, request_id),
            WireFormat::OpenAiResponses | WireFormat::OpenAiChat => {
                openai::error_body(openai::openai_code(error_type), None, message)
            }
        };
        (body, self.request_id_header())
    }

    /// The body an HTTP error `status` gets when the script gives none.
    pub(crate) fn default_error_body(self, status: u16, request_id: &str) -> Option<String> {
        match self {
            WireFormat::Anthropic => anthropic::default_error_type(status).map(|error_type| {
                anthropic::error_body(
                    error_type,
                    anthropic::default_message(error_type),
                    request_id,
                )
            }),
            WireFormat::OpenAiResponses | WireFormat::OpenAiChat => openai::default_error(status)
                .map(|(error_type, code, message)| openai::error_body(error_type, code, message)),
        }
    }

    /// The header that carries a response's request id.
    pub(crate) fn request_id_header(self) -> &'static str {
        match self {
            WireFormat::Anthropic => "request-id",
            WireFormat::OpenAiResponses | WireFormat::OpenAiChat => "x-request-id",
        }
    }

    /// The frame that ends a stream with an error (`errorAfter`).
    pub(crate) fn error_frame(self, error_type: &str, message: &str) -> String {
        match self {
            WireFormat::Anthropic => anthropic::error_frame(error_type, message),
            WireFormat::OpenAiResponses => openai::responses_error_frame(error_type, message),
            WireFormat::OpenAiChat => openai::chat_error_frame(error_type, message),
        }
    }
}
