#!/usr/bin/env node
// harnext: run a coding agent on a task from the terminal.
//
//   npx harnext "Fix the failing test"          # live rendering on a terminal
//   npx harnext --json "..." > events.jsonl     # one JSON event per line
//   npx harnext --help
//
// Dependency-free. The parts: args.mjs (flags, help, checks, the model to run), cost.mjs
// (the engine's costs added up), hooks.mjs (--hook commands), render.mjs (the terminal rendering); here: approvals and the run. The
// library is loaded after the arguments are parsed, so --help and --version work even
// where the native addon cannot load.

import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { HELP, UsageError, VERSION, chooseModel, parseCli, readScript } from './args.mjs';
import { rewindSession } from './rewind.mjs';
import { CostMeter } from './cost.mjs';
import { commandHooks } from './hooks.mjs';
import { Renderer, argsSummary, colorEnabled, flagNames, styles } from './render.mjs';


const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_CANCELLED = 130;

// -----------------------------------------------------------------------------------------
// Approvals: lines read from stdin, terminal or not.

class LineReader {
  constructor(input) {
    this.queue = [];
    this.waiters = [];
    this.ended = false;
    this.rl = readline.createInterface({ input, terminal: false, crlfDelay: Infinity });
    this.rl.on('line', (l) => (this.waiters.length ? this.waiters.shift()(l) : this.queue.push(l)));
    this.rl.on('close', () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w(null);
    });
  }
  /** The next line, or null at end of input or when `signal` aborts. */
  next(signal) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.ended || signal?.aborted) return Promise.resolve(null);
    return new Promise((resolve) => {
      const onLine = (l) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(l);
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(onLine);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(null);
      };
      this.waiters.push(onLine);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  close() {
    this.rl.close();
    if (typeof process.stdin.unref === 'function') process.stdin.unref();
  }
}

async function askPermission({ e, reader, out, signal, echo, c, answered = () => {} }) {
  // A sandboxed command without network can be allowed once with it (an escalation).
  const withNetwork = e.sandboxed && e.sandbox && !e.sandbox.network;
  const question =
    `${c.yellow('?')} Allow ${e.tool}(${argsSummary(e.tool, e.args, 100)})${e.sandboxed ? ' in the sandbox' : ''}? ` +
    `${c.bold('[y]')}es / ${c.bold('[n]')}o / ${c.bold('[a]')}lways${withNetwork ? ` / yes ${c.bold('[w]')}ith network` : ''} `;
  for (;;) {
    out(question);
    const answer = await reader.next(signal);
    if (answer === null) {
      if (signal.aborted) {
        out(`${c.yellow('cancelled')}\n`);
        return null;
      }
      out(`${c.yellow('no answer (end of input): denied')}\n`);
      return { behavior: 'deny', message: 'The user did not answer the permission request.' };
    }
    // A terminal echoes what was typed, Enter included; a pipe does not.
    if (echo) out(`${answer}\n`);
    else answered();
    const a = answer.trim().toLowerCase();
    if (a === 'y' || a === 'yes') return 'allow';
    if (a === 'n' || a === 'no') return 'deny';
    if (a === 'a' || a === 'always') return { behavior: 'allow', remember: true };
    if (withNetwork && (a === 'w' || a === 'with network')) return { behavior: 'allow', escalate: { network: true } };
    out(`${c.dim(`answer y (yes), n (no) or a (always)${withNetwork ? '; w allows this call with network access' : ''}`)}\n`);
  }
}

// -----------------------------------------------------------------------------------------
// Main.

