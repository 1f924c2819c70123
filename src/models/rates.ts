import { TollgateError } from '../errors.js';
import type { ModelPrice, RateOverride, RateTier, TokenRates } from './types.js';

/** The keys of TokenRates, in one place. */
export const RATE_KEYS = [
  'inputMicrosPerMillion',
  'outputMicrosPerMillion',
  'cacheReadMicrosPerMillion',
  'cacheWriteMicrosPerMillion',
  'cacheWrite1hMicrosPerMillion',
] as const satisfies readonly (keyof TokenRates)[];

export type PartialRates = Pick<TokenRates, 'inputMicrosPerMillion' | 'outputMicrosPerMillion'> &
  Partial<TokenRates>;

/**
 * Fills the rates a price leaves out (docs/models.md, "Prices"): a cache read or
 * write without its own rate costs the input rate; a one-hour cache write
 * without its own rate costs the cache write rate.
 */
export function completeRates(r: PartialRates): TokenRates {
  const cacheWrite = r.cacheWriteMicrosPerMillion ?? r.inputMicrosPerMillion;
  return {
    inputMicrosPerMillion: r.inputMicrosPerMillion,
    outputMicrosPerMillion: r.outputMicrosPerMillion,
    cacheReadMicrosPerMillion: r.cacheReadMicrosPerMillion ?? r.inputMicrosPerMillion,
    cacheWriteMicrosPerMillion: cacheWrite,
    cacheWrite1hMicrosPerMillion: r.cacheWrite1hMicrosPerMillion ?? cacheWrite,
  };
}

/** USD per million tokens (the package's data) to integer micro-dollars per million, rounded to nearest. */
export function usdToMicrosPerMillion(usd: number): number {
  return Math.round(usd * 1_000_000);
}

function checkRates(model: string, where: string, r: Partial<TokenRates>): void {
  for (const key of RATE_KEYS) {
    const v = r[key];
    if (v === undefined && key !== 'inputMicrosPerMillion' && key !== 'outputMicrosPerMillion') {
      continue;
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new TollgateError(
        'VALIDATION_FAILED',
        `price override for model '${model}'${where}: ${key} must be a non-negative integer (micro-dollars per million tokens)`,
      );
    }
  }
}

/** A price override (plain data) as a ModelPrice: checked, completed, frozen. */
export function priceFromOverride(model: string, o: RateOverride): ModelPrice {
  checkRates(model, '', o);
  const tiers: RateTier[] = [];
  let last = -1;
  for (const [i, t] of (o.tiers ?? []).entries()) {
    checkRates(model, ` tier ${i}`, t);
    const above = t.aboveInputTokens;
    if (!Number.isSafeInteger(above) || above <= last) {
      throw new TollgateError(
        'VALIDATION_FAILED',
        `price override for model '${model}' tier ${i}: aboveInputTokens must be an integer above the previous tier's`,
      );
    }
    last = above;
    tiers.push(Object.freeze({ aboveInputTokens: above, ...completeRates(t) }));
  }
  return Object.freeze({ rates: Object.freeze(completeRates(o)), tiers: Object.freeze(tiers) });
}
