// The baseline: a minimal hand-written Node loop over fetch + SSE doing what harnext's
// run does against the same mock (Anthropic wire format): stream a model response,
// run the tool calls (read a file, or `bash -c`), send the results, repeat.
import { readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import path from 'node:path';

const mode = process.env.MODE;
const url = `${process.env.MOCK_URL}/v1/messages`;
const cwd = process.env.BENCH_CWD || process.cwd();

async function* sse(body) {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (data) yield JSON.parse(data);
    }
  }
}

async function call(messages, onText) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'bench', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-bench', max_tokens: 1024, stream: true, messages }),
  });
  const content = [];
  let stop = null;
  for await (const ev of sse(res.body)) {
    if (ev.type === 'content_block_start') content[ev.index] = { ...ev.content_block, json: '' };
    else if (ev.type === 'content_block_delta') {
      const b = content[ev.index];
      if (ev.delta.type === 'text_delta') { b.text += ev.delta.text; onText?.(ev.delta.text); }
      else if (ev.delta.type === 'input_json_delta') b.json += ev.delta.partial_json;
    } else if (ev.type === 'message_delta') stop = ev.delta.stop_reason;
  }
  for (const b of content) if (b?.type === 'tool_use') { b.input = b.json ? JSON.parse(b.json) : {}; delete b.json; }
  return { content: content.filter(Boolean).map(({ json, ...b }) => b), stop };
}

const bash = (command) => new Promise((resolve) => execFile('bash', ['-c', command], { cwd }, (err, stdout, stderr) => resolve(stdout + stderr)));

async function loop(task) {
  const messages = [{ role: 'user', content: task }];
  let steps = 0;
  for (;;) {
    const { content } = await call(messages);
    messages.push({ role: 'assistant', content });
    const uses = content.filter((b) => b.type === 'tool_use');
    if (!uses.length) return steps;
    const results = [];
    for (const u of uses) {
      const output = u.name === 'bash' ? await bash(u.input.command) : readFileSync(path.resolve(cwd, u.input.path), 'utf8');
      results.push({ type: 'tool_result', tool_use_id: u.id, content: output });
      steps++;
    }
    messages.push({ role: 'user', content: results });
  }
}

if (mode === 'cold') {
  await call([{ role: 'user', content: 'hi' }]);
  console.log(JSON.stringify({ ok: true }));
} else if (mode === 'steps') {
  const steps = await loop('go');
  console.log(JSON.stringify({ ok: true, steps, maxRssKb: process.resourceUsage().maxRSS }));
} else if (mode === 'stream') {
  let n = 0;
  const t0 = performance.now();
  await call([{ role: 'user', content: 'go' }], () => { n++; });
  const ms = performance.now() - t0;
  console.log(JSON.stringify({ chunks: n, ms, perSec: (n / ms) * 1000 }));
} else if (mode === 'cancel') {
  // The same `sleep 30` call, aborted 50 ms in: the time from the abort to the loop's end.
  const { content } = await call([{ role: 'user', content: 'sleep' }]);
  const use = content.find((b) => b.type === 'tool_use');
  const ac = new AbortController();
  let t0 = 0;
  setTimeout(() => { t0 = performance.now(); ac.abort(); }, 50);
  const cancelled = await new Promise((resolve) => {
    execFile('bash', ['-c', use.input.command], { cwd, signal: ac.signal }, (err) => resolve(err?.name === 'AbortError'));
  });
  console.log(JSON.stringify({ ok: cancelled, ms: performance.now() - t0 }));
} else {
  throw new Error(`unknown MODE ${mode}`);
}
