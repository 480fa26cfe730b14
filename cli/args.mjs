// The harnext command line's arguments: the flags, the help text, their parsing and
// checks (a usage error names the flag and what was expected), and the model to run.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { HOOK_EVENTS } from './hooks.mjs';

export const VERSION = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

const PERMISSION_MODES = ['auto', 'manual', 'accept-edits', 'read-only'];
const SANDBOX_MODES = ['workspace-write', 'read-only', 'off'];
const DEFAULT_ANTHROPIC_MODEL = 'anthropic/claude-sonnet-4-5';
const DEFAULT_OPENAI_MODEL = 'openai/gpt-5';

const OPTIONS = {
  model: { type: 'string', short: 'm' },
  'permission-mode': { type: 'string' },
  sandbox: { type: 'string' },
  network: { type: 'boolean' },
  'web-search': { type: 'boolean' },
  'max-steps': { type: 'string' },
  'max-cost-usd': { type: 'string' },
  'max-tokens': { type: 'string' },
  'max-duration-ms': { type: 'string' },
  json: { type: 'boolean' },
  resume: { type: 'string' },
  cwd: { type: 'string' },
  'system-prompt-append': { type: 'string' },
  script: { type: 'string' },
  hook: { type: 'string', multiple: true },
  'session-store': { type: 'string' },
  rewind: { type: 'string' },
  'to-message': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
};

export const HELP = `harnext ${VERSION}: run a coding agent on a task in the current directory

Usage:
  harnext [options] <task...>
  harnext --resume <sessionId> [options] <task...>
  harnext --rewind <sessionId> --to-message <n> [options] [task...]

The agent reads, searches, edits and runs code in the workspace with its built-in tools,
and you watch it work: the reply as it streams, each tool call with its arguments and
result, and the tokens and cost at the end.

Options:
  -m, --model <provider/model>   the model: anthropic/<model>, openai/<model> (Responses
                                 API) or openai-chat/<model> (any Chat Completions server).
                                 Default: $HARNEXT_MODEL, else ${DEFAULT_ANTHROPIC_MODEL}
                                 when ANTHROPIC_API_KEY is set, else ${DEFAULT_OPENAI_MODEL}
                                 when OPENAI_API_KEY is set
      --permission-mode <mode>   auto: never ask (the default); manual: ask before every
                                 tool that writes or runs commands; accept-edits: file edits
                                 allowed, commands ask; read-only: writing tools and
                                 commands are refused
      --sandbox <mode>           how commands (bash, MCP servers) are confined by the OS:
                                 workspace-write: writes only in the workspace and temp,
                                 no credential folders (the default); read-only: no
                                 writes; off: no sandbox
      --network                  let sandboxed commands open network connections
                                 (default: no network)
      --web-search               let the model search the web with its provider's own
                                 server-side search (anthropic/... and openai/... models;
                                 it runs on the provider's servers, whatever --network
                                 says; $10 per 1,000 searches)
      --max-steps <n>            model calls before the run stops (default 50)
      --max-cost-usd <usd>       stop the run after the step that brings its cost to this
                                 many US dollars (list prices; a model whose price is known)
      --max-tokens <n>           stop the run after the step that brings its tokens (input,
                                 cached and output, every model call) to n
      --max-duration-ms <ms>     stop the run after the step that ends this many
                                 milliseconds after it started
      --json                     print the run's events on stdout, one JSON object per line,
                                 and nothing else (prompts and errors go to stderr)
      --resume <sessionId>       continue a saved session with a new task; its model and
                                 workspace are reused unless --model or --cwd is given
      --cwd <dir>                the workspace (default: the current directory)
      --system-prompt-append <text>
                                 text added to the end of the built-in system prompt
      --script <file.json>       replay a scripted model instead of calling a provider:
                                 a JSON array of turns such as
                                 [{"text": "Listing.", "toolCalls": [{"name": "bash",
                                 "args": {"command": "ls"}}]}, {"text": "Done."}]
                                 (offline: for tests and demos)
      --hook <event>=<command>   run a shell command as a hook (repeatable, in order):
                                 event is preToolUse, postToolUse, userPromptSubmit, stop,
                                 preCompact, sessionStart or sessionEnd. The command gets
                                 the event as JSON on stdin and may answer JSON on stdout
                                 (see the README's Hooks); exit status 2 denies the call
                                 (preToolUse) or blocks the run (userPromptSubmit), with
                                 stderr as the reason
      --session-store <url>      keep the session in PostgreSQL (postgres://...) or Redis
                                 (redis://...) instead of ~/.harnext/sessions; default
                                 $HARNEXT_SESSION_STORE
      --rewind <sessionId> --to-message <n>
                                 put the session and the workspace's files back to the
                                 point before message n (an index into the session's
                                 messages, as --json's events and loadSession() count
                                 them): files its later steps changed are restored,
                                 created ones removed, and the conversation is cut there.
                                 Prints what was restored and what could not be; with a
                                 task, the session then continues with it
  -h, --help                     show this help
      --version                  print the version

Approvals (manual and accept-edits modes): each request is asked as
  Allow bash(npm test)? [y]es / [n]o / [a]lways
and answered by a line on stdin: y allows the call, n denies it, a allows that tool for
the rest of the session. stdin does not have to be a terminal, so answers can be piped:
  printf 'y\\nn\\n' | harnext --permission-mode manual "..."
A command that runs in the sandbox without network is asked as
  Allow bash(npm test) in the sandbox? [y]es / [n]o / [a]lways / yes [w]ith network
where w allows that one call with network access.
A request still open when stdin ends is denied.

Environment:
  ANTHROPIC_API_KEY, OPENAI_API_KEY  provider keys (ANTHROPIC_BASE_URL, OPENAI_BASE_URL
                                     point at another endpoint)
  HARNEXT_MODEL                      the default model
  HARNEXT_SESSION_DIR                where sessions are kept (default ~/.harnext/sessions)
  NO_COLOR                           no colors (none either when stdout is not a terminal)

Ctrl-C cancels the run: running commands are stopped and the session keeps what was done.
A second Ctrl-C exits at once.

Exit status: 0 the run succeeded, 1 it failed, 2 usage error, 130 cancelled.
`;

