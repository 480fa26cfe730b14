//! Permission decisions for tool calls: the vocabulary (modes, decisions, handlers) and
//! the pure rule of which calls need approval. The call's whole life, approval included,
//! is in `crate::dispatch`.
//!
//! The mode says which calls need approval: `auto` none, `read-only` refuses every tool
//! that writes or runs commands, `manual` asks before any of them, `accept-edits` lets
//! file edits through and asks for the rest. A call that needs approval emits a
//! `permission_request` event and then waits for a [`PermissionHandler`]: a callback
//! supplied by the binding, or [`PendingPermissions`], which is answered through
//! `respond(decision)` on the event.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use futures::future::BoxFuture;
use harnext_protocol::CallSandbox;
use harnext_protocol::OptionKey;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::error::ConfigError;

/// Which tool calls need approval. Its names (`"auto"`, `"manual"`, `"accept-edits"`,
/// `"read-only"`) are the same in every face; they are spelled here only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum PermissionMode {
    /// Never ask.
    #[default]
    Auto,
    /// Ask before any tool that writes files or runs commands.
    Manual,
    /// File edits run; commands and other writing tools ask.
    AcceptEdits,
    /// Writing tools and commands are refused.
    ReadOnly,
}

impl PermissionMode {
    pub const ALL: [PermissionMode; 4] = [
        PermissionMode::Auto,
        PermissionMode::Manual,
        PermissionMode::AcceptEdits,
        PermissionMode::ReadOnly,
    ];

    /// The mode's name, as users write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            PermissionMode::Auto => "auto",
            PermissionMode::Manual => "manual",
            PermissionMode::AcceptEdits => "accept-edits",
            PermissionMode::ReadOnly => "read-only",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        PermissionMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<String> = PermissionMode::ALL
                    .iter()
                    .map(|m| format!("{:?}", m.as_str()))
                    .collect();
                let expected = match names.split_last() {
                    Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                    None => String::new(),
                };
                ConfigError::invalid(
                    OptionKey::PermissionMode,
                    format!("expected {expected}; got {s:?}"),
                )
            })
    }

    /// Whether some calls wait for an answer in this mode (a handler is then required).
    pub const fn asks(self) -> bool {
        matches!(self, PermissionMode::Manual | PermissionMode::AcceptEdits)
    }
}

impl std::fmt::Display for PermissionMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tool call waiting for approval.
#[derive(Debug, Clone, PartialEq)]
pub struct PermissionRequest {
    /// The tool call's id, as the model gave it (a model may reuse one).
    pub id: String,
    pub tool: String,
    pub args: Value,
    /// The engine's key for this request, unique in the process
    /// ([`PermissionRequest::new_request_id`]): answers from outside the run are given
    /// for it.
    pub request_id: String,
    /// How the call would run: in the OS sandbox (the `bash` tool with a sandbox in
    /// force), or not (`None`). Only a sandboxed call can be escalated.
    pub sandbox: Option<CallSandbox>,
}

impl PermissionRequest {
    /// A key no other request of this process has (`perm_1`, `perm_2`, ...).
    pub fn new_request_id() -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        format!(
            "perm_{}",
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        )
    }
}

/// The answer to a [`PermissionRequest`].
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Run the call, with `args` replacing its arguments when given; `remember` allows
    /// the same tool for the rest of the session; `escalate` relaxes the sandbox for
    /// this one call (never remembered).
    Allow {
        args: Option<Value>,
        remember: bool,
        escalate: Option<Escalation>,
    },
    /// Do not run it; `message` goes back to the model as the tool's output.
    Deny { message: Option<String> },
    /// Decide later, from any process: the run ends with stop reason
    /// `awaiting_approval`, the call saved in the session as pending, and a later run
    /// of the session given the decision runs or denies it.
    Defer,
}

/// Decisions for calls that waited for approvals, by call id, as given to a later run
/// (see `crate::approvals`).
pub type Answers = Vec<(String, Decision)>;
/// What an allowed call may do beyond the sandbox, for that call only (the decision's
/// `escalate` field), as Codex asks before running a command outside its sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Escalation {
    /// The command may open network connections.
    pub network: bool,
    /// More directories the command may write in (absolute, or relative to the
    /// workspace; they must exist).
    pub writable_roots: Vec<PathBuf>,
}

