/**
 * Budget alerts delivered to webhooks, exactly once per (alert event,
 * webhook), signed, retried with backoff, dead letters kept in the store
 * (docs/operations.md, "Alerts"). One interface over two queues: BullMQ in
 * Redis mode (the audit worker's process), in process in embedded mode.
 */
export {
  type AlertDelivery,
  startEmbeddedAlerts,
  startRedisAlerts,
  webhooksOf,
  withAlerts,
} from './alerts.js';
export { ALERTS_QUEUE_NAME, ALERTS_QUEUE_PREFIX, type BullDeliveryQueue } from './bull-queue.js';
export { type Attempted, type DeliverContext, deliverOnce } from './deliver.js';
export { memoryQueue } from './memory-queue.js';
export { isWebhookUrl, MAX_REDIRECTS, postSigned, type SendResult } from './send.js';
export {
  alertBody,
  DEFAULT_TOLERANCE_S,
  EVENT_ID_HEADER,
  SIGNATURE_HEADER,
  signatureHeader,
  verifySignature,
} from './sign.js';
export {
  ALERT_DEFAULTS,
  type AlertOptions,
  type AlertStats,
  DeliveryFailed,
  type DeliveryJob,
  type DeliveryProcessor,
  type DeliveryQueue,
  jobIdOf,
  type QueueSettings,
} from './types.js';