/** A mistake in the command line: exit status 2, with the message. */
export class UsageError extends Error {}

function editDistance(a, b) {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

function suggestFlag(flag) {
  const name = flag.replace(/^-+/, '').split('=')[0];
  let best = null;
  for (const known of Object.keys(OPTIONS)) {
    const d = name.length >= 3 && known.startsWith(name) ? 0 : editDistance(name, known);
    if (d <= (known.length >= 5 ? 2 : 1) && (!best || d < best.d)) best = { known, d };
  }
  return best ? ` (did you mean --${best.known}?)` : '';
}

export function parseCli(argv) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    const msg = String(e.message);
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'([^']+)'/.exec(msg)?.[1] ?? msg;
      throw new UsageError(`unknown option ${flag}${suggestFlag(flag)}`);
    }
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const flag = /--[a-z-]+/.exec(msg)?.[0];
      if (/argument missing/.test(msg)) throw new UsageError(`option ${flag} needs a value`);
      if (/ambiguous/.test(msg)) {
        throw new UsageError(`option ${flag} needs a value (write ${flag}=<value> for a value that starts with "-")`);
      }
      if (/does not take an argument/.test(msg)) throw new UsageError(`option ${flag} takes no value`);
    }
    throw new UsageError(msg);
  }
  const { values, positionals } = parsed;
  const opts = {
    help: Boolean(values.help),
    version: Boolean(values.version),
    json: Boolean(values.json),
    model: values.model,
    permissionMode: values['permission-mode'],
    sandbox: values.sandbox,
    network: values.network === undefined ? undefined : Boolean(values.network),
    webSearch: Boolean(values['web-search']),
    maxSteps: undefined,
    maxCostUsd: undefined,
    maxTokens: undefined,
    maxDurationMs: undefined,
    resume: values.resume,
    cwd: values.cwd,
    systemPromptAppend: values['system-prompt-append'],
    script: values.script,
    hooks: [],
    sessionStore: values['session-store'],
    rewind: values.rewind,
    toMessage: undefined,
    task: positionals.join(' ').trim(),
  };
  if (opts.help || opts.version) return opts;

  if (opts.permissionMode !== undefined && !PERMISSION_MODES.includes(opts.permissionMode)) {
    throw new UsageError(
      `invalid --permission-mode ${JSON.stringify(opts.permissionMode)}: expected one of ${PERMISSION_MODES.join(', ')}`,
    );
  }
  if (opts.sandbox !== undefined && !SANDBOX_MODES.includes(opts.sandbox)) {
    throw new UsageError(`invalid --sandbox ${JSON.stringify(opts.sandbox)}: expected one of ${SANDBOX_MODES.join(', ')}`);
  }
  if (values['max-steps'] !== undefined) {
    const s = values['max-steps'];
    if (!/^\d+$/.test(s) || Number(s) < 1 || !Number.isSafeInteger(Number(s))) {
      throw new UsageError(`invalid --max-steps ${JSON.stringify(s)}: expected an integer >= 1`);
    }
    opts.maxSteps = Number(s);
  }
  if (values['max-cost-usd'] !== undefined) {
    const s = values['max-cost-usd'].trim();
    const usd = Number(s);
    if (!/^(\d+(\.\d*)?|\.\d+)$/.test(s) || !Number.isFinite(usd) || usd <= 0) {
      throw new UsageError(`invalid --max-cost-usd ${JSON.stringify(values['max-cost-usd'])}: expected a number of US dollars > 0, such as 0.5`);
    }
    opts.maxCostUsd = usd;
  }
  for (const [flag, key, example] of [['max-tokens', 'maxTokens', '400000'], ['max-duration-ms', 'maxDurationMs', '600000']]) {
    if (values[flag] === undefined) continue;
    const s = values[flag].trim();
    if (!/^\d+$/.test(s) || Number(s) < 1 || !Number.isSafeInteger(Number(s))) {
      throw new UsageError(`invalid --${flag} ${JSON.stringify(values[flag])}: expected an integer >= 1, such as ${example}`);
    }
    opts[key] = Number(s);
  }
  for (const spec of values.hook ?? []) {
    const eq = spec.indexOf('=');
    const event = eq < 0 ? spec : spec.slice(0, eq);
    const command = eq < 0 ? '' : spec.slice(eq + 1);
    if (!HOOK_EVENTS.includes(event)) {
      throw new UsageError(`invalid --hook ${JSON.stringify(spec)}: expected <event>=<command> with event one of ${HOOK_EVENTS.join(', ')}`);
    }
    if (!command.trim()) throw new UsageError(`invalid --hook ${JSON.stringify(spec)}: the command is empty`);
    opts.hooks.push({ event, command });
  }
  if (opts.resume !== undefined && !/^sess_[0-9a-z]{10,}$/.test(opts.resume)) {
    throw new UsageError(`invalid --resume ${JSON.stringify(opts.resume)}: a session id looks like sess_k3v9x2m1q8ab`);
  }
  for (const [flag, v] of [['--model', opts.model], ['--cwd', opts.cwd], ['--script', opts.script], ['--session-store', opts.sessionStore]]) {
    if (v !== undefined && v.trim() === '') throw new UsageError(`option ${flag} needs a value`);
  }
  if (opts.script !== undefined && opts.model !== undefined && opts.model !== 'scripted') {
    throw new UsageError('--script replays a scripted model: it cannot be combined with --model');
  }
  // --rewind <sessionId> --to-message <n> [task]
  if (values['to-message'] !== undefined) {
    const s = values['to-message'];
    if (opts.rewind === undefined) throw new UsageError('--to-message goes with --rewind <sessionId>');
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) {
      throw new UsageError(`invalid --to-message ${JSON.stringify(s)}: expected an integer >= 0`);
    }
    opts.toMessage = Number(s);
  }
  if (opts.rewind !== undefined) {
    if (!/^sess_[0-9a-z]{10,}$/.test(opts.rewind)) {
      throw new UsageError(`invalid --rewind ${JSON.stringify(opts.rewind)}: a session id looks like sess_k3v9x2m1q8ab`);
    }
    if (opts.resume !== undefined) throw new UsageError('--rewind continues the session it rewinds: leave out --resume');
    if (opts.toMessage === undefined) throw new UsageError('--rewind needs --to-message <n> (the messages to keep)');
    return opts;
  }
  if (!opts.task) {
    throw new UsageError(opts.resume ? 'missing task: what should the resumed session do next?' : 'missing task');
  }
  return opts;
}

