// Subagents (the `agents` option, the `task` tool) through the Node API, on the scripted model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent } from '../index.js';

const workspace = () => mkdtempSync(path.join(tmpdir(), 'harnext-test-'));
const agents = {
  finder: { description: 'Finds things', systemPrompt: 'You find things.', tools: ['read_file', 'grep'] },
  counter: { description: 'Counts things', systemPrompt: 'You count things.', tools: ['read_file'], maxSteps: 2 },
};
const twoTasks = {
  toolCalls: [
    { id: 't1', name: 'task', args: { agent: 'finder', prompt: 'Find the answer' } },
    { id: 't2', name: 'task', args: { agent: 'counter', prompt: 'Count' } },
  ],
  usage: { inputTokens: 10, outputTokens: 1 },
};

test('a parent delegates two concurrent tasks: nested events, rolled-up usage, transcripts in loadSession', async () => {
  const dir = workspace();
  const sessionDir = workspace();
  writeFileSync(path.join(dir, 'a.txt'), 'forty-two\n');
  const agent = new Agent({
    model: 'scripted',
    cwd: dir,
    sessionDir,
    agents,
    script: [
      twoTasks,
      // The subagents' turns (the scripted model is shared: first come, first served).
      { text: 'Looking.', toolCalls: [{ name: 'read_file', args: { path: 'a.txt' } }], usage: { inputTokens: 100, outputTokens: 5 }, delayMs: 30 },
      { text: 'ANSWER-ONE', usage: { inputTokens: 200, outputTokens: 6 }, delayMs: 60 },
      { text: 'ANSWER-TWO', usage: { inputTokens: 300, outputTokens: 7 } },
      { text: 'Done with both.', usage: { inputTokens: 20, outputTokens: 2 } },
    ],
  });
  const events = [];
  for await (const e of agent.stream('Delegate')) events.push(e);
  const result = events.at(-1).result;
  assert.equal(result.success, true, JSON.stringify(result));
  assert.equal(result.text, 'Done with both.');
  assert.deepEqual(result.steps.map((s) => [s.id, s.tool, s.status]), [['t1', 'task', 'ok'], ['t2', 'task', 'ok']]);
  assert.deepEqual(new Set(result.steps.map((s) => s.output)), new Set(['ANSWER-ONE', 'ANSWER-TWO']));
  assert.equal(result.usage.inputTokens, 10 + 100 + 200 + 300 + 20);
  assert.equal(result.usage.outputTokens, 1 + 5 + 6 + 7 + 2);

  const nested = events.filter((e) => e.type === 'subagent');
  assert.deepEqual(new Set(nested.map((e) => `${e.agent}/${e.callId}`)), new Set(['finder/t1', 'counter/t2']));
  for (const id of ['t1', 't2']) {
    const own = nested.filter((e) => e.callId === id).map((e) => e.event);
    assert.equal(own[0].type, 'run_start');
    assert.equal(own.at(-1).type, 'run_end');
    assert.equal(own.at(-1).result.success, true);
  }
  assert.ok(nested.some((e) => e.event.type === 'tool_call' && e.event.tool === 'read_file'));
  const firstEnd = nested.findIndex((e) => e.event.type === 'run_end');
  assert.equal(nested.slice(0, firstEnd).filter((e) => e.event.type === 'run_start').length, 2, 'both subagents run at once');
  assert.equal(events.filter((e) => e.type === 'run_end').length, 1, 'the subagents\' run_end events stay wrapped');

  const data = await Agent.loadSession(result.sessionId, { sessionDir });
  assert.deepEqual(data.subagents.map((t) => `${t.agent}/${t.callId}`).sort(), ['counter/t2', 'finder/t1']);
  for (const t of data.subagents) {
    assert.equal(t.stopReason, 'end_turn');
    assert.equal(t.messages[0].role, 'user');
    assert.ok(t.usage.inputTokens > 0);
  }
  assert.equal(data.usage.inputTokens, result.usage.inputTokens);
  assert.equal((await Agent.listSessions({ sessionDir })).length, 1, 'subagents make no sessions of their own');
});

test('aborting the parent stops both subagents', async () => {
  const slow = { text: 'one two three four five six seven eight', delayMs: 1000 };
  const agent = new Agent({ model: 'scripted', cwd: workspace(), persistSession: false, agents, script: [twoTasks, slow, slow, { text: 'never' }] });
  const ac = new AbortController();
  const events = [];
  for await (const e of agent.stream('Delegate', { signal: ac.signal })) {
    events.push(e);
    if (e.type === 'subagent' && e.event.type === 'run_start' && events.filter((x) => x.type === 'subagent' && x.event.type === 'run_start').length === 2) {
      setTimeout(() => ac.abort(), 50);
    }
  }
  const result = events.at(-1).result;
  assert.equal(result.cancelled, true);
  assert.deepEqual(result.steps.map((s) => s.status), ['cancelled', 'cancelled']);
  const ends = events.filter((e) => e.type === 'subagent' && e.event.type === 'run_end');
  assert.equal(ends.length, 2);
  assert.ok(ends.every((e) => e.event.result.cancelled));
});

test('agents: unknown names and typos are refused with a did-you-mean', async () => {
  assert.throws(() => new Agent({ model: 'scripted', agent: agents }), /unknown option "agent" of an agent: did you mean `agents`\?/);
  assert.throws(
    () => new Agent({ model: 'scripted', script: [], agents: { a: { description: 'd', sytemPrompt: 'p', tools: [] } } }),
    /invalid option `agents`: `a`: unknown field "sytemPrompt": did you mean `systemPrompt`\?/,
  );
  assert.throws(
    () => new Agent({ model: 'scripted', script: [], agents: { a: { description: 'd', systemPrompt: 'p', tools: ['grepp'] } } }),
    /invalid option `agents`: `a`: unknown tool "grepp" in `tools`: did you mean `grep`\?/,
  );
  assert.throws(
    () => new Agent({ model: 'scripted', script: [], agents: { a: { description: 'd', systemPrompt: 'p', tools: [], maxSteps: 0 } } }),
    /invalid option `agents`: `a`: `maxSteps` must be an integer >= 1/,
  );
  const agent = new Agent({
    model: 'scripted', cwd: workspace(), persistSession: false, agents,
    script: [{ toolCalls: [{ id: 'u', name: 'task', args: { agent: 'fnder', prompt: 'x' } }] }, { text: 'ok' }],
  });
  const r = await agent.run('go');
  assert.equal(r.steps[0].status, 'error');
  assert.match(r.steps[0].output, /Unknown agent `fnder`: did you mean `finder`\?/);
});
