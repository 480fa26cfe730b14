import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { Agent, tool, jsonSchema } from '../index.js';
import { startMock } from './helpers/mock.mjs';
import { assertPrompt } from './helpers/prompt.mjs';

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock.close(); });

const workspace = () => mkdtempSync(path.join(tmpdir(), 'harnext-test-'));
const write = (p, content) => ({ name: 'write_file', args: { path: p, content } });
const bash = (command) => ({ name: 'bash', args: { command } });

test('manual mode asks onPermissionRequest (sync) before writing, and emits permission_request', async () => {
  const cwd = workspace();
  const asked = [];
  const agent = new Agent({
    model: 'scripted', cwd, permissionMode: 'manual',
    script: [{ toolCalls: [{ id: 'r1', name: 'read_file', args: { path: 'missing.txt' } }, { id: 'w1', ...write('a.txt', 'x') }] }, { text: 'done' }],
    onPermissionRequest: (req) => { asked.push(req); return 'allow'; },
  });
  const events = [];
  for await (const e of agent.stream('write')) events.push(e);
  assert.deepEqual(asked, [{ id: 'w1', tool: 'write_file', args: { path: 'a.txt', content: 'x' }, sandboxed: false }], 'read-only tools run without asking');
  // For w1: tool_call, then permission_request, then tool_result, back to back.
  const at = events.findIndex((e) => e.type === 'tool_call' && e.id === 'w1');
  assert.deepEqual(events.slice(at, at + 3).map((e) => [e.type, e.id]), [['tool_call', 'w1'], ['permission_request', 'w1'], ['tool_result', 'w1']]);
  assert.equal(events.filter((e) => e.type === 'permission_request').length, 1);
  assert.equal(events[at + 2].status, 'ok');
  assert.equal(readFileSync(path.join(cwd, 'a.txt'), 'utf8'), 'x');
});

test('a deny with a message is what the model sees in its next request', async () => {
  const cwd = workspace();
  await mock.push({ turn: { toolCalls: [bash('rm -rf build')] } }, { turn: { text: 'Understood.' } });
  const agent = new Agent({
    model: 'anthropic/claude-test', baseURL: mock.url, apiKey: 'k', cwd, permissionMode: 'manual',
    onPermissionRequest: async () => ({ behavior: 'deny', message: 'Do not delete the build directory.' }),
  });
  const result = await agent.run('clean up');
  assert.equal(result.success, true);
  assert.equal(result.steps[0].status, 'denied');
  assert.equal(result.steps[0].output, 'Do not delete the build directory.');
  const next = (await mock.requests()).at(-1).body.messages;
  const toolResult = next[2].content[0];
  assert.equal(toolResult.type, 'tool_result');
  assert.equal(toolResult.content, 'Do not delete the build directory.');
  assert.equal(toolResult.is_error, true);
});

test('allow with edited args runs the edited call; remember skips asking for the rest of the session', async () => {
  const cwd = workspace();
  let asks = 0;
  const agent = new Agent({
    model: 'scripted', cwd, permissionMode: 'manual',
    script: [
      { toolCalls: [bash('echo original > out.txt')] },
      { toolCalls: [bash('echo second >> out.txt')] },
      { text: 'done' },
      { toolCalls: [bash('echo third >> out.txt')] },
      { text: 'done again' },
    ],
    onPermissionRequest: async (req) => {
      asks++;
      return { behavior: 'allow', args: { command: req.args.command.replace('original', 'edited') }, remember: true };
    },
  });
  const first = await agent.run('go');
  assert.equal(asks, 1, 'the second bash call of the session was remembered');
  assert.deepEqual(first.steps[0].args, { command: 'echo edited > out.txt' });
  const second = await agent.run('more', { sessionId: first.sessionId });
  assert.equal(second.success, true);
  assert.equal(asks, 1, 'still remembered in the next run of the session');
  assert.equal(readFileSync(path.join(cwd, 'out.txt'), 'utf8'), 'edited\nsecond\nthird\n');
});

