//! From a configuration to an agent's shared state: every option checked once, with an
//! error naming the option and what was expected; the tools registered; the provider,
//! the session store and the MCP servers set up (none started).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;

use harnext_mcp::McpManager;
use harnext_protocol::OptionKey;
use harnext_providers::anthropic;
use harnext_providers::anthropic::AnthropicProvider;
use harnext_providers::openai;
use harnext_providers::openai::chat::ChatProvider;
use harnext_providers::openai::responses::ResponsesProvider;
use harnext_providers::redact::redact_model_stream;
use harnext_providers::redact::redactor_for;
use harnext_providers::redact::Redactor;
use harnext_providers::scripted::ScriptedProvider;
use harnext_providers::HttpSettings;
use harnext_providers::ModelProvider;
use harnext_providers::ModelRequest;
use harnext_providers::ModelStream;
use harnext_providers::SettingsError;
use harnext_providers::StructuredOutputMode;

use crate::config::AgentConfig;
use crate::config::ModelRef;
use crate::config::SystemPrompt;
use crate::context::AgentContext;
use crate::context::RegisteredTool;
use crate::error::ConfigError;
use crate::permissions;
use crate::prompt;
use crate::store::FileStore;
use crate::store::MemoryStore;
use crate::store::SessionStore;

/// Most characters in a tool name.
pub const MAX_TOOL_NAME_LEN: usize = 64;

/// A tool name the providers would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tool name must be 1 to {MAX_TOOL_NAME_LEN} characters of [a-zA-Z0-9_-], got {0:?}")]
pub struct InvalidToolName(pub String);

/// The rule every tool name follows (providers accept no other): 1 to 64 characters of
/// `[a-zA-Z0-9_-]`. Custom tools are checked against it here and in the bindings' tool
/// helpers, which call this function.
pub fn check_tool_name(name: &str) -> Result<(), InvalidToolName> {
    let valid = !name.is_empty()
        && name.len() <= MAX_TOOL_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(InvalidToolName(name.to_owned()))
    }
}

/// Checks `config` and builds the agent's shared state from it, with its subagents.
pub(crate) fn context(config: AgentConfig) -> Result<AgentContext, ConfigError> {
    let definitions = config.agents.clone();
    let mut ctx = build(config, None)?;
    if !definitions.is_empty() {
        ctx.subagents = subagents(&ctx, definitions)?;
        let task = RegisteredTool {
            tool: Arc::new(crate::subagent::TaskTool::new(
                &ctx.subagents
                    .iter()
                    .map(|a| (a.name.as_str(), a.description.as_str()))
                    .collect::<Vec<_>>(),
            )),
            category: permissions::ToolCategory::Read,
            sandboxed: false,
        };
        Arc::make_mut(&mut ctx.tool_specs).push(task.spec());
        ctx.tools.push(task);
    }
    Ok(ctx)
}

/// What a subagent shares with its parent.
struct Inherited {
    /// The parent's provider, model name and price, when the subagent uses its model.
    provider: Option<(
        Arc<dyn ModelProvider>,
        String,
        Option<crate::pricing::Price>,
    )>,
    sandbox: Arc<harnext_sandbox::Sandbox>,
    redactor: Redactor,
    store: MemoryStore,
}

