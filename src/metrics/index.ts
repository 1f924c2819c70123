export {
  ALERT_DELIVERY_OUTCOMES,
  type AlertDeliveryOutcome,
  type AlertDeliveryRecorder,
} from './alerts.js';
export { type Backlog, readBacklog } from './backlog.js';
export { HTTP_BUCKETS, UNMATCHED_ROUTE } from './http.js';
export { InFlight } from './in-flight.js';
export {
  createMetrics,
  DECISION_BUCKETS,
  DECISION_OUTCOMES,
  type DecisionObservation,
  type DecisionOutcome,
  type DecisionRecorder,
  type Metrics,
  type MetricsOptions,
  NO_ROLE,
  OTHER_ROLE,
  type SettleObservation,
} from './metrics.js';
export {
  type ModelCallObservation,
  type ModelCallRecorder,
  modelLabel,
  OTHER_MODEL,
} from './model-spend.js';
export {
  DEFAULT_MAX_POOLS,
  OTHER_POOL,
  POOL_LIMITS,
  type PoolDenialObservation,
  type PoolLimit,
} from './pools.js';
export { DROPPED_DEFAULT_METRICS } from './process.js';
export type { SpendObservation, SpendRecorder } from './spend.js';
