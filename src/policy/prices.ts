import { createPriceTable, type PriceTable } from '../models/price-table.js';
import type { RateOverride } from '../models/types.js';
import { usdToMicros } from './money.js';
import { DEFAULT_MODEL } from './names.js';
import type { PolicyDoc, TierEntry } from './schema.js';

type Rates = Omit<RateOverride, 'tiers'>;

/** One entry's or tier's USD per million tokens as micro-dollars per million (cache rates only when given). */
function ratesOf(e: Omit<TierEntry, 'above_input_tokens'>): Rates {
  const r: Rates = {
    inputMicrosPerMillion: usdToMicros(e.input_per_million),
    outputMicrosPerMillion: usdToMicros(e.output_per_million),
  };
  if (e.cache_read_per_million !== undefined)
    r.cacheReadMicrosPerMillion = usdToMicros(e.cache_read_per_million);
  if (e.cache_write_per_million !== undefined)
    r.cacheWriteMicrosPerMillion = usdToMicros(e.cache_write_per_million);
  if (e.cache_write_1h_per_million !== undefined)
    r.cacheWrite1hMicrosPerMillion = usdToMicros(e.cache_write_1h_per_million);
  return r;
}

/** The policy's `models` entries as the price table's overrides (micro-dollars per million). */
export function priceOverrides(models: PolicyDoc['models']): Record<string, RateOverride> {
  const overrides: Record<string, RateOverride> = {};
  for (const [name, entry] of Object.entries(models)) {
    const o: RateOverride = ratesOf(entry);
    if (entry.tiers !== undefined) {
      o.tiers = entry.tiers.map((t) => ({ aboveInputTokens: t.above_input_tokens, ...ratesOf(t) }));
    }
    overrides[name] = o;
  }
  return overrides;
}

/**
 * The policy's price table (docs/models.md, "Prices"): the package's real
 * prices, the policy's `models` entries in their place by exact name, and an
 * unknown model priced at the policy's `default` entry (never $0).
 */
export function policyPrices(models: PolicyDoc['models']): PriceTable {
  return createPriceTable({ overrides: priceOverrides(models), defaultModel: DEFAULT_MODEL });
}
