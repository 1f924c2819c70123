/**
 * The adapter to `@pydantic/genai-prices` (its data ships in the package: no
 * network). It finds a model by provider and model id with the package's own
 * matching, picks the price in force at a time, and converts it to integer
 * micro-dollars per million tokens with tiers (docs/models.md, "Prices").
 */
import {
  calcPrice,
  findProvider,
  type ModelInfo,
  type ModelPrice as PackagePrice,
} from '@pydantic/genai-prices';
import { isObject } from './json.js';
import { completeRates, type PartialRates, usdToMicrosPerMillion } from './rates.js';
import type { ModelPrice, RateTier, TokenRates } from './types.js';

/** The package's price keys this core uses (others, e.g. audio or per-search prices, are not metered). */
const PACKAGE_KEYS: Readonly<Record<string, keyof TokenRates>> = {
  input_mtok: 'inputMicrosPerMillion',
  output_mtok: 'outputMicrosPerMillion',
  cache_read_mtok: 'cacheReadMicrosPerMillion',
  cache_write_mtok: 'cacheWriteMicrosPerMillion',
  cache_write_1h_mtok: 'cacheWrite1hMicrosPerMillion',
};

export interface PackageModel {
  /** The package's model id (e.g. `claude-sonnet-4-0` for `claude-sonnet-4-20250514`). */
  id: string;
  /** The package's provider id (`openai`, `anthropic`, …). */
  provider: string;
  info: ModelInfo;
}

function find(model: string, providerId: string | undefined): PackageModel | undefined {
  try {
    const found = calcPrice({}, model, providerId === undefined ? undefined : { providerId });
    return found
      ? { id: found.model.id, provider: found.provider.id, info: found.model }
      : undefined;
  } catch {
    return undefined; // a data entry the package itself cannot price: treated as unknown
  }
}

/**
 * The package's entry for a model: under `provider` when given and it has the
 * model, else under the provider whose model pattern matches the id.
 */
export function findPackageModel(model: string, provider?: string): PackageModel | undefined {
  return (provider === undefined ? undefined : find(model, provider)) ?? find(model, undefined);
}

/** The package's provider whose model pattern matches the id (`openai` for `gpt-4o`), if any. */
export function packageProviderOf(model: string): string | undefined {
  return findProvider({ modelId: model.toLowerCase().trim() })?.id;
}

/** Seconds since UTC midnight of a `HH:MM:SS[.fff](Z|±HH:MM)` time of day. */
function secondsOfDay(text: string): number {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$/.exec(text);
  if (!m) throw new Error(`invalid time of day in price data: ${text}`);
  const local = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(`0.${m[4] ?? ''}`);
  const offset = m[5] === 'Z' ? 0 : (Number(m[7]) * 60 + Number(m[8])) * 60;
  const utc = m[6] === '-' ? local + offset : local - offset;
  return (utc + 86_400) % 86_400;
}

function constraintHolds(c: Record<string, unknown>, atMs: number): boolean {
  if (typeof c.start_date === 'string') return atMs >= Date.parse(`${c.start_date}T00:00:00Z`);
  if (typeof c.start_time === 'string' && typeof c.end_time === 'string') {
    const d = new Date(atMs);
    const now = d.getUTCHours() * 3600 + d.getUTCMinutes() * 60 + d.getUTCSeconds();
    const start = secondsOfDay(c.start_time);
    const end = secondsOfDay(c.end_time);
    return end < start ? now >= start || now < end : now >= start && now < end;
  }
  throw new Error(`unknown price constraint in price data: ${JSON.stringify(c)}`);
}

/**
 * The price in force at `atMs`: the package's rule (the last entry whose
 * constraint holds; an entry without a constraint always holds; else the first).
 */
export function packagePriceAt(info: ModelInfo, atMs: number): PackagePrice {
  if (!Array.isArray(info.prices)) return info.prices;
  for (let i = info.prices.length - 1; i >= 0; i--) {
    const entry = info.prices[i];
    if (entry === undefined) continue;
    const c = entry.constraint as Record<string, unknown> | undefined;
    if (c === undefined || constraintHolds(c, atMs)) return entry.prices;
  }
  const first = info.prices[0];
  if (first === undefined) throw new Error(`model '${info.id}' has no prices in the price data`);
  return first.prices;
}

/** True when the model's price depends on the time (a start date or a time of day). */
export function isTimed(info: ModelInfo): boolean {
  return Array.isArray(info.prices);
}

interface Tiered {
  base: number;
  tiers: { start: number; price: number }[];
}

function isTiered(v: unknown): v is Tiered {
  return isObject(v) && typeof v.base === 'number' && Array.isArray(v.tiers);
}

/** A key's USD price for a call whose input is above `above` (undefined: the base band). */
function usdAt(v: number | Tiered, above: number | undefined): number {
  if (typeof v === 'number') return v;
  let usd = v.base;
  if (above === undefined) return usd;
  for (const t of [...v.tiers].sort((a, b) => a.start - b.start))
    if (t.start <= above) usd = t.price;
  return usd;
}

function ratesAt(keys: [keyof TokenRates, number | Tiered][], above?: number): TokenRates {
  const r: Partial<TokenRates> = {};
  for (const [key, v] of keys) r[key] = usdToMicrosPerMillion(usdAt(v, above));
  r.inputMicrosPerMillion ??= 0;
  r.outputMicrosPerMillion ??= 0;
  return completeRates(r as PartialRates);
}

/**
 * The package's price as integer micro-dollars per million tokens. A key with
 * tiers applies its tier's price to every token of a call whose input tokens
 * (all of them, cached included) are above the tier's start, as the package
 * does; the tiers of all keys are merged into one list. Undefined for a model
 * with neither an input nor an output token price (e.g. priced per second).
 */
export function toModelPrice(p: PackagePrice): ModelPrice | undefined {
  const keys: [keyof TokenRates, number | Tiered][] = [];
  for (const [packageKey, key] of Object.entries(PACKAGE_KEYS)) {
    const v = p[packageKey];
    if (typeof v === 'number' || isTiered(v)) keys.push([key, v]);
  }
  if (!keys.some(([k]) => k === 'inputMicrosPerMillion' || k === 'outputMicrosPerMillion')) {
    return undefined;
  }
  const starts = new Set<number>();
  for (const [, v] of keys) if (typeof v !== 'number') for (const t of v.tiers) starts.add(t.start);
  const tiers: RateTier[] = [...starts]
    .sort((a, b) => a - b)
    .map((above) => Object.freeze({ aboveInputTokens: above, ...ratesAt(keys, above) }));
  return Object.freeze({ rates: Object.freeze(ratesAt(keys)), tiers: Object.freeze(tiers) });
}
