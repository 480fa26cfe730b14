// The human rendering of a run on a terminal (or a pipe): streamed text, tool calls with
// their arguments and results, a spinner, and the summary. Dependency-free: a few ANSI
// codes, only on a terminal and never with NO_COLOR.
import os from 'node:os';

export function colorEnabled(stream) {
  const force = process.env.FORCE_COLOR;
  if (force !== undefined && force !== '' && force !== '0' && force !== 'false') return true;
  if (process.env.NO_COLOR) return false;
  return Boolean(stream.isTTY) && process.env.TERM !== 'dumb';
}

export function styles(enabled) {
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
export function argsSummary(tool, args = {}, max = 80) {
  const a = args ?? {};
  let s;
  switch (tool) {
    case 'bash':
      s = String(a.command ?? '');
      if (a.background === true) s = `${s}, background`;
      break;
    case 'bash_output':
    case 'bash_kill':
      s = String(a.id ?? '');
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
    case 'web_fetch':
      s = String(a.url ?? '');
      break;
    case 'task':
      s = `${a.agent ?? ''}: ${a.prompt ?? ''}`;
      break;
    case 'todo_write':
      s = plural(Array.isArray(a.todos) ? a.todos.length : 0, 'item');
      break;
    default: {
      const json = JSON.stringify(a);
      s = json === '{}' ? '' : json;
    }
  }
  return clip(s, max);
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** The CLI flags of the engine's budget options, by the names the engine's messages use. */
const FLAGS = { maxCostUsd: '--max-cost-usd', maxTokens: '--max-tokens', maxDurationMs: '--max-duration-ms', maxSteps: '--max-steps' };

/** `text` (an engine message) with the options it names written as this CLI's flags. */
export function flagNames(text) {
  return String(text).replace(/`(maxCostUsd|maxTokens|maxDurationMs|maxSteps)`/g, (_, k) => FLAGS[k]);
}

/** The stop reasons of the budgets, as the summary says them. */
const BUDGET_STOPS = { cost_budget: 'cost budget', token_budget: 'token budget', time_budget: 'time budget' };

/** The header's budgets (`$0.5, 400,000 tokens, 600,000 ms`), or '' when none is set. */
export function budgetLabel(b = {}) {
  const parts = [];
  if (b.maxCostUsd !== undefined) parts.push(`$${b.maxCostUsd}`);
  if (b.maxTokens !== undefined) parts.push(`${num(b.maxTokens)} tokens`);
  if (b.maxDurationMs !== undefined) parts.push(`${num(b.maxDurationMs)} ms`);
  return parts.length ? `budget ${parts.join(', ')}` : '';
}

/** The human rendering: streamed text, tool calls and results, a spinner, a summary. */
/** The header's sandbox: the enforced mode, and the chosen one when they differ. */
export function sandboxLabel(s) {
  if (!s) return 'sandbox unknown';
  if (s.enforced === 'off') return s.requested === 'off' ? 'no sandbox' : `no sandbox (${s.requested} asked, not enforced)`;
  let label = `sandbox ${s.enforced}`;
  if (s.requested !== s.enforced) label += ` (${s.requested} asked)`;
  if (s.partial) label += ' (partial)';
  return `${label}, ${s.network ? 'network' : 'no network'}`;
}

export class Renderer {
  constructor({ stdout, version, model, cwd, cost, resumed, budget }) {
    this.budget = budgetLabel(budget);
    this.stdout = stdout;
    this.version = version;
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
    this.searches = new Map(); // web search id -> whether its line is shown
    this.citations = new Map(); // url -> title
    this.spin = null; // { label, since, drawn }
    this.frame = 0;
    this.timer = null;
    this.spinnerEnabled = this.tty && process.env.TERM !== 'dumb';
    this.subagents = new Map(); // `task` call id -> { renderer, prefix }
    this.writer = null; // the subagent whose line is open, or null
  }

  width() {
    return Math.max(40, Math.min(this.stdout.columns || 100, 140));
  }

  write(s) {
    if (!s) return;
    this.eraseSpinner();
    // A line a subagent left open is ended first.
    if (this.writer !== null && !this.atLineStart) {
      this.stdout.write('\n');
      this.writer.renderer.atLineStart = true;
    }
    this.writer = null;
    this.stdout.write(s);
    this.atLineStart = s.endsWith('\n');
  }

  /** Writes a subagent's output: each of its lines prefixed with its name. */
  writeFor(sub, s) {
    if (!s) return;
    this.eraseSpinner();
    if (this.writer !== sub && !this.atLineStart) {
      this.stdout.write('\n');
      this.atLineStart = true;
      if (this.writer !== null) this.writer.renderer.atLineStart = true;
    }
    let out = '';
    for (const part of s.split(/(?<=\n)/)) {
      if (this.atLineStart) out += part === '\n' ? sub.prefix.trimEnd() : sub.prefix;
      out += part;
      this.atLineStart = part.endsWith('\n');
    }
    this.stdout.write(out);
    this.writer = this.atLineStart ? null : sub;
  }

  /** The renderer of the subagent a `task` call runs: the parent's rendering, its lines
   * prefixed with the subagent's name, its start and end one line each. */
  subagent(agent, callId) {
    let sub = this.subagents.get(callId);
    if (sub) return sub.renderer;
    const prefix = `  ${this.c.dim('│')} ${this.c.cyan(agent)} ${this.c.dim('·')} `;
    const width = this.width() - agent.length - 7;
    sub = { prefix };
    const stdout = { isTTY: false, columns: width, write: (s) => this.writeFor(sub, s) };
    const renderer = new Renderer({ stdout, version: this.version, model: this.model, cwd: this.cwd, cost: this.cost, resumed: null, budget: {} });
    renderer.c = this.c;
    renderer.nested = true;
    sub.renderer = renderer;
    this.subagents.set(callId, sub);
    return renderer;
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
      case 'subagent':
        // Events of a subagent a `task` call runs: rendered like this run's, under its name.
        this.stopSpinner();
        if (e.event?.type === 'usage') this.modelCalls += 1;
        this.subagent(String(e.agent), String(e.callId)).render(e.event ?? {});
        this.toolSpinner();
        break;
      case 'run_start': {
        if (this.nested) {
          this.line(c.dim(`started · session ${e.sessionId}`));
          break;
        }
        const where = this.cwd === process.cwd() ? '.' : this.cwd.replace(os.homedir(), '~');
        this.line(
          c.dim(`harnext ${this.version} · ${this.model} · ${where} · ${sandboxLabel(e.sandbox)} · ${this.budget ? `${this.budget} · ` : ''}`) +
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
      case 'hook_error':
        this.line(c.yellow(`⚠ ${e.message}`));
        break;
      case 'warning':
        this.line(c.yellow(`⚠ ${e.message}${e.path ? ` (${e.path})` : ''}`));
        break;
      case 'todo':
        this.stopSpinner();
        this.renderTodos(e.todos);
        break;
      case 'web_search':
        this.renderWebSearch(e);
        break;
      case 'citation':
        // Listed under the reply once the run ends (a line now would cut the text).
        if (!this.citations.has(e.url)) this.citations.set(e.url, e.title ?? null);
        break;
      case 'compaction':
        this.line(c.dim(`⋯ history compacted: ${num(e.beforeTokens)} → ${num(e.afterTokens)} tokens`));
        break;
      case 'error':
        this.stopSpinner();
        // A budget's stop is the summary's first line.
        if (BUDGET_STOPS[e.error.code]) break;
        this.line(c.red(`✗ ${e.error.code}${e.error.status ? ` (${e.error.status})` : ''}: ${e.error.message}`));
        break;
      case 'run_end':
        this.stopSpinner();
        this.renderSources();
        this.renderSummary(e.result);
        break;
      default: {
        // A newer engine may add event types: show them rather than drop them.
        const { type, ...rest } = e;
        this.line(c.dim(`· ${type} ${clip(JSON.stringify(rest), this.width() - String(type).length - 4)}`));
      }
    }
  }

  /** The task list (`todo` event): the whole list, done items checked, the current one marked. */
  renderTodos(todos) {
    const { c } = this;
    const done = todos.filter((t) => t.status === 'completed').length;
    if (todos.length === 0) {
      this.line(c.dim('  ☰ plan cleared'));
      return;
    }
    this.line(`  ☰ plan ${c.dim(`· ${done}/${todos.length} done`)}`);
    for (const t of todos) {
      const text = clip(t.content, this.width() - 8);
      if (t.status === 'completed') this.line(`    ${c.green('✔')} ${c.dim(text)}`);
      else if (t.status === 'in_progress') this.line(`    ${c.yellow('▸')} ${c.bold(text)}`);
      else this.line(`    ○ ${text}`);
    }
  }

  renderToolResult(e) {
    const { c } = this;
    const call = this.calls.get(e.id);
    const tool = call?.tool;
    // The list itself is the `todo` event's: an accepted update needs no more.
    if (tool === 'todo_write' && e.status === 'ok') {
      this.lastCallId = null;
      return;
    }
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

  // A server-side web search (--web-search): the query once, then what it found.
  renderWebSearch(e) {
    const { c } = this;
    this.stopSpinner();
    if (this.block === 'text' || this.block === 'thinking') this.line();
    this.block = null;
    if (!this.searches.get(e.id) && (e.query || e.status !== 'searching')) {
      this.line(`${c.cyan('⏺')} ${c.bold('web search')}(${clip(e.query ?? '', this.width() - 20)})`);
      this.searches.set(e.id, true);
    }
    if (e.status === 'completed') {
      const hosts = [...new Set(e.results.map((r) => { try { return new URL(r.url).host; } catch { return r.url; } }))];
      this.line(c.dim(`  ⎿ ${plural(e.results.length, 'result')}${hosts.length ? `: ${clip(hosts.join(', '), this.width() - 20)}` : ''}`));
      this.afterTools = true;
    } else if (e.status === 'failed') {
      this.line(c.red(`  ⎿ search failed: ${e.error ?? 'unknown error'}`));
      this.afterTools = true;
    }
    this.startSpinner(c.dim(e.status === 'searching' ? 'searching the web' : 'waiting for the model'));
  }

  renderSources() {
    if (this.citations.size === 0) return;
    const { c } = this;
    if (!this.atLineStart) this.write('\n');
    this.line();
    this.line(c.dim('Sources:'));
    let i = 1;
    for (const [url, title] of this.citations) {
      this.line(c.dim(`  [${i++}] ${title ? `${clip(title, 60)} · ` : ''}${url}`));
    }
  }

  renderSummary(r) {
    const { c } = this;
    if (this.nested) {
      // A subagent's end: one line (its usage and cost count in the parent's summary).
      const facts = [plural(r.steps.length, 'tool call'), seconds(r.durationMs)].join(' · ');
      if (r.success) this.line(`${c.green('✓ done')} ${c.dim(`· ${facts}`)}`);
      else if (r.cancelled) this.line(`${c.yellow('⏹ cancelled')} ${c.dim(`· ${facts}`)}`);
      else this.line(`${c.red(`✗ failed${r.error ? ` (${r.error.code}): ${r.error.message}` : ` (${r.stopReason})`}`)} ${c.dim(`· ${facts}`)}`);
      return;
    }
    this.line();
    this.line(c.dim('─'.repeat(Math.min(this.width(), 64))));
    const steps = r.steps.length;
    const notOk = r.steps.filter((s) => s.status !== 'ok').length;
    const facts = [plural(steps, 'tool call') + (notOk ? ` (${notOk} not ok)` : ''), seconds(r.durationMs)];
    if (r.success) this.line(`${c.green('✓ done')} ${c.dim(`· ${facts.join(' · ')}`)}`);
    else if (r.cancelled) this.line(`${c.yellow('⏹ cancelled')} ${c.dim(`· ${facts.join(' · ')}`)}`);
    else if (BUDGET_STOPS[r.stopReason]) {
      this.line(`${c.yellow(`⏸ stopped: ${BUDGET_STOPS[r.stopReason]} reached`)} ${c.dim(`· ${facts.join(' · ')}`)}`);
      if (r.error) this.line(`  ${c.dim('why'.padEnd(15))}${flagNames(r.error.message)}`);
    } else {
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
    const counted = u.inputTokens + u.outputTokens + u.cacheReadTokens + u.cacheWriteTokens > 0;
    // Zeros the server did not report are not shown as counts (nor priced).
    const shown = !u.unreported ? tokens.join(' · ') : counted ? `${tokens.join(' · ')} (usage not reported for some calls)` : 'usage not reported';
    row('usage', `${shown} ${c.dim(`(${plural(this.modelCalls, 'model call')})`)} · ${this.cost.describe()}`);
    row('session', `${r.sessionId} ${c.dim(`· continue with: harnext --resume ${r.sessionId} "<task>"`)}`);
  }

  close() {
    this.stopSpinner();
    if (!this.atLineStart) this.write('\n');
  }
}
