//! Options, named neutrally in every message of the engine.
//!
//! The engine serves several faces (Node, Python) whose options are spelled differently
//! (`apiKey` in JavaScript, `api_key` in Python). Engine messages therefore name an option
//! by its neutral key, snake_case in backticks (`` `api_key` ``: what [`OptionKey`]'s
//! `Display` writes inside the backticks of a `format!`), and each face words the message
//! in its own conventions through [`OptionKey::reword`] with its [`OptionNames`]: the Node
//! binding says `apiKey`, the Python binding keeps the neutral key.

use std::borrow::Cow;
use std::fmt;

/// An option of an agent, of a run, or of the session functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptionKey {
    Model,
    BaseUrl,
    ApiKey,
    Headers,
    Cwd,
    SystemPrompt,
    Tools,
    McpServers,
    PermissionMode,
    OnPermissionRequest,
    MaxSteps,
    MaxOutputTokens,
    Temperature,
    Thinking,
    MaxRetries,
    IdleTimeoutMs,
    StreamTimeoutMs,
    Script,
    SessionDir,
    PersistSession,
    ContextWindow,
    SessionId,
    Signal,
    OutputSchema,
    MaxOutputRetries,
    AtMessage,
    SessionStore,
    Sandbox,
    Network,
    WritableRoots,
    DenyRead,
    EnvAllow,
    EnvDeny,
    SandboxBestEffort,
    MaxCostUsd,
    MaxTokens,
    MaxDurationMs,
    Hooks,
    ParallelToolCalls,
    Checkpoints,
    // Issue 18: project instructions and skills.
    ProjectInstructions,
    Skills,
    // Issue 18: web_fetch.
    WebFetch,
    // Subagents (issue 18).
    Agents,
    // OpenTelemetry spans (issue 18; read by the faces).
    Tracing,
    // Issue 18: the providers' server-side web search.
    WebSearch,
}

impl OptionKey {
    /// Every option, for a face that checks its names cover them all.
    pub const ALL: [OptionKey; 46] = [
        OptionKey::Model,
        OptionKey::BaseUrl,
        OptionKey::ApiKey,
        OptionKey::Headers,
        OptionKey::Cwd,
        OptionKey::SystemPrompt,
        OptionKey::Tools,
        OptionKey::McpServers,
        OptionKey::PermissionMode,
        OptionKey::OnPermissionRequest,
        OptionKey::MaxSteps,
        OptionKey::MaxOutputTokens,
        OptionKey::Temperature,
        OptionKey::Thinking,
        OptionKey::MaxRetries,
        OptionKey::IdleTimeoutMs,
        OptionKey::StreamTimeoutMs,
        OptionKey::Script,
        OptionKey::SessionDir,
        OptionKey::PersistSession,
        OptionKey::ContextWindow,
        OptionKey::SessionId,
        OptionKey::Signal,
        OptionKey::OutputSchema,
        OptionKey::MaxOutputRetries,
        OptionKey::AtMessage,
        OptionKey::SessionStore,
        OptionKey::Sandbox,
        OptionKey::Network,
        OptionKey::WritableRoots,
        OptionKey::DenyRead,
        OptionKey::EnvAllow,
        OptionKey::EnvDeny,
        OptionKey::SandboxBestEffort,
        OptionKey::MaxCostUsd,
        OptionKey::MaxTokens,
        OptionKey::MaxDurationMs,
        OptionKey::Hooks,
        OptionKey::ParallelToolCalls,
        OptionKey::Checkpoints,
        OptionKey::ProjectInstructions,
        OptionKey::Skills,
        OptionKey::WebFetch,
        OptionKey::Agents,
        OptionKey::Tracing,
        OptionKey::WebSearch,
    ];

