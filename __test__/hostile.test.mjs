// The Node face tried the way hostile servers, hostile models and careless callers try it
// (issue 14): stop reasons, unreported usage, the total stream deadline, settings refused
// at construction without credentials, secrets kept out of events, results and sessions,
// wrong argument types, unknown options, pending permission promises and reused ids.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { startMock } from './helpers/mock.mjs';
import harnext from '../index.js';

const { Agent } = harnext;

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock.close(); });

const MODELS = ['anthropic/claude-test', 'openai/gpt-test', 'openai-chat/gpt-test'];

function baseURL(model) {
  return model.startsWith('anthropic') ? mock.url : `${mock.url}/v1`;
}

function agent(model, extra = {}) {
  return new Agent({ model, baseURL: baseURL(model), apiKey: 'sk-test-node', maxRetries: 0, persistSession: false, ...extra });
}

async function collect(iterable) {
  const events = [];
  for await (const e of iterable) events.push(e);
  return events;
}

test('refusal, max_tokens and content_filter are their own stop reasons, with stopDetails and success false', async () => {
  for (const model of MODELS) {
    for (const [wire, code] of [['refusal', 'refusal'], ['max_tokens', 'max_tokens'], ['content_filter', 'content_filter']]) {
      if (model.startsWith('anthropic') && wire === 'content_filter') continue;
      await mock.push({ turn: { text: 'I will not.' }, stopReason: wire });
      const r = await agent(model).run('do it');
      assert.equal(r.stopReason, wire, `${model} ${wire}`);
      assert.equal(r.success, false);
      assert.equal(r.error.code, code);
      if (wire === 'max_tokens') {
        assert.equal(r.stopDetails, undefined);
        assert.match(r.error.message, /`maxOutputTokens`/);
      } else {
        assert.ok(r.stopDetails, `${model} ${wire}: stopDetails`);
      }
      if (model.startsWith('anthropic') && wire === 'refusal') {
        assert.equal(r.stopDetails.category, 'cyber');
      }
    }
  }
});

test('usage a server does not report is marked unreported in the usage event and the result', async () => {
  for (const model of MODELS) {
    await mock.push({ turn: { text: 'hi' }, noUsage: true });
    const events = await collect(agent(model).stream('hello'));
    const usage = events.find((e) => e.type === 'usage');
    assert.equal(usage.unreported, true, model);
    const end = events.at(-1);
    assert.equal(end.result.usage.unreported, true, model);
    // A server that reports usage gives no flag at all.
    await mock.push({ turn: { text: 'hi', usage: { inputTokens: 3, outputTokens: 2 } } });
    const r = await agent(model).run('hello');
    assert.equal('unreported' in r.usage, false, model);
  }
});

test('streamTimeoutMs bounds a model call that keeps dripping data: a timeout error naming the option', async () => {
  assert.throws(() => agent(MODELS[0], { streamTimeoutMs: 0 }), /invalid option `streamTimeoutMs`/);
  for (const model of MODELS) {
    await mock.push({ turn: { text: 'a b c d e f g h i j k l m n o p q r s t' }, chunkDelayMs: 150 });
    const r = await agent(model, { streamTimeoutMs: 400, idleTimeoutMs: 5000 }).run('drip');
    assert.equal(r.success, false);
    assert.equal(r.error.code, 'timeout', `${model}: ${r.error.message}`);
    assert.match(r.error.message, /`streamTimeoutMs`/);
    await fetch(`${mock.url}/_mock/reset`, { method: 'POST' });
  }
});

const PASSWORD = 'p4ss-w0rd-SECRET';
const QUERY_KEY = 'AIza-query-SECRET-value';
const KEY = 'sk-ant-api03-node-SECRET-key';

test('a malformed baseURL or a header with a line break throws at construction, naming the option, without credentials', () => {
  for (const model of MODELS) {
    assert.throws(
      () => new Agent({ model, apiKey: 'k', baseURL: `ftp://alice:${PASSWORD}@host/?key=${QUERY_KEY}` }),
      (e) => {
        assert.match(e.message, /^invalid option `baseURL`: expected an http\(s\) URL/);
        assert.ok(!e.message.includes(PASSWORD) && !e.message.includes(QUERY_KEY), e.message);
        return true;
      },
    );
    assert.throws(
      () => new Agent({ model, apiKey: 'k', headers: { 'x-team': 'a\r\nx-injected: 1' } }),
      /invalid option `headers`: .*line break/,
    );
  }
});

