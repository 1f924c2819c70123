import { Counter, type Registry } from 'prom-client';

/**
 * `tollgate_alert_deliveries_total{outcome}`: budget alert deliveries to
 * webhooks, one per attempt, by how it ended. Registered with every outcome
 * at 0; counted by the alert delivery code through `Metrics.alertDelivery`.
 */

/**
 * How a delivery attempt ended: `delivered` (the receiver answered 2xx),
 * `failed` (it will be tried again), `dead_lettered` (failed, no attempt left).
 */
export const ALERT_DELIVERY_OUTCOMES = ['delivered', 'failed', 'dead_lettered'] as const;
export type AlertDeliveryOutcome = (typeof ALERT_DELIVERY_OUTCOMES)[number];

/** Counts `n` (default 1) delivery attempts that ended with `outcome`. */
export type AlertDeliveryRecorder = (outcome: AlertDeliveryOutcome, n?: number) => void;

export function alertDeliveryMetrics(registers: Registry[]): AlertDeliveryRecorder {
  const deliveries = new Counter({
    name: 'tollgate_alert_deliveries_total',
    help: 'Budget alert delivery attempts to webhooks, by outcome: delivered (2xx), failed (to be tried again), dead_lettered (failed, no attempt left).',
    labelNames: ['outcome'] as const,
    registers,
  });
  for (const outcome of ALERT_DELIVERY_OUTCOMES) deliveries.inc({ outcome }, 0);
  return (outcome, n = 1) => {
    if (!ALERT_DELIVERY_OUTCOMES.includes(outcome)) return;
    if (Number.isFinite(n) && n > 0) deliveries.inc({ outcome }, n);
  };
}
