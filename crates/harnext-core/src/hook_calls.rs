//! Calling an agent's hooks (see `crate::hooks`) at the points of a run, and reading
//! their answers.
//!
//! The hooks of an event run one after the other, in the order given, each raced
//! against the agent's hook timeout and the run's cancellation. A hook that fails
//! (throws, rejects, times out, or answers something that is not one of its answers)
//! is reported with a `hook_error` event and fails *closed* for `pre_tool_use` (the
//! call is denied, with a message the model reads) and *open* everywhere else (the run
//! goes on as if the hook had no opinion). What a hook is given passes through the
//! agent's redactor first: no credential reaches a hook (a command hook's stdin included).

use std::sync::Arc;

use harnext_protocol::AgentEvent;
use harnext_protocol::ContentBlock;
use harnext_protocol::ErrorCode;
use harnext_protocol::HarnextError;
use harnext_protocol::Message;
use harnext_protocol::Role;
use harnext_protocol::ToolStatus;
use serde_json::json;
use serde_json::Map;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::cancel::Cancelled;
use crate::cancel::OrCancel;
use crate::context::AgentContext;
use crate::context::EventSink;
use crate::hooks::HookEvent;
use crate::hooks::HookFn;
use crate::hooks::Hooks;
use crate::hooks::MAX_STOP_CONTINUES;
use crate::permissions::Gate;

/// What the hooks of a run need.
#[derive(Clone, Copy)]
pub(crate) struct HookCtx<'a> {
    pub agent: &'a AgentContext,
    pub session: &'a str,
    pub events: &'a EventSink,
    pub cancel: &'a CancellationToken,
}

/// What the `pre_tool_use` hooks say of a call, the strongest answer winning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PreVerdict {
    /// No opinion: the permission mode decides.
    Unset,
    /// Run without asking (a mode that refuses the tool still refuses it).
    Allow,
    /// Ask through the permission flow, whatever the mode says.
    Ask,
    /// Do not run; the message goes to the model.
    Deny(String),
}

impl PreVerdict {
    /// The permission gate once the hooks have spoken.
    pub fn gate(&self, mode: Gate) -> Gate {
        match (mode, self) {
            (Gate::Refuse, _) => Gate::Refuse,
            (_, PreVerdict::Ask) => Gate::Ask,
            (Gate::Ask, PreVerdict::Allow) => Gate::Run,
            (g, _) => g,
        }
    }
}

/// What the `user_prompt_submit` and `session_start` hooks say of a run's input.
#[derive(Debug, Default)]
pub(crate) struct PromptVerdict {
    /// Text to add to the input, in order.
    pub context: Vec<String>,
    /// Why the run is blocked, when a hook blocked it.
    pub blocked: Option<String>,
}

