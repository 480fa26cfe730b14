// Steering a run: budgets (maxCostUsd, maxTokens, maxDurationMs) through the Node API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs, { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent } from '../index.js';
import { startMock } from './helpers/mock.mjs';

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock.close(); });

const workspace = () => mkdtempSync(path.join(tmpdir(), 'harnext-test-'));
const bashTurn = (usage) => ({ toolCalls: [{ name: 'bash', args: { command: 'true' } }], usage });

test('maxCostUsd stops the run after the step that reaches it; usage events and the result carry costUsd', async () => {
  await mock.push({ turn: bashTurn({ inputTokens: 100_000 }), times: 10 });
  const agent = new Agent({ model: 'anthropic/claude-sonnet-4-5', baseURL: mock.url, apiKey: 'k', cwd: workspace(), persistSession: false, maxCostUsd: 0.5 });
  const events = [];
  for await (const e of agent.stream('loop')) events.push(e);
  const result = events.at(-1).result;
  assert.equal(result.stopReason, 'cost_budget');
  assert.equal(result.success, false);
  assert.equal(result.error.code, 'cost_budget');
  assert.match(result.error.message, /`maxCostUsd`/);
  assert.ok(Math.abs(result.costUsd - 0.6) < 1e-9, String(result.costUsd));
  const usage = events.filter((e) => e.type === 'usage');
  assert.equal(usage.length, 2);
  for (const u of usage) assert.ok(Math.abs(u.costUsd - 0.3) < 1e-9);
  await mock.reset();
});

test('maxTokens (run option over the agent option) and maxDurationMs each stop a run with their own reason', async () => {
  const agent = new Agent({
    model: 'scripted',
    script: Array.from({ length: 10 }, () => ({ ...bashTurn({ inputTokens: 100, outputTokens: 10 }), toolCalls: [{ name: 'bash', args: { command: 'sleep 0.05' } }] })),
    cwd: workspace(),
    persistSession: false,
    maxTokens: 10_000,
  });
  const r = await agent.run('loop', { maxTokens: 200 });
  assert.equal(r.stopReason, 'token_budget');
  assert.equal(r.error.code, 'token_budget');
  assert.equal(r.steps.length, 2, '110, then 220 >= 200 tokens');
  assert.equal(r.costUsd, undefined, 'the scripted model has no price: no cost, not zero');
  const t = await agent.run('loop', { maxDurationMs: 60 });
  assert.equal(t.stopReason, 'time_budget');
  assert.equal(t.success, false);
  assert.ok(t.durationMs >= 60);
  assert.ok(t.steps.length >= 1 && t.steps.length <= 2, String(t.steps.length));
});

test('budget options are checked: names (did you mean), values, and a cost budget needs a known price', async () => {
  assert.throws(() => new Agent({ model: 'scripted', maxCostUSD: 1 }), /unknown option "maxCostUSD" of an agent: did you mean `maxCostUsd`\?/);
  assert.throws(() => new Agent({ model: 'scripted', maxCostUsd: 1 }), /invalid option `maxCostUsd`: the price of "scripted" is not known/);
  assert.throws(() => new Agent({ model: 'scripted', maxTokens: 1.5 }), /invalid option `maxTokens`: expected an integer >= 1, got 1.5/);
  assert.throws(() => new Agent({ model: 'anthropic/claude-sonnet-4-5', apiKey: 'k', maxCostUsd: -1 }), /invalid option `maxCostUsd`: expected a positive number/);
  assert.throws(() => new Agent({ model: 'scripted', maxDurationMs: 'soon' }), /invalid option `maxDurationMs`: expected a number/);
  const agent = new Agent({ model: 'scripted', script: [{ text: 'hi' }], persistSession: false });
  await assert.rejects(agent.run('x', { maxDurationMS: 5 }), /unknown option "maxDurationMS" of a run: did you mean `maxDurationMs`\?/);
  await assert.rejects(agent.run('x', { maxCostUsd: 1 }), /invalid option `maxCostUsd`: the price of "scripted"/);
  await assert.rejects(agent.run('x', { maxTokens: 0 }), /invalid option `maxTokens`: expected an integer >= 1, got 0/);
});

// Hooks

const scripted = (script, extra = {}) => new Agent({ model: 'scripted', script, cwd: workspace(), persistSession: false, ...extra });

test('a preToolUse hook denies bash with a message the model reads; an async hook rewrites args; each sees its input', async () => {
  await mock.push(
    { turn: { toolCalls: [{ id: 'b1', name: 'bash', args: { command: 'touch pwned' } }, { id: 'w1', name: 'write_file', args: { path: 'a.txt', content: 'x' } }] } },
    { turn: { text: 'ok' } },
  );
  const cwd = workspace();
  const seen = [];
  const agent = new Agent({
    model: 'anthropic/claude-test', baseURL: mock.url, apiKey: 'k', cwd, persistSession: false,
    hooks: {
      preToolUse: [
        (input) => { seen.push(input); return input.tool === 'bash' ? { decision: 'deny', message: 'No shell: use the file tools.' } : undefined },
        async (input) => (input.tool === 'write_file' ? { args: { ...input.args, path: 'b.txt' } } : null),
      ],
    },
  });
  const r = await agent.run('go');
  assert.equal(r.success, true);
  assert.equal(r.steps[0].status, 'denied');
  assert.equal(r.steps[0].output, 'No shell: use the file tools.');
  assert.equal(r.steps[1].args.path, 'b.txt');
  const requests = await mock.requests();
  const sent = JSON.stringify(requests.at(-1).body.messages);
  assert.match(sent, /No shell: use the file tools\./);
  assert.deepEqual(seen[0], { event: 'pre_tool_use', session: r.sessionId, id: 'b1', tool: 'bash', args: { command: 'touch pwned' } });
  await mock.reset();
});

