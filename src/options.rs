//! `new Agent(options)` and `run(input, options)`: the JavaScript option objects and
//! their conversion into the core's configuration.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use harnext_core::output::DEFAULT_OUTPUT_RETRIES;
use harnext_core::protocol::ContentBlock;
use harnext_core::protocol::Message as CoreMessage;
use harnext_core::protocol::OptionKey;
use harnext_core::protocol::OptionScope;
use harnext_core::protocol::Role;
use harnext_core::protocol::ScriptedTurn;
use harnext_core::AgentConfig;
use harnext_core::Budget;
use harnext_core::ConfigError;
use harnext_core::PermissionMode;
use harnext_core::RunInput;
use harnext_core::RunRequest;
use harnext_core::SystemPrompt;
use napi::bindgen_prelude::Either;
use napi::bindgen_prelude::Either3;
use napi_derive::napi;
use serde_json::Value;

use crate::callbacks::output_request;
use crate::callbacks::OutputSchemaSpec;
use crate::callbacks::PermissionFn;
use crate::error::word;
use crate::error::Invalid;
use crate::error::NodeNames;
use crate::hooks::hooks;
use crate::hooks::HooksSpec;
use crate::mcp::mcp_servers;
use crate::store::JsStoreSpec;
use crate::tools::JsTool;
use crate::tools::JsToolDefinition;

#[napi(object)]
pub struct SystemPromptAppend {
    /// Text added after the built-in coding-agent prompt.
    pub append: String,
}

/// The `thinking` option's object (its type only: the value is read by the engine).
// Declares the TypeScript type; the option itself is read as JSON by the engine.
#[allow(dead_code)]
#[napi(object, object_to_js = false)]
pub struct ThinkingOptions {
    /// Reasoning budget in tokens (at least 1024).
    pub budget_tokens: f64,
}

/// A subagent of the `agents` option: offered to the model through the `task` tool.
// Declares the TypeScript type; the option itself is read as JSON by the engine.
#[allow(dead_code)]
#[napi(object, object_to_js = false)]
pub struct AgentDefinition {
    /// When to use it: the model sees it in the `task` tool's description.
    pub description: String,
    /// Appended to the built-in coding-agent prompt of the subagent.
    pub system_prompt: String,
    /// The tools it may use: built-in tool names and the names of this agent's custom
    /// tools (no `task`: a subagent does not delegate further).
    pub tools: Vec<String>,
    /// Another model (`"<provider>/<model>"`). Default: this agent's.
    pub model: Option<String>,
    /// Most model calls of one task. Default: this agent's `maxSteps`.
    pub max_steps: Option<u32>,
}

/// The `tracing` option of `new Agent()`.
// Declares the TypeScript type; index.js reads the option.
#[allow(dead_code)]
#[napi(object, object_to_js = false)]
pub struct TracingOptions {
    /// Record prompts, replies, tool arguments and tool outputs on the spans
    /// (`gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.tool.call.arguments`,
    /// `gen_ai.tool.call.result`). Default `false`: they may hold secrets and personal data.
    pub record_content: Option<bool>,
    /// An OpenTelemetry `TracerProvider` to use instead of the global one.
    #[napi(ts_type = "{ getTracer(name: string, version?: string): unknown }")]
    pub tracer_provider: Option<Value>,
}

