// Tests never write sessions into the real home: agents without `sessionDir` (and child
// processes, which inherit the environment) keep them in a temporary directory of this
// test process. Imported first by helpers/mock.mjs and by the tests that do not use it.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

process.env.HARNEXT_SESSION_DIR = mkdtempSync(path.join(tmpdir(), 'harnext-test-sessions-'));
