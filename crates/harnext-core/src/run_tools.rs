//! The tools of one run: the agent's built-in and custom tools, and the tools of its
//! MCP servers as they are now (servers start at the first run that needs them, and a
//! server's list is looked at again after `tools/list_changed` or when it dies).
//!
//! An MCP server that is unavailable does not stop the run: the user gets an
//! `mcp_server_error` event, and the model a note in the system prompt, once per
//! failure and run. A tool a server offers that cannot be used (an invalid
//! `inputSchema`, ...) is left out with an `mcp_warning` event, once per run.

use std::collections::HashSet;
use std::sync::Arc;

use harnext_mcp::Restart;
use harnext_protocol::AgentEvent;
use harnext_providers::ToolSpec;
use tokio_util::sync::CancellationToken;

use crate::cancel::Cancelled;
use crate::cancel::OrCancel;
use crate::context::AgentContext;
use crate::context::EventSink;
use crate::context::RegisteredTool;
use crate::permissions;

pub(crate) struct RunTools {
    /// Built-in and custom tools first, then MCP tools.
    pub tools: Vec<RegisteredTool>,
    /// Shared with the agent until MCP tools or the run's own change them.
    pub specs: Arc<Vec<ToolSpec>>,
    /// The unavailable servers' messages, for the system prompt.
    unavailable: Vec<String>,
    /// How many tools are the run's own (the agent's, then the run's: `skill`); MCP
    /// tools follow them.
    own: usize,
    /// The run's part of the system prompt (project instructions, skills).
    context: String,
    /// Failures already reported in this run.
    reported: HashSet<String>,
}

impl RunTools {
    /// The agent's own tools; MCP tools come with [`RunTools::update`].
    pub fn new(agent: &AgentContext) -> RunTools {
        RunTools {
            tools: agent.tools.clone(),
            specs: agent.tool_specs.clone(),
            unavailable: Vec::new(),
            own: agent.tools.len(),
            context: String::new(),
            reported: HashSet::new(),
        }
    }

    /// Adds a tool of this run (before any MCP tool) and its part of the system prompt.
    pub fn add_own(&mut self, tool: Option<RegisteredTool>, context: &str) {
        if let Some(tool) = tool {
            Arc::make_mut(&mut self.specs).insert(self.own, tool.spec());
            self.tools.insert(self.own, tool);
            self.own += 1;
        }
        if !context.is_empty() {
            self.context.push_str("\n\n");
            self.context.push_str(context);
        }
    }

    /// Whether the MCP tools must be (re)listed before the next model call: always at
    /// the first, then after a server's tool list changed or a server died.
    pub fn needs_update(agent: &AgentContext, first: bool) -> bool {
        !agent.mcp.is_empty() && (first || agent.mcp.needs_refresh())
    }

    /// Starts the servers that are not running (at the first model call of a run,
    /// also those that failed before) and takes their current tools. Cancelling the run
    /// meanwhile kills the servers that were starting.
    pub async fn update(
        &mut self,
        agent: &AgentContext,
        restart: Restart,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<(), Cancelled> {
        let set = agent.mcp.tools(restart).or_cancel(cancel).await?;
        let own = self.own;
        self.tools.truncate(own);
        if self.specs.len() > own {
            Arc::make_mut(&mut self.specs).truncate(own);
        }
        for tool in set.tools {
            // Built-in and custom tools keep their names.
            if self.tools.iter().any(|t| t.tool.name() == tool.name()) {
                continue;
            }
            let registered = RegisteredTool {
                category: permissions::category(tool.name(), tool.read_only(), false),
                sandboxed: false,
                tool,
            };
            Arc::make_mut(&mut self.specs).push(registered.spec());
            self.tools.push(registered);
        }
        self.unavailable.clear();
        // Warnings (a tool left out) repeat on every listing while they hold: each is
        // reported once per run, as soon as it is known.
        for warning in set.warnings {
            if self.reported.insert(warning.message.clone()) {
                events.emit(AgentEvent::McpWarning {
                    server: warning.server,
                    tool: warning.tool,
                    message: warning.message,
                });
            }
        }
        for failure in set.failures {
            if self.reported.insert(failure.message.clone()) {
                events.emit(AgentEvent::McpServerError {
                    server: failure.server.clone(),
                    message: failure.message.clone(),
                });
            }
            self.unavailable.push(failure.message);
        }
        Ok(())
    }

    /// The system prompt of the next model call: the agent's, and a note of the MCP
    /// servers that are unavailable.
    pub fn system(&self, base: &str) -> String {
        let base = format!("{base}{}", self.context);
        if self.unavailable.is_empty() {
            return base;
        }
        format!(
            "{base}\n\nSome tools are missing because their MCP servers could not be used:\n- {}",
            self.unavailable.join("\n- ")
        )
    }

    pub fn find(&self, name: &str) -> Option<&RegisteredTool> {
        self.tools.iter().find(|t| t.tool.name() == name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.tools.iter().map(|t| t.tool.name()).collect()
    }
}
