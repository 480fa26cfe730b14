#!/usr/bin/env node
// harnext: run a coding agent on a task from the terminal.
//
//   npx harnext "Fix the failing test"          # live rendering on a terminal
//   npx harnext --json "..." > events.jsonl     # one JSON event per line
//   npx harnext --help
//
// Dependency-free: a few ANSI codes, only on a terminal and never with NO_COLOR. The library
// is loaded after the arguments are parsed, so --help and --version work even where the
// native addon cannot load.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const PKG = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_CANCELLED = 130;

const PERMISSION_MODES = ['auto', 'manual', 'accept-edits', 'read-only'];
const DEFAULT_ANTHROPIC_MODEL = 'anthropic/claude-sonnet-4-5';
const DEFAULT_OPENAI_MODEL = 'openai/gpt-5';

const OPTIONS = {
  model: { type: 'string', short: 'm' },
  'permission-mode': { type: 'string' },
  'max-steps': { type: 'string' },
  json: { type: 'boolean' },
  resume: { type: 'string' },
  cwd: { type: 'string' },
  'system-prompt-append': { type: 'string' },
  script: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
};

const HELP = `harnext ${PKG.version}: run a coding agent on a task in the current directory

Usage:
  harnext [options] <task...>
  harnext --resume <sessionId> [options] <task...>

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
      --max-steps <n>            model calls before the run stops (default 50)
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
  -h, --help                     show this help
      --version                  print the version

Approvals (manual and accept-edits modes): each request is asked as
  Allow bash(npm test)? [y]es / [n]o / [a]lways
and answered by a line on stdin: y allows the call, n denies it, a allows that tool for
the rest of the session. stdin does not have to be a terminal, so answers can be piped:
  printf 'y\\nn\\n' | harnext --permission-mode manual "..."
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

class UsageError extends Error {}

// -----------------------------------------------------------------------------------------
// Arguments.

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

function parseCli(argv) {
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
    maxSteps: undefined,
    resume: values.resume,
    cwd: values.cwd,
    systemPromptAppend: values['system-prompt-append'],
    script: values.script,
    task: positionals.join(' ').trim(),
  };
  if (opts.help || opts.version) return opts;

  if (opts.permissionMode !== undefined && !PERMISSION_MODES.includes(opts.permissionMode)) {
    throw new UsageError(
      `invalid --permission-mode ${JSON.stringify(opts.permissionMode)}: expected one of ${PERMISSION_MODES.join(', ')}`,
    );
  }
  if (values['max-steps'] !== undefined) {
    const s = values['max-steps'];
    if (!/^\d+$/.test(s) || Number(s) < 1 || !Number.isSafeInteger(Number(s))) {
      throw new UsageError(`invalid --max-steps ${JSON.stringify(s)}: expected an integer >= 1`);
    }
    opts.maxSteps = Number(s);
  }
  if (opts.resume !== undefined && !/^sess_[0-9a-z]{10,}$/.test(opts.resume)) {
    throw new UsageError(`invalid --resume ${JSON.stringify(opts.resume)}: a session id looks like sess_k3v9x2m1q8ab`);
  }
  for (const [flag, v] of [['--model', opts.model], ['--cwd', opts.cwd], ['--script', opts.script]]) {
    if (v !== undefined && v.trim() === '') throw new UsageError(`option ${flag} needs a value`);
  }
  if (opts.script !== undefined && opts.model !== undefined && opts.model !== 'scripted') {
    throw new UsageError('--script replays a scripted model: it cannot be combined with --model');
  }
  if (!opts.task) {
    throw new UsageError(opts.resume ? 'missing task: what should the resumed session do next?' : 'missing task');
  }
  return opts;
}

function readScript(file) {
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

function chooseModel(opts, session, env) {
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

// -----------------------------------------------------------------------------------------
// Prices: USD per million tokens, list prices of models whose prices we are sure of.
// Anthropic: [input, output, cache read, cache write (5-minute)]; OpenAI: [input, output,
// cached input]. Output includes reasoning for both. Anything else: "cost unknown".

const ANTHROPIC_PRICES = {
  'claude-opus-4-5': [5, 25, 0.5, 6.25],
  'claude-opus-4-1': [15, 75, 1.5, 18.75],
  'claude-opus-4': [15, 75, 1.5, 18.75],
  'claude-sonnet-4-5': [3, 15, 0.3, 3.75],
  'claude-sonnet-4': [3, 15, 0.3, 3.75],
  'claude-haiku-4-5': [1, 5, 0.1, 1.25],
  'claude-3-5-haiku': [0.8, 4, 0.08, 1],
};
// Sonnet 4 and 4.5 bill a request over 200k input tokens at higher (long-context) rates.
const ANTHROPIC_LONG_CONTEXT = new Set(['claude-sonnet-4-5', 'claude-sonnet-4']);
const OPENAI_PRICES = {
  'gpt-5': [1.25, 10, 0.125],
  'gpt-5-mini': [0.25, 2, 0.025],
  'gpt-5-nano': [0.05, 0.4, 0.005],
  'gpt-4.1': [2, 8, 0.5],
  'gpt-4.1-mini': [0.4, 1.6, 0.1],
  'gpt-4.1-nano': [0.1, 0.4, 0.025],
  'gpt-4o': [2.5, 10, 1.25],
  'gpt-4o-mini': [0.15, 0.6, 0.075],
  o3: [2, 8, 0.5],
  'o4-mini': [1.1, 4.4, 0.275],
};

/** The price entry of a model string, or null. */
export function priceOf(model) {
  const slash = model.indexOf('/');
  if (slash < 0) return null;
  const provider = model.slice(0, slash);
  let name = model.slice(slash + 1);
  if (provider === 'anthropic') {
    name = name.replace(/-(\d{8}|latest)$/, '').replace(/^(claude-(?:opus|sonnet)-4)-0$/, '$1');
    const p = ANTHROPIC_PRICES[name];
    return p ? { provider, name, input: p[0], output: p[1], cacheRead: p[2], cacheWrite: p[3] } : null;
  }
  if (provider === 'openai') {
    // gpt-4o-2024-05-13 is priced apart from gpt-4o: only snapshots known to match count.
    if (name === 'gpt-4o-2024-05-13') return null;
    name = name.replace(/-\d{4}-\d{2}-\d{2}$/, '');
    const p = OPENAI_PRICES[name];
    return p ? { provider, name, input: p[0], output: p[1], cacheRead: p[2], cacheWrite: 0 } : null;
  }
  return null;
}

class CostMeter {
  constructor(model) {
    this.model = model;
    this.price = priceOf(model);
    this.usd = 0;
    this.unknownReason = this.price ? null : model === 'scripted' ? 'scripted' : `cost unknown for ${model}`;
  }
  add(u) {
    if (!this.price) return;
    const p = this.price;
    const input = u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens;
    if (p.provider === 'anthropic' && ANTHROPIC_LONG_CONTEXT.has(p.name) && input > 200_000) {
      this.unknownReason = `cost unknown for ${this.model}: a request over 200k input tokens is billed at long-context rates`;
    }
    this.usd +=
      (u.inputTokens * p.input + u.outputTokens * p.output + u.cacheReadTokens * p.cacheRead + u.cacheWriteTokens * p.cacheWrite) /
      1e6;
  }
  describe() {
    if (this.unknownReason === 'scripted') return 'no cost (scripted model, offline)';
    if (this.unknownReason) return this.unknownReason;
    const usd = this.usd;
    const s = usd === 0 ? '0' : usd < 0.01 ? usd.toFixed(4) : usd < 1 ? usd.toFixed(3) : usd.toFixed(2);
    return `$${s} at ${this.model.split('/')[0] === 'openai' ? 'OpenAI' : 'Anthropic'} list prices`;
  }
}

// -----------------------------------------------------------------------------------------
// Terminal output.

function colorEnabled(stream) {
  const force = process.env.FORCE_COLOR;
  if (force !== undefined && force !== '' && force !== '0' && force !== 'false') return true;
  if (process.env.NO_COLOR) return false;
  return Boolean(stream.isTTY) && process.env.TERM !== 'dumb';
}

function styles(enabled) {
  const sgr = (open, close) => (s) => (enabled ? `\x1b[${open}m${s}\x1b[${close}m` : String(s));
  return {
    bold: sgr(1, 22),
    dim: sgr(2, 22),
    italic: sgr(3, 23),
    red: sgr(31, 39),
    green: sgr(32, 39),
    yellow: sgr(33, 39),
    cyan: sgr(36, 39),
  };
}

const num = (n) => Number(n ?? 0).toLocaleString('en-US');
const plural = (n, word) => `${num(n)} ${word}${n === 1 ? '' : 's'}`;

function seconds(ms) {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m ${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

/** One line: tabs expanded, line breaks shown as ⏎, cut to `max` characters. */
function clip(s, max) {
  const line = String(s).replace(/\t/g, '  ').replace(/\r?\n/g, ' ⏎ ');
  return line.length > max ? `${line.slice(0, Math.max(1, max - 1))}…` : line;
}

/** What a tool call is about, in a few words: `bash(npm test)`, `read_file(src/a.js:10+20)`. */
function argsSummary(tool, args = {}, max = 80) {
  const a = args ?? {};
  let s;
  switch (tool) {
    case 'bash':
      s = String(a.command ?? '');
      break;
    case 'read_file':
      s = String(a.path ?? '');
      if (a.offset != null || a.limit != null) s += `:${a.offset ?? 1}${a.limit != null ? `+${a.limit}` : ''}`;
      break;
    case 'write_file': {
      const content = String(a.content ?? '');
      const n = content === '' ? 0 : content.replace(/\n$/, '').split('\n').length;
      s = `${a.path ?? ''}, ${plural(n, 'line')}`;
      break;
    }
    case 'edit_file':
      s = `${a.path ?? ''}${a.replace_all ? ', all' : ''}`;
      break;
    case 'multi_edit':
      s = `${a.path ?? ''}, ${plural(Array.isArray(a.edits) ? a.edits.length : 0, 'edit')}`;
      break;
    case 'glob':
      s = `${a.pattern ?? ''}${a.path ? ` in ${a.path}` : ''}`;
      break;
    case 'grep':
      s = `${JSON.stringify(String(a.pattern ?? ''))}${a.path ? ` in ${a.path}` : ''}${a.glob ? ` (${a.glob})` : ''}`;
      break;
    default: {
      const json = JSON.stringify(a);
      s = json === '{}' ? '' : json;
    }
  }
  return clip(s, max);
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** The human rendering: streamed text, tool calls and results, a spinner, a summary. */
class Renderer {
  constructor({ stdout, model, cwd, cost, resumed }) {
    this.stdout = stdout;
    this.tty = Boolean(stdout.isTTY);
    this.c = styles(colorEnabled(stdout));
    this.model = model;
    this.cwd = cwd;
    this.cost = cost;
    this.resumed = resumed;
    this.atLineStart = true;
    this.block = null; // 'text' | 'thinking' | null
    this.afterTools = false;
    this.calls = new Map(); // id -> { tool, args, start }
    this.open = new Set(); // ids of running calls
    this.lastCallId = null;
    this.modelCalls = 0;
    this.spin = null; // { label, since, drawn }
    this.frame = 0;
    this.timer = null;
    this.spinnerEnabled = this.tty && process.env.TERM !== 'dumb';
  }

  width() {
    return Math.max(40, Math.min(this.stdout.columns || 100, 140));
  }

  write(s) {
    if (!s) return;
    this.eraseSpinner();
    this.stdout.write(s);
    this.atLineStart = s.endsWith('\n');
  }

  line(s = '') {
    if (!this.atLineStart) this.write('\n');
    this.block = null;
    this.write(`${s}\n`);
  }

  // The spinner lives on its own line below everything else, drawn only while the cursor is
  // at the start of a line; any output erases it first.
  startSpinner(label, since = Date.now()) {
    if (!this.spinnerEnabled) return;
    this.spin = { label, since, drawn: false };
    if (!this.timer) {
      this.timer = setInterval(() => this.drawSpinner(), 80);
      this.timer.unref();
    }
    this.drawSpinner();
  }

  stopSpinner() {
    this.eraseSpinner();
    this.spin = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  drawSpinner() {
    if (!this.spin || !this.atLineStart) return;
    this.frame = (this.frame + 1) % SPINNER.length;
    const { c } = this;
    const text = `${c.cyan(SPINNER[this.frame])} ${this.spin.label} ${c.dim(seconds(Date.now() - this.spin.since))}`;
    this.stdout.write(`\r\x1b[2K${text}`);
    this.spin.drawn = true;
  }

  eraseSpinner() {
    if (this.spin?.drawn) {
      this.stdout.write('\r\x1b[2K');
      this.spin.drawn = false;
    }
  }

  waitForModel() {
    this.startSpinner(this.c.dim('waiting for the model'));
  }

  toolSpinner() {
    if (this.open.size === 0) return this.waitForModel();
    const ids = [...this.open];
    const since = Math.min(...ids.map((id) => this.calls.get(id).start));
    const label =
      ids.length === 1
        ? `running ${this.c.bold(this.calls.get(ids[0]).tool)}`
        : `running ${ids.length} tools (${[...new Set(ids.map((id) => this.calls.get(id).tool))].join(', ')})`;
    this.startSpinner(label, since);
  }

  callLabel(id) {
    const call = this.calls.get(id);
    if (!call) return 'tool';
    return `${this.c.bold(call.tool)}(${argsSummary(call.tool, call.args, this.width() - call.tool.length - 8)})`;
  }

  render(e) {
    const { c } = this;
    switch (e.type) {
      case 'run_start': {
        const where = this.cwd === process.cwd() ? '.' : this.cwd.replace(os.homedir(), '~');
        this.line(
          c.dim(`harnext ${PKG.version} · ${this.model} · ${where} · `) +
            c.dim(this.resumed ? `resuming ${e.sessionId}${this.resumed.runs ? ` (${plural(this.resumed.runs, 'earlier run')})` : ''}` : `session ${e.sessionId}`),
        );
        this.line();
        this.waitForModel();
        break;
      }
      case 'thinking':
        this.stopSpinner();
        if (this.block !== 'thinking') {
          if (!this.atLineStart) this.write('\n');
          if (this.afterTools) this.write('\n');
          this.afterTools = false;
          this.write(c.dim(c.italic('✻ ')));
          this.block = 'thinking';
        }
        this.write(c.dim(c.italic(e.text)));
        break;
      case 'text':
        this.stopSpinner();
        if (this.block !== 'text') {
          if (!this.atLineStart) this.write('\n');
          if (this.afterTools || this.block === 'thinking') this.write('\n');
          this.afterTools = false;
          this.block = 'text';
        }
        this.write(e.text);
        break;
      case 'tool_call':
        this.stopSpinner();
        this.calls.set(e.id, { tool: e.tool, args: e.args, start: Date.now() });
        this.open.add(e.id);
        if (this.block === 'text' || this.block === 'thinking') this.line();
        this.line(`${c.cyan('⏺')} ${this.callLabel(e.id)}`);
        this.lastCallId = e.id;
        this.toolSpinner();
        break;
      case 'permission_request':
        // The prompt itself is written by the approval loop.
        this.stopSpinner();
        break;
      case 'tool_result':
        this.stopSpinner();
        this.open.delete(e.id);
        this.renderToolResult(e);
        this.afterTools = true;
        this.toolSpinner();
        break;
      case 'usage':
        this.modelCalls += 1;
        break;
      case 'retry':
        this.line(c.yellow(`⟳ retrying in ${(e.delayMs / 1000).toFixed(1)}s (attempt ${e.attempt}): ${clip(e.reason, this.width() - 40)}`));
        break;
      case 'compaction':
        this.line(c.dim(`⋯ history compacted: ${num(e.beforeTokens)} → ${num(e.afterTokens)} tokens`));
        break;
      case 'error':
        this.stopSpinner();
        this.line(c.red(`✗ ${e.error.code}${e.error.status ? ` (${e.error.status})` : ''}: ${e.error.message}`));
        break;
      case 'run_end':
        this.stopSpinner();
        this.renderSummary(e.result);
        break;
      default: {
        // A newer engine may add event types: show them rather than drop them.
        const { type, ...rest } = e;
        this.line(c.dim(`· ${type} ${clip(JSON.stringify(rest), this.width() - String(type).length - 4)}`));
      }
    }
  }

  renderToolResult(e) {
    const { c } = this;
    const call = this.calls.get(e.id);
    const tool = call?.tool;
    let lines = String(e.output ?? '').replace(/\s+$/, '').split('\n');
    if (lines.length === 1 && lines[0] === '') lines = [];
    const notes = [];
    if (call) notes.push(seconds(Date.now() - call.start));
    if (tool === 'bash') {
      const m = /^exit code: (\S+)$/.exec(lines.at(-1) ?? '');
      if (m) {
        lines.pop();
        notes.push(m[1] === '0' ? 'exit 0' : c.yellow(`exit ${m[1]}`));
      }
    }
    let preview = lines;
    if (e.status === 'ok' && tool === 'read_file') {
      notes.push(plural(lines.length, 'line'));
      preview = [];
    }
    const label = { ok: c.green('ok'), error: c.red('error'), denied: c.yellow('denied'), cancelled: c.yellow('cancelled') }[e.status] ?? e.status;
    // Name the call when its result does not directly follow it.
    const which = e.id === this.lastCallId ? '' : `${this.callLabel(e.id)} `;
    let head = `  ↳ ${which}${label}`;
    if (e.status !== 'ok' && preview.length) head += `: ${clip(preview.shift(), this.width() - 20)}`;
    this.line(`${head}${notes.length ? c.dim(` · ${notes.join(' · ')}`) : ''}`);
    const shown = 4;
    for (const l of preview.slice(0, shown)) this.line(c.dim(`    ${clip(l, this.width() - 5)}`));
    if (preview.length > shown) this.line(c.dim(`    … +${preview.length - shown} lines`));
    this.lastCallId = null;
  }

  renderSummary(r) {
    const { c } = this;
    this.line();
    this.line(c.dim('─'.repeat(Math.min(this.width(), 64))));
    const steps = r.steps.length;
    const notOk = r.steps.filter((s) => s.status !== 'ok').length;
    const facts = [plural(steps, 'tool call') + (notOk ? ` (${notOk} not ok)` : ''), seconds(r.durationMs)];
    if (r.success) this.line(`${c.green('✓ done')} ${c.dim(`· ${facts.join(' · ')}`)}`);
    else if (r.cancelled) this.line(`${c.yellow('⏹ cancelled')} ${c.dim(`· ${facts.join(' · ')}`)}`);
    else {
      const why = r.error ? ` (${r.error.code}): ${r.error.message}` : ` (${r.stopReason})`;
      this.line(`${c.red(`✗ failed${why}`)} ${c.dim(`· ${facts.join(' · ')}`)}`);
    }
    const row = (k, v) => this.line(`  ${c.dim(k.padEnd(15))}${v}`);
    if (r.filesChanged.length) row('files changed', r.filesChanged.join(', '));
    const u = r.usage;
    const tokens = [`${num(u.inputTokens)} in`, `${num(u.outputTokens)} out`];
    if (u.cacheReadTokens) tokens.push(`${num(u.cacheReadTokens)} cache read`);
    if (u.cacheWriteTokens) tokens.push(`${num(u.cacheWriteTokens)} cache write`);
    if (u.reasoningTokens) tokens.push(`${num(u.reasoningTokens)} reasoning`);
    row('usage', `${tokens.join(' · ')} ${c.dim(`(${plural(this.modelCalls, 'model call')})`)} · ${this.cost.describe()}`);
    row('session', `${r.sessionId} ${c.dim(`· continue with: harnext --resume ${r.sessionId} "<task>"`)}`);
  }

  close() {
    this.stopSpinner();
    if (!this.atLineStart) this.write('\n');
  }
}

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
  const question = `${c.yellow('?')} Allow ${e.tool}(${argsSummary(e.tool, e.args, 100)})? ${c.bold('[y]')}es / ${c.bold('[n]')}o / ${c.bold('[a]')}lways `;
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
    out(`${c.dim('answer y (yes), n (no) or a (always)')}\n`);
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
    stdout.write(`${PKG.version}\n`);
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

  let session = null;
  let script;
  let model;
  let cwd;
  try {
    if (opts.resume && typeof Agent.loadSession === 'function') {
      try {
        session = await Agent.loadSession(opts.resume);
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
  if (script) agentOptions.script = script;
  if (opts.permissionMode) agentOptions.permissionMode = opts.permissionMode;
  if (opts.maxSteps !== undefined) agentOptions.maxSteps = opts.maxSteps;
  if (opts.systemPromptAppend !== undefined) agentOptions.systemPrompt = { append: opts.systemPromptAppend };

  let agent;
  try {
    agent = new Agent(agentOptions);
  } catch (e) {
    return fail(EXIT_USAGE, e.message);
  }

  const cost = new CostMeter(model);
  const renderer = opts.json ? null : new Renderer({ stdout, model, cwd, cost, resumed: opts.resume ? { runs: session?.runs } : null });
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

// Run when executed (directly, through npx or a bin link); importing the module (tests of
// priceOf) runs nothing.
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
