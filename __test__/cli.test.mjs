// The harnext CLI (cli/harnext.mjs) as a person or a script runs it: a child process,
// offline on the scripted model (--script) or against the mock provider server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Agent } from '../index.js';
import { startMock } from './helpers/mock.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(root, 'cli', 'harnext.mjs');
const PKG = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'harnext-cli-test-'));
const sessionDir = path.join(tmp, 'sessions');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock?.close(); });

/** A fresh workspace with one file. */
function workspace() {
  const dir = fs.mkdtempSync(path.join(tmp, 'ws-'));
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'one\ntwo\n');
  return dir;
}

/** Writes a --script file and returns its path. */
function script(turns) {
  const file = path.join(fs.mkdtempSync(path.join(tmp, 'script-')), 'turns.json');
  fs.writeFileSync(file, JSON.stringify(turns));
  return file;
}

/** The environment of a machine without keys or model preferences, sessions in `sessionDir`. */
function cleanEnv(extra = {}) {
  const env = { ...process.env, HARNEXT_SESSION_DIR: sessionDir };
  for (const k of ['ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL', 'OPENAI_API_KEY', 'OPENAI_BASE_URL', 'HARNEXT_MODEL', 'FORCE_COLOR', 'NO_COLOR']) {
    delete env[k];
  }
  return { ...env, ...extra };
}

/**
 * Runs the CLI to the end. `input` is written to its stdin, which is then closed;
 * `onSpawn(child)` can act on the running process (signals).
 */
function cli(args, { input = '', env = cleanEnv(), cwd = tmp, onStdout } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
      onStdout?.(stdout, child);
    });
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

const jsonLines = (stdout) => stdout.trimEnd().split('\n').map((l) => JSON.parse(l));

const TWO_COMMANDS = [
  { text: 'Two commands.', toolCalls: [{ name: 'bash', args: { command: 'echo first' } }, { name: 'bash', args: { command: 'echo second' } }] },
  { text: 'Finished.' },
];

