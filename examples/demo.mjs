#!/usr/bin/env node
// harnext demo: an agent fixes the failing tests of a tiny sample repository.
//
//   node examples/demo.mjs            # offline: replays a scripted model, no network
//   ANTHROPIC_API_KEY=sk-... node examples/demo.mjs [task]
//                                     # real model (HARNEXT_MODEL picks it, default claude-sonnet-4-5)
//
// The sample repository (examples/sample-repo) is copied to a fresh scratch directory
// first, so the original stays broken and the demo can be run again. Ctrl-C cancels the
// run cleanly; a second Ctrl-C quits at once. Exit code: 0 when the run succeeds, else 1.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent } from '../index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SAMPLE_REPO = path.join(here, 'sample-repo');
const DEFAULT_TASK =
  'Fix the failing test in this repository; run the tests with `node --test test/` to check.';

// ---------------------------------------------------------------------------------------
// Terminal styling: ANSI only on a TTY, and never when NO_COLOR is set.

const useColor =
  process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0'
    ? true
    : Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const sgr = (open, close) => (s) => (useColor ? `\x1b[${open}m${s}\x1b[${close}m` : String(s));
const c = {
  bold: sgr(1, 22),
  dim: sgr(2, 22),
  italic: sgr(3, 23),
  red: sgr(31, 39),
  green: sgr(32, 39),
  yellow: sgr(33, 39),
  cyan: sgr(36, 39),
};
const width = () => Math.max(40, Math.min(process.stdout.columns || 100, 120));
const num = (n) => Number(n ?? 0).toLocaleString('en-US');

/** One line, tabs expanded, cut to `max` characters with an ellipsis. */
function clip(s, max) {
  const line = String(s).replace(/\t/g, '  ').replace(/[\r\n]+/g, ' ⏎ ');
  return line.length > max ? `${line.slice(0, Math.max(1, max - 1))}…` : line;
}

// ---------------------------------------------------------------------------------------
// Arguments and model choice.

const argv = process.argv.slice(2);
if (argv.includes('-h') || argv.includes('--help')) {
  console.log(`usage: node examples/demo.mjs [task]

Copies examples/sample-repo to a scratch directory and runs a harnext agent on it.
Without ANTHROPIC_API_KEY the model is "scripted" (offline replay of a fixed fix);
with it, anthropic/$HARNEXT_MODEL (default claude-sonnet-4-5) does the task for real.`);
  process.exit(0);
}
const userTask = argv.join(' ').trim();
const apiKey = process.env.ANTHROPIC_API_KEY;
const live = Boolean(apiKey && apiKey.trim());
const modelName = (process.env.HARNEXT_MODEL || 'claude-sonnet-4-5').replace(/^anthropic\//, '');
const model = live ? `anthropic/${modelName}` : 'scripted';
const task = live && userTask ? userTask : DEFAULT_TASK;

// The offline script: exactly the fix a model would make, done with the real tools.
const OLD_TEXT = '  return list.items.filter((t) => t.done);';
const NEW_TEXT = '  return list.items.filter((t) => !t.done);';
const TEST_CMD = 'node --test test/';
const script = [
  {
    delayMs: 20,
    thinking:
      'The user wants the failing test fixed. First I should read the code under test and the tests, then reproduce the failure.',
    text: "I'll start by reading the todo module and its tests.",
    toolCalls: [
      { name: 'read_file', args: { path: 'src/todo.js' } },
      { name: 'read_file', args: { path: 'test/todo.test.js' } },
    ],
    usage: { inputTokens: 2184, outputTokens: 97, cacheWriteTokens: 1890 },
  },
  {
    delayMs: 20,
    text: 'Now let me run the test suite to see what fails.',
    toolCalls: [{ name: 'bash', args: { command: TEST_CMD } }],
    usage: { inputTokens: 1312, outputTokens: 38, cacheReadTokens: 2184 },
  },
  {
    delayMs: 20,
    thinking:
      '`remaining` filters on `t.done`, so it returns the completed todos instead of the open ones. `summary` derives its done count from `remaining`, which explains the second failure.',
    text: 'Two tests fail, and both come from one bug: `remaining()` keeps the todos that are done instead of the open ones, and `summary()` counts through it. Fixing the filter:',
    toolCalls: [
      { name: 'edit_file', args: { path: 'src/todo.js', old_text: OLD_TEXT, new_text: NEW_TEXT } },
    ],
    usage: { inputTokens: 1046, outputTokens: 164, cacheReadTokens: 3496, reasoningTokens: 41 },
  },
  {
    delayMs: 20,
    text: 'Re-running the tests to confirm the fix:',
    toolCalls: [{ name: 'bash', args: { command: TEST_CMD } }],
    usage: { inputTokens: 96, outputTokens: 35, cacheReadTokens: 4542 },
  },
  {
    delayMs: 20,
    text:
      'All 4 tests pass now.\n\nThe bug was in `remaining()` in `src/todo.js`: it filtered with `(t) => t.done`, ' +
      'so it returned the completed todos rather than the open ones. `summary()` computes its count from ' +
      '`remaining()`, so it was wrong too. Negating the predicate (`!t.done`) fixes both failing tests; ' +
      'the tests themselves needed no change.',
    usage: { inputTokens: 412, outputTokens: 88, cacheReadTokens: 4638 },
  },
];

// ---------------------------------------------------------------------------------------
// The workspace: a fresh copy of the sample repository.

const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'harnext-demo-'));
fs.cpSync(SAMPLE_REPO, workspace, { recursive: true });

