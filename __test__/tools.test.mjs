import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { Agent, tool, jsonSchema, builtinTools } from '../index.js';
import { startMock } from './helpers/mock.mjs';
import { assertPrompt } from './helpers/prompt.mjs';

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock.close(); });

const cwd = mkdtempSync(path.join(tmpdir(), 'harnext-test-'));

const calls = [];
const weather = tool({
  name: 'get_weather',
  description: 'Current weather for a city',
  inputSchema: z.object({ city: z.string(), unit: z.enum(['c', 'f']).default('c') }),
  readOnly: true,
  execute: async (args, { toolCallId, signal }) => {
    calls.push({ args, toolCallId, aborted: signal.aborted });
    return `Sunny in ${args.city}, 21°${args.unit.toUpperCase()}`;
  },
});

function scripted(tools, script, extra = {}) {
  return new Agent({ model: 'scripted', cwd, tools, script, ...extra });
}

test('a Zod tool gets validated, typed arguments and its return value is the output', async () => {
  calls.length = 0;
  const agent = scripted([...builtinTools, weather], [
    { toolCalls: [{ id: 'w1', name: 'get_weather', args: { city: 'Oslo' } }] },
    { text: 'It is sunny.' },
  ]);
  const result = await agent.run('weather?');
  assert.equal(result.success, true);
  assert.deepEqual(result.steps.map((s) => [s.id, s.tool, s.status, s.output]), [['w1', 'get_weather', 'ok', 'Sunny in Oslo, 21°C']]);
  assert.deepEqual(calls, [{ args: { city: 'Oslo', unit: 'c' }, toolCallId: 'w1', aborted: false }], 'Zod defaults applied before execute');
});

test('invalid arguments never reach execute: Zod issues and JSON Schema issues become error results', async () => {
  calls.length = 0;
  const strict = tool({
    name: 'count',
    description: 'Counts',
    inputSchema: jsonSchema({ type: 'object', properties: { n: { type: 'integer', minimum: 1 } }, required: ['n'], additionalProperties: false }),
    execute: () => { throw new Error('must not run'); },
  });
  const agent = scripted([weather, strict], [
    { toolCalls: [{ name: 'get_weather', args: { city: 42 } }, { name: 'count', args: { n: 0, extra: true } }] },
    { text: 'ok' },
  ]);
  const result = await agent.run('bad args');
  assert.equal(calls.length, 0);
  const [w, c] = result.steps;
  assert.equal(w.status, 'error');
  assert.match(w.output, /city/);
  assert.equal(c.status, 'error');
  assert.match(c.output, /invalid arguments/);
  assert.match(c.output, /\/n/);
  assert.match(c.output, /extra/);
});

test('a throw (sync, async, or not an Error) becomes status error with its message; JSON results are serialised', async () => {
  const boom = tool({ name: 'boom', description: 'fails', inputSchema: jsonSchema({ type: 'object' }), execute: () => { throw new Error('sync boom'); } });
  const reject = tool({ name: 'reject', description: 'fails', inputSchema: jsonSchema({ type: 'object' }), execute: async () => { throw new TypeError('async boom'); } });
  const weird = tool({ name: 'weird', description: 'fails', inputSchema: jsonSchema({ type: 'object' }), execute: async () => { throw 'plain string'; } });
  const json = tool({ name: 'json', description: 'data', inputSchema: jsonSchema({ type: 'object' }), execute: () => ({ ok: true, items: [1, 2] }) });
  const bigint = tool({ name: 'bigint', description: 'not JSON', inputSchema: jsonSchema({ type: 'object' }), execute: () => ({ n: 1n }) });
  const agent = scripted([boom, reject, weird, json, bigint], [
    { toolCalls: ['boom', 'reject', 'weird', 'json', 'bigint'].map((name) => ({ name, args: {} })) },
    { text: 'done' },
  ]);
  const result = await agent.run('go');
  assert.equal(result.success, true);
  const byTool = Object.fromEntries(result.steps.map((s) => [s.tool, s]));
  assert.equal(byTool.boom.status, 'error');
  assert.match(byTool.boom.output, /sync boom/);
  assert.match(byTool.reject.output, /async boom/);
  assert.equal(byTool.weird.status, 'error');
  assert.match(byTool.weird.output, /plain string/);
  assert.equal(byTool.json.status, 'ok');
  assert.deepEqual(JSON.parse(byTool.json.output), { ok: true, items: [1, 2] });
  assert.equal(byTool.bigint.status, 'error');
});