export function readScript(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read --script ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--script ${file} is not valid JSON: ${e.message}`);
  }
  const turns = Array.isArray(value) ? value : value && (value.turns ?? value.script);
  if (!Array.isArray(turns)) {
    throw new UsageError(`--script ${file}: expected a JSON array of turns (or { "turns": [...] })`);
  }
  return turns;
}

/** A model name without a provider gets the provider it obviously belongs to. */
function qualifyModel(model) {
  if (model === 'scripted' || model.includes('/')) return model;
  if (/^claude-/.test(model)) return `anthropic/${model}`;
  if (/^(gpt-|o\d)/.test(model)) return `openai/${model}`;
  return model;
}

export function chooseModel(opts, session, env) {
  if (opts.script !== undefined) return 'scripted';
  if (opts.model) {
    if (opts.model === 'scripted') throw new UsageError('--model scripted needs --script <file.json> (the turns to replay)');
    return qualifyModel(opts.model);
  }
  if (session?.model && session.model !== 'scripted') return session.model;
  if (env.HARNEXT_MODEL && env.HARNEXT_MODEL.trim()) return qualifyModel(env.HARNEXT_MODEL.trim());
  if (env.ANTHROPIC_API_KEY && env.ANTHROPIC_API_KEY.trim()) return DEFAULT_ANTHROPIC_MODEL;
  if (env.OPENAI_API_KEY && env.OPENAI_API_KEY.trim()) return DEFAULT_OPENAI_MODEL;
  throw new UsageError(
    'no model to run: set ANTHROPIC_API_KEY (uses ' +
      DEFAULT_ANTHROPIC_MODEL +
      ') or OPENAI_API_KEY (uses ' +
      DEFAULT_OPENAI_MODEL +
      '), or pick one with --model or HARNEXT_MODEL; --script <file.json> runs offline on a scripted model',
  );
}
