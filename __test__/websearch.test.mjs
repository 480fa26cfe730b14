// Issue 18, the providers' server-side web search from Node: an agent with `webSearch`
// against the mock speaking Anthropic's wire format (a search, its results and a cited
// reply as raw SSE): the tool in the request, the `web_search` and `citation` events,
// the searches counted and priced, the blocks sent back exactly on the next request;
// the option checked (typos, providers without a search, per run).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent } from '../index.js';
import { startMock } from './helpers/mock.mjs';

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock.close(); });

const cwd = () => mkdtempSync(path.join(tmpdir(), 'harnext-websearch-'));
const sse = (events) => ({ sse: events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join('') });

const search = { type: 'server_tool_use', id: 'srvtoolu_01', name: 'web_search', input: { query: 'node 24 release' } };
const results = {
  type: 'web_search_tool_result', tool_use_id: 'srvtoolu_01', content: [
    { type: 'web_search_result', url: 'https://nodejs.org/en/blog/release/v24.0.0', title: 'Node.js 24.0.0', encrypted_content: 'EqgfCioIARgBIiQ-opaque==', page_age: '3 days ago' },
    { type: 'web_search_result', url: 'https://example.com/node', title: 'Node news', encrypted_content: 'Eo8B-opaque' },
  ],
};
const citation = { type: 'web_search_result_location', url: 'https://nodejs.org/en/blog/release/v24.0.0', title: 'Node.js 24.0.0', encrypted_index: 'Eo8BCioIAhgB', cited_text: 'Node.js 24 is now available!' };
const cited = { type: 'text', text: 'Node 24 is out.', citations: [citation] };

const searchTurn = sse([
  { type: 'message_start', message: { usage: { input_tokens: 1000, output_tokens: 1 } } },
  { type: 'content_block_start', index: 0, content_block: { ...search, input: {} } },
  { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{"query": "node' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: ' 24 release"}' } },
  { type: 'content_block_stop', index: 0 },
  { type: 'content_block_start', index: 1, content_block: results },
  { type: 'content_block_stop', index: 1 },
  { type: 'content_block_start', index: 2, content_block: { type: 'text', text: '' } },
  { type: 'content_block_delta', index: 2, delta: { type: 'citations_delta', citation } },
  { type: 'content_block_delta', index: 2, delta: { type: 'text_delta', text: 'Node 24 is out.' } },
  { type: 'content_block_stop', index: 2 },
  { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 40, server_tool_use: { web_search_requests: 1 } } },
  { type: 'message_stop' },
]);
const textTurn = (text) => sse([
  { type: 'message_start', message: { usage: { input_tokens: 10, output_tokens: 1 } } },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text } },
  { type: 'content_block_stop', index: 0 },
  { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } },
  { type: 'message_stop' },
]);

const agentWith = (webSearch) => new Agent({
  model: 'anthropic/claude-sonnet-4-5', baseURL: mock.url, apiKey: 'sk-test-websearch', cwd: cwd(), persistSession: false, webSearch,
});

test('a search and a cited reply become typed events, the searches are priced, and the blocks go back exactly', async () => {
  await mock.reset();
  await mock.push(searchTurn, textTurn('Yesterday.'));
  const agent = agentWith({ maxUses: 2, allowedDomains: ['nodejs.org', 'example.com'], userLocation: { country: 'US' } });
  const events = [];
  let result;
  for await (const e of agent.stream('What is new in Node?')) {
    events.push(e);
    if (e.type === 'run_end') result = e.result;
  }
  assert.ok(result.success, JSON.stringify(result.error));
  assert.equal(result.text, 'Node 24 is out.');
  const searches = events.filter((e) => e.type === 'web_search');
  assert.deepEqual(searches.map((e) => [e.id, e.status, e.query]), [
    ['srvtoolu_01', 'searching', 'node 24 release'],
    ['srvtoolu_01', 'completed', 'node 24 release'],
  ]);
  assert.deepEqual(searches[0].results, []);
  assert.deepEqual(searches[1].results.map((r) => [r.url, r.title, r.pageAge]), [
    ['https://nodejs.org/en/blog/release/v24.0.0', 'Node.js 24.0.0', '3 days ago'],
    ['https://example.com/node', 'Node news', undefined],
  ]);
  const citations = events.filter((e) => e.type === 'citation');
  assert.deepEqual(citations.map(({ url, title, citedText }) => ({ url, title, citedText })), [
    { url: citation.url, title: 'Node.js 24.0.0', citedText: 'Node.js 24 is now available!' },
  ]);
  // The citation comes before the text it supports; the search before both.
  const order = events.map((e) => e.type).filter((t) => ['web_search', 'citation', 'text'].includes(t));
  assert.deepEqual(order, ['web_search', 'web_search', 'citation', 'text']);
  // One search: counted, and $0.01 in the cost on top of the tokens.
  assert.equal(result.usage.webSearchRequests, 1);
  const usage = events.find((e) => e.type === 'usage');
  assert.equal(usage.webSearchRequests, 1);
  const tokens = (1000 * 3 + 40 * 15) / 1e6;
  assert.ok(Math.abs(result.costUsd - (tokens + 0.01)) < 1e-9, String(result.costUsd));

  const [first] = await mock.requests();
  assert.deepEqual(first.body.tools.at(-1), {
    type: 'web_search_20250305', name: 'web_search', max_uses: 2,
    allowed_domains: ['nodejs.org', 'example.com'], user_location: { type: 'approximate', country: 'US' },
  });

  // The next run of the session sends the assistant's blocks back as the provider sent them.
  const again = await agent.run('When?', { sessionId: result.sessionId });
  assert.ok(again.success, JSON.stringify(again.error));
  const second = (await mock.requests())[1].body;
  assert.equal(second.messages[1].role, 'assistant');
  // Every field and value as received, encrypted ones included (JSON key order aside).
  assert.deepEqual(second.messages[1].content, [search, results, cited]);
  assert.deepEqual(second.messages[2].content, [{ type: 'text', text: 'When?', cache_control: { type: 'ephemeral' } }]);
});

