// A worker: takes tasks from the queue and runs an agent for each, its session in
// PostgreSQL. node examples/fleet/worker.mjs [concurrency]
//
// A job remembers its session id (job.updateData) as soon as its run starts. When a
// worker dies (SIGKILL, a lost machine), BullMQ's stalled-job check hands the job to
// another worker, which finds the session id and resumes the session: the PostgreSQL
// advisory lock of the dead worker went with its connection, the history holds every
// completed step, and the step that was cut short reads as cancelled. A job whose
// session already finished is not run again.
import { Worker } from 'bullmq';
import { mkdtempSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent } from '../../index.mjs';
import { QUEUE, LOCK_MS, POSTGRES_URL, agentFor, connection } from './common.mjs';

const concurrency = Number(process.argv[2] || 2);
const log = process.env.FLEET_LOG; // a JSONL file of what this worker did (tests read it)
const note = (entry) => log && appendFileSync(log, `${JSON.stringify({ pid: process.pid, ...entry })}\n`);

async function runTask(job) {
  const { task, sessionId, approvals } = job.data;
  const cwd = mkdtempSync(path.join(tmpdir(), `fleet-${task.id}-`));
  if (approvals) {
    // An answer to a deferred approval: the approved calls run, the run goes on.
    const result = await agentFor(task, { resuming: true, cwd }).run({ approvals }, { sessionId });
    note({ event: 'answered', task: task.id, sessionId, stopReason: result.stopReason });
    return { sessionId, stopReason: result.stopReason, success: result.success };
  }
  if (sessionId) {
    const session = await Agent.loadSession(sessionId, { sessionStore: POSTGRES_URL });
    const last = session.messages.at(-1);
    if (session.pendingApprovals.length > 0) {
      return { sessionId, stopReason: 'awaiting_approval', pendingApprovals: session.pendingApprovals };
    }
    if (last?.role === 'assistant' && !last.content.some((b) => b.type === 'tool_use')) {
      // The run finished before its worker could report it: nothing to do again.
      note({ event: 'already_done', task: task.id, sessionId });
      return { sessionId, stopReason: 'end_turn', success: true };
    }
    note({ event: 'resume', task: task.id, sessionId });
    const result = await runUntilFree(() => agentFor(task, { resuming: true, cwd }).run('Continue the task where it stopped.', { sessionId }));
    note({ event: 'done', task: task.id, sessionId, stopReason: result.stopReason, resumed: true });
    return { sessionId, stopReason: result.stopReason, success: result.success };
  }
  let result;
  for await (const e of agentFor(task, { cwd }).stream(task.prompt)) {
    if (e.type === 'run_start') {
      await job.updateData({ ...job.data, sessionId: e.sessionId });
      note({ event: 'start', task: task.id, sessionId: e.sessionId });
    }
    if (e.type === 'run_end') result = e.result;
  }
  note({ event: 'done', task: task.id, sessionId: result.sessionId, stopReason: result.stopReason });
  return { sessionId: result.sessionId, stopReason: result.stopReason, success: result.success, pendingApprovals: result.pendingApprovals };
}

/** A session a dying worker still held is free once its connection is gone: retry briefly. */
async function runUntilFree(start) {
  for (let i = 0; ; i++) {
    try {
      return await start();
    } catch (e) {
      if (!/being run by another process/.test(e.message) || i >= 100) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const worker = new Worker(QUEUE, runTask, {
  connection: connection(),
  concurrency,
  lockDuration: LOCK_MS,
  stalledInterval: Math.max(500, Math.floor(LOCK_MS / 2)),
  maxStalledCount: 5,
});
worker.on('failed', (job, err) => console.error(`task ${job?.data?.task?.id} failed: ${err.message}`));
const stop = async () => { await worker.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
console.log(`worker ${process.pid} on ${QUEUE} (concurrency ${concurrency})`);
