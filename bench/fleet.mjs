// The fleet's throughput on the mock model (a benchmark, not a test): TASKS tasks
// (scripted: one short command, then an answer) through BullMQ with 1, 2 and 4 worker
// processes (concurrency 2 each), sessions in PostgreSQL; tasks per second, and the
// ratio to one worker measured in the same run. Needs REDIS_URL and POSTGRES_URL
// (bench/stores.sh starts the servers).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';

const here = path.dirname(fileURLToPath(import.meta.url));
const fleet = path.join(here, '..', 'examples', 'fleet');
const TASKS = Number(process.env.BENCH_FLEET_TASKS || 60);
const u = new URL(process.env.REDIS_URL);
const connection = { host: u.hostname, port: Number(u.port), maxRetriesPerRequest: null };

let base;
for (const n of [1, 2, 4]) {
  const name = `fleet-bench-${n}-${Date.now()}`;
  const env = { ...process.env, FLEET_QUEUE: name, FLEET_LOCK_MS: '5000' };
  const queue = new Queue(name, { connection });
  // The workers are up (connected, waiting) before the tasks come: their start is not timed.
  const workers = Array.from({ length: n }, () => spawn(process.execPath, [path.join(fleet, 'worker.mjs'), '2'], { env, stdio: ['ignore', 'pipe', 'ignore'] }));
  await Promise.all(workers.map((w) => new Promise((resolve) => w.stdout.once('data', resolve))));
  await queue.addBulk(Array.from({ length: TASKS }, (_, i) => ({ name: 'task', data: { task: { id: i, prompt: `Task ${i}: bench`, sleep: 0 } } })));
  const t0 = Date.now();
  for (;;) {
    const c = await queue.getJobCounts('completed', 'failed');
    if (c.completed + c.failed >= TASKS) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const secs = (Date.now() - t0) / 1000;
  for (const w of workers) w.kill('SIGTERM');
  await queue.obliterate({ force: true });
  await queue.close();
  const rate = TASKS / secs;
  base ??= rate;
  console.log(JSON.stringify({ workers: n, tasks: TASKS, seconds: Number(secs.toFixed(2)), tasks_per_s: Number(rate.toFixed(1)), vs_1_worker: Number((rate / base).toFixed(2)) }));
}
process.exit(0);