test('a key and URL credentials echoed by the model never reach events, results or session files', async () => {
  const sessionDir = mkdtempSync(path.join(tmpdir(), 'harnext-secrets-'));
  const cwd = mkdtempSync(path.join(tmpdir(), 'harnext-secrets-cwd-'));
  const echo = `key ${KEY} password ${PASSWORD} query ${QUERY_KEY}`;
  await mock.push(
    { turn: { text: echo, toolCalls: [{ id: 't1', name: 'bash', args: { command: `echo ${KEY}` } }] } },
    { turn: { text: `done ${KEY}` } },
  );
  const url = new URL(mock.url);
  const a = new Agent({
    model: 'anthropic/claude-test',
    apiKey: KEY,
    baseURL: `http://alice:${PASSWORD}@${url.host}/?key=${QUERY_KEY}`,
    cwd,
    sessionDir,
  });
  const events = await collect(a.stream('echo the secrets'));
  const result = events.at(-1).result;
  assert.equal(result.success, true, JSON.stringify(result.error));
  let seen = JSON.stringify(events) + JSON.stringify(result);
  for (const f of readdirSync(sessionDir)) seen += readFileSync(path.join(sessionDir, f), 'utf8');
  for (const secret of [KEY, PASSWORD, QUERY_KEY]) assert.ok(!seen.includes(secret), `${secret} leaked`);
  assert.match(result.text, /^done <redacted>/);
});

test('wrong input types reject run() and throw inside for await, naming the argument', async () => {
  const a = new Agent({ model: 'scripted', script: [{ text: 'x' }], persistSession: false });
  for (const bad of [123, null, undefined, { role: 'user' }, true]) {
    const p = a.run(bad);
    assert.ok(p instanceof Promise, 'run() returns a promise, even for bad input');
    await assert.rejects(p, /invalid argument `input`: expected a string or an array of messages/);
  }
  await assert.rejects(a.run([{ role: 'user', content: 5 }]), /invalid argument `input\[0\]\.content`: expected a string or an array of parts .*, got number 5/);
  await assert.rejects(a.run(['hi']), /invalid argument `input\[0\]`/);
  const iterable = a.stream(123);
  await assert.rejects(async () => {
    for await (const e of iterable) void e;
  }, /invalid argument `input`: .*got number 123/);
});

test('new Agent() without options, and onPermissionRequest that is not a function, say what is wrong', () => {
  assert.throws(() => new Agent(), /new Agent\(options\): expected an options object such as \{ model: .*got undefined/);
  assert.throws(() => new Agent('anthropic/claude-sonnet-4-5'), /expected an options object.*got the string/);
  assert.throws(
    () => new Agent({ model: 'scripted', script: [], onPermissionRequest: 'allow' }),
    /invalid option `onPermissionRequest`: expected a function .* got the string "allow"/,
  );
});

test('options of the wrong type name the option and what was expected, not napi\'s conversion', async () => {
  assert.throws(() => new Agent({}), /^TypeError: invalid option `model`: required/);
  assert.throws(() => new Agent({ model: 5 }), /invalid option `model`: expected a string, got number 5/);
  assert.throws(() => new Agent({ model: 'scripted', script: [], maxSteps: '5' }), /invalid option `maxSteps`: expected a number, got the string "5"/);
  assert.throws(() => new Agent({ model: 'scripted', script: [], persistSession: 'no' }), /invalid option `persistSession`: expected a boolean/);
  const a = new Agent({ model: 'scripted', script: [{ text: 'x' }], persistSession: false });
  await assert.rejects(a.run('hi', { maxSteps: 'many' }), /invalid option `maxSteps`: expected a number, got the string "many"/);
});

test('unknown options are errors with a "did you mean" suggestion, for agents, runs and MCP servers', async () => {
  assert.throws(
    () => new Agent({ model: 'scripted', script: [], permisionMode: 'read-only' }),
    (e) => {
      assert.equal(e.message, 'unknown option "permisionMode" of an agent: did you mean `permissionMode`?');
      return true;
    },
  );
  assert.throws(() => new Agent({ model: 'scripted', script: [], max_steps: 3 }), /did you mean `maxSteps`\?/);
  const a = new Agent({ model: 'scripted', script: [{ text: 'x' }], persistSession: false });
  await assert.rejects(a.run('hi', { sesionId: 'sess_x' }), /unknown option "sesionId" of a run: did you mean `sessionId`\?/);
  await assert.rejects(async () => {
    for await (const e of a.stream('hi', { maxStep: 2 })) void e;
  }, /did you mean `maxSteps`\?/);
  assert.throws(
    () => new Agent({ model: 'scripted', script: [], mcpServers: { fs: { command: 'node', toolTimeout: 5 } } }),
    /`mcpServers`: `fs`: unknown field "toolTimeout": did you mean `toolTimeoutMs`\?/,
  );
  assert.throws(
    () => new Agent({ model: 'scripted', script: [], mcpServers: { fs: { command: 'node', toolTimeoutMs: 0 } } }),
    /`fs.toolTimeoutMs`: expected an integer >= 1, got 0/,
  );
  assert.throws(
    () => new Agent({ model: 'scripted', script: [], mcpServers: { fs: { url: 'http://127.0.0.1:1/mcp', maxResultBytes: 10 } } }),
    /maxResultBytes|max_result_bytes/,
  );
  // Both accepted when right.
  new Agent({ model: 'scripted', script: [], mcpServers: { fs: { command: 'node', toolTimeoutMs: 1000, maxResultBytes: 4096 } } });
});

test('a model that reuses a tool call id gets each permission request answered on its own', async () => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'harnext-reuse-'));
  const a = new Agent({
    model: 'scripted',
    cwd,
    permissionMode: 'manual',
    persistSession: false,
    script: [
      { toolCalls: [{ id: 'same', name: 'bash', args: { command: 'echo one' } }] },
      { toolCalls: [{ id: 'same', name: 'bash', args: { command: 'echo two' } }] },
      { text: 'done' },
    ],
  });
  const statuses = [];
  for await (const e of a.stream('run twice')) {
    if (e.type === 'permission_request') e.respond('allow');
    if (e.type === 'tool_result') statuses.push(e.status);
    if (e.type === 'run_end') assert.equal(e.result.success, true, JSON.stringify(e.result.error));
  }
  assert.deepEqual(statuses, ['ok', 'ok']);
});

