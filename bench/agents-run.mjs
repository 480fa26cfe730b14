// Many agents in one process (the child of bench/agents.mjs). Env: MOCK_URL, BENCH_CWD,
// AGENTS. Each agent has its own base-URL prefix (`/a<i>`), so the mock's request log
// tells the agents apart. Prints one JSON line: errors, steps per agent, memory.
import { readFileSync } from 'node:fs';
import { Agent } from '../index.js';

const agentsCount = Number(process.env.AGENTS);
const cwd = process.env.BENCH_CWD;
const url = process.env.MOCK_URL;
const rss = () => process.memoryUsage.rss();
const gc = () => globalThis.gc?.();
const make = (prefix) => new Agent({ model: 'anthropic/claude-bench', baseURL: `${url}/${prefix}`, apiKey: 'bench', cwd, maxSteps: 200 });

// One run first: the runtime, the HTTP client and the code are loaded before measuring.
const warm = await make('warm').run('warm up');
if (!warm.success) throw new Error(`warm-up run failed: ${JSON.stringify(warm.error)}`);
gc();
const base = rss();
const agents = Array.from({ length: agentsCount }, (_, i) => make(`a${i}`));
gc();
const idle = rss();
let peak = idle;
let threads = 0;
const timer = setInterval(() => {
  peak = Math.max(peak, rss());
  const m = /Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
  if (m) threads = Math.max(threads, Number(m[1]));
}, 20);
const started = performance.now();
const cpu0 = process.cpuUsage();
let memAtPeak = null;
const memTimer = process.env.BENCH_MEM_DETAIL ? setInterval(() => { const m = process.memoryUsage(); if (!memAtPeak || m.rss > memAtPeak.rss) memAtPeak = m; }, 50) : null;
const results = await Promise.all(agents.map((a, i) => a.run(`task ${i}`)));
if (memTimer) { clearInterval(memTimer); console.error(JSON.stringify(memAtPeak)); }
const wallMs = performance.now() - started;
const cpu = process.cpuUsage(cpu0);
clearInterval(timer);
peak = Math.max(peak, rss());
const failed = results.filter((r) => !r.success);
const steps = results.map((r) => r.steps.length);
console.log(JSON.stringify({
  errors: failed.length,
  firstError: failed[0]?.error ?? null,
  toolSteps: steps.reduce((a, b) => a + b, 0),
  minSteps: Math.min(...steps),
  maxSteps: Math.max(...steps),
  base,
  idle,
  peak,
  maxRss: process.resourceUsage().maxRSS * 1024,
  wallMs,
  cpuMs: (cpu.user + cpu.system) / 1000,
  threads,
}));
