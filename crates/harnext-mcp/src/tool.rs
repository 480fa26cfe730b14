//! An MCP server's tool as a harnext [`Tool`]: `mcp__<server>__<tool>`, its input
//! schema, read-only when the server says so (`readOnlyHint: true`), and calls through
//! `tools/call` that stop (and tell the server) when the run is cancelled.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::future::BoxFuture;
use harnext_tools::Tool;
use harnext_tools::ToolContext;
use harnext_tools::ToolError;
use rmcp::model::CallToolRequestParams;
use rmcp::model::CallToolResult;
use rmcp::service::Peer;
use rmcp::service::RoleClient;
use rmcp::ServiceError;
use serde_json::Value;

use harnext_protocol::redact::Redactor;

use crate::process::ProcessStatus;

/// The longest tool name offered to a model (Anthropic's and OpenAI's limit).
const MAX_TOOL_NAME_LEN: usize = 64;

/// The connection to one running server, shared by its tools.
pub(crate) struct Link {
    pub server: String,
    pub peer: Peer<RoleClient>,
    /// Set when a call finds the server gone: the manager looks again before the next
    /// model call.
    pub dirty: Arc<AtomicBool>,
    pub process: Option<Arc<ProcessStatus>>,
    /// How long one call may take (`tool_timeout_ms`).
    pub tool_timeout: std::time::Duration,
    /// The server's credentials (URL user info, auth headers, secret env values):
    /// scrubbed from its results and errors.
    pub redactor: Redactor,
}

impl Link {
    pub(crate) fn is_gone(&self) -> bool {
        self.peer.is_transport_closed() || self.process.as_ref().is_some_and(|p| p.exit().is_some())
    }

    /// Why the server cannot be reached, for a message.
    pub(crate) fn gone_reason(&self, error: Option<&ServiceError>) -> String {
        if let Some(how) = self.process.as_ref().and_then(|p| p.describe("")) {
            return how;
        }
        match error {
            Some(e) => format!("the connection failed: {}", error_text(e)),
            None => "the connection to it is closed".to_owned(),
        }
    }
}

/// An error and its causes, `"a: b: c"`, without the transport's Rust type names and
/// without repeating a cause its parent already quotes.
pub(crate) fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    use rmcp::transport::streamable_http_client::StreamableHttpError;
    use rmcp::transport::DynamicTransportError;
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(dynamic) = e.downcast_ref::<DynamicTransportError>() {
            current = Some(dynamic.error.as_ref());
            continue;
        }
        if let Some(StreamableHttpError::Client(inner)) =
            e.downcast_ref::<StreamableHttpError<reqwest::Error>>()
        {
            current = Some(inner);
            continue;
        }
        let text = e.to_string();
        if !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// `"MCP server `x` is unavailable: <reason>"`: what the model and the user see.
pub fn unavailable(server: &str, reason: &str) -> String {
    format!("MCP server `{server}` is unavailable: {reason}")
}

pub(crate) struct McpTool {
    name: String,
    remote_name: String,
    description: String,
    schema: Value,
    read_only: bool,
    link: Arc<Link>,
}

impl McpTool {
    pub(crate) fn new(tool: &rmcp::model::Tool, name: String, link: Arc<Link>) -> McpTool {
        let mut schema = Value::Object(tool.input_schema.as_ref().clone());
        if let Value::Object(o) = &mut schema {
            // Providers require an object schema; servers may leave `type` out.
            o.entry("type")
                .or_insert_with(|| Value::String("object".into()));
        }
        let description = tool
            .description
            .as_deref()
            .filter(|d| !d.trim().is_empty())
            .or(tool.title.as_deref())
            .unwrap_or_default()
            .to_owned();
        McpTool {
            name,
            remote_name: tool.name.to_string(),
            description,
            schema,
            read_only: tool
                .annotations
                .as_ref()
                .and_then(|a| a.read_only_hint)
                .unwrap_or(false),
            link,
        }
    }
}

impl Tool for McpTool {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn input_schema(&self) -> Value {
        self.schema.clone()
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'static, Result<String, ToolError>> {
        let link = self.link.clone();
        let remote = self.remote_name.clone();
        Box::pin(async move {
            let redactor = link.redactor.clone();
            let scrub = |text: String| redactor.redact(&text).into_owned();
            match call(link, remote, args, ctx).await {
                Ok(text) => Ok(scrub(text)),
                Err(ToolError::Failed(m)) => Err(ToolError::Failed(scrub(m))),
                Err(ToolError::InvalidArgs(m)) => Err(ToolError::InvalidArgs(scrub(m))),
                Err(e) => Err(e),
            }
        })
    }
}