    /// The neutral key: snake_case, as the engine's messages (and the Python face) say it.
    pub const fn key(self) -> &'static str {
        match self {
            OptionKey::Model => "model",
            OptionKey::BaseUrl => "base_url",
            OptionKey::ApiKey => "api_key",
            OptionKey::Headers => "headers",
            OptionKey::Cwd => "cwd",
            OptionKey::SystemPrompt => "system_prompt",
            OptionKey::Tools => "tools",
            OptionKey::McpServers => "mcp_servers",
            OptionKey::PermissionMode => "permission_mode",
            OptionKey::OnPermissionRequest => "on_permission_request",
            OptionKey::MaxSteps => "max_steps",
            OptionKey::MaxOutputTokens => "max_output_tokens",
            OptionKey::Temperature => "temperature",
            OptionKey::Thinking => "thinking",
            OptionKey::MaxRetries => "max_retries",
            OptionKey::IdleTimeoutMs => "idle_timeout_ms",
            OptionKey::StreamTimeoutMs => "stream_timeout_ms",
            OptionKey::Script => "script",
            OptionKey::SessionDir => "session_dir",
            OptionKey::PersistSession => "persist_session",
            OptionKey::ContextWindow => "context_window",
            OptionKey::SessionId => "session_id",
            OptionKey::Signal => "signal",
            OptionKey::OutputSchema => "output_schema",
            OptionKey::MaxOutputRetries => "max_output_retries",
            OptionKey::AtMessage => "at_message",
            OptionKey::SessionStore => "session_store",
            OptionKey::Sandbox => "sandbox",
            OptionKey::Network => "network",
            OptionKey::WritableRoots => "writable_roots",
            OptionKey::DenyRead => "deny_read",
            OptionKey::EnvAllow => "env_allow",
            OptionKey::EnvDeny => "env_deny",
            OptionKey::SandboxBestEffort => "sandbox_best_effort",
            OptionKey::MaxCostUsd => "max_cost_usd",
            OptionKey::MaxTokens => "max_tokens",
            OptionKey::MaxDurationMs => "max_duration_ms",
            OptionKey::Hooks => "hooks",
            OptionKey::ParallelToolCalls => "parallel_tool_calls",
            OptionKey::Checkpoints => "checkpoints",
            OptionKey::ProjectInstructions => "project_instructions",
            OptionKey::Skills => "skills",
            OptionKey::WebFetch => "web_fetch",
            OptionKey::Agents => "agents",
            OptionKey::Tracing => "tracing",
            OptionKey::WebSearch => "web_search",
        }
    }

    /// The option a neutral key names.
    pub fn from_key(key: &str) -> Option<OptionKey> {
        OptionKey::ALL.into_iter().find(|k| k.key() == key)
    }

    /// `message` worded for a face: every option mentioned as `` `<neutral key>` `` is
    /// renamed by `names`; the rest of the text is left as it is.
    pub fn reword<'a>(message: &'a str, names: &dyn OptionNames) -> Cow<'a, str> {
        if !message.contains('`') {
            return Cow::Borrowed(message);
        }
        let mut out = String::with_capacity(message.len());
        let mut rest = message;
        let mut changed = false;
        while let Some(open) = rest.find('`') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('`') else {
                break;
            };
            let inner = &after[..close];
            out.push_str(&rest[..=open]);
            match OptionKey::from_key(inner) {
                Some(key) => {
                    let name = names.name(key);
                    changed |= name != inner;
                    out.push_str(&name);
                }
                None => out.push_str(inner),
            }
            out.push('`');
            rest = &after[close + 1..];
        }
        if !changed {
            return Cow::Borrowed(message);
        }
        out.push_str(rest);
        Cow::Owned(out)
    }
}

/// Where options are given: each place accepts its own set, and a name outside it is
/// an error with a "did you mean" suggestion ([`OptionScope::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptionScope {
    /// The options of an agent (`new Agent(options)`).
    Agent,
    /// The options of one run (`run(input, options)`, `stream(input, options)`).
    Run,
}

