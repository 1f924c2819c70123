/**
 * The price table (docs/models.md, "Prices"): a model's price from the
 * overrides (plain data, e.g. the policy's), else from `@pydantic/genai-prices`;
 * a model neither knows is priced at the default model's and flagged `unknown`,
 * never at $0. An instance holds its own bounded cache of lookups.
 */
import type { ModelInfo, ModelPrice as PackagePrice } from '@pydantic/genai-prices';
import { TollgateError } from '../errors.js';
import { Lru } from './lru.js';
import { findPackageModel, isTimed, packagePriceAt, toModelPrice } from './package-prices.js';
import { priceFromOverride } from './rates.js';
import type { ModelPrice, PriceLookup, RateOverride } from './types.js';

export interface PriceTableOptions {
  /** Prices that replace the package's, by exact model name; each is the model's whole price. */
  overrides?: Readonly<Record<string, RateOverride>>;
  /** The model whose price an unknown model gets: an override's name, else a model the package knows. */
  defaultModel: string;
  /** How many distinct model names the lookup cache keeps (default 1,024). */
  maxCachedModels?: number;
}

export interface LookupOptions {
  /** The package's provider id to look under first (`openai`, `anthropic`, …). */
  provider?: string;
  /** The time whose price applies, in ms since the epoch (default: now). Some prices change by date or hour. */
  atMs?: number;
}

export interface PriceTable {
  lookup(model: string, options?: LookupOptions): PriceLookup;
}

/** A model name resolved once: a fixed price, or the package's entry when its price depends on the time. */
interface Entry {
  pricedAs: string;
  source: 'override' | 'table';
  fixed: ModelPrice | undefined;
  timed: ModelInfo | undefined;
}

export const DEFAULT_MAX_CACHED_MODELS = 1024;

export function createPriceTable(options: PriceTableOptions): PriceTable {
  const overrides = new Map<string, ModelPrice>();
  for (const [name, o] of Object.entries(options.overrides ?? {})) {
    overrides.set(name, priceFromOverride(name, o));
  }
  const converted = new WeakMap<PackagePrice, ModelPrice | null>();
  const cache = new Lru<string, Entry | null>(options.maxCachedModels ?? DEFAULT_MAX_CACHED_MODELS);

  const convert = (p: PackagePrice): ModelPrice | undefined => {
    let c = converted.get(p);
    if (c === undefined) {
      c = toModelPrice(p) ?? null;
      converted.set(p, c);
    }
    return c ?? undefined;
  };

  const resolve = (model: string, provider: string | undefined): Entry | undefined => {
    const own = overrides.get(model);
    if (own !== undefined)
      return { pricedAs: model, source: 'override', fixed: own, timed: undefined };
    const found = findPackageModel(model, provider);
    if (found === undefined) return undefined;
    if (isTimed(found.info)) {
      return { pricedAs: found.id, source: 'table', fixed: undefined, timed: found.info };
    }
    const fixed = convert(packagePriceAt(found.info, 0));
    return fixed && { pricedAs: found.id, source: 'table', fixed, timed: undefined };
  };

  const priceOf = (e: Entry, atMs: number): ModelPrice | undefined =>
    e.fixed ?? (e.timed && convert(packagePriceAt(e.timed, atMs)));

  const fallback = resolve(options.defaultModel, undefined);
  const fallbackNow = fallback && priceOf(fallback, Date.now());
  if (fallback === undefined || fallbackNow === undefined) {
    throw new TollgateError(
      'VALIDATION_FAILED',
      `default model '${options.defaultModel}' has no price: name an override or a model the price table knows`,
    );
  }

  return {
    lookup(model, opts = {}) {
      const atMs = opts.atMs ?? Date.now();
      const key = `${opts.provider ?? ''}\u0000${model}`;
      let entry = cache.get(key);
      if (entry === undefined) {
        entry = resolve(model, opts.provider) ?? null;
        cache.set(key, entry);
      }
      const price = entry && priceOf(entry, atMs);
      if (entry && price) {
        return { model, pricedAs: entry.pricedAs, source: entry.source, unknown: false, price };
      }
      return {
        model,
        pricedAs: fallback.pricedAs,
        source: 'default',
        unknown: true,
        price: priceOf(fallback, atMs) ?? fallbackNow,
      };
    },
  };
}
