// The three wire formats end to end through the Node API: the same scripted turns,
// served by the mock as Anthropic Messages, OpenAI Responses and OpenAI Chat
// Completions, must give the same events, results and usage totals.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent } from '../index.js';
import { startMock } from './helpers/mock.mjs';

// The OpenAI providers fall back to these; the tests set everything explicitly.
delete process.env.OPENAI_API_KEY;
delete process.env.OPENAI_BASE_URL;

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock.close(); });

const workspace = () => mkdtempSync(path.join(tmpdir(), 'harnext-providers-'));

const FORMATS = [
  { model: 'anthropic/claude-test', path: '/v1/messages' },
  { model: 'openai/gpt-test', path: '/v1/responses' },
  { model: 'openai-chat/llama-test', path: '/v1/chat/completions' },
];

const agentFor = (model, cwd, extra = {}) =>
  new Agent({ model, baseURL: mock.url, apiKey: 'sk-test-key-providers', cwd, ...extra });

async function collect(iterable) {
  const events = [];
  for await (const e of iterable) events.push(e);
  return events;
}

/** The events with what legitimately differs between runs removed. */
function comparable(events) {
  return events.map((e) => {
    switch (e.type) {
      case 'run_start': return { type: e.type };
      case 'run_end': {
        const { sessionId, durationMs, steps, ...rest } = e.result;
        return { type: e.type, result: { ...rest, steps: steps.map(({ durationMs: _, ...s }) => s) } };
      }
      case 'error': return { type: e.type, code: e.error.code, retryable: e.error.retryable, status: e.error.status };
      case 'retry': return { type: e.type, attempt: e.attempt, delayMs: e.delayMs };
      default: return e;
    }
  });
}

/** Runs `script` on every format and returns the events of each. */
async function runEverywhere(script, task, options = {}) {
  const out = [];
  for (const { model, path: route } of FORMATS) {
    const cwd = workspace();
    const before = (await mock.requests()).length;
    await mock.push(...script);
    const events = await collect(agentFor(model, cwd, options).stream(task));
    const requests = (await mock.requests()).slice(before);
    assert.ok(requests.length > 0 && requests.every((r) => r.path === route), `${model} used ${route}`);
    out.push({ model, cwd, events, requests });
  }
  return out;
}

test('the same script gives identical events, results and usage on all three formats', async () => {
  const script = [
    { turn: { thinking: 'First a file, then count.', text: 'Creating notes.txt.', toolCalls: [{ id: 'call_w1', name: 'write_file', args: { path: 'notes.txt', content: 'alpha\n' } }], usage: { inputTokens: 120, outputTokens: 30, cacheReadTokens: 64 } } },
    { turn: { toolCalls: [{ id: 'call_b1', name: 'bash', args: { command: 'wc -l < notes.txt' } }, { id: 'call_r1', name: 'read_file', args: { path: 'missing.txt' } }], usage: { inputTokens: 150, outputTokens: 12, cacheReadTokens: 128 } } },
    { turn: { text: 'notes.txt has one line; missing.txt does not exist.', usage: { inputTokens: 170, outputTokens: 9 } } },
  ];
  const runs = await runEverywhere(script, 'write notes', { thinking: true });
  const [anthropic, ...openai] = runs;

  for (const run of openai) {
    assert.deepEqual(comparable(run.events), comparable(anthropic.events), `${run.model} vs anthropic`);
  }
  for (const run of runs) {
    const result = run.events.at(-1).result;
    assert.equal(result.success, true, run.model);
    assert.equal(result.text, 'notes.txt has one line; missing.txt does not exist.');
    assert.deepEqual(result.usage, { inputTokens: 440, outputTokens: 51, cacheReadTokens: 192, cacheWriteTokens: 0, reasoningTokens: 0 });
    assert.deepEqual(result.steps.map((s) => [s.id, s.tool, s.status]), [
      ['call_w1', 'write_file', 'ok'], ['call_b1', 'bash', 'ok'], ['call_r1', 'read_file', 'error'],
    ]);
    assert.equal(readFileSync(path.join(run.cwd, 'notes.txt'), 'utf8'), 'alpha\n');
    assert.equal(run.events.filter((e) => e.type === 'thinking').map((e) => e.text).join(''), 'First a file, then count.');
  }

  // Each API saw the tool results paired with their calls, the failure visible.
  const [a, r, c] = runs.map((run) => run.requests.at(-1).body);
  const aResults = a.messages.flatMap((m) => (Array.isArray(m.content) ? m.content : [])).filter((b) => b.type === 'tool_result');
  assert.deepEqual(aResults.map((b) => [b.tool_use_id, b.is_error]), [['call_w1', false], ['call_b1', false], ['call_r1', true]]);
  const rOutputs = r.input.filter((i) => i.type === 'function_call_output');
  assert.deepEqual(rOutputs.map((i) => i.call_id), ['call_w1', 'call_b1', 'call_r1']);
  assert.match(rOutputs[2].output, /^\[error\] /);
  assert.equal(rOutputs[1].output, '1\nexit code: 0');
  // The reasoning item of the first turn went back, encrypted, before its call.
  assert.equal(r.input[1].type, 'reasoning');
  assert.ok(r.input[1].encrypted_content.length > 10);
  assert.deepEqual(r.input[2], { role: 'assistant', content: 'Creating notes.txt.' });
  assert.deepEqual([r.input[3].type, r.input[3].call_id], ['function_call', 'call_w1']);
  const cTools = c.messages.filter((m) => m.role === 'tool');
  assert.deepEqual(cTools.map((m) => m.tool_call_id), ['call_w1', 'call_b1', 'call_r1']);
  assert.match(cTools[2].content, /^\[error\] /);
  assert.equal(c.messages[0].role, 'system');
  assert.deepEqual(c.stream_options, { include_usage: true });
});

