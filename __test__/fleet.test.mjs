// examples/fleet on real servers, reduced: 40 tasks on the mock model over 3 worker
// processes, one of them killed with SIGKILL mid-run; BullMQ's stalled-job check gives
// its jobs to the others, which resume the sessions from PostgreSQL. Every task ends
// exactly once with its whole session; two tasks wait for approvals, answered through
// the HTTP endpoint, and then complete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Agent } from '../index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fleet = path.join(here, '..', 'examples', 'fleet');
const pg = process.env.HARNEXT_TEST_POSTGRES_URL;
const redis = process.env.HARNEXT_TEST_REDIS_URL;
const required = process.env.HARNEXT_TEST_STORES === 'required';
// The reduced run by default; the full one with
// FLEET_TEST_TASKS=200 FLEET_TEST_WORKERS=4 FLEET_TEST_KILLS=2 (same checks).
const TASKS = Number(process.env.FLEET_TEST_TASKS || 40);
const WORKERS = Number(process.env.FLEET_TEST_WORKERS || 3);
const KILLS = Number(process.env.FLEET_TEST_KILLS || 1);

function lines(file) {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

async function waitFor(what, ok, ms = 120_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

test(`fleet: ${TASKS} tasks over ${WORKERS} workers, ${KILLS} killed with SIGKILL mid-run, every task done once with its session`, { skip: !required && !(pg && redis) }, async (t) => {
  assert.ok(pg && redis, 'HARNEXT_TEST_POSTGRES_URL and HARNEXT_TEST_REDIS_URL are set by scripts/test.sh');
  const dir = mkdtempSync(path.join(tmpdir(), 'harnext-fleet-'));
  const log = path.join(dir, 'log.jsonl');
  const env = {
    ...process.env,
    REDIS_URL: redis,
    POSTGRES_URL: pg,
    FLEET_QUEUE: `fleet-test-${Date.now()}`,
    FLEET_LOCK_MS: '1500',
    FLEET_LOG: log,
  };
  const u = new URL(redis);
  const queue = new Queue(env.FLEET_QUEUE, { connection: { host: u.hostname, port: Number(u.port), maxRetriesPerRequest: null } });
  const children = [];
  const start = (file, args = []) => {
    const c = spawn(process.execPath, [path.join(fleet, file), ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(c);
    return c;
  };
  t.after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  });

  const producer = start('producer.mjs', [String(TASKS), '--approval-every', '20']);
  await new Promise((resolve) => producer.once('exit', resolve));
  assert.equal(producer.exitCode, 0);
  assert.ok(KILLS < WORKERS, 'at least one worker survives');
  const workers = Array.from({ length: WORKERS }, () => start('worker.mjs', ['2']));

  // Kill workers one after the other, each in the middle of a run (started, not done).
  const victims = workers.slice(0, KILLS);
  const cut = [];
  for (const victim of victims) {
    await waitFor('a run in flight on the next worker to kill', () => {
      const mine = lines(log).filter((e) => e.pid === victim.pid);
      const open = mine.filter((e) => e.event === 'start' && !mine.some((d) => d.event === 'done' && d.sessionId === e.sessionId));
      if (mine.filter((e) => e.event === 'done').length >= 2 && open.length > 0) {
        cut.push(...open.map((e) => ({ task: e.task, pid: victim.pid })));
        return true;
      }
      return false;
    });
    victim.kill('SIGKILL');
  }
  assert.ok(cut.length >= KILLS);

  await waitFor('every task job to end', async () => {
    const c = await queue.getJobCounts('completed', 'failed');
    return c.completed + c.failed >= TASKS;
  });
  const counts = await queue.getJobCounts('completed', 'failed');
  assert.equal(counts.failed, 0);
  assert.equal(counts.completed, TASKS);

  const events = lines(log);
  // The runs cut short were resumed by another worker.
  for (const { task, pid } of cut) {
    assert.ok(events.some((e) => e.event === 'resume' && e.task === task && e.pid !== pid), `task ${task} was not resumed`);
  }
  const awaiting = [];
  for (let i = 0; i < TASKS; i++) {
    const job = await queue.getJob(`task-${i}`);
    const r = job.returnvalue;
    // Done exactly once: one run of the task ended (its end noted once), whoever ran it.
    const done = events.filter((e) => e.event === 'done' && e.task === i);
    assert.equal(done.length, 1, `task ${i}: ${JSON.stringify(done)}`);
    const s = await Agent.loadSession(r.sessionId, { sessionStore: pg });
    assert.match(s.messages[0].content[0].text, new RegExp(`^Task ${i}:`));
    if (i % 20 === 19) {
      assert.equal(r.stopReason, 'awaiting_approval');
      assert.equal(s.pendingApprovals.length, 1);
      awaiting.push(r.sessionId);
      continue;
    }
    assert.equal(r.success, true, JSON.stringify(r));
    const last = s.messages.at(-1);
    assert.equal(last.role, 'assistant');
    assert.match(last.content[0].text, new RegExp(`(Finished|Resumed and finished) task ${i}\\.`));
    // The completed command is in the history (unless its run was the one cut short).
    if (!cut.some((c) => c.task === i)) assert.ok(JSON.stringify(s.messages).includes(`task ${i}\\nexit code: 0`), JSON.stringify(s.messages));
  }

  // The approvals endpoint lists the waiting calls and answers them; the runs go on.
  const server = start('approvals-server.mjs', ['0']);
  const address = await new Promise((resolve) => {
    server.stdout.on('data', (d) => {
      const m = String(d).match(/http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) resolve(`http://127.0.0.1:${m[1]}`);
    });
  });
  const listed = await (await fetch(`${address}/approvals`)).json();
  for (const id of awaiting) {
    const entry = listed.find((l) => l.sessionId === id);
    assert.ok(entry, `${id} is listed`);
    assert.equal(entry.pendingApprovals[0].tool, 'bash');
    const res = await fetch(`${address}/approvals/${id}`, { method: 'POST', body: JSON.stringify({ [entry.pendingApprovals[0].id]: 'allow' }) });
    assert.equal(res.status, 202);
  }
  await waitFor('the answered runs to end', async () => {
    for (const id of awaiting) {
      const s = await Agent.loadSession(id, { sessionStore: pg });
      // (While an approved call runs, nothing waits and the last message is still the
      // assistant's call: the run has ended once its final answer is there.)
      const last = s.messages.at(-1);
      if (s.pendingApprovals.length > 0 || last.role !== 'assistant' || !/Resumed and finished/.test(last.content[0]?.text ?? '')) return false;
    }
    return true;
  });
  for (const id of awaiting) {
    const s = await Agent.loadSession(id, { sessionStore: pg });
    assert.ok(JSON.stringify(s.messages).includes('exit code: 0'), `the approved command ran: ${JSON.stringify(s.messages)}`);
    assert.match(s.messages.at(-1).content[0].text, /Resumed and finished/);
  }
});