/// The subagents of `parent`, each an agent of its own (see `crate::subagent`).
fn subagents(
    parent: &AgentContext,
    definitions: Vec<(String, crate::subagent::AgentDefinition)>,
) -> Result<Vec<crate::context::Subagent>, ConfigError> {
    let invalid = |problem: String| ConfigError::invalid(OptionKey::Agents, problem);
    if parent
        .tools
        .iter()
        .any(|t| t.tool.name() == crate::subagent::TASK_TOOL)
    {
        return Err(invalid(format!(
            "with `agents`, the tool name {:?} is the subagents' tool: rename the custom tool",
            crate::subagent::TASK_TOOL
        )));
    }
    let custom: Vec<&str> = parent
        .config
        .custom_tools
        .iter()
        .map(|t| t.name())
        .collect();
    let mut known: Vec<&str> = harnext_tools::BUILTIN_TOOL_NAMES.to_vec();
    known.extend(custom.iter().copied());
    let mut out = Vec::with_capacity(definitions.len());
    for (name, def) in definitions {
        check_tool_name(&name).map_err(|_| {
            invalid(format!(
                "agent name {name:?}: expected 1 to {MAX_TOOL_NAME_LEN} characters of [a-zA-Z0-9_-]"
            ))
        })?;
        let mut builtins = Vec::new();
        let mut tools = Vec::new();
        for tool in &def.tools {
            if tool == crate::subagent::TASK_TOOL {
                return Err(invalid(format!(
                    "`{name}`: a subagent cannot delegate further: leave {:?} out of its `tools`",
                    crate::subagent::TASK_TOOL
                )));
            }
            if builtins.contains(tool)
                || tools
                    .iter()
                    .any(|t: &Arc<dyn harnext_tools::Tool>| t.name() == tool)
            {
                return Err(invalid(format!("`{name}`: tool {tool:?} is listed twice")));
            }
            if harnext_tools::BUILTIN_TOOL_NAMES.contains(&tool.as_str()) {
                builtins.push(tool.clone());
            } else if let Some(t) = parent.config.custom_tools.iter().find(|t| t.name() == tool) {
                tools.push(t.clone());
            } else {
                return Err(invalid(format!(
                    "`{name}`: unknown tool {tool:?} in `tools`: {}",
                    harnext_protocol::option::unknown_name_hint(tool, &known)
                )));
            }
        }
        let mut config = parent.config.clone();
        config.agents = Vec::new();
        config.mcp_servers = Vec::new();
        if !builtins.iter().any(|t| t == "web_fetch") {
            // The parent's web_fetch settings are for its own web_fetch tool.
            config.web_fetch = harnext_tools::WebFetchSettings::default();
        }
        config.tools = Some(builtins);
        config.custom_tools = tools;
        config.system_prompt = SystemPrompt::Append(def.system_prompt.clone());
        config.max_steps = def.max_steps.unwrap_or(parent.config.max_steps);
        config.session_store = None;
        config.persist_session = false;
        let same_model = def.model.as_ref().is_none_or(|m| *m == parent.config.model);
        if let Some(model) = &def.model {
            if !same_model {
                let prefix = |m: &str| m.split_once('/').map(|(p, _)| p.to_owned());
                if prefix(model) != prefix(&parent.config.model) {
                    // Another provider: its own connection settings (the environment's).
                    config.base_url = None;
                    config.api_key = None;
                    config.headers = Vec::new();
                }
                config.model = model.clone();
            }
        }
        let store = MemoryStore::new();
        let inherited = Inherited {
            provider: same_model
                .then(|| (parent.provider.clone(), parent.model.clone(), parent.price)),
            sandbox: parent.sandbox.clone(),
            redactor: parent.redactor.clone(),
            store: store.clone(),
        };
        let agent = build(config, Some(inherited)).map_err(|e| {
            invalid(format!(
                "`{name}`: {}",
                e.to_string().trim_start_matches("invalid option ")
            ))
        })?;
        out.push(crate::context::Subagent {
            name,
            description: def.description,
            agent: Arc::new(agent),
            store,
        });
    }
    Ok(out)
}