impl<'a> HookCtx<'a> {
    fn hooks(&self) -> &'a Hooks {
        &self.agent.config.hooks
    }

    fn wants(&self, event: HookEvent) -> Vec<Arc<dyn HookFn>> {
        if self.hooks().is_empty() {
            return Vec::new();
        }
        self.hooks().of(event)
    }

    /// Calls one hook: its answer, or why it failed.
    async fn call(
        &self,
        hook: &Arc<dyn HookFn>,
        input: Value,
        cancellable: bool,
    ) -> Result<Result<Value, String>, Cancelled> {
        let timeout = self.hooks().timeout;
        let call = tokio::time::timeout(timeout, hook.call(input));
        let outcome = if cancellable {
            call.or_cancel(self.cancel).await?
        } else {
            call.await
        };
        Ok(match outcome {
            Ok(answer) => answer,
            Err(_) => Err(format!("it timed out after {} ms", timeout.as_millis())),
        })
    }

    fn report(&self, event: HookEvent, index: usize, of: usize, problem: &str, then: &str) {
        let which = if of > 1 {
            format!("{event} hook {} of {of}", index + 1)
        } else {
            format!("{event} hook")
        };
        self.events.emit(AgentEvent::HookError {
            hook: event.key().to_owned(),
            message: format!("the {which} failed: {problem}; {then}"),
        });
    }

    fn input(&self, event: HookEvent, fields: Value) -> Value {
        let mut input = json!({ "event": event.key(), "session": self.session });
        if let (Value::Object(o), Value::Object(f)) = (&mut input, fields) {
            o.extend(f);
        }
        self.agent.redactor.redact_json(&mut input);
        input
    }

    /// Before a tool call is authorized: `args` may be rewritten.
    pub async fn pre_tool_use(
        &self,
        id: &str,
        tool: &str,
        args: &mut Value,
    ) -> Result<PreVerdict, Cancelled> {
        let event = HookEvent::PreToolUse;
        let hooks = self.wants(event);
        let mut verdict = PreVerdict::Unset;
        for (i, hook) in hooks.iter().enumerate() {
            let input = self.input(event, json!({ "id": id, "tool": tool, "args": args }));
            let answer = self
                .call(hook, input, true)
                .await?
                .and_then(parse_pre_tool_use);
            let answer = match answer {
                Ok(a) => a,
                Err(problem) => {
                    self.report(event, i, hooks.len(), &problem, "the tool call is denied");
                    return Ok(PreVerdict::Deny(format!(
                        "The tool call was denied: a pre_tool_use hook failed ({problem})."
                    )));
                }
            };
            if let Some(new_args) = answer.args {
                *args = new_args;
            }
            match answer.decision {
                Some(PreVerdict::Deny(message)) => return Ok(PreVerdict::Deny(message)),
                Some(PreVerdict::Ask) => verdict = PreVerdict::Ask,
                Some(PreVerdict::Allow) if verdict == PreVerdict::Unset => {
                    verdict = PreVerdict::Allow;
                }
                _ => {}
            }
        }
        Ok(verdict)
    }

    /// After a call ran (`ok` or `error`): the output the model sees may be replaced or
    /// added to.
    pub async fn post_tool_use(
        &self,
        id: &str,
        tool: &str,
        args: &Value,
        status: ToolStatus,
        output: &mut String,
    ) {
        let event = HookEvent::PostToolUse;
        let hooks = self.wants(event);
        for (i, hook) in hooks.iter().enumerate() {
            let input = self.input(
                event,
                json!({ "id": id, "tool": tool, "args": args, "status": status, "output": output }),
            );
            let Ok(answer) = self.call(hook, input, true).await else {
                return;
            };
            match answer.and_then(|v| fields(v, &["output", "context"])) {
                Ok(mut f) => {
                    if let Some(new) = take_string(&mut f, "output") {
                        *output = new;
                    }
                    if let Some(context) = take_string(&mut f, "context") {
                        output.push_str("\n\n");
                        output.push_str(&context);
                    }
                }
                Err(problem) => self.report(event, i, hooks.len(), &problem, "the output is kept"),
            }
        }
    }

    /// The run's input once the `session_start` and `user_prompt_submit` hooks have seen
    /// it (with the context they added), or the error of a run they blocked.
    pub async fn admit(
        &self,
        mut input: Vec<Message>,
        resumed: bool,
    ) -> Result<Result<Vec<Message>, HarnextError>, Cancelled> {
        if self.hooks().is_empty() {
            return Ok(Ok(input));
        }
        let text = input
            .iter()
            .filter(|m| m.role == Role::User)
            .map(Message::text)
            .collect::<Vec<_>>()
            .join("\n\n");
        // A run that only answers deferred approvals has no input for
        // `user_prompt_submit`; `session_start` still hears of it.
        let text = (!input.is_empty()).then_some(text);
        let verdict = self.prompt(text.as_deref(), resumed).await?;
        if let Some(reason) = verdict.blocked {
            return Ok(Err(HarnextError::new(
                ErrorCode::Blocked,
                format!("a user_prompt_submit hook blocked the run: {reason}"),
            )));
        }
        if !verdict.context.is_empty() {
            let blocks = verdict
                .context
                .into_iter()
                .map(|text| ContentBlock::Text { text });
            match input.last_mut() {
                Some(last) if last.role == Role::User => last.content.extend(blocks),
                _ => input.push(Message {
                    role: Role::User,
                    content: blocks.collect(),
                }),
            }
        }
        Ok(Ok(input))
    }

    /// Before the run's input reaches the model (and, for `session_start`, at the start
    /// of the run): context to add, or why the run is blocked.
    async fn prompt(
        &self,
        input_text: Option<&str>,
        resumed: bool,
    ) -> Result<PromptVerdict, Cancelled> {
        let mut verdict = PromptVerdict::default();
        let event = HookEvent::SessionStart;
        let hooks = self.wants(event);
        let source = if resumed { "resume" } else { "new" };
        for (i, hook) in hooks.iter().enumerate() {
            let input = self.input(event, json!({ "source": source }));
            match self
                .call(hook, input, true)
                .await?
                .and_then(|v| fields(v, &["context"]))
            {
                Ok(mut f) => verdict.context.extend(take_string(&mut f, "context")),
                Err(problem) => self.report(event, i, hooks.len(), &problem, "the run goes on"),
            }
        }
        let event = HookEvent::UserPromptSubmit;
        let Some(input_text) = input_text else {
            return Ok(verdict);
        };
        let hooks = self.wants(event);
        for (i, hook) in hooks.iter().enumerate() {
            let input = self.input(event, json!({ "input": input_text }));
            let answer = self
                .call(hook, input, true)
                .await?
                .and_then(|v| fields(v, &["decision", "reason", "context"]));
            let mut f = match answer {
                Ok(f) => f,
                Err(problem) => {
                    self.report(event, i, hooks.len(), &problem, "the run goes on");
                    continue;
                }
            };
            verdict.context.extend(take_string(&mut f, "context"));
            match f.remove("decision") {
                None => {}
                Some(Value::String(d)) if d == "block" => {
                    verdict.blocked = Some(
                        take_string(&mut f, "reason")
                            .unwrap_or_else(|| "a user_prompt_submit hook blocked it".into()),
                    );
                    return Ok(verdict);
                }
                Some(other) => self.report(
                    event,
                    i,
                    hooks.len(),
                    &format!("it answered `decision` {other}; expected \"block\""),
                    "the run goes on",
                ),
            }
        }
        Ok(verdict)
    }

    /// When the run is about to end with the model's answer: a message to continue with.
    /// `continued` is how many times the run was already continued.
    pub async fn stop(&self, text: &str, continued: u32) -> Result<Option<String>, Cancelled> {
        let event = HookEvent::Stop;
        let hooks = self.wants(event);
        for (i, hook) in hooks.iter().enumerate() {
            let input = self.input(
                event,
                json!({ "result": { "text": text }, "continued": continued }),
            );
            let answer = self
                .call(hook, input, true)
                .await?
                .and_then(|v| fields(v, &["decision", "message"]))
                .and_then(|mut f| match f.remove("decision") {
                    None => Ok(None),
                    Some(Value::String(d)) if d == "continue" => {
                        match take_string(&mut f, "message") {
                            Some(m) if !m.trim().is_empty() => Ok(Some(m)),
                            _ => Err("it answered `decision` \"continue\" without a `message` for the model".to_owned()),
                        }
                    }
                    Some(other) => Err(format!(
                        "it answered `decision` {other}; expected \"continue\""
                    )),
                });
            match answer {
                Ok(None) => {}
                Ok(Some(_)) if continued >= MAX_STOP_CONTINUES => {
                    self.report(
                        event,
                        i,
                        hooks.len(),
                        &format!(
                            "it asked to continue the run more than {MAX_STOP_CONTINUES} times"
                        ),
                        "the run ends",
                    );
                    return Ok(None);
                }
                Ok(Some(message)) => return Ok(Some(message)),
                Err(problem) => self.report(event, i, hooks.len(), &problem, "the run ends"),
            }
        }
        Ok(None)
    }

    /// Before the history is compacted (`trigger`: `"auto"` near the context window,
    /// `"overflow"` after the provider refused a request as too big): instructions for
    /// the summary, when hooks give some.
    pub async fn pre_compact(&self, trigger: &str) -> Result<Option<String>, Cancelled> {
        let event = HookEvent::PreCompact;
        let hooks = self.wants(event);
        let mut instructions = Vec::new();
        for (i, hook) in hooks.iter().enumerate() {
            let input = self.input(event, json!({ "trigger": trigger }));
            match self
                .call(hook, input, true)
                .await?
                .and_then(|v| fields(v, &["instructions"]))
            {
                Ok(mut f) => instructions.extend(take_string(&mut f, "instructions")),
                Err(problem) => {
                    self.report(event, i, hooks.len(), &problem, "the compaction goes on")
                }
            }
        }
        Ok((!instructions.is_empty()).then(|| instructions.join("\n")))
    }

    /// At the end of the run (`reason`: its stop reason); not cut by cancellation.
    pub async fn session_end(&self, reason: &str) {
        let _ = self
            .notify(HookEvent::SessionEnd, json!({ "reason": reason }), false)
            .await;
    }

    async fn notify(
        &self,
        event: HookEvent,
        fields: Value,
        cancellable: bool,
    ) -> Result<(), Cancelled> {
        let hooks = self.wants(event);
        for (i, hook) in hooks.iter().enumerate() {
            let input = self.input(event, fields.clone());
            if let Err(problem) = self.call(hook, input, cancellable).await? {
                self.report(event, i, hooks.len(), &problem, "the run goes on");
            }
        }
        Ok(())
    }
}