impl Escalation {
    /// Parses `{ network?: boolean, writable_roots?: string[] }` (`writableRoots` is
    /// accepted too, the Node spelling). `None` when it asks for nothing.
    fn from_json(v: &Value) -> Result<Option<Escalation>, DecisionError> {
        let o = match v {
            Value::Null => return Ok(None),
            Value::Object(o) => o,
            other => {
                return Err(DecisionError::Escalate(format!(
                    "must be an object, got {other}"
                )))
            }
        };
        let mut escalation = Escalation::default();
        for (key, value) in o {
            match (key.as_str(), value) {
                ("network", Value::Bool(b)) => escalation.network = *b,
                ("network", Value::Null) => {}
                ("network", other) => {
                    return Err(DecisionError::Escalate(format!(
                        "`network` must be a boolean, got {other}"
                    )))
                }
                ("writable_roots" | "writableRoots", Value::Array(roots)) => {
                    for root in roots {
                        match root {
                            Value::String(p) if !p.trim().is_empty() => {
                                escalation.writable_roots.push(PathBuf::from(p));
                            }
                            other => {
                                return Err(DecisionError::Escalate(format!(
                                    "`{key}` must be a list of paths, got {other} in it"
                                )))
                            }
                        }
                    }
                }
                ("writable_roots" | "writableRoots", Value::Null) => {}
                ("writable_roots" | "writableRoots", other) => {
                    return Err(DecisionError::Escalate(format!(
                        "`{key}` must be a list of paths, got {other}"
                    )))
                }
                (other, _) => {
                    return Err(DecisionError::Escalate(format!(
                        "unknown field `{other}`: expected `network` and/or `writable_roots` (or `writableRoots`)"
                    )))
                }
            }
        }
        if !escalation.network && escalation.writable_roots.is_empty() {
            return Ok(None);
        }
        Ok(Some(escalation))
    }
}

/// Why a value is not a [`Decision`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    #[error("unknown decision field `{0}`: {EXPECTED}")]
    UnknownField(String),
    #[error("decision `args` must be an object, got {0}")]
    Args(Value),
    #[error("decision `remember` must be a boolean, got {0}")]
    Remember(Value),
    #[error("decision `message` must be a string, got {0}")]
    Message(Value),
    #[error("decision `escalate` {0}")]
    Escalate(String),
    #[error("decision `escalate` applies to one call and cannot be remembered: drop `remember`, or allow the tool without `escalate`")]
    EscalateRemembered,
    #[error("invalid decision {0}: {EXPECTED}")]
    Invalid(Value),
}

const EXPECTED: &str = "expected \"allow\", \"deny\", \"defer\", { behavior: \"allow\", args?, remember?, escalate? }, { behavior: \"deny\", message? } or { behavior: \"defer\" }";

impl Decision {
    /// Parses the JSON forms users write: `"allow"`, `"deny"`,
    /// `{ behavior: "allow", args?, remember?, escalate? }`, `{ behavior: "deny", message? }`.
    pub fn from_json(v: &Value) -> Result<Decision, DecisionError> {
        match v {
            Value::String(s) if s == "allow" => Ok(Decision::Allow {
                args: None,
                remember: false,
                escalate: None,
            }),
            Value::String(s) if s == "deny" => Ok(Decision::Deny { message: None }),
            Value::String(s) if s == "defer" => Ok(Decision::Defer),
            Value::Object(o) => {
                let known = ["behavior", "args", "remember", "message", "escalate"];
                if let Some(k) = o.keys().find(|k| !known.contains(&k.as_str())) {
                    return Err(DecisionError::UnknownField(k.clone()));
                }
                match o.get("behavior").and_then(Value::as_str) {
                    Some("allow") => {
                        let args = match o.get("args") {
                            None | Some(Value::Null) => None,
                            Some(a @ Value::Object(_)) => Some(a.clone()),
                            Some(other) => return Err(DecisionError::Args(other.clone())),
                        };
                        let remember = match o.get("remember") {
                            None | Some(Value::Null) => false,
                            Some(Value::Bool(b)) => *b,
                            Some(other) => return Err(DecisionError::Remember(other.clone())),
                        };
                        let escalate = match o.get("escalate") {
                            None => None,
                            Some(e) => Escalation::from_json(e)?,
                        };
                        if remember && escalate.is_some() {
                            return Err(DecisionError::EscalateRemembered);
                        }
                        Ok(Decision::Allow {
                            args,
                            remember,
                            escalate,
                        })
                    }
                    Some("defer") if o.len() == 1 => Ok(Decision::Defer),
                    Some("deny") if o.contains_key("escalate") => Err(DecisionError::Escalate(
                        "belongs to an allow decision, not to a deny".to_owned(),
                    )),
                    Some("deny") => match o.get("message") {
                        None | Some(Value::Null) => Ok(Decision::Deny { message: None }),
                        Some(Value::String(m)) => Ok(Decision::Deny {
                            message: Some(m.clone()),
                        }),
                        Some(other) => Err(DecisionError::Message(other.clone())),
                    },
                    _ => Err(DecisionError::Invalid(v.clone())),
                }
            }
            other => Err(DecisionError::Invalid(other.clone())),
        }
    }
}