/// Options of `new Agent()`.
#[napi(object, object_to_js = false)]
pub struct AgentOptions {
    /// `"anthropic/<model>"` (Messages API), `"openai/<model>"` (Responses API),
    /// `"openai-chat/<model>"` (Chat Completions: any OpenAI-compatible server), or
    /// `"scripted"` to replay `script` with no network.
    pub model: String,
    /// Overrides the provider endpoint; may carry a path prefix (OpenAI's includes `/v1`).
    /// Default: `ANTHROPIC_BASE_URL` / `OPENAI_BASE_URL`, else the provider's.
    #[napi(js_name = "baseURL")]
    pub base_url: Option<String>,
    /// Default: `ANTHROPIC_API_KEY` / `OPENAI_API_KEY` (optional for a custom OpenAI-compatible `baseURL`).
    pub api_key: Option<String>,
    /// Extra HTTP headers sent with every model request.
    pub headers: Option<HashMap<String, String>>,
    /// The workspace the tools act in. Default: `process.cwd()`.
    pub cwd: Option<String>,
    /// Replaces the built-in coding-agent prompt, or `{ append }` extends it.
    #[napi(ts_type = "string | SystemPromptAppend")]
    pub system_prompt: Option<Either<String, SystemPromptAppend>>,
    /// Which tools are on: built-in tool names and custom tools made with `tool()`. Default: every built-in tool.
    #[napi(ts_type = "Array<BuiltinToolName | Tool<any>>")]
    pub tools: Option<Vec<Either<String, JsToolDefinition>>>,
    /// `"auto"` (never ask), `"manual"` (ask before any tool that writes or runs commands),
    /// `"accept-edits"` (file edits allowed, other writing tools and commands ask), `"read-only"`
    /// (writing tools and commands are refused). Default `"auto"`.
    #[napi(ts_type = "'auto' | 'manual' | 'accept-edits' | 'read-only'")]
    pub permission_mode: Option<String>,
    /// Answers permission requests in the manual modes; sync or async. Without it,
    /// `stream()` callers answer with `respond()` on the `permission_request` event.
    #[napi(ts_type = "(request: PermissionRequest) => Decision | Promise<Decision>")]
    pub on_permission_request: Option<PermissionFn>,
    /// Model calls per run before it stops with `stopReason: "max_steps"`. Default 50.
    pub max_steps: Option<f64>,
    pub max_output_tokens: Option<f64>,
    pub temperature: Option<f64>,
    /// Enables provider reasoning: `true` for a 4096-token budget, or `{ budgetTokens }`.
    #[napi(ts_type = "boolean | ThinkingOptions")]
    pub thinking: Option<Value>,
    /// Provider retries per request. Default 2.
    pub max_retries: Option<f64>,
    /// Milliseconds a model stream may stay silent before it counts as stalled. Default 300000.
    pub idle_timeout_ms: Option<f64>,
    /// Milliseconds one model call may take in all (retries included), however steadily
    /// data arrives; past it the run fails with a `timeout` error. Default 1800000 (30 min).
    pub stream_timeout_ms: Option<f64>,
    /// The model turns replayed by `model: "scripted"`, one per model call.
    #[napi(ts_type = "ScriptTurn[]")]
    pub script: Option<Value>,
    /// Where sessions are kept as `<sessionId>.jsonl`. Default: `$HARNEXT_SESSION_DIR`, else `~/.harnext/sessions`.
    pub session_dir: Option<String>,
    /// `false` keeps sessions in memory only (continued by this agent only). Default `true`.
    pub persist_session: Option<bool>,
    /// Where sessions are kept instead of files: `"postgres://..."` or `"redis://..."`
    /// (shared by every machine that names it), or a `SessionStore` object of your own.
    /// Takes precedence over `sessionDir` and `persistSession`.
    #[napi(ts_type = "string | SessionStore")]
    pub session_store: Option<Either<String, JsStoreSpec>>,
    /// The model's context window in tokens: the history is compacted as it nears it.
    /// Default: by model family (200000 for Claude); unlimited for `"scripted"`.
    pub context_window: Option<f64>,
    /// MCP servers by name (`[a-zA-Z0-9_-]`, up to 32 characters): their tools are offered as
    /// `mcp__<name>__<tool>`. Started by the first run, reused by later runs, ended by `close()`.
    #[napi(ts_type = "Record<string, McpStdioServer | McpHttpServer>")]
    pub mcp_servers: Option<Value>,
    /// How shell commands and MCP stdio servers are confined: `"workspace-write"` (write only
    /// in `cwd`, the temp directories and `writableRoots`; credential folders unreadable),
    /// `"read-only"` (no writes), `"off"` (no sandbox). Default `"workspace-write"`.
    #[napi(ts_type = "'workspace-write' | 'read-only' | 'off'")]
    pub sandbox: Option<String>,
    /// Commands may open network connections. Default `false`.
    pub network: Option<bool>,
    /// More directories commands may write in (relative to `cwd`); they must exist.
    pub writable_roots: Option<Vec<String>>,
    /// More paths commands may not read (relative to `cwd`), besides `~/.ssh`, `~/.aws`,
    /// `~/.gnupg`, `~/.config/gcloud`, `~/.docker`, `~/.netrc`, `~/.npmrc` and `sessionDir`.
    pub deny_read: Option<Vec<String>>,
    /// Environment variables (names or `*` patterns) commands keep although they look secret.
    pub env_allow: Option<Vec<String>>,
    /// Environment variables (names or `*` patterns) commands never get.
    pub env_deny: Option<Vec<String>>,
    /// Run with what the system can enforce instead of failing when it cannot enforce `sandbox`.
    pub sandbox_best_effort: Option<bool>,
    /// Callbacks called at points of each run, in the order given: before and after each
    /// tool call, on the run's input, when the run is about to end, before a compaction,
    /// at each run's start and end. See the `Hooks` type.
    #[napi(ts_type = "Hooks")]
    pub hooks: Option<HooksSpec>,
    /// The calls of one model turn that only read (built-in read tools, custom and MCP tools
    /// marked read-only) run concurrently, results in call order. Default `true`.
    pub parallel_tool_calls: Option<bool>,
    /// The workspace's `AGENTS.md` (or `CLAUDE.md` where there is none) goes into the system
    /// prompt, and a subdirectory's follows the first file tool call that works there.
    /// Default `true`.
    pub project_instructions: Option<bool>,
    /// Agent Skills folders (a folder with a `SKILL.md`, or a folder of them), relative to
    /// `cwd`; `.agents/skills/` of the workspace is searched too. The model sees each skill's
    /// name and description and loads one with the `skill` tool.
    pub skills: Option<Vec<String>>,
    /// Where the `web_fetch` tool may go. It runs only with `network: true` (or no sandbox)
    /// and asks in the manual modes; private network addresses are refused unless listed
    /// in `allowedDomains`.
    #[napi(ts_type = "WebFetchOptions")]
    pub web_fetch: Option<Value>,
    /// The provider's own server-side web search (Anthropic's `web_search` tool, OpenAI
    /// Responses' hosted `web_search`): `true`, or settings. The search runs on the
    /// provider's servers (not in the sandbox, whatever `network` says); `web_search` and
    /// `citation` events show it, and each search costs $10 per 1,000 in `costUsd`.
    /// Refused for providers without it (`openai-chat/...`, `scripted`). Default off.
    #[napi(ts_type = "boolean | WebSearchOptions")]
    pub web_search: Option<Value>,
    /// Subagents by name, offered to the model as the `task` tool: each runs a task with its
    /// own context and tools (never more permissive than this agent's permission mode and
    /// sandbox); several `task` calls of one turn run at once. Their events come wrapped in
    /// `subagent` events; their usage and cost count in the run's.
    #[napi(ts_type = "Record<string, AgentDefinition>")]
    pub agents: Option<Value>,
    /// OpenTelemetry spans of each run, model call and tool call (GenAI semantic
    /// conventions), through `@opentelemetry/api` when the application registered a tracer
    /// provider: on by default then, `false` turns them off, `{ recordContent: true }` adds
    /// prompts, replies, tool arguments and outputs. Read by index.js (see tracing.js).
    #[napi(ts_type = "boolean | TracingOptions")]
    pub tracing: Option<Value>,
    /// Each run stops (`stopReason: "cost_budget"`) after the step that brings its cost at
    /// list prices to this many US dollars. Needs a model whose price is known.
    pub max_cost_usd: Option<f64>,
    /// Each run stops (`stopReason: "token_budget"`) after the step that brings its tokens
    /// (input, cached input and output, summaries included) to this many.
    pub max_tokens: Option<f64>,
    /// Each run stops (`stopReason: "time_budget"`) after the step that ends this many
    /// milliseconds into it.
    pub max_duration_ms: Option<f64>,
    /// File checkpoints for `rewind()`: the state of each file before a step changes it
    /// (edits, writes, shell commands) is kept in the session. `false` keeps none; an
    /// object sets the limits. Default: on, with the default limits.
    #[napi(ts_type = "boolean | CheckpointLimits")]
    pub checkpoints: Option<Value>,
}

