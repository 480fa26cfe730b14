// A session store written in JavaScript (`sessionStore: { acquire, append, release, load,
// list }`): an in-memory Map store drives full runs with tools, a resumed run, streams,
// listSessions / loadSession / forkSession and durable approvals; a second run on a busy
// session is refused (same process and "another process"); every way a method can fail
// (throw, reject, wrong answer, never settling) ends with a clear session_store error
// naming the method, with no unhandled rejection, no hang, and the stored records intact.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from '../index.js';

const workspace = () => mkdtempSync(path.join(tmpdir(), 'harnext-jstore-'));

const unhandled = [];
process.on('unhandledRejection', (e) => unhandled.push(e));
after(() => assert.deepEqual(unhandled, [], 'no unhandled rejection'));

/**
 * A store over `data` (shared by the stores of "other processes"): sessions in a Map,
 * each record kept as a copy; a lease per session with a fencing check on append.
 */
function mapStore(data = { sessions: new Map(), leases: new Map(), next: 0, calls: [] }, overrides = {}) {
  return {
    data,
    async acquire(sessionId) {
      data.calls.push(['acquire', sessionId]);
      if (data.leases.has(sessionId)) return null;
      const lease = `lease-${++data.next}`;
      data.leases.set(sessionId, lease);
      return lease;
    },
    async append(sessionId, records, lease) {
      data.calls.push(['append', sessionId, records.length]);
      if (data.leases.get(sessionId) !== lease) throw new Error(`session ${sessionId} is not held by ${lease}`);
      const list = data.sessions.get(sessionId) ?? [];
      list.push(...structuredClone(records));
      data.sessions.set(sessionId, list);
    },
    async release(sessionId, lease) {
      data.calls.push(['release', sessionId]);
      if (data.leases.get(sessionId) === lease) data.leases.delete(sessionId);
    },
    async load(sessionId) {
      const list = data.sessions.get(sessionId);
      return list ? structuredClone(list) : null;
    },
    async list() {
      return [...data.sessions.keys()];
    },
    ...overrides,
  };
}

const toolScript = (tag) => [
  { text: 'Running it.', toolCalls: [{ id: `call_${tag}`, name: 'bash', args: { command: `echo out-${tag}` } }] },
  { text: `Done ${tag}.` },
];

test('a full run with tools is stored through the object, resumed, streamed, listed, loaded and forked', async () => {
  const cwd = workspace();
  const store = mapStore();
  const agent = new Agent({ model: 'scripted', cwd, sessionStore: store, permissionMode: 'auto', script: toolScript('a') });
  const first = await agent.run('first task');
  assert.equal(first.success, true, JSON.stringify(first.error));
  const id = first.sessionId;
  const stored = store.data.sessions.get(id);
  assert.deepEqual(stored.map((r) => r.type), ['session', 'run_start', 'message', 'message', 'message', 'message', 'run_end']);
  assert.ok(JSON.stringify(stored).includes('out-a'));
  assert.equal(store.data.leases.size, 0, 'the lease is released when the run ends');
  // The header went with the first record, in one append; each message after it in its own.
  assert.deepEqual(store.data.calls.filter((c) => c[0] === 'append').map((c) => c[2]), [2, 1, 1, 1, 1, 1]);

  // A second run resumes it (a new agent over the same object), streamed.
  const again = new Agent({ model: 'scripted', cwd, sessionStore: store, permissionMode: 'auto', script: toolScript('b') });
  const events = [];
  for await (const e of again.stream('second task', { sessionId: id })) events.push(e);
  const end = events.at(-1);
  assert.equal(end.type, 'run_end');
  assert.equal(end.result.success, true, JSON.stringify(end.result.error));
  assert.equal(end.result.sessionId, id);

  const loaded = await Agent.loadSession(id, { sessionStore: store });
  assert.equal(loaded.runs, 2);
  assert.equal(loaded.messages.length, 8);
  assert.deepEqual(loaded.steps.map((s) => s.id), ['call_a', 'call_b']);
  const listed = await Agent.listSessions({ sessionStore: store });
  assert.deepEqual(listed.map((s) => [s.id, s.title]), [[id, 'first task']]);
  const fork = await Agent.forkSession(id, { sessionStore: store, atMessage: 4 });
  const forked = await Agent.loadSession(fork, { sessionStore: store });
  assert.deepEqual(forked.forkedFrom, { id, atMessage: 4 });
  assert.equal(forked.messages.length, 4);
  // The fork holds its header and the 4 messages; every lease was given back.
  assert.equal(store.data.sessions.get(fork).length, 5);
  assert.equal(store.data.leases.size, 0);
  assert.equal((await Agent.listSessions({ sessionStore: store })).length, 2);
  await assert.rejects(Agent.loadSession('sess_nothere', { sessionStore: store }), /no session `sess_nothere`|sess_nothere/);
});

