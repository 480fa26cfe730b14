//! Wiring a JavaScript `AbortSignal` to a run's cancellation token, leaving no listener
//! behind.
//!
//! napi's own `AbortSignal` type ignores already-aborted signals and overwrites
//! `signal.onabort`, so the link is a few lines of JavaScript instead: it cancels at once
//! when the signal is already aborted, otherwise adds an `abort` listener and returns the
//! function that removes it. The caller calls that function when the run ends.

use napi::bindgen_prelude::FnArgs;
use napi::bindgen_prelude::Function;
use napi::bindgen_prelude::Unknown;
use napi::Env;
use napi::Result;
use tokio_util::sync::CancellationToken;

const LINK_JS: &str = r#"(function harnextLinkSignal(signal, cancel) {
  if (signal === undefined || signal === null) return null;
  if (typeof signal !== "object" || typeof signal.aborted !== "boolean" || typeof signal.addEventListener !== "function") {
    throw new TypeError("options.signal must be an AbortSignal");
  }
  if (signal.aborted) { cancel(); return null; }
  const onAbort = () => cancel();
  signal.addEventListener("abort", onAbort, { once: true });
  return () => signal.removeEventListener("abort", onAbort);
})"#;

type LinkFn<'a> =
    Function<'a, FnArgs<(Unknown<'a>, Function<'a, (), ()>)>, Option<Function<'a, (), ()>>>;

/// Links `signal` (when given) to `token`. Returns the unlink function, or `None` when
/// there is nothing to unlink (no signal, or one already aborted: `token` is cancelled).
pub fn link<'env>(
    env: &'env Env,
    signal: Option<Unknown<'env>>,
    token: &CancellationToken,
) -> Result<Option<Function<'env, (), ()>>> {
    let Some(signal) = signal else {
        return Ok(None);
    };
    let t = token.clone();
    let cancel: Function<'env, (), ()> = env.create_function_from_closure("cancel", move |_| {
        t.cancel();
        Ok(())
    })?;
    // Compiling the helper costs a few microseconds a run; caching it across calls
    // would need a reference per JS thread, which is not worth its complexity.
    let helper: LinkFn<'env> = env.run_script(LINK_JS)?;
    helper.call(FnArgs::from((signal, cancel)))
}