/// The limits of the checkpoints of each run (`checkpoints` option; its type only: the
/// value is read by the engine, which names an unknown field).
// Declares the TypeScript type; the option itself is read as JSON by the engine.
#[allow(dead_code)]
#[napi(object, object_to_js = false)]
pub struct CheckpointLimits {
    /// Files larger than this are not checkpointed (reported by `rewind()`). Default 1 MiB.
    pub max_file_bytes: Option<f64>,
    /// Binary files larger than this are not checkpointed. Default 256 KiB.
    pub max_binary_bytes: Option<f64>,
    /// The most bytes of file content a run keeps for checkpoints (in memory for shell
    /// commands, and in the session). Default 64 MiB.
    pub max_run_bytes: Option<f64>,
    /// Workspaces with more files than this checkpoint, for shell commands, only the files
    /// the run read or changed. Default 5000.
    pub max_baseline_files: Option<f64>,
}

/// One scripted model turn.
#[napi(object)]
pub struct ScriptTurn {
    /// Reasoning streamed before the reply.
    pub thinking: Option<String>,
    /// The reply, streamed in word chunks.
    pub text: Option<String>,
    /// Tool calls made after the text.
    pub tool_calls: Option<Vec<ScriptToolCall>>,
    /// Usage reported for the turn (zeros when absent).
    pub usage: Option<ScriptUsage>,
    /// Milliseconds to wait before each streamed chunk.
    pub delay_ms: Option<f64>,
}