test('a pending onPermissionRequest promise nobody references survives garbage collection until the run is aborted', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const cwd = mkdtempSync(path.join(tmpdir(), 'harnext-gc-'));
  let asked = 0;
  const a = new Agent({
    model: 'scripted',
    cwd,
    permissionMode: 'manual',
    persistSession: false,
    script: [{ toolCalls: [{ id: 'c1', name: 'bash', args: { command: 'echo hi' } }] }, { text: 'done' }],
    // A promise that nothing else references: only the engine waits for it.
    onPermissionRequest: () => {
      asked += 1;
      return new Promise(() => {});
    },
  });
  const ac = new AbortController();
  const events = [];
  const running = (async () => {
    for await (const e of a.stream('go', { signal: ac.signal })) events.push(e);
  })();
  while (asked === 0) await new Promise((r) => setTimeout(r, 10));
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 40));
  }
  assert.equal(events.some((e) => e.type === 'tool_result'), false, 'the call was not decided by garbage collection');
  ac.abort();
  await running;
  const results = events.filter((e) => e.type === 'tool_result');
  assert.deepEqual(results.map((e) => e.status), ['cancelled']);
  assert.equal(events.at(-1).result.stopReason, 'cancelled');
});

test('toolTimeoutMs ends an MCP call that never answers, and a tool with an invalid inputSchema is an mcp_warning event', async () => {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
  const cwd = mkdtempSync(path.join(tmpdir(), 'harnext-mcp-hostile-'));
  const a = new Agent({
    model: 'scripted',
    cwd,
    persistSession: false,
    mcpServers: {
      fake: { command: 'node', args: [path.join(root, '__test__/fixtures/fake-mcp-server.mjs')], toolTimeoutMs: 300 },
      bad: {
        command: 'node',
        args: [path.join(root, 'crates/harnext-mcp/tests/fixtures/hostile-mcp-server.mjs'), 'bad-schema'],
        env: { FAKE_MCP_LOG: path.join(cwd, 'bad.log') },
      },
    },
    script: [{ toolCalls: [{ id: 'w1', name: 'mcp__fake__wait', args: {} }] }, { text: 'done' }],
  });
  try {
    const started = Date.now();
    const events = await collect(a.stream('wait'));
    const result = events.find((e) => e.type === 'tool_result');
    assert.equal(result.status, 'error', result.output);
    assert.ok(Date.now() - started < 10_000, 'the call ended at its timeout');
    const warnings = events.filter((e) => e.type === 'mcp_warning');
    assert.ok(warnings.some((w) => w.server === 'bad' && w.tool === 'string_schema'), JSON.stringify(warnings));
    assert.ok(events.findIndex((e) => e.type === 'mcp_warning') < events.findIndex((e) => e.type === 'tool_call'));
    assert.equal(events.at(-1).result.success, true);
  } finally {
    await a.close();
  }
});
