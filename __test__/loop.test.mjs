import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent } from '../index.js';
import { startMock } from './helpers/mock.mjs';

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock.close(); });

const workspace = () => mkdtempSync(path.join(tmpdir(), 'harnext-test-'));
const anthropic = (cwd, extra = {}) =>
  new Agent({ model: 'anthropic/claude-test', baseURL: mock.url, apiKey: 'sk-test-key', cwd, ...extra });

/** Collapses consecutive text (or thinking) chunks into one entry. */
function shape(events) {
  const out = [];
  for (const e of events) {
    if ((e.type === 'text' || e.type === 'thinking') && out.at(-1) === e.type) continue;
    out.push(e.type);
  }
  return out;
}

test('a 3-step tool loop against the mock gives the spec event order, text and usage totals', async () => {
  const cwd = workspace();
  await mock.push(
    { turn: { thinking: 'First a file.', text: 'Creating notes.txt.', toolCalls: [{ name: 'write_file', args: { path: 'notes.txt', content: 'alpha\n' } }], usage: { inputTokens: 120, outputTokens: 30, cacheWriteTokens: 90 } } },
    { turn: { toolCalls: [{ name: 'bash', args: { command: 'wc -l < notes.txt' } }], usage: { inputTokens: 150, outputTokens: 12, cacheReadTokens: 90 } } },
    { turn: { text: 'notes.txt has one line.', usage: { inputTokens: 170, outputTokens: 9 } } },
  );
  const events = [];
  for await (const e of anthropic(cwd).stream('write notes')) events.push(e);

  assert.deepEqual(shape(events), [
    'run_start', 'thinking', 'text', 'usage', 'tool_call', 'tool_result', 'usage',
    'tool_call', 'tool_result', 'text', 'usage', 'run_end',
  ]);
  assert.equal(events.filter((e) => e.type === 'run_end').length, 1);
  const result = events.at(-1).result;
  assert.equal(result.success, true);
  assert.equal(result.stopReason, 'end_turn');
  assert.equal(result.sessionId, events[0].sessionId);
  assert.match(result.sessionId, /^sess_[0-9a-z]{10,}$/);

  // result.text is the concatenation of the final turn's text chunks.
  const lastUsage = events.findLastIndex((e) => e.type === 'usage');
  const prevUsage = events.slice(0, lastUsage).findLastIndex((e) => e.type === 'usage');
  const finalText = events.slice(prevUsage, lastUsage).filter((e) => e.type === 'text').map((e) => e.text).join('');
  assert.equal(result.text, finalText);
  assert.equal(result.text, 'notes.txt has one line.');

  // Usage totals equal the sum of the usage events.
  const sum = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 };
  for (const e of events.filter((e) => e.type === 'usage')) for (const k of Object.keys(sum)) sum[k] += e[k];
  assert.deepEqual(result.usage, sum);
  assert.deepEqual(sum, { inputTokens: 440, outputTokens: 51, cacheReadTokens: 90, cacheWriteTokens: 90, reasoningTokens: 0 });

  // Each tool_call has exactly one tool_result with its id, right after it.
  const calls = events.filter((e) => e.type === 'tool_call');
  const results = events.filter((e) => e.type === 'tool_result');
  assert.deepEqual(calls.map((c) => c.id), results.map((r) => r.id));
  assert.deepEqual(calls[0].args, { path: 'notes.txt', content: 'alpha\n' });
  assert.equal(results[1].output, '1\nexit code: 0');
  assert.deepEqual(result.steps.map((s) => [s.tool, s.status]), [['write_file', 'ok'], ['bash', 'ok']]);
  assert.deepEqual(result.filesChanged, ['notes.txt']);
  assert.equal(readFileSync(path.join(cwd, 'notes.txt'), 'utf8'), 'alpha\n');
  assert.ok(result.durationMs >= 0);

  // The model saw each tool's result, paired with its call.
  const requests = (await mock.requests()).slice(-3);
  const second = requests[1].body.messages;
  const toolUse = second[1].content.find((b) => b.type === 'tool_use');
  assert.equal(second[2].content[0].tool_use_id, toolUse.id);
  assert.equal(second[2].content[0].is_error, false);
});

test('run() resolves with the same result shape as the stream, continuing a session', async () => {
  const cwd = workspace();
  await mock.push({ turn: { text: 'First.' } }, { turn: { text: 'Second.' } });
  const agent = anthropic(cwd);
  const first = await agent.run('one');
  assert.equal(first.text, 'First.');
  const second = await agent.run([{ role: 'user', content: 'two' }], { sessionId: first.sessionId });
  assert.equal(second.sessionId, first.sessionId);
  assert.equal(second.text, 'Second.');
  const last = (await mock.requests()).at(-1).body.messages;
  assert.deepEqual(last.map((m) => m.role), ['user', 'assistant', 'user']);
});

test('the scripted model replays turns with real tools and no network', async () => {
  const cwd = workspace();
  const agent = new Agent({
    model: 'scripted',
    cwd,
    script: [
      { text: 'Listing.', toolCalls: [{ id: 'c1', name: 'bash', args: { command: 'echo hi > hi.txt && ls' } }] },
      { text: 'There is hi.txt.', usage: { inputTokens: 3, outputTokens: 4 } },
    ],
  });
  const result = await agent.run('list');
  assert.equal(result.success, true);
  assert.equal(result.text, 'There is hi.txt.');
  assert.deepEqual(result.steps.map((s) => [s.id, s.status, s.output]), [['c1', 'ok', 'hi.txt\nexit code: 0']]);
  assert.deepEqual(result.usage, { inputTokens: 3, outputTokens: 4, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 });
  const again = await agent.run('more');
  assert.equal(again.success, false);
  assert.equal(again.error.code, 'internal');
  assert.match(again.error.message, /script has 2 turn\(s\)/);
});

test('provider errors end the run with success: false and a typed error, never a rejection', async () => {
  const cwd = workspace();
  await mock.push({ status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 300000 tokens > 200000 maximum' } } });
  const events = [];
  for await (const e of anthropic(cwd).stream('big')) events.push(e);
  assert.deepEqual(events.map((e) => e.type), ['run_start', 'error', 'run_end']);
  assert.deepEqual(events[1].error, { code: 'context_overflow', message: events[1].error.message, retryable: false, status: 400 });
  assert.equal(events[2].result.success, false);
  assert.deepEqual(events[2].result.error, events[1].error);
});
