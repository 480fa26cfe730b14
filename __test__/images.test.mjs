// Issue 18, images from Node: image parts of an input message (path, Buffer, base64
// string, URL) reach the mock provider in each wire format; read_file of a PNG comes back
// as an image; hostile parts are refused with a message naming the part.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent } from '../index.js';
import { startMock } from './helpers/mock.mjs';

// A 1x1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
const B64 = PNG.toString('base64');
const DATA_URL = `data:image/png;base64,${B64}`;

let mock;
before(async () => { mock = await startMock(); });
after(async () => { await mock.close(); });

function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'harnext-img-'));
  writeFileSync(path.join(dir, 'shot.png'), PNG);
  return dir;
}

const agent = (model, cwd) => new Agent({ model, baseURL: mock.url, apiKey: 'sk-test-images', cwd, persistSession: false });

const input = [{ role: 'user', content: [
  { type: 'text', text: 'What is in these?' },
  { type: 'image', path: 'shot.png' },
  { type: 'image', data: PNG, mediaType: 'image/png' },
  { type: 'image', data: B64, mediaType: 'image/png' },
  { type: 'image', url: 'https://example.com/a.png' },
] }];

async function lastBody() {
  const reqs = await mock.requests();
  return reqs[reqs.length - 1].body;
}

test('image parts reach Anthropic, Responses and Chat in their own wire forms', async () => {
  const cwd = workspace();
  const png = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: B64 } };

  await mock.push({ turn: { text: 'A pixel.' } });
  let r = await agent('anthropic/claude-test', cwd).run(input);
  assert.ok(r.success, JSON.stringify(r.error));
  let body = await lastBody();
  assert.deepEqual(body.messages[0].content.slice(0, 4), [{ type: 'text', text: 'What is in these?' }, png, png, png]);
  assert.deepEqual(body.messages[0].content[4].source, { type: 'url', url: 'https://example.com/a.png' });

  await mock.push({ turn: { text: 'A pixel.' } });
  r = await agent('openai/gpt-test', cwd).run(input);
  assert.ok(r.success, JSON.stringify(r.error));
  body = await lastBody();
  const img = (u) => ({ type: 'input_image', image_url: u, detail: 'auto' });
  assert.deepEqual(body.input[0].content, [{ type: 'input_text', text: 'What is in these?' }, img(DATA_URL), img(DATA_URL), img(DATA_URL), img('https://example.com/a.png')]);

  await mock.push({ turn: { text: 'A pixel.' } });
  r = await agent('openai-chat/llama-test', cwd).run(input);
  assert.ok(r.success, JSON.stringify(r.error));
  body = await lastBody();
  const user = body.messages.find((m) => m.role === 'user');
  const part = (u) => ({ type: 'image_url', image_url: { url: u } });
  assert.deepEqual(user.content, [{ type: 'text', text: 'What is in these?' }, part(DATA_URL), part(DATA_URL), part(DATA_URL), part('https://example.com/a.png')]);
});

test('read_file of a PNG is an image in the tool result, and the session keeps it', async () => {
  const cwd = workspace();
  await mock.push({ turn: { toolCalls: [{ id: 'call_png', name: 'read_file', args: { path: 'shot.png' } }] } }, { turn: { text: 'One pixel.' } });
  const a = new Agent({ model: 'anthropic/claude-test', baseURL: mock.url, apiKey: 'sk-test-images', cwd, sessionDir: path.join(cwd, '.s') });
  const r = await a.run('look at shot.png');
  assert.ok(r.success, JSON.stringify(r.error));
  assert.match(r.steps[0].output, /`shot\.png` is an image \(image\/png/);
  const body = await lastBody();
  const result = body.messages.flatMap((m) => (Array.isArray(m.content) ? m.content : [])).find((b) => b.type === 'tool_result');
  assert.deepEqual(result.content[1], { type: 'image', source: { type: 'base64', media_type: 'image/png', data: B64 } });
  const session = await Agent.loadSession(r.sessionId, { sessionDir: path.join(cwd, '.s') });
  const image = session.messages.flatMap((m) => m.content).find((b) => b.type === 'image');
  assert.deepEqual(image, { type: 'image', source: { type: 'base64', mediaType: 'image/png', data: B64 }, toolUseId: 'call_png' });
});

test('hostile image parts are refused, naming the part', async () => {
  const cwd = workspace();
  writeFileSync(path.join(cwd, 'fake.png'), 'text named .png');
  const a = agent('anthropic/claude-test', cwd);
  const refuse = async (part, pattern) => {
    await assert.rejects(a.run([{ role: 'user', content: [{ type: 'text', text: 'x' }, part] }]), (e) => {
      assert.match(e.message, pattern);
      return true;
    });
  };
  await refuse({ type: 'image', path: '../../etc/passwd' }, /input\[0\]\.content\[1\].*outside the workspace/);
  await refuse({ type: 'image', path: 'fake.png' }, /not a PNG, JPEG, GIF or WebP/);
  await refuse({ type: 'image', data: 'not base64!!', mediaType: 'image/png' }, /invalid base64/);
  await refuse({ type: 'image', data: PNG, mediaType: 'image/tiff' }, /unsupported media type "image\/tiff"/);
  await refuse({ type: 'image', data: PNG }, /needs its `mediaType`/);
  await refuse({ type: 'image', data: Buffer.alloc(4_000_000, 1), mediaType: 'image/png' }, /over the 3932160-byte cap/);
  await refuse({ type: 'image', url: 'https://bob:hunter2@example.com/a.png' }, /credentials/);
  await refuse({ type: 'image', url: 'https://example.com/a.png', path: 'shot.png' }, /exactly one of/);
  await refuse({ type: 'video', url: 'https://example.com/a.mp4' }, /expected "text" or "image"/);
  await assert.rejects(a.run([{ role: 'user', content: [{ type: 'image', url: 'https://u:hunter2@example.com/' }] }]), (e) => !e.message.includes('hunter2'));
});
