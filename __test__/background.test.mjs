// Background shells through the Node API: `bash` with `background: true`, `bash_output`,
// `bash_kill`, and an abort that leaves no process of theirs alive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from '../index.js';

const workspace = () => mkdtempSync(path.join(tmpdir(), 'harnext-test-'));
const call = (name, args) => ({ toolCalls: [{ name, args }] });

/** Unique to this test process: the sleeps are found by their command lines, and other
 * test processes on the machine (another checkout's test run) run such sleeps too. */
const MARK = String(process.pid).padStart(7, '0');

/** The pids of live processes running `sleep <arg>` (found by command line: in the
 * sandbox's PID namespace, `$!` is not the pid on the host). */
function sleeping(arg) {
  const pids = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8') !== `sleep\u0000${arg}\u0000`) continue;
      if (!/\) Z /.test(readFileSync(`/proc/${entry}/stat`, 'utf8'))) pids.push(Number(entry));
    } catch { /* gone meanwhile */ }
  }
  return pids;
}

const waitFor = (flag) => ({ command: `while [ ! -f ${flag} ]; do sleep 0.02; done; sleep 0.2` });

test('a background command started, read twice (only new output the second time) and killed', async () => {
  const cwd = workspace();
  const server = `echo first; touch first.flag; while [ ! -f go ]; do sleep 0.02; done; echo second; touch second.flag; exec sleep 170.5${MARK}`;
  const agent = new Agent({
    model: 'scripted',
    cwd,
    persistSession: false,
    script: [
      call('bash', { command: server, background: true }),
      call('bash', waitFor('first.flag')),
      call('bash_output', { id: 'bash_1' }),
      call('bash', { command: 'touch go; while [ ! -f second.flag ]; do sleep 0.02; done; sleep 0.2' }),
      call('bash_output', { id: 'bash_1' }),
      call('bash_kill', { id: 'bash_1' }),
      call('bash_output', { id: 'bash_1' }),
      { text: 'done' },
    ],
  });
  const started = performance.now();
  const r = await agent.run('serve');
  assert.equal(r.success, true, JSON.stringify(r.error));
  const out = r.steps.map((s) => [s.tool, s.status, s.output]);
  assert.match(out[0][2], /with id bash_1/);
  assert.ok(performance.now() - started < 20_000);
  assert.deepEqual(out[2], ['bash_output', 'ok', 'first\nbash_1: running']);
  assert.deepEqual(out[4], ['bash_output', 'ok', 'second\nbash_1: running']);
  assert.match(out[5][2], /^Killed bash_1\./);
  assert.deepEqual(out[6], ['bash_output', 'ok', '(no new output)\nbash_1: killed (bash_kill)']);
  assert.deepEqual(sleeping(`170.5${MARK}`), []);
});

test('an AbortController abort leaves no background process alive (setsid, nohup, double fork)', async () => {
  const cwd = workspace();
  const family = `setsid sleep 171.5${MARK} >/dev/null 2>&1 & nohup sleep 171.25${MARK} >/dev/null 2>&1 & (sleep 171.75${MARK} >/dev/null 2>&1 &); exec sleep 171.125${MARK}`;
  const agent = new Agent({
    model: 'scripted',
    cwd,
    persistSession: false,
    script: [
      call('bash', { command: family, background: true }),
      call('bash', { command: `sleep 171.875${MARK}` }),
      { text: 'never' },
    ],
  });
  const ac = new AbortController();
  const run = agent.run('go', { signal: ac.signal });
  const args = [`171.5${MARK}`, `171.25${MARK}`, `171.75${MARK}`, `171.125${MARK}`, `171.875${MARK}`];
  for (let i = 0; i < 500 && !args.every((a) => sleeping(a).length > 0); i++) await sleep(10);
  assert.ok(args.every((a) => sleeping(a).length > 0), 'all started');
  ac.abort();
  const r = await run;
  assert.equal(r.cancelled, true);
  assert.equal(r.stopReason, 'cancelled');
  // Reaped before the result came back: nothing is left, at once.
  for (const a of args) assert.deepEqual(sleeping(a), [], `sleep ${a}`);
});

test('close() kills the background commands of a run going on', async () => {
  const cwd = workspace();
  const agent = new Agent({
    model: 'scripted',
    cwd,
    persistSession: false,
    script: [
      call('bash', { command: `setsid sleep 172.5${MARK} >/dev/null 2>&1 & exec sleep 172.25${MARK}`, background: true }),
      call('bash', waitFor('closed.flag')),
      call('bash_output', { id: 'bash_1' }),
      { text: 'done' },
    ],
  });
  const run = agent.run('go');
  for (let i = 0; i < 500 && !(sleeping(`172.5${MARK}`).length && sleeping(`172.25${MARK}`).length); i++) await sleep(10);
  await agent.close();
  assert.deepEqual([...sleeping(`172.5${MARK}`), ...sleeping(`172.25${MARK}`)], []);
  (await import('node:fs')).writeFileSync(path.join(cwd, 'closed.flag'), '');
  const r = await run;
  assert.equal(r.success, true);
  assert.equal(r.steps[2].output, '(no new output)\nbash_1: killed (the agent was closed)');
});