test('a throwing hook is a hook_error: preToolUse denies (fails closed), postToolUse keeps the output (open)', async () => {
  const agent = scripted([{ toolCalls: [{ id: 'c1', name: 'bash', args: { command: 'echo hi' } }] }, { toolCalls: [{ id: 'c2', name: 'bash', args: { command: 'echo there' } }] }, { text: 'done' }], {
    hooks: {
      preToolUse: (input) => { if (input.id === 'c1') throw new Error('policy service down') },
      postToolUse: async () => { throw new Error('post failed') },
    },
  });
  const events = [];
  for await (const e of agent.stream('go')) events.push(e);
  const errors = events.filter((e) => e.type === 'hook_error');
  assert.deepEqual(errors.map((e) => e.hook), ['pre_tool_use', 'post_tool_use']);
  assert.match(errors[0].message, /policy service down.*denied/);
  const result = events.at(-1).result;
  assert.equal(result.steps[0].status, 'denied');
  assert.match(result.steps[0].output, /a pre_tool_use hook failed \(.*policy service down\)/);
  assert.equal(result.steps[1].status, 'ok');
  assert.match(result.steps[1].output, /^there/);
  assert.equal(result.success, true);
});

test('a stop hook continues the run once; userPromptSubmit blocks; bad hooks are refused at construction', async () => {
  const stops = [];
  const agent = scripted([{ text: 'Done.' }, { text: 'Tests pass too.' }], {
    hooks: { stop: ({ result, continued }) => { stops.push(result.text); return continued === 0 ? { decision: 'continue', message: 'Run the tests.' } : undefined } },
  });
  const r = await agent.run('fix');
  assert.equal(r.success, true);
  assert.equal(r.text, 'Tests pass too.');
  assert.deepEqual(stops, ['Done.', 'Tests pass too.']);

  const blocker = scripted([{ text: 'never' }], { hooks: { userPromptSubmit: ({ input }) => (input.includes('secret') ? { decision: 'block', reason: 'no secrets' } : undefined) } });
  const b = await blocker.run('print the secret');
  assert.equal(b.stopReason, 'blocked');
  assert.equal(b.error.code, 'blocked');
  assert.match(b.error.message, /no secrets/);

  assert.throws(() => scripted([], { hooks: { preToolUs: () => {} } }), /invalid option `hooks`: unknown hook "preToolUs": did you mean `preToolUse`\?/);
  assert.throws(() => scripted([], { hooks: { stop: [() => {}, 'x'] } }), /invalid option `hooks`: stop\[1\]: expected a function/);
  assert.throws(() => scripted([], { hooks: 5 }), /invalid option `hooks`: expected an object/);
  assert.throws(() => scripted([], { hooks: { timeoutMs: 0 } }), /invalid option `hooks`: timeoutMs: expected an integer >= 1, got 0/);
  assert.throws(() => scripted([], { hook: {} }), /did you mean `hooks`\?/);
});

// Parallel tool calls

import { tool, jsonSchema } from '../index.js';

function countingTool(readOnly) {
  const state = { inFlight: 0, most: 0 };
  const t = tool({
    name: 'lookup',
    description: 'test',
    readOnly,
    inputSchema: jsonSchema({ type: 'object', properties: { n: { type: 'integer' } } }),
    execute: async ({ n }) => {
      state.inFlight += 1;
      state.most = Math.max(state.most, state.inFlight);
      // Later calls finish first.
      await new Promise((r) => setTimeout(r, (8 - n) * 10));
      state.inFlight -= 1;
      return `looked up ${n}`;
    },
  });
  return { t, state };
}
const eight = () => [{ toolCalls: Array.from({ length: 8 }, (_, n) => ({ id: `c${n}`, name: 'lookup', args: { n } })) }, { text: 'done' }];

test('the read-only calls of a turn run concurrently, results in call order; parallelToolCalls: false runs them one by one', async () => {
  const { t, state } = countingTool(true);
  const agent = scripted(eight(), { tools: [t] });
  const r = await agent.run('go');
  assert.equal(r.success, true);
  assert.equal(state.most, 8);
  assert.deepEqual(r.steps.map((s) => s.output), Array.from({ length: 8 }, (_, n) => `looked up ${n}`));

  const off = countingTool(true);
  const r2 = await scripted(eight(), { tools: [off.t], parallelToolCalls: false }).run('go');
  assert.equal(r2.success, true);
  assert.equal(off.state.most, 1);
  const run = countingTool(true);
  await scripted(eight(), { tools: [run.t] }).run('go', { parallelToolCalls: false });
  assert.equal(run.state.most, 1, 'the run option overrides the agent option');

  const writing = countingTool(false);
  await scripted(eight(), { tools: [writing.t] }).run('go');
  assert.equal(writing.state.most, 1, 'calls that may write keep their order');
  assert.throws(() => scripted([], { parallelToolCall: false }), /did you mean `parallelToolCalls`\?/);
});

