// `harnext --rewind <sessionId> --to-message <n> [task]`: files and conversation back to a
// message, what was restored printed (or one JSON line), then the task continues it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent } from '../index.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'harnext.mjs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'harnext-cli-rewind-'));
const sessionDir = path.join(tmp, 'sessions');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(args, cwd = tmp) {
  const env = { ...process.env, HARNEXT_SESSION_DIR: sessionDir };
  for (const k of ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'HARNEXT_MODEL', 'NO_COLOR', 'FORCE_COLOR']) delete env[k];
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, env, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function script(turns) {
  const file = path.join(fs.mkdtempSync(path.join(tmp, 'script-')), 'turns.json');
  fs.writeFileSync(file, JSON.stringify(turns));
  return file;
}

test('--rewind restores the files, cuts the conversation, and a task continues from there', () => {
  const cwd = fs.mkdtempSync(path.join(tmp, 'ws-'));
  fs.writeFileSync(path.join(cwd, 'notes.txt'), 'one\n');
  const first = cli(['--json', '--cwd', cwd, '--script', script([
    { toolCalls: [{ name: 'bash', args: { command: 'echo two >> notes.txt; echo x > extra.txt' } }] },
    { text: 'Done.' },
  ]), 'change things']);
  assert.equal(first.code, 0, first.stderr);
  const id = JSON.parse(first.stdout.trimEnd().split('\n').at(-1)).result.sessionId;
  assert.equal(fs.readFileSync(path.join(cwd, 'notes.txt'), 'utf8'), 'one\ntwo\n');

  const human = cli(['--rewind', id, '--to-message', '1']);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, new RegExp(`rewound ${id} to message 1 \\(3 messages removed\\)`));
  assert.match(human.stdout, /restored {6}notes\.txt/);
  assert.match(human.stdout, /removed {7}extra\.txt/);
  assert.equal(fs.readFileSync(path.join(cwd, 'notes.txt'), 'utf8'), 'one\n');
  assert.ok(!fs.existsSync(path.join(cwd, 'extra.txt')));

  // JSON, to the start, then the task continues the session in its workspace.
  const again = cli(['--json', '--rewind', id, '--to-message', '0', '--script', script([{ text: 'Fresh start.' }]), 'start over']);
  assert.equal(again.code, 0, again.stderr);
  const lines = again.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines[0], { type: 'rewind', sessionId: id, toMessage: 0, messagesRemoved: 1, restored: [], removed: [], notRestored: [] });
  assert.equal(lines.at(-1).result.sessionId, id);
  return Agent.loadSession(id, { sessionDir }).then((s) => {
    assert.deepEqual(s.messages.map((m) => m.role), ['user', 'assistant']);
    assert.match(JSON.stringify(s.messages[0]), /start over/);
  });
});

test('--rewind usage errors: exit 2 with a message', () => {
  for (const [args, re] of [
    [['--rewind', 'sess_000000000000'], /--rewind needs --to-message/],
    [['--to-message', '1', 'x'], /--to-message goes with --rewind/],
    [['--rewind', 'nope', '--to-message', '1'], /invalid --rewind "nope"/],
    [['--rewind', 'sess_000000000000', '--to-message', '-1'], /--to-message/],
    [['--rewind', 'sess_000000000000', '--to-message', '1'], /cannot rewind sess_000000000000: .*no such session/],
  ]) {
    const r = cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stdout, '');
  }
});
