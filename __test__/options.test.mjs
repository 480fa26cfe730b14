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

const cwd = mkdtempSync(path.join(tmpdir(), 'harnext-test-'));

test('bad options throw at construction, naming the option and what was expected', () => {
  const cases = [
    [{ model: 'gpt-4o' }, /`model`.*"<provider>\/<model>"/],
    [{ model: 'mystery/x' }, /`model`.*unknown provider prefix "mystery"/],
    [{ model: 'anthropic/x', maxSteps: 0 }, /`maxSteps`.*integer >= 1, got 0/],
    [{ model: 'anthropic/x', maxSteps: 2.5 }, /`maxSteps`/],
    [{ model: 'anthropic/x', cwd: '/no/such/dir' }, /`cwd`.*\/no\/such\/dir/],
    [{ model: 'anthropic/x', tools: ['read_file', 'teleport'] }, /`tools`.*"teleport"/],
    [{ model: 'anthropic/x', permissionMode: 'yolo' }, /`permissionMode`.*"yolo"/],
    [{ model: 'anthropic/x', baseURL: 'not a url' }, /`baseURL`/],
    [{ model: 'anthropic/x', temperature: 9 }, /`temperature`/],
    [{ model: 'scripted' }, /`script`/],
    [{ model: 'scripted', script: [{ txt: 'typo' }] }, /`script`.*txt/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => new Agent({ cwd, ...options }), message, JSON.stringify(options));
  }
  assert.throws(() => new Agent({}), /model/);
});

test('a missing API key is an auth error event at run time, not a crash', async () => {
  const saved = process.env.ANTHROPIC_API_KEY;
  delete process.env.ANTHROPIC_API_KEY;
  try {
    const agent = new Agent({ model: 'anthropic/claude-test', baseURL: mock.url, cwd });
    const events = [];
    for await (const e of agent.stream('hi')) events.push(e);
    assert.deepEqual(events.map((e) => e.type), ['run_start', 'error', 'run_end']);
    assert.equal(events[1].error.code, 'auth');
    assert.match(events[1].error.message, /ANTHROPIC_API_KEY/);
    const result = await agent.run('hi');
    assert.equal(result.success, false);
    assert.equal(result.error.code, 'auth');
  } finally {
    if (saved !== undefined) process.env.ANTHROPIC_API_KEY = saved;
  }
});

test('the API key is read from ANTHROPIC_API_KEY and never shows in events or results', async () => {
  const saved = process.env.ANTHROPIC_API_KEY;
  process.env.ANTHROPIC_API_KEY = 'sk-ant-env-SECRET-42';
  try {
    await mock.push({ status: 401, body: { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } } });
    const agent = new Agent({ model: 'anthropic/claude-test', baseURL: mock.url, cwd, headers: { 'x-gateway-token': 'GW-SECRET' } });
    const events = [];
    for await (const e of agent.stream('hi')) events.push(e);
    const dump = JSON.stringify(events);
    assert.equal(events[1].error.code, 'auth');
    assert.equal(events[1].error.status, 401);
    assert.ok(!dump.includes('SECRET'), dump);
    const req = (await mock.requests()).at(-1);
    assert.equal(req.headers['x-api-key'], 'sk-ant-env-SECRET-42');
    assert.equal(req.headers['x-gateway-token'], 'GW-SECRET');
  } finally {
    if (saved === undefined) delete process.env.ANTHROPIC_API_KEY;
    else process.env.ANTHROPIC_API_KEY = saved;
  }
});

test('misuse before the loop starts rejects run() and throws inside for await', async () => {
  const agent = new Agent({ model: 'scripted', cwd, script: [] });
  await assert.rejects(agent.run('x', { sessionId: 'sess_unknown000' }), /unknown session `sess_unknown000`/);
  await assert.rejects(agent.run(''), /empty/);
  await assert.rejects(agent.run([]), /empty/);
  await assert.rejects(agent.run('x', { maxSteps: 0 }), /maxSteps/);
  await assert.rejects(agent.run('x', { signal: 'nope' }), /AbortSignal/);
  await assert.rejects(agent.run([{ role: 'system', content: 'x' }]), /role/);
  await assert.rejects(async () => {
    for await (const e of agent.stream('x', { sessionId: 'sess_unknown000' })) void e;
  }, /unknown session/);
});

test('a per-run maxSteps stops the loop with stopReason max_steps', async () => {
  const script = Array.from({ length: 3 }, () => ({ toolCalls: [{ name: 'bash', args: { command: 'true' } }] }));
  const agent = new Agent({ model: 'scripted', cwd, script });
  const result = await agent.run('loop', { maxSteps: 2 });
  assert.equal(result.stopReason, 'max_steps');
  assert.equal(result.success, false);
  assert.equal(result.error.code, 'max_steps');
  assert.equal(result.steps.length, 2);
});

test('systemPrompt replaces or extends the built-in prompt', () => {
  const replaced = new Agent({ model: 'scripted', cwd, script: [], systemPrompt: 'Only answer in haiku.' });
  assert.equal(replaced.systemPrompt, 'Only answer in haiku.');
  const appended = new Agent({ model: 'scripted', cwd, script: [], systemPrompt: { append: 'Use tabs.' } });
  assert.match(appended.systemPrompt, /^You are harnext[\s\S]*Use tabs\.$/);
});