test('records kept as JSON text (a JSONL file) are read back, and a sync store works', async () => {
  const cwd = workspace();
  const file = path.join(cwd, 'sessions.json');
  const read = () => (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {});
  const { writeFileSync } = await import('node:fs');
  const leases = new Map();
  const store = {
    acquire: (id) => (leases.has(id) ? null : (leases.set(id, 'x'), 'x')),
    append: (id, records) => {
      const all = read();
      all[id] = (all[id] ?? '') + records.map((r) => JSON.stringify(r) + '\n').join('');
      writeFileSync(file, JSON.stringify(all));
    },
    release: (id) => { leases.delete(id); },
    load: (id) => read()[id]?.split('\n').filter(Boolean) ?? null,
    list: () => Object.keys(read()),
  };
  const agent = new Agent({ model: 'scripted', cwd, sessionStore: store, script: [{ text: 'One.' }, { text: 'Two.' }] });
  const a = await agent.run('hello');
  const b = await agent.run('again', { sessionId: a.sessionId });
  assert.equal(b.success, true, JSON.stringify(b.error));
  const loaded = await Agent.loadSession(a.sessionId, { sessionStore: store });
  assert.deepEqual(loaded.messages.map((m) => m.content[0].text), ['hello', 'One.', 'again', 'Two.']);
});

test('a second run on a busy session is refused, in this process and from "another process"', async () => {
  const cwd = workspace();
  const store = mapStore();
  const agent = new Agent({ model: 'scripted', cwd, sessionStore: store, script: [{ text: 'Hi.' }] });
  const { sessionId } = await agent.run('start');
  const slow = new Agent({
    model: 'scripted', cwd, sessionStore: store, permissionMode: 'auto',
    script: [{ toolCalls: [{ id: 'call_slow', name: 'bash', args: { command: 'sleep 1' } }] }, { text: 'Slept.' }],
  });
  const running = slow.run('sleep', { sessionId });
  while (!store.data.leases.has(sessionId)) await sleep(5);
  // The same object: the process's registry refuses before the store is asked.
  const other = new Agent({ model: 'scripted', cwd, sessionStore: store, script: [{ text: 'no' }] });
  await assert.rejects(other.run('me too', { sessionId }), /already running/);
  // Another object over the same data, as another process would have: its lease refuses.
  const elsewhere = new Agent({ model: 'scripted', cwd, sessionStore: mapStore(store.data), script: [{ text: 'no' }] });
  await assert.rejects(elsewhere.run('me too', { sessionId }), /being run by another process/);
  const r = await running;
  assert.equal(r.success, true, JSON.stringify(r.error));
  const done = await elsewhere.run('now', { sessionId });
  assert.equal(done.success, true, JSON.stringify(done.error));
  assert.equal((await Agent.loadSession(sessionId, { sessionStore: store })).runs, 3);
});

/** A store whose `method` fails on its `nth` call (1-based) the way `fail` says. */
function failing(method, nth, fail, extra = {}) {
  const store = mapStore();
  const real = store[method];
  let count = 0;
  store[method] = function (...args) {
    count += 1;
    return count === nth ? fail(...args) : real.apply(this, args);
  };
  store.count = () => count;
  return Object.assign(store, extra);
}

