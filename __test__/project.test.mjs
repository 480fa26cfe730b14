// Issue 18, project instructions and skills: AGENTS.md / CLAUDE.md into the context,
// Agent Skills listed and loaded with the `skill` tool, against the mock provider.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent } from '../index.js';
import { startMock } from './helpers/mock.mjs';

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock.close(); });

function tree(files) {
  const root = mkdtempSync(path.join(tmpdir(), 'harnext-project-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  return root;
}

test('root instructions in the system prompt, nested ones after the first call there, skills listed and loaded, a malformed one a warning', async () => {
  await mock.reset();
  const cwd = tree({
    'CLAUDE.md': 'Use pnpm, not npm.\n',
    'web/AGENTS.md': 'Components are function components.\n',
    'web/app.tsx': 'export {}\n',
    '.agents/skills/changelog/SKILL.md': '---\nname: changelog\ndescription: Write the changelog entry for a change.\n---\nKeep a Changelog format.\n',
    '.agents/skills/oops/SKILL.md': '---\nname: oops\n---\nno description\n',
  });
  await mock.push(
    { turn: { toolCalls: [{ id: 'r', name: 'read_file', args: { path: 'web/app.tsx' } }, { id: 's', name: 'skill', args: { name: 'changelog' } }] } },
    { turn: { text: 'done' } },
  );
  const agent = new Agent({ model: 'anthropic/claude-test', baseURL: mock.url, apiKey: 'sk-test', cwd, persistSession: false });
  const events = [];
  for await (const e of agent.stream('go')) events.push(e);
  const [first] = await mock.requests();
  const system = JSON.stringify(first.body.system);
  assert.match(system, /Use pnpm, not npm\./);
  assert.match(system, /- changelog: Write the changelog entry for a change\./);
  assert.doesNotMatch(system, /function components/);
  assert.ok(first.body.tools.some((t) => t.name === 'skill'));
  const out = Object.fromEntries(events.filter((e) => e.type === 'tool_result').map((e) => [e.id, e.output]));
  assert.match(out.r, /<project_instructions path="web\/AGENTS.md">[\s\S]*Components are function components\./);
  assert.match(out.s, /Keep a Changelog format\./);
  const warnings = events.filter((e) => e.type === 'warning');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0].message, /front matter has no `description`/);
  assert.match(warnings[0].path, /oops\/SKILL\.md$/);
});

test('projectInstructions: false leaves them out; skills and projectInstructions typos are did-you-mean errors; a missing skills folder is refused', async () => {
  await mock.reset();
  const cwd = tree({ 'AGENTS.md': 'Secret handshake.\n' });
  await mock.push({ turn: { text: 'ok' } });
  await new Agent({ model: 'anthropic/claude-test', baseURL: mock.url, apiKey: 'sk-test', cwd, persistSession: false, projectInstructions: false }).run('go');
  const [first] = await mock.requests();
  assert.doesNotMatch(JSON.stringify(first.body.system), /Secret handshake/);
  assert.throws(() => new Agent({ model: 'scripted', script: [], cwd, projectInstruction: false }), /did you mean `projectInstructions`\?/);
  assert.throws(() => new Agent({ model: 'scripted', script: [], cwd, skill: ['x'] }), /did you mean `skills`\?/);
  assert.throws(() => new Agent({ model: 'scripted', script: [], cwd, skills: ['nope'] }), /invalid option `skills`: nope is not an existing directory/);
});
