// Sessions from JavaScript: a run killed with SIGKILL resumes from its file, an aborted
// run resumes on every provider, concurrent runs keep their sessions apart, a long
// conversation compacts and goes on, and listSessions / loadSession / forkSession.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from '../index.js';
import { startMock } from './helpers/mock.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock.close(); });

const tmp = (prefix) => mkdtempSync(path.join(tmpdir(), prefix));
const workspace = () => tmp('harnext-test-');
const sessionsDir = () => tmp('harnext-sessions-');

/** The JSON records of a session file; a torn line is skipped. */
function records(file) {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').flatMap((l) => {
    try { return l ? [JSON.parse(l)] : []; } catch { return []; }
  });
}

async function waitFor(what, ok, ms = 10_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Every tool_use of an Anthropic request has its tool_result in the next message. */
function assertPairedAnthropic(messages) {
  messages.forEach((m, i) => {
    for (const b of m.content.filter((b) => b.type === 'tool_use')) {
      const next = messages[i + 1];
      assert.ok(next && next.content.some((r) => r.type === 'tool_result' && r.tool_use_id === b.id), `tool_use ${b.id} has no result`);
    }
  });
}

/** The tool calls and results of a request, for the three wire formats. */
function callsAndResults(model, body) {
  if (model.startsWith('anthropic/')) {
    assertPairedAnthropic(body.messages);
    const blocks = body.messages.flatMap((m) => m.content);
    return {
      calls: blocks.filter((b) => b.type === 'tool_use').map((b) => b.id),
      results: blocks.filter((b) => b.type === 'tool_result').map((b) => ({ id: b.tool_use_id, output: b.content })),
    };
  }
  if (model.startsWith('openai/')) {
    return {
      calls: body.input.filter((i) => i.type === 'function_call').map((i) => i.call_id),
      results: body.input.filter((i) => i.type === 'function_call_output').map((i) => ({ id: i.call_id, output: i.output })),
    };
  }
  const msgs = body.messages;
  msgs.forEach((m, i) => {
    // Chat Completions: an assistant message's tool_calls are answered by the tool messages right after it.
    for (const c of m.tool_calls ?? []) {
      const answered = msgs.slice(i + 1).findIndex((n) => n.role !== 'tool');
      const tools = msgs.slice(i + 1, answered === -1 ? undefined : i + 1 + answered);
      assert.ok(tools.some((t) => t.tool_call_id === c.id), `tool call ${c.id} has no tool message right after it`);
    }
  });
  return {
    calls: msgs.flatMap((m) => (m.tool_calls ?? []).map((c) => c.id)),
    results: msgs.filter((m) => m.role === 'tool').map((m) => ({ id: m.tool_call_id, output: m.content })),
  };
}

test('a run killed with SIGKILL mid-step resumes from its file with a valid, complete history', async () => {
  const cwd = workspace();
  const sessionDir = sessionsDir();
  await mock.push(
    { turn: { text: 'Writing notes.', toolCalls: [{ name: 'write_file', args: { path: 'notes.txt', content: 'alpha\n' } }] } },
    { turn: { text: 'Now waiting.', toolCalls: [{ name: 'bash', args: { command: 'echo $$ > sleeper.pid; exec sleep 20' } }] } },
  );
  const child = spawn(process.execPath, [path.join(here, 'fixtures', 'crash-run.mjs'), mock.url, cwd, sessionDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal)));
  const first = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', (l) => { rl.close(); resolve(l); });
    child.once('exit', () => reject(new Error('the child exited before its run started')));
  });
  const { sessionId } = JSON.parse(first);
  const file = path.join(sessionDir, `${sessionId}.jsonl`);
  const pidFile = path.join(cwd, 'sleeper.pid');

  // The first step is on disk, and the second has started (its command runs).
  await waitFor('the second step', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '');
  const mid = records(file);
  const messages = mid.filter((r) => r.type === 'message').map((r) => r.message);
  assert.deepEqual(messages.map((m) => m.role), ['user', 'assistant', 'user', 'assistant']);
  assert.equal(messages[2].content[0].type, 'tool_result');
  assert.equal(messages[3].content.at(-1).name, 'bash');
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  // The sleep was in its own process group and outlived the killed process.
  const sleeper = Number(readFileSync(pidFile, 'utf8').trim());
  try { process.kill(-sleeper, 'SIGKILL'); } catch {}
  assert.ok(!records(file).some((r) => r.type === 'run_end'), 'the run never ended');

  // Resume in this process, with an agent that never saw the session.
  const listed = await Agent.listSessions({ sessionDir });
  assert.deepEqual(listed.map((s) => s.id), [sessionId]);
  const loaded = await Agent.loadSession(sessionId, { sessionDir });
  assert.equal(loaded.messages.at(-1).content[0].type, 'tool_result');
  assert.equal(loaded.messages.at(-1).content[0].status, 'cancelled');
  await mock.push({ turn: { text: 'Recovered.' } });
  const agent = new Agent({ model: 'anthropic/claude-test', baseURL: mock.url, apiKey: 'sk-test-key', cwd, sessionDir });
  const result = await agent.run('go on', { sessionId });
  assert.equal(result.success, true, JSON.stringify(result.error));
  assert.equal(result.text, 'Recovered.');
  const body = (await mock.requests()).at(-1).body;
  assert.deepEqual(body.messages.map((m) => m.role), ['user', 'assistant', 'user', 'assistant', 'user']);
  assertPairedAnthropic(body.messages);
  const [writeResult] = body.messages[2].content;
  assert.equal(writeResult.is_error, false);
  const [repaired, input] = body.messages[4].content;
  assert.equal(repaired.type, 'tool_result');
  assert.equal(repaired.is_error, true);
  assert.match(repaired.content, /^Cancelled/);
  assert.deepEqual(input, { type: 'text', text: 'go on', cache_control: { type: 'ephemeral' } });
  const after = await Agent.loadSession(sessionId, { sessionDir });
  assert.equal(after.runs, 2);
  assert.deepEqual(after.steps.map((s) => [s.tool, s.status]), [['write_file', 'ok'], ['bash', 'cancelled']]);
});

