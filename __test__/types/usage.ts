// Written from the spec's example: checked by `tsc --strict --noEmit` in types.test.mjs.
import { Agent } from "../../index.js";
import type { AgentDefinition, AgentEvent, RunResult, StopReason, Usage } from "../../index.js";

function assertNever(x: never): never {
  throw new Error(`unexpected event ${JSON.stringify(x)}`);
}

export async function main(): Promise<RunResult | undefined> {
  const agent = new Agent({ model: "anthropic/claude-sonnet-4-5", cwd: "/path/to/repo" });

  const result = await agent.run("Add pagination to GET /users");
  const text: string = result.text;
  const files: string[] = result.filesChanged;
  const usage: Usage = result.usage;
  const ok: boolean = result.success && !result.cancelled;
  const id: string = result.sessionId;
  void [text, files, usage, ok, id, result.steps[0]?.status, result.durationMs];

  const ac = new AbortController();
  let final: RunResult | undefined;
  for await (const e of agent.stream("Migrate the config loader to TOML", { signal: ac.signal })) {
    switch (e.type) {
      case "run_start": console.log(e.sessionId); break;
      case "thinking": console.log(e.text); break;
      case "text": process.stdout.write(e.text); break;
      case "tool_call": console.log(`\n⏺ ${e.tool}`, e.args, e.id); break;
      case "tool_result": console.log("  ↳", e.status, e.output.length, e.id); break;
      case "permission_request": console.log(e.tool, e.args); break;
      case "usage": console.log(e.inputTokens + e.outputTokens + e.cacheReadTokens + e.cacheWriteTokens + e.reasoningTokens); break;
      case "retry": console.log(e.attempt, e.delayMs, e.reason); break;
      case "mcp_server_error": console.log(e.server, e.message); break;
      case "error": console.log(e.error.code, e.error.message, e.error.retryable, e.error.status); break;
      case "compaction": console.log(e.beforeTokens, e.afterTokens); break;
      case "mcp_warning": console.log(e.server, e.tool ?? "", e.message); break;
      case "hook_error": console.log(e.hook, e.message); break;
      case "user_message": console.log(e.text); break;
      case "warning": console.log(e.message, e.path ?? ""); break;
      case "todo": for (const t of e.todos) { const s: "pending" | "in_progress" | "completed" = t.status; console.log(t.content, s); } break;
      case "web_search": { const s: "searching" | "completed" | "failed" = e.status; console.log(e.id, s, e.query ?? "", e.error ?? "", e.results.map((r) => [r.url, r.title ?? "", r.pageAge ?? ""])); break; }
      case "citation": console.log(e.url, e.title ?? "", e.citedText ?? ""); break;
      case "run_end": final = e.result; console.log(e.result.success); break;
      case "subagent": console.log(e.agent, e.callId, e.event.type); break;
      default: assertNever(e);
    }
  }
  const events: AgentEvent[] = [];
  await agent.run([{ role: "user", content: "hi" }, { role: "assistant", content: "hello" }], { sessionId: final?.sessionId, maxSteps: 3 });
  // @ts-expect-error: a text event has no `tool`
  const bad = (e: Extract<AgentEvent, { type: "text" }>) => e.tool;
  // @ts-expect-error: unknown event type
  const wrong: AgentEvent["type"] = "tool_started";
  // @ts-expect-error: role must be user or assistant
  await agent.run([{ role: "system", content: "x" }]);
  new Agent({ model: "scripted", script: [{ text: "hi", toolCalls: [{ name: "bash", args: { command: "ls" } }] }], permissionMode: "read-only", thinking: { budgetTokens: 2048 }, systemPrompt: { append: "x" } });
  // Server-side web search (issue 18): `true` or settings, per agent and per run.
  const searching = new Agent({ model: "anthropic/claude-sonnet-4-5", webSearch: { maxUses: 3, allowedDomains: ["docs.rs"], userLocation: { country: "US", timezone: "America/New_York" } } });
  await searching.run("news", { webSearch: false });
  new Agent({ model: "openai/gpt-5", webSearch: true });
  // @ts-expect-error: a misspelt field of webSearch
  new Agent({ model: "anthropic/claude-sonnet-4-5", webSearch: { maxUse: 3 } });
  // @ts-expect-error: webSearch is a boolean or settings
  new Agent({ model: "anthropic/claude-sonnet-4-5", webSearch: "on" });
  void [events, bad, wrong];
  // Budgets and hooks: typed inputs and answers.
  const steered = new Agent({
    model: "anthropic/claude-sonnet-4-5",
    maxCostUsd: 0.5,
    maxTokens: 100_000,
    maxDurationMs: 60_000,
    hooks: {
      preToolUse: [(i) => (i.tool === "bash" ? { decision: "deny", message: `no ${String(i.args.command)}` } : undefined), async () => "allow" as const],
      postToolUse: (i) => ({ output: i.status === "ok" ? i.output : "failed" }),
      userPromptSubmit: ({ input }) => (input.length > 10_000 ? { decision: "block", reason: "too long" } : { context: "be brief" }),
      stop: ({ result, continued }) => (continued === 0 && result.text === "" ? { decision: "continue", message: "answer" } : undefined),
      preCompact: ({ trigger }) => (trigger === "overflow" ? { instructions: "keep file names" } : undefined),
      sessionStart: ({ source }) => (source === "new" ? { context: "hello" } : null),
      sessionEnd: ({ reason }) => { const r: StopReason = reason; void r; },
      timeoutMs: 5000,
    },
  });
  const spent = await steered.run("x", { maxCostUsd: 0.1, maxTokens: 10, maxDurationMs: 5, parallelToolCalls: false });
  const live = steered.stream("y");
  live.send("also this");
  live.interrupt();
  live.interrupt("instead, this");
  steered.send(spent.sessionId, "more");
  steered.interrupt(spent.sessionId);
  // @ts-expect-error: a message is a string
  live.send({ text: "x" });
  for await (const e of live) void e;
  const cost: number | undefined = spent.costUsd;
  void cost;
  // @ts-expect-error: a preToolUse decision is allow, deny or ask
  new Agent({ model: "scripted", hooks: { preToolUse: () => ({ decision: "maybe" }) } });
  // @ts-expect-error: stop continues with a message
  new Agent({ model: "scripted", hooks: { stop: () => ({ decision: "continue" }) } });
  // @ts-expect-error: unknown hook
  new Agent({ model: "scripted", hooks: { preToolUs: () => undefined } });
  return final;
}

