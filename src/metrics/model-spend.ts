import { Counter, type Registry } from 'prom-client';

/**
 * The model spend counters (docs/metrics.md): what metered model calls cost
 * and used, by model, counted by the code that settles them (the gateway, a
 * settle that names a model). Label values are bounded: the first
 * MAX_MODEL_LABELS distinct models keep their names, any later one is
 * `other`, so the series stay bounded whatever models callers name.
 */

/** Most distinct `model` label values; later models count as OTHER_MODEL. */
export const MAX_MODEL_LABELS = 200;
/** The `model` label of a model past MAX_MODEL_LABELS. */
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

const USD = 1_000_000;

/** A count as a counter increment: a finite number above 0, else 0. */
function amount(n: number | undefined): number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0;
}

/** Registers `tollgate_model_spend_usd_total` and `tollgate_model_tokens_total`; returns the recorder. */
export function modelSpendMetrics(registers: Registry[]): ModelCallRecorder {
  const spend = new Counter({
    name: 'tollgate_model_spend_usd_total',
    help: `Cost (USD) settled for metered model calls, by model (after ${MAX_MODEL_LABELS} distinct models, any other is "${OTHER_MODEL}").`,
    labelNames: ['model'] as const,
    registers,
  });
  const tokens = new Counter({
    name: 'tollgate_model_tokens_total',
    help: `Tokens of metered model calls, by model and kind: input (every input token, cache reads and writes included), output, cache_read, cache_write (parts of input). After ${MAX_MODEL_LABELS} distinct models, any other is "${OTHER_MODEL}".`,
    labelNames: ['model', 'kind'] as const,
    registers,
  });
  const seen = new Set<string>();
  const labelOf = (model: string): string => {
    if (seen.has(model)) return model;
    if (seen.size >= MAX_MODEL_LABELS || model === '') return OTHER_MODEL;
    seen.add(model);
    return model;
  };
  return (c) => {
    const model = labelOf(c.model);
    const u = c.usage;
    spend.inc({ model }, amount(c.costMicros) / USD);
    tokens.inc({ model, kind: 'input' }, amount(u.inputTokens));
    tokens.inc({ model, kind: 'output' }, amount(u.outputTokens));
    tokens.inc({ model, kind: 'cache_read' }, amount(u.cacheReadTokens));
    tokens.inc({ model, kind: 'cache_write' }, amount(u.cacheWriteTokens));
  };
}
