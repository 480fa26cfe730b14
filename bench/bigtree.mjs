// Big-repository scenarios: the same tool steps in a 10-file workspace and in generated
// trees of 100,000 files and 1,000,000 entries (each with a `.gitignore`d node_modules
// and a `.git`), measured alternately in the same run; each step's cost in a big tree as
// a ratio to the same step in the small one. Also checks that `filesChanged` is exact
// after shell commands that create, edit, delete and rename files and directories, and
// write ignored files.
import { mkdirSync, rmSync, writeFileSync, existsSync, statfsSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { runNode, stats, stepGaps, root, host } from './common.mjs';

const STEPS = 20;

/** The 10 tracked files of the small workspace; the big trees hold the same `app/`. */
function appFiles() {
  const ts = (name, extra = '') => {
    let s = `// ${name}.ts\n${extra}`;
    for (let i = 0; i < 60; i++) {
      s += i % 15 === 7 ? `  // TODO: handle case ${i} of ${name}\n` : `export function ${name}${i}(x: number): number { return x + ${i}; }\n`;
    }
    return s;
  };
  return {
    'app/README.md': '# app\n\nA small TypeScript service the benchmark works on.\n',
    'app/package.json': `${JSON.stringify({ name: 'app', version: '1.0.0', type: 'module' }, null, 2)}\n`,
    'app/notes.txt': 'notes\n',
    'app/src/index.ts': ts('index'),
    'app/src/util.ts': ts('util', 'const LIMIT = 1;\n'),
    'app/src/api.ts': ts('api'),
    'app/src/model.ts': ts('model'),
    'app/src/view.ts': ts('view'),
    'app/test/index.test.ts': ts('test'),
  };
}

function writeApp(dir) {
  rmSync(path.join(dir, 'app'), { recursive: true, force: true });
  for (const [rel, text] of Object.entries(appFiles())) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
}

/** The 10-file workspace: `app/` and a `.gitignore`, with a `.git` and an ignored node_modules. */
function smallWorkspace(dir) {
  mkdirSync(path.join(dir, '.git'), { recursive: true });
  writeFileSync(path.join(dir, '.git/HEAD'), 'ref: refs/heads/main\n');
  writeFileSync(path.join(dir, '.gitignore'), 'target/\nnode_modules/\n*.log\n');
  mkdirSync(path.join(dir, 'node_modules/pkg'), { recursive: true });
  writeFileSync(path.join(dir, 'node_modules/pkg/index.js'), 'module.exports = 1;\n');
  writeApp(dir);
}

/** Generates (or reuses) a big tree with `harnext-bench tree`, then writes `app/` into it. */
function bigTree(dir, files, empty) {
  const bin = path.join(root, 'target', host, 'release', 'harnext-bench');
  const out = execFileSync(bin, ['tree', '--dir', dir, '--files', String(files), ...(empty ? ['--empty'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  writeApp(dir);
  return JSON.parse(out.trim().split('\n').at(-1));
}

const KINDS = {
  read_file: () => ({ name: 'read_file', args: { path: 'app/src/api.ts' } }),
  edit_file: (i) => ({ name: 'edit_file', args: i % 2 ? { path: 'app/src/util.ts', old_text: 'const LIMIT = 2;', new_text: 'const LIMIT = 1;' } : { path: 'app/src/util.ts', old_text: 'const LIMIT = 1;', new_text: 'const LIMIT = 2;' } }),
  grep: () => ({ name: 'grep', args: { pattern: 'TODO', path: 'app' } }),
  glob: () => ({ name: 'glob', args: { pattern: '**/*.ts', path: 'app' } }),
  bash: () => ({ name: 'bash', args: { command: 'echo hi' } }),
  'bash (writes a file)': () => ({ name: 'bash', args: { command: 'echo step >> app/notes.txt' } }),
};
const LABEL = {
  read_file: '`read_file`',
  edit_file: '`edit_file`',
  grep: '`grep` in app/',
  glob: '`glob` **/*.ts in app/',
  bash: '`bash` `echo hi`',
  'bash (writes a file)': '`bash` appending to a file',
};

/** The shell commands of the `filesChanged` check, and what they must leave listed. */
const CHANGES = [
  'echo new > app/created.txt',
  'echo more >> app/notes.txt',
  'rm app/src/view.ts',
  'mv app/src/model.ts app/src/model2.ts',
  'mkdir -p app/gen/deep && echo x > app/gen/deep/out.ts && echo y > app/gen/top.ts',
  'mv app/gen app/gen2',
  'echo z >> app/gen2/top.ts',
  'mkdir -p node_modules/pkg && echo x > node_modules/pkg/new.js; echo log > app/debug.log; mkdir -p .git/objects && echo o > .git/objects/o1',
  'touch app/README.md',
  'mv app/test app/tests',
];
const EXPECTED = ['app/README.md', 'app/created.txt', 'app/gen2/deep/out.ts', 'app/gen2/top.ts', 'app/notes.txt', 'app/src/model.ts', 'app/src/model2.ts', 'app/src/view.ts', 'app/test/index.test.ts', 'app/tests/index.test.ts'];

async function stepsRun(mock, dir, kind) {
  await mock.reset();
  await mock.push([...Array.from({ length: STEPS }, (_, i) => ({ turn: { toolCalls: [KINDS[kind](i)] } })), { turn: { text: 'done' } }]);
  const out = await runNode('harnext-run.mjs', { MOCK_URL: mock.url, BENCH_CWD: dir, MODE: 'steps' });
  if (out.steps !== STEPS || !out.ok) throw new Error(`${kind} in ${dir}: ${out.steps} steps, ok ${out.ok}`);
  const gaps = stepGaps(await mock.requests()).map((us) => us / 1000);
  return { median: stats(gaps.slice(1)).median, first: gaps[0] };
}

async function changesRun(mock, dir) {
  writeApp(dir);
  await mock.reset();
  await mock.push([...CHANGES.map((command) => ({ turn: { toolCalls: [{ name: 'bash', args: { command } }] } })), { turn: { text: 'done' } }]);
  const out = await runNode('harnext-run.mjs', { MOCK_URL: mock.url, BENCH_CWD: dir, MODE: 'changes' });
  writeApp(dir);
  rmSync(path.join(dir, 'node_modules/pkg/new.js'), { force: true });
  rmSync(path.join(dir, '.git/objects'), { recursive: true, force: true });
  const got = [...out.filesChanged].sort();
  return { ok: JSON.stringify(got) === JSON.stringify(EXPECTED), got };
}

/** Free bytes on the file system of `dir`. */
function freeBytes(dir) {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

export async function measureBigTrees({ mock, runs, base, rows, notes }) {
  const small = path.join(base, 'small');
  mkdirSync(small, { recursive: true });
  smallWorkspace(small);
  const trees = [{ name: '100k', label: '100,000 files', dir: path.join(base, 'big100k'), files: 100_000, empty: false }];
  // A million entries fit with empty files (the walk costs the same; only inodes and
  // directory blocks take room). Skipped when the disk is short, or with BENCH_SKIP_1M=1.
  const bigDir = process.env.BENCH_TREE_DIR || base;
  if (process.env.BENCH_SKIP_1M !== '1' && freeBytes(process.env.BENCH_TREE_DIR || base) > 1.5e9) {
    trees.push({ name: '1m', label: '1,000,000 entries', dir: path.join(bigDir, 'big1m'), files: 990_000, empty: true });
  } else {
    notes.push('The 1,000,000-entry tree was skipped (BENCH_SKIP_1M=1, or less than 1.5 GB free).');
  }
  for (const t of trees) {
    if (process.env.BENCH_TREE_DIR) t.dir = path.join(process.env.BENCH_TREE_DIR, `big${t.name}`);
    const started = performance.now();
    t.info = bigTree(t.dir, t.files, t.empty);
    console.error(`tree ${t.label}: ${t.info.files} files (${t.info.ignored} ignored) ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }

  // filesChanged: exact in every tree.
  for (const [label, dir] of [['10-file workspace', small], ...trees.map((t) => [t.label, t.dir])]) {
    const { ok, got } = await changesRun(mock, dir);
    rows.push({ metric: `\`filesChanged\` after 10 shell commands, ${label}`, ours: ok ? 'exact' : `WRONG: ${got.join(', ')}`, base: `${EXPECTED.length} files expected`, ratio: '—', target: 'exact', ok: ok ? 'yes' : 'NO' });
  }

  const results = {};
  for (const kind of Object.keys(KINDS)) {
    results[kind] = { small: [], firstSmall: [] };
    for (const t of trees) Object.assign(results[kind], { [t.name]: [], [`first${t.name}`]: [] });
  }
  for (let r = 0; r < runs; r++) {
    for (const kind of Object.keys(KINDS)) {
      const s = await stepsRun(mock, small, kind);
      results[kind].small.push(s.median);
      results[kind].firstSmall.push(s.first);
      for (const t of trees) {
        const b = await stepsRun(mock, t.dir, kind);
        results[kind][t.name].push(b.median);
        results[kind][`first${t.name}`].push(b.first);
      }
    }
    writeApp(small);
    for (const t of trees) writeApp(t.dir);
  }
  const fmt = (s) => `${s.median.toFixed(2)} ms [${s.min.toFixed(2)}–${s.max.toFixed(2)}]`;
  for (const t of trees) {
    for (const kind of Object.keys(KINDS)) {
      const big = stats(results[kind][t.name]);
      const sm = stats(results[kind].small);
      const ratio = big.median / sm.median;
      rows.push({ metric: `${t.label}: per-step cost, ${LABEL[kind]}`, ours: fmt(big), base: fmt(sm), ratio: ratio.toFixed(2), target: '≤ 1.5 × 10-file workspace', ok: ratio <= 1.5 ? 'yes' : 'NO' });
    }
    const first = stats(results.bash[`first${t.name}`]);
    const firstSmall = stats(results.bash.firstSmall);
    rows.push({ metric: `${t.label}: first \`bash\` step of a run (walks the tree, starts watching)`, ours: fmt(first), base: fmt(firstSmall), ratio: (first.median / firstSmall.median).toFixed(2), target: '— (once per run)', ok: '—' });
  }
  return trees;
}
