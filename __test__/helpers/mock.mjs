// Starts the harnext-mock binary (the mock provider: Anthropic, OpenAI Responses and Chat wire formats, real SSE on 127.0.0.1)
// and drives it over its control endpoints. The binary exits when our stdin pipe
// closes, so a crashed test never leaves it behind.
import './session-dir.mjs';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function mockBinary() {
  const host = execFileSync('rustc', ['-vV'], { encoding: 'utf8' }).match(/^host: (.+)$/m)[1];
  const bin = path.join(root, 'target', host, 'debug', 'harnext-mock');
  if (!existsSync(bin)) {
    throw new Error(`${bin} is missing: build it with \`npm run build:mock\``);
  }
  return bin;
}

export async function startMock() {
  const child = spawn(mockBinary(), [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', (l) => { rl.close(); resolve(l); });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`harnext-mock exited with ${code}`)));
  });
  const { url } = JSON.parse(line);
  return {
    url,
    /** Queues scripted responses (see crates/harnext-mock). */
    async push(...responses) {
      const r = await fetch(`${url}/_mock/responses`, { method: 'POST', body: JSON.stringify(responses) });
      if (!r.ok) throw new Error(`mock rejected the script: ${await r.text()}`);
    },
    /** Forgets the queued responses and the recorded requests. */
    async reset() {
      await fetch(`${url}/_mock/reset`, { method: 'POST' });
    },
    async requests() {
      return (await fetch(`${url}/_mock/requests`)).json();
    },
    async close() {
      child.stdin.end();
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}