/// Why a [`PermissionHandler`] gave no decision; the call is then denied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionError {
    /// The callback failed (it threw, or its promise rejected).
    #[error("{0}")]
    Failed(String),
    /// The callback answered something that is not a decision.
    #[error(transparent)]
    Invalid(#[from] DecisionError),
    /// The request was dropped before it was answered.
    #[error("the permission request was dropped")]
    Dropped,
}

/// Answers permission requests. The future resolves with the decision, or an error
/// (a failing callback), which the loop treats as a denial.
pub trait PermissionHandler: Send + Sync {
    fn decide(
        &self,
        request: PermissionRequest,
    ) -> BoxFuture<'static, Result<Decision, PermissionError>>;
}

/// What a tool does, for the permission modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolCategory {
    /// Never changes anything.
    Read,
    /// Changes files in the workspace through a file tool.
    Edit,
    /// Runs commands or acts outside harnext's view (shell, custom and MCP tools).
    Execute,
}

/// The built-in tools that only edit files.
const EDIT_TOOLS: &[&str] = &["write_file", "edit_file", "multi_edit"];

pub fn category(name: &str, read_only: bool, builtin: bool) -> ToolCategory {
    if read_only {
        ToolCategory::Read
    } else if builtin && EDIT_TOOLS.contains(&name) {
        ToolCategory::Edit
    } else {
        ToolCategory::Execute
    }
}

/// What the mode says about a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Run,
    Ask,
    Refuse,
}

pub fn gate(mode: PermissionMode, category: ToolCategory) -> Gate {
    match (mode, category) {
        (_, ToolCategory::Read) | (PermissionMode::Auto, _) => Gate::Run,
        (PermissionMode::ReadOnly, ToolCategory::Edit | ToolCategory::Execute) => Gate::Refuse,
        (PermissionMode::AcceptEdits, ToolCategory::Edit) => Gate::Run,
        (PermissionMode::AcceptEdits, ToolCategory::Execute)
        | (PermissionMode::Manual, ToolCategory::Edit | ToolCategory::Execute) => Gate::Ask,
    }
}

enum Slot {
    Waiting(oneshot::Sender<Decision>),
    Answered(Decision),
}

/// Requests answered from outside the run, by their engine-made `request_id`
/// (`respond(decision)` on the event). An answer may arrive before the run starts
/// waiting for it.
#[derive(Default)]
pub struct PendingPermissions {
    slots: Mutex<HashMap<String, Slot>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RespondError {
    #[error("permission request `{0}` was already answered")]
    AlreadyAnswered(String),
}

impl PendingPermissions {
    pub fn new() -> Self {
        PendingPermissions::default()
    }

