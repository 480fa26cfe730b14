'use strict'
// OpenTelemetry spans of runs, model calls and tool calls, made from a run's event stream
// (the OpenTelemetry GenAI semantic conventions), through `@opentelemetry/api` when the
// application registered a tracer provider. Nothing of this runs when it has none: the
// check is made once per run, and a run without tracing takes the plain path.
//
// The spans: `invoke_agent harnext` for the run (a child of the span active when the run
// was started), and under it `chat <model>` for each model call and `execute_tool <tool>`
// for each tool call. A subagent's run (a `task` call) is an `invoke_agent <name>` span
// under that call's `execute_tool task` span, with its own model and tool calls under it.
// A model call's span is made when its `usage` event arrives, started when the call began
// (the run's start, or the event after which the engine called the model) and given its
// finish reason from what followed it (tool calls, the end of the run, ...).

const INSTRUMENTATION = 'harnext'

/** Milliseconds since the epoch, sub-millisecond: one clock for every span's times. */
const now = () => performance.timeOrigin + performance.now()

let api = null
let loaded = false

/** `@opentelemetry/api`, when the application has it; `null` otherwise. */
function otel() {
  if (!loaded) {
    loaded = true
    try {
      api = require('@opentelemetry/api')
    } catch {
      api = null
    }
  }
  return api
}

let noop = null

/** The API's no-op tracer provider (what an empty proxy delegates to). */
function noopProvider(o) {
  if (noop === null) noop = new o.ProxyTracerProvider().getDelegate()
  return noop
}

/**
 * The tracer of a run, or `null` when tracing is off: turned off with `tracing: false`, no
 * `@opentelemetry/api`, or no tracer provider registered (the API's no-op one).
 */
function tracerFor(setting) {
  if (setting === false) return null
  const given = setting && typeof setting === 'object' ? setting.tracerProvider : undefined
  if (given !== undefined && given !== null) return otel() === null ? null : given.getTracer(INSTRUMENTATION)
  // A provider registered through `@opentelemetry/api` 1.x sits in this global: without
  // it, the API is not even loaded (nothing on a cold start).
  const registered = globalThis[Symbol.for('opentelemetry.js.api.1')]
  if (!registered || !registered.trace) return null
  const o = otel()
  if (o === null) return null
  const provider = o.trace.getTracerProvider()
  // The API's global provider is a proxy whose delegate is the no-op provider until the
  // application registers one.
  if (typeof provider.getDelegate === 'function' && provider.getDelegate() === noopProvider(o)) return null
  return o.trace.getTracer(INSTRUMENTATION)
}

/** Checks the `tracing` option: `true`, `false` or `{ recordContent?, tracerProvider? }`. */
function checkTracing(value) {
  if (value === undefined || value === null || typeof value === 'boolean') return
  if (typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (k !== 'recordContent' && k !== 'tracerProvider') {
        throw new TypeError(`invalid option \`tracing\`: unknown field ${JSON.stringify(k)}: expected { recordContent?: boolean, tracerProvider?: TracerProvider }`)
      }
      if (k === 'recordContent' && v !== undefined && typeof v !== 'boolean') {
        throw new TypeError('invalid option `tracing`: `recordContent` must be a boolean')
      }
      if (k === 'tracerProvider' && v !== undefined && (v === null || typeof v.getTracer !== 'function')) {
        throw new TypeError('invalid option `tracing`: `tracerProvider` must be an OpenTelemetry TracerProvider')
      }
    }
    return
  }
  throw new TypeError('invalid option `tracing`: expected a boolean or { recordContent?: boolean, tracerProvider?: TracerProvider }')
}

/** `anthropic/claude-x` → provider and model names. */
function modelParts(model) {
  if (typeof model !== 'string') return { provider: 'harnext', model: String(model) }
  const slash = model.indexOf('/')
  if (slash < 0) return { provider: model, model }
  const prefix = model.slice(0, slash)
  return { provider: prefix === 'openai-chat' ? 'openai' : prefix, model: model.slice(slash + 1) }
}

