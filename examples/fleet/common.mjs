// What the fleet's processes share: where the queue and the sessions are, and how a
// task becomes an agent. Settings come from the environment:
//   REDIS_URL        the BullMQ queue (default redis://127.0.0.1:6379)
//   POSTGRES_URL     the session store (default postgres://postgres@127.0.0.1:5432/postgres)
//   FLEET_QUEUE      the queue's name (default harnext-fleet)
//   FLEET_MODEL      a real model (anthropic/claude-sonnet-4-5, ...); default: a scripted
//                    mock model, offline, whose tasks run one short command
//   FLEET_LOCK_MS    BullMQ's job lock; a worker that dies is noticed within about this
//                    long (default 30000)
import { Agent } from '../../index.mjs';

export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
export const POSTGRES_URL = process.env.POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
export const QUEUE = process.env.FLEET_QUEUE || 'harnext-fleet';
export const LOCK_MS = Number(process.env.FLEET_LOCK_MS || 30_000);

/** BullMQ's connection options for REDIS_URL. */
export function connection() {
  const u = new URL(REDIS_URL);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    maxRetriesPerRequest: null,
  };
}

/**
 * The agent for a task. On the mock model a task runs one command (slow enough for a
 * worker to die in the middle), then answers; a resumed session gets the rest of it.
 * `approval` tasks ask before their command (manual mode): the decision is deferred,
 * and someone answers it later through the approvals endpoint.
 */
export function agentFor(task, { resuming = false, cwd } = {}) {
  const options = { cwd, sessionStore: POSTGRES_URL, maxSteps: 10 };
  if (process.env.FLEET_MODEL) {
    options.model = process.env.FLEET_MODEL;
  } else {
    options.model = 'scripted';
    options.script = resuming
      ? [{ text: `Resumed and finished task ${task.id}.` }]
      : [
          { text: `Working on task ${task.id}.`, toolCalls: [{ name: 'bash', args: { command: `sleep ${task.sleep ?? 0.2}; echo task ${task.id}` } }] },
          { text: `Finished task ${task.id}.` },
        ];
  }
  if (task.approval) {
    options.permissionMode = 'manual';
    options.onPermissionRequest = () => 'defer';
  }
  return new Agent(options);
}
