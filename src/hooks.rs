//! The `hooks` option: JavaScript functions serving as the engine's hooks
//! (`harnext_core::hooks`). `index.js` hands them over as `{ entries, timeoutMs }`,
//! each function made async and its answer made plain JSON; their types are in
//! `js/header.d.ts`.
//!
//! Each function is a weak `ThreadsafeFunction` called with `call_async_catch`, so a
//! throw or a rejection comes back as the hook's failure (a `hook_error` event).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use harnext_core::hooks::HookEvent;
use harnext_core::hooks::HookFn;
use harnext_core::hooks::Hooks;
use harnext_core::protocol::option::unknown_name_hint;
use harnext_core::protocol::OptionKey;
use harnext_core::ConfigError;
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use napi::Status;
use napi_derive::napi;
use serde_json::Value;

/// A hook function, made async by `index.js`.
pub type HookCallFn = ThreadsafeFunction<Value, Promise<Value>, Value, Status, false, true>;

/// Internal: one hook function, as `index.js` hands it over.
#[napi(object, object_to_js = false)]
pub struct HookEntry {
    /// The hook's name in the `hooks` option (`preToolUse`, ...).
    pub event: String,
    #[napi(ts_type = "(input: unknown) => Promise<unknown>")]
    pub call: HookCallFn,
}

/// Internal: the `hooks` option, as `index.js` hands it over.
#[napi(object, object_to_js = false)]
pub struct HooksSpec {
    pub entries: Vec<HookEntry>,
    pub timeout_ms: Option<f64>,
}

/// The hooks' names in the Node API.
const NAMES: [(&str, HookEvent); 7] = [
    ("preToolUse", HookEvent::PreToolUse),
    ("postToolUse", HookEvent::PostToolUse),
    ("userPromptSubmit", HookEvent::UserPromptSubmit),
    ("stop", HookEvent::Stop),
    ("preCompact", HookEvent::PreCompact),
    ("sessionStart", HookEvent::SessionStart),
    ("sessionEnd", HookEvent::SessionEnd),
];

struct JsHook {
    call: Arc<HookCallFn>,
}

impl HookFn for JsHook {
    fn call(&self, input: Value) -> BoxFuture<'static, Result<Value, String>> {
        let call = self.call.clone();
        Box::pin(async move {
            let promise = call
                .call_async_catch(input)
                .await
                .map_err(|e| e.reason.clone())?;
            promise.await.map_err(|e| e.reason.clone())
        })
    }
}

/// The engine's hooks for the `hooks` option.
pub fn hooks(spec: HooksSpec) -> Result<Hooks, ConfigError> {
    let invalid = |problem: String| ConfigError::invalid(OptionKey::Hooks, problem);
    let mut hooks = Hooks::default();
    if let Some(ms) = spec.timeout_ms {
        if ms.fract() != 0.0 || !(1.0..=f64::from(u32::MAX)).contains(&ms) {
            return Err(invalid(format!(
                "timeoutMs: expected an integer >= 1, got {ms}"
            )));
        }
        // Checked above: a whole number from 1 to u32::MAX.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ms = ms as u64;
        hooks.timeout = Duration::from_millis(ms);
    }
    for entry in spec.entries {
        let Some((_, event)) = NAMES.iter().find(|(n, _)| *n == entry.event) else {
            let known: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
            return Err(invalid(format!(
                "unknown hook {:?}: {}",
                entry.event,
                unknown_name_hint(&entry.event, &known)
            )));
        };
        hooks.add(
            *event,
            Arc::new(JsHook {
                call: Arc::new(entry.call),
            }),
        );
    }
    Ok(hooks)
}
