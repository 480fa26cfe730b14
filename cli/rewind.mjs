// `harnext --rewind <sessionId> --to-message <n> [task]`: puts a session and its
// workspace's files back to a message (Agent.rewind), prints what was restored and what
// could not be, and lets main() continue the session with the task, if one was given.
import fs from 'node:fs';
import path from 'node:path';

/** Rewinds `opts.rewind`; the exit status (0 done, 1 failed, 2 usage error). */
export async function rewindSession({ opts, Agent, sessionStore, stdout, fail }) {
  const where = sessionStore ? { sessionStore } : undefined;
  let session;
  try {
    session = await Agent.loadSession(opts.rewind, where);
  } catch (e) {
    return fail(2, `cannot rewind ${opts.rewind}: ${e.message}`);
  }
  const sessionCwd = session.cwd && fs.existsSync(session.cwd) ? session.cwd : undefined;
  const cwd = path.resolve(opts.cwd ?? sessionCwd ?? process.cwd());
  // The rewind needs the session's store and workspace, no model (an agent on the
  // scripted model, which is never called, needs no key).
  let agent;
  try {
    agent = new Agent({ model: 'scripted', script: [{ text: '' }], cwd, ...(sessionStore ? { sessionStore } : {}) });
  } catch (e) {
    return fail(2, e.message);
  }
  let r;
  try {
    r = await agent.rewind(opts.rewind, { toMessage: opts.toMessage });
  } catch (e) {
    const usage = /cannot rewind|unknown session|already running|another process/.test(e.message);
    return fail(usage ? 2 : 1, `cannot rewind ${opts.rewind}: ${e.message}`);
  }
  if (opts.json) {
    stdout.write(`${JSON.stringify({ type: 'rewind', ...r })}\n`);
  } else {
    const lines = [`rewound ${r.sessionId} to message ${r.toMessage} (${r.messagesRemoved} message${r.messagesRemoved === 1 ? '' : 's'} removed)`];
    if (r.restored.length) lines.push(`  restored      ${r.restored.join(', ')}`);
    if (r.removed.length) lines.push(`  removed       ${r.removed.join(', ')}`);
    for (const n of r.notRestored) lines.push(`  not restored  ${n.path}: ${n.reason}`);
    if (!r.restored.length && !r.removed.length && !r.notRestored.length) lines.push('  no file to restore');
    stdout.write(`${lines.join('\n')}\n`);
  }
  return 0;
}