test('a run can turn the search off; without the option there is no search tool', async () => {
  await mock.reset();
  await mock.push(textTurn('a'), textTurn('b'));
  const r = await agentWith(true).run('hi', { webSearch: false });
  assert.ok(r.success, JSON.stringify(r.error));
  const r2 = await agentWith(undefined).run('hi');
  assert.ok(r2.success);
  for (const req of await mock.requests()) {
    assert.ok(!req.body.tools.some((t) => t.type === 'web_search_20250305'), JSON.stringify(req.body.tools));
  }
  assert.equal(r.usage.webSearchRequests, undefined);
});

test('webSearch option: typos are did-you-mean errors, what the provider cannot do is refused', async () => {
  assert.throws(() => agentWith({ maxUse: 2 }), /invalid option `webSearch`: unknown field "maxUse": did you mean `maxUses`\?/);
  assert.throws(() => agentWith({ max_uses: 2 }), /unknown field "max_uses": did you mean `maxUses`\?/);
  assert.throws(() => agentWith({ userLocation: { contry: 'US' } }), /userLocation: unknown field "contry": did you mean `country`\?/);
  assert.throws(() => agentWith({ allowedDomains: ['a.com'], blockedDomains: ['b.com'] }), /invalid option `webSearch`: allowed domains and blocked domains cannot be given together/);
  assert.throws(() => agentWith('yes'), /invalid option `webSearch`: expected true, false or an object \{ maxUses\?/);
  assert.throws(() => new Agent({ model: 'scripted', script: [], webSearch: true }), /invalid option `webSearch`: the `scripted` provider has no server-side web search/);
  assert.throws(() => new Agent({ model: 'openai-chat/llama3.1', baseURL: mock.url, apiKey: 'k', webSearch: true }), /the `openai-chat` provider \(Chat Completions\) has no server-side web search tool/);
  assert.throws(() => new Agent({ model: 'openai/gpt-5', baseURL: mock.url, apiKey: 'k', webSearch: { blockedDomains: ['x.com'] } }), /OpenAI's web search cannot block domains/);
  const agent = agentWith(undefined);
  await assert.rejects(agent.run('hi', { webSerch: true }), /did you mean `webSearch`\?/);
  await assert.rejects(agent.run('hi', { webSearch: { maxUses: 0 } }), /invalid option `webSearch`: maxUses: expected an integer >= 1, got 0/);
  const scripted = new Agent({ model: 'scripted', script: [{ text: 'x' }], persistSession: false });
  await assert.rejects(scripted.run('hi', { webSearch: true }), /invalid option `webSearch`: the `scripted` provider has no server-side web search/);
});

test('a traced run: the model call that searched carries harnext.web_search.requests', async (t) => {
  const { trace } = await import('@opentelemetry/api');
  const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const exporter = new InMemorySpanExporter();
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  t.after(() => trace.disable());
  await mock.reset();
  await mock.push(searchTurn);
  const r = await agentWith(true).run('What is new in Node?');
  assert.ok(r.success, JSON.stringify(r.error));
  const chats = exporter.getFinishedSpans().filter((s) => s.name.startsWith('chat '));
  assert.deepEqual(chats.map((s) => s.attributes['harnext.web_search.requests']), [1]);
});

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'harnext.mjs');

test('the CLI: --web-search turns it on, the search is a tool line, cited pages are listed under the reply', async () => {
  await mock.reset();
  await mock.push(searchTurn);
  const dir = cwd();
  const env = { ...process.env, ANTHROPIC_API_KEY: 'sk-test-cli', ANTHROPIC_BASE_URL: mock.url, HARNEXT_SESSION_DIR: path.join(dir, '.s'), NO_COLOR: '1' };
  delete env.HARNEXT_MODEL;
  const r = spawnSync(process.execPath, [CLI, '--web-search', '-m', 'anthropic/claude-sonnet-4-5', 'What is new in Node?'], { cwd: dir, env, encoding: 'utf8', input: '' });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /⏺ web search\(node 24 release\)\n\s+⎿ 2 results: nodejs\.org, example\.com\n/);
  assert.match(r.stdout, /Node 24 is out\.\n+Sources:\n  \[1\] Node\.js 24\.0\.0 · https:\/\/nodejs\.org\/en\/blog\/release\/v24\.0\.0\n/);
  const [req] = await mock.requests();
  assert.deepEqual(req.body.tools.at(-1), { type: 'web_search_20250305', name: 'web_search' });
  // On the scripted model the option is refused, naming it.
  const file = path.join(dir, 'turns.json');
  writeFileSync(file, JSON.stringify([{ text: 'hi' }]));
  const refused = spawnSync(process.execPath, [CLI, '--web-search', '--script', file, 'hi'], { cwd: dir, env, encoding: 'utf8', input: '' });
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr + refused.stdout, /webSearch.*the `scripted` provider has no server-side web search/);
});