// Custom tools: args are inferred from the schema.
import { tool, jsonSchema, builtinTools } from "../../index.js";
import type { Decision, Escalation, Tool } from "../../index.js";
import { z } from "zod";

export const weather = tool({
  name: "get_weather",
  description: "Current weather for a city",
  inputSchema: z.object({ city: z.string(), days: z.number().int().optional() }),
  execute: async (args, { signal, toolCallId }) => {
    const city: string = args.city;
    const days: number | undefined = args.days;
    // @ts-expect-error: not in the schema
    void args.country;
    void [signal.aborted, toolCallId];
    return `Sunny in ${city} for ${days ?? 1} days`;
  },
});
export const counter = tool({
  name: "count",
  description: "Counts",
  inputSchema: jsonSchema<{ n: number }>({ type: "object", properties: { n: { type: "integer" } }, required: ["n"] }),
  execute: (args) => ({ next: args.n + 1 }),
});
const typedTool: Tool<{ city: string; days?: number | undefined }> = weather;
const decisions: Decision[] = ["allow", "deny", { behavior: "allow", args: { city: "x" }, remember: true }, { behavior: "deny", message: "no" }];
new Agent({
  model: "anthropic/claude-sonnet-4-5",
  tools: [...builtinTools, weather, counter],
  permissionMode: "manual",
  onPermissionRequest: (req) => (req.tool === "bash" ? { behavior: "deny", message: `no ${String(req.args.command)}` } : "allow"),
});
export async function approvals(agent: Agent): Promise<void> {
  for await (const e of agent.stream("x")) {
    if (e.type === "permission_request") e.respond({ behavior: "allow", remember: true });
  }
}
// @ts-expect-error: a decision must be one of the documented forms
const badDecision: Decision = { behavior: "maybe" };
void [typedTool, decisions, badDecision];

