// Session stores on real PostgreSQL and Redis servers (scripts/test.sh starts them and
// passes their URLs; with HARNEXT_TEST_STORES=required a missing URL fails, it does not
// skip): another process running a session keeps it from this one; a process killed
// with SIGKILL mid-run leaves a session another process resumes; listSessions,
// loadSession and forkSession take `sessionStore`; a bad URL is refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from '../index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const required = process.env.HARNEXT_TEST_STORES === 'required';

/** The stores under test: a fresh Redis key prefix per test, a short lease. */
function stores() {
  const out = [];
  for (const [name, v] of [['postgres', 'HARNEXT_TEST_POSTGRES_URL'], ['redis', 'HARNEXT_TEST_REDIS_URL']]) {
    const url = process.env[v];
    if (!url) {
      if (required) throw new Error(`${v} is not set but HARNEXT_TEST_STORES=required`);
      continue;
    }
    out.push([name, name === 'redis' ? `${url}/?prefix=n${Date.now()}${Math.random().toString(36).slice(2, 8)}&lease_ms=1500` : url]);
  }
  return out;
}

const workspace = () => mkdtempSync(path.join(tmpdir(), 'harnext-test-'));

async function waitFor(what, ok, ms = 20_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

for (const [name, sessionStore] of stores()) {
  test(`${name}: a session running in another process is refused here; after kill -9 there it resumes here`, async () => {
    const cwd = workspace();
    const child = spawn(process.execPath, [path.join(here, 'fixtures', 'store-run.mjs'), sessionStore, cwd], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal)));
    const first = await new Promise((resolve, reject) => {
      const rl = createInterface({ input: child.stdout });
      rl.once('line', (l) => { rl.close(); resolve(l); });
      child.once('exit', () => reject(new Error('the child exited before its run started')));
    });
    const { sessionId } = JSON.parse(first);
    const pidFile = path.join(cwd, 'sleeper.pid');
    await waitFor('the second step', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '');

    // The first step is in the store while the second runs (loaded, the open call reads
    // as cancelled).
    const mid = await Agent.loadSession(sessionId, { sessionStore });
    assert.deepEqual(mid.messages.map((m) => m.role), ['user', 'assistant', 'user', 'assistant', 'user']);
    assert.equal(mid.messages[2].content[0].status, 'ok');
    assert.equal(mid.messages[4].content[0].status, 'cancelled');

    const agent = new Agent({ model: 'scripted', cwd, sessionStore, script: [{ text: 'Recovered.' }] });
    await assert.rejects(agent.run('go on', { sessionId }), /being run by another process/);

    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    try { process.kill(-Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL'); } catch {}

    // Free once the dead process's lock (PostgreSQL: its connection) or lease (Redis) is gone.
    let result;
    await waitFor('the session to be free', async () => {
      try {
        result = await agent.run('go on', { sessionId });
        return true;
      } catch (e) {
        if (!/being run by another process/.test(e.message)) throw e;
        return false;
      }
    });
    assert.equal(result.success, true, JSON.stringify(result.error));
    assert.equal(result.text, 'Recovered.');
    const after = await Agent.loadSession(sessionId, { sessionStore });
    assert.equal(after.runs, 2);
    assert.deepEqual(after.messages.map((m) => m.role), ['user', 'assistant', 'user', 'assistant', 'user', 'user', 'assistant']);
    const interrupted = after.messages[4].content[0];
    assert.equal(interrupted.type, 'tool_result');
    assert.equal(interrupted.status, 'cancelled');

    const listed = await Agent.listSessions({ sessionStore });
    assert.ok(listed.some((s) => s.id === sessionId && s.title === 'note, then wait'));
    const fork = await Agent.forkSession(sessionId, { sessionStore, atMessage: 3 });
    const forked = await Agent.loadSession(fork, { sessionStore });
    assert.deepEqual(forked.forkedFrom, { id: sessionId, atMessage: 3 });
    assert.equal(forked.messages.length, 3);
  });

  test(`${name}: concurrent runs of different sessions through one store stay apart`, async () => {
    const runs = Array.from({ length: 8 }, (_, i) => {
      const agent = new Agent({
        model: 'scripted',
        cwd: workspace(),
        sessionStore,
        script: [{ toolCalls: [{ name: 'bash', args: { command: `echo out${i}` } }] }, { text: `done ${i}` }],
      });
      return agent.run(`task ${i}`);
    });
    const results = await Promise.all(runs);
    for (const [i, r] of results.entries()) {
      assert.equal(r.success, true, JSON.stringify(r.error));
      const s = await Agent.loadSession(r.sessionId, { sessionStore });
      const text = JSON.stringify(s.messages);
      assert.ok(text.includes(`out${i}`) && text.includes(`done ${i}`), text);
      assert.equal(s.messages.length, 4);
    }
  });
}

test('a sessionStore that is not a postgres:// or redis:// URL is refused by name, without its credentials', async () => {
  assert.throws(() => new Agent({ model: 'scripted', sessionStore: 'mysql://u:hunter22@h/db' }), (e) =>
    /sessionStore/.test(e.message) && !e.message.includes('hunter22'));
  await assert.rejects(Agent.listSessions({ sessionStore: 'nope' }), /sessionStore/);
});

test('an unreachable store fails the run start with a clear error, no hang', async () => {
  const agent = new Agent({ model: 'scripted', cwd: workspace(), sessionStore: 'redis://127.0.0.1:1', script: [{ text: 'x' }] });
  await assert.rejects(Agent.listSessions({ sessionStore: 'postgres://u:hunter22@127.0.0.1:1/db' }), (e) =>
    /session store/.test(e.message) && !e.message.includes('hunter22'));
  const r = await agent.run('x').catch((e) => e);
  // A new session is written lazily: the first write fails and the run ends with session_store.
  assert.ok(r instanceof Error ? /session store/.test(r.message) : r.error?.code === 'session_store', String(r?.message ?? JSON.stringify(r)));
});

test('a resumed run whose store fails at load rejects with code session_store (PostgreSQL, Redis, a JavaScript store; run and stream)', async () => {
  const failing = {
    acquire: () => 'lease', append() {}, release() {}, list: () => [],
    load() { throw new Error('disk on fire'); },
  };
  for (const sessionStore of ['postgres://u:hunter22@127.0.0.1:1/db', 'redis://127.0.0.1:1', failing]) {
    const agent = new Agent({ model: 'scripted', cwd: workspace(), sessionStore, script: [{ text: 'x' }] });
    const what = typeof sessionStore === 'string' ? sessionStore.slice(0, 8) : 'a JavaScript store';
    const check = (e) => {
      assert.ok(e instanceof Error, `${what}: ${e}`);
      assert.equal(e.code, 'session_store', `${what}: ${e.code} ${e.message}`);
      assert.match(e.message, /^the session cannot be loaded: session store/);
      assert.ok(!e.message.includes('hunter22'), e.message);
      return true;
    };
    await assert.rejects(agent.run('x', { sessionId: 'resumed-1' }), check);
    await assert.rejects((async () => { for await (const _ of agent.stream('x', { sessionId: 'resumed-1' })); })(), check);
  }
  // Other reasons a run does not start keep their code.
  const agent = new Agent({ model: 'scripted', cwd: workspace(), sessionStore: failing, script: [{ text: 'x' }] });
  await assert.rejects(agent.run('x', { sessionId: 'not valid' }), (e) => e.code === 'InvalidArg' && /unknown session/.test(e.message));
});

test('the CLI keeps and resumes a session in a store with --session-store', { skip: !process.env.HARNEXT_TEST_POSTGRES_URL && !required }, async () => {
  const { spawnSync } = await import('node:child_process');
  const { writeFileSync } = await import('node:fs');
  const sessionStore = process.env.HARNEXT_TEST_POSTGRES_URL;
  const cwd = workspace();
  const script = path.join(cwd, 'script.json');
  writeFileSync(script, JSON.stringify([{ text: 'First.' }]));
  const cli = path.join(here, '..', 'cli', 'harnext.mjs');
  const env = { ...process.env, HOME: cwd, HARNEXT_SESSION_DIR: '' };
  const first = spawnSync(process.execPath, [cli, '--json', '--script', script, '--session-store', sessionStore, '--cwd', cwd, 'start'], { env, encoding: 'utf8' });
  assert.equal(first.status, 0, first.stderr);
  const end = first.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.type === 'run_end');
  const id = end.result.sessionId;
  writeFileSync(script, JSON.stringify([{ text: 'Second.' }]));
  const second = spawnSync(process.execPath, [cli, '--json', '--script', script, '--session-store', sessionStore, '--resume', id, 'more'], { env, encoding: 'utf8' });
  assert.equal(second.status, 0, second.stderr);
  const loaded = await Agent.loadSession(id, { sessionStore });
  assert.equal(loaded.runs, 2);
  assert.deepEqual(loaded.messages.map((m) => m.content[0].text), ['start', 'First.', 'more', 'Second.']);
});