test('a retried rate limit and an auth failure look the same on every format', async () => {
  const runs = await runEverywhere(
    [{ status: 429, headers: { 'retry-after-ms': '20' } }, { turn: { text: 'Recovered.', usage: { inputTokens: 5, outputTokens: 2 } } }],
    'hello',
  );
  for (const run of runs) {
    assert.deepEqual(run.events.map((e) => e.type), ['run_start', 'retry', 'text', 'usage', 'run_end'], run.model);
    assert.equal(run.requests.length, 2);
    assert.equal(run.events[1].delayMs, 20);
  }
  assert.deepEqual(comparable(runs[1].events), comparable(runs[0].events));
  assert.deepEqual(comparable(runs[2].events), comparable(runs[0].events));

  const failed = await runEverywhere([{ status: 401 }], 'hello');
  for (const run of failed) {
    assert.deepEqual(run.events.map((e) => e.type), ['run_start', 'error', 'run_end']);
    assert.deepEqual(comparable([run.events[1]])[0], { type: 'error', code: 'auth', retryable: false, status: 401 });
    assert.ok(!JSON.stringify(run.events).includes('sk-test-key-providers'), 'no key in any event');
  }
});

test('cached input and reasoning tokens are reported by both OpenAI formats', async () => {
  // The mock sends input_tokens / prompt_tokens = 80 with 30 cached: harnext's
  // inputTokens is the uncached part, as Anthropic reports it.
  for (const model of ['openai/gpt-test', 'openai-chat/llama-test']) {
    await mock.push({ turn: { thinking: 'Think.', text: 'Ok.', usage: { inputTokens: 50, outputTokens: 20, cacheReadTokens: 30, reasoningTokens: 12 } } });
    const result = await agentFor(model, workspace()).run('go');
    assert.deepEqual(result.usage, { inputTokens: 50, outputTokens: 20, cacheReadTokens: 30, cacheWriteTokens: 0, reasoningTokens: 12 }, model);
  }
});

test('openai-chat against a local server needs no API key and sends no Authorization', async () => {
  await mock.push({ turn: { text: 'Hi from a local model.' } });
  const agent = new Agent({ model: 'openai-chat/qwen3:8b', baseURL: `${mock.url}/v1`, cwd: workspace() });
  const result = await agent.run('hi');
  assert.equal(result.success, true, JSON.stringify(result.error));
  assert.equal(result.text, 'Hi from a local model.');
  const req = (await mock.requests()).at(-1);
  assert.equal(req.path, '/v1/chat/completions');
  assert.equal(req.headers.authorization, undefined);
  assert.equal(req.body.model, 'qwen3:8b');
});

test('without a baseURL, a missing OpenAI key is an auth error naming OPENAI_API_KEY', async () => {
  for (const model of ['openai/gpt-5', 'openai-chat/gpt-4.1']) {
    const result = await new Agent({ model, cwd: workspace() }).run('hi');
    assert.equal(result.success, false);
    assert.equal(result.error.code, 'auth');
    assert.equal(result.error.retryable, false);
    assert.match(result.error.message, /OPENAI_API_KEY/);
  }
});