// The sandbox: run_start's modes, sandboxStatus(), a request's `sandboxed`, escalation.
export async function sandboxed(agent: Agent): Promise<void> {
  const status = agent.sandboxStatus();
  const modes: string = `${status.requested} ${status.enforced} ${status.network} ${status.partial} ${status.summary} ${status.missing.join()}`;
  void modes;
  for await (const e of agent.stream("x")) {
    if (e.type === "run_start") {
      const enforced: "workspace-write" | "read-only" | "off" = e.sandbox.enforced;
      void [enforced, e.sandbox.requested, e.sandbox.network, e.sandbox.partial];
    }
    if (e.type === "permission_request") {
      const network: boolean | undefined = e.sandbox?.network;
      void network;
      e.respond(e.sandboxed ? { behavior: "allow", escalate: { network: true, writableRoots: ["../shared"] } } : "allow");
    }
  }
}
const escalation: Escalation = { network: true };
// @ts-expect-error: an escalation is for one call, never remembered
const rememberedEscalation: Decision = { behavior: "allow", remember: true, escalate: escalation };
void rememberedEscalation;

// Structured output: result.output is typed from the schema.
export async function structured(agent: Agent): Promise<void> {
  const review = await agent.run("Review the diff", {
    outputSchema: z.object({ risk: z.enum(["low", "high"]), summary: z.string(), files: z.array(z.string()).optional() }),
  });
  if (review.success && review.output) {
    const risk: "low" | "high" = review.output.risk;
    const files: string[] | undefined = review.output.files;
    // @ts-expect-error: not in the schema
    void review.output.score;
    void [risk, files];
  }
  const counted = await agent.run("Count", { outputSchema: jsonSchema<{ n: number }>({ type: "object" }), maxOutputRetries: 1 });
  const n: number | undefined = counted.output?.n;
  const plain = await agent.run("No schema");
  const anything: unknown = plain.output;
  // @ts-expect-error: output is unknown without a schema
  void plain.output.n;
  void [n, anything];
}

// MCP servers: stdio or streamable HTTP, by name; close() ends them.
export async function mcp(): Promise<void> {
  const agent = new Agent({
    model: "anthropic/claude-sonnet-4-5",
    mcpServers: {
      fs: { command: "node", args: ["server.js", "/repo"], env: { DEBUG: "1" }, cwd: "tools", startupTimeoutMs: 10000 },
      docs: { url: "https://example.com/mcp", headers: { Authorization: "Bearer x" } },
    },
  });
  await agent.run("Read the docs");
  const closed: Promise<void> = agent.close();
  await closed;
  // @ts-expect-error: a server needs a command or a url
  new Agent({ model: "scripted", mcpServers: { bad: { args: ["x"] } } });
}

import type { RewindResult } from "../../index.js";

// Rewind: checkpoints on by default (off, or limits), rewind to a message, or fork from it.
export async function rewind(): Promise<void> {
  const agent = new Agent({ model: "scripted", checkpoints: { maxFileBytes: 1 << 20, maxBinaryBytes: 65536 } });
  new Agent({ model: "scripted", checkpoints: false });
  const r = await agent.run("x");
  const back: RewindResult = await agent.rewind(r.sessionId, { toMessage: 1 });
  const kept: number = back.toMessage;
  const files: string[] = [...back.restored, ...back.removed];
  const why: string[] = back.notRestored.map((n) => `${n.path}: ${n.reason}`);
  const fork = await agent.rewind(r.sessionId, { toMessage: 0, fork: true });
  const forkId: string = fork.sessionId;
  void [kept, files, why, forkId, back.messagesRemoved];
  // @ts-expect-error: toMessage is required
  await agent.rewind(r.sessionId, {});
}