#[napi(object)]
pub struct ScriptToolCall {
    /// Generated when absent.
    pub id: Option<String>,
    pub name: String,
    #[napi(ts_type = "Record<string, unknown>")]
    pub args: Option<Value>,
}

#[napi(object)]
pub struct ScriptUsage {
    pub input_tokens: Option<f64>,
    pub output_tokens: Option<f64>,
    pub cache_read_tokens: Option<f64>,
    pub cache_write_tokens: Option<f64>,
    pub reasoning_tokens: Option<f64>,
}

/// Options of `run()` and `stream()` (and `signal`, declared with the JS layer's types).
#[napi(object, object_to_js = false)]
pub struct RunOptions {
    /// Continue this session's conversation.
    pub session_id: Option<String>,
    /// Overrides the agent's `maxSteps` for this run.
    pub max_steps: Option<f64>,
    /// The final answer must match this schema; it becomes `result.output`. Tool steps are not constrained.
    #[napi(ts_type = "OutputSchema")]
    pub output_schema: Option<OutputSchemaSpec>,
    /// How many times the model may try again after an answer that does not match `outputSchema`. Default 2.
    pub max_output_retries: Option<f64>,
    /// Overrides the agent's `maxCostUsd` for this run.
    pub max_cost_usd: Option<f64>,
    /// Overrides the agent's `maxTokens` for this run.
    pub max_tokens: Option<f64>,
    /// Overrides the agent's `maxDurationMs` for this run.
    pub max_duration_ms: Option<f64>,
    /// Overrides the agent's `parallelToolCalls` for this run.
    pub parallel_tool_calls: Option<bool>,
    /// Overrides the agent's `webSearch` for this run (`false` turns it off).
    #[napi(ts_type = "boolean | WebSearchOptions")]
    pub web_search: Option<Value>,
}

