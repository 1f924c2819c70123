export { type Backlog, readBacklog } from './backlog.js';
export {
  createMetrics,
  DECISION_BUCKETS,
  type DecisionObservation,
  type DecisionRecorder,
  HTTP_BUCKETS,
  type Metrics,
  type MetricsOptions,
  NO_ROLE,
  OTHER_ROLE,
  type SettleObservation,
  UNMATCHED_ROUTE,
} from './metrics.js';
export {
  MAX_MODEL_LABELS,
  type ModelCallObservation,
  type ModelCallRecorder,
  OTHER_MODEL,
} from './model-spend.js';
