//! harnext's wire-neutral vocabulary.
//!
//! Everything here is plain serde data with no runtime: the conversation history
//! ([`Message`], [`ContentBlock`]) in a provider-neutral form that can be saved and
//! replayed to any provider, the public events of a run ([`AgentEvent`]), its
//! [`RunResult`], token [`Usage`], the public error shape ([`HarnextError`],
//! [`ErrorCode`]), the neutral names of options in messages ([`OptionKey`]), the
//! turns of the scripted model ([`ScriptedTurn`]) and the [`redact::Redactor`] that
//! keeps credentials out of text.
//!
//! Field names follow the public contract: snake_case in Rust and on disk, camelCase
//! in JavaScript (the binding converts).

mod error;
mod event;
pub mod image;
mod message;
pub mod option;
pub mod redact;
mod script;
mod usage;

pub use error::ErrorCode;
pub use error::HarnextError;
pub use event::AgentEvent;
pub use event::CallSandbox;
pub use event::PendingApproval;
pub use event::RunResult;
pub use event::RunSandbox;
pub use event::StopDetails;
pub use event::StopReason;
pub use event::TodoItem;
pub use event::TodoStatus;
pub use event::ToolStatus;
pub use event::ToolStep;
pub use event::WebSearchResult;
pub use event::WebSearchStatus;
pub use image::ImageSource;
pub use message::ContentBlock;
pub use message::Message;
pub use message::Role;
pub use option::NeutralNames;
pub use option::OptionKey;
pub use option::OptionNames;
pub use option::OptionScope;
pub use script::ScriptedToolCall;
pub use script::ScriptedTurn;
pub use script::ScriptedUsage;
pub use usage::Usage;