/// One message of an input list: its text, or a list of text and image parts.
#[napi(object, object_to_js = false, js_name = "Message")]
pub struct InputMessage {
    #[napi(ts_type = "'user' | 'assistant'")]
    pub role: String,
    #[napi(ts_type = "string | ContentPart[]")]
    pub content: Either<String, Vec<InputPart>>,
}

// ---- images (issue 18): the parts of an input message ----

/// Internal: the fields of a `ContentPart` as the binding reads them (`ContentPart`
/// is the exact type).
#[napi(object, object_to_js = false, js_name = "ContentPartFields")]
pub struct InputPart {
    pub r#type: String,
    pub text: Option<String>,
    pub path: Option<String>,
    pub data: Option<Either<napi::bindgen_prelude::Buffer, String>>,
    pub media_type: Option<String>,
    pub url: Option<String>,
}

/// An input part as a content block; images are checked when the run starts (paths
/// are read through the workspace then).
fn input_part(part: InputPart, at: &str) -> Result<ContentBlock, Invalid> {
    use harnext_core::protocol::image;
    use harnext_core::protocol::ImageSource;
    let given = [part.path.is_some(), part.data.is_some(), part.url.is_some()]
        .iter()
        .filter(|g| **g)
        .count();
    match part.r#type.as_str() {
        "text" => match part.text {
            Some(text) if given == 0 && part.media_type.is_none() => {
                Ok(ContentBlock::Text { text })
            }
            Some(_) => Err(Invalid(format!("{at}: a text part has only `text`"))),
            None => Err(Invalid(format!("{at}: a text part needs `text`"))),
        },
        "image" if part.text.is_some() || given != 1 => Err(Invalid(format!(
            "{at}: an image part needs exactly one of `path`, `data` (with `mediaType`) or `url`"
        ))),
        "image" if part.media_type.is_some() && part.data.is_none() => Err(Invalid(format!(
            "{at}: `mediaType` goes with `data` (a file's or URL's type is read from its bytes)"
        ))),
        "image" => {
            let source = if let Some(path) = part.path {
                ImageSource::Path { path }
            } else if let Some(url) = part.url {
                image::image_from_url(&url, at).map_err(|e| Invalid(e.0))?
            } else {
                let Some(media_type) = part.media_type else {
                    return Err(Invalid(format!("{at}: image `data` needs its `mediaType`")));
                };
                match part.data {
                    Some(Either::A(bytes)) => {
                        image::image_from_bytes(&bytes, Some(&media_type), at)
                    }
                    Some(Either::B(b64)) => image::image_from_base64(&b64, Some(&media_type), at),
                    None => return Err(Invalid(format!("{at}: image `data` is missing"))),
                }
                .map_err(|e| Invalid(e.0))?
            };
            Ok(ContentBlock::Image {
                source,
                tool_use_id: None,
            })
        }
        other => Err(Invalid(format!(
            "{at}.type: expected \"text\" or \"image\", got {other:?}"
        ))),
    }
}

/// A message's content: its text, or its parts.
fn input_content(
    content: Either<String, Vec<InputPart>>,
    i: usize,
) -> Result<Vec<ContentBlock>, Invalid> {
    match content {
        Either::A(text) => Ok(vec![ContentBlock::Text { text }]),
        Either::B(parts) => parts
            .into_iter()
            .enumerate()
            .map(|(j, p)| input_part(p, &format!("input[{i}].content[{j}]")))
            .collect(),
    }
}

// ---- end images ----

/// Internal: what is wrong with the option names given to an agent (`scope` `"agent"`)
/// or a run (`"run"`), `null` when every one is known; for index.js. The lists of
/// options and the "did you mean" are the engine's (`OptionScope`).
#[napi(skip_typescript)]
pub fn option_names_problem(scope: String, names: Vec<String>) -> Option<String> {
    let scope = if scope == "agent" {
        OptionScope::Agent
    } else {
        OptionScope::Run
    };
    scope
        .check(names.iter().map(String::as_str), &NodeNames)
        .err()
        .map(|m| word(&m))
}