/// One `tools/call`, with the server's failures phrased for the model.
async fn call(
    link: Arc<Link>,
    remote: String,
    args: Value,
    ctx: ToolContext,
) -> Result<String, ToolError> {
    {
        {
            let arguments = match args {
                Value::Object(map) => Some(map),
                Value::Null => None,
                other => {
                    return Err(ToolError::InvalidArgs(format!(
                        "expected a JSON object, got {other}"
                    )))
                }
            };
            if link.is_gone() {
                link.dirty.store(true, Ordering::SeqCst);
                return Err(ToolError::Failed(unavailable(
                    &link.server,
                    &link.gone_reason(None),
                )));
            }
            let mut params = CallToolRequestParams::new(remote.clone());
            if let Some(arguments) = arguments {
                params = params.with_arguments(arguments);
            }
            // Dropping the request on cancellation or timeout sends
            // `notifications/cancelled`.
            let outcome = tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => return Err(ToolError::Cancelled),
                r = tokio::time::timeout(link.tool_timeout, link.peer.call_tool(params)) => match r {
                    Ok(r) => r,
                    Err(_) => {
                        return Err(ToolError::Failed(format!(
                            "MCP server `{}` did not answer `{remote}` within {} ms (tool_timeout_ms); the call was cancelled",
                            link.server,
                            link.tool_timeout.as_millis()
                        )))
                    }
                },
            };
            match outcome {
                Ok(result) => {
                    let text = render(&result);
                    if result.is_error == Some(true) {
                        Err(ToolError::Failed(if text.is_empty() {
                            "the tool reported an error without a message".to_owned()
                        } else {
                            text
                        }))
                    } else {
                        Ok(text)
                    }
                }
                Err(ServiceError::McpError(e)) => Err(ToolError::Failed(format!(
                    "MCP server `{}` answered with an error: {} (code {})",
                    link.server, e.message, e.code.0
                ))),
                // The server ended the request (`notifications/cancelled` from its side).
                Err(e @ ServiceError::Cancelled { .. }) => Err(ToolError::Failed(format!(
                    "MCP server `{}` cancelled the call: {e}",
                    link.server
                ))),
                Err(e @ (ServiceError::TransportClosed | ServiceError::TransportSend(_))) => {
                    link.dirty.store(true, Ordering::SeqCst);
                    // A crash shows up as a closed connection a moment before the exit
                    // status: wait briefly so the message can say how it ended.
                    if let Some(p) = &link.process {
                        p.wait_exit(std::time::Duration::from_millis(500)).await;
                    }
                    Err(ToolError::Failed(unavailable(
                        &link.server,
                        &link.gone_reason(Some(&e)),
                    )))
                }
                Err(e) => Err(ToolError::Failed(format!(
                    "MCP server `{}`: the call failed: {}",
                    link.server,
                    error_text(&e)
                ))),
            }
        }
    }
}