/// A `pre_tool_use` answer.
struct PreAnswer {
    decision: Option<PreVerdict>,
    args: Option<Value>,
}

fn parse_pre_tool_use(answer: Value) -> Result<PreAnswer, String> {
    // "allow" | "deny" | "ask" for short.
    let answer = match answer {
        Value::String(s) => json!({ "decision": s }),
        other => other,
    };
    let mut f = fields(answer, &["decision", "message", "args"])?;
    let args = match f.remove("args") {
        None => None,
        Some(a @ Value::Object(_)) => Some(a),
        Some(other) => return Err(format!("it answered `args` {other}; expected an object")),
    };
    let decision = match f.remove("decision") {
        None => None,
        Some(Value::String(d)) => Some(match d.as_str() {
            "allow" => PreVerdict::Allow,
            "ask" => PreVerdict::Ask,
            "deny" => PreVerdict::Deny(
                take_string(&mut f, "message")
                    .filter(|m| !m.trim().is_empty())
                    .unwrap_or_else(|| "A hook denied this tool call.".to_owned()),
            ),
            other => {
                return Err(format!(
                    "it answered `decision` {other:?}; expected \"allow\", \"deny\" or \"ask\""
                ))
            }
        }),
        Some(other) => {
            return Err(format!(
                "it answered `decision` {other}; expected \"allow\", \"deny\" or \"ask\""
            ))
        }
    };
    Ok(PreAnswer { decision, args })
}