/// `value` as an integer from `min` to `max`; else what was expected.
pub(crate) fn integer(value: f64, min: u32, max: u32) -> Result<u32, String> {
    if value.fract() != 0.0 || value < f64::from(min) || value > f64::from(max) {
        return Err(if max == u32::MAX {
            format!("expected an integer >= {min}, got {value}")
        } else {
            format!("expected an integer from {min} to {max}, got {value}")
        });
    }
    // Checked above: an integer within u32's range.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(value as u32)
}

fn option_integer(option: OptionKey, value: f64, min: u32) -> Result<u32, ConfigError> {
    integer(value, min, u32::MAX).map_err(|problem| ConfigError::invalid(option, problem))
}

/// The core configuration, and the permission callback (which the binding keeps: it is
/// handed to each run).
pub fn agent_config(o: AgentOptions) -> Result<(AgentConfig, Option<PermissionFn>), ConfigError> {
    let mut c = AgentConfig::new(o.model);
    c.base_url = o.base_url;
    c.api_key = o.api_key;
    let mut headers: Vec<(String, String)> = o.headers.unwrap_or_default().into_iter().collect();
    headers.sort();
    c.headers = headers;
    c.cwd = o.cwd.map(PathBuf::from);
    c.system_prompt = match o.system_prompt {
        None => SystemPrompt::BuiltIn,
        Some(Either::A(s)) => SystemPrompt::Replace(s),
        Some(Either::B(a)) => SystemPrompt::Append(a.append),
    };
    if let Some(tools) = o.tools {
        let mut builtins = Vec::new();
        for t in tools {
            match t {
                Either::A(name) => builtins.push(name),
                Either::B(def) => {
                    let tool =
                        JsTool::new(def).map_err(|e| ConfigError::invalid(OptionKey::Tools, e))?;
                    c.custom_tools.push(Arc::new(tool));
                }
            }
        }
        c.tools = Some(builtins);
    }
    if let Some(mode) = o.permission_mode {
        c.permission_mode = PermissionMode::parse(&mode)?;
    }
    if let Some(v) = o.max_steps {
        c.max_steps = option_integer(OptionKey::MaxSteps, v, 1)?;
    }
    if let Some(v) = o.max_output_tokens {
        c.max_output_tokens = Some(option_integer(OptionKey::MaxOutputTokens, v, 1)?);
    }
    c.temperature = o.temperature;
    if let Some(v) = o.thinking {
        c.thinking_budget = harnext_core::thinking_option(&v, true)?;
    }
    if let Some(v) = o.max_retries {
        c.max_retries = option_integer(OptionKey::MaxRetries, v, 0)?;
    }
    if let Some(v) = o.idle_timeout_ms {
        c.idle_timeout = Some(Duration::from_millis(u64::from(option_integer(
            OptionKey::IdleTimeoutMs,
            v,
            1,
        )?)));
    }
    if let Some(v) = o.stream_timeout_ms {
        c.stream_timeout = Some(Duration::from_millis(u64::from(option_integer(
            OptionKey::StreamTimeoutMs,
            v,
            1,
        )?)));
    }
    if let Some(script) = o.script {
        let turns: Vec<ScriptedTurn> = serde_json::from_value(script).map_err(|e| {
            ConfigError::invalid(OptionKey::Script, format!("expected a list of turns: {e}"))
        })?;
        c.script = Some(turns);
    }
    if let Some(dir) = o.session_dir {
        if dir.trim().is_empty() {
            return Err(ConfigError::invalid(
                OptionKey::SessionDir,
                "expected a directory path, got an empty string",
            ));
        }
        c.session_dir = Some(PathBuf::from(dir));
    }
    if let Some(p) = o.persist_session {
        c.persist_session = p;
    }
    match o.session_store {
        Some(Either::A(url)) => c.session_store = Some(harnext_core::store::store_option(&url)?),
        Some(Either::B(spec)) => c.session_store = Some(crate::store::js_store(spec)?),
        None => {}
    }
    if let Some(v) = o.context_window {
        c.context_window = Some(u64::from(option_integer(OptionKey::ContextWindow, v, 1)?));
    }
    if let Some(servers) = o.mcp_servers {
        c.mcp_servers = mcp_servers(servers)?;
    }
    if let Some(mode) = o.sandbox {
        c.sandbox.mode = harnext_core::sandbox_mode_option(&mode)?;
    }
    if let Some(network) = o.network {
        c.sandbox.network = network;
    }
    let paths = |v: Option<Vec<String>>| {
        v.unwrap_or_default()
            .into_iter()
            .map(PathBuf::from)
            .collect()
    };
    c.sandbox.writable_roots = paths(o.writable_roots);
    c.sandbox.deny_read = paths(o.deny_read);
    c.sandbox.env.allow = o.env_allow.unwrap_or_default();
    c.sandbox.env.deny = o.env_deny.unwrap_or_default();
    c.sandbox.best_effort = o.sandbox_best_effort.unwrap_or(false);
    c.budget = budget(o.max_cost_usd, o.max_tokens, o.max_duration_ms)
        .map_err(|(key, problem)| ConfigError::invalid(key, problem))?;
    if let Some(spec) = o.hooks {
        c.hooks = hooks(spec)?;
    }
    if let Some(parallel) = o.parallel_tool_calls {
        c.parallel_tool_calls = parallel;
    }
    if let Some(v) = o.checkpoints {
        c.checkpoints = harnext_core::checkpoints_option(&v, true)?;
    }
    // Issue 18: project instructions and skills.
    if let Some(on) = o.project_instructions {
        c.project_instructions = on;
    }
    c.skills = paths(o.skills);
    // Issue 18: web_fetch.
    if let Some(v) = o.web_fetch {
        c.web_fetch = harnext_core::web_fetch_option(&v, true)?;
    }
    if let Some(v) = o.web_search {
        c.web_search = harnext_core::web_search_option(&v, true)?;
    }
    if let Some(agents) = o.agents {
        c.agents = harnext_core::subagent::agents_from_json(&agents, &crate::mcp::camel)
            .map_err(|problem| ConfigError::invalid(OptionKey::Agents, problem))?;
    }
    Ok((c, o.on_permission_request))
}