const FAILURES = [
  ['throws', () => { throw new Error('bucket gone'); }, /`append` failed: .*bucket gone/],
  ['rejects', async () => { throw new Error('bucket gone'); }, /`append` failed: .*bucket gone/],
  ['never settles', () => new Promise(() => {}), /`append` did not settle within 300 ms/],
  ['rejects after its time limit', () => sleep(600).then(() => { throw new Error('late'); }), /`append` did not settle within 300 ms/],
];

for (const [how, fail, message] of FAILURES) {
  test(`an append that ${how} ends the run with session_store naming it; what was stored stays readable`, async () => {
    const cwd = workspace();
    // The third append is the assistant's turn with its tool call: the call must not run.
    const store = failing('append', 3, fail, { timeoutMs: 300 });
    const agent = new Agent({
      model: 'scripted', cwd, sessionStore: store, permissionMode: 'auto',
      script: [{ toolCalls: [{ id: 'call_x', name: 'bash', args: { command: 'echo ran > ran.txt' } }] }, { text: 'never' }],
    });
    const started = Date.now();
    const r = await agent.run('task');
    assert.ok(Date.now() - started < 10_000, 'no hang');
    assert.equal(r.success, false);
    assert.equal(r.error?.code, 'session_store', JSON.stringify(r.error));
    assert.match(r.error.message, message);
    assert.equal(existsSync(path.join(cwd, 'ran.txt')), false, 'no step after an unsaved message');
    // Nothing was appended after the failure; the lease was given back; what is stored loads.
    assert.equal(store.count(), 3);
    assert.equal(store.data.leases.size, 0);
    const stored = await Agent.loadSession(r.sessionId, { sessionStore: mapStore(store.data) });
    assert.deepEqual(stored.messages.map((m) => m.role), ['user']);
    await sleep(400); // a late rejection comes and goes unhandled-free
  });
}

test('acquire, load and list: throws, rejections, wrong answers and silence are clear errors naming the method', async () => {
  const cwd = workspace();
  const seeded = mapStore();
  const seed = new Agent({ model: 'scripted', cwd, sessionStore: seeded, script: [{ text: 'Hi.' }] });
  const { sessionId } = await seed.run('seed');
  const over = (overrides) => mapStore(seeded.data, { timeoutMs: 300, ...overrides });

  // A new session: the first write takes the lease, so the run ends with session_store.
  for (const [acquire, message] of [
    [() => 42, /`acquire` answered a number 42, expected a lease/],
    [() => { throw new Error('no creds'); }, /`acquire` failed: .*no creds/],
    [() => new Promise(() => {}), /`acquire` did not settle within 300 ms/],
  ]) {
    const agent = new Agent({ model: 'scripted', cwd, sessionStore: over({ acquire }), script: [{ text: 'x' }] });
    const r = await agent.run('new');
    assert.equal(r.error?.code, 'session_store', JSON.stringify(r));
    assert.match(r.error.message, message);
  }
  // A resumed session: the run rejects before it starts.
  for (const [overrides, message] of [
    [{ acquire: async () => ({ lease: 1 }) }, /`acquire` answered an object/],
    [{ load: async () => { throw new TypeError('bad key'); } }, /`load` failed: .*bad key/],
    [{ load: async () => 'not records' }, /`load` answered a string "not records", expected an array of session records or null/],
    [{ load: async () => [{ no: 'type' }] }, /`load` answered an object .* expected a session record/],
    [{ load: async () => [{ type: 'message', ts: 1 }] }, /`load` answered a record \[0\] that cannot be read/],
    [{ load: () => new Promise(() => {}) }, /`load` did not settle within 300 ms/],
  ]) {
    const agent = new Agent({ model: 'scripted', cwd, sessionStore: over(overrides), script: [{ text: 'x' }] });
    await assert.rejects(agent.run('more', { sessionId }), message);
    // Streamed, the same error ends the iteration.
    const stream = agent.stream('more', { sessionId });
    await assert.rejects((async () => { for await (const _ of stream); })(), message);
    assert.equal(seeded.data.leases.size, 0, 'the lease is given back');
  }
  await assert.rejects(Agent.listSessions({ sessionStore: over({ list: async () => ['ok_id', '../etc'] }) }), /`list` answered a string "\.\.\/etc"/);
  await assert.rejects(Agent.listSessions({ sessionStore: over({ list: async () => ({ ids: [] }) }) }), /`list` answered an object/);
  await assert.rejects(Agent.listSessions({ sessionStore: over({ list: async () => { throw new Error('denied'); } }) }), /`list` failed: .*denied/);
  await assert.rejects(Agent.loadSession(sessionId, { sessionStore: over({ load: () => 7 }) }), /`load` answered a number 7/);
  await assert.rejects(Agent.forkSession(sessionId, { sessionStore: over({ append: async () => { throw new Error('full'); } }) }), /`append` failed: .*full/);
  // An answer JSON cannot carry is a rejection of its own, not a crash.
  await assert.rejects(Agent.listSessions({ sessionStore: over({ list: async () => [10n] }) }), /`list` failed: .*BigInt/);
  assert.equal(seeded.data.leases.size, 0);
});

