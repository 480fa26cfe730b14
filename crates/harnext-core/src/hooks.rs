//! Hooks: callbacks a binding (or the CLI, with shell commands) gives an agent to see and
//! shape its runs as they go. Each is a [`HookFn`]: it gets the event as a JSON object
//! and answers JSON (`null` for "no opinion"), so a JavaScript function, a Python
//! callable and a command reading stdin all serve the same way. The engine reads the
//! answers (`crate::hook_calls`), strictly: an answer it does not understand is a
//! failed hook, never a silent "allow".
//!
//! A leaf of the crate (`config` holds the [`Hooks`]).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

/// A hook: called with the event's input, it answers JSON or fails with a message.
pub trait HookFn: Send + Sync {
    fn call(&self, input: Value) -> BoxFuture<'static, Result<Value, String>>;
}

/// A Rust closure as a hook.
pub struct FnHook<F>(pub F);

impl<F> HookFn for FnHook<F>
where
    F: Fn(Value) -> BoxFuture<'static, Result<Value, String>> + Send + Sync,
{
    fn call(&self, input: Value) -> BoxFuture<'static, Result<Value, String>> {
        (self.0)(input)
    }
}

/// When a hook is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookEvent {
    /// Before a tool call is authorized and run: allow, deny, ask, or rewrite its args.
    PreToolUse,
    /// After a tool call ran (status `ok` or `error`): keep, replace or add to its output.
    PostToolUse,
    /// Before the run's input reaches the model: add context, or block the run.
    UserPromptSubmit,
    /// When the model ended its turn and the run is about to succeed: accept, or
    /// continue the run with a message (a few times at most per run).
    Stop,
    /// Before the history is compacted (a notification).
    PreCompact,
    /// At the start of each run on a session (new or continued): may add context.
    SessionStart,
    /// At the end of each run, before `run_end` (a notification).
    SessionEnd,
}

impl HookEvent {
    pub const ALL: [HookEvent; 7] = [
        HookEvent::PreToolUse,
        HookEvent::PostToolUse,
        HookEvent::UserPromptSubmit,
        HookEvent::Stop,
        HookEvent::PreCompact,
        HookEvent::SessionStart,
        HookEvent::SessionEnd,
    ];

    /// The neutral name: the `event` of the hook's input, and the `hook` of `hook_error`.
    pub const fn key(self) -> &'static str {
        match self {
            HookEvent::PreToolUse => "pre_tool_use",
            HookEvent::PostToolUse => "post_tool_use",
            HookEvent::UserPromptSubmit => "user_prompt_submit",
            HookEvent::Stop => "stop",
            HookEvent::PreCompact => "pre_compact",
            HookEvent::SessionStart => "session_start",
            HookEvent::SessionEnd => "session_end",
        }
    }

    pub fn from_key(key: &str) -> Option<HookEvent> {
        HookEvent::ALL.into_iter().find(|e| e.key() == key)
    }
}

impl std::fmt::Display for HookEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// How long a hook may take before it counts as failed, unless told otherwise.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// A `stop` hook may continue a run this many times; past it the run ends.
pub const MAX_STOP_CONTINUES: u32 = 3;

/// An agent's hooks: for each event, its hooks in the order given.
#[derive(Clone)]
pub struct Hooks {
    entries: Vec<(HookEvent, Arc<dyn HookFn>)>,
    /// How long one hook may take; past it, it counts as failed.
    pub timeout: Duration,
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks {
            entries: Vec::new(),
            timeout: DEFAULT_HOOK_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field(
                "events",
                &self
                    .entries
                    .iter()
                    .map(|(e, _)| e.key())
                    .collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Hooks {
    /// Adds a hook for `event`, after those already given for it.
    pub fn add(&mut self, event: HookEvent, hook: Arc<dyn HookFn>) {
        self.entries.push((event, hook));
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The hooks of `event`, in order.
    pub fn of(&self, event: HookEvent) -> Vec<Arc<dyn HookFn>> {
        self.entries
            .iter()
            .filter(|(e, _)| *e == event)
            .map(|(_, h)| h.clone())
            .collect()
    }
}
