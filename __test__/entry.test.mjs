// The package's entry points: `import` (index.mjs, types index.d.mts) and `require`
// (index.js, types index.d.ts) through the `exports` map give one and the same module.
import './helpers/session-dir.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esm from 'harnext'; // the package itself, by name, through its exports map

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const require = createRequire(import.meta.url);
const cjs = require('harnext');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

test('"harnext" resolves to index.mjs for import and index.js for require', () => {
  assert.equal(fileURLToPath(import.meta.resolve('harnext')), path.join(root, 'index.mjs'));
  assert.equal(require.resolve('harnext'), path.join(root, 'index.js'));
  assert.deepEqual(pkg.exports['.'], {
    import: { types: './index.d.mts', default: './index.mjs' },
    require: { types: './index.d.ts', default: './index.js' },
  });
  assert.equal(pkg.main, 'index.js');
  assert.equal(pkg.types, 'index.d.ts');
});

test('ESM and CJS expose the same Agent class, tool, jsonSchema and builtinTools', () => {
  assert.equal(typeof esm.Agent, 'function');
  assert.equal(esm.Agent, cjs.Agent);
  assert.equal(esm.tool, cjs.tool);
  assert.equal(esm.jsonSchema, cjs.jsonSchema);
  assert.equal(esm.builtinTools, cjs.builtinTools);
  assert.ok(esm.builtinTools.includes('bash'));
  // Every name of the CJS module is an ESM export, with the same value, and nothing else.
  assert.deepEqual(Object.keys(esm).sort(), Object.keys(cjs).sort(), 'index.mjs must re-export every name of index.js');
  for (const name of Object.keys(cjs)) assert.equal(esm[name], cjs[name], name);
  assert.equal(esm.default, undefined, 'no default export');
});

test('an agent made through one entry point is an instance of the other one\'s class and runs', async () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'harnext-entry-'));
  try {
    const echo = esm.tool({
      name: 'echo',
      description: 'Echoes its text',
      inputSchema: cjs.jsonSchema({ type: 'object', properties: { text: { type: 'string' } }, required: ['text'] }),
      readOnly: true,
      execute: ({ text }) => `echo: ${text}`,
    });
    const agent = new cjs.Agent({
      model: 'scripted',
      cwd,
      persistSession: false,
      tools: [...esm.builtinTools, echo],
      script: [{ toolCalls: [{ name: 'echo', args: { text: 'hi' } }] }, { text: 'Done.' }],
    });
    assert.ok(agent instanceof esm.Agent);
    const result = await agent.run('say hi');
    assert.equal(result.success, true, JSON.stringify(result.error));
    assert.equal(result.text, 'Done.');
    assert.equal(result.steps[0].output, 'echo: hi');
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
});

test('index.mjs has no top-level await: require() of it works where Node can require ESM', { skip: !process.features?.require_module && 'this Node cannot require() ES modules' }, () => {
  const r = spawnSync(process.execPath, ['--no-warnings', '-e', `const m = require(${JSON.stringify(path.join(root, 'index.mjs'))}); if (m.Agent !== require(${JSON.stringify(path.join(root, 'index.js'))}).Agent) process.exit(3)`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('the published file list has every file the manifest points at', () => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const files = new Set(JSON.parse(r.stdout)[0].files.map((f) => f.path));
  const referenced = [pkg.main, pkg.types, ...Object.values(pkg.bin), './index.mjs', './index.d.mts', './index.d.ts', './index.js', 'native.js'];
  for (const f of referenced) assert.ok(files.has(f.replace(/^\.\//, '')), `${f} is not in the package`);
  assert.ok(![...files].some((f) => f.endsWith('.node')), 'the addon ships in the per-platform packages, not the main one');
  assert.ok(![...files].some((f) => f.startsWith('__test__/') || f.startsWith('src/') || f.startsWith('examples/')));
});

test('the per-platform packages follow napi-rs: one per target, named <name>-<platform>, each an optional dependency', () => {
  const abi = {
    'x86_64-unknown-linux-gnu': ['linux-x64-gnu', 'linux', 'x64', 'glibc'],
    'aarch64-unknown-linux-gnu': ['linux-arm64-gnu', 'linux', 'arm64', 'glibc'],
    'x86_64-unknown-linux-musl': ['linux-x64-musl', 'linux', 'x64', 'musl'],
    'x86_64-apple-darwin': ['darwin-x64', 'darwin', 'x64'],
    'aarch64-apple-darwin': ['darwin-arm64', 'darwin', 'arm64'],
    'x86_64-pc-windows-msvc': ['win32-x64-msvc', 'win32', 'x64'],
  };
  const expected = {};
  for (const target of pkg.napi.targets) {
    const [suffix, os_, cpu, libc] = abi[target];
    const name = `${pkg.name}-${suffix}`;
    expected[name] = pkg.version;
    const m = JSON.parse(fs.readFileSync(path.join(root, 'npm', suffix, 'package.json'), 'utf8'));
    assert.equal(m.name, name);
    assert.equal(m.version, pkg.version, `${name} version`);
    assert.equal(m.main, `${pkg.napi.binaryName}.${suffix}.node`);
    assert.deepEqual(m.files, [m.main]);
    assert.deepEqual(m.os, [os_]);
    assert.deepEqual(m.cpu, [cpu]);
    assert.deepEqual(m.libc, libc ? [libc] : undefined);
    assert.equal(m.license, pkg.license);
  }
  assert.deepEqual(pkg.optionalDependencies, expected);
  // package-lock.json lists them (as optional), so `npm ci` accepts the manifest.
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
  assert.deepEqual(lock.packages[''].optionalDependencies, expected);
  for (const name of Object.keys(expected)) assert.equal(lock.packages[`node_modules/${name}`]?.optional, true, name);
});

function tsc(project) {
  const bin = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [bin, '-p', path.join(here, 'types', 'entry', project)], { encoding: 'utf8' });
  assert.equal(r.status, 0, `tsc -p ${project} failed:\n${r.stdout}${r.stderr}`);
}

test('tsc --strict: an ESM (.mts) and a CJS (.cts) consumer under moduleResolution nodenext, same types from both', () => {
  tsc('tsconfig.json');
});

test('tsc --strict: an ESM consumer under moduleResolution bundler', () => {
  tsc('tsconfig.bundler.json');
});