test('a tool that never settles is cancelled with the run, and its signal aborts', async () => {
  let seen;
  const hang = tool({
    name: 'hang',
    description: 'never returns',
    inputSchema: jsonSchema({ type: 'object' }),
    execute: (_args, { signal }) => {
      seen = signal;
      return new Promise(() => {});
    },
  });
  const agent = scripted([hang], [{ toolCalls: [{ name: 'hang', args: {} }] }]);
  const ac = new AbortController();
  const events = [];
  let t0;
  for await (const e of agent.stream('hang', { signal: ac.signal })) {
    events.push(e);
    if (e.type === 'tool_call') setTimeout(() => { t0 = performance.now(); ac.abort(); }, 20);
  }
  assertPrompt(performance.now() - t0, 'run_end');
  assert.equal(events.find((e) => e.type === 'tool_result').status, 'cancelled');
  assert.equal(events.at(-1).result.cancelled, true);
  for (let i = 0; i < 20 && !seen.aborted; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(seen.aborted, true, 'execute saw its signal abort');
});

test('custom tools are offered to the provider with their JSON Schema', async () => {
  await mock.push({ turn: { toolCalls: [{ name: 'get_weather', args: { city: 'Lima', unit: 'f' } }] } }, { turn: { text: 'Warm.' } });
  const agent = new Agent({ model: 'anthropic/claude-test', baseURL: mock.url, apiKey: 'k', cwd, tools: ['read_file', weather] });
  const result = await agent.run('weather in Lima');
  assert.equal(result.steps[0].output, 'Sunny in Lima, 21°F');
  const [first, second] = (await mock.requests()).slice(-2);
  assert.deepEqual(first.body.tools.map((t) => t.name), ['read_file', 'get_weather']);
  const schema = first.body.tools[1].input_schema;
  assert.equal(schema.type, 'object');
  assert.deepEqual(schema.required, ['city']);
  assert.equal(second.body.messages[2].content[0].content, 'Sunny in Lima, 21°F');
});

test('tool() and the tools option reject bad definitions with clear errors', () => {
  assert.throws(() => tool({ name: 'bad name', description: '', inputSchema: jsonSchema({ type: 'object' }), execute() {} }), /name must be/);
  assert.throws(() => tool({ name: 'x', description: 'd', inputSchema: { type: 'object' }, execute() {} }), /Standard Schema .* or jsonSchema/);
  assert.throws(() => tool({ name: 'x', description: 'd', inputSchema: z.string(), execute() {} }), /must describe an object/);
  assert.throws(() => tool({ name: 'x', description: 'd', inputSchema: jsonSchema({ type: 'object' }) }), /execute must be a function/);
  const dup = tool({ name: 'bash', description: 'd', inputSchema: jsonSchema({ type: 'object' }), execute() {} });
  assert.throws(() => new Agent({ model: 'scripted', script: [], cwd, tools: [dup] }), /`tools`.*"bash"/);
  assert.throws(() => new Agent({ model: 'scripted', script: [], cwd, tools: [weather, weather] }), /`tools`.*twice/);
});

test('builtinTools, the BuiltinToolName type and the tools an agent offers by default agree', async () => {
  const dts = (await import('node:fs')).readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8');
  const union = dts.match(/export type BuiltinToolName = (.+)/)[1].match(/'([a-z_]+)'/g).map((s) => s.slice(1, -1));
  assert.deepEqual(union, [...builtinTools]);
  await mock.push({ turn: { text: 'hi' } });
  await new Agent({ model: 'anthropic/claude-test', baseURL: mock.url, apiKey: 'k', cwd }).run('hi');
  const offered = (await mock.requests()).at(-1).body.tools.map((t) => t.name);
  // `bash` comes with the tools of its background commands.
  assert.deepEqual(offered, [...builtinTools].flatMap((n) => (n === 'bash' ? ['bash', 'bash_output', 'bash_kill'] : [n])));
});
