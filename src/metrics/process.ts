import { collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * prom-client's default gauges whose names end in `_total`, which promtool
 * refuses ("non-counter metrics should not have "_total" suffix"). Each is
 * the sum of the by-type gauge of the same name without the suffix
 * (`nodejs_active_handles{type}`, `nodejs_active_requests{type}`,
 * `nodejs_active_resources{type}`), which stays: nothing is lost, the total
 * is `sum without (type) (nodejs_active_handles)` (docs/metrics.md).
 */
export const DROPPED_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

/** Node.js process metrics (`process_*`, `nodejs_*`) in `registry`, without DROPPED_DEFAULT_METRICS. */
export function processMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(name);
}
