/**
 * The model-call metering core (docs/models.md): prices, usage in one shape,
 * the hold from a request, and the usage of a streamed response. Pure: no
 * engine, no network, no store.
 */
export { ratesFor, usageCostMicros } from './cost.js';
export {
  DEFAULT_ATTACHMENT_TOKENS,
  type Hold,
  type HoldCost,
  type HoldOptions,
  type HoldTokens,
  holdCost,
  holdFor,
  holdTokens,
} from './hold.js';
export { meteredBody } from './metered-body.js';
export {
  createPriceTable,
  DEFAULT_MAX_CACHED_MODELS,
  type LookupOptions,
  type PriceTable,
  type PriceTableOptions,
} from './price-table.js';
export { parseModelRequest } from './request.js';
export type { CacheWrite, ModelRequest } from './request-types.js';
export { createStreamMeter, type StreamMeter, type StreamMeterOptions } from './stream-meter.js';
export {
  bytesBound,
  type Counting,
  type CountText,
  countingFor,
  createTokenCounter,
  DEFAULT_MEMO_ENTRIES,
  loadO200k,
  type TokenCounter,
  type TokenCounterOptions,
} from './token-counter.js';
export {
  MODEL_APIS,
  type ModelApi,
  type ModelPrice,
  type PriceLookup,
  type PriceSource,
  type RateOverride,
  type RateTier,
  type RateTierOverride,
  type TokenRates,
  type Usage,
} from './types.js';
export { anthropicUsage, chatUsage, responsesUsage, usageFromBody } from './usage.js';