for (const model of ['anthropic/claude-test', 'openai/gpt-test', 'openai-chat/llama-test']) {
  test(`a session aborted mid-tool resumes in a new agent on ${model}`, async () => {
    const cwd = workspace();
    const sessionDir = sessionsDir();
    const make = () => new Agent({ model, baseURL: mock.url, apiKey: 'sk-test-key', cwd, sessionDir });
    await mock.push({ turn: { text: 'Sleeping.', toolCalls: [{ name: 'bash', args: { command: 'echo $$ > pid; exec sleep 30' } }] } });
    const ac = new AbortController();
    let sessionId;
    for await (const e of make().stream('sleep a while', { signal: ac.signal })) {
      if (e.type === 'run_start') sessionId = e.sessionId;
      if (e.type === 'tool_call') {
        await waitFor('the command', () => existsSync(path.join(cwd, 'pid')));
        ac.abort();
      }
      if (e.type === 'run_end') assert.equal(e.result.cancelled, true);
    }
    await mock.push({ turn: { text: 'Resumed after the abort.' } });
    const result = await make().run('try again', { sessionId });
    assert.equal(result.success, true, JSON.stringify(result.error));
    assert.equal(result.text, 'Resumed after the abort.');
    const { calls, results } = callsAndResults(model, (await mock.requests()).at(-1).body);
    assert.equal(calls.length, 1);
    assert.deepEqual(results.map((r) => r.id), calls);
    assert.match(String(results[0].output), /Cancelled/);
  });
}

