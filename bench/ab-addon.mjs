// A/B of two addon builds in one run (issue 20, addon size): `node bench/ab-addon.mjs A.node B.node`
// copies each in turn over harnext.linux-x64-gnu.node and measures, interleaved (A, B, A, B, …)
// so both see the same machine load: cold start to the first request, stream delivery of
// 20,000 chunks, the per-step cost of 50 read_file steps, and the 50-step run's peak RSS.
// ROUNDS (default 6) rounds. The original addon file is put back at the end.
import { copyFileSync, mkdtempSync, mkdirSync, writeFileSync, existsSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startMock, runNode, stats, stepGaps, root } from './common.mjs';

const [a, b] = process.argv.slice(2);
if (!a || !b) throw new Error('usage: node bench/ab-addon.mjs A.node B.node');
const ROUNDS = Number(process.env.ROUNDS || 6);
const target = path.join(root, 'harnext.linux-x64-gnu.node');
const saved = `${target}.ab-saved`;
if (existsSync(target)) renameSync(target, saved);
const base = mkdtempSync(path.join(tmpdir(), 'harnext-ab-'));
const cwd = path.join(base, 'one');
mkdirSync(cwd);
process.env.HARNEXT_SESSION_DIR = path.join(base, 'sessions');
writeFileSync(path.join(cwd, 'file.txt'), 'line of text for the read_file step\n'.repeat(60));
const mock = await startMock();
const env = { MOCK_URL: mock.url, BENCH_CWD: cwd };
const words = Array.from({ length: 20000 }, (_, i) => `w${i}`).join(' ');
const res = { A: { cold: [], stream: [], step: [], rss: [] }, B: { cold: [], stream: [], step: [], rss: [] } };
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const [k, file] of r % 2 ? [['B', b], ['A', a]] : [['A', a], ['B', b]]) {
      copyFileSync(file, target);
      await mock.reset();
      await mock.push([{ turn: { text: 'hello' } }]);
      const c = await runNode('harnext-run.mjs', { ...env, MODE: 'cold' });
      res[k].cold.push(((await mock.requests())[0].receivedAtUs - c.startedUs) / 1000);
      await mock.reset();
      await mock.push([{ turn: { text: words } }]);
      res[k].stream.push((await runNode('harnext-run.mjs', { ...env, MODE: 'stream' })).perSec / 1000);
      await mock.reset();
      await mock.push([{ turn: { toolCalls: [{ name: 'read_file', args: { path: 'file.txt' } }] }, times: 50 }, { turn: { text: 'done' } }]);
      const s = await runNode('harnext-run.mjs', { ...env, MODE: 'steps' });
      res[k].step.push(stats(stepGaps(await mock.requests())).median / 1000);
      res[k].rss.push(s.maxRssKb / 1024);
    }
  }
} finally {
  mock.close();
  if (existsSync(saved)) renameSync(saved, target);
  rmSync(base, { recursive: true, force: true });
}
const f = (s, d = 2) => `${s.median.toFixed(d)} [${s.min.toFixed(d)}–${s.max.toFixed(d)}]`;
console.log(`| metric (${ROUNDS} interleaved runs each) | A: ${path.basename(a)} | B: ${path.basename(b)} | B/A |`);
console.log('|---|---|---|---|');
for (const [m, key, unit] of [['cold start → first request', 'cold', 'ms'], ['stream delivery, 20,000 chunks', 'stream', 'k chunks/s'], ['per-step cost, 50 × read_file', 'step', 'ms'], ['peak RSS, 50-step run', 'rss', 'MB']]) {
  const sa = stats(res.A[key]);
  const sb = stats(res.B[key]);
  console.log(`| ${m} | ${f(sa)} ${unit} | ${f(sb)} ${unit} | ${(sb.median / sa.median).toFixed(2)} |`);
}
