// Enqueues tasks: node examples/fleet/producer.mjs <count> [--approval-every <n>]
import { Queue } from 'bullmq';
import { QUEUE, connection } from './common.mjs';

const count = Number(process.argv[2] || 10);
const every = process.argv.includes('--approval-every') ? Number(process.argv[process.argv.indexOf('--approval-every') + 1]) : 0;
const queue = new Queue(QUEUE, { connection: connection() });
const jobs = Array.from({ length: count }, (_, i) => ({
  name: 'task',
  data: { task: { id: i, prompt: `Task ${i}: run the check and report`, approval: every > 0 && i % every === every - 1 } },
  // The job id is the task's: enqueuing the same task twice does nothing.
  opts: { jobId: `task-${i}`, attempts: 5, backoff: { type: 'fixed', delay: 200 }, removeOnComplete: false, removeOnFail: false },
}));
await queue.addBulk(jobs);
console.log(`enqueued ${count} tasks on ${QUEUE}`);
await queue.close();
