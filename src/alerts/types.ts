import type { WorkerLog } from '../audit/drain/connection.js';
import type { AlertDeliveryOutcome } from '../metrics/alerts.js';

/**
 * Budget alerts delivered to webhooks (docs/operations.md, "Alerts"): the
 * shapes shared by the two delivery queues (BullMQ in Redis mode, in process
 * in embedded mode) and the code around them.
 */

/** One alert event to one webhook, in one run of its delivery (1, then +1 per retry of its dead letter). */
export interface DeliveryJob {
  eventId: string;
  webhookId: string;
  run: number;
}

/**
 * The job's id in either queue: derived from (event, webhook, run), so that
 * adding a delivery already in the queue (waiting, delayed, running, or
 * finished and still kept) adds nothing. No `:` (BullMQ refuses it in ids).
 */
export function jobIdOf(j: DeliveryJob): string {
  return `${j.eventId}.${j.webhookId}.${j.run}`;
}

/**
 * Runs one attempt of a delivery. `attemptsMade`: the attempts the queue
 * made of this job before (0 on the first). Throws to fail the attempt; a
 * DeliveryFailed with `final` set ends the job (no retry).
 */
export type DeliveryProcessor = (job: DeliveryJob, attemptsMade: number) => Promise<unknown>;

/** An attempt that failed (the receiver's answer or the network); `final`: no attempt is left. */
export class DeliveryFailed extends Error {
  constructor(
    message: string,
    readonly final: boolean,
  ) {
    super(message);
    this.name = 'DeliveryFailed';
  }
}

/**
 * The queue under the deliveries, one interface over BullMQ (bull-queue.ts)
 * and the in-process queue (memory-queue.ts), with the same semantics: a job
 * id is added once while the queue holds it; a failed attempt is retried
 * after `backoffMs`, then twice that, four times, … (exponential) up to
 * `attempts` attempts; a DeliveryFailed marked final is not retried.
 */
export interface DeliveryQueue {
  readonly kind: 'bullmq' | 'memory';
  add(jobs: readonly DeliveryJob[]): Promise<void>;
  /** Stops taking jobs and waits for the running ones. */
  close(): Promise<void>;
}

export interface QueueSettings {
  attempts: number;
  backoffMs: number;
  concurrency: number;
  /** How long a finished job's id is kept (a repeat add within it is a no-op). */
  keepFinishedMs: number;
  log: WorkerLog;
}

export interface AlertOptions {
  /** Attempts per delivery before it becomes a dead letter. Default 8. */
  attempts?: number;
  /** Wait before the first retry; doubles at each (30 s: 8 attempts over about an hour). Default 30 000 ms. */
  backoffMs?: number;
  /** Longest wait for the receiver's answer, per attempt. Default 10 000 ms. */
  timeoutMs?: number;
  /** Deliveries sent at once by this process. Default 4. */
  concurrency?: number;
  /**
   * How often the store is asked for deliveries to queue (a retried dead
   * letter; after a start, every pending one). Default 2 000 ms.
   */
  resumeEveryMs?: number;
  /** Where failures are logged (one JSON line each). Default: stderr. */
  log?: WorkerLog;
  /** Counts each attempt's outcome (the API's Metrics.alertDelivery; see AlertDelivery.observe). */
  onOutcome?: (outcome: AlertDeliveryOutcome) => void;
}

export const ALERT_DEFAULTS = {
  attempts: 8,
  backoffMs: 30_000,
  timeoutMs: 10_000,
  concurrency: 4,
  resumeEveryMs: 2_000,
  keepFinishedMs: 3_600_000,
} as const;

/** This process's delivery counters (attempts by outcome). */
export interface AlertStats {
  /** Attempts the receiver answered with a 2xx. */
  delivered: number;
  /** Attempts that failed and will be tried again. */
  failed: number;
  /** Attempts that failed with no attempt left: the delivery is a dead letter. */
  deadLettered: number;
  /** Jobs that found their delivery no longer pending (delivered, dead, retried or deleted). */
  skipped: number;
  /** Deliveries handed to the queue (a repeat counts again; the queue adds it once). */
  queued: number;
  /** The last failure of the delivery machinery itself (not a receiver's), if any. */
  lastError: string | null;
}
