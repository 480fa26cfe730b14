//! Subagents: the `agents` option, offered to the model as the `task` tool.
//!
//! Each definition becomes an agent of its own, built once with the parent agent
//! (`crate::setup`): the same workspace, the same OS sandbox (shared, never relaxed),
//! the same permission mode and hooks, the same provider unless it names another
//! `model`, the built-in prompt followed by its `system_prompt`, and only the tools it
//! lists (built-in tools and the parent's custom tools, by name; no MCP tools, and no
//! `task`: a subagent cannot delegate further, so the depth is one).
//!
//! A `task` call runs the named subagent on its prompt in the same process: its own
//! history, its own run; the parent's permission handler answers its permission
//! requests; the parent's cancellation (abort, interrupt) reaches it; every event it
//! emits reaches the parent's stream wrapped in a `subagent` event naming it and the
//! `task` call; its usage and cost are added to the parent's (budgets included); the
//! files it changed are the parent's `files_changed` too; its transcript is kept in the
//! parent's session (a `subagent` record, read back in `SessionData::subagents`). The
//! `task` tool only starts work whose every call is checked on its own, so it counts as
//! a read for the permission modes and for concurrency: several `task` calls of one
//! turn run at once (see `crate::batch`).

use std::sync::Mutex;

use harnext_protocol::Usage;
use harnext_tools::Tool;
use harnext_tools::ToolContext;
use harnext_tools::ToolError;
use serde_json::json;
use serde_json::Map;
use serde_json::Value;

/// The tool that runs a subagent.
pub const TASK_TOOL: &str = "task";

/// The fields of a definition, by neutral key (each face spells them its way).
pub const AGENT_FIELDS: &[&str] = &[
    "description",
    "system_prompt",
    "tools",
    "model",
    "max_steps",
];

/// One entry of the `agents` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentDefinition {
    /// When to use it: shown to the parent model in the `task` tool's description.
    pub description: String,
    /// Appended to the built-in coding-agent prompt of the subagent.
    pub system_prompt: String,
    /// The tools it may use: built-in tool names and the parent's custom tools.
    pub tools: Vec<String>,
    /// Another model (`"<provider>/<model>"`); default: the parent's provider and model.
    pub model: Option<String>,
    /// Most model calls of one task; default: the parent's `max_steps`.
    pub max_steps: Option<u32>,
}

/// Reads the `agents` option (`{ [name]: definition }`) with its fields spelled by
/// `spell` from their neutral keys. An unknown field is refused with the closest known
/// one; the definitions are checked further when the agent is built.
pub fn agents_from_json(
    value: &Value,
    spell: &dyn Fn(&str) -> String,
) -> Result<Vec<(String, AgentDefinition)>, String> {
    let shape = format!(
        "{{ {}, {}, {}, {}?, {}? }}",
        spell("description"),
        spell("system_prompt"),
        spell("tools"),
        spell("model"),
        spell("max_steps")
    );
    let Value::Object(agents) = value else {
        return Err(format!(
            "expected an object of agents by name, such as {{ reviewer: {shape} }}"
        ));
    };
    let spelled: Vec<String> = AGENT_FIELDS.iter().map(|k| spell(k)).collect();
    let spelled_refs: Vec<&str> = spelled.iter().map(String::as_str).collect();
    let mut out = Vec::with_capacity(agents.len());
    for (name, def) in agents {
        let Value::Object(given) = def else {
            return Err(format!("`{name}`: expected {shape}"));
        };
        let mut by_key = Map::new();
        for (field, v) in given {
            let Some(i) = spelled_refs.iter().position(|s| s == field) else {
                return Err(format!(
                    "`{name}`: unknown field {field:?}: {}",
                    harnext_protocol::option::unknown_name_hint(field, &spelled_refs)
                ));
            };
            if !v.is_null() {
                by_key.insert(AGENT_FIELDS[i].to_owned(), v.clone());
            }
        }
        let text = |key: &str| -> Result<Option<String>, String> {
            match by_key.get(key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(format!("`{name}`: `{}` must be a string", spell(key))),
            }
        };
        let required = |key: &str| -> Result<String, String> {
            text(key)?.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
                format!(
                    "`{name}`: `{}` is required (a non-empty string)",
                    spell(key)
                )
            })
        };
        let description = required("description")?;
        let system_prompt = required("system_prompt")?;
        let tools = match by_key.get("tools") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|t| match t {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(format!("`{name}`: `{}` must be tool names", spell("tools"))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(format!(
                    "`{name}`: `{}` is required: a list of tool names such as [\"read_file\", \"grep\"]",
                    spell("tools")
                ))
            }
        };
        let max_steps = match by_key.get("max_steps") {
            None => None,
            Some(v) => match v.as_u64().filter(|n| *n >= 1) {
                Some(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
                None => {
                    return Err(format!(
                        "`{name}`: `{}` must be an integer >= 1",
                        spell("max_steps")
                    ))
                }
            },
        };
        out.push((
            name.clone(),
            AgentDefinition {
                description,
                system_prompt,
                tools,
                model: text("model")?,
                max_steps,
            },
        ));
    }
    Ok(out)
}