/** The finish reason a run's stop reason gives its last model call. */
const FINISH_BY_STOP = {
  end_turn: 'stop',
  max_tokens: 'length',
  refusal: 'refusal',
  content_filter: 'content_filter',
  cancelled: 'cancelled',
  error: 'error',
}

function textMessages(role, text) {
  return JSON.stringify([{ role, parts: [{ type: 'text', content: text }] }])
}

/** The spans of one run (or of one subagent's run), from its events. */
class RunTrace {
  constructor(tracer, o, opts) {
    this.tracer = tracer
    this.o = o
    this.record = opts.recordContent
    this.model = modelParts(opts.model)
    this.agents = opts.agents || {}
    this.name = opts.name
    this.parent = opts.parent
    this.span = null
    this.ctx = null
    this.boundary = now()
    this.pending = null
    this.tools = new Map()
    this.nested = new Map()
    this.text = ''
    this.input = opts.input
  }

  start(e) {
    const attributes = {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': this.name,
      'gen_ai.provider.name': this.model.provider,
      'gen_ai.request.model': this.model.model,
      'gen_ai.conversation.id': e.sessionId,
    }
    if (this.record && this.input !== undefined) {
      attributes['gen_ai.input.messages'] = typeof this.input === 'string' ? textMessages('user', this.input) : JSON.stringify(this.input)
    }
    const startTime = now()
    this.span = this.tracer.startSpan(`invoke_agent ${this.name}`, { kind: this.o.SpanKind.INTERNAL, attributes, startTime }, this.parent)
    this.ctx = this.o.trace.setSpan(this.parent, this.span)
    this.boundary = startTime
  }

