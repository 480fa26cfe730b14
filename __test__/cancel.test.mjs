import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { mkdtempSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from '../index.js';
import { startMock } from './helpers/mock.mjs';
import { assertPrompt } from './helpers/prompt.mjs';

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock.close(); });

const workspace = () => mkdtempSync(path.join(tmpdir(), 'harnext-test-'));
const anthropic = (cwd, extra = {}) =>
  new Agent({ model: 'anthropic/claude-test', baseURL: mock.url, apiKey: 'sk-test-key', cwd, ...extra });

/** True while the process exists and is not a zombie. */
function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** The argument of the tests' `sleep`: unique to this test process, since the sleep is
 * found by its command line and other test processes on the machine (another checkout's
 * test run, the Python tests) run such sleeps at the same time. */
const SLEEP_ARG = `30.${String(process.pid).padStart(7, '0')}`;

/** The host pid of the running `sleep SLEEP_ARG`, once the command wrote `file`. Found by
 * its command line: in the sandbox's PID namespace, `$$` is not the pid on the host. */
async function waitForPid(file) {
  for (let i = 0; i < 300; i++) {
    if (existsSync(file)) {
      for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        let cmdline = '';
        try { cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8'); } catch { continue; }
        if (cmdline === `sleep\u0000${SLEEP_ARG}\u0000` && alive(Number(entry))) return Number(entry);
      }
    }
    await sleep(10);
  }
  throw new Error('the shell command never started');
}

const sleepTurn = { turn: { text: 'Sleeping.', toolCalls: [{ name: 'bash', args: { command: `echo started > pid; exec sleep ${SLEEP_ARG}` } }] } };

test('an abort during `sleep 30` ends the stream with run_end promptly and kills the sleep', async () => {
  const cwd = workspace();
  await mock.push(sleepTurn);
  const ac = new AbortController();
  const events = [];
  let abortedAt = 0;
  let endedAt = 0;
  for await (const e of anthropic(cwd).stream('sleep', { signal: ac.signal })) {
    events.push(e);
    if (e.type === 'tool_call') {
      const pid = await waitForPid(path.join(cwd, 'pid'));
      assert.ok(alive(pid));
      events.pid = pid;
      abortedAt = performance.now();
      ac.abort();
    }
    if (e.type === 'run_end') endedAt = performance.now();
  }
  assertPrompt(endedAt - abortedAt, 'run_end');
  const result = events.at(-1).result;
  assert.equal(result.cancelled, true);
  assert.equal(result.success, false);
  assert.equal(result.stopReason, 'cancelled');
  assert.equal(result.error, undefined);
  const toolResult = events.find((e) => e.type === 'tool_result');
  assert.equal(toolResult.status, 'cancelled');
  assert.equal(result.steps[0].status, 'cancelled');
  assert.equal(alive(events.pid), false, 'the sleep process is gone');
  assert.deepEqual(events.map((e) => e.type).filter((t) => t !== 'text'), ['run_start', 'usage', 'tool_call', 'tool_result', 'run_end']);
});

test('run() resolves with cancelled: true when aborted during a shell command', async () => {
  const cwd = workspace();
  await mock.push(sleepTurn);
  const ac = new AbortController();
  const pending = anthropic(cwd).run('sleep', { signal: ac.signal });
  const pid = await waitForPid(path.join(cwd, 'pid'));
  const t0 = performance.now();
  ac.abort();
  const result = await pending;
  assertPrompt(performance.now() - t0, 'the result of run()');
  assert.equal(result.cancelled, true);
  assert.equal(result.steps[0].status, 'cancelled');
  assert.equal(alive(pid), false);
});

test('an already-aborted signal cancels at once, before any model request', async () => {
  const cwd = workspace();
  const before = (await mock.requests()).length;
  const result = await anthropic(cwd).run('never', { signal: AbortSignal.abort() });
  assert.equal(result.cancelled, true);
  assert.equal(result.stopReason, 'cancelled');
  const events = [];
  for await (const e of anthropic(cwd).stream('never', { signal: AbortSignal.abort() })) events.push(e.type);
  assert.deepEqual(events, ['run_start', 'run_end']);
  assert.equal((await mock.requests()).length, before, 'no request reached the provider');
});

test('breaking out of for await cancels the run: the shell command dies and the session is free again', async () => {
  const cwd = workspace();
  await mock.push(sleepTurn, { turn: { text: 'Resumed.' } });
  const agent = anthropic(cwd);
  let sessionId;
  let pid;
  for await (const e of agent.stream('sleep')) {
    if (e.type === 'run_start') sessionId = e.sessionId;
    if (e.type === 'tool_call') {
      pid = await waitForPid(path.join(cwd, 'pid'));
      break;
    }
  }
  for (let i = 0; i < 50 && alive(pid); i++) await sleep(10);
  assert.equal(alive(pid), false, 'the sleep died after break');
  // The cancelled run closed its open tool call, so the session continues validly.
  let result;
  for (let i = 0; i < 50; i++) {
    try {
      result = await agent.run('go on', { sessionId });
      break;
    } catch (e) {
      if (!/already running/.test(e.message)) throw e;
      await sleep(10);
    }
  }
  assert.equal(result.text, 'Resumed.');
  const messages = (await mock.requests()).at(-1).body.messages;
  const toolResult = messages[2].content[0];
  assert.equal(toolResult.type, 'tool_result');
  assert.equal(toolResult.is_error, true);
});

test('a slow model stream is dropped at once on abort', async () => {
  const cwd = workspace();
  await mock.push({ turn: { text: 'one two three four five six seven' }, stallAfter: 6 });
  const ac = new AbortController();
  const events = [];
  let t0 = 0;
  for await (const e of anthropic(cwd).stream('stall', { signal: ac.signal })) {
    events.push(e);
    if (e.type === 'text' && !t0) {
      t0 = performance.now();
      ac.abort();
    }
  }
  assertPrompt(performance.now() - t0, 'run_end');
  const result = events.at(-1).result;
  assert.equal(result.cancelled, true);
  assert.equal(result.text, events.filter((e) => e.type === 'text').map((e) => e.text).join(''));
});

test('1,000 sequential runs on one AbortSignal leave no listener on it', async () => {
  const cwd = workspace();
  const script = Array.from({ length: 1000 }, (_, i) => ({ text: `answer ${i}` }));
  const agent = new Agent({ model: 'scripted', cwd, script });
  const ac = new AbortController();
  const warnings = [];
  const onWarning = (w) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    for (let i = 0; i < 1000; i++) {
      const r = await agent.run(`q${i}`, { signal: ac.signal });
      assert.equal(r.text, `answer ${i}`);
    }
  } finally {
    process.off('warning', onWarning);
  }
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  assert.deepEqual(warnings.map((w) => w.name), []);
});

test('streams on a long-lived signal remove their listener when they end', async () => {
  const cwd = workspace();
  const agent = new Agent({ model: 'scripted', cwd, script: Array.from({ length: 50 }, () => ({ text: 'x' })) });
  const ac = new AbortController();
  for (let i = 0; i < 50; i++) {
    for await (const e of agent.stream('q', { signal: ac.signal })) void e;
  }
  // The stream's unlink runs on the JS thread right after the run ends.
  for (let i = 0; i < 20 && getEventListeners(ac.signal, 'abort').length; i++) await sleep(5);
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
});