/// The output of a `tools/call` result: its text content, other content summarised.
/// Structured content is what programs read; servers send its text along in the
/// content (the spec asks them to), so it is the output only when there is no content.
pub(crate) fn render(result: &CallToolResult) -> String {
    let parts: Vec<String> = result
        .content
        .iter()
        .map(|b| render_block(&serde_json::to_value(b).unwrap_or(Value::Null)))
        .collect();
    match &result.structured_content {
        Some(structured) if parts.is_empty() => structured.to_string(),
        Some(_) | None => parts.join("\n"),
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Bytes encoded by a base64 string.
fn base64_len(data: &str) -> usize {
    let chars = data
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .count();
    chars * 3 / 4
}

fn render_block(block: &Value) -> String {
    let mime = |v: &Value| {
        str_field(v, "mimeType")
            .unwrap_or("unknown type")
            .to_owned()
    };
    match str_field(block, "type") {
        Some("text") => str_field(block, "text").unwrap_or_default().to_owned(),
        Some(kind @ ("image" | "audio")) => format!(
            "[{kind}: {}, {} bytes]",
            mime(block),
            base64_len(str_field(block, "data").unwrap_or_default())
        ),
        Some("resource") => {
            let resource = block.get("resource").unwrap_or(&Value::Null);
            let uri = str_field(resource, "uri").unwrap_or("?");
            match (str_field(resource, "text"), str_field(resource, "blob")) {
                (Some(text), _) => format!("[resource: {uri}]\n{text}"),
                (None, Some(blob)) => {
                    format!(
                        "[resource: {uri}, {}, {} bytes]",
                        mime(resource),
                        base64_len(blob)
                    )
                }
                (None, None) => format!("[resource: {uri}]"),
            }
        }
        Some("resource_link") => {
            let uri = str_field(block, "uri").unwrap_or("?");
            match str_field(block, "name") {
                Some(name) if name != uri => format!("[resource link: {name} <{uri}>]"),
                _ => format!("[resource link: {uri}]"),
            }
        }
        Some(other) => format!("[{other} content]"),
        None => "[unrecognised content]".to_owned(),
    }
}

/// `mcp__<server>__<tool>`, with characters providers refuse replaced by `_`, and a
/// hash of the original name at the end when it would be longer than 64 characters.
///
/// Two servers never get the same name: the server's part is the text before the
/// first `__` after `mcp__`, so the name tells the server apart whenever the server's
/// name neither contains `__` nor ends with `_`. The tools of a server whose name
/// does (`a__b`, `x_`), which could meet another server's (`a` with tool `b__c`),
/// always end with a hash of the server and tool names: `mcp__a__b__c_1f2e3d4c`.
/// Names are stable across processes (sessions keep them).
pub(crate) fn tool_name(server: &str, tool: &str) -> String {
    let clean: String = tool
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = format!("mcp__{server}__{clean}");
    let ambiguous_server = server.contains("__") || server.ends_with('_');
    if name.len() <= MAX_TOOL_NAME_LEN && clean == tool && !ambiguous_server {
        return name;
    }
    // Different names must not meet after the replacement: the hash keeps them apart.
    let hash = if ambiguous_server {
        fnv1a(format!("{server}\0{tool}").as_bytes())
    } else {
        fnv1a(tool.as_bytes())
    };
    let suffix = format!("_{hash:08x}");
    let keep = MAX_TOOL_NAME_LEN
        .saturating_sub(suffix.len())
        .min(name.len());
    format!("{}{suffix}", &name[..keep])
}

/// A stable hash (FNV-1a, 32 bits): names must not change between processes, since
/// sessions keep them.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn result(v: Value) -> CallToolResult {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn text_is_kept_other_content_is_summarised() {
        let r = result(json!({ "content": [
            { "type": "text", "text": "Here:" },
            { "type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png" },
            { "type": "audio", "data": "AAAA", "mimeType": "audio/wav" },
            { "type": "resource", "resource": { "uri": "file:///a.txt", "text": "hello" } },
            { "type": "resource", "resource": { "uri": "file:///b.bin", "blob": "AAAAAAAA", "mimeType": "application/octet-stream" } },
            { "type": "resource_link", "uri": "file:///c", "name": "c" },
        ]}));
        assert_eq!(
            render(&r),
            "Here:\n[image: image/png, 8 bytes]\n[audio: audio/wav, 3 bytes]\n[resource: file:///a.txt]\nhello\n[resource: file:///b.bin, application/octet-stream, 6 bytes]\n[resource link: c <file:///c>]"
        );
    }

    #[test]
    fn structured_content_is_the_output_only_without_content() {
        let r = result(
            json!({ "content": [{ "type": "text", "text": "{\"t\": 1}" }], "structuredContent": { "t": 1 } }),
        );
        assert_eq!(render(&r), "{\"t\": 1}");
        let r = result(
            json!({ "content": [{ "type": "text", "text": "line" }], "structuredContent": { "content": "line" } }),
        );
        assert_eq!(render(&r), "line");
        let r = result(json!({ "content": [], "structuredContent": { "t": 1 } }));
        assert_eq!(render(&r), "{\"t\":1}");
        let r = result(json!({ "content": [] }));
        assert_eq!(render(&r), "");
    }

    #[test]
    fn names_are_namespaced_cleaned_and_kept_within_64_characters() {
        assert_eq!(tool_name("everything", "echo"), "mcp__everything__echo");
        assert_eq!(tool_name("fs", "get-sum"), "mcp__fs__get-sum");
        let dotted = tool_name("fs", "files.read");
        assert!(dotted.starts_with("mcp__fs__files_read_"), "{dotted}");
        assert_ne!(
            dotted,
            tool_name("fs", "files/read"),
            "the hash keeps them apart"
        );
        let long = tool_name("server", &"x".repeat(100));
        assert_eq!(long.len(), 64);
        assert_eq!(long, tool_name("server", &"x".repeat(100)), "stable");
        assert_ne!(long, tool_name("server", &"x".repeat(101)));
        assert!(long
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
    }

    #[test]
    fn servers_whose_names_could_run_into_anothers_get_hashed_tool_names() {
        // `a` + `b__c` and `a__b` + `c` would both be `mcp__a__b__c`.
        assert_eq!(tool_name("a", "b__c"), "mcp__a__b__c");
        let other = tool_name("a__b", "c");
        assert_ne!(other, "mcp__a__b__c");
        assert!(other.starts_with("mcp__a__b__c_"), "{other}");
        assert_eq!(other, tool_name("a__b", "c"), "stable");
        // A trailing `_` too: `x_` + `_y` and `x` + `__y` would meet.
        assert_ne!(tool_name("x_", "_y"), tool_name("x", "__y"));
        assert_eq!(tool_name("x", "__y"), "mcp__x____y");
        // The hash covers the server: two ambiguous servers with one tool name differ.
        assert_ne!(tool_name("a__b", "c"), tool_name("a__b_", "c"));
    }
}