test('20 concurrent runs in one process keep their sessions apart', async () => {
  const cwd = workspace();
  const sessionDir = sessionsDir();
  const runs = Array.from({ length: 20 }, (_, i) => {
    const agent = new Agent({
      model: 'scripted',
      cwd,
      sessionDir,
      script: [
        { text: `Working on job ${i} now.`, toolCalls: [{ id: `c${i}`, name: 'bash', args: { command: `echo job-${i}-out` } }], delayMs: 3 },
        { text: `Finished job ${i}.`, delayMs: 3 },
      ],
    });
    return agent.run(`job-${i}-task`);
  });
  const results = await Promise.all(runs);
  assert.equal(new Set(results.map((r) => r.sessionId)).size, 20);
  results.forEach((r, i) => {
    assert.equal(r.success, true, JSON.stringify(r.error));
    assert.equal(r.text, `Finished job ${i}.`);
    const text = readFileSync(path.join(sessionDir, `${r.sessionId}.jsonl`), 'utf8');
    const jobs = new Set([...text.matchAll(/job[- ](\d+)/g)].map((m) => Number(m[1])));
    assert.deepEqual([...jobs], [i], `session of job ${i} mentions jobs ${[...jobs]}`);
    const messages = records(path.join(sessionDir, `${r.sessionId}.jsonl`)).filter((x) => x.type === 'message');
    assert.equal(messages.length, 4);
    assert.equal(messages[2].message.content[0].content, `job-${i}-out\nexit code: 0`);
  });
  assert.equal(readdirSync(sessionDir).length, 20);
  assert.equal((await Agent.listSessions({ sessionDir })).length, 20);
});

test('a conversation driven past a small context window compacts and goes on', async () => {
  const cwd = workspace();
  const sessionDir = sessionsDir();
  const big = { name: 'bash', args: { command: "head -c 3000 /dev/zero | tr '\\0' a" } };
  const agent = new Agent({
    model: 'scripted',
    cwd,
    sessionDir,
    contextWindow: 2000,
    systemPrompt: 'You are a test agent.',
    tools: ['bash'],
    script: [
      { text: 'Reading the first file.', toolCalls: [big], usage: { inputTokens: 300 } },
      { text: 'Reading the second file.', toolCalls: [big], usage: { inputTokens: 1100 } },
      { text: 'SUMMARY: two files of a, read with head.', usage: { inputTokens: 900, outputTokens: 20 } },
      { text: 'Both files hold only a.' },
    ],
  });
  const events = [];
  for await (const e of agent.stream('read the two files')) events.push(e);
  const result = events.at(-1).result;
  assert.equal(result.success, true, JSON.stringify(result.error));
  assert.equal(result.text, 'Both files hold only a.');
  const compaction = events.find((e) => e.type === 'compaction');
  assert.ok(compaction, 'a compaction event');
  assert.equal(compaction.summarized, 3);
  assert.equal(compaction.trimmed, 0);
  assert.ok(compaction.beforeTokens > 1600 && compaction.afterTokens < compaction.beforeTokens, JSON.stringify(compaction));
  // The summary is not the reply: no text event carries it.
  assert.ok(!events.some((e) => e.type === 'text' && e.text.includes('SUMMARY')));
  assert.equal(result.usage.outputTokens, 20);

  const data = await Agent.loadSession(result.sessionId, { sessionDir });
  assert.equal(data.compactions, 1);
  assert.match(data.messages[0].content[0].text, /compacted[\s\S]*SUMMARY: two files of a/);
  assert.deepEqual(data.messages.map((m) => m.role), ['user', 'assistant', 'user', 'assistant']);
  assert.equal(data.steps.length, 2);
});

