// MCP servers as tool sources, against the reference servers from npm
// (@modelcontextprotocol/server-everything and server-filesystem, devDependencies) and a
// misbehaving fake (fixtures/fake-mcp-server.mjs), driven by the scripted model.
import './helpers/session-dir.mjs';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync, mkdirSync, realpathSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Agent } from '../index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const cwd = realpathSync(mkdtempSync(path.join(tmpdir(), 'harnext-mcp-')));

function npmServer(name) {
  const entry = path.join(root, 'node_modules', '@modelcontextprotocol', name, 'dist', 'index.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm ci\` (the MCP reference servers are devDependencies)`);
  return entry;
}
const everything = () => ({ command: process.execPath, args: [npmServer('server-everything'), 'stdio'] });
const fake = (mode, dir = cwd) => ({
  command: process.execPath,
  args: [path.join(here, 'fixtures', 'fake-mcp-server.mjs'), mode],
  env: { FAKE_MCP_PIDFILE: path.join(dir, `${mode}.pid`), FAKE_MCP_LOG: path.join(dir, `${mode}.log`) },
});
const fakePids = (mode, dir = cwd) => readFileSync(path.join(dir, `${mode}.pid`), 'utf8').trim().split('\n').map(Number);

/** Alive and not a zombie. */
function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

async function eventuallyDead(pid, ms = 2000) {
  const deadline = Date.now() + ms;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return !alive(pid);
}

/** Live child processes of this test process whose command line contains `needle`. */
function children(needle) {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== process.pid || fields[0] === 'Z') continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) found.push(Number(entry));
    } catch {}
  }
  return found;
}

const agents = [];
function scripted(mcpServers, script, extra = {}) {
  const agent = new Agent({ model: 'scripted', cwd, persistSession: false, mcpServers, script, sandbox: 'off', ...extra });
  agents.push(agent);
  return agent;
}
after(async () => { await Promise.all(agents.map((a) => a.close())); });

async function collect(stream) {
  const events = [];
  for await (const e of stream) events.push(e);
  return events;
}

test('MCP tools are offered as mcp__<server>__<tool>; calls return text, summarised images and structured content', async () => {
  const agent = scripted({ everything: everything() }, [
    { toolCalls: [
      { id: 'e1', name: 'mcp__everything__echo', args: { message: 'hello' } },
      { id: 'e2', name: 'mcp__everything__get-sum', args: { a: 2, b: 40 } },
      { id: 'e3', name: 'mcp__everything__get-tiny-image', args: {} },
      { id: 'e4', name: 'mcp__everything__get-structured-content', args: { location: 'New York' } },
    ] },
    { text: 'done' },
  ]);
  const events = await collect(agent.stream('use the tools'));
  const result = events.at(-1).result;
  assert.equal(result.success, true, JSON.stringify(result.error));
  const byId = Object.fromEntries(result.steps.map((s) => [s.id, s]));
  assert.equal(byId.e1.tool, 'mcp__everything__echo');
  assert.equal(byId.e1.output, 'Echo: hello');
  assert.equal(byId.e2.output, 'The sum of 2 and 40 is 42.');
  assert.match(byId.e3.output, /^Here's the image you requested:\n\[image: image\/png, \d+ bytes\]\nThe image above is the MCP logo\.$/);
  assert.equal(JSON.parse(byId.e4.output).conditions, 'Cloudy');
  assert.ok(result.steps.every((s) => s.status === 'ok'));
  const results = events.filter((e) => e.type === 'tool_result');
  assert.deepEqual(results.map((e) => e.id), ['e1', 'e2', 'e3', 'e4']);
  assert.equal(events.filter((e) => e.type === 'mcp_server_error').length, 0);
});

test('an isError result becomes a tool_result with status error and the server message', async () => {
  const agent = scripted({ everything: everything() }, [
    { toolCalls: [{ name: 'mcp__everything__echo', args: { message: 42 } }] },
    { text: 'done' },
  ]);
  const result = await agent.run('bad args');
  assert.equal(result.steps[0].status, 'error');
  assert.match(result.steps[0].output, /message/);
  assert.equal(result.success, true, 'the run goes on');
});

test('the filesystem server reads and lists within its allowed directory', async () => {
  const allowed = path.join(cwd, 'allowed');
  mkdirSync(allowed, { recursive: true });
  writeFileSync(path.join(allowed, 'todo.txt'), 'buy milk\n');
  const agent = scripted({ fs: { command: process.execPath, args: [npmServer('server-filesystem'), allowed] } }, [
    { toolCalls: [
      { name: 'mcp__fs__list_directory', args: { path: allowed } },
      { name: 'mcp__fs__read_text_file', args: { path: path.join(allowed, 'todo.txt') } },
      { name: 'mcp__fs__read_text_file', args: { path: '/etc/hostname' } },
    ] },
    { text: 'done' },
  ]);
  const result = await agent.run('look');
  const [list, read, outside] = result.steps;
  assert.match(list.output, /\[FILE\] todo\.txt/);
  assert.equal(read.output.trim(), 'buy milk');
  assert.equal(outside.status, 'error', outside.output);
});

test('a streamable HTTP server is used by URL', async (t) => {
  const server = spawn(process.execPath, ['--import', path.join(here, 'fixtures', 'loopback.mjs'), npmServer('server-everything'), 'streamableHttp'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  t.after(() => server.kill());
  const port = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: server.stdout });
    rl.on('line', (line) => {
      try {
        const p = JSON.parse(line).harnextTestPort;
        if (p) resolve(p);
      } catch {}
    });
    server.once('exit', (code) => reject(new Error(`the HTTP server exited with ${code}`)));
  });
  const agent = scripted({ remote: { url: `http://127.0.0.1:${port}/mcp`, headers: { 'x-test': '1' } } }, [
    { toolCalls: [{ name: 'mcp__remote__echo', args: { message: 'over http' } }] },
    { text: 'done' },
  ]);
  const result = await agent.run('call it');
  assert.equal(result.steps[0].output, 'Echo: over http');
  assert.equal(result.steps[0].status, 'ok');
  await agent.close();
});

