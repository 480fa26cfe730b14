// Shared by the benchmark scripts: the mock provider (the same release binary for
// harnext and the baselines), child processes, statistics.
import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const host = execFileSync('rustc', ['-vV'], { encoding: 'utf8' }).match(/^host: (.+)$/m)[1];

export async function startMock() {
  const bin = path.join(root, 'target', host, process.env.BENCH_PROFILE === 'debug' ? 'debug' : 'release', 'harnext-mock');
  const child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', (l) => { rl.close(); resolve(l); });
    child.once('error', reject);
  });
  const { url } = JSON.parse(line);
  return {
    url,
    pid: child.pid,
    async push(responses) {
      const r = await fetch(`${url}/_mock/responses`, { method: 'POST', body: JSON.stringify(responses) });
      if (!r.ok) throw new Error(await r.text());
    },
    async requests() { return (await fetch(`${url}/_mock/requests`)).json(); },
    async reset() { await fetch(`${url}/_mock/reset`, { method: 'POST' }); },
    async recordBodies(on) {
      const r = await fetch(`${url}/_mock/options`, { method: 'POST', body: JSON.stringify({ recordBodies: on }) });
      if (!r.ok) throw new Error(await r.text());
    },
    close() { child.stdin.end(); },
  };
}

/** Runs `node script` with `env`; resolves with its last stdout line parsed as JSON. */
export function runNode(script, env, args = []) {
  return new Promise((resolve, reject) => {
    const startedUs = Math.round((performance.timeOrigin + performance.now()) * 1000);
    const child = spawn(process.execPath, [...args, path.join(root, 'bench', script)], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${script} exited with ${code}: ${out}`));
      const last = out.trim().split('\n').at(-1);
      try { resolve({ startedUs, ...JSON.parse(last) }); } catch (e) { reject(new Error(`${script}: bad output ${out}`)); }
    });
  });
}

export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s.at(-1), n: s.length };
}

export const median = (xs) => stats(xs).median;

/** CPU time (user + system) a process has used so far, in ms (Linux). */
export function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** The p-th percentile (0–100) of `xs`, nearest rank. */
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** Gaps (µs) between the end of response i and the arrival of request i+1, at the mock. */
export function stepGaps(requests) {
  const gaps = [];
  for (let i = 1; i < requests.length; i++) gaps.push(requests[i].receivedAtUs - requests[i - 1].finishedAtUs);
  return gaps;
}