/// The `webFetch` option (its type only: the value is read by the engine, which names an
/// unknown field).
#[napi(object, object_to_js = false)]
pub struct WebFetchOptions {
    /// Only these domains (and their subdomains) are fetched; a host listed here may be a
    /// private address (`"127.0.0.1"`, `"intranet.corp"`). Default: every public domain.
    pub allowed_domains: Option<Vec<String>>,
    /// These domains (and their subdomains) are never fetched, also through a redirect.
    pub blocked_domains: Option<Vec<String>>,
    /// The most one fetch may take, redirects and body included. Default 30000.
    pub timeout_ms: Option<f64>,
}

/// The `webSearch` option's settings (its type only: the value is read by the engine,
/// which names an unknown field).
#[napi(object, object_to_js = false)]
pub struct WebSearchOptions {
    /// At most this many searches per model call (Anthropic only).
    pub max_uses: Option<f64>,
    /// Only results from these domains (and their subdomains), such as `"example.com"`.
    pub allowed_domains: Option<Vec<String>>,
    /// Never results from these domains (Anthropic only; not with `allowedDomains`).
    pub blocked_domains: Option<Vec<String>>,
    /// Where the user is, to localize results.
    pub user_location: Option<WebSearchUserLocation>,
}

/// An approximate user location for web search.
#[napi(object, object_to_js = false)]
pub struct WebSearchUserLocation {
    pub city: Option<String>,
    pub region: Option<String>,
    /// A two-letter ISO 3166-1 country code (`"US"`).
    pub country: Option<String>,
    /// An IANA time zone (`"America/Los_Angeles"`).
    pub timezone: Option<String>,
}

