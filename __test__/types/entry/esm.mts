// An ES module consumer of the published entry points, checked by `tsc --strict` in
// entry.test.mjs under moduleResolution nodenext and bundler: "harnext" resolves through
// the package's own `exports` map (import -> index.d.mts).
import { Agent, tool, jsonSchema, builtinTools } from "harnext";
import type { AgentEvent, BuiltinToolName, Decision, RunResult, Tool } from "harnext";
// The CommonJS view of the same package (require -> index.d.ts): the types must be identical.
import type {
  Agent as CjsAgent,
  AgentEvent as CjsAgentEvent,
  RunResult as CjsRunResult,
  builtinTools as cjsBuiltinTools,
  tool as cjsTool,
  jsonSchema as cjsJsonSchema,
} from "harnext" with { "resolution-mode": "require" };
import { z } from "zod";

// @ts-expect-error there is no default export: import the names.
import harnext from "harnext";
void harnext;

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same: [
  Equal<Agent, CjsAgent>,
  Equal<AgentEvent, CjsAgentEvent>,
  Equal<RunResult, CjsRunResult>,
  Equal<typeof builtinTools, typeof cjsBuiltinTools>,
  Equal<typeof tool, typeof cjsTool>,
  Equal<typeof jsonSchema, typeof cjsJsonSchema>,
] = [true, true, true, true, true, true];
const names: readonly BuiltinToolName[] = builtinTools;
void names;
void same;

const weather = tool({
  name: "get_weather",
  description: "Current weather for a city",
  inputSchema: z.object({ city: z.string() }),
  readOnly: true,
  execute: async (args) => `Sunny in ${args.city}`,
});
const add: Tool<{ a: number; b: number }> = tool({
  name: "add",
  description: "Adds two numbers",
  inputSchema: jsonSchema<{ a: number; b: number }>({ type: "object", properties: { a: { type: "number" }, b: { type: "number" } } }),
  execute: ({ a, b }) => a + b,
});

export async function main(): Promise<string> {
  const agent = new Agent({
    model: "scripted",
    tools: [...builtinTools, weather, add],
    permissionMode: "manual",
    onPermissionRequest: (req): Decision => (req.tool === "bash" ? { behavior: "deny", message: "no" } : "allow"),
  });
  const review = await agent.run("Review", {
    outputSchema: z.object({ verdict: z.enum(["approve", "request_changes"]), issues: z.array(z.string()) }),
  });
  const verdict: "approve" | "request_changes" | undefined = review.output?.verdict;

  const ac = new AbortController();
  let text = "";
  for await (const e of agent.stream("Migrate the config loader to TOML", { signal: ac.signal })) {
    if (e.type === "text") text += e.text;
    else if (e.type === "permission_request") e.respond("deny");
    else if (e.type === "run_end") text += e.result.sessionId;
  }
  return `${verdict ?? ""}${text}`;
}
