// One harnext run against the mock, in its own process. Env: MOCK_URL, MODE
// (steps | stream | cold | concurrent | cancel), AGENTS. Prints one JSON line.
import { Agent, tool, jsonSchema, builtinTools } from '../index.js';

const mode = process.env.MODE;
// BENCH_TRACING=1: an OpenTelemetry tracer provider is registered (the SDK's, exporting to
// memory), so every run makes its spans (issue 18). Unset: @opentelemetry/api is installed
// but no provider is, the case of an application that does not trace.
if (process.env.BENCH_TRACING === '1') {
  const { trace } = await import('@opentelemetry/api');
  const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())] }));
}
const cwd = process.env.BENCH_CWD || process.cwd();
// PARALLEL=0: the calls of a turn run one by one (`parallelToolCalls: false`). LOOKUP=1 adds
// `lookup`, a read-only custom tool that waits 20 ms like a network lookup.
const parallelToolCalls = process.env.PARALLEL !== '0';
const lookup = tool({
  name: 'lookup',
  description: 'Looks a key up (20 ms)',
  readOnly: true,
  inputSchema: jsonSchema({ type: 'object', properties: { key: { type: 'string' } } }),
  execute: async ({ key }) => new Promise((resolve) => setTimeout(() => resolve(`value of ${key}`), 20)),
});
const tools = process.env.LOOKUP === '1' ? [...builtinTools, lookup] : undefined;
// BENCH_SANDBOX: the agent's `sandbox` option (unset: the default, "workspace-write").
const sandbox = process.env.BENCH_SANDBOX ? { sandbox: process.env.BENCH_SANDBOX } : {};
const make = () => new Agent({ model: 'anthropic/claude-bench', baseURL: process.env.MOCK_URL, apiKey: 'bench', cwd, maxSteps: 200, parallelToolCalls, tools, ...sandbox });

if (mode === 'cold') {
  const r = await make().run('hi');
  console.log(JSON.stringify({ ok: r.success }));
} else if (mode === 'steps') {
  const r = await make().run('go');
  console.log(JSON.stringify({ ok: r.success, steps: r.steps.length, maxRssKb: process.resourceUsage().maxRSS }));
} else if (mode === 'changes') {
  const r = await make().run('go');
  console.log(JSON.stringify({ ok: r.success, filesChanged: r.filesChanged }));
} else if (mode === 'stream') {
  let n = 0;
  let first = 0;
  const t0 = performance.now();
  for await (const e of make().stream('go')) {
    if (e.type === 'text') {
      if (!n) first = performance.now();
      n++;
    }
  }
  const ms = performance.now() - t0;
  console.log(JSON.stringify({ chunks: n, ms, perSec: (n / ms) * 1000, firstMs: first - t0 }));
} else if (mode === 'cancel') {
  // Abort 50 ms into a `sleep 30` tool call; the time from the abort to run_end.
  const ac = new AbortController();
  let t0 = 0;
  let ms = 0;
  let cancelled = false;
  for await (const e of make().stream('sleep', { signal: ac.signal })) {
    if (e.type === 'tool_call') setTimeout(() => { t0 = performance.now(); ac.abort(); }, 50);
    if (e.type === 'run_end') {
      ms = performance.now() - t0;
      cancelled = e.result.cancelled;
    }
  }
  console.log(JSON.stringify({ ok: cancelled, ms }));
} else if (mode === 'concurrent') {
  const agents = Number(process.env.AGENTS);
  const results = await Promise.all(Array.from({ length: agents }, () => make().run('go')));
  console.log(JSON.stringify({ ok: results.every((r) => r.success), maxRssKb: process.resourceUsage().maxRSS }));
} else {
  throw new Error(`unknown MODE ${mode}`);
}
