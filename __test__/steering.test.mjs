// Steering a run: budgets (maxCostUsd, maxTokens, maxDurationMs) through the Node API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
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
