// What a run cost: list prices, per million tokens, of the models whose prices are known,
// and the meter that adds up each model call's usage.
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

export class CostMeter {
  constructor(model) {
    this.model = model;
    this.price = priceOf(model);
    this.usd = 0;
    this.unknownReason = this.price ? null : model === 'scripted' ? 'scripted' : `cost unknown for ${model}`;
  }
  add(u) {
    // A call whose server reported no usage has zeros that mean "unknown": no price.
    if (u.unreported) this.unreported = true;
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
    if (this.unreported) return 'cost unknown: usage not reported by the server';
    if (this.unknownReason) return this.unknownReason;
    const usd = this.usd;
    const s = usd === 0 ? '0' : usd < 0.01 ? usd.toFixed(4) : usd < 1 ? usd.toFixed(3) : usd.toFixed(2);
    return `$${s} at ${this.model.split('/')[0] === 'openai' ? 'OpenAI' : 'Anthropic'} list prices`;
  }
}
