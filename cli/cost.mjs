// What a run cost, as the engine counts it: each `usage` event carries its call's cost at
// list prices (`costUsd`), absent when the price is unknown (a model without a known
// price, usage the server did not report, a request billed at long-context rates). The
// price table is the engine's (crates/harnext-core/src/pricing.rs); the CLI only adds up.

export class CostMeter {
  constructor(model) {
    this.model = model;
    this.usd = 0;
    this.priced = 0;
    this.unpriced = 0;
    this.longUnpriced = false;
    this.unreported = false;
  }
  add(u) {
    // A call whose server reported no usage has zeros that mean "unknown": no price.
    if (u.unreported) this.unreported = true;
    if (typeof u.costUsd === 'number') {
      this.usd += u.costUsd;
      this.priced += 1;
    } else {
      this.unpriced += 1;
      if (u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens > 200_000) this.longUnpriced = true;
    }
  }
  describe() {
    if (this.model === 'scripted') return 'no cost (scripted model, offline)';
    if (this.unreported) return 'cost unknown: usage not reported by the server';
    if (this.unpriced > 0) {
      // Other calls of the same model were priced: the long request is the reason.
      if (this.longUnpriced && this.priced > 0) {
        return `cost unknown for ${this.model}: a request over 200k input tokens is billed at long-context rates`;
      }
      return `cost unknown for ${this.model}`;
    }
    const usd = this.usd;
    const s = usd === 0 ? '0' : usd < 0.01 ? usd.toFixed(4) : usd < 1 ? usd.toFixed(3) : usd.toFixed(2);
    return `$${s} at ${this.model.split('/')[0] === 'openai' ? 'OpenAI' : 'Anthropic'} list prices`;
  }
}