impl OptionScope {
    /// The options accepted here.
    pub const fn keys(self) -> &'static [OptionKey] {
        match self {
            OptionScope::Agent => &[
                OptionKey::Model,
                OptionKey::BaseUrl,
                OptionKey::ApiKey,
                OptionKey::Headers,
                OptionKey::Cwd,
                OptionKey::SystemPrompt,
                OptionKey::Tools,
                OptionKey::McpServers,
                OptionKey::PermissionMode,
                OptionKey::OnPermissionRequest,
                OptionKey::MaxSteps,
                OptionKey::MaxOutputTokens,
                OptionKey::Temperature,
                OptionKey::Thinking,
                OptionKey::MaxRetries,
                OptionKey::IdleTimeoutMs,
                OptionKey::StreamTimeoutMs,
                OptionKey::Script,
                OptionKey::SessionDir,
                OptionKey::PersistSession,
                OptionKey::ContextWindow,
                OptionKey::Sandbox,
                OptionKey::Network,
                OptionKey::WritableRoots,
                OptionKey::DenyRead,
                OptionKey::EnvAllow,
                OptionKey::EnvDeny,
                OptionKey::SandboxBestEffort,
                OptionKey::MaxCostUsd,
                OptionKey::MaxTokens,
                OptionKey::MaxDurationMs,
                OptionKey::Hooks,
                OptionKey::ParallelToolCalls,
                OptionKey::SessionStore,
                OptionKey::Checkpoints,
                OptionKey::ProjectInstructions,
                OptionKey::Skills,
                OptionKey::WebFetch,
                OptionKey::Agents,
                OptionKey::Tracing,
                OptionKey::WebSearch,
            ],
            OptionScope::Run => &[
                OptionKey::SessionId,
                OptionKey::MaxSteps,
                OptionKey::Signal,
                OptionKey::OutputSchema,
                OptionKey::MaxOutputRetries,
                OptionKey::MaxCostUsd,
                OptionKey::MaxTokens,
                OptionKey::MaxDurationMs,
                OptionKey::ParallelToolCalls,
                OptionKey::WebSearch,
            ],
        }
    }

    /// What the options are of, for messages.
    pub const fn what(self) -> &'static str {
        match self {
            OptionScope::Agent => "an agent",
            OptionScope::Run => "a run",
        }
    }

    /// Checks the option names a caller gave (as the face spells them, `names`): the
    /// first unknown one is an error naming it, with the closest known option as a
    /// suggestion (`` `permission_mode` ``, in the engine's neutral wording).
    pub fn check<'a, I>(self, given: I, names: &dyn OptionNames) -> Result<(), String>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let known: Vec<(OptionKey, Cow<'static, str>)> =
            self.keys().iter().map(|&k| (k, names.name(k))).collect();
        for name in given {
            if known.iter().any(|(_, n)| n == name) {
                continue;
            }
            let spelled: Vec<&str> = known.iter().map(|(_, n)| n.as_ref()).collect();
            let hint = match closest(name, spelled.iter().copied()) {
                Some(best) => {
                    let key = known
                        .iter()
                        .find(|(_, n)| n == best)
                        .map_or(best.to_owned(), |(k, _)| k.key().to_owned());
                    format!("did you mean `{key}`?")
                }
                None => format!(
                    "expected one of {}",
                    known
                        .iter()
                        .map(|(k, _)| format!("`{}`", k.key()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(format!(
                "unknown option {name:?} of {}: {hint}",
                self.what()
            ));
        }
        Ok(())
    }
}

/// What is wrong with a name that is not among `known` (spelled as the caller spells
/// them): "did you mean `x`?" for a close one, else the list of known names.
pub fn unknown_name_hint(given: &str, known: &[&str]) -> String {
    match closest(given, known.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None => format!(
            "expected one of {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The candidate closest to `given`, when one is close enough to be what was meant:
/// the same letters once case, `_` and `-` are ignored (`max_steps` for `maxSteps`),
/// else within a few edits (`permisionMode` for `permissionMode`).
pub fn closest<'a, I>(given: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let fold = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let g = fold(given);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let c = fold(candidate);
        let distance = if c == g {
            0
        } else {
            strsim::damerau_levenshtein(&g, &c)
        };
        let limit = (c.chars().count().max(g.chars().count()) / 3).clamp(1, 3);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

impl fmt::Display for OptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// How a face spells its options.
pub trait OptionNames {
    fn name(&self, key: OptionKey) -> Cow<'static, str>;
}

/// The neutral keys themselves (the Python face's spelling).
#[derive(Debug, Clone, Copy, Default)]
pub struct NeutralNames;

impl OptionNames for NeutralNames {
    fn name(&self, key: OptionKey) -> Cow<'static, str> {
        Cow::Borrowed(key.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Shout;
    impl OptionNames for Shout {
        fn name(&self, key: OptionKey) -> Cow<'static, str> {
            Cow::Owned(key.key().to_uppercase())
        }
    }

    #[test]
    fn keys_are_unique_and_found_back() {
        for key in OptionKey::ALL {
            assert_eq!(OptionKey::from_key(key.key()), Some(key));
            assert_eq!(key.to_string(), key.key());
        }
    }

    #[test]
    fn unknown_options_are_refused_with_the_closest_known_one() {
        let e = OptionScope::Agent
            .check(["model", "permisionMode"], &Camel)
            .unwrap_err();
        assert_eq!(
            e,
            "unknown option \"permisionMode\" of an agent: did you mean `permission_mode`?"
        );
        // The neutral spelling given to a camelCase face is found too.
        let e = OptionScope::Run.check(["max_steps"], &Camel).unwrap_err();
        assert!(e.ends_with("did you mean `max_steps`?"), "{e}");
        // Nothing close: the known options are listed.
        let e = OptionScope::Run.check(["banana"], &Camel).unwrap_err();
        assert!(
            e.contains("expected one of `session_id`, `max_steps`"),
            "{e}"
        );
        assert!(OptionScope::Agent
            .check(["model", "apiKey"], &Camel)
            .is_ok());
        assert!(OptionScope::Run.check(["signal"], &NeutralNames).is_ok());
        // A run option is not an agent option.
        assert!(OptionScope::Agent.check(["signal"], &Camel).is_err());
        assert_eq!(
            closest("streamTimeoutMS", ["streamTimeoutMs", "idleTimeoutMs"]),
            Some("streamTimeoutMs")
        );
        assert_eq!(closest("zzz", ["model"]), None);
    }

    struct Camel;
    impl OptionNames for Camel {
        fn name(&self, key: OptionKey) -> Cow<'static, str> {
            let mut out = String::new();
            for (i, part) in key.key().split('_').enumerate() {
                let mut chars = part.chars();
                match (i, chars.next()) {
                    (0, _) | (_, None) => out.push_str(part),
                    (_, Some(c)) => {
                        out.push(c.to_ascii_uppercase());
                        out.push_str(chars.as_str());
                    }
                }
            }
            Cow::Owned(out)
        }
    }

    #[test]
    fn reword_renames_only_backticked_neutral_keys() {
        let m = "invalid option `max_steps`: set `api_key` or max_steps; see `bash` and `x";
        assert_eq!(
            OptionKey::reword(m, &Shout),
            "invalid option `MAX_STEPS`: set `API_KEY` or max_steps; see `bash` and `x"
        );
        assert!(matches!(
            OptionKey::reword(m, &NeutralNames),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            OptionKey::reword("no option here", &Shout),
            Cow::Borrowed(_)
        ));
    }
}