  /** The model call whose `usage` came last, ended with `finish` once known. */
  flush(finish) {
    const p = this.pending
    if (p === null) return
    this.pending = null
    const attributes = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': this.model.provider,
      'gen_ai.request.model': this.model.model,
      'gen_ai.usage.input_tokens': p.usage.inputTokens,
      'gen_ai.usage.output_tokens': p.usage.outputTokens,
      'gen_ai.response.finish_reasons': [finish],
    }
    if (p.usage.cacheReadTokens) attributes['gen_ai.usage.cache_read.input_tokens'] = p.usage.cacheReadTokens
    if (p.usage.costUsd !== undefined) attributes['harnext.cost_usd'] = p.usage.costUsd
    // The provider's server-side web searches during the call (the `webSearch` option).
    if (p.usage.webSearchRequests) attributes['harnext.web_search.requests'] = p.usage.webSearchRequests
    if (p.summary) attributes['harnext.model_call'] = 'compaction_summary'
    if (this.record && p.text) attributes['gen_ai.output.messages'] = textMessages('assistant', p.text)
    const span = this.tracer.startSpan(`chat ${this.model.model}`, { kind: this.o.SpanKind.CLIENT, attributes, startTime: p.start }, this.ctx)
    if (finish === 'error') span.setStatus({ code: this.o.SpanStatusCode.ERROR })
    span.end(p.end)
  }

  handle(e) {
    const at = now()
    switch (e.type) {
      case 'run_start':
        this.start(e)
        return
      case 'text':
        this.text += e.text
        return
      case 'thinking':
        return
      case 'usage':
        this.flush('stop')
        this.pending = { start: this.boundary, end: at, usage: e, text: this.text, summary: false }
        this.text = ''
        return
      case 'compaction':
        if (this.pending) this.pending.summary = true
        this.flush('stop')
        this.boundary = at
        return
      case 'tool_call': {
        this.flush('tool_calls')
        const attributes = {
          'gen_ai.operation.name': 'execute_tool',
          'gen_ai.tool.name': e.tool,
          'gen_ai.tool.call.id': e.id,
          'gen_ai.tool.type': 'function',
        }
        if (this.record) attributes['gen_ai.tool.call.arguments'] = JSON.stringify(e.args)
        const span = this.tracer.startSpan(`execute_tool ${e.tool}`, { kind: this.o.SpanKind.INTERNAL, attributes, startTime: at }, this.ctx)
        this.tools.set(e.id, span)
        return
      }
      case 'tool_result': {
        const span = this.tools.get(e.id)
        this.boundary = at
        if (!span) return
        this.tools.delete(e.id)
        span.setAttribute('harnext.tool.status', e.status)
        if (this.record) span.setAttribute('gen_ai.tool.call.result', e.output)
        if (e.status === 'error') {
          span.setAttribute('error.type', 'tool_error')
          span.setStatus({ code: this.o.SpanStatusCode.ERROR })
        } else if (e.status === 'ok') {
          span.setStatus({ code: this.o.SpanStatusCode.OK })
        }
        span.end(at)
        return
      }
      case 'subagent': {
        let sub = this.nested.get(e.callId)
        if (!sub) {
          const def = this.agents[e.agent] || {}
          const task = this.tools.get(e.callId)
          sub = new RunTrace(this.tracer, this.o, {
            recordContent: this.record,
            model: def.model || this.modelString(),
            name: e.agent,
            parent: task ? this.o.trace.setSpan(this.ctx, task) : this.ctx,
          })
          this.nested.set(e.callId, sub)
        }
        sub.handle(e.event)
        if (e.event.type === 'run_end') this.nested.delete(e.callId)
        return
      }
      case 'run_end':
        this.end(e.result, at)
        return
      default:
        // user_message, retry, permission_request, hook/mcp notes, error: a model call
        // that a message follows was answered in full.
        if (e.type === 'user_message') {
          this.flush('stop')
          this.boundary = at
        }
    }
  }

  modelString() {
    return `${this.model.provider}/${this.model.model}`
  }

  end(result, at) {
    this.flush(FINISH_BY_STOP[result.stopReason] || 'stop')
    for (const span of this.tools.values()) span.end(at)
    this.tools.clear()
    if (this.span === null) return
    const s = this.span
    s.setAttribute('gen_ai.usage.input_tokens', result.usage.inputTokens)
    s.setAttribute('gen_ai.usage.output_tokens', result.usage.outputTokens)
    s.setAttribute('harnext.stop_reason', result.stopReason)
    s.setAttribute('harnext.steps', result.steps.length)
    if (result.costUsd !== undefined) s.setAttribute('harnext.cost_usd', result.costUsd)
    if (this.record) s.setAttribute('gen_ai.output.messages', textMessages('assistant', result.text))
    if (!result.success && !result.cancelled) {
      s.setAttribute('error.type', (result.error && result.error.code) || result.stopReason)
      s.setStatus({ code: this.o.SpanStatusCode.ERROR, message: result.error ? result.error.message : result.stopReason })
    } else if (result.success) {
      s.setStatus({ code: this.o.SpanStatusCode.OK })
    }
    s.end(at)
  }
}

/**
 * The events of `stream`, passed on unchanged, each also turned into spans. A run that
 * ends without `run_end` (the consumer left the loop) ends its spans there.
 */
async function* traced(stream, tracer, agentOptions, input) {
  const o = otel()
  const setting = agentOptions.setting
  const run = new RunTrace(tracer, o, {
    recordContent: typeof setting === 'object' && setting !== null && setting.recordContent === true,
    model: agentOptions.model,
    agents: agentOptions.agents,
    name: 'harnext',
    parent: o.context.active(),
    input,
  })
  let ended = false
  try {
    for await (const e of stream) {
      try {
        run.handle(e)
      } catch {
        // A tracing failure never breaks a run.
      }
      if (e.type === 'run_end') ended = true
      yield e
    }
  } finally {
    if (!ended && run.span !== null) run.span.end(now())
  }
}

module.exports = { tracerFor, traced, checkTracing }