/// Checks `config` and builds an agent's shared state from it (a subagent's shares
/// what `inherited` holds with its parent).
fn build(config: AgentConfig, inherited: Option<Inherited>) -> Result<AgentContext, ConfigError> {
    let model_ref = ModelRef::parse(&config.model)?;
    check_numbers(&config)?;
    let price = crate::pricing::price_of(&config.model);
    if let Some((option, problem)) = config.budget.problem(price.is_some(), &config.model) {
        return Err(ConfigError::invalid(option, problem));
    }
    let cwd = workspace(&config)?;
    check_skill_dirs(&config, &cwd)?;
    let web_fetch_on = config
        .tools
        .as_ref()
        .is_none_or(|names| names.iter().any(|n| n == "web_fetch"));
    if !web_fetch_on && config.web_fetch != harnext_tools::WebFetchSettings::default() {
        return Err(ConfigError::invalid(
            OptionKey::WebFetch,
            "it is set, but `tools` leaves the web_fetch tool out: add \"web_fetch\" to `tools` or drop the option",
        ));
    }
    let tools = register_tools(&config)?;
    let tool_names: Vec<String> = tools.iter().map(|t| t.tool.name().to_owned()).collect();
    let tool_specs = Arc::new(tools.iter().map(RegisteredTool::spec).collect());
    let (provider, model, redactor, price) =
        match inherited.as_ref().and_then(|i| i.provider.clone()) {
            Some((provider, model, price)) => (provider, model, Redactor::default(), price),
            None => {
                let (provider, model, redactor) = provider(&config, model_ref)?;
                (provider, model, redactor, price)
            }
        };
    if let Some(search) = &config.web_search {
        provider
            .check_web_search(search)
            .map_err(|p| ConfigError::invalid(OptionKey::WebSearch, p))?;
    }
    let session_dir = match (&config.session_store, config.persist_session) {
        (None, true) => config
            .session_dir
            .clone()
            .or_else(|| FileStore::default_dir().ok()),
        _ => None,
    };
    let sandbox = match &inherited {
        Some(i) => i.sandbox.clone(),
        None => harnext_sandbox::Sandbox::new(&config.sandbox, &cwd, session_dir.as_deref())
            .map(Arc::new)
            .map_err(|e| ConfigError::invalid(OptionKey::Sandbox, e.to_string()))?,
    };
    let built_in = || {
        let mut text = prompt::built_in(&cwd, &tool_names);
        if tool_names.iter().any(|t| t == "bash") {
            text.push('\n');
            text.push_str(&sandbox.prompt_text());
        }
        if tool_names.iter().any(|t| t == "web_fetch") && !sandbox.config().network {
            text.push_str("\nweb_fetch cannot be used: this agent has no network access.");
        }
        text
    };
    let system = match &config.system_prompt {
        SystemPrompt::BuiltIn => built_in(),
        SystemPrompt::Replace(s) => s.clone(),
        SystemPrompt::Append(extra) => format!("{}\n\n{extra}", built_in()),
    };
    let store: Arc<dyn SessionStore> = match &inherited {
        Some(i) => Arc::new(i.store.clone()),
        None => session_store(&config)?,
    };
    let mcp = McpManager::with_sandbox(config.mcp_servers.clone(), &cwd, Some(sandbox.clone()))
        .map_err(|e| ConfigError::invalid(OptionKey::McpServers, e.to_string()))?;
    let mut redactor = redactor.merged(&mcp.redactor());
    let provider: Arc<dyn ModelProvider> = match &inherited {
        // The parent's provider already redacts.
        Some(i) if i.provider.is_some() => provider,
        _ => Arc::new(Redacting {
            inner: provider,
            redactor: redactor.clone(),
        }),
    };
    if let Some(i) = &inherited {
        redactor = redactor.merged(&i.redactor);
    }
    Ok(AgentContext {
        config,
        model,
        cwd,
        provider,
        tools,
        tool_specs,
        system,
        store,
        mcp,
        sandbox,
        redactor,
        price,
        running: crate::control::Running::default(),
        subagents: Vec::new(),
    })
}

/// A provider whose stream carries no credential (see
/// `harnext_providers::redact::redact_model_stream`).
struct Redacting {
    inner: Arc<dyn ModelProvider>,
    redactor: Redactor,
}

impl ModelProvider for Redacting {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn stream(&self, request: ModelRequest) -> ModelStream {
        redact_model_stream(&self.redactor, self.inner.stream(request))
    }
    fn structured_output_mode(&self) -> StructuredOutputMode {
        self.inner.structured_output_mode()
    }
    fn check_web_search(&self, search: &harnext_providers::WebSearch) -> Result<(), String> {
        self.inner.check_web_search(search)
    }
}

fn check_numbers(config: &AgentConfig) -> Result<(), ConfigError> {
    let at_least_one =
        |key: OptionKey| ConfigError::invalid(key, "expected an integer >= 1, got 0");
    if config.max_steps == 0 {
        return Err(at_least_one(OptionKey::MaxSteps));
    }
    if let Some(t) = config.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(ConfigError::invalid(
                OptionKey::Temperature,
                format!("expected a number from 0 to 2, got {t}"),
            ));
        }
    }
    if config.max_output_tokens == Some(0) {
        return Err(at_least_one(OptionKey::MaxOutputTokens));
    }
    if let Some(b) = config.thinking_budget {
        if b < 1024 {
            return Err(ConfigError::invalid(
                OptionKey::Thinking,
                format!("the budget must be at least 1024 tokens, got {b}"),
            ));
        }
    }
    if config.context_window == Some(0) {
        return Err(at_least_one(OptionKey::ContextWindow));
    }
    Ok(())
}

