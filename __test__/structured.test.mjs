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