/// The fields of an answer: `null` is no field; an object may only have `allowed`
/// fields (a field set to `null` counts as absent).
fn fields(answer: Value, allowed: &[&str]) -> Result<Map<String, Value>, String> {
    let expected = || {
        allowed
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match answer {
        Value::Null => Ok(Map::new()),
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, v) in o {
                if !allowed.contains(&k.as_str()) {
                    return Err(format!(
                        "it answered with an unknown field `{k}`; expected {}",
                        expected()
                    ));
                }
                if !v.is_null() {
                    out.insert(k, v);
                }
            }
            // Text fields must be text.
            for (k, v) in &out {
                if matches!(
                    k.as_str(),
                    "message" | "reason" | "context" | "output" | "instructions"
                ) && !v.is_string()
                {
                    return Err(format!("it answered `{k}` {v}; expected a string"));
                }
            }
            Ok(out)
        }
        other => Err(format!(
            "it answered {}; expected nothing or an object with {}",
            short(&other),
            expected()
        )),
    }
}

fn take_string(f: &mut Map<String, Value>, key: &str) -> Option<String> {
    match f.remove(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pre_tool_use_answers_are_read_strictly() {
        let a = parse_pre_tool_use(json!({"decision": "deny", "message": "no"})).unwrap();
        assert_eq!(a.decision, Some(PreVerdict::Deny("no".into())));
        let a = parse_pre_tool_use(json!("ask")).unwrap();
        assert_eq!(a.decision, Some(PreVerdict::Ask));
        let a = parse_pre_tool_use(json!({"args": {"x": 1}, "decision": null})).unwrap();
        assert_eq!(a.decision, None);
        assert_eq!(a.args, Some(json!({"x": 1})));
        assert!(parse_pre_tool_use(Value::Null).unwrap().decision.is_none());
        for (bad, needle) in [
            (json!({"behavior": "deny"}), "unknown field `behavior`"),
            (
                json!({"decision": "nope"}),
                "expected \"allow\", \"deny\" or \"ask\"",
            ),
            (json!({"args": "x"}), "expected an object"),
            (
                json!({"decision": "deny", "message": 3}),
                "expected a string",
            ),
            (json!(true), "expected nothing or an object"),
        ] {
            let e = parse_pre_tool_use(bad).err().unwrap();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn hooks_refine_the_gate_but_never_lift_a_refusal() {
        assert_eq!(PreVerdict::Allow.gate(Gate::Ask), Gate::Run);
        assert_eq!(PreVerdict::Ask.gate(Gate::Run), Gate::Ask);
        assert_eq!(PreVerdict::Allow.gate(Gate::Refuse), Gate::Refuse);
        assert_eq!(PreVerdict::Unset.gate(Gate::Ask), Gate::Ask);
    }
}
