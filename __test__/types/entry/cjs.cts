// A CommonJS consumer (require -> index.d.ts through the `exports` map).
import { Agent, tool, jsonSchema, builtinTools } from "harnext";
import type { RunResult } from "harnext";

const echo = tool({
  name: "echo",
  description: "Echoes its text",
  inputSchema: jsonSchema<{ text: string }>({ type: "object", properties: { text: { type: "string" } }, required: ["text"] }),
  execute: ({ text }) => text,
});

export async function main(): Promise<RunResult> {
  const agent = new Agent({ model: "scripted", tools: [...builtinTools, echo], script: [{ text: "hi" }] });
  return agent.run("hello");
}
