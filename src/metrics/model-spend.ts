import { Counter, type Registry } from 'prom-client';
import { amount } from './spend.js';

/**
 * The model spend counters (docs/metrics.md): what metered model calls cost
 * and used, by model, counted by the code that settles them (the gateway, a
 * settle that names a model). The label is bounded by the price table: a
 * model it knows is counted under the table's id for it (`pricedAs`), any
 * other model as `other`, whatever models callers name.
 */

/** The `model` label of a model the price table does not know. */
export const OTHER_MODEL = 'other';

/**
 * One model call's spend, as its settle recorded it. The usage's cache counts
 * are parts of `inputTokens` (src/models/types.ts Usage is one of these).
 */
export interface ModelCallObservation {
  /** The model the call was made to (the hold's). */
  model: string;
  /** What the settle charged, micro-dollars. */
  costMicros: number;
  usage: {
    inputTokens: number;
    outputTokens: number;
    cacheReadTokens?: number;
    cacheWriteTokens?: number;
  };
}

/** Counts one model call (see ModelCallObservation). */
export type ModelCallRecorder = (c: ModelCallObservation) => void;

/** What the label needs of the price table (src/models `PriceTable`). */
export interface ModelLabelSource {
  lookup(model: string): { unknown: boolean; pricedAs: string };
}

const USD = 1_000_000;

/** A model's label: the price table's id for it, or OTHER_MODEL. */
export function modelLabel(prices: ModelLabelSource, model: string): string {
  try {
    const found = prices.lookup(model);
    return found.unknown ? OTHER_MODEL : found.pricedAs;
  } catch {
    return OTHER_MODEL;
  }
}

/**
 * Registers `tollgate_model_spend_usd_total` and `tollgate_model_tokens_total`;
 * returns the recorder. `prices()`: the price table now (the policy's).
 */
export function modelSpendMetrics(
  registers: Registry[],
  prices: () => ModelLabelSource,
): ModelCallRecorder {
  const spend = new Counter({
    name: 'tollgate_model_spend_usd_total',
    help: `Cost (USD) settled for metered model calls, by model: the price table's id for it, or "${OTHER_MODEL}" for a model it does not know.`,
    labelNames: ['model'] as const,
    registers,
  });
  const tokens = new Counter({
    name: 'tollgate_model_tokens_total',
    help: `Tokens of metered model calls, by model (as in tollgate_model_spend_usd_total) and kind: input (every input token, cache reads and writes included), output, cache_read, cache_write (parts of input).`,
    labelNames: ['model', 'kind'] as const,
    registers,
  });
  return (c) => {
    const model = modelLabel(prices(), c.model);
    const u = c.usage;
    spend.inc({ model }, amount(c.costMicros) / USD);
    tokens.inc({ model, kind: 'input' }, amount(u.inputTokens));
    tokens.inc({ model, kind: 'output' }, amount(u.outputTokens));
    tokens.inc({ model, kind: 'cache_read' }, amount(u.cacheReadTokens));
    tokens.inc({ model, kind: 'cache_write' }, amount(u.cacheWriteTokens));
  };
}