    /// Answers the request whose `request_id` is `id`. Answering twice is an error;
    /// answering a request the run no longer waits for (it was cancelled) is accepted
    /// and has no effect.
    pub fn respond(&self, id: &str, decision: Decision) -> Result<(), RespondError> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots.remove(id) {
            Some(Slot::Waiting(tx)) => {
                let _ = tx.send(decision);
                slots.insert(
                    id.to_owned(),
                    Slot::Answered(Decision::Deny { message: None }),
                );
                Ok(())
            }
            Some(answered @ Slot::Answered(_)) => {
                slots.insert(id.to_owned(), answered);
                Err(RespondError::AlreadyAnswered(id.to_owned()))
            }
            None => {
                slots.insert(id.to_owned(), Slot::Answered(decision));
                Ok(())
            }
        }
    }
}

impl PermissionHandler for PendingPermissions {
    fn decide(
        &self,
        request: PermissionRequest,
    ) -> BoxFuture<'static, Result<Decision, PermissionError>> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(Slot::Answered(d)) = slots.get(&request.request_id) {
            let d = d.clone();
            return Box::pin(async move { Ok(d) });
        }
        let (tx, rx) = oneshot::channel();
        slots.insert(request.request_id.clone(), Slot::Waiting(tx));
        Box::pin(async move { rx.await.map_err(|_| PermissionError::Dropped) })
    }
}

/// Wraps a handler so that a closure can serve as one.
pub struct FnHandler<F>(pub F);