async function main(argv) {
  const stdout = process.stdout;
  const stderr = process.stderr;
  const errStyles = styles(colorEnabled(stderr));
  const fail = (code, message) => {
    stderr.write(`${errStyles.red('harnext:')} ${message}\n`);
    if (code === EXIT_USAGE) stderr.write(`Try 'harnext --help' for more information.\n`);
    return code;
  };

  let opts;
  try {
    opts = parseCli(argv);
  } catch (e) {
    if (e instanceof UsageError) return fail(EXIT_USAGE, e.message);
    throw e;
  }
  if (opts.help) {
    stdout.write(HELP);
    return EXIT_OK;
  }
  if (opts.version) {
    stdout.write(`${VERSION}\n`);
    return EXIT_OK;
  }

  // Ctrl-C (and SIGTERM) before the run starts: exit now.
  const controller = new AbortController();
  let interrupts = 0;
  let runStarted = false;
  let notify = (msg) => stderr.write(`${msg}\n`);
  const onSignal = (signal) => {
    interrupts += 1;
    if (!runStarted || interrupts > 1) {
      if (runStarted) notify('exiting');
      process.exit(signal === 'SIGTERM' ? 143 : EXIT_CANCELLED);
    }
    notify(signal === 'SIGINT' ? 'cancelling the run… (Ctrl-C again to exit now)' : `${signal}: cancelling the run…`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let Agent;
  try {
    ({ Agent } = await import('../index.mjs'));
  } catch (e) {
    return fail(EXIT_FAILED, `cannot load the harnext native addon: ${e.message}`);
  }

  const sessionStore = opts.sessionStore ?? (process.env.HARNEXT_SESSION_STORE || undefined);
  if (opts.rewind) {
    const code = await rewindSession({ opts, Agent, sessionStore, stdout, fail });
    if (code !== EXIT_OK || !opts.task) return code;
    opts.resume = opts.rewind;
  }
  let session = null;
  let script;
  let model;
  let cwd;
  try {
    if (opts.resume && typeof Agent.loadSession === 'function') {
      try {
        session = await Agent.loadSession(opts.resume, sessionStore ? { sessionStore } : undefined);
      } catch (e) {
        throw new UsageError(`cannot resume ${opts.resume}: ${e.message}`);
      }
    }
    if (opts.script !== undefined) script = readScript(opts.script);
    model = chooseModel(opts, session, process.env);
    const sessionCwd = session?.cwd && fs.existsSync(session.cwd) ? session.cwd : undefined;
    cwd = path.resolve(opts.cwd ?? sessionCwd ?? process.cwd());
    let stat;
    try {
      stat = fs.statSync(cwd);
    } catch {
      throw new UsageError(`--cwd ${cwd}: no such directory`);
    }
    if (!stat.isDirectory()) throw new UsageError(`--cwd ${cwd}: not a directory`);
  } catch (e) {
    if (e instanceof UsageError) return fail(EXIT_USAGE, e.message);
    throw e;
  }

  const agentOptions = { model, cwd };
  if (sessionStore) agentOptions.sessionStore = sessionStore;
  if (script) agentOptions.script = script;
  if (opts.permissionMode) agentOptions.permissionMode = opts.permissionMode;
  if (opts.sandbox !== undefined) agentOptions.sandbox = opts.sandbox;
  if (opts.network !== undefined) agentOptions.network = opts.network;
  if (opts.webSearch) agentOptions.webSearch = true;
  if (opts.maxSteps !== undefined) agentOptions.maxSteps = opts.maxSteps;
  for (const key of ['maxCostUsd', 'maxTokens', 'maxDurationMs']) {
    if (opts[key] !== undefined) agentOptions[key] = opts[key];
  }
  if (opts.systemPromptAppend !== undefined) agentOptions.systemPrompt = { append: opts.systemPromptAppend };
  const hooks = commandHooks(opts.hooks, cwd);
  if (hooks) agentOptions.hooks = hooks;

  let agent;
  try {
    agent = new Agent(agentOptions);
  } catch (e) {
    // The engine names its options as the Node API does; here they are flags.
    return fail(EXIT_USAGE, flagNames(e.message));
  }

  const cost = new CostMeter(model);
  const budget = { maxCostUsd: opts.maxCostUsd, maxTokens: opts.maxTokens, maxDurationMs: opts.maxDurationMs };
  const renderer = opts.json ? null : new Renderer({ stdout, version: VERSION, model, cwd, cost, budget, resumed: opts.resume ? { runs: session?.runs } : null });
  const c = renderer ? renderer.c : errStyles;
  if (renderer) notify = (msg) => renderer.line(renderer.c.yellow(msg));

  // A closed stdout (`harnext ... | head`) ends the run quietly.
  stdout.on('error', (err) => {
    if (err.code === 'EPIPE') {
      controller.abort();
      process.exit(EXIT_FAILED);
    }
  });

  // Prompts go where a person sees them: the rendered stream on a terminal, else stderr.
  const promptOut = renderer && stdout.isTTY ? (s) => renderer.write(s) : (s) => stderr.write(s);
  const needsApprovals = opts.permissionMode === 'manual' || opts.permissionMode === 'accept-edits';
  const reader = needsApprovals ? new LineReader(process.stdin) : null;
  const echo = !process.stdin.isTTY;

  let result = null;
  let exitCode = EXIT_FAILED;
  runStarted = true;
  try {
    const runOptions = { signal: controller.signal };
    if (opts.resume) runOptions.sessionId = opts.resume;
    for await (const e of agent.stream(opts.task, runOptions)) {
      if (renderer) renderer.render(e);
      else stdout.write(`${JSON.stringify(e)}\n`);
      if (e.type === 'usage') cost.add(e);
      // A subagent's model calls are the run's too.
      if (e.type === 'subagent' && e.event?.type === 'usage') cost.add(e.event);
      if (e.type === 'permission_request' && typeof e.respond === 'function') {
        const decision = await askPermission({
          e,
          reader,
          out: promptOut,
          signal: controller.signal,
          echo,
          c,
          answered: () => {
            if (renderer && stdout.isTTY) renderer.atLineStart = true;
          },
        });
        if (decision !== null && !controller.signal.aborted) e.respond(decision);
        if (renderer) {
          // The call's time counts from the answer, not from the question.
          const call = renderer.calls.get(e.id);
          if (call) call.start = Date.now();
          renderer.toolSpinner();
        }
      }
      if (e.type === 'run_end') result = e.result;
    }
    if (!result) fail(EXIT_FAILED, 'the run ended without a result');
  } catch (e) {
    renderer?.close();
    const message = e?.message ?? String(e);
    fail(EXIT_FAILED, /unknown session|no session/i.test(message) && opts.resume ? `cannot resume ${opts.resume}: ${message}` : message);
  } finally {
    renderer?.close();
    reader?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // From now on Ctrl-C exits at once.
    process.on('SIGINT', () => process.exit(EXIT_CANCELLED));
  }
  if (result) exitCode = result.success ? EXIT_OK : result.cancelled ? EXIT_CANCELLED : EXIT_FAILED;
  if (agent && typeof agent.close === 'function') await agent.close().catch(() => {});
  return exitCode;
}

// Run when executed (directly, through npx or a bin link); importing the module runs
// nothing.
const self = fileURLToPath(import.meta.url);
let invoked = false;
try {
  invoked = Boolean(process.argv[1]) && fs.realpathSync(process.argv[1]) === fs.realpathSync(self);
} catch {
  invoked = false;
}
if (invoked) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // Give stdout a moment to drain, then go even if something holds the loop open.
      setTimeout(() => process.exit(code), 1000).unref();
    },
    (err) => {
      process.stderr.write(`harnext: internal error: ${err?.stack ?? err}\n`);
      process.exit(EXIT_FAILED);
    },
  );
}