// Messages while it works, and interrupts

test('stream.send() reaches the next model request; stream.interrupt(message) stops a sleep at once and goes on', async () => {
  await mock.push(
    { turn: { toolCalls: [{ id: 's1', name: 'bash', args: { command: 'sleep 0.3' } }] } },
    { turn: { toolCalls: [{ id: 's2', name: 'bash', args: { command: 'sleep 30' } }] } },
    { turn: { text: 'Hi.' } },
  );
  const agent = new Agent({ model: 'anthropic/claude-test', baseURL: mock.url, apiKey: 'k', cwd: workspace(), persistSession: false });
  const stream = agent.stream('work');
  const events = [];
  let interruptedAt = 0;
  let stoppedAfter = 0;
  for await (const e of stream) {
    events.push(e);
    if (e.type === 'tool_call' && e.id === 's1') stream.send('Also update the changelog.');
    if (e.type === 'tool_call' && e.id === 's2') {
      setTimeout(() => { interruptedAt = performance.now(); stream.interrupt('Forget it; say hi.'); }, 50);
    }
    if (e.type === 'tool_result' && e.id === 's2') stoppedAfter = performance.now() - interruptedAt;
  }
  const result = events.at(-1).result;
  assert.equal(result.success, true);
  assert.equal(result.text, 'Hi.');
  assert.equal(result.steps[1].status, 'cancelled');
  assert.ok(stoppedAfter < 1000, `${stoppedAfter} ms`);
  assert.deepEqual(events.filter((e) => e.type === 'user_message').map((e) => e.text), ['Also update the changelog.', 'Forget it; say hi.']);
  const requests = (await mock.requests()).slice(-2);
  assert.match(JSON.stringify(requests[0].body.messages), /Also update the changelog\./);
  assert.match(JSON.stringify(requests[1].body.messages.at(-1)), /Forget it; say hi\./);
  assert.throws(() => stream.send('late'), /send\(\): the run has ended; continue its session with a new run \(`sessionId`\)/);
  assert.throws(() => stream.send(42), /send\(\): expected a message string, got number 42/);
  // A stream left early takes no more messages either: none is queued for no one.
  const left = scripted([{ text: 'a b c', delayMs: 50 }]).stream('go');
  for await (const e of left) if (e.type === 'run_start') break;
  assert.throws(() => left.send('late'), /the run has ended/);
  await mock.reset();
});

test('agent.send() and agent.interrupt() reach a run() by its session; the session goes on after an interrupt', async () => {
  const agent = scripted([
    { text: 'Hello.' },
    { text: 'a slow answer that streams word by word for a while', delayMs: 100 },
    { text: 'Short.' },
    { text: 'a second slow answer streaming word by word', delayMs: 100 },
  ]);
  const { sessionId } = await agent.run('hi');
  // run() on a known session: steered from outside by the session id.
  const running = agent.run('talk at length', { sessionId });
  await new Promise((r) => setTimeout(r, 150));
  agent.interrupt(sessionId, 'Be brief.');
  const r = await running;
  assert.equal(r.success, true);
  assert.equal(r.text, 'Short.');
  const again = agent.run('and now?', { sessionId });
  await new Promise((r) => setTimeout(r, 150));
  agent.interrupt(sessionId);
  const cancelled = await again;
  assert.equal(cancelled.cancelled, true);
  assert.throws(() => agent.send(sessionId, 'x'), /send\(\): no run of this agent is going on on session/);
});

test('send(message, { urgent: true }) keeps the calls not started from running; bad send options are named', async () => {
  const cwd = workspace();
  const agent = scripted([
    { toolCalls: [{ id: 'u1', name: 'bash', args: { command: 'sleep 0.3' } }, { id: 'u2', name: 'bash', args: { command: 'touch later' } }] },
    { text: 'ok' },
  ], { cwd });
  const stream = agent.stream('go');
  const events = [];
  for await (const e of stream) {
    events.push(e);
    if (e.type === 'tool_call' && e.id === 'u1') stream.send('Stop: nothing more.', { urgent: true });
  }
  const result = events.at(-1).result;
  assert.deepEqual(result.steps.map((s) => s.status), ['ok', 'cancelled']);
  assert.match(result.steps[1].output, /^Not run: the user sent a message/);
  assert.ok(!fs.existsSync(path.join(cwd, 'later')));
  assert.throws(() => stream.send('x', { urgent: 'yes' }), /send\(\): expected options \{ urgent\?: boolean \}/);
  assert.throws(() => agent.send('sess_nothing1234', 'x', { urgent: 1 }), /send\(\): expected options/);
});