// Subagents (issue 18): the `agents` option, `subagent` events wrapping the subagent's own,
// and their transcripts in loadSession().
export async function subagents(): Promise<void> {
  const reviewer: AgentDefinition = { description: "Reviews a diff", systemPrompt: "You review.", tools: ["read_file", "grep"], maxSteps: 5 };
  const agent = new Agent({ model: "anthropic/claude-sonnet-4-5", agents: { reviewer, tester: { description: "Runs tests", systemPrompt: "You test.", tools: ["bash"], model: "anthropic/claude-haiku-4-5" } } });
  for await (const e of agent.stream("Review and test")) {
    if (e.type === "subagent") {
      const tag: string = `${e.agent} ${e.callId}`;
      const inner: AgentEvent = e.event;
      if (inner.type === "tool_call") void inner.tool;
      if (inner.type === "permission_request") inner.respond("allow");
      void tag;
    }
  }
  const data = await Agent.loadSession("sess_x");
  for (const t of data.subagents) {
    const stop: StopReason = t.stopReason;
    void [t.agent, t.callId, t.messages.length, t.usage.inputTokens, stop];
  }
  new Agent({ model: "scripted", tracing: { recordContent: true } });
  new Agent({ model: "scripted", tracing: false });
  // @ts-expect-error: recordContent is a boolean
  new Agent({ model: "scripted", tracing: { recordContent: "yes" } });
  // @ts-expect-error: a definition needs its tools
  new Agent({ model: "scripted", agents: { bad: { description: "d", systemPrompt: "p" } } });
}

// A session store of your own: a class over a Map (sync and async methods), given to agents
// and to listSessions / loadSession / forkSession.
import type { SessionRecord, SessionStore } from "../../index.js";

class MapStore implements SessionStore {
  private sessions = new Map<string, SessionRecord[]>();
  private leases = new Map<string, string>();
  timeoutMs = 5000;
  async acquire(sessionId: string): Promise<string | null> {
    if (this.leases.has(sessionId)) return null;
    const lease = Math.random().toString(36);
    this.leases.set(sessionId, lease);
    return lease;
  }
  async append(sessionId: string, records: SessionRecord[], lease: string): Promise<void> {
    if (this.leases.get(sessionId) !== lease) throw new Error("lease lost");
    const kinds: string[] = records.map((r) => `${r.type}@${r.ts}`);
    void kinds;
    this.sessions.set(sessionId, [...(this.sessions.get(sessionId) ?? []), ...records]);
  }
  release(sessionId: string, lease: string): void {
    if (this.leases.get(sessionId) === lease) this.leases.delete(sessionId);
  }
  load(sessionId: string): SessionRecord[] | null {
    return this.sessions.get(sessionId) ?? null;
  }
  list(): string[] {
    return [...this.sessions.keys()];
  }
}

export async function ownStore(): Promise<void> {
  const sessionStore: SessionStore = new MapStore();
  const agent = new Agent({ model: "scripted", sessionStore });
  const { sessionId } = await agent.run("hi");
  await Agent.listSessions({ sessionStore });
  await Agent.loadSession(sessionId, { sessionStore });
  await Agent.forkSession(sessionId, { sessionStore, atMessage: 1 });
  new Agent({ model: "scripted", sessionStore: "redis://127.0.0.1:6379" });
  // @ts-expect-error: a store needs every method (no `release` here)
  new Agent({ model: "scripted", sessionStore: { acquire: () => "l", append() {}, load: () => null, list: () => [] } });
  // @ts-expect-error: `load` answers records or null
  const bad: SessionStore = { acquire: () => null, append() {}, release() {}, list: () => [], load: () => 42 };
  void bad;
}

// ---- images (issue 18) ----
import type { ContentBlock, ImagePart, Message } from "../../index.js";
const imageInput: Message[] = [{ role: "user", content: [
  { type: "text", text: "what is this?" },
  { type: "image", path: "shot.png" },
  { type: "image", data: Buffer.from([]), mediaType: "image/png" },
  { type: "image", data: "iVBORw0KGgo=", mediaType: "image/webp" },
  { type: "image", url: "https://example.com/a.png" },
] }];
void imageInput;
// @ts-expect-error an unknown media type
const badMedia: ImagePart = { type: "image", data: "AA==", mediaType: "image/tiff" };
// @ts-expect-error bytes without their media type
const noMedia: ImagePart = { type: "image", data: "AA==" };
void badMedia; void noMedia;
const kept = (b: ContentBlock): string | undefined => (b.type === "image" && b.source.type === "base64" ? b.source.mediaType : undefined);
void kept;
// ---- end images ----
