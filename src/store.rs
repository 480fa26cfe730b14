//! A `sessionStore` written in JavaScript: the engine's `CallbackStore` (its rules, time
//! limits and checks are there) calling the object's methods through the dispatcher
//! `index.js` hands over (`call(method, args)`, which awaits the method and makes its
//! answer plain JSON).
//!
//! The dispatcher is a weak `ThreadsafeFunction` (it never keeps Node alive) called with
//! `call_async_catch`, so a throw or a rejection comes back as an error instead of crashing
//! the process. The engine never waits for an answer on the JavaScript thread (which would
//! wait for itself): runs of an agent with such a store are prepared off that thread
//! ([`Start`]).

use std::sync::Arc;
use std::thread::ThreadId;

use futures::future::BoxFuture;
use harnext_core::protocol::OptionKey;
use harnext_core::store::check_timeout_ms;
use harnext_core::store::CallbackStore;
use harnext_core::store::StoreCalls;
use harnext_core::store::StoreMethod;
use harnext_core::store::DEFAULT_CALL_TIMEOUT;
use harnext_core::ConfigError;
use harnext_core::Run;
use harnext_core::SessionStore;
use napi::bindgen_prelude::FnArgs;
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use napi::Status;
use napi_derive::napi;
use serde_json::Value;

use crate::error::StartError;

/// `(method, args) => Promise<answer>`: `index.js`'s dispatcher to the store's methods.
pub type StoreCallFn = ThreadsafeFunction<
    FnArgs<(String, Value)>,
    Promise<Value>,
    FnArgs<(String, Value)>,
    Status,
    false,
    true,
>;

/// Internal: a `sessionStore` object as `index.js` hands it over.
#[napi(object, object_to_js = false)]
pub struct JsStoreSpec {
    /// The same for every use of one object (so the process refuses a second run of a
    /// session before asking the store).
    pub key: String,
    #[napi(ts_type = "(method: string, args: unknown[]) => Promise<unknown>")]
    pub call: StoreCallFn,
    /// The store's `timeoutMs`.
    pub timeout_ms: Option<f64>,
}

struct JsCalls {
    call: Arc<StoreCallFn>,
    /// The JavaScript thread the store was made on.
    js_thread: ThreadId,
}

impl StoreCalls for JsCalls {
    fn call(
        &self,
        method: StoreMethod,
        args: Vec<Value>,
    ) -> BoxFuture<'static, Result<Value, String>> {
        let call = self.call.clone();
        Box::pin(async move {
            let promise = call
                .call_async_catch(FnArgs::from((method.name().to_owned(), Value::Array(args))))
                .await
                .map_err(|e| e.reason.clone())?;
            promise.await.map_err(|e| e.reason.clone())
        })
    }

    fn may_wait(&self) -> bool {
        std::thread::current().id() != self.js_thread
    }
}

/// The engine's store for a JavaScript `sessionStore` object.
pub fn js_store(spec: JsStoreSpec) -> Result<Arc<dyn SessionStore>, ConfigError> {
    let timeout = match spec.timeout_ms {
        None => DEFAULT_CALL_TIMEOUT,
        Some(ms) => check_timeout_ms(ms)
            .map_err(|problem| ConfigError::invalid(OptionKey::SessionStore, problem))?,
    };
    let calls = JsCalls {
        call: Arc::new(spec.call),
        js_thread: std::thread::current().id(),
    };
    Ok(Arc::new(CallbackStore::new(
        Arc::new(calls),
        spec.key,
        "(a JavaScript object)",
        timeout,
    )))
}

/// A run as `run()` and `stream()` get it: prepared, or to be prepared off the JavaScript
/// thread.
pub(crate) enum Start {
    Ready(Box<Run>),
    Later(Box<dyn FnOnce() -> Result<Run, harnext_core::RunError> + Send>),
}

impl Start {
    /// The run, prepared on a blocking thread when it was not yet.
    pub(crate) async fn run(self) -> Result<Run, StartError> {
        match self {
            Start::Ready(run) => Ok(*run),
            Start::Later(prepare) => match tokio::task::spawn_blocking(prepare).await {
                Ok(started) => started.map_err(StartError::Run),
                Err(e) => Err(StartError::Js(crate::error::to_js(e))),
            },
        }
    }
}