test('read-only mode denies an MCP tool without readOnlyHint and runs one with it', async () => {
  const agent = scripted({ everything: everything() }, [
    { toolCalls: [
      { name: 'mcp__everything__toggle-simulated-logging', args: {} },
      { name: 'mcp__everything__echo', args: { message: 'reading is fine' } },
    ] },
    { text: 'done' },
  ], { permissionMode: 'read-only' });
  const result = await agent.run('try both');
  assert.equal(result.steps[0].status, 'denied');
  assert.match(result.steps[0].output, /read-only/);
  assert.equal(result.steps[1].status, 'ok');
  assert.equal(result.steps[1].output, 'Echo: reading is fine');
});

test('manual mode asks before a writing MCP tool only', async () => {
  const asked = [];
  const agent = scripted({ everything: everything() }, [
    { toolCalls: [
      { name: 'mcp__everything__echo', args: { message: 'no question' } },
      { name: 'mcp__everything__toggle-simulated-logging', args: {} },
    ] },
    { text: 'done' },
  ], { permissionMode: 'manual', onPermissionRequest: (r) => { asked.push(r.tool); return { behavior: 'deny', message: 'not now' }; } });
  const result = await agent.run('go');
  assert.deepEqual(asked, ['mcp__everything__toggle-simulated-logging']);
  assert.deepEqual(result.steps.map((s) => s.status), ['ok', 'denied']);
  assert.equal(result.steps[1].output, 'not now');
});

test('a server that fails to start gives an mcp_server_error naming it, and the run goes on without it', async () => {
  const agent = scripted({ crashy: fake('crash-after-initialize'), everything: everything() }, [
    { toolCalls: [{ name: 'mcp__everything__echo', args: { message: 'still here' } }] },
    { text: 'done' },
  ]);
  const events = await collect(agent.stream('go'));
  const errors = events.filter((e) => e.type === 'mcp_server_error');
  assert.equal(errors.length, 1);
  assert.equal(errors[0].server, 'crashy');
  assert.match(errors[0].message, /^MCP server `crashy` is unavailable: its process exited \(exit status: 3\)/);
  assert.match(errors[0].message, /fatal: boom \(bad config\)/, 'its stderr, kept apart from the protocol');
  const result = events.at(-1).result;
  assert.equal(result.success, true);
  assert.equal(result.steps[0].output, 'Echo: still here');
});

test('a server that dies mid-call fails that call naming the server, without a hang', async () => {
  const agent = scripted({ fragile: fake('crash-on-call') }, [
    { toolCalls: [{ name: 'mcp__fragile__explode', args: {} }] },
    { toolCalls: [{ name: 'mcp__fragile__explode', args: {} }] },
    { text: 'done' },
  ]);
  const t0 = Date.now();
  const events = await collect(agent.stream('go'));
  assert.ok(Date.now() - t0 < 10000);
  const result = events.at(-1).result;
  assert.equal(result.steps[0].status, 'error');
  assert.match(result.steps[0].output, /^MCP server `fragile` is unavailable: its process exited \(exit status: 7\)/);
  assert.match(result.steps[0].output, /panic: exploded on request/);
  assert.equal(result.steps[1].status, 'error');
  assert.match(result.steps[1].output, /^Unknown tool `mcp__fragile__explode`/, 'its tools are gone for the rest of the run');
  assert.equal(events.filter((e) => e.type === 'mcp_server_error' && e.server === 'fragile').length, 1);
});

