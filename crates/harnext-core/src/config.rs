//! Agent configuration: what `new Agent(options)` accepts, validated once at
//! construction with errors that name the option and what was expected.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use harnext_protocol::OptionKey;
use harnext_protocol::ScriptedTurn;
use harnext_tools::Tool;

pub use crate::error::ConfigError;
pub use crate::permissions::PermissionMode;
use crate::store::SessionStore;

/// Which provider a model string selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// `anthropic/<model>`: the Messages API.
    Anthropic(String),
    /// `openai/<model>`: the OpenAI Responses API.
    OpenAi(String),
    /// `openai-chat/<model>`: Chat Completions, on OpenAI or any compatible server.
    OpenAiChat(String),
    /// `scripted`: the scripted model, replaying `AgentConfig::script`.
    Scripted,
}

impl ModelRef {
    pub fn parse(model: &str) -> Result<ModelRef, ConfigError> {
        let invalid = |problem: String| ConfigError::invalid(OptionKey::Model, problem);
        if model == "scripted" || model.starts_with("scripted/") {
            return Ok(ModelRef::Scripted);
        }
        let Some((prefix, name)) = model.split_once('/') else {
            return Err(invalid(format!(
                "expected \"<provider>/<model>\" such as \"anthropic/claude-sonnet-4-5\", \"openai/gpt-5\" or \"openai-chat/llama3.1\", or \"scripted\"; got {model:?}"
            )));
        };
        if name.trim().is_empty() {
            return Err(invalid(format!(
                "{model:?} names no model after the provider prefix"
            )));
        }
        match prefix {
            "anthropic" => Ok(ModelRef::Anthropic(name.to_owned())),
            "openai" => Ok(ModelRef::OpenAi(name.to_owned())),
            "openai-chat" => Ok(ModelRef::OpenAiChat(name.to_owned())),
            other => Err(invalid(format!(
                "unknown provider prefix {other:?} in {model:?}; expected \"anthropic/<model>\", \"openai/<model>\", \"openai-chat/<model>\" or \"scripted\""
            ))),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SystemPrompt {
    /// The built-in coding-agent prompt.
    #[default]
    BuiltIn,
    /// Replaces the built-in prompt.
    Replace(String),
    /// Appended to the built-in prompt.
    Append(String),
}

/// Everything an agent is built from. Build it with [`AgentConfig::new`] and set fields;
/// [`crate::Agent::new`] validates it.
#[derive(Clone)]
pub struct AgentConfig {
    pub model: String,
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub headers: Vec<(String, String)>,
    /// The workspace; `None` means the process's current directory.
    pub cwd: Option<PathBuf>,
    pub system_prompt: SystemPrompt,
    /// Which built-in tools are on; `None` means all of them.
    pub tools: Option<Vec<String>>,
    pub permission_mode: PermissionMode,
    pub max_steps: u32,
    pub max_output_tokens: Option<u32>,
    pub temperature: Option<f64>,
    /// Reasoning budget in tokens; `None` leaves thinking off.
    pub thinking_budget: Option<u32>,
    pub max_retries: u32,
    /// How long a model stream may stay silent before it counts as stalled.
    pub idle_timeout: Option<Duration>,
    /// How long one model call may take in all, however steadily data arrives; past it
    /// the run fails with a `timeout` error. `None`: the providers' default (30 min).
    pub stream_timeout: Option<Duration>,
    /// The turns of the scripted model (`model: "scripted"`).
    pub script: Option<Vec<ScriptedTurn>>,
    /// Tools supplied by the user (custom tools from a binding, MCP tools...).
    pub custom_tools: Vec<Arc<dyn Tool>>,
    /// Where sessions are kept as JSONL files; `None` means `$HARNEXT_SESSION_DIR`, else
    /// `$HOME/.harnext/sessions`.
    pub session_dir: Option<PathBuf>,
    /// `false` keeps sessions in memory only (in this agent).
    pub persist_session: bool,
    /// A session store to use instead of the file store (takes precedence over
    /// `session_dir` and `persist_session`).
    pub session_store: Option<Arc<dyn SessionStore>>,
    /// The model's context window in tokens; `None` means the model family's default
    /// (200k for Claude; unlimited for the scripted model).
    pub context_window: Option<u64>,
    /// MCP servers whose tools the agent offers as `mcp__<server>__<tool>`; started by
    /// the first run that needs them (see `harnext_mcp::McpManager`).
    pub mcp_servers: Vec<(String, harnext_mcp::McpServerConfig)>,
    /// How shell commands (and MCP stdio servers) are confined: `sandbox` mode,
    /// `network`, `writable_roots`, `deny_read`, `env_allow` / `env_deny`,
    /// `sandbox_best_effort`. Default: `workspace-write` without network.
    pub sandbox: harnext_sandbox::SandboxConfig,
    /// `max_cost_usd`, `max_tokens`, `max_duration_ms` of every run (a run's own
    /// override them); see `crate::budget`.
    pub budget: crate::budget::Budget,
    /// Callbacks called at points of each run (see `crate::hooks`).
    pub hooks: crate::hooks::Hooks,
    /// Whether the calls of a model turn that only read run concurrently. Default true.
    pub parallel_tool_calls: bool,
    /// The limits of the file checkpoints each run keeps for a rewind (see
    /// `crate::checkpoints`); `None`: no checkpoints. Default: on, with the default limits.
    pub checkpoints: Option<harnext_tools::checkpoint::CheckpointOptions>,
    // ---- Issue 18: project instructions and skills ----
    /// Whether the workspace's `AGENTS.md` (or `CLAUDE.md`) files are added to the
    /// context (see `crate::instructions`). Default true.
    pub project_instructions: bool,
    /// Skill folders (a folder with a `SKILL.md`, or a folder of such folders), relative
    /// to the workspace or absolute; `.agents/skills/` of the workspace is searched too
    /// (see `crate::skills`).
    pub skills: Vec<PathBuf>,
    /// Where `web_fetch` may go: allowed and blocked domains, its time limit (see
    /// `harnext_tools::web_fetch`).
    pub web_fetch: harnext_tools::WebFetchSettings,
    /// Subagents by name, offered to the model as the `task` tool (see
    /// `crate::subagent`). Empty: no `task` tool.
    pub agents: Vec<(String, crate::subagent::AgentDefinition)>,
    /// The provider's own server-side web search (Anthropic's `web_search` tool,
    /// OpenAI's hosted `web_search`); `None`: off. See [`web_search_option`].
    pub web_search: Option<harnext_providers::WebSearch>,
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials never reach a log: the key and header values are redacted.
        f.debug_struct("AgentConfig")
            .field("model", &self.model)
            .field(
                "base_url",
                &self
                    .base_url
                    .as_deref()
                    .map(harnext_protocol::redact::redact_url),
            )
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("cwd", &self.cwd)
            .field("system_prompt", &self.system_prompt)
            .field("tools", &self.tools)
            .field("permission_mode", &self.permission_mode)
            .field("max_steps", &self.max_steps)
            .field("max_retries", &self.max_retries)
            .field(
                "custom_tools",
                &self
                    .custom_tools
                    .iter()
                    .map(|t| t.name().to_owned())
                    .collect::<Vec<_>>(),
            )
            .field("session_dir", &self.session_dir)
            .field("persist_session", &self.persist_session)
            .field("context_window", &self.context_window)
            .field("mcp_servers", &self.mcp_servers)
            .field("sandbox", &self.sandbox)
            .field("budget", &self.budget)
            .field("hooks", &self.hooks)
            .field("parallel_tool_calls", &self.parallel_tool_calls)
            .field("checkpoints", &self.checkpoints)
            .field("project_instructions", &self.project_instructions)
            .field("skills", &self.skills)
            .field("web_fetch", &self.web_fetch)
            .field("agents", &self.agents)
            .field("web_search", &self.web_search)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_MAX_STEPS: u32 = 50;
pub const DEFAULT_MAX_RETRIES: u32 = 2;

/// The `web_fetch` option from its JSON form, as a face spells its fields (`camel`:
/// `allowedDomains`, `blockedDomains`, `timeoutMs`; else `allowed_domains`, ...): an
/// unknown field is an error with the closest known one.
pub fn web_fetch_option(
    value: &serde_json::Value,
    camel: bool,
) -> Result<harnext_tools::WebFetchSettings, crate::ConfigError> {
    let invalid = |p: String| crate::ConfigError::invalid(OptionKey::WebFetch, p);
    let names: [&str; 3] = if camel {
        ["allowedDomains", "blockedDomains", "timeoutMs"]
    } else {
        ["allowed_domains", "blocked_domains", "timeout_ms"]
    };
    let Some(map) = value.as_object() else {
        return Err(invalid(format!(
            "expected an object {{ {}?, {}?, {}? }}, got {value}",
            names[0], names[1], names[2]
        )));
    };
    let mut settings = harnext_tools::WebFetchSettings::default();
    let strings = |key: &str, v: &serde_json::Value| -> Result<Vec<String>, crate::ConfigError> {
        v.as_array()
            .and_then(|items| {
                items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect::<Option<Vec<String>>>()
            })
            .ok_or_else(|| invalid(format!("{key}: expected a list of domain strings, got {v}")))
    };
    for (key, v) in map {
        match names.iter().position(|n| n == key) {
            Some(0) => settings.allowed_domains = strings(key, v)?,
            Some(1) => settings.blocked_domains = strings(key, v)?,
            Some(_) => {
                let ms = v
                    .as_u64()
                    .filter(|ms| *ms >= 1)
                    .ok_or_else(|| invalid(format!("{key}: expected an integer >= 1, got {v}")))?;
                settings.timeout = Duration::from_millis(ms);
            }
            None => {
                return Err(invalid(format!(
                    "unknown field {key:?}: {}",
                    harnext_protocol::option::unknown_name_hint(key, &names)
                )))
            }
        }
    }
    settings.normalized().map_err(|p| {
        // The field as the face spells it.
        let p = p
            .replace("allowed_domains", names[0])
            .replace("blocked_domains", names[1])
            .replace("timeout_ms", names[2]);
        invalid(p)
    })
}

/// `true` and `false` as the face writes them (JavaScript's, else Python's), for messages.
fn bool_words(camel: bool) -> (&'static str, &'static str) {
    if camel {
        ("true", "false")
    } else {
        ("True", "False")
    }
}

/// The `checkpoints` option, read from its JSON value: `false` (none), `true` (the default
/// limits) or an object of limits (`maxFileBytes`, `maxBinaryBytes`, `maxRunBytes`,
/// `maxBaselineFiles` when `camel`, else their snake_case names), each an integer from 0
/// to 2^32 - 1. Errors name the option and the field as the face spells it; an unknown
/// field is an error (with a "did you mean"). Both faces call this; they only convert.
pub fn checkpoints_option(
    value: &serde_json::Value,
    camel: bool,
) -> Result<Option<harnext_tools::checkpoint::CheckpointOptions>, crate::ConfigError> {
    let invalid = |p: String| crate::ConfigError::invalid(OptionKey::Checkpoints, p);
    let names: [&str; 4] = if camel {
        [
            "maxFileBytes",
            "maxBinaryBytes",
            "maxRunBytes",
            "maxBaselineFiles",
        ]
    } else {
        [
            "max_file_bytes",
            "max_binary_bytes",
            "max_run_bytes",
            "max_baseline_files",
        ]
    };
    let mut options = harnext_tools::checkpoint::CheckpointOptions::default();
    let map = match value {
        serde_json::Value::Bool(false) => return Ok(None),
        serde_json::Value::Bool(true) => return Ok(Some(options)),
        serde_json::Value::Object(map) => map,
        other => {
            let (t, f) = bool_words(camel);
            return Err(invalid(format!(
                "expected {t}, {f} or an object of limits {{ {}?, {}?, {}?, {}? }}, got {other}",
                names[0], names[1], names[2], names[3]
            )));
        }
    };
    for (key, v) in map {
        let Some(field) = names.iter().position(|n| n == key) else {
            return Err(invalid(format!(
                "unknown limit `{key}`: {}",
                harnext_protocol::option::unknown_name_hint(key, &names)
            )));
        };
        let n = v
            .as_u64()
            .filter(|n| *n <= u64::from(u32::MAX))
            .ok_or_else(|| {
                invalid(format!(
                    "`{key}`: expected an integer from 0 to {}, got {v}",
                    u32::MAX
                ))
            })?;
        match field {
            0 => options.max_file_bytes = n,
            1 => options.max_binary_bytes = n,
            2 => options.max_run_bytes = n,
            _ => options.max_baseline_files = usize::try_from(n).unwrap_or(usize::MAX),
        }
    }
    Ok(Some(options))
}

/// The `thinking` option, read from its JSON value: `false` (off), `true` (a budget of
/// 4096 tokens) or `{ budgetTokens }` (`budget_tokens` when not `camel`), an integer of
/// at least 1024. Returns the budget; errors name the field as the face spells it.
pub fn thinking_option(
    value: &serde_json::Value,
    camel: bool,
) -> Result<Option<u32>, crate::ConfigError> {
    let invalid = |p: String| crate::ConfigError::invalid(OptionKey::Thinking, p);
    let name = if camel {
        "budgetTokens"
    } else {
        "budget_tokens"
    };
    let map = match value {
        serde_json::Value::Bool(on) => return Ok(on.then_some(4096)),
        serde_json::Value::Object(map) => map,
        other => {
            let (t, f) = bool_words(camel);
            return Err(invalid(format!(
                "expected {t}, {f} or {{ {name}: <integer >= 1024> }}, got {other}"
            )));
        }
    };
    if let Some(key) = map.keys().find(|k| *k != name) {
        return Err(invalid(format!(
            "unknown field `{key}`: {}",
            harnext_protocol::option::unknown_name_hint(key, &[name])
        )));
    }
    let Some(v) = map.get(name) else {
        return Err(invalid(format!("`{name}` is required in an object")));
    };
    v.as_u64()
        .filter(|n| (1024..=u64::from(u32::MAX)).contains(n))
        .and_then(|n| u32::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| {
            invalid(format!(
                "`{name}`: expected an integer from 1024 to {}, got {v}",
                u32::MAX
            ))
        })
}

/// The `sandbox` option: `"workspace-write"`, `"read-only"` or `"off"`.
pub fn sandbox_mode_option(mode: &str) -> Result<harnext_sandbox::SandboxMode, crate::ConfigError> {
    harnext_sandbox::SandboxMode::parse(mode).ok_or_else(|| {
        crate::ConfigError::invalid(
            OptionKey::Sandbox,
            format!("expected \"workspace-write\", \"read-only\" or \"off\"; got {mode:?}"),
        )
    })
}

/// The `web_search` option from its JSON form, as a face spells its fields (`camel`:
/// `maxUses`, `allowedDomains`, `blockedDomains`, `userLocation`; else `max_uses`,
/// ...): `true` turns the search on with the provider's defaults, `false` leaves it
/// off, an object turns it on with settings. An unknown field is an error with the
/// closest known one; whether the provider takes the settings is checked when the
/// agent (or run) is built.
pub fn web_search_option(
    value: &serde_json::Value,
    camel: bool,
) -> Result<Option<harnext_providers::WebSearch>, crate::ConfigError> {
    use serde_json::Value;
    let invalid = |p: String| crate::ConfigError::invalid(OptionKey::WebSearch, p);
    let names: [&str; 4] = if camel {
        [
            "maxUses",
            "allowedDomains",
            "blockedDomains",
            "userLocation",
        ]
    } else {
        [
            "max_uses",
            "allowed_domains",
            "blocked_domains",
            "user_location",
        ]
    };
    let map = match value {
        Value::Bool(false) => return Ok(None),
        Value::Bool(true) => return Ok(Some(harnext_providers::WebSearch::default())),
        Value::Object(map) => map,
        other => {
            let (t, f) = bool_words(camel);
            return Err(invalid(format!(
                "expected {t}, {f} or an object {{ {}?, {}?, {}?, {}? }}, got {other}",
                names[0], names[1], names[2], names[3]
            )));
        }
    };
    let domains = |key: &str, v: &Value| -> Result<Vec<String>, crate::ConfigError> {
        let list = v
            .as_array()
            .ok_or_else(|| invalid(format!("{key}: expected a list of domain names, got {v}")))?;
        let mut out: Vec<String> = Vec::with_capacity(list.len());
        for item in list {
            let domain = item.as_str().map(str::trim).unwrap_or_default();
            let plain = !domain.is_empty()
                && !domain.contains("://")
                && !domain.chars().any(|c| c.is_whitespace() || c.is_control());
            if !plain {
                return Err(invalid(format!(
                    "{key}: expected domain names such as \"example.com\" (no scheme), got {item}"
                )));
            }
            if !out.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
                out.push(domain.to_owned());
            }
        }
        Ok(out)
    };
    let mut search = harnext_providers::WebSearch::default();
    for (key, v) in map {
        match names.iter().position(|n| n == key) {
            Some(0) => {
                let n = v
                    .as_u64()
                    .filter(|n| *n >= 1)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| invalid(format!("{key}: expected an integer >= 1, got {v}")))?;
                search.max_uses = Some(n);
            }
            Some(1) => search.allowed_domains = domains(key, v)?,
            Some(2) => search.blocked_domains = domains(key, v)?,
            Some(_) => search.user_location = Some(user_location(key, v).map_err(invalid)?),
            None => {
                return Err(invalid(format!(
                    "unknown field {key:?}: {}",
                    harnext_protocol::option::unknown_name_hint(key, &names)
                )))
            }
        }
    }
    Ok(Some(search))
}

/// `{ city?, region?, country?, timezone? }`, strings; `country` a two-letter code.
fn user_location(
    key: &str,
    v: &serde_json::Value,
) -> Result<harnext_providers::UserLocation, String> {
    const FIELDS: [&str; 4] = ["city", "region", "country", "timezone"];
    let map = v.as_object().ok_or_else(|| {
        format!("{key}: expected an object {{ city?, region?, country?, timezone? }}, got {v}")
    })?;
    let mut location = harnext_providers::UserLocation::default();
    for (field, value) in map {
        let Some(text) = value.as_str().map(str::trim).filter(|s| !s.is_empty()) else {
            return Err(format!(
                "{key}.{field}: expected a non-empty string, got {value}"
            ));
        };
        let text = Some(text.to_owned());
        match field.as_str() {
            "city" => location.city = text,
            "region" => location.region = text,
            "country" => {
                if !text
                    .as_deref()
                    .is_some_and(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
                {
                    return Err(format!(
                        "{key}.country: expected a two-letter ISO 3166-1 country code such as \"US\", got {value}"
                    ));
                }
                location.country = text;
            }
            "timezone" => location.timezone = text,
            _ => {
                return Err(format!(
                    "{key}: unknown field {field:?}: {}",
                    harnext_protocol::option::unknown_name_hint(field, &FIELDS)
                ))
            }
        }
    }
    Ok(location)
}

impl AgentConfig {
    pub fn new(model: impl Into<String>) -> Self {
        AgentConfig {
            model: model.into(),
            base_url: None,
            api_key: None,
            headers: Vec::new(),
            cwd: None,
            system_prompt: SystemPrompt::BuiltIn,
            tools: None,
            permission_mode: PermissionMode::Auto,
            max_steps: DEFAULT_MAX_STEPS,
            max_output_tokens: None,
            temperature: None,
            thinking_budget: None,
            max_retries: DEFAULT_MAX_RETRIES,
            idle_timeout: None,
            stream_timeout: None,
            script: None,
            custom_tools: Vec::new(),
            session_dir: None,
            persist_session: true,
            session_store: None,
            context_window: None,
            mcp_servers: Vec::new(),
            sandbox: harnext_sandbox::SandboxConfig::default(),
            budget: crate::budget::Budget::default(),
            hooks: crate::hooks::Hooks::default(),
            parallel_tool_calls: true,
            checkpoints: Some(harnext_tools::checkpoint::CheckpointOptions::default()),
            project_instructions: true,
            skills: Vec::new(),
            web_fetch: harnext_tools::WebFetchSettings::default(),
            agents: Vec::new(),
            web_search: None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn thinking_and_sandbox_are_read_by_the_engine_naming_a_bad_field_as_each_face_spells_it() {
        use serde_json::json;
        assert_eq!(thinking_option(&json!(false), true).unwrap(), None);
        assert_eq!(thinking_option(&json!(true), false).unwrap(), Some(4096));
        assert_eq!(
            thinking_option(&json!({"budgetTokens": 2048}), true).unwrap(),
            Some(2048)
        );
        assert_eq!(
            thinking_option(&json!({"budget_tokens": 1024}), false).unwrap(),
            Some(1024)
        );
        let err =
            |v: serde_json::Value, camel: bool| thinking_option(&v, camel).unwrap_err().to_string();
        for (v, camel, needle) in [
            (json!({"budgetToken": 2048}), true, "invalid option `thinking`: unknown field `budgetToken`: did you mean `budgetTokens`?"),
            (json!({"budgetTokens": 2048}), false, "unknown field `budgetTokens`: did you mean `budget_tokens`?"),
            (json!({"budgetTokens": 2048, "extra": 1}), true, "unknown field `extra`"),
            (json!({}), true, "`budgetTokens` is required"),
            (json!({"budget_tokens": 10}), false, "invalid option `thinking`: `budget_tokens`: expected an integer from 1024 to 4294967295, got 10"),
            (json!({"budgetTokens": 2048.5}), true, "`budgetTokens`: expected an integer from 1024"),
            (json!({"budgetTokens": "2048"}), true, "`budgetTokens`: expected an integer from 1024"),
            (json!(4096), true, "invalid option `thinking`: expected true, false or { budgetTokens"),
            (json!("on"), false, "expected True, False or { budget_tokens"),
        ] {
            let e = err(v, camel);
            assert!(e.contains(needle), "{e}");
        }
        assert_eq!(
            sandbox_mode_option("read-only").unwrap(),
            harnext_sandbox::SandboxMode::ReadOnly
        );
        let e = sandbox_mode_option("readonly").unwrap_err().to_string();
        assert!(
            e.contains("invalid option `sandbox`: expected \"workspace-write\", \"read-only\" or \"off\"; got \"readonly\""),
            "{e}"
        );
    }

    #[test]
    fn model_strings_select_a_provider_or_say_what_was_expected() {
        assert_eq!(
            ModelRef::parse("anthropic/claude-sonnet-4-5").unwrap(),
            ModelRef::Anthropic("claude-sonnet-4-5".into())
        );
        assert_eq!(
            ModelRef::parse("openai/gpt-5").unwrap(),
            ModelRef::OpenAi("gpt-5".into())
        );
        // Model names may contain slashes and colons (OpenRouter, Ollama tags).
        assert_eq!(
            ModelRef::parse("openai-chat/meta-llama/llama-3.1-8b-instruct").unwrap(),
            ModelRef::OpenAiChat("meta-llama/llama-3.1-8b-instruct".into())
        );
        assert_eq!(
            ModelRef::parse("openai-chat/qwen3:8b").unwrap(),
            ModelRef::OpenAiChat("qwen3:8b".into())
        );
        assert_eq!(ModelRef::parse("scripted").unwrap(), ModelRef::Scripted);
        for (bad, needle) in [
            ("claude", "expected \"<provider>/<model>\""),
            ("anthropic/", "names no model"),
            ("openai/ ", "names no model"),
            ("openai-chat/", "names no model"),
            ("gemini/pro", "unknown provider prefix \"gemini\""),
            ("openai-responses/gpt-5", "\"openai-chat/<model>\""),
        ] {
            let msg = ModelRef::parse(bad).unwrap_err().to_string();
            assert!(msg.starts_with("invalid option `model`"), "{msg}");
            assert!(msg.contains(needle), "{msg}");
        }
    }

    #[test]
    fn debug_output_redacts_credentials() {
        let mut c = AgentConfig::new("anthropic/x");
        c.api_key = Some("sk-ant-secret".into());
        c.headers = vec![("authorization".into(), "Bearer hunter2".into())];
        c.base_url = Some("https://alice:pass-word-1@proxy.example/v1?key=AIza-secret".into());
        let s = format!("{c:?}");
        assert!(
            !s.contains("sk-ant-secret")
                && !s.contains("hunter2")
                && !s.contains("pass-word-1")
                && !s.contains("AIza-secret"),
            "{s}"
        );
    }
}