/// What the `task` calls of a run add to it: their usage and cost, added to the run's
/// once the turn's calls are done.
#[derive(Default)]
pub(crate) struct Rollup {
    spent: Mutex<Vec<(Usage, Option<f64>)>>,
}

impl Rollup {
    pub fn add(&self, usage: Usage, cost_usd: Option<f64>) {
        self.spent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((usage, cost_usd));
    }

    pub fn take(&self) -> Vec<(Usage, Option<f64>)> {
        std::mem::take(&mut *self.spent.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The `task` tool as the model sees it. It is never called as a plain tool: the
/// dispatch runs the subagent (`Dispatch::delegate_task` in `crate::dispatch`).
pub(crate) struct TaskTool {
    description: String,
    names: Vec<String>,
}

impl TaskTool {
    /// The tool offering `agents`: (name, description) pairs.
    pub fn new(agents: &[(&str, &str)]) -> TaskTool {
        let list: Vec<String> = agents
            .iter()
            .map(|(name, description)| format!("- {name}: {description}"))
            .collect();
        TaskTool {
            description: format!(
                "Delegate a self-contained task to a subagent, which works on it with its own context and tools and answers with a final report (only that report comes back to you). Give it everything it needs in `prompt`: it does not see this conversation. Several `task` calls in one turn run at the same time.\n\nAvailable agents:\n{}",
                list.join("\n")
            ),
            names: agents.iter().map(|(name, _)| (*name).to_owned()).collect(),
        }
    }
}

impl Tool for TaskTool {
    fn name(&self) -> &str {
        TASK_TOOL
    }
    fn description(&self) -> &str {
        &self.description
    }
    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "agent": { "type": "string", "enum": self.names, "description": "Which agent does the task." },
                "prompt": { "type": "string", "description": "The task, with everything the agent needs to know." }
            },
            "required": ["agent", "prompt"],
            "additionalProperties": false
        })
    }
    fn read_only(&self) -> bool {
        true
    }
    fn call(
        &self,
        _args: Value,
        _ctx: ToolContext,
    ) -> futures::future::BoxFuture<'static, Result<String, ToolError>> {
        Box::pin(async {
            Err(ToolError::Failed(
                "the task tool runs only inside a run of its agent".to_owned(),
            ))
        })
    }
}

/// A `task` call's arguments: which of the agents `names` (its index) and the prompt;
/// else what is wrong, for the model.
pub(crate) fn parse_args(names: &[&str], args: &Value) -> Result<(usize, String), String> {
    let agent = args
        .get("agent")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("`agent` is missing: name one of {}.", names.join(", ")))?;
    let Some(found) = names.iter().position(|n| *n == agent) else {
        return Err(format!(
            "Unknown agent `{agent}`: {}",
            harnext_protocol::option::unknown_name_hint(agent, names)
        ));
    };
    let prompt = args
        .get("prompt")
        .and_then(Value::as_str)
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| "`prompt` is missing or empty: say what the agent should do.".to_owned())?;
    Ok((found, prompt.to_owned()))
}