test('bad mcpServers throw at construction, naming the option', () => {
  const cases = [
    [{ 'has space': everything() }, /`mcpServers`: server name "has space" must be 1 to 32 characters of \[a-zA-Z0-9_-\]/],
    [{ fs: { command: 'node', arg: ['x'] } }, /`mcpServers`: `fs`: unknown field "arg": did you mean `args`\?/],
    [{ fs: { args: ['x'] } }, /`mcpServers`: `fs`: expected \{ command, .*\} or \{ url, .*\}/],
    [{ web: { url: 'ftp://example.com' } }, /`mcpServers`: `web.url`: expected an http\(s\) URL/],
    [{ fs: { command: 'node', startupTimeoutMs: 0 } }, /`mcpServers`: `fs.startupTimeoutMs`/],
    [{ fs: { command: 'node', cwd: 'no/such/dir' } }, /`mcpServers`: `fs.cwd`/],
    [[everything()], /`mcpServers`: expected an object of servers by name/],
  ];
  for (const [mcpServers, message] of cases) {
    assert.throws(() => new Agent({ model: 'scripted', script: [], cwd, mcpServers }), message, JSON.stringify(mcpServers));
  }
});

test('servers start at the first run (not in the constructor), are reused across runs, and close() ends them', async () => {
  const marker = `harnext-reuse-${process.pid}`;
  const agent = new Agent({
    model: 'scripted',
    cwd,
    persistSession: false, sandbox: 'off',
    mcpServers: { everything: { ...everything(), args: [npmServer('server-everything'), 'stdio', marker] } },
    script: [
      { toolCalls: [{ name: 'mcp__everything__echo', args: { message: 'one' } }] }, { text: 'done' },
      { toolCalls: [{ name: 'mcp__everything__echo', args: { message: 'two' } }] }, { text: 'done' },
    ],
  });
  assert.deepEqual(children(marker), [], 'nothing starts in the constructor');
  assert.equal((await agent.run('first')).steps[0].output, 'Echo: one');
  const [pid] = children(marker);
  assert.ok(pid, 'a server process runs after the first run');
  assert.equal((await agent.run('second')).steps[0].output, 'Echo: two');
  assert.deepEqual(children(marker), [pid], 'the same process served the second run');
  await agent.close();
  assert.equal(alive(pid), false, 'close() resolved with the server gone');
  assert.deepEqual(children(marker), []);
});

test('an aborted run leaves no server behind once its agent is closed', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'harnext-mcp-abort-'));
  const agent = scripted({ slow: fake('hang-call', dir) }, [{ toolCalls: [{ name: 'mcp__slow__wait', args: {} }] }]);
  const ac = new AbortController();
  const events = [];
  for await (const e of agent.stream('wait', { signal: ac.signal })) {
    events.push(e);
    if (e.type === 'tool_call') setTimeout(() => ac.abort(), 50);
  }
  assert.equal(events.find((e) => e.type === 'tool_result').status, 'cancelled');
  assert.equal(events.at(-1).result.cancelled, true);
  const [pid] = fakePids('hang-call', dir);
  assert.ok(alive(pid), 'the server outlives the run: it serves the next one');
  const deadline = Date.now() + 2000;
  while (!readFileSync(path.join(dir, 'hang-call.log'), 'utf8').includes('cancelled') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.match(readFileSync(path.join(dir, 'hang-call.log'), 'utf8'), /cancelled/, 'the server was told the call was cancelled');
  await agent.close();
  assert.equal(alive(pid), false);
});

test('garbage collection of an agent kills its servers, also after an aborted run', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const dir = mkdtempSync(path.join(tmpdir(), 'harnext-mcp-gc-'));
  await (async () => {
    const agent = new Agent({
      model: 'scripted',
      cwd,
      persistSession: false, sandbox: 'off',
      mcpServers: { parent: fake('grandchild', dir), slow: fake('hang-call', dir) },
      script: [{ toolCalls: [{ name: 'mcp__slow__wait', args: {} }] }],
    });
    const ac = new AbortController();
    for await (const e of agent.stream('wait', { signal: ac.signal })) {
      if (e.type === 'tool_call') ac.abort();
    }
  })();
  const pids = [...fakePids('grandchild', dir), ...fakePids('hang-call', dir)];
  assert.equal(pids.length, 3, 'two servers and a grandchild');
  const deadline = Date.now() + 5000;
  while (pids.some(alive) && Date.now() < deadline) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(pids.filter(alive), [], 'servers outlived their collected agent');
});

test('process exit ends the servers of an agent that was never closed', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'harnext-mcp-exit-'));
  const script = `
    const { Agent } = require(${JSON.stringify(path.join(root, 'index.js'))});
    const agent = new Agent({ model: 'scripted', cwd: ${JSON.stringify(cwd)}, persistSession: false, sandbox: 'off',
      mcpServers: { parent: ${JSON.stringify(fake('grandchild', dir))} },
      script: [{ text: 'hi' }] });
    agent.run('hi').then(() => process.exit(0));
  `;
  execFileSync(process.execPath, ['-e', script], { stdio: 'ignore', timeout: 30000 });
  const pids = fakePids('grandchild', dir);
  assert.equal(pids.length, 2);
  for (const pid of pids) assert.ok(await eventuallyDead(pid, 3000), `pid ${pid} outlived its node process`);
});
