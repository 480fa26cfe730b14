// `npm run bench`: harnext against a bare Node fetch + SSE loop, both talking to the same
// mock provider (release build, 127.0.0.1, answering instantly in the Anthropic wire
// format). Each figure is the median of several runs in fresh processes, with min and max,
// next to the baseline measured in the same run, and their ratio.
import { mkdtempSync, mkdirSync, writeFileSync, existsSync, statSync, rmSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startMock, runNode, stats, stepGaps, root } from './common.mjs';
import { measureBigTrees } from './bigtree.mjs';
import { measureAgents as measureManyAgents } from './agents.mjs';

const RUNS = Number(process.env.BENCH_RUNS || 5);
const base = mkdtempSync(path.join(tmpdir(), 'harnext-bench-'));
const cwd = path.join(base, 'one');
mkdirSync(cwd);
// Sessions of the benchmark's runs stay in its temporary directory.
process.env.HARNEXT_SESSION_DIR = path.join(base, 'sessions');
const notes = [];
writeFileSync(path.join(cwd, 'file.txt'), 'line of text for the read_file step\n'.repeat(60));
const mock = await startMock();
const env = { MOCK_URL: mock.url, BENCH_CWD: cwd };
const rows = [];

function fmt(s, unit, digits = 2) {
  const f = (x) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(digits));
  return `${f(s.median)} ${unit} [${f(s.min)}–${f(s.max)}]`;
}
function row(metric, ours, base, unit, target, better) {
  const ratio = ours.median / base.median;
  const ok = better === 'lower' ? ratio <= target : ratio >= target;
  rows.push({ metric, ours: fmt(ours, unit), base: fmt(base, unit), ratio: ratio.toFixed(2), target: `${better === 'lower' ? '≤' : '≥'} ${target}`, ok: ok ? 'yes' : 'NO' });
}

function stepsScript(n, kind) {
  const call = kind === 'bash' ? { name: 'bash', args: { command: 'echo hi' } } : { name: 'read_file', args: { path: 'file.txt' } };
  return [{ turn: { toolCalls: [call] }, times: n }, { turn: { text: 'done' } }];
}

async function measureSteps(script, n, kind, extraEnv = {}) {
  const gaps = [];
  const rss = [];
  for (let r = 0; r < RUNS; r++) {
    await mock.reset();
    await mock.push(stepsScript(n, kind));
    const out = await runNode(script, { ...env, ...extraEnv, MODE: 'steps' });
    if (out.steps !== n) throw new Error(`${script}: ${out.steps} steps, expected ${n}`);
    gaps.push(stats(stepGaps(await mock.requests())).median / 1000);
    rss.push(out.maxRssKb / 1024);
  }
  return { gap: stats(gaps), rss: stats(rss) };
}

// The bare loop runs `bash -c` as it is, so harnext's `bash` steps are measured with
// `sandbox: "off"` against it (the same work); what the default sandbox adds to a
// `bash` step is a row of its own, against harnext without it.
for (const n of [10, 50]) {
  for (const kind of ['read_file', 'bash']) {
    const ours = await measureSteps('harnext-run.mjs', n, kind, kind === 'bash' ? { BENCH_SANDBOX: 'off' } : {});
    const base = await measureSteps('baseline-run.mjs', n, kind);
    row(`per-step cost, ${n} × ${kind === 'bash' ? 'bash `echo hi` (sandbox off)' : 'read_file'}`, ours.gap, base.gap, 'ms', 1.0, 'lower');
    if (kind === 'bash' && n === 10) {
      const boxed = await measureSteps('harnext-run.mjs', n, kind);
      rows.push({ metric: 'per-step cost, 10 × bash `echo hi` in the default sandbox', ours: fmt(boxed.gap, 'ms'), base: `${fmt(ours.gap, 'ms')} (sandbox off)`, ratio: (boxed.gap.median / ours.gap.median).toFixed(2), target: '— (the sandbox\'s cost)', ok: '—' });
    }
    if (n === 50 && kind === 'read_file') {
      const extra = stats([ours.rss.median - base.rss.median]);
      rows.push({ metric: 'peak RSS, 50-step run', ours: fmt(ours.rss, 'MB', 1), base: fmt(base.rss, 'MB', 1), ratio: (ours.rss.median / base.rss.median).toFixed(2), target: '≤ bare Node + 20 MB', ok: extra.median <= 20 ? 'yes' : 'NO' });
    }
  }
}

// Tracing (issue 18): the per-step cost of 50 read_file steps with an OpenTelemetry tracer
// provider registered (spans made for the run, each model call and each tool call, exported
// to memory) against the same steps without one, measured alternately in the same run.
{
  const on = [];
  const off = [];
  for (let r = 0; r < RUNS; r++) {
    for (const [xs, tracing] of [[off, '0'], [on, '1']]) {
      await mock.reset();
      await mock.push(stepsScript(50, 'read_file'));
      const out = await runNode('harnext-run.mjs', { ...env, MODE: 'steps', BENCH_TRACING: tracing });
      if (out.steps !== 50) throw new Error(`tracing: ${out.steps} steps`);
      xs.push(stats(stepGaps(await mock.requests())).median / 1000);
    }
  }
  const a = stats(on);
  const b = stats(off);
  rows.push({ metric: 'per-step cost, 50 × read_file: tracing on (OpenTelemetry SDK provider) vs no provider', ours: fmt(a, 'ms'), base: fmt(b, 'ms'), ratio: (a.median / b.median).toFixed(2), target: '— (the cost of tracing)', ok: '—' });
}

