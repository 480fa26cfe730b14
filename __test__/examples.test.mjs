// Every runnable example in examples/ runs offline (no API key: the scripted model) and
// exits 0.
import './helpers/session-dir.mjs';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// The examples' scratch directories (the demo keeps its workspace) go here, then away.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'harnext-examples-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The environment of a machine without API keys, outside any test runner. */
function offlineEnv() {
  const env = { ...process.env, TMPDIR: tmp, HARNEXT_SESSION_DIR: path.join(tmp, 'sessions') };
  for (const k of ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'HARNEXT_MODEL', 'NODE_TEST_CONTEXT', 'FORCE_COLOR']) delete env[k];
  return env;
}

function runExample(file) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'examples', file)], { cwd: root, env: offlineEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const examples = {
  'stream.mjs': [/model scripted/, /⏺ read_file\(\{"path":"package.json"\}\)/, /tiny-todo/, /done · 3 tool calls/],
  'review-diff.mjs': [/✗ request changes \(scripted\)/, /\[bug\] src\/todo\.js:20/, /2 issue\(s\)/],
  'custom-tool.mjs': [/get_issue\(\{"key":"todo 7"\}\) → error/, /get_issue\(\{"key":"TODO-7"\}\) → ok/, /add_comment\(.*\) → ok/, /TODO-7: Cause/],
  'approvals.mjs': [/\? approval → allow/, /\? approval → deny: Only the test command may run here/, /bash → denied/, /asked for: edit_file, bash, bash; files changed: src\/todo\.js/],
  'demo.mjs': [/✓ success/],
};

for (const [file, expected] of Object.entries(examples)) {
  test(`examples/${file} runs offline and exits 0`, async () => {
    const r = await runExample(file);
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    for (const re of expected) assert.match(r.stdout, re);
  });
}

test('every example in examples/ is run above', () => {
  const files = fs.readdirSync(path.join(root, 'examples')).filter((f) => f.endsWith('.mjs'));
  assert.deepEqual(files.sort(), Object.keys(examples).sort());
});
