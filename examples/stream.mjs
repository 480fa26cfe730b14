#!/usr/bin/env node
// Streaming a run to the terminal: the reply as it is written, each tool call with its
// arguments, each result, and the totals at the end.
//
//   node examples/stream.mjs                      # offline: the scripted model, no network
//   ANTHROPIC_API_KEY=... node examples/stream.mjs "What does this project do?"
//   OPENAI_API_KEY=... node examples/stream.mjs    # HARNEXT_MODEL picks another model
//
// The agent works on examples/sample-repo in read-only mode: it can look, not touch.
// Ctrl-C cancels the run (it still ends with run_end).

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent } from 'harnext';

const repo = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sample-repo');
const task = process.argv.slice(2).join(' ') || 'What does this project do, and is it tested?';

// A real model when an API key is set, else a scripted one that replays these turns.
const key = process.env.ANTHROPIC_API_KEY ? 'anthropic' : process.env.OPENAI_API_KEY ? 'openai' : null;
const model = key ? process.env.HARNEXT_MODEL || (key === 'anthropic' ? 'anthropic/claude-sonnet-4-5' : 'openai/gpt-5') : 'scripted';
const script = [
  {
    delayMs: 15,
    text: "I'll look at the manifest and the source first.",
    toolCalls: [
      { name: 'read_file', args: { path: 'package.json' } },
      { name: 'glob', args: { pattern: '**/*.js' } },
    ],
    usage: { inputTokens: 1900, outputTokens: 60 },
  },
  {
    delayMs: 15,
    text: 'Now the module itself.',
    toolCalls: [{ name: 'read_file', args: { path: 'src/todo.js' } }],
    usage: { inputTokens: 400, outputTokens: 25, cacheReadTokens: 1900 },
  },
  {
    delayMs: 15,
    text:
      '**tiny-todo** is an in-memory todo list: `createList`, `add` (trims titles, rejects empty ones), ' +
      '`complete`, `remaining` and `summary`. It is tested with `node --test test/` ' +
      '(test/todo.test.js covers every function).',
    usage: { inputTokens: 500, outputTokens: 70, cacheReadTokens: 2300 },
  },
];

const agent = new Agent({
  model,
  cwd: repo,
  permissionMode: 'read-only',
  ...(model === 'scripted' ? { script } : {}),
});

const dim = (s) => (process.stdout.isTTY && !process.env.NO_COLOR ? `\x1b[2m${s}\x1b[22m` : s);
const controller = new AbortController();
process.once('SIGINT', () => controller.abort());

console.log(dim(`model ${model} · ${repo}\n`));
let exitCode = 1;
let afterTool = false; // a blank line between tool results and the next reply
for await (const e of agent.stream(task, { signal: controller.signal })) {
  switch (e.type) {
    case 'thinking':
      process.stdout.write(dim(e.text));
      break;
    case 'text':
      if (afterTool) process.stdout.write('\n');
      afterTool = false;
      process.stdout.write(e.text);
      break;
    case 'tool_call':
      process.stdout.write(`${afterTool ? '' : '\n'}⏺ ${e.tool}(${JSON.stringify(e.args)})\n`);
      afterTool = true;
      break;
    case 'tool_result': {
      const lines = e.output.split('\n');
      const first = lines[0].replace(/\s+/g, ' ').trim().slice(0, 70);
      console.log(`  ↳ ${e.status} ${dim(`${first}${lines.length > 1 ? ` … (${lines.length} lines)` : ''}`)}`);
      break;
    }
    case 'error':
      console.error(`\nerror (${e.error.code}): ${e.error.message}`);
      break;
    case 'run_end': {
      const { success, cancelled, usage, steps, durationMs } = e.result;
      console.log(
        dim(`\n\n${success ? 'done' : cancelled ? 'cancelled' : 'failed'} · ${steps.length} tool calls · ` +
          `${usage.inputTokens + usage.cacheReadTokens} tokens in, ${usage.outputTokens} out · ${durationMs} ms`),
      );
      exitCode = success ? 0 : 1;
      break;
    }
  }
}
process.exitCode = exitCode;