if (!live && !fs.readFileSync(path.join(workspace, 'src/todo.js'), 'utf8').includes(OLD_TEXT)) {
  console.error(
    c.yellow('warning: examples/sample-repo/src/todo.js changed; the scripted edit will not apply'),
  );
}

// `node --test` prints TAP when its output is not a terminal; the spec reporter's one
// ✔/✖ line per test reads better in the tool-output previews below (and costs the model
// fewer tokens). Only the agent's child processes see this.
if (!/--test-reporter/.test(process.env.NODE_OPTIONS ?? '')) {
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --test-reporter=spec`.trim();
}

console.log(c.bold('harnext demo'));
console.log(`${c.dim('workspace')}  ${workspace} ${c.dim('(copy of examples/sample-repo)')}`);
if (live) {
  console.log(`${c.dim('model    ')}  ${model} ${c.dim('(real API; set HARNEXT_MODEL to pick another model)')}`);
} else {
  console.log(
    `${c.dim('model    ')}  scripted ${c.dim('(offline replay; set ANTHROPIC_API_KEY to use anthropic/claude-sonnet-4-5)')}`,
  );
  if (userTask) console.log(c.dim('           (the scripted model ignores the task argument)'));
}
console.log(`${c.dim('task     ')}  ${task}`);
console.log(c.dim('           Ctrl-C cancels the run.'));
console.log();

// ---------------------------------------------------------------------------------------
// Ctrl-C: the first aborts the run (it still ends with run_end), the second quits.

const controller = new AbortController();
let interrupts = 0;
function onSigint() {
  interrupts += 1;
  if (interrupts === 1) {
    line(c.yellow('^C cancelling the run… (Ctrl-C again to quit)'));
    controller.abort();
  } else {
    process.stdout.write('\n');
    process.exit(130);
  }
}
process.on('SIGINT', onSigint);

// ---------------------------------------------------------------------------------------
// Rendering.

let atLineStart = true; // whether the cursor is at the start of a line
let block = null; // 'thinking' | 'text' | null: what the inline stream is writing
const calls = new Map(); // tool call id -> tool name
const totals = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 };
let modelCalls = 0;
let afterTools = false; // a blank line separates a turn's tool results from the next reply

function out(s) {
  if (!s) return;
  process.stdout.write(s);
  atLineStart = s.endsWith('\n');
}
function line(s = '') {
  if (!atLineStart) out('\n');
  block = null;
  out(`${s}\n`);
}

function argsSummary(tool, args = {}) {
  const max = width() - tool.length - 6;
  switch (tool) {
    case 'bash':
      return clip(args.command ?? '', max);
    case 'read_file': {
      let s = String(args.path ?? '');
      if (args.offset != null || args.limit != null) {
        s += `:${args.offset ?? 1}${args.limit != null ? `+${args.limit}` : ''}`;
      }
      return clip(s, max);
    }
    case 'write_file': {
      const n = String(args.content ?? '').split('\n').length;
      return clip(`${args.path ?? ''}, ${n} line${n === 1 ? '' : 's'}`, max);
    }
    case 'edit_file':
      return clip(`${args.path ?? ''}${args.replace_all ? ', all' : ''}`, max);
    default:
      return clip(JSON.stringify(args), max);
  }
}

function renderToolResult(e) {
  const tool = calls.get(e.id);
  let lines = String(e.output ?? '').replace(/\s+$/, '').split('\n');
  let exit = '';
  if (tool === 'bash') {
    const m = /^exit code: (\S+)$/.exec(lines[lines.length - 1] ?? '');
    if (m) {
      lines.pop();
      exit = ` ${m[1] === '0' ? c.dim('(exit code 0)') : c.yellow(`(exit code ${m[1]})`)}`;
    }
  }
  if (lines.length === 1 && lines[0] === '') lines = [];
  let header;
  if (e.status === 'ok') {
    header = `  ↳ ${c.green('ok')}${exit}`;
  } else {
    const first = lines.shift() ?? '';
    const label = e.status === 'error' ? c.red('error') : c.yellow(e.status);
    header = `  ↳ ${label}${first ? `: ${clip(first, width() - 14)}` : ''}${exit}`;
  }
  line(header);
  const shown = 4;
  for (const l of lines.slice(0, shown)) line(c.dim(`    ${clip(l, width() - 5)}`));
  if (lines.length > shown) line(c.dim(`    … +${lines.length - shown} lines`));
}

function render(e) {
  switch (e.type) {
    case 'run_start':
      line(c.dim(`▶ run started · session ${e.sessionId}`));
      line();
      break;
    case 'thinking':
      if (block !== 'thinking') {
        if (!atLineStart) out('\n');
        if (afterTools) out('\n');
        afterTools = false;
        out(c.dim(c.italic('✻ ')));
        block = 'thinking';
      }
      out(c.dim(c.italic(e.text)));
      break;
    case 'text':
      if (block !== 'text') {
        if (!atLineStart) out('\n');
        if (afterTools) out('\n');
        afterTools = false;
        block = 'text';
      }
      out(e.text);
      break;
    case 'tool_call':
      calls.set(e.id, e.tool);
      line(`${c.cyan('⏺')} ${c.bold(e.tool)}(${argsSummary(e.tool, e.args)})`);
      break;
    case 'tool_result':
      renderToolResult(e);
      afterTools = true;
      break;
    case 'permission_request':
      // Not reached in the default "auto" permission mode; shown for completeness.
      line(c.yellow(`? permission requested for ${e.tool}(${argsSummary(e.tool, e.args)})`));
      break;
    case 'usage': {
      modelCalls += 1;
      for (const k of Object.keys(totals)) totals[k] += e[k] ?? 0;
      const cache = e.cacheReadTokens ? ` + ${num(e.cacheReadTokens)} cached` : '';
      line(
        c.dim(
          `  · model call ${modelCalls}: ${num(e.inputTokens)}${cache} in, ${num(e.outputTokens)} out` +
            ` · run so far: ${num(totals.inputTokens)} in, ${num(totals.outputTokens)} out`,
        ),
      );
      break;
    }
    case 'retry':
      line(
        c.yellow(
          `⟳ retrying in ${(e.delayMs / 1000).toFixed(1)} s (attempt ${e.attempt}: ${clip(e.reason, width() - 40)})`,
        ),
      );
      break;
    case 'error':
      line(c.red(`✗ error [${e.error.code}${e.error.status ? ` ${e.error.status}` : ''}]: ${e.error.message}`));
      break;
    case 'run_end':
      renderSummary(e.result);
      break;
    default: {
      // A newer engine may add event types; show them rather than drop them.
      const { type, ...rest } = e;
      line(c.dim(`· ${type} ${clip(JSON.stringify(rest), width() - type.length - 4)}`));
    }
  }
}

function renderSummary(r) {
  line();
  line(c.dim('─'.repeat(Math.min(width(), 60))));
  if (r.success) line(`${c.green('✓ success')} ${c.dim(`· stop reason: ${r.stopReason}`)}`);
  else if (r.cancelled) line(`${c.yellow('⏹ cancelled')} ${c.dim(`· stop reason: ${r.stopReason}`)}`);
  else {
    const why = r.error ? ` (${r.error.code}): ${clip(r.error.message, width() - 40)}` : '';
    line(`${c.red(`✗ failed${why}`)} ${c.dim(`· stop reason: ${r.stopReason}`)}`);
  }
  const byTool = new Map();
  for (const s of r.steps) byTool.set(s.tool, (byTool.get(s.tool) ?? 0) + 1);
  const failed = r.steps.filter((s) => s.status !== 'ok').length;
  const stepDetail = [...byTool].map(([t, n]) => `${t} ×${n}`).join(', ');
  const u = r.usage;
  const row = (k, v) => line(`  ${c.dim(k.padEnd(15))}${v}`);
  row(
    'steps',
    `${r.steps.length} tool call${r.steps.length === 1 ? '' : 's'}${stepDetail ? ` (${stepDetail})` : ''}` +
      (failed ? c.yellow(`, ${failed} not ok`) : ''),
  );
  row('files changed', r.filesChanged.length ? r.filesChanged.join(', ') : c.dim('none'));
  row(
    'usage',
    `${num(u.inputTokens)} in, ${num(u.outputTokens)} out, ${num(u.cacheReadTokens)} cache read, ` +
      `${num(u.cacheWriteTokens)} cache write, ${num(u.reasoningTokens)} reasoning` +
      c.dim(` (${modelCalls} model call${modelCalls === 1 ? '' : 's'})`),
  );
  row('duration', `${(r.durationMs / 1000).toFixed(2)} s`);
  row('session', r.sessionId);
  row('workspace', `${workspace} ${c.dim(`(cd there and run \`${TEST_CMD}\`)`)}`);
}

// ---------------------------------------------------------------------------------------
// Run.

let success = false;
try {
  const agent = new Agent(
    live ? { model, cwd: workspace, maxSteps: 30 } : { model, cwd: workspace, script },
  );
  let ended = false;
  for await (const e of agent.stream(task, { signal: controller.signal })) {
    render(e);
    if (e.type === 'run_end') {
      ended = true;
      success = e.result.success;
    }
  }
  if (!ended) line(c.red('✗ the event stream ended without run_end'));
} catch (err) {
  line(c.red(`✗ ${err?.stack ?? err}`));
} finally {
  process.off('SIGINT', onSigint);
  if (!atLineStart) out('\n');
}
process.exitCode = success ? 0 : 1;