// Parallel tool calls (issue 17): one model turn of 8 read-only calls, run concurrently (the
// default) against the same turn run one by one (`parallelToolCalls: false`), in the same
// run: the gap at the mock between the turn's response and the next request.
{
  const tree = path.join(cwd, 'tree');
  for (let d = 0; d < 20; d++) {
    mkdirSync(path.join(tree, `d${d}`), { recursive: true });
    for (let f = 0; f < 100; f++) {
      writeFileSync(path.join(tree, `d${d}`, `f${f}.txt`), `${'some text without the word\n'.repeat(80)}${f === 50 ? 'needle\n' : ''}`);
    }
  }
  const calls = {
    'grep over 2,000 files': (i) => ({ name: 'grep', args: { pattern: `needle|nomatch${i}`, path: 'tree' } }),
    read_file: () => ({ name: 'read_file', args: { path: 'file.txt' } }),
    'a read-only custom tool waiting 20 ms': (i) => ({ name: 'lookup', args: { key: `k${i}` } }),
  };
  async function measureTurn(kind, parallel) {
    const xs = [];
    for (let r = 0; r < RUNS; r++) {
      await mock.reset();
      await mock.push([{ turn: { toolCalls: Array.from({ length: 8 }, (_, i) => calls[kind](i)) } }, { turn: { text: 'done' } }]);
      const out = await runNode('harnext-run.mjs', { ...env, MODE: 'steps', PARALLEL: parallel ? '1' : '0', LOOKUP: '1' });
      if (out.steps !== 8) throw new Error(`8 reads: ${out.steps} steps`);
      xs.push(stepGaps(await mock.requests())[0] / 1000);
    }
    return stats(xs);
  }
  for (const kind of Object.keys(calls)) {
    const on = await measureTurn(kind, true);
    const off = await measureTurn(kind, false);
    rows.push({ metric: `a turn of 8 reads (${kind}): concurrent vs \`parallelToolCalls: false\``, ours: fmt(on, 'ms'), base: fmt(off, 'ms'), ratio: (on.median / off.median).toFixed(2), target: '≤ 1', ok: on.median <= off.median ? 'yes' : 'NO' });
  }
}

async function measureCold(script) {
  const xs = [];
  for (let r = 0; r < RUNS; r++) {
    await mock.reset();
    await mock.push([{ turn: { text: 'hello' } }]);
    const out = await runNode(script, { ...env, MODE: 'cold' });
    const [req] = await mock.requests();
    xs.push((req.receivedAtUs - out.startedUs) / 1000);
  }
  return stats(xs);
}
row('cold start: process start → first request', await measureCold('harnext-run.mjs'), await measureCold('baseline-run.mjs'), 'ms', 1.0, 'lower');

const words = Array.from({ length: 20000 }, (_, i) => `w${i}`).join(' ');
async function measureStream(script) {
  const xs = [];
  for (let r = 0; r < RUNS; r++) {
    await mock.reset();
    await mock.push([{ turn: { text: words } }]);
    const out = await runNode(script, { ...env, MODE: 'stream' });
    if (out.chunks !== 20000) throw new Error(`${script}: ${out.chunks} chunks`);
    xs.push(out.perSec / 1000);
  }
  return stats(xs);
}
row('stream delivery, 20,000 text chunks', await measureStream('harnext-run.mjs'), await measureStream('baseline-run.mjs'), 'k chunks/s', 1.0, 'higher');

async function measureCancel(script) {
  const xs = [];
  for (let r = 0; r < RUNS; r++) {
    await mock.reset();
    await mock.push([{ turn: { toolCalls: [{ name: 'bash', args: { command: 'exec sleep 30' } }] } }]);
    const out = await runNode(script, { ...env, MODE: 'cancel' });
    if (!out.ok) throw new Error(`${script}: the run was not cancelled`);
    xs.push(out.ms);
  }
  return stats(xs);
}
{
  const ours = await measureCancel('harnext-run.mjs');
  const base = await measureCancel('baseline-run.mjs');
  rows.push({ metric: 'cancel: abort → run_end during `sleep 30`', ours: fmt(ours, 'ms'), base: fmt(base, 'ms'), ratio: (ours.median / base.median).toFixed(2), target: '< 100 ms (the contract)', ok: ours.max < 100 ? 'yes' : 'NO' });
}