test('a store object missing a method or with a bad timeoutMs is refused by name', async () => {
  const store = mapStore();
  delete store.release;
  assert.throws(() => new Agent({ model: 'scripted', sessionStore: store }), /invalid option `sessionStore`: `release` is not a function/);
  await assert.rejects(Agent.listSessions({ sessionStore: { ...mapStore(), list: 'no' } }), /`list` is not a function/);
  assert.throws(() => new Agent({ model: 'scripted', sessionStore: mapStore(undefined, { timeoutMs: '5s' }) }), /`timeoutMs` must be a number/);
  assert.throws(() => new Agent({ model: 'scripted', sessionStore: mapStore(undefined, { timeoutMs: 0 }) }), /sessionStore.*timeoutMs.*1 to 3600000, got 0/);
  assert.throws(() => new Agent({ model: 'scripted', sessionStore: 42 }), /invalid option `sessionStore`: expected a "postgres:\/\/\.\.\." or "redis:\/\/\.\.\." URL or an object/);
});

test('a deferred approval is answered through the store from another agent (another process), nothing running twice', async () => {
  const cwd = workspace();
  const data = { sessions: new Map(), leases: new Map(), next: 0, calls: [] };
  const first = new Agent({
    model: 'scripted', cwd, sessionStore: mapStore(data), permissionMode: 'manual',
    onPermissionRequest: () => 'defer',
    script: [{ text: 'Counting.', toolCalls: [{ id: 'call_count', name: 'bash', args: { command: 'echo ran >> count.txt' } }] }, { text: 'never' }],
  });
  const r1 = await first.run('count once');
  assert.equal(r1.stopReason, 'awaiting_approval');
  assert.deepEqual(r1.pendingApprovals, [{ id: 'call_count', tool: 'bash', args: { command: 'echo ran >> count.txt' } }]);
  assert.deepEqual(data.sessions.get(r1.sessionId).filter((r) => r.type === 'approvals_pending').length, 1);
  assert.deepEqual((await Agent.loadSession(r1.sessionId, { sessionStore: mapStore(data) })).pendingApprovals.map((p) => p.id), ['call_count']);

  const second = new Agent({
    model: 'scripted', cwd, sessionStore: mapStore(data), permissionMode: 'manual',
    onPermissionRequest: () => 'deny', script: [{ text: 'Counted.' }],
  });
  const r2 = await second.run({ approvals: { call_count: 'allow' } }, { sessionId: r1.sessionId });
  assert.equal(r2.success, true, JSON.stringify(r2.error));
  assert.equal(r2.text, 'Counted.');
  assert.equal(readFileSync(path.join(cwd, 'count.txt'), 'utf8'), 'ran\n');
  await assert.rejects(second.run({ approvals: { call_count: 'allow' } }, { sessionId: r1.sessionId }), /no tool calls waiting for approval/);
  assert.equal(readFileSync(path.join(cwd, 'count.txt'), 'utf8'), 'ran\n');
  const types = data.sessions.get(r1.sessionId).map((r) => r.type);
  assert.ok(types.includes('approval_started') && types.includes('approval_done'), types.join(','));
  assert.equal(data.leases.size, 0);
});