test('--help lists every flag, the approval protocol and the exit codes', async () => {
  const r = await cli(['--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  for (const flag of ['-m, --model', '--permission-mode', '--sandbox', '--network', '--max-steps', '--max-cost-usd <usd>', '--max-tokens <n>', '--max-duration-ms <ms>', '--json', '--resume', '--cwd', '--system-prompt-append', '--script', '-h, --help', '--version']) {
    assert.ok(r.stdout.includes(flag), `--help does not mention ${flag}`);
  }
  for (const mode of ['auto', 'manual', 'accept-edits', 'read-only']) assert.match(r.stdout, new RegExp(`\\b${mode}\\b`));
  assert.match(r.stdout, /Allow bash\(npm test\)\? \[y\]es \/ \[n\]o \/ \[a\]lways/);
  assert.match(r.stdout, /stdin does not have to be a terminal/);
  assert.match(r.stdout, /HARNEXT_MODEL/);
  assert.match(r.stdout, /0 the run succeeded, 1 it failed, 2 usage error, 130 cancelled/);
  assert.equal((await cli(['-h'])).stdout, r.stdout);
});

test('--version prints the package version', async () => {
  const r = await cli(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `${PKG.version}\n`);
});

test('--json --script prints only JSON lines, from run_start to run_end', async () => {
  const cwd = workspace();
  const turns = script([
    { text: 'Writing.', toolCalls: [{ name: 'write_file', args: { path: 'out.txt', content: 'hi\n' } }], usage: { inputTokens: 10, outputTokens: 5 } },
    { text: 'Wrote out.txt.', usage: { inputTokens: 20, outputTokens: 7 } },
  ]);
  const r = await cli(['--json', '--script', turns, '--cwd', cwd, 'write a file']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const events = jsonLines(r.stdout);
  assert.equal(events[0].type, 'run_start');
  assert.equal(events.at(-1).type, 'run_end');
  assert.deepEqual(
    events.map((e) => e.type).filter((t) => t !== 'text'),
    ['run_start', 'usage', 'tool_call', 'tool_result', 'usage', 'run_end'],
  );
  const { result } = events.at(-1);
  assert.equal(result.success, true);
  assert.deepEqual(result.filesChanged, ['out.txt']);
  assert.deepEqual(result.usage, { inputTokens: 30, outputTokens: 12, cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 });
  assert.equal(fs.readFileSync(path.join(cwd, 'out.txt'), 'utf8'), 'hi\n');
});

test('the human rendering streams text, tool calls with arguments and status, and a usage line; no ANSI off a terminal', async () => {
  const cwd = workspace();
  const r = await cli(['--script', script(TWO_COMMANDS), '--cwd', cwd, 'run two commands']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /\x1b\[/, 'no escape codes when stdout is not a terminal');
  assert.match(r.stdout, /session sess_[0-9a-z]{12}/);
  assert.match(r.stdout, /Two commands\./);
  assert.match(r.stdout, /⏺ bash\(echo first\)\n {2}↳ ok · [\d.]+s · exit 0\n {4}first\n/);
  assert.match(r.stdout, /⏺ bash\(echo second\)\n {2}↳ ok/);
  assert.match(r.stdout, /Finished\./);
  assert.match(r.stdout, /✓ done · 2 tool calls/);
  assert.match(r.stdout, /usage +0 in · 0 out \(2 model calls\) · no cost \(scripted model, offline\)/);
  assert.match(r.stdout, /harnext --resume sess_[0-9a-z]{12} "<task>"/);
});

test('manual mode asks on stdin, also when it is not a terminal: y allows, n denies', async () => {
  const cwd = workspace();
  const r = await cli(['--permission-mode', 'manual', '--script', script(TWO_COMMANDS), '--cwd', cwd, 'run two commands'], { input: 'y\nn\n' });
  assert.equal(r.code, 0, r.stderr);
  // The prompts go to stderr (stdout is not a terminal), each followed by the answer read.
  assert.equal(
    r.stderr,
    '? Allow bash(echo first) in the sandbox? [y]es / [n]o / [a]lways / yes [w]ith network y\n' +
      '? Allow bash(echo second) in the sandbox? [y]es / [n]o / [a]lways / yes [w]ith network n\n',
  );
  assert.match(r.stdout, /⏺ bash\(echo first\)\n {2}↳ ok · [\d.]+s · exit 0\n {4}first\n/);
  assert.match(r.stdout, /⏺ bash\(echo second\)\n {2}↳ denied: The user denied this tool call\./);
  assert.match(r.stdout, /2 tool calls \(1 not ok\)/);
});

test('manual mode in --json: the requests are events, the answers come from stdin', async () => {
  const cwd = workspace();
  const r = await cli(['--json', '--permission-mode', 'manual', '--script', script(TWO_COMMANDS), '--cwd', cwd, 'go'], { input: 'n\ny\n' });
  assert.equal(r.code, 0, r.stderr);
  const events = jsonLines(r.stdout);
  assert.equal(events.filter((e) => e.type === 'permission_request').length, 2);
  assert.deepEqual(events.filter((e) => e.type === 'tool_result').map((e) => e.status), ['denied', 'ok']);
  assert.match(r.stderr, /Allow bash\(echo first\) in the sandbox\? \[y\]es \/ \[n\]o \/ \[a\]lways \/ yes \[w\]ith network n\n/);
});

test('manual mode: an unclear answer is asked again, "a" allows the tool for the rest of the session, end of input denies', async () => {
  const cwd = workspace();
  const always = await cli(['--json', '--permission-mode', 'manual', '--script', script(TWO_COMMANDS), '--cwd', cwd, 'go'], { input: 'maybe\na\n' });
  assert.equal(always.code, 0, always.stderr);
  assert.match(always.stderr, /answer y \(yes\), n \(no\) or a \(always\)/);
  assert.equal(always.stderr.match(/Allow bash/g).length, 2, 'asked twice for the first call, never for the second');
  assert.deepEqual(jsonLines(always.stdout).filter((e) => e.type === 'tool_result').map((e) => e.status), ['ok', 'ok']);

  const eof = await cli(['--json', '--permission-mode', 'manual', '--script', script(TWO_COMMANDS), '--cwd', cwd, 'go'], { input: '' });
  assert.equal(eof.code, 0, eof.stderr);
  assert.match(eof.stderr, /no answer \(end of input\): denied/);
  assert.deepEqual(jsonLines(eof.stdout).filter((e) => e.type === 'tool_result').map((e) => e.status), ['denied', 'denied']);
});

test('the header line and run_start give the chosen and the enforced sandbox; --sandbox and --network reach the agent', { skip: process.platform !== 'linux' }, async () => {
  const cwd = workspace();
  const human = await cli(['--script', script([{ text: 'Hi.' }]), '--cwd', cwd, 'hi']);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout.split('\n')[0], / · sandbox workspace-write, no network · session sess_/);
  const off = await cli(['--sandbox', 'off', '--script', script([{ text: 'Hi.' }]), '--cwd', cwd, 'hi']);
  assert.match(off.stdout.split('\n')[0], / · no sandbox · session sess_/);
  const ro = await cli(['--sandbox', 'read-only', '--network', '--script', script([{ text: 'Hi.' }]), '--cwd', cwd, 'hi']);
  assert.match(ro.stdout.split('\n')[0], / · sandbox read-only, network · session sess_/);
  const json = await cli(['--json', '--sandbox', 'read-only', '--script', script([{ toolCalls: [{ name: 'bash', args: { command: 'echo x > f.txt' } }] }, { text: 'ok' }]), '--cwd', cwd, 'go']);
  assert.equal(json.code, 0, json.stderr);
  const events = jsonLines(json.stdout);
  assert.deepEqual(events[0].sandbox, { requested: 'read-only', enforced: 'read-only', network: false, partial: false });
  assert.match(events.find((e) => e.type === 'tool_result').output, /Read-only file system|Permission denied/);
  assert.ok(!fs.existsSync(path.join(cwd, 'f.txt')));
});

test('manual mode: "w" allows one sandboxed command with the network; the next one has none', { skip: process.platform !== 'linux' }, async () => {
  const server = net.createServer((s) => s.end());
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const connect = `exec 3<>/dev/tcp/127.0.0.1/${server.address().port} && echo CONNECTED`;
  try {
    const cwd = workspace();
    const turns = [{ toolCalls: [{ name: 'bash', args: { command: connect } }] }, { toolCalls: [{ name: 'bash', args: { command: connect } }] }, { text: 'ok' }];
    const r = await cli(['--json', '--permission-mode', 'manual', '--script', script(turns), '--cwd', cwd, 'go'], { input: 'w\ny\n' });
    assert.equal(r.code, 0, r.stderr);
    const events = jsonLines(r.stdout);
    const requests = events.filter((e) => e.type === 'permission_request');
    assert.deepEqual(requests.map((e) => [e.sandboxed, e.sandbox]), [[true, { mode: 'workspace-write', network: false }], [true, { mode: 'workspace-write', network: false }]]);
    const outputs = events.filter((e) => e.type === 'tool_result').map((e) => e.output);
    assert.equal(outputs[0], 'CONNECTED\nexit code: 0');
    assert.doesNotMatch(outputs[1], /CONNECTED/);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('bad usage: a clear message on stderr, nothing on stdout, exit code 2', async () => {
  const cases = [
    [['--modle', 'x', 'task'], /unknown option --modle \(did you mean --model\?\)/],
    [['--frobnicate', 'task'], /unknown option --frobnicate\n/],
    [['--permission-mode', 'sometimes', 'task'], /invalid --permission-mode "sometimes": expected one of auto, manual, accept-edits, read-only/],
    [['--max-steps', '0', 'task'], /invalid --max-steps "0": expected an integer >= 1/],
    [['--sandbox', 'strict', 'task'], /invalid --sandbox "strict": expected one of workspace-write, read-only, off/],
    [['--sandbox'], /option --sandbox needs a value/],
    [['--network=yes', 'task'], /option --network takes no value/],
    [['--max-steps', 'many', 'task'], /invalid --max-steps "many"/],
    [['--max-cost-usd=-1', 'task'], /invalid --max-cost-usd "-1": expected a number of US dollars > 0, such as 0\.5/],
    [['--max-cost-usd', '0', 'task'], /invalid --max-cost-usd "0": expected a number of US dollars > 0/],
    [['--max-cost-usd', '$5', 'task'], /invalid --max-cost-usd "\$5"/],
    [['--max-cost-usd', '1e999', 'task'], /invalid --max-cost-usd "1e999"/],
    [['--max-cost-usd'], /option --max-cost-usd needs a value/],
    [['--max-tokens', '1.5', 'task'], /invalid --max-tokens "1\.5": expected an integer >= 1, such as 400000/],
    [['--max-tokens', '0', 'task'], /invalid --max-tokens "0"/],
    [['--max-tokens', '99999999999999999999', 'task'], /invalid --max-tokens "99999999999999999999"/],
    [['--max-duration-ms', '10s', 'task'], /invalid --max-duration-ms "10s": expected an integer >= 1, such as 600000/],
    [['--max-duration-ms=', 'task'], /invalid --max-duration-ms "": expected an integer >= 1/],
    [['--max-cost-usd', '1', '--script', script([{ text: 'hi' }]), 'task'], /invalid option --max-cost-usd: the price of "scripted" is not known/],
    [['--model'], /option --model needs a value/],
    [['--json'], /missing task/],
    [['--resume', 'nope', 'task'], /invalid --resume "nope"/],
    [['--script', path.join(tmp, 'missing.json'), 'task'], /cannot read --script .*missing\.json: no such file/],
    [['--script', script({ not: 'turns' }), 'task'], /expected a JSON array of turns/],
    [['--script', script([]), '--model', 'anthropic/claude-sonnet-4-5', 'task'], /cannot be combined with --model/],
    [['--script', script([]), '--cwd', path.join(tmp, 'nowhere'), 'task'], /--cwd .*nowhere: no such directory/],
    [['--model', 'mistral/large', 'task'], /unknown provider prefix "mistral"/],
    [['task'], /no model to run: set ANTHROPIC_API_KEY .* or OPENAI_API_KEY .*--script <file\.json> runs offline/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.equal(r.stdout, '', args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
    assert.match(r.stderr, /Try 'harnext --help'/);
  }
});

test('--resume continues a session in a new process, in its workspace', async () => {
  const cwd = workspace();
  const first = await cli(['--json', '--script', script([{ text: 'Noted: the colour is teal.' }]), '--cwd', cwd, 'remember teal']);
  assert.equal(first.code, 0, first.stderr);
  const id = jsonLines(first.stdout).at(-1).result.sessionId;

  // From another directory and without --cwd: the session's workspace is used.
  const second = await cli(['--json', '--resume', id, '--script', script([{ toolCalls: [{ name: 'bash', args: { command: 'pwd' } }] }, { text: 'Teal.' }]), 'which colour?'], { cwd: tmp });
  assert.equal(second.code, 0, second.stderr);
  const events = jsonLines(second.stdout);
  assert.equal(events[0].sessionId, id);
  assert.equal(events.at(-1).result.sessionId, id);
  assert.equal(events.find((e) => e.type === 'tool_result').output.split('\n')[0], fs.realpathSync(cwd));

  const session = await Agent.loadSession(id, { sessionDir });
  assert.equal(session.runs, 2);
  const said = JSON.stringify(session.messages);
  for (const text of ['remember teal', 'Noted: the colour is teal.', 'which colour?', 'Teal.']) assert.ok(said.includes(text), text);

  const human = await cli(['--resume', id, '--script', script([{ text: 'Still teal.' }]), 'again'], { cwd: tmp });
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, new RegExp(`resuming ${id} \\(2 earlier runs\\)`));

  const unknown = await cli(['--resume', 'sess_000000000000', '--script', script([{ text: 'x' }]), 'x']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /cannot resume sess_000000000000: .*no such session/);
});

test('a failed run exits 1: max steps reached, or a script that runs out', async () => {
  const cwd = workspace();
  const steps = await cli(['--json', '--max-steps', '1', '--script', script(TWO_COMMANDS), '--cwd', cwd, 'go']);
  assert.equal(steps.code, 1, steps.stderr);
  assert.equal(jsonLines(steps.stdout).at(-1).result.stopReason, 'max_steps');

  const out = await cli(['--script', script([{ toolCalls: [{ name: 'bash', args: { command: 'true' } }] }]), '--cwd', cwd, 'go']);
  assert.equal(out.code, 1, out.stderr);
  assert.match(out.stdout, /✗ internal: .*script/);
  assert.match(out.stdout, /✗ failed \(internal\)/);
});

test('Ctrl-C cancels the run: the command is stopped, run_end comes, exit code 130', async () => {
  const cwd = workspace();
  let sent = false;
  const r = await cli(['--json', '--script', script([{ toolCalls: [{ name: 'bash', args: { command: 'sleep 30' } }] }, { text: 'never' }]), '--cwd', cwd, 'sleep'], {
    onStdout: (stdout, child) => {
      if (!sent && stdout.includes('"tool_call"')) {
        sent = true;
        setTimeout(() => child.kill('SIGINT'), 200);
      }
    },
  });
  assert.equal(r.code, 130, r.stderr);
  const events = jsonLines(r.stdout);
  assert.equal(events.find((e) => e.type === 'tool_result').status, 'cancelled');
  assert.equal(events.at(-1).result.cancelled, true);
  assert.match(r.stderr, /cancelling the run/);
});

test('with ANTHROPIC_API_KEY the default model is Anthropic: --system-prompt-append reaches the request, cost at list prices', async () => {
  await mock.push({ turn: { text: 'Bonjour.', usage: { inputTokens: 1000, outputTokens: 100, cacheReadTokens: 2000, cacheWriteTokens: 400 } } });
  const before = (await mock.requests()).length;
  const r = await cli(['--system-prompt-append', 'Always answer in French.', '--cwd', workspace(), 'hello'], {
    env: cleanEnv({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: mock.url }),
  });
  assert.equal(r.code, 0, r.stderr);
  const request = (await mock.requests())[before];
  assert.equal(request.body.model, 'claude-sonnet-4-5');
  assert.match(JSON.stringify(request.body.system), /Always answer in French\./);
  assert.match(r.stdout, /anthropic\/claude-sonnet-4-5/);
  // 1000 × $3 + 100 × $15 + 2000 × $0.30 + 400 × $3.75 per million tokens.
  assert.match(r.stdout, /1,000 in · 100 out · 2,000 cache read · 400 cache write \(1 model call\) · \$0\.0066 at Anthropic list prices/);
});

test('with only OPENAI_API_KEY the default model is openai/gpt-5; unknown prices say so', async () => {
  await mock.push({ turn: { text: 'Hi.', usage: { inputTokens: 1000, outputTokens: 100, cacheReadTokens: 1000 } } });
  const env = cleanEnv({ OPENAI_API_KEY: 'test-key', OPENAI_BASE_URL: `${mock.url}/v1` });
  const r = await cli(['--cwd', workspace(), 'hello'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /openai\/gpt-5/);
  // 1000 × $1.25 + 100 × $10 + 1000 × $0.125 per million tokens.
  assert.match(r.stdout, /\$0\.0024 at OpenAI list prices/);

  await mock.push({ turn: { text: 'Hi.', usage: { inputTokens: 10, outputTokens: 1 } } });
  const local = await cli(['-m', 'openai-chat/llama3.1', '--cwd', workspace(), 'hello'], { env });
  assert.equal(local.code, 0, local.stderr);
  assert.match(local.stdout, /cost unknown for openai-chat\/llama3\.1/);
});

test('usage the server did not report is said so, not priced as zeros', async () => {
  await mock.push({ turn: { text: 'Hi.' }, noUsage: true });
  const r = await cli(['--cwd', workspace(), 'hello'], { env: cleanEnv({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: mock.url }) });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /usage +usage not reported \(1 model call\) · cost unknown: usage not reported by the server/);
  assert.doesNotMatch(r.stdout, /0 in · 0 out|\$0 at/);
});

test('a key and URL credentials the model echoes never reach the CLI output, human or --json', async () => {
  const KEY = 'sk-ant-api03-cli-SECRET-key';
  const PASSWORD = 'cli-pass-SECRET-word';
  const url = new URL(mock.url);
  const env = cleanEnv({ ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: `http://bob:${PASSWORD}@${url.host}/` });
  for (const json of [false, true]) {
    await mock.push(
      { turn: { text: `the key is ${KEY} and ${PASSWORD}`, toolCalls: [{ name: 'bash', args: { command: `echo ${KEY}` } }] } },
      { turn: { text: `bye ${KEY}` } },
    );
    const r = await cli([...(json ? ['--json'] : []), '--cwd', workspace(), 'leak it'], { env });
    assert.equal(r.code, 0, r.stderr);
    const all = r.stdout + r.stderr;
    assert.ok(!all.includes(KEY) && !all.includes(PASSWORD), all);
    assert.match(all, /<redacted>/);
  }
});

test('a refusal is a failed run in the CLI, exit 1, with the reason', async () => {
  await mock.push({ turn: { text: 'I cannot help.' }, stopReason: 'refusal' });
  const r = await cli(['--cwd', workspace(), 'hello'], { env: cleanEnv({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: mock.url }) });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /✗ failed \(refusal\): the model declined to answer/);
});

test('the cost is the engine\'s: each usage event and the result carry costUsd (--json), absent when unknown', async () => {
  const env = cleanEnv({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: mock.url });
  await mock.push({ turn: { text: 'Hi.', usage: { inputTokens: 1000, outputTokens: 100, cacheReadTokens: 2000, cacheWriteTokens: 400 } } });
  const r = await cli(['--json', '-m', 'anthropic/claude-sonnet-4-5-20250929', '--cwd', workspace(), 'hello'], { env });
  assert.equal(r.code, 0, r.stderr);
  const events = jsonLines(r.stdout);
  assert.ok(Math.abs(events.find((e) => e.type === 'usage').costUsd - 0.0066) < 1e-12);
  assert.ok(Math.abs(events.at(-1).result.costUsd - 0.0066) < 1e-12);
  await mock.push({ turn: { text: 'Hi.', usage: { inputTokens: 10 } } });
  const unknown = await cli(['--json', '-m', 'anthropic/claude-2', '--cwd', workspace(), 'hello'], { env });
  assert.equal(unknown.code, 0, unknown.stderr);
  const e2 = jsonLines(unknown.stdout);
  assert.ok(!('costUsd' in e2.find((e) => e.type === 'usage')));
  assert.ok(!('costUsd' in e2.at(-1).result));
});

test('--hook runs a command hook: exit 2 denies bash with stderr the model reads; a failing command is a hook_error; a bad --hook is a usage error', async () => {
  const dir = workspace();
  const script = path.join(dir, 'script.json');
  fs.writeFileSync(script, JSON.stringify([
    { toolCalls: [{ id: 'b1', name: 'bash', args: { command: 'touch pwned' } }, { id: 'r1', name: 'read_file', args: { path: 'nothing.txt' } }] },
    { text: 'done' },
  ]));
  const deny = `input=$(cat); case "$input" in *'"tool":"bash"'*) echo "no shell from the hook" >&2; exit 2;; esac`;
  const r = await cli(['--json', '--script', script, '--cwd', dir, '--hook', `preToolUse=${deny}`, '--hook', 'postToolUse=exit 7', 'go']);
  assert.equal(r.code, 0, r.stderr);
  const events = jsonLines(r.stdout);
  const result = events.at(-1).result;
  assert.equal(result.steps[0].status, 'denied');
  assert.equal(result.steps[0].output, 'no shell from the hook');
  assert.ok(!fs.existsSync(path.join(dir, "pwned")));
  const errors = events.filter((e) => e.type === 'hook_error');
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /post_tool_use hook failed: .*exited with 7/);
  const bad = await cli(['--script', script, '--hook', 'preToolUs=true', 'go']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid --hook "preToolUs=true": expected <event>=<command> with event one of preToolUse/);
});

const bashStep = (usage) => ({ text: 'Working.', toolCalls: [{ name: 'bash', args: { command: 'sleep 0.05' } }], usage });

test('--max-tokens and --max-duration-ms stop the run with their own stop reason: rendered, in --json, exit 1', async () => {
  const turns = script(Array.from({ length: 6 }, () => bashStep({ inputTokens: 100, outputTokens: 10 })).concat([{ text: 'Done.' }]));
  const r = await cli(['--script', turns, '--cwd', workspace(), '--max-tokens', '200', 'go']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /· budget 200 tokens ·/, 'the header shows the budget');
  assert.match(r.stdout, /⏸ stopped: token budget reached · 2 tool calls/);
  assert.match(r.stdout, /why +the run stopped after a step that brought its tokens to 220, reaching --max-tokens \(200\)/);
  assert.doesNotMatch(r.stdout, /✗/, 'a budget stop is not shown as an error');
  assert.doesNotMatch(r.stdout, /maxTokens/);

  const j = await cli(['--json', '--script', turns, '--cwd', workspace(), '--max-duration-ms', '1', 'go']);
  assert.equal(j.code, 1, j.stderr);
  const result = jsonLines(j.stdout).at(-1).result;
  assert.equal(result.stopReason, 'time_budget');
  assert.equal(result.error.code, 'time_budget');
  assert.equal(result.steps.length, 1);

  const t = await cli(['--script', turns, '--cwd', workspace(), '--max-duration-ms', '1', 'go']);
  assert.match(t.stdout, /⏸ stopped: time budget reached · 1 tool call/);
  assert.match(t.stdout, /reaching --max-duration-ms \(1 ms\)/);
});

test('--max-cost-usd stops a priced run after the step that reaches it', async () => {
  // 100k input tokens of Sonnet 4.5 at $3 per million: $0.30 a call.
  await mock.push({ turn: bashStep({ inputTokens: 100_000 }), times: 5 });
  const r = await cli(['--cwd', workspace(), '--max-cost-usd', '0.5', 'loop'], {
    env: cleanEnv({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: mock.url }),
  });
  await mock.reset();
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /· budget \$0\.5 ·/);
  assert.match(r.stdout, /⏸ stopped: cost budget reached · 2 tool calls/);
  assert.match(r.stdout, /brought its cost to \$0\.6000, reaching --max-cost-usd \(\$0\.5\)/);
  assert.match(r.stdout, /\$0\.600 at Anthropic list prices/);
});

test('background commands: the calls rendered, and nothing left running when the CLI exits', async () => {
  // Unique to this test process: the sleep is found by its command line, and other test
  // processes on the machine (another checkout's test run) may run such a sleep too.
  const arg = `173.5${String(process.pid).padStart(7, '0')}`;
  const turns = script([
    { toolCalls: [{ name: 'bash', args: { command: `echo serving; exec sleep ${arg}`, background: true } }] },
    { toolCalls: [{ name: 'bash', args: { command: 'sleep 0.3' } }] },
    { toolCalls: [{ name: 'bash_output', args: { id: 'bash_1' } }] },
    { text: 'Left it running.' },
  ]);
  const r = await cli(['--script', turns, '--cwd', workspace(), 'serve']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes(`⏺ bash(echo serving; exec sleep ${arg}, background)\n  ↳ ok`), r.stdout);
  assert.match(r.stdout, /⏺ bash_output\(bash_1\)\n {2}↳ ok · \S+\n {4}serving\n {4}bash_1: running/);
  const alive = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).some((p) => {
    try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === `sleep\u0000${arg}\u0000`; } catch { return false; }
  });
  assert.equal(alive, false, 'the background sleep died with the run');
});

// ---- issue 18: the plan (todo_write) ----

test('the plan is rendered as a list at each change; an accepted todo_write shows no result line', async () => {
  const cwd = workspace();
  const turns = [
    { toolCalls: [{ name: 'todo_write', args: { todos: [{ content: 'Read notes', status: 'in_progress' }, { content: 'Count lines', status: 'pending' }] } }] },
    { toolCalls: [{ name: 'todo_write', args: { todos: [{ content: 'Read notes', status: 'completed' }, { content: 'Count lines', status: 'completed' }] } }] },
    { text: 'All done.' },
  ];
  const r = await cli(['--script', script(turns), '--cwd', cwd, 'plan it']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /⏺ todo_write\(2 items\)\n {2}☰ plan · 0\/2 done\n {4}▸ Read notes\n {4}○ Count lines\n⏺ todo_write/);
  assert.match(r.stdout, / {2}☰ plan · 2\/2 done\n {4}✔ Read notes\n {4}✔ Count lines\n/);
  assert.doesNotMatch(r.stdout, /↳ ok/);
  const json = await cli(['--json', '--script', script(turns), '--cwd', cwd, 'plan it']);
  const todos = jsonLines(json.stdout).filter((e) => e.type === 'todo');
  assert.deepEqual(todos.map((e) => e.todos.map((t) => t.status)), [['in_progress', 'pending'], ['completed', 'completed']]);
});

// ---- subagents (the `task` tool): their events rendered like the run's, under their name ----

test('the renderer shows a subagent\'s events like the run\'s, each line prefixed with its name', async () => {
  const { Renderer } = await import('../cli/render.mjs');
  const { CostMeter } = await import('../cli/cost.mjs');
  const cwd = workspace();
  fs.writeFileSync(path.join(cwd, 'a.txt'), 'forty-two\n');
  const agent = new Agent({
    model: 'scripted',
    cwd,
    persistSession: false,
    agents: { finder: { description: 'Finds', systemPrompt: 'Find.', tools: ['read_file'] } },
    script: [
      { toolCalls: [{ id: 't1', name: 'task', args: { agent: 'finder', prompt: 'Find the answer' } }] },
      { text: 'Looking.', toolCalls: [{ name: 'read_file', args: { path: 'a.txt' } }] },
      { text: 'ANSWER-ONE' },
      { text: 'Done.' },
    ],
  });
  let out = '';
  const renderer = new Renderer({ stdout: { isTTY: false, write: (s) => { out += s; } }, version: 'test', model: 'scripted', cwd, cost: new CostMeter('scripted'), resumed: null, budget: {} });
  for await (const e of agent.stream('Delegate')) renderer.render(e);
  renderer.close();
  assert.doesNotMatch(out, /· subagent \{/, out); // not the raw fallback
  const lines = out.split('\n');
  const own = lines.filter((l) => l.startsWith('  │ finder · ')).map((l) => l.slice('  │ finder · '.length));
  assert.match(own[0], /^started · session sess_/, out);
  assert.ok(own.includes('Looking.'), out);
  assert.ok(own.includes('⏺ read_file(a.txt)'), out);
  assert.ok(own.some((l) => /^ {2}↳ ok · \S+ · 1 line$/.test(l)), out);
  assert.ok(own.includes('ANSWER-ONE'), out);
  assert.match(own.at(-1), /^✓ done · 1 tool call · /, out);
  // The parent's own lines: the task call, its result, the summary.
  assert.match(out, /^⏺ task\(finder: Find the answer\)$/m);
  assert.match(out, /^ {2}↳ (task\(finder: Find the answer\) )?ok · \S+\n {4}ANSWER-ONE$/m);
  // Model calls: the run's two and the subagent's two.
  assert.match(out, /^✓ done · 1 tool call · .*\n.*\(4 model calls\)/m);
  // The subagent's summary is one line: no second `session … continue with` row.
  assert.equal(out.match(/continue with/g).length, 1);
});