impl<F> PermissionHandler for FnHandler<F>
where
    F: Fn(PermissionRequest) -> BoxFuture<'static, Result<Decision, PermissionError>> + Send + Sync,
{
    fn decide(
        &self,
        request: PermissionRequest,
    ) -> BoxFuture<'static, Result<Decision, PermissionError>> {
        (self.0)(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decisions_parse_from_every_documented_form_and_reject_others() {
        assert_eq!(
            Decision::from_json(&json!("allow")).unwrap(),
            Decision::Allow {
                args: None,
                remember: false,
                escalate: None,
            }
        );
        assert_eq!(
            Decision::from_json(&json!("deny")).unwrap(),
            Decision::Deny { message: None }
        );
        assert_eq!(
            Decision::from_json(&json!({"behavior": "allow", "args": {"a": 1}, "remember": true}))
                .unwrap(),
            Decision::Allow {
                args: Some(json!({"a": 1})),
                remember: true,
                escalate: None,
            }
        );
        assert_eq!(
            Decision::from_json(&json!({"behavior": "deny", "message": "no"})).unwrap(),
            Decision::Deny {
                message: Some("no".into())
            }
        );
        for bad in [
            json!("yes"),
            json!(1),
            json!({"behavior": "maybe"}),
            json!({"behavior": "allow", "args": 3}),
            json!({"behavior": "deny", "why": "x"}),
        ] {
            assert!(Decision::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn permission_modes_parse_and_reject_unknown_values() {
        assert_eq!(
            PermissionMode::parse("accept-edits").unwrap(),
            PermissionMode::AcceptEdits
        );
        for mode in PermissionMode::ALL {
            assert_eq!(PermissionMode::parse(mode.as_str()).unwrap(), mode);
        }
        let e = PermissionMode::parse("yolo").unwrap_err();
        assert_eq!(e.option(), OptionKey::PermissionMode);
        assert_eq!(
            e.to_string(),
            "invalid option `permission_mode`: expected \"auto\", \"manual\", \"accept-edits\" or \"read-only\"; got \"yolo\""
        );
    }

    #[test]
    fn modes_gate_categories_as_documented() {
        use PermissionMode::*;
        use ToolCategory::*;
        assert_eq!(gate(Auto, Execute), Gate::Run);
        assert_eq!(gate(ReadOnly, Read), Gate::Run);
        assert_eq!(gate(ReadOnly, Edit), Gate::Refuse);
        assert_eq!(gate(Manual, Read), Gate::Run);
        assert_eq!(gate(Manual, Edit), Gate::Ask);
        assert_eq!(gate(AcceptEdits, Edit), Gate::Run);
        assert_eq!(gate(AcceptEdits, Execute), Gate::Ask);
        assert_eq!(category("write_file", false, true), Edit);
        assert_eq!(
            category("write_file", false, false),
            Execute,
            "a custom tool named like a built-in is not trusted as an edit"
        );
        assert_eq!(category("anything", true, false), Read);
    }

    #[test]
    fn escalations_parse_in_both_spellings_and_reject_what_they_cannot_do() {
        assert_eq!(
            Decision::from_json(&json!({"behavior": "allow", "escalate": {"network": true}}))
                .unwrap(),
            Decision::Allow {
                args: None,
                remember: false,
                escalate: Some(Escalation {
                    network: true,
                    writable_roots: vec![],
                }),
            }
        );
        for key in ["writable_roots", "writableRoots"] {
            assert_eq!(
                Decision::from_json(&json!({"behavior": "allow", "escalate": {key: ["/tmp/x"]}}))
                    .unwrap(),
                Decision::Allow {
                    args: None,
                    remember: false,
                    escalate: Some(Escalation {
                        network: false,
                        writable_roots: vec![PathBuf::from("/tmp/x")],
                    }),
                }
            );
        }
        // Asking for nothing is no escalation.
        assert!(matches!(
            Decision::from_json(&json!({"behavior": "allow", "escalate": {"network": false}})),
            Ok(Decision::Allow { escalate: None, .. })
        ));
        let err = |v: Value| Decision::from_json(&v).unwrap_err().to_string();
        assert!(
            err(json!({"behavior": "allow", "escalate": {"network": true}, "remember": true}))
                .contains("cannot be remembered")
        );
        assert!(err(json!({"behavior": "allow", "escalate": {"net": true}}))
            .contains("unknown field `net`"));
        assert!(
            err(json!({"behavior": "allow", "escalate": {"network": "yes"}}))
                .contains("`network` must be a boolean")
        );
        assert!(
            err(json!({"behavior": "allow", "escalate": {"writableRoots": "/tmp"}}))
                .contains("`writableRoots` must be a list of paths")
        );
        assert!(err(json!({"behavior": "allow", "escalate": true})).contains("must be an object"));
        assert!(
            err(json!({"behavior": "deny", "escalate": {"network": true}}))
                .contains("not to a deny")
        );
    }

    #[tokio::test]
    async fn pending_answers_before_or_after_the_wait_and_refuses_a_second_answer() {
        let p = PendingPermissions::new();
        p.respond(
            "a",
            Decision::Allow {
                args: None,
                remember: false,
                escalate: None,
            },
        )
        .unwrap();
        let d = p
            .decide(PermissionRequest {
                id: "a".into(),
                tool: "t".into(),
                args: json!({}),
                request_id: "a".into(),
                sandbox: None,
            })
            .await
            .unwrap();
        assert!(matches!(d, Decision::Allow { .. }));
        let fut = p.decide(PermissionRequest {
            id: "b".into(),
            tool: "t".into(),
            args: json!({}),
            request_id: "b".into(),
            sandbox: None,
        });
        p.respond(
            "b",
            Decision::Deny {
                message: Some("no".into()),
            },
        )
        .unwrap();
        assert_eq!(
            fut.await.unwrap(),
            Decision::Deny {
                message: Some("no".into())
            }
        );
        assert_eq!(
            p.respond("b", Decision::Deny { message: None }),
            Err(RespondError::AlreadyAnswered("b".into()))
        );
    }

    #[tokio::test]
    async fn two_requests_with_the_same_tool_call_id_are_answered_apart() {
        let p = PendingPermissions::new();
        let request = |request_id: String| PermissionRequest {
            id: "toolu_same".into(),
            tool: "bash".into(),
            args: json!({}),
            request_id,
            sandbox: None,
        };
        let first = PermissionRequest::new_request_id();
        let second = PermissionRequest::new_request_id();
        assert_ne!(first, second);
        let allow = || Decision::Allow {
            args: None,
            remember: false,
            escalate: None,
        };
        let fut = p.decide(request(first.clone()));
        p.respond(&first, allow()).unwrap();
        assert_eq!(fut.await.unwrap(), allow());
        // The model reuses the call id: the second request is a new one, and its
        // answer is taken (it used to be refused as "already answered").
        let fut = p.decide(request(second.clone()));
        p.respond(&second, Decision::Deny { message: None })
            .unwrap();
        assert_eq!(fut.await.unwrap(), Decision::Deny { message: None });
    }
}