async function measureAgents(count) {
  const xs = [];
  for (let r = 0; r < RUNS; r++) {
    await mock.reset();
    await mock.push([{ turn: { toolCalls: [{ name: 'read_file', args: { path: 'file.txt' } }] }, times: count }, { turn: { text: 'done' }, times: count }]);
    const out = await runNode('harnext-run.mjs', { ...env, MODE: 'concurrent', AGENTS: String(count) });
    if (!out.ok) throw new Error('a concurrent run failed');
    xs.push(out.maxRssKb / 1024);
  }
  return stats(xs);
}
const one = await measureAgents(1);
const hundred = await measureAgents(100);
rows.push({ metric: 'peak RSS, 100 concurrent agents vs 1', ours: fmt(hundred, 'MB', 1), base: fmt(one, 'MB', 1), ratio: (hundred.median / one.median).toFixed(2), target: '≤ one agent + 100 MB', ok: hundred.median - one.median <= 100 ? 'yes' : 'NO' });

// Big repositories: each step against the same step in a 10-file workspace.
if (process.env.BENCH_SKIP_BIG !== '1') {
  await measureBigTrees({ mock, runs: RUNS, base, rows, notes });
}

// A thousand agents in one process.
if (process.env.BENCH_SKIP_AGENTS !== '1') {
  const agents = Number(process.env.BENCH_AGENTS || 1000);
  const a = await measureManyAgents({ mock, cwd, agents, steps: 20, runs: Number(process.env.BENCH_AGENT_RUNS || 1) });
  const r0 = a.runs[0];
  const ms = (s) => `${s.median.toFixed(2)} ms${s.n > 1 ? ` [${s.min.toFixed(2)}–${s.max.toFixed(2)}]` : ''}`;
  const mb = (s) => `${(s.median / 1e6).toFixed(1)} MB${s.n > 1 ? ` [${(s.min / 1e6).toFixed(1)}–${(s.max / 1e6).toFixed(1)}]` : ''}`;
  const errors = a.runs.reduce((n, r) => n + r.errors, 0);
  rows.push({ metric: `${agents.toLocaleString('en')} agents × ~20 steps: failed runs`, ours: `${errors} of ${agents * a.runs.length}`, base: `${r0.toolSteps.toLocaleString('en')} tool steps (${r0.minSteps}–${r0.maxSteps} per agent)`, ratio: '—', target: '0', ok: errors === 0 ? 'yes' : 'NO' });
  rows.push({ metric: `${agents.toLocaleString('en')} agents: per-step overhead p99`, ours: ms(a.p99), base: `p50 ${ms(a.p50)}`, ratio: '—', target: '≤ 2 ms', ok: a.p99.median <= 2 ? 'yes' : 'NO' });
  rows.push({ metric: `${agents.toLocaleString('en')} agents: peak RSS of the process`, ours: mb(a.maxRss), base: `idle agents ${(a.idlePerAgent.median / 1024).toFixed(1)} KB each, running ${(a.runningPerAgent.median / 1024).toFixed(0)} KB each`, ratio: '—', target: '< 300 MB', ok: a.maxRss.median < 300e6 ? 'yes' : 'NO' });
  notes.push(`${agents} agents: harness CPU ${(r0.cpuMs / r0.toolSteps).toFixed(2)} ms per step, mock CPU ${(r0.mockCpuMs / r0.toolSteps).toFixed(2)} ms per step, ${(r0.wallMs / 1000).toFixed(1)} s in all.`);
}
mock.close();

// The release addon's size.
{
  const addon = ['harnext.linux-x64-gnu.node'].map((f) => path.join(root, f)).find((f) => existsSync(f));
  if (addon) {
    const bytes = statSync(addon).size;
    rows.push({ metric: 'release addon size (linux-x64-gnu)', ours: `${(bytes / 1e6).toFixed(2)} MB (${(bytes / 2 ** 20).toFixed(2)} MiB)`, base: '14.07 MB (13.42 MiB) before issue 20', ratio: (bytes / 14071048).toFixed(2), target: '≤ 10 MB', ok: bytes <= 10e6 ? 'yes' : 'NO' });
  }
}

const tools = path.join(root, 'bench', 'tools', 'run.sh');
let toolsTable = '';
if (existsSync(tools) && process.env.BENCH_SKIP_TOOLS !== '1') {
  const r = spawnSync('bash', [tools], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  toolsTable = r.stdout;
}

console.log(`\nharnext benchmark · ${RUNS} runs per figure · ${cpus().length} × ${cpus()[0].model} · ${(totalmem() / 2 ** 30).toFixed(0)} GiB · Node ${process.version}\n`);
console.log('| metric | harnext: median [min–max] | baseline: median [min–max] | ratio | target | met |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.metric} | ${r.ours} | ${r.base} | ${r.ratio} | ${r.target} | ${r.ok} |`);
console.log('\nBaselines: a minimal Node fetch + SSE loop doing the same steps (per-step, cold start, stream, RSS); the 100-agent row compares against one agent in the same harness; big-tree rows against the same step in a 10-file workspace, in the same run.');
for (const n of notes) console.log(`\n${n}`);
if (toolsTable) console.log(`\n${toolsTable}`);
if (!process.env.BENCH_TREE_DIR) rmSync(base, { recursive: true, force: true });