test('stream() without a callback: respond() from inside the for await body lets the run go on', async () => {
  const cwd = workspace();
  const agent = new Agent({
    model: 'scripted', cwd, permissionMode: 'manual',
    script: [{ toolCalls: [write('ok.txt', 'yes'), write('no.txt', 'no')] }, { text: 'done' }],
  });
  const results = [];
  for await (const e of agent.stream('write two')) {
    if (e.type === 'permission_request') {
      await sleep(10); // the run waits while we think
      e.respond(e.args.path === 'ok.txt' ? 'allow' : { behavior: 'deny', message: 'not that one' });
      assert.throws(() => e.respond('allow'), /already answered/);
    }
    if (e.type === 'tool_result') results.push([e.status, e.output]);
  }
  assert.equal(results[0][0], 'ok');
  assert.deepEqual(results[1], ['denied', 'not that one']);
  assert.equal(existsSync(path.join(cwd, 'ok.txt')), true);
  assert.equal(existsSync(path.join(cwd, 'no.txt')), false);
});

test('respond() rejects a malformed decision with a clear error', async () => {
  const cwd = workspace();
  const agent = new Agent({ model: 'scripted', cwd, permissionMode: 'manual', script: [{ toolCalls: [bash('true')] }, { text: 'x' }] });
  for await (const e of agent.stream('x')) {
    if (e.type === 'permission_request') {
      assert.throws(() => e.respond('maybe'), /respond\(\): invalid decision/);
      e.respond('deny');
    }
  }
});

test('an abort while a permission request is pending ends the call with status cancelled', async () => {
  const cwd = workspace();
  const agent = new Agent({ model: 'scripted', cwd, permissionMode: 'manual', script: [{ toolCalls: [bash('touch never')] }] });
  const ac = new AbortController();
  const events = [];
  let t0;
  for await (const e of agent.stream('x', { signal: ac.signal })) {
    events.push(e);
    if (e.type === 'permission_request') { t0 = performance.now(); ac.abort(); }
  }
  assertPrompt(performance.now() - t0, 'run_end');
  assert.equal(events.find((e) => e.type === 'tool_result').status, 'cancelled');
  assert.equal(events.at(-1).result.cancelled, true);
  assert.equal(existsSync(path.join(cwd, 'never')), false);
  // run() with a callback that never answers: same.
  const stuck = new Agent({ model: 'scripted', cwd, permissionMode: 'manual', script: [{ toolCalls: [bash('touch never')] }], onPermissionRequest: () => new Promise(() => {}) });
  const ac2 = new AbortController();
  setTimeout(() => ac2.abort(), 30);
  const r = await stuck.run('x', { signal: ac2.signal });
  assert.equal(r.steps[0].status, 'cancelled');
});

test('run() in a manual mode without onPermissionRequest is misuse: it rejects before starting', async () => {
  const agent = new Agent({ model: 'scripted', cwd: workspace(), permissionMode: 'accept-edits', script: [] });
  await assert.rejects(agent.run('x'), /onPermissionRequest/);
});

test('accept-edits lets file edits through and asks for commands; a failing callback denies', async () => {
  const cwd = workspace();
  const asked = [];
  const agent = new Agent({
    model: 'scripted', cwd, permissionMode: 'accept-edits',
    script: [{ toolCalls: [write('f.txt', '1'), bash('touch g.txt')] }, { text: 'done' }],
    onPermissionRequest: (req) => { asked.push(req.tool); throw new Error('approval service down'); },
  });
  const result = await agent.run('x');
  assert.deepEqual(asked, ['bash']);
  assert.equal(result.steps[0].status, 'ok');
  assert.equal(result.steps[1].status, 'denied');
  assert.match(result.steps[1].output, /approval service down/);
  assert.equal(existsSync(path.join(cwd, 'g.txt')), false);
});

test('permission modes apply to custom tools: writing by default, readOnly when they say so', async () => {
  const cwd = workspace();
  const ran = [];
  const reader = tool({ name: 'lookup', description: 'reads', readOnly: true, inputSchema: z.object({}), execute: () => { ran.push('lookup'); return 'found'; } });
  const writer = tool({ name: 'deploy', description: 'writes', inputSchema: jsonSchema({ type: 'object' }), execute: () => { ran.push('deploy'); return 'deployed'; } });
  const agent = new Agent({
    model: 'scripted', cwd, permissionMode: 'read-only', tools: [reader, writer],
    script: [{ toolCalls: [{ name: 'lookup', args: {} }, { name: 'deploy', args: {} }] }, { text: 'ok' }],
  });
  const result = await agent.run('x');
  assert.deepEqual(ran, ['lookup']);
  assert.deepEqual(result.steps.map((s) => s.status), ['ok', 'denied']);
});
