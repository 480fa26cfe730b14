import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { Agent, jsonSchema } from '../index.js';
import { startMock } from './helpers/mock.mjs';

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock.close(); });

const cwd = mkdtempSync(path.join(tmpdir(), 'harnext-test-'));
const Review = z.object({
  risk: z.enum(['low', 'medium', 'high']),
  summary: z.string().min(1),
  files: z.array(z.string()).optional(),
});
const anthropic = () => new Agent({ model: 'anthropic/claude-test', baseURL: mock.url, apiKey: 'k', cwd });

test('tool steps, then a valid structured answer: result.output is the parsed value', async () => {
  await mock.push(
    { turn: { toolCalls: [{ name: 'bash', args: { command: 'echo "+ added line"' } }] } },
    { turn: { text: 'Reviewed.', toolCalls: [{ name: 'final_answer', args: { risk: 'low', summary: 'One added line.' } }] } },
  );
  const result = await anthropic().run('Review the diff', { outputSchema: Review });
  assert.equal(result.success, true);
  assert.deepEqual(result.output, { risk: 'low', summary: 'One added line.' });
  assert.deepEqual(result.steps.map((s) => s.tool), ['bash'], 'the schema constrained only the answer');
  const first = (await mock.requests()).at(-2).body;
  const finalTool = first.tools.find((t) => t.name === 'final_answer');
  assert.deepEqual(finalTool.input_schema.required.sort(), ['risk', 'summary']);
});

test('an invalid answer is repaired on the next try: Zod rules beyond JSON Schema are checked in JS', async () => {
  const Strict = Review.refine((r) => r.risk !== 'high' || (r.files ?? []).length > 0, { message: 'high risk needs the files', path: ['files'] });
  await mock.push(
    { turn: { toolCalls: [{ name: 'final_answer', args: { risk: 'high', summary: 'Drops a table.' } }] } },
    { turn: { toolCalls: [{ name: 'final_answer', args: { risk: 'high', summary: 'Drops a table.', files: ['db.sql'] } }] } },
  );
  const result = await anthropic().run('Review', { outputSchema: Strict });
  assert.equal(result.success, true);
  assert.deepEqual(result.output.files, ['db.sql']);
  const retry = (await mock.requests()).at(-1).body.messages;
  const feedback = retry.at(-1).content[0];
  assert.equal(feedback.is_error, true);
  assert.match(feedback.content, /files: high risk needs the files/);
});

test('an always-invalid model ends in output_invalid with the issues, never success without output', async () => {
  await mock.push({ turn: { toolCalls: [{ name: 'final_answer', args: { risk: 'unknown' } }] }, times: 2 });
  const events = [];
  for await (const e of anthropic().stream('Review', { outputSchema: Review, maxOutputRetries: 1 })) events.push(e);
  const result = events.at(-1).result;
  assert.equal(result.success, false);
  assert.equal(result.output, undefined);
  assert.equal(result.error.code, 'output_invalid');
  assert.match(result.error.message, /2 attempt\(s\)/);
  assert.match(result.error.message, /risk/);
  assert.deepEqual(events.at(-2).error, result.error);
});

test('the scripted model answers with JSON text, repaired when invalid; jsonSchema() validates in Rust', async () => {
  const agent = new Agent({
    model: 'scripted', cwd,
    script: [{ text: '{"n": "three"}' }, { text: 'Sure: {"n": 3}' }],
  });
  const result = await agent.run('count', { outputSchema: jsonSchema({ type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] }) });
  assert.equal(result.success, true);
  assert.deepEqual(result.output, { n: 3 });
});

test('an output schema that cannot become JSON Schema is misuse: run() rejects, stream() throws', async () => {
  const noJson = { '~standard': { version: 1, vendor: 'custom', validate: (v) => ({ value: v }) } };
  const agent = new Agent({ model: 'scripted', cwd, script: [] });
  await assert.rejects(agent.run('x', { outputSchema: noJson }), /outputSchema.*cannot produce JSON Schema/);
  await assert.rejects(agent.run('x', { outputSchema: { type: 'object' } }), /outputSchema/);
  await assert.rejects(agent.run('x', { outputSchema: jsonSchema({ type: 7 }) }), /outputSchema/);
  await assert.rejects(async () => {
    for await (const e of agent.stream('x', { outputSchema: noJson })) void e;
  }, /outputSchema/);
});

for (const [prefix, path_, formatOf] of [
  ['openai', '/v1/responses', (body) => body.text.format],
  ['openai-chat', '/v1/chat/completions', (body) => body.response_format.json_schema],
]) {
  const agent = () => new Agent({ model: `${prefix}/gpt-test`, baseURL: `${mock.url}/v1`, apiKey: 'k', cwd });

  test(`${prefix}: tool steps, then a valid JSON answer in the native strict format`, async () => {
    await mock.push(
      { turn: { toolCalls: [{ name: 'read_file', args: { path: 'nothing.txt' } }] } },
      { turn: { text: '{"risk": "medium", "summary": "Touches the schema.", "files": null}' } },
    );
    const result = await agent().run('Review', { outputSchema: Review });
    assert.equal(result.success, true, JSON.stringify(result.error));
    assert.deepEqual(result.output, { risk: 'medium', summary: 'Touches the schema.' }, 'the strict-mode null for an optional field is dropped');
    const [first, second] = (await mock.requests()).slice(-2);
    assert.equal(first.path, path_);
    const format = formatOf(first.body);
    assert.equal(format.strict, true);
    assert.deepEqual(format.schema.required.sort(), ['files', 'risk', 'summary']);
    assert.equal(format.schema.additionalProperties, false);
    assert.deepEqual(format.schema.properties.files.type, ['array', 'null']);
    assert.ok(formatOf(second.body), 'every call carries the format; tool calls stay free');
  });

  test(`${prefix}: an invalid answer is repaired, an always-invalid one ends in output_invalid`, async () => {
    await mock.push({ turn: { text: '{"risk": "none"}' } }, { turn: { text: '{"risk": "low", "summary": "ok"}' } });
    const repaired = await agent().run('Review', { outputSchema: Review });
    assert.equal(repaired.success, true);
    assert.equal(repaired.output.risk, 'low');
    const retry = (await mock.requests()).at(-1).body;
    assert.match(JSON.stringify(retry), /does not match the required JSON Schema/);
    await mock.push({ turn: { text: 'not json at all' }, times: 3 });
    const failed = await agent().run('Review', { outputSchema: Review });
    assert.equal(failed.success, false);
    assert.equal(failed.error.code, 'output_invalid');
    assert.equal(failed.output, undefined);
  });
}
