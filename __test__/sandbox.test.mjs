// The sandbox as Node sees it: the chosen and the enforced mode in `run_start` and
// `agent.sandboxStatus()`, permission requests that say whether the command would run
// sandboxed, and an approval that relaxes the sandbox for one call (`escalate`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent } from '../index.js';

const linux = process.platform === 'linux';
const workspace = () => mkdtempSync(path.join(tmpdir(), 'harnext-test-'));
const bash = (id, command) => ({ id, name: 'bash', args: { command } });

let server;
let port;
before(async () => {
  server = net.createServer((s) => s.end());
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = server.address().port;
});
after(() => new Promise((resolve) => server.close(resolve)));

const connect = () => `exec 3<>/dev/tcp/127.0.0.1/${port} && echo CONNECTED`;

test('run_start and sandboxStatus() carry the chosen and the enforced mode', { skip: !linux }, async () => {
  for (const [options, expected] of [
    [{}, { requested: 'workspace-write', enforced: 'workspace-write', network: false, partial: false }],
    [{ sandbox: 'read-only' }, { requested: 'read-only', enforced: 'read-only', network: false, partial: false }],
    [{ sandbox: 'workspace-write', network: true }, { requested: 'workspace-write', enforced: 'workspace-write', network: true, partial: false }],
    [{ sandbox: 'off' }, { requested: 'off', enforced: 'off', network: true, partial: false }],
  ]) {
    const agent = new Agent({ model: 'scripted', cwd: workspace(), persistSession: false, script: [{ text: 'hi' }], ...options });
    const status = agent.sandboxStatus();
    assert.deepEqual(
      { requested: status.requested, enforced: status.enforced, network: status.network, partial: status.partial },
      expected,
    );
    assert.equal(typeof status.summary, 'string');
    assert.ok(status.summary.length > 0);
    assert.deepEqual(status.missing, []);
    const events = [];
    for await (const e of agent.stream('x')) events.push(e);
    assert.equal(events[0].type, 'run_start');
    assert.deepEqual(events[0].sandbox, expected, JSON.stringify(options));
  }
});

test('a permission request says whether the command runs sandboxed; an escalation gives one call the network', { skip: !linux }, async () => {
  const cwd = workspace();
  const asked = [];
  const answers = [{ behavior: 'allow', escalate: { network: true } }, 'allow', 'allow'];
  const agent = new Agent({
    model: 'scripted', cwd, persistSession: false, permissionMode: 'manual',
    script: [
      { toolCalls: [bash('net1', connect())] },
      { toolCalls: [bash('net2', connect())] },
      { toolCalls: [{ id: 'w1', name: 'write_file', args: { path: 'a.txt', content: 'a' } }] },
      { text: 'done' },
    ],
    onPermissionRequest: (req) => { asked.push(req); return answers.shift(); },
  });
  const events = [];
  for await (const e of agent.stream('go')) events.push(e);
  const sandbox = { mode: 'workspace-write', network: false };
  assert.deepEqual(asked.map((r) => [r.id, r.sandboxed, r.sandbox]), [['net1', true, sandbox], ['net2', true, sandbox], ['w1', false, undefined]]);
  const requests = events.filter((e) => e.type === 'permission_request');
  assert.deepEqual(requests.map((r) => [r.id, r.sandboxed, r.sandbox]), [['net1', true, sandbox], ['net2', true, sandbox], ['w1', false, undefined]]);
  const results = Object.fromEntries(events.filter((e) => e.type === 'tool_result').map((e) => [e.id, e]));
  assert.equal(results.net1.output, 'CONNECTED\nexit code: 0');
  assert.ok(!results.net2.output.includes('CONNECTED'), results.net2.output);
  assert.match(results.net2.output, /exit code: 1/);
  assert.match(results.net2.output, /network connections are refused/);
  assert.equal(results.w1.status, 'ok');
});

test('respond({ escalate: { writableRoots } }) lets one call write outside; the next cannot', { skip: !linux }, async () => {
  const cwd = workspace();
  // Outside the workspace and the temp directories (which commands may write in).
  const outside = mkdtempSync(path.join(import.meta.dirname, '..', 'target', 'harnext-outside-'));
  const agent = new Agent({
    model: 'scripted', cwd, persistSession: false, permissionMode: 'manual',
    script: [
      { toolCalls: [bash('o1', `echo one > ${outside}/one.txt && echo wrote`)] },
      { toolCalls: [bash('o2', `echo two > ${outside}/two.txt && echo wrote`)] },
      { text: 'done' },
    ],
  });
  const results = {};
  for await (const e of agent.stream('go')) {
    if (e.type === 'permission_request') {
      e.respond(e.id === 'o1' ? { behavior: 'allow', escalate: { writableRoots: [outside] } } : 'allow');
    }
    if (e.type === 'tool_result') results[e.id] = e.output;
  }
  assert.equal(results.o1, 'wrote\nexit code: 0');
  assert.equal(readFileSync(path.join(outside, 'one.txt'), 'utf8'), 'one\n');
  assert.match(results.o2, /Permission denied/);
  assert.ok(!existsSync(path.join(outside, 'two.txt')));
});

test('an escalation that cannot be honoured is denied with a clear reason', { skip: !linux }, async () => {
  const cwd = workspace();
  const answers = [
    { behavior: 'allow', escalate: { network: true } }, // write_file: not sandboxed
    { behavior: 'allow', escalate: { network: true }, remember: true }, // one call only
    { behavior: 'allow', escalate: { netwrok: true } }, // a typo
  ];
  const agent = new Agent({
    model: 'scripted', cwd, persistSession: false, permissionMode: 'manual',
    script: [
      { toolCalls: [{ id: 'w1', name: 'write_file', args: { path: 'a.txt', content: 'a' } }] },
      { toolCalls: [bash('b1', 'echo ran > b.txt')] },
      { toolCalls: [bash('b2', 'echo ran > c.txt')] },
      { text: 'done' },
    ],
    onPermissionRequest: () => answers.shift(),
  });
  const result = await agent.run('go');
  assert.deepEqual(result.steps.map((s) => s.status), ['denied', 'denied', 'denied']);
  assert.match(result.steps[0].output, /`write_file` does not run in the sandbox/);
  assert.match(result.steps[1].output, /cannot be remembered/);
  assert.match(result.steps[2].output, /unknown field `netwrok`/);
  for (const f of ['a.txt', 'b.txt', 'c.txt']) assert.ok(!existsSync(path.join(cwd, f)), f);
});

test('a session directory inside the writable /tmp stays hidden from commands', { skip: !linux }, async () => {
  const sessionDir = mkdtempSync(path.join(tmpdir(), 'harnext-test-sessions-'));
  const scratch = mkdtempSync(path.join(tmpdir(), 'harnext-test-'));
  const cwd = workspace();
  const probe = `ls -A ${sessionDir} | wc -l; cat ${sessionDir}/*.jsonl 2>&1 | head -c 200; echo; touch ${scratch}/w && echo TMP-WRITABLE`;
  const build = () => new Agent({ model: 'scripted', cwd, sessionDir, script: [{ toolCalls: [bash('c1', probe)] }, { text: 'done' }] });
  assert.equal((await build().run('look')).success, true);
  assert.ok(existsSync(path.join(scratch, 'w')), 'the command could write in /tmp');
  // The first run's session is in sessionDir now; the second run's command looks for it.
  const r = await build().run('look again');
  const out = r.steps[0].output;
  assert.match(out, /^0\n/, out);
  assert.doesNotMatch(out, /run_start|"type"/, out);
  assert.match(out, /TMP-WRITABLE/, out);
});