/// The workspace, canonicalized: an existing directory.
fn workspace(config: &AgentConfig) -> Result<PathBuf, ConfigError> {
    let cwd = match &config.cwd {
        Some(p) => p.clone(),
        None => std::env::current_dir().map_err(|e| {
            ConfigError::invalid(
                OptionKey::Cwd,
                format!("cannot read the current directory: {e}"),
            )
        })?,
    };
    std::fs::canonicalize(&cwd)
        .ok()
        .filter(|p| p.is_dir())
        .ok_or_else(|| {
            ConfigError::invalid(
                OptionKey::Cwd,
                format!("{} is not an existing directory", cwd.display()),
            )
        })
}

/// Each folder of the `skills` option exists (relative ones are in the workspace).
fn check_skill_dirs(config: &AgentConfig, cwd: &std::path::Path) -> Result<(), ConfigError> {
    for dir in &config.skills {
        if dir.as_os_str().is_empty() || !cwd.join(dir).is_dir() {
            return Err(ConfigError::invalid(
                OptionKey::Skills,
                format!(
                    "{} is not an existing directory (a skill folder with a SKILL.md, or a folder of them)",
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}

/// The built-in tools that are on (all when `tools` is not set), then the custom tools.
fn register_tools(config: &AgentConfig) -> Result<Vec<RegisteredTool>, ConfigError> {
    let invalid = |problem: String| ConfigError::invalid(OptionKey::Tools, problem);
    let names: Vec<&str> = match &config.tools {
        Some(names) => names.iter().map(String::as_str).collect(),
        None => harnext_tools::BUILTIN_TOOL_NAMES.to_vec(),
    };
    let mut tools: Vec<RegisteredTool> = Vec::new();
    let taken = |tools: &[RegisteredTool], name: &str| tools.iter().any(|t| t.tool.name() == name);
    for name in names {
        let tool = if name == "web_fetch" {
            // Its settings are the agent's (checked again: a caller may set them directly).
            let settings = config
                .web_fetch
                .clone()
                .normalized()
                .map_err(|p| ConfigError::invalid(OptionKey::WebFetch, p))?;
            Some(Arc::new(harnext_tools::WebFetchTool::new(settings))
                as Arc<dyn harnext_tools::Tool>)
        } else {
            harnext_tools::builtin_tool(name)
        };
        let tool = tool.ok_or_else(|| {
            invalid(format!(
                "unknown built-in tool {name:?}; expected some of {:?}",
                harnext_tools::BUILTIN_TOOL_NAMES
            ))
        })?;
        if taken(&tools, name) {
            return Err(invalid(format!("tool {name:?} is listed twice")));
        }
        tools.push(RegisteredTool {
            category: permissions::category(name, tool.read_only(), true),
            sandboxed: name == "bash",
            tool,
        });
        // `bash` comes with `bash_output` and `bash_kill` (its background commands).
        for tool in harnext_tools::companion_tools(name) {
            tools.push(RegisteredTool {
                category: permissions::category(tool.name(), tool.read_only(), true),
                sandboxed: false,
                tool,
            });
        }
    }
    for tool in &config.custom_tools {
        let name = tool.name();
        check_tool_name(name).map_err(|e| invalid(e.to_string()))?;
        if taken(&tools, name)
            || harnext_tools::builtin_tool(name).is_some()
            || harnext_tools::BASH_COMPANION_NAMES.contains(&name)
        {
            return Err(invalid(format!(
                "tool name {name:?} is used twice (or by a built-in tool)"
            )));
        }
        if !tool.input_schema().is_object() {
            return Err(invalid(format!(
                "tool {name:?}: its input schema must be a JSON Schema object"
            )));
        }
        tools.push(RegisteredTool {
            category: permissions::category(name, tool.read_only(), false),
            sandboxed: false,
            tool: tool.clone(),
        });
    }
    Ok(tools)
}

fn http_client() -> Result<reqwest::Client, ConfigError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c.clone());
    }
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .user_agent(concat!("harnext/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            ConfigError::invalid(
                OptionKey::Model,
                format!("cannot set up the HTTP client: {e}"),
            )
        })?;
    Ok(CLIENT.get_or_init(|| client).clone())
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Connection settings for an HTTP provider: options first, then the environment.
fn http_settings(config: &AgentConfig, base_url_env: &str, api_key_env: &str) -> HttpSettings {
    HttpSettings {
        base_url: config
            .base_url
            .clone()
            .or_else(|| non_empty_env(base_url_env)),
        api_key: config
            .api_key
            .clone()
            .or_else(|| non_empty_env(api_key_env)),
        headers: config.headers.clone(),
        max_retries: config.max_retries,
        idle_timeout: config.idle_timeout,
        stream_timeout: config.stream_timeout,
    }
}

/// A settings error as the configuration error of the option at fault. Its message
/// shows no credential (a URL's user info and query values are redacted).
fn settings_error(e: &SettingsError) -> ConfigError {
    let key = OptionKey::from_key(e.option()).unwrap_or(OptionKey::BaseUrl);
    let message = e.to_string();
    let prefix = format!("`{key}`: ");
    let problem = message.strip_prefix(&prefix).unwrap_or(&message);
    ConfigError::invalid(key, problem)
}

/// The provider a model string selects, the model name it is sent, and the secrets
/// of its settings. Settings that cannot work (a malformed base URL, a header value
/// with a line break, ...) are refused here, naming the option.
fn provider(
    config: &AgentConfig,
    model_ref: ModelRef,
) -> Result<(Arc<dyn ModelProvider>, String, Redactor), ConfigError> {
    let settings = match &model_ref {
        ModelRef::Scripted => HttpSettings {
            base_url: config.base_url.clone(),
            api_key: config.api_key.clone(),
            headers: config.headers.clone(),
            max_retries: config.max_retries,
            idle_timeout: config.idle_timeout,
            stream_timeout: config.stream_timeout,
        },
        ModelRef::Anthropic(_) => {
            http_settings(config, anthropic::BASE_URL_ENV, anthropic::API_KEY_ENV)
        }
        ModelRef::OpenAi(_) | ModelRef::OpenAiChat(_) => {
            http_settings(config, openai::BASE_URL_ENV, openai::API_KEY_ENV)
        }
    };
    let redactor = redactor_for(&settings);
    let (provider, name): (Arc<dyn ModelProvider>, String) = match model_ref {
        ModelRef::Scripted => {
            settings.validate().map_err(|e| settings_error(&e))?;
            let Some(script) = config.script.clone() else {
                return Err(ConfigError::invalid(
                    OptionKey::Script,
                    "model \"scripted\" needs `script`: a list of turns such as [{ text: \"Hello\" }]",
                ));
            };
            (
                Arc::new(ScriptedProvider::new(script)),
                "scripted".to_owned(),
            )
        }
        ModelRef::Anthropic(name) => (
            Arc::new(
                AnthropicProvider::try_new(http_client()?, settings)
                    .map_err(|e| settings_error(&e))?,
            ),
            name,
        ),
        ModelRef::OpenAi(name) => (
            Arc::new(
                ResponsesProvider::try_new(http_client()?, settings)
                    .map_err(|e| settings_error(&e))?,
            ),
            name,
        ),
        ModelRef::OpenAiChat(name) => (
            Arc::new(
                ChatProvider::try_new(http_client()?, settings).map_err(|e| settings_error(&e))?,
            ),
            name,
        ),
    };
    Ok((provider, name, redactor))
}

/// The configured store, else a memory store (`persist_session` false), else the file
/// store in `session_dir` (or the default directory).
fn session_store(config: &AgentConfig) -> Result<Arc<dyn SessionStore>, ConfigError> {
    Ok(match (&config.session_store, config.persist_session) {
        (Some(store), _) => store.clone(),
        (None, false) => Arc::new(MemoryStore::new()),
        (None, true) => {
            let dir = match &config.session_dir {
                Some(dir) => dir.clone(),
                None => FileStore::default_dir()
                    .map_err(|e| ConfigError::invalid(OptionKey::SessionDir, e.to_string()))?,
            };
            if dir.exists() && !dir.is_dir() {
                return Err(ConfigError::invalid(
                    OptionKey::SessionDir,
                    format!("{} exists and is not a directory", dir.display()),
                ));
            }
            Arc::new(FileStore::new(dir))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_follow_the_providers_rule() {
        for good in ["a", "get_weather", "x-1", &"n".repeat(64)] {
            assert!(check_tool_name(good).is_ok(), "{good}");
        }
        for bad in ["", "bad name", "ünï", "a.b", &"n".repeat(65)] {
            let e = check_tool_name(bad).unwrap_err();
            assert!(e.to_string().contains("must be 1 to 64 characters"), "{e}");
        }
    }
}
