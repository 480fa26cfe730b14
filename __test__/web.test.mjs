// Issue 18, web_fetch from Node: a page served on 127.0.0.1 fetched as Markdown (the
// scripted model calls the tool), refused without network and for a blocked domain,
// asked in the manual mode; the webFetch option checked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent } from '../index.js';

let server;
let base;
before(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/page') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body><h2>Changelog</h2><ul><li>fixed <code>parse()</code></li></ul><script>x()</script></body></html>');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
});
after(() => server.close());

const cwd = () => mkdtempSync(path.join(tmpdir(), 'harnext-web-'));
const fetchTurns = (url) => [{ toolCalls: [{ id: 'w', name: 'web_fetch', args: { url } }] }, { text: 'ok' }];

test('a local page is fetched as Markdown when the network is on and the host allowed', async () => {
  const agent = new Agent({ model: 'scripted', script: fetchTurns(`${base}/page`), cwd: cwd(), persistSession: false, network: true, webFetch: { allowedDomains: ['127.0.0.1'] } });
  const r = await agent.run('fetch');
  assert.equal(r.steps[0].status, 'ok', r.steps[0].output);
  assert.match(r.steps[0].output, /^Fetched http:\/\/127\.0\.0\.1:\d+\/page \(HTTP 200, text\/html\)\n\n## Changelog\n\n\* +fixed `parse\(\)`$/);
});

test('refused without network, for a blocked domain and for a private address; asked in the manual mode', async () => {
  const off = await new Agent({ model: 'scripted', script: fetchTurns(`${base}/page`), cwd: cwd(), persistSession: false }).run('fetch');
  assert.equal(off.steps[0].status, 'error');
  assert.match(off.steps[0].output, /web_fetch is off: this agent has no network access\. The user can allow it with the agent's `network` option set to true/);
  const blocked = await new Agent({ model: 'scripted', script: fetchTurns(`${base}/page`), cwd: cwd(), persistSession: false, network: true, webFetch: { blockedDomains: ['127.0.0.1'] } }).run('fetch');
  assert.match(blocked.steps[0].output, /127\.0\.0\.1 is blocked by the user's settings/);
  const priv = await new Agent({ model: 'scripted', script: fetchTurns(`${base}/page`), cwd: cwd(), persistSession: false, network: true }).run('fetch');
  assert.match(priv.steps[0].output, /127\.0\.0\.1 is a private network address .*`webFetch\.allowedDomains` in Node/);
  const asked = [];
  const manual = new Agent({
    model: 'scripted', script: fetchTurns(`${base}/page`), cwd: cwd(), persistSession: false, network: true,
    webFetch: { allowedDomains: ['127.0.0.1'] }, permissionMode: 'manual',
    onPermissionRequest: (req) => { asked.push(req.tool); return { behavior: 'deny', message: 'not today' }; },
  });
  const denied = await manual.run('fetch');
  assert.deepEqual(asked, ['web_fetch']);
  assert.equal(denied.steps[0].status, 'denied');
});

test('webFetch option: a misspelt field is a did-you-mean error, a bad domain names itself', () => {
  assert.throws(() => new Agent({ model: 'scripted', script: [], webFetch: { allowDomains: ['a.com'] } }), /invalid option `webFetch`: unknown field "allowDomains": did you mean `allowedDomains`\?/);
  assert.throws(() => new Agent({ model: 'scripted', script: [], webFetch: { blockedDomains: ['https://a.com/x'] } }), /blockedDomains: "https:\/\/a\.com\/x" is not a domain/);
  assert.throws(() => new Agent({ model: 'scripted', script: [], webfetch: {} }), /did you mean `webFetch`\?/);
});
