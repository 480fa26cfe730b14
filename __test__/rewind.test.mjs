// Rewind from JavaScript: files changed by edit_file and bash come back, the next run's
// request holds only the earlier messages, a fork starts from the point, limits are
// reported, and a session a run holds is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent } from '../index.js';
import { startMock } from './helpers/mock.mjs';

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock.close(); });

const tmp = (prefix) => mkdtempSync(path.join(tmpdir(), prefix));
const read = (dir, rel) => (existsSync(path.join(dir, rel)) ? readFileSync(path.join(dir, rel), 'utf8') : null);

test('rewind restores edit_file and bash changes, and the next request has only the earlier messages', async () => {
  const cwd = tmp('harnext-rw-');
  const sessionDir = tmp('harnext-rw-sessions-');
  writeFileSync(path.join(cwd, 'a.txt'), 'alpha\n');
  writeFileSync(path.join(cwd, 'b.txt'), 'beta\n', { mode: 0o600 });
  await mock.reset();
  await mock.push(
    { turn: { text: 'first done' } },
    { turn: { toolCalls: [{ name: 'edit_file', args: { path: 'a.txt', old_text: 'alpha', new_text: 'ALPHA' } }] } },
    { turn: { toolCalls: [{ name: 'bash', args: { command: 'rm b.txt && echo c > c.txt && echo more >> a.txt' } }] } },
    { turn: { text: 'second done' } },
    { turn: { text: 'third done' } },
  );
  const agent = new Agent({ model: 'anthropic/claude-test', baseURL: mock.url, apiKey: 'k', cwd, sessionDir });
  const first = await agent.run('first task');
  const id = first.sessionId;
  const point = (await Agent.loadSession(id, { sessionDir })).messages.length;
  const second = await agent.run('second task', { sessionId: id });
  assert.ok(second.success);
  assert.equal(read(cwd, 'a.txt'), 'ALPHA\nmore\n');

  const r = await agent.rewind(id, { toMessage: point });
  assert.equal(r.sessionId, id);
  assert.equal(r.toMessage, point);
  assert.ok(r.messagesRemoved > 0);
  assert.deepEqual(r.restored, ['a.txt', 'b.txt']);
  assert.deepEqual(r.removed, ['c.txt']);
  assert.deepEqual(r.notRestored, []);
  assert.equal(read(cwd, 'a.txt'), 'alpha\n');
  assert.equal(read(cwd, 'b.txt'), 'beta\n');
  assert.equal(statSync(path.join(cwd, 'b.txt')).mode & 0o777, 0o600);
  assert.equal(read(cwd, 'c.txt'), null);

  await agent.run('third task', { sessionId: id });
  const requests = await mock.requests();
  const users = requests.at(-1).body.messages
    .filter((m) => m.role === 'user')
    .map((m) => (typeof m.content === 'string' ? m.content : m.content.map((b) => b.text).join('')));
  assert.deepEqual(users, ['first task', 'third task']);

  await assert.rejects(agent.rewind(id, { toMessage: 99 }), /cannot rewind session .* to message 99: its history has \d+ messages/);
  await assert.rejects(agent.rewind('sess_nope', { toMessage: 0 }), /unknown session `sess_nope`/);
  assert.throws(() => agent.rewind(id, { toMessage: -1 }), /toMessage.*expected an integer >= 0, got -1/);
});

test('a fork from the point, limits reported, and a busy session refused', async () => {
  const cwd = tmp('harnext-rw-');
  const sessionDir = tmp('harnext-rw-sessions-');
  writeFileSync(path.join(cwd, 'big.txt'), 'x'.repeat(3000));
  writeFileSync(path.join(cwd, 'small.txt'), 'small\n');
  const agent = new Agent({
    model: 'scripted', cwd, sessionDir, checkpoints: { maxFileBytes: 2000 },
    script: [
      { toolCalls: [{ name: 'bash', args: { command: 'echo y >> big.txt; echo z >> small.txt' } }] },
      { text: 'done' },
      { toolCalls: [{ name: 'bash', args: { command: 'sleep 1' } }] },
      { text: 'slept' },
    ],
  });
  const run = await agent.run('task');
  const before = (await Agent.loadSession(run.sessionId, { sessionDir })).messages.length;
  const fork = await agent.rewind(run.sessionId, { toMessage: 1, fork: true });
  assert.notEqual(fork.sessionId, run.sessionId);
  assert.deepEqual(fork.restored, ['small.txt']);
  assert.equal(read(cwd, 'small.txt'), 'small\n');
  assert.equal(fork.notRestored.length, 1);
  assert.equal(fork.notRestored[0].path, 'big.txt');
  assert.match(fork.notRestored[0].reason, /over the checkpoint limit of 2000 bytes per file/);
  assert.equal((await Agent.loadSession(fork.sessionId, { sessionDir })).messages.length, 1);
  assert.equal((await Agent.loadSession(run.sessionId, { sessionDir })).messages.length, before);

  // A run holds the session: refused, like a second run.
  const stream = agent.stream('sleep', { sessionId: run.sessionId });
  const it = stream[Symbol.asyncIterator]();
  await it.next();
  await assert.rejects(agent.rewind(run.sessionId, { toMessage: 0 }), /already running/);
  for (;;) { if ((await it.next()).done) break; }

  assert.throws(() => new Agent({ model: 'scripted', checkpoints: { maxFileBytes: -1 } }),
    /invalid option `checkpoints`: `maxFileBytes`: expected an integer from 0 to 4294967295, got -1/);
  // A typo in a limit's name is an error naming it, not a limit silently left at its default.
  assert.throws(() => new Agent({ model: 'scripted', checkpoints: { maxFileByte: 10 } }),
    /invalid option `checkpoints`: unknown limit `maxFileByte`: did you mean `maxFileBytes`\?/);
  assert.throws(() => new Agent({ model: 'scripted', checkpoints: { max_run_bytes: 10 } }),
    /did you mean `maxRunBytes`\?/);
  for (const bad of [1.5, 2 ** 32, '10', true]) {
    assert.throws(() => new Agent({ model: 'scripted', checkpoints: { maxRunBytes: bad } }),
      /`checkpoints`: `maxRunBytes`: expected an integer from 0 to 4294967295/);
  }
  assert.throws(() => new Agent({ model: 'scripted', checkpoints: 'yes' }), /invalid option `checkpoints`/);
  // thinking and sandbox are read by the same engine functions as Python's (issue: options parsed once).
  assert.throws(() => new Agent({ model: 'scripted', thinking: { budgetToken: 2048 } }),
    /invalid option `thinking`: unknown field `budgetToken`: did you mean `budgetTokens`\?/);
  assert.throws(() => new Agent({ model: 'scripted', thinking: { budgetTokens: 10 } }),
    /invalid option `thinking`: `budgetTokens`: expected an integer from 1024 to 4294967295, got 10/);
  assert.throws(() => new Agent({ model: 'scripted', sandbox: 'readonly' }),
    /invalid option `sandbox`: expected "workspace-write", "read-only" or "off"; got "readonly"/);
});
