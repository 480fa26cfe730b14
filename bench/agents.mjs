// Heavy concurrency: 1,000 agents in one Node process, each doing about 20 tool steps
// (`read_file`) against the mock, which answers like a model: each of the 13 SSE frames of
// a turn after a random 150–300 ms, so a turn takes about 2.9 s (a real model's tool-call
// turn takes 2–5 s: time to the first token, then the call's tokens) and the agents drift
// apart as real ones do. 1,000 agents then make about 340 requests a second.
// `BENCH_FRAME_MS_MIN` and `BENCH_FRAME_MS_SPREAD` change the pacing (30 and 80 make a turn
// about 0.9 s: 1,100 requests a second, more than two cores serve for the harness and the
// mock together, so per-step overhead becomes queueing).
// The mock hands out 20,000 tool turns and then 1,000 final answers from one queue, so an
// agent does 20 steps give or take a few; every run must succeed.
// Per-step overhead is the gap, for one agent, between the end of a response and the
// arrival of its next request (the harness's own work plus any queueing behind other
// agents); its p50 and p99 over all steps are reported, with the memory per agent.
import { writeFileSync } from 'node:fs';
import { runNode, percentile, stats, cpuMs } from './common.mjs';

export async function measureAgents({ mock, cwd, agents = 1000, steps = 20, runs = 1 }) {
  const out = [];
  for (let r = 0; r < runs; r++) {
    await mock.reset();
    await mock.recordBodies(false);
    let seed = 12345 + r;
    const rand = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
    const script = [{ turn: { text: 'warm' } }];
    for (let i = 0; i < agents * steps; i++) script.push({ turn: { toolCalls: [{ name: 'read_file', args: { path: 'file.txt' } }] }, chunkDelayMs: Number(process.env.BENCH_FRAME_MS_MIN || 150) + Math.floor(rand() * Number(process.env.BENCH_FRAME_MS_SPREAD || 150)) });
    script.push({ turn: { text: 'done' }, times: agents });
    await mock.push(script);
    const mockCpu0 = cpuMs(mock.pid);
    const res = await runNode('agents-run.mjs', { MOCK_URL: mock.url, BENCH_CWD: cwd, AGENTS: String(agents) }, ['--expose-gc']);
    res.mockCpuMs = cpuMs(mock.pid) - mockCpu0;
    const requests = await mock.requests();
    // Gaps per agent, from its path prefix.
    const byAgent = new Map();
    for (const q of requests) {
      const m = /^\/(a\d+)\//.exec(q.path);
      if (!m) continue;
      if (!byAgent.has(m[1])) byAgent.set(m[1], []);
      byAgent.get(m[1]).push(q);
    }
    const gaps = [];
    const timeline = [];
    for (const qs of byAgent.values()) {
      qs.sort((a, b) => a.receivedAtUs - b.receivedAtUs);
      for (let i = 1; i < qs.length; i++) {
        gaps.push((qs[i].receivedAtUs - qs[i - 1].finishedAtUs) / 1000);
        if (process.env.BENCH_GAPS_FILE) timeline.push([qs[i - 1].finishedAtUs, (qs[i].receivedAtUs - qs[i - 1].finishedAtUs) / 1000]);
      }
    }
    if (process.env.BENCH_GAPS_FILE) writeFileSync(process.env.BENCH_GAPS_FILE, JSON.stringify(timeline));
    out.push({ ...res, agentsSeen: byAgent.size, gaps: gaps.length, p50: percentile(gaps, 50), p99: percentile(gaps, 99), max: Math.max(...gaps) });
    await mock.reset();
  }
  const pick = (k) => stats(out.map((o) => o[k]));
  return { runs: out, p50: pick('p50'), p99: pick('p99'), maxRss: pick('maxRss'), peak: pick('peak'), idlePerAgent: stats(out.map((o) => (o.idle - o.base) / agents)), runningPerAgent: stats(out.map((o) => (o.peak - o.idle) / agents)) };
}