/// The input of a run that answers a session's pending approvals.
#[napi(object, object_to_js = false)]
pub struct ApprovalsInput {
    #[napi(ts_type = "Record<string, Decision>")]
    pub approvals: Value,
}

/// The core's run request: the input, and the options but `signal` (linked by index.js)
/// and the permission handler (the agent's).
pub fn run_request(
    input: Either3<String, Vec<InputMessage>, ApprovalsInput>,
    options: Option<RunOptions>,
) -> Result<RunRequest, Invalid> {
    let mut request = RunRequest::new(run_input(input)?);
    let Some(o) = options else {
        return Ok(request);
    };
    let invalid =
        |key: OptionKey, problem: String| Invalid(format!("invalid option `{key}`: {problem}"));
    request.session_id = o.session_id;
    if let Some(v) = o.max_steps {
        let steps = integer(v, 1, u32::MAX).map_err(|p| invalid(OptionKey::MaxSteps, p))?;
        request.max_steps = Some(steps);
    }
    if let Some(spec) = o.output_schema {
        let retries = match o.max_output_retries {
            None => DEFAULT_OUTPUT_RETRIES,
            Some(v) => integer(v, 0, 100).map_err(|p| invalid(OptionKey::MaxOutputRetries, p))?,
        };
        request.output = Some(output_request(spec, retries));
    }
    request.budget = budget(o.max_cost_usd, o.max_tokens, o.max_duration_ms)
        .map_err(|(key, problem)| invalid(key, problem))?;
    request.parallel_tool_calls = o.parallel_tool_calls;
    if let Some(v) = o.web_search {
        request.web_search =
            Some(harnext_core::web_search_option(&v, true).map_err(|e| Invalid(e.to_string()))?);
    }
    Ok(request)
}

/// `maxCostUsd`, `maxTokens` and `maxDurationMs` (the engine checks the cost against
/// the model's price).
fn budget(
    cost: Option<f64>,
    tokens: Option<f64>,
    duration: Option<f64>,
) -> Result<Budget, (OptionKey, String)> {
    if let Some(usd) = cost {
        if !(usd.is_finite() && usd > 0.0) {
            return Err((
                OptionKey::MaxCostUsd,
                format!("expected a positive number of US dollars, got {usd}"),
            ));
        }
    }
    let whole = |key: OptionKey, v: Option<f64>| -> Result<Option<u64>, (OptionKey, String)> {
        v.map(|v| {
            if v.fract() != 0.0 || !(1.0..=9_007_199_254_740_991.0).contains(&v) {
                return Err((key, format!("expected an integer >= 1, got {v}")));
            }
            // Checked above: a whole number from 1 to 2^53 - 1.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(v as u64)
        })
        .transpose()
    };
    Ok(Budget {
        max_cost_usd: cost,
        max_tokens: whole(OptionKey::MaxTokens, tokens)?,
        max_duration: whole(OptionKey::MaxDurationMs, duration)?.map(Duration::from_millis),
    })
}

fn run_input(
    input: Either3<String, Vec<InputMessage>, ApprovalsInput>,
) -> Result<RunInput, Invalid> {
    match input {
        Either3::A(text) => Ok(RunInput::Text(text)),
        Either3::C(ApprovalsInput { approvals }) => match approvals {
            Value::Object(map) => Ok(RunInput::Approvals(map)),
            other => Err(Invalid(format!(
                "`approvals`: expected an object of decisions by call id, got {other}"
            ))),
        },
        Either3::B(messages) => messages
            .into_iter()
            .enumerate()
            .map(|(i, m)| {
                let role = match m.role.as_str() {
                    "user" => Role::User,
                    "assistant" => Role::Assistant,
                    other => {
                        return Err(Invalid(format!(
                            "input[{i}].role: expected \"user\" or \"assistant\", got {other:?}"
                        )))
                    }
                };
                let content = input_content(m.content, i)?;
                Ok(CoreMessage { role, content })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(RunInput::Messages),
    }
}
