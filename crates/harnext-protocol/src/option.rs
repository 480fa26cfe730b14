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
    Script,
    SessionDir,
    PersistSession,
    ContextWindow,
    SessionId,
    Signal,
    OutputSchema,
    MaxOutputRetries,
    AtMessage,
}

impl OptionKey {
    /// Every option, for a face that checks its names cover them all.
    pub const ALL: [OptionKey; 25] = [
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
        OptionKey::Script,
        OptionKey::SessionDir,
        OptionKey::PersistSession,
        OptionKey::ContextWindow,
        OptionKey::SessionId,
        OptionKey::Signal,
        OptionKey::OutputSchema,
        OptionKey::MaxOutputRetries,
        OptionKey::AtMessage,
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
            OptionKey::Script => "script",
            OptionKey::SessionDir => "session_dir",
            OptionKey::PersistSession => "persist_session",
            OptionKey::ContextWindow => "context_window",
            OptionKey::SessionId => "session_id",
            OptionKey::Signal => "signal",
            OptionKey::OutputSchema => "output_schema",
            OptionKey::MaxOutputRetries => "max_output_retries",
            OptionKey::AtMessage => "at_message",
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
