#!/usr/bin/env node
// Custom tools with tool(): the agent calls your code. Here, a small issue tracker the agent
// can read (a Zod schema, so `args` is typed and validated) and comment on (a plain JSON
// Schema with jsonSchema(), validated in Rust).
//
//   node examples/custom-tool.mjs                 # offline: the scripted model
//   ANTHROPIC_API_KEY=... node examples/custom-tool.mjs ["task"]
//
// The built-in tools stay on ([...builtinTools, ...]) in read-only mode, so the agent can
// look at examples/sample-repo to connect the issue to the code.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { Agent, builtinTools, jsonSchema, tool } from 'harnext';

const repo = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sample-repo');

// Your system: here an in-memory tracker.
const issues = new Map([
  ['TODO-7', { title: 'remaining() returns finished todos', status: 'open', reporter: 'ana', body: 'After completing "b", remaining() lists only "b".' }],
  ['TODO-9', { title: 'Support due dates', status: 'planned', reporter: 'li', body: 'add(list, title, { due })' }],
]);
const comments = [];

const getIssue = tool({
  name: 'get_issue',
  description: 'Reads an issue of the project tracker by its key, e.g. TODO-7.',
  inputSchema: z.object({ key: z.string().regex(/^TODO-\d+$/).describe('The issue key') }),
  readOnly: true, // never asks in the manual permission modes
  execute: async ({ key }) => {
    const issue = issues.get(key);
    if (!issue) throw new Error(`no issue ${key}`); // the model sees this as a tool error
    return { key, ...issue }; // any JSON value; the model sees it serialised
  },
});

const addComment = tool({
  name: 'add_comment',
  description: 'Adds a comment to an issue of the tracker.',
  // In TypeScript: jsonSchema<{ key: string; text: string }>({...}) types `args`.
  inputSchema: jsonSchema({
    type: 'object',
    properties: { key: { type: 'string' }, text: { type: 'string', minLength: 1 } },
    required: ['key', 'text'],
    additionalProperties: false,
  }),
  execute: ({ key, text }, { toolCallId }) => {
    comments.push({ key, text, toolCallId });
    return `Comment added to ${key}.`;
  },
});

const key = process.env.ANTHROPIC_API_KEY ? 'anthropic' : process.env.OPENAI_API_KEY ? 'openai' : null;
const model = key ? process.env.HARNEXT_MODEL || (key === 'anthropic' ? 'anthropic/claude-sonnet-4-5' : 'openai/gpt-5') : 'scripted';
const task =
  process.argv.slice(2).join(' ') ||
  'Read issue TODO-7, find the cause in the code, and leave a comment on the issue saying where it is.';

const script = [
  { text: 'Reading the issue.', toolCalls: [{ name: 'get_issue', args: { key: 'todo 7' } }] }, // invalid: rejected by the schema
  { text: 'The key format is TODO-<n>.', toolCalls: [{ name: 'get_issue', args: { key: 'TODO-7' } }] },
  { text: 'Now the code.', toolCalls: [{ name: 'read_file', args: { path: 'src/todo.js', offset: 25, limit: 4 } }] },
  {
    text: 'Found it; commenting.',
    toolCalls: [{ name: 'add_comment', args: { key: 'TODO-7', text: 'Cause: remaining() in src/todo.js filters on `t.done` instead of `!t.done`.' } }],
  },
  { text: 'TODO-7 comes from `remaining()` in src/todo.js (its filter is inverted); I left a comment on the issue.' },
];

const agent = new Agent({
  model,
  cwd: repo,
  tools: [...builtinTools, getIssue, addComment],
  // Built-in writing tools and commands are refused; custom tools that are not readOnly
  // count as writing too, so add_comment is allowed by this callback.
  permissionMode: 'manual',
  onPermissionRequest: (req) => (req.tool === 'add_comment' ? 'allow' : { behavior: 'deny', message: 'This example only reads code.' }),
  ...(model === 'scripted' ? { script } : {}),
});

const result = await agent.run(task);
for (const step of result.steps) {
  console.log(`⏺ ${step.tool}(${JSON.stringify(step.args)}) → ${step.status}`);
  console.log(`    ${step.output.split('\n').slice(0, 3).join('\n    ')}`);
}
console.log(`\n${result.text}\n`);
console.log('comments on the tracker:', comments.map(({ key, text }) => `${key}: ${text}`));
process.exitCode = result.success && comments.length > 0 ? 0 : 1;
