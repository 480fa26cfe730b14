//! The one conversion of errors into JavaScript. Every error the binding throws or
//! rejects with, and every engine error message it hands over (`error` events,
//! `RunResult.error`), goes through here: the engine names options by their neutral key
//! (`` `api_key` ``), and JavaScript users read them as the Node API spells them
//! (`` `apiKey` ``).

use std::borrow::Cow;
use std::fmt::Display;

use harnext_core::permissions::DecisionError;
use harnext_core::permissions::RespondError;
use harnext_core::protocol::OptionKey;
use harnext_core::protocol::OptionNames;
use harnext_core::store::StoreError;
use harnext_core::ConfigError;
use harnext_core::RunError;
use harnext_core::SessionError;
use napi::bindgen_prelude::JsObjectValue;
use napi::Env;
use napi::JsValue;
use napi::Status;

/// How the Node API spells each option.
pub(crate) struct NodeNames;

impl OptionNames for NodeNames {
    fn name(&self, key: OptionKey) -> Cow<'static, str> {
        Cow::Borrowed(match key {
            OptionKey::Model => "model",
            OptionKey::BaseUrl => "baseURL",
            OptionKey::ApiKey => "apiKey",
            OptionKey::Headers => "headers",
            OptionKey::Cwd => "cwd",
            OptionKey::SystemPrompt => "systemPrompt",
            OptionKey::Tools => "tools",
            OptionKey::McpServers => "mcpServers",
            OptionKey::PermissionMode => "permissionMode",
            OptionKey::OnPermissionRequest => "onPermissionRequest",
            OptionKey::MaxSteps => "maxSteps",
            OptionKey::MaxOutputTokens => "maxOutputTokens",
            OptionKey::Temperature => "temperature",
            OptionKey::Thinking => "thinking",
            OptionKey::MaxRetries => "maxRetries",
            OptionKey::IdleTimeoutMs => "idleTimeoutMs",
            OptionKey::StreamTimeoutMs => "streamTimeoutMs",
            OptionKey::Script => "script",
            OptionKey::SessionDir => "sessionDir",
            OptionKey::PersistSession => "persistSession",
            OptionKey::ContextWindow => "contextWindow",
            OptionKey::SessionId => "sessionId",
            OptionKey::Signal => "signal",
            OptionKey::OutputSchema => "outputSchema",
            OptionKey::MaxOutputRetries => "maxOutputRetries",
            OptionKey::AtMessage => "atMessage",
            OptionKey::Sandbox => "sandbox",
            OptionKey::Network => "network",
            OptionKey::WritableRoots => "writableRoots",
            OptionKey::DenyRead => "denyRead",
            OptionKey::EnvAllow => "envAllow",
            OptionKey::EnvDeny => "envDeny",
            OptionKey::SandboxBestEffort => "sandboxBestEffort",
            OptionKey::MaxCostUsd => "maxCostUsd",
            OptionKey::MaxTokens => "maxTokens",
            OptionKey::MaxDurationMs => "maxDurationMs",
            OptionKey::Hooks => "hooks",
            OptionKey::ParallelToolCalls => "parallelToolCalls",
            OptionKey::Checkpoints => "checkpoints",
            OptionKey::Agents => "agents",
            OptionKey::Tracing => "tracing",
            OptionKey::SessionStore => "sessionStore",
            OptionKey::ProjectInstructions => "projectInstructions",
            OptionKey::Skills => "skills",
            OptionKey::WebFetch => "webFetch",
            OptionKey::WebSearch => "webSearch",
        })
    }
}

/// An engine message, worded for JavaScript.
pub(crate) fn word(message: &str) -> String {
    OptionKey::reword(message, &NodeNames).into_owned()
}

/// An error that reaches JavaScript: its message, and whether it is misuse (a bad
/// option or argument: status `InvalidArg`) or a failure.
pub(crate) trait JsError: Display {
    const STATUS: Status = Status::GenericFailure;
}

impl JsError for ConfigError {
    const STATUS: Status = Status::InvalidArg;
}
impl JsError for RunError {
    const STATUS: Status = Status::InvalidArg;
}
impl JsError for DecisionError {
    const STATUS: Status = Status::InvalidArg;
}
impl JsError for SessionError {}
impl JsError for harnext_core::RewindError {
    const STATUS: Status = Status::InvalidArg;
}
impl JsError for StoreError {}
impl JsError for RespondError {}
impl JsError for tokio::task::JoinError {}

/// The engine's error code of a run that could not start, when it has one: a session
/// store that failed (`session_store`, as in a run's `error.code`); else `None` (the
/// error's `code` is napi's status).
fn run_error_code(e: &RunError) -> Option<&'static str> {
    match e {
        RunError::SessionStore(_) => Some("session_store"),
        _ => None,
    }
}

/// The JavaScript error of a run that could not start: its `code` is the engine's
/// (`session_store`) when it has one. Made on the JavaScript thread.
pub(crate) fn run_error_to_js(env: &Env, e: RunError) -> napi::Error {
    let Some(code) = run_error_code(&e) else {
        return to_js(e);
    };
    let message = word(&e.to_string());
    let made = (|| -> napi::Result<napi::Error> {
        let mut error = env.create_error(napi::Error::new(Status::GenericFailure, message))?;
        error.set_named_property("code", code)?;
        Ok(napi::Error::from(error.to_unknown()))
    })();
    made.unwrap_or_else(|e| e)
}

/// Why a run prepared off the JavaScript thread did not start: made into a JavaScript
/// error back on it ([`run_error_to_js`]).
pub(crate) enum StartError {
    Run(RunError),
    Js(napi::Error),
}

impl StartError {
    pub(crate) fn into_js(self, env: &Env) -> napi::Error {
        match self {
            StartError::Run(e) => run_error_to_js(env, e),
            StartError::Js(e) => e,
        }
    }
}

/// Misuse found by the binding itself (a bad argument), phrased with neutral keys.
#[derive(Debug)]
pub(crate) struct Invalid(pub String);

impl Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsError for Invalid {
    const STATUS: Status = Status::InvalidArg;
}

/// The JavaScript error of `e`.
pub(crate) fn to_js<E: JsError>(e: E) -> napi::Error {
    napi::Error::new(E::STATUS, word(&e.to_string()))
}

/// `result.or_js()`: a result whose error becomes a JavaScript error.
pub(crate) trait OrJs<T> {
    fn or_js(self) -> napi::Result<T>;
}

impl<T, E: JsError> OrJs<T> for Result<T, E> {
    fn or_js(self) -> napi::Result<T> {
        self.map_err(to_js)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_is_spelled_as_in_the_node_api() {
        for key in OptionKey::ALL {
            let name = NodeNames.name(key);
            // camelCase of the neutral key, except `baseURL` (as in OpenAI's SDK).
            let camel: String = key
                .key()
                .split('_')
                .enumerate()
                .map(|(i, part)| {
                    let mut chars = part.chars();
                    match (i, chars.next()) {
                        (0, _) | (_, None) => part.to_owned(),
                        (_, Some(c)) => c.to_ascii_uppercase().to_string() + chars.as_str(),
                    }
                })
                .collect();
            if key == OptionKey::BaseUrl {
                assert_eq!(name, "baseURL");
            } else {
                assert_eq!(name, camel, "{key:?}");
            }
        }
        assert_eq!(
            word("invalid option `max_steps`: see `api_key`"),
            "invalid option `maxSteps`: see `apiKey`"
        );
    }
}