/** Runs approvals-run.mjs in a process of its own; its result. */
async function runElsewhere(sessionStore, cwd, spec) {
  const { spawnSync } = await import('node:child_process');
  const out = spawnSync(process.execPath, [path.join(here, 'fixtures', 'approvals-run.mjs'), sessionStore, cwd, JSON.stringify(spec)], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  return JSON.parse(out.stdout.trim().split('\n').at(-1));
}

for (const [name, sessionStore] of stores()) {
  test(`${name}: a deferred approval ends the run awaiting_approval and is answered from another process, nothing running twice`, async () => {
    const cwd = workspace();
    const first = await runElsewhere(sessionStore, cwd, {
      input: 'write and count',
      onPermission: 'defer',
      script: [
        { text: 'Doing both.', toolCalls: [
          { id: 'call_read', name: 'read_file', args: { path: 'missing.txt' } },
          { id: 'call_write', name: 'write_file', args: { path: 'a.txt', content: 'approved\n' } },
          { id: 'call_count', name: 'bash', args: { command: 'echo ran >> count.txt' } },
        ] },
        { text: 'never' },
      ],
    });
    assert.equal(first.stopReason, 'awaiting_approval');
    assert.equal(first.success, false);
    assert.equal(first.error, undefined);
    assert.deepEqual(first.pendingApprovals, [
      { id: 'call_write', tool: 'write_file', args: { path: 'a.txt', content: 'approved\n' } },
      { id: 'call_count', tool: 'bash', args: { command: 'echo ran >> count.txt' } },
    ]);
    assert.equal(existsSync(path.join(cwd, 'a.txt')), false);
    const waiting = await Agent.loadSession(first.sessionId, { sessionStore });
    assert.deepEqual(waiting.pendingApprovals.map((p) => p.id), ['call_write', 'call_count']);

    // A new task on a waiting session is refused; the approvals are the way on.
    const here2 = new Agent({ model: 'scripted', cwd, sessionStore, script: [{ text: 'x' }] });
    await assert.rejects(here2.run('something else', { sessionId: first.sessionId }), /waits for approvals of call_write, call_count/);
    await assert.rejects(here2.run({ approvals: { call_write: 'allow' } }, { sessionId: first.sessionId }), /no decision for `call_count`/);

    const second = await runElsewhere(sessionStore, cwd, {
      input: { approvals: { call_write: 'allow', call_count: { behavior: 'deny', message: 'Not now.' } } },
      sessionId: first.sessionId,
      script: [{ text: 'Finished.' }],
    });
    assert.equal(second.success, true, JSON.stringify(second.error));
    assert.equal(second.text, 'Finished.');
    assert.deepEqual(second.steps.map((s) => [s.id, s.status]), [['call_write', 'ok'], ['call_count', 'denied']]);
    assert.equal(readFileSync(path.join(cwd, 'a.txt'), 'utf8'), 'approved\n');
    assert.equal(existsSync(path.join(cwd, 'count.txt')), false);

    // The turn's results went to the model in the order of its calls, the early read among them.
    const done = await Agent.loadSession(first.sessionId, { sessionStore });
    assert.deepEqual(done.pendingApprovals, []);
    const results = done.messages[2].content;
    assert.deepEqual(results.map((r) => [r.toolUseId ?? r.tool_use_id, r.status]), [['call_read', 'error'], ['call_write', 'ok'], ['call_count', 'denied']]);
    assert.equal(results[2].content, 'Not now.');

    // Answering again runs nothing.
    const again = await runElsewhere(sessionStore, cwd, {
      input: 'go on', sessionId: first.sessionId, script: [{ text: 'ok' }],
    });
    assert.equal(again.success, true);
    await assert.rejects(here2.run({ approvals: { call_write: 'allow' } }, { sessionId: first.sessionId }), /no tool calls waiting for approval/);
  });

  test(`${name}: an approved call whose process was killed mid-call is not run again on resume`, async () => {
    const cwd = workspace();
    const first = await runElsewhere(sessionStore, cwd, {
      input: 'count slowly', onPermission: 'defer',
      script: [{ toolCalls: [{ id: 'call_slow', name: 'bash', args: { command: 'echo ran >> count.txt; echo $$ > sleeper.pid; exec sleep 30' } }] }],
    });
    assert.equal(first.stopReason, 'awaiting_approval');
    const child = spawn(process.execPath, [path.join(here, 'fixtures', 'approvals-run.mjs'), sessionStore, cwd,
      JSON.stringify({ input: { approvals: { call_slow: 'allow' } }, sessionId: first.sessionId, script: [{ text: 'never' }] })], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal)));
    const pidFile = path.join(cwd, 'sleeper.pid');
    await waitFor('the approved call to run', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '');
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    try { process.kill(-Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL'); } catch {}

    const agent = new Agent({ model: 'scripted', cwd, sessionStore, script: [{ text: 'Moving on.' }] });
    let result;
    await waitFor('the session to be free', async () => {
      try { result = await agent.run('go on', { sessionId: first.sessionId }); return true; } catch (e) {
        if (!/being run by another process/.test(e.message)) throw e;
        return false;
      }
    });
    assert.equal(result.success, true, JSON.stringify(result.error));
    assert.equal(readFileSync(path.join(cwd, 'count.txt'), 'utf8'), 'ran\n');
    const s = await Agent.loadSession(first.sessionId, { sessionStore });
    const [interrupted] = s.messages[2].content;
    assert.equal(interrupted.status, 'cancelled');
    assert.match(interrupted.content, /not run again/);
  });
}

/** Sends one inline command to the Redis at `url` (a URL object); its reply's first line. */
async function redisCommand(url, line) {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(url.port), url.hostname);
    s.once('connect', () => s.write(`${line}\r\n`));
    s.once('data', (d) => { s.end(); resolve(String(d).split('\r\n')[0]); });
    s.once('error', reject);
  });
}

