// OpenTelemetry spans (GenAI semantic conventions) of runs, model calls and tool calls,
// checked with the OpenTelemetry SDK's in-memory exporter.
import { test, before, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { trace, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Agent } from '../index.js';

const workspace = () => mkdtempSync(path.join(tmpdir(), 'harnext-test-'));
const exporter = new InMemorySpanExporter();

const twoTools = () => [
  { text: 'Looking.', toolCalls: [{ id: 'c1', name: 'read_file', args: { path: 'a.txt' } }, { id: 'c2', name: 'glob', args: { pattern: '*.txt' } }], usage: { inputTokens: 11, outputTokens: 3 } },
  { text: 'Found it.', usage: { inputTokens: 22, outputTokens: 4 } },
];

function scriptedAgent(extra = {}) {
  const dir = workspace();
  writeFileSync(path.join(dir, 'a.txt'), 'secret-content\n');
  return new Agent({ model: 'scripted', cwd: dir, persistSession: false, script: twoTools(), ...extra });
}

const parentOf = (s) => s.parentSpanContext?.spanId;

test('without a tracer provider nothing is traced (and nothing breaks)', async () => {
  const r = await scriptedAgent().run('Find it');
  assert.equal(r.success, true);
  assert.equal(exporter.getFinishedSpans().length, 0);
});

test('with one: the span tree of a run with two tools follows the GenAI conventions', async (t) => {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  t.after(() => exporter.reset());
  const events = [];
  for await (const e of scriptedAgent().stream('Find it')) events.push(e);
  const result = events.at(-1).result;
  assert.equal(result.success, true);
  const spans = exporter.getFinishedSpans();
  assert.deepEqual(spans.map((s) => s.name).sort(), ['chat scripted', 'chat scripted', 'execute_tool glob', 'execute_tool read_file', 'invoke_agent harnext']);
  const root = spans.find((s) => s.name === 'invoke_agent harnext');
  assert.equal(parentOf(root), undefined);
  for (const s of spans) {
    if (s !== root) assert.equal(parentOf(s), root.spanContext().spanId, s.name);
    assert.equal(s.spanContext().traceId, root.spanContext().traceId);
  }
  assert.equal(root.attributes['gen_ai.operation.name'], 'invoke_agent');
  assert.equal(root.attributes['gen_ai.request.model'], 'scripted');
  assert.equal(root.attributes['gen_ai.conversation.id'], result.sessionId);
  assert.equal(root.attributes['gen_ai.usage.input_tokens'], 33);
  assert.equal(root.attributes['gen_ai.usage.output_tokens'], 7);
  assert.equal(root.status.code, SpanStatusCode.OK);

  const chats = spans.filter((s) => s.name === 'chat scripted').sort((a, b) => a.attributes['gen_ai.usage.input_tokens'] - b.attributes['gen_ai.usage.input_tokens']);
  assert.deepEqual(chats.map((s) => s.attributes['gen_ai.operation.name']), ['chat', 'chat']);
  assert.deepEqual(chats.map((s) => s.attributes['gen_ai.usage.input_tokens']), [11, 22]);
  assert.deepEqual(chats.map((s) => s.attributes['gen_ai.usage.output_tokens']), [3, 4]);
  assert.deepEqual(chats.map((s) => s.attributes['gen_ai.response.finish_reasons']), [['tool_calls'], ['stop']]);
  const tools = spans.filter((s) => s.name.startsWith('execute_tool'));
  for (const s of tools) {
    assert.equal(s.attributes['gen_ai.operation.name'], 'execute_tool');
    assert.equal(s.attributes['harnext.tool.status'], 'ok');
    assert.equal(s.status.code, SpanStatusCode.OK);
    assert.ok(['c1', 'c2'].includes(s.attributes['gen_ai.tool.call.id']));
  }
  assert.deepEqual(tools.map((s) => s.attributes['gen_ai.tool.name']).sort(), ['glob', 'read_file']);
  // In order: the first model call, then the tools, then the second model call.
  for (const s of spans) assert.ok(hr(s.startTime) >= hr(root.startTime) && hr(s.endTime) <= hr(root.endTime), s.name);
  const last = chats.find((s) => s.attributes['gen_ai.usage.input_tokens'] === 22);
  for (const s of tools) assert.ok(hr(s.endTime) <= hr(last.startTime) + 1e6, 'the second call starts after the tools end');
  // No content unless asked for.
  for (const s of spans) {
    for (const key of Object.keys(s.attributes)) assert.ok(!/messages|arguments|result/.test(key), `${s.name}: ${key}`);
    assert.ok(!JSON.stringify(s.attributes).includes('secret-content'));
  }
});

const hr = (t) => t[0] * 1e9 + t[1];

test('run() is traced too; recordContent adds prompts, replies and tool I/O; a failed tool is an error span', async (t) => {
  t.after(() => exporter.reset());
  const agent = scriptedAgent({
    tracing: { recordContent: true },
    script: [
      { toolCalls: [{ id: 'c1', name: 'read_file', args: { path: 'a.txt' } }, { id: 'c2', name: 'read_file', args: { path: 'missing.txt' } }] },
      { text: 'Done.' },
    ],
  });
  const r = await agent.run('Read both');
  assert.equal(r.success, true);
  const spans = exporter.getFinishedSpans();
  const root = spans.find((s) => s.name === 'invoke_agent harnext');
  assert.match(root.attributes['gen_ai.input.messages'], /Read both/);
  assert.match(root.attributes['gen_ai.output.messages'], /Done\./);
  const ok = spans.find((s) => s.attributes['gen_ai.tool.call.id'] === 'c1');
  assert.match(ok.attributes['gen_ai.tool.call.arguments'], /a\.txt/);
  assert.match(ok.attributes['gen_ai.tool.call.result'], /secret-content/);
  const failed = spans.find((s) => s.attributes['gen_ai.tool.call.id'] === 'c2');
  assert.equal(failed.status.code, SpanStatusCode.ERROR);
  assert.equal(failed.attributes['harnext.tool.status'], 'error');
});

test('tracing: false turns it off; a subagent is an invoke_agent span under its task call; the option is checked', async (t) => {
  t.after(() => exporter.reset());
  assert.equal((await scriptedAgent({ tracing: false }).run('x')).success, true);
  assert.equal(exporter.getFinishedSpans().length, 0);
  const agent = scriptedAgent({
    agents: { finder: { description: 'd', systemPrompt: 'p', tools: ['read_file'] } },
    script: [{ toolCalls: [{ id: 't1', name: 'task', args: { agent: 'finder', prompt: 'Find' } }] }, { toolCalls: [{ id: 'n1', name: 'read_file', args: { path: 'a.txt' } }] }, { text: 'It is there.' }, { text: 'Done.' }],
  });
  assert.equal((await agent.run('Delegate')).success, true);
  const spans = exporter.getFinishedSpans();
  const task = spans.find((s) => s.name === 'execute_tool task');
  const sub = spans.find((s) => s.name === 'invoke_agent finder');
  assert.equal(parentOf(sub), task.spanContext().spanId);
  const nested = spans.find((s) => s.attributes['gen_ai.tool.call.id'] === 'n1');
  assert.equal(parentOf(nested), sub.spanContext().spanId);
  assert.equal(spans.filter((s) => s.name === 'chat scripted' && parentOf(s) === sub.spanContext().spanId).length, 2);
  assert.throws(() => new Agent({ model: 'scripted', tracing: { recordContents: true } }), /invalid option `tracing`: unknown field "recordContents"/);
  // A provider of its own, rather than the global one.
  const own = new InMemorySpanExporter();
  const ownProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(own)] });
  const before = exporter.getFinishedSpans().length;
  assert.equal((await scriptedAgent({ tracing: { tracerProvider: ownProvider } }).run('x')).success, true);
  assert.equal(own.getFinishedSpans().length, 5);
  assert.equal(exporter.getFinishedSpans().length, before);
  assert.throws(() => new Agent({ model: 'scripted', tracng: true }), /did you mean `tracing`\?/);
});
