/**
 * The cost of a call (docs/models.md, "Cost"): each token priced once at its
 * kind's rate, in integer micro-dollars, rounded up once over the whole sum.
 */
import type { ModelPrice, TokenRates, Usage } from './types.js';

/** The rates for a call with `inputTokens` input tokens: the last tier it is above, else the base rates. */
export function ratesFor(price: ModelPrice, inputTokens: number): Readonly<TokenRates> {
  let rates: Readonly<TokenRates> = price.rates;
  for (const tier of price.tiers) if (inputTokens > tier.aboveInputTokens) rates = tier;
  return rates;
}

function tokens(name: string, v: number | undefined): bigint {
  if (v === undefined) return 0n;
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${v}`);
  }
  return BigInt(v);
}

/**
 * The exact cost in micro-dollars. Uncached input = input − cache reads − cache
 * writes; one-hour cache writes are the part of cache writes priced at their own
 * rate; reasoning is output. Computed on integers (no rounding inside), then
 * rounded up once: never below the exact price, less than one micro-dollar above.
 */
export function usageCostMicros(usage: Usage, price: ModelPrice): number {
  const r = ratesFor(price, usage.inputTokens);
  const input = tokens('inputTokens', usage.inputTokens);
  const read = tokens('cacheReadTokens', usage.cacheReadTokens);
  const write = tokens('cacheWriteTokens', usage.cacheWriteTokens);
  const write1h = tokens('cacheWrite1hTokens', usage.cacheWrite1hTokens);
  const output = tokens('outputTokens', usage.outputTokens);
  if (read + write > input || write1h > write) {
    throw new RangeError('usage parts exceed their totals (cache tokens are part of inputTokens)');
  }
  const sum =
    (input - read - write) * BigInt(r.inputMicrosPerMillion) +
    read * BigInt(r.cacheReadMicrosPerMillion) +
    (write - write1h) * BigInt(r.cacheWriteMicrosPerMillion) +
    write1h * BigInt(r.cacheWrite1hMicrosPerMillion) +
    output * BigInt(r.outputMicrosPerMillion);
  return Number((sum + 999_999n) / 1_000_000n);
}