test('a password in a sessionStore URL reaches no event, result, session, listing, error or CLI output', { skip: !required && !(process.env.HARNEXT_TEST_POSTGRES_URL && process.env.HARNEXT_TEST_REDIS_URL) }, async () => {
  const { spawnSync } = await import('node:child_process');
  const { writeFileSync } = await import('node:fs');
  const n = `${Date.now()}${Math.random().toString(36).slice(2, 8)}`;
  const secret = `Pw@${n}/x`;
  const forms = [secret, encodeURIComponent(secret)];
  const leaks = (text) => forms.filter((f) => text.includes(f));
  // PostgreSQL trusts 127.0.0.1 in the tests: the password is in the URL, never checked.
  const pg = process.env.HARNEXT_TEST_POSTGRES_URL.replace('://harnext@', `://harnext:${encodeURIComponent(secret)}@`);
  // Redis checks it: an ACL user of its own with that password.
  const r = new URL(process.env.HARNEXT_TEST_REDIS_URL);
  assert.equal(await redisCommand(r, `ACL SETUSER leak${n} on >${secret} ~* &* +@all`), '+OK');
  const redisUrl = (pw) => `redis://leak${n}:${encodeURIComponent(pw)}@${r.host}/?prefix=leak${n}`;
  assert.ok(pg.includes(encodeURIComponent(secret)));

  for (const sessionStore of [pg, redisUrl(secret)]) {
    const cwd = workspace();
    const seen = [];
    const agent = new Agent({
      model: 'scripted', cwd, sessionStore, permissionMode: 'manual', onPermissionRequest: () => 'defer',
      script: [{ toolCalls: [{ id: 'call_echo', name: 'bash', args: { command: 'echo hi' } }] }, { text: 'Done.' }],
    });
    for await (const e of agent.stream('echo something')) seen.push(e);
    const end = seen.find((e) => e.type === 'run_end');
    assert.equal(end.result.stopReason, 'awaiting_approval', JSON.stringify(end.result));
    const { sessionId } = end.result;
    for await (const e of agent.stream({ approvals: { call_echo: 'allow' } }, { sessionId })) seen.push(e);
    assert.equal(seen.at(-1).result.success, true, JSON.stringify(seen.at(-1)));
    seen.push(await Agent.loadSession(sessionId, { sessionStore }));
    seen.push(await Agent.listSessions({ sessionStore }));
    seen.push(await Agent.forkSession(sessionId, { sessionStore }));
    const text = JSON.stringify(seen);
    assert.ok(text.includes('hi') && text.includes('Done.'), text);
    assert.deepEqual(leaks(text), [], sessionStore);
  }

  // A wrong password: the errors say what failed, not what was sent.
  const wrong = redisUrl(`${secret}-wrong`);
  forms.push(`${secret}-wrong`, encodeURIComponent(`${secret}-wrong`));
  await assert.rejects(Agent.listSessions({ sessionStore: wrong }), (e) => /session store/.test(e.message) && leaks(e.message).length === 0);
  const bad = new Agent({ model: 'scripted', cwd: workspace(), sessionStore: wrong, script: [{ text: 'x' }] });
  const failed = await bad.run('x').catch((e) => e);
  const shown = failed instanceof Error ? failed.message : JSON.stringify(failed);
  assert.match(shown, /session.store/);
  assert.deepEqual(leaks(shown), []);
  const cwd = workspace();
  const script = path.join(cwd, 'script.json');
  writeFileSync(script, JSON.stringify([{ text: 'x' }]));
  const cli = spawnSync(process.execPath, [path.join(here, '..', 'cli', 'harnext.mjs'), '--json', '--script', script, '--session-store', wrong, '--cwd', cwd, 'start'],
    { env: { ...process.env, HOME: cwd, HARNEXT_SESSION_DIR: '' }, encoding: 'utf8' });
  assert.notEqual(cli.status, 0);
  assert.match(cli.stdout + cli.stderr, /session.store/i);
  assert.deepEqual(leaks(cli.stdout + cli.stderr), []);
});

test('a malformed approvals input is refused by name before the run starts', async () => {
  const a = new Agent({ model: 'scripted', script: [{ text: 'x' }], persistSession: false });
  await assert.rejects(a.run({ approvals: 'allow' }), /invalid argument `input.approvals`: expected an object of decisions by call id, got the string "allow"/);
  await assert.rejects(a.run({ approvals: {}, extra: 1 }), /only `approvals`, got also `extra`/);
  await assert.rejects(a.run({ approval: {} }), /invalid argument `input`: expected a string or an array of messages .*approvals/);
  await assert.rejects(async () => {
    for await (const e of a.stream({ approvals: [] })) void e;
  }, /`input.approvals`: expected an object of decisions by call id, got an array/);
  // Well-formed, but no session waits: the engine says so.
  await assert.rejects(a.run({ approvals: { call_x: 'allow' } }), /sessionId/);
});