test('listSessions, loadSession and forkSession from JavaScript', async () => {
  const cwd = workspace();
  const sessionDir = sessionsDir();
  const agent = new Agent({
    model: 'scripted',
    cwd,
    sessionDir,
    script: [
      { text: 'Writing.', toolCalls: [{ id: 'w1', name: 'write_file', args: { path: 'a.txt', content: 'A\n' } }], usage: { inputTokens: 10, outputTokens: 4 } },
      { text: 'Wrote a.txt.', usage: { inputTokens: 20, outputTokens: 3 } },
      { text: 'Second session.' },
    ],
  });
  const first = await agent.run('write a.txt please');
  await sleep(15);
  const second = await agent.run('something else');

  const list = await Agent.listSessions({ sessionDir });
  assert.deepEqual(list.map((s) => s.id), [second.sessionId, first.sessionId]);
  assert.equal(list[1].title, 'write a.txt please');
  assert.equal(list[1].model, 'scripted');
  assert.equal(list[1].cwd, agent.cwd);
  assert.equal(typeof list[1].createdAt, 'number');
  assert.ok(list[1].createdAt <= list[1].updatedAt && list[1].updatedAt <= Date.now());

  const data = await Agent.loadSession(first.sessionId, { sessionDir });
  assert.equal(data.id, first.sessionId);
  assert.deepEqual(data.messages.map((m) => m.role), ['user', 'assistant', 'user', 'assistant']);
  assert.deepEqual(data.messages[1].content, [
    { type: 'text', text: 'Writing.' },
    { type: 'tool_use', id: 'w1', name: 'write_file', input: { path: 'a.txt', content: 'A\n' } },
  ]);
  assert.equal(data.messages[2].content[0].type, 'tool_result');
  assert.equal(data.messages[2].content[0].toolUseId, 'w1');
  assert.equal(data.messages[2].content[0].status, 'ok');
  assert.deepEqual(data.steps.map((s) => [s.id, s.tool, s.status]), [['w1', 'write_file', 'ok']]);
  assert.equal(data.steps[0].durationMs, first.steps[0].durationMs);
  assert.deepEqual(data.usage, first.usage);
  assert.deepEqual(data.filesChanged, ['a.txt']);
  assert.equal(data.runs, 1);

  const forkId = await Agent.forkSession(first.sessionId, { atMessage: 2, sessionDir });
  assert.match(forkId, /^sess_[0-9a-z]{12}$/);
  const fork = await Agent.loadSession(forkId, { sessionDir });
  assert.deepEqual(fork.forkedFrom, { id: first.sessionId, atMessage: 2 });
  assert.deepEqual(fork.messages.slice(0, 2), data.messages.slice(0, 2));
  assert.equal(fork.messages[2].content[0].status, 'cancelled');
  assert.equal((await Agent.loadSession(first.sessionId, { sessionDir })).messages.length, 4, 'the original is untouched');
  const copy = await Agent.forkSession(first.sessionId, { sessionDir });
  assert.deepEqual((await Agent.loadSession(copy, { sessionDir })).messages, data.messages);

  await assert.rejects(Agent.loadSession('sess_nope', { sessionDir }), /unknown session `sess_nope`/);
  await assert.rejects(Agent.forkSession(first.sessionId, { atMessage: 9, sessionDir }), /has 4 messages/);
  await assert.rejects(Agent.forkSession(first.sessionId, { atMessage: 1.5, sessionDir }), /atMessage/);
  await assert.rejects(agent.run('x', { sessionId: 'sess_nope' }), /unknown session `sess_nope`/);
  assert.deepEqual(await Agent.listSessions({ sessionDir: path.join(sessionDir, 'missing') }), []);
});

test('persistSession: false writes nothing; bad session options throw at construction', async () => {
  const cwd = workspace();
  const sessionDir = path.join(sessionsDir(), 'unused');
  const agent = new Agent({ model: 'scripted', cwd, sessionDir, persistSession: false, script: [{ text: 'One.' }, { text: 'Two.' }] });
  const first = await agent.run('one');
  const second = await agent.run('two', { sessionId: first.sessionId });
  assert.equal(second.success, true);
  assert.equal(existsSync(sessionDir), false);
  assert.throws(() => new Agent({ model: 'scripted', script: [], contextWindow: 0 }), /invalid option `contextWindow`/);
  assert.throws(() => new Agent({ model: 'scripted', script: [], sessionDir: '' }), /invalid option `sessionDir`/);
});
