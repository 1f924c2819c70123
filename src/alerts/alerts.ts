import { defaultLog, type WorkerRedisTarget } from '../audit/drain/connection.js';
import type { AuditEvent } from '../audit/event-types.js';
import type { AuditStore } from '../audit/store/types.js';
import type { DeliveryKey, WebhookStore } from '../audit/store/webhooks.js';
import { TollgateError } from '../errors.js';
import type { AlertDeliveryOutcome } from '../metrics/alerts.js';
import { bullQueue } from './bull-queue.js';
import { type DeliverContext, deliverOnce } from './deliver.js';
import { memoryQueue } from './memory-queue.js';
import {
  ALERT_DEFAULTS,
  type AlertOptions,
  type AlertStats,
  type DeliveryProcessor,
  type DeliveryQueue,
  type QueueSettings,
} from './types.js';

/**
 * Budget alerts to webhooks, exactly once per (alert event, webhook)
 * (docs/operations.md, "Alerts"):
 *
 * 1. The drain stores a budget_alert event; the same insert statement makes
 *    one pending delivery row per matching webhook, only for rows it newly
 *    stored (src/audit/store/insert.ts): a duplicate delivery of the outbox
 *    entry makes none.
 * 2. Before the drain acknowledges the batch, `stored()` hands the pending
 *    deliveries of its alert events to the queue, each under the job id
 *    `<event_id>.<webhook_id>.<run>` (a repeat is a no-op). If that fails, the
 *    batch is not acknowledged, comes again, and is queued then.
 * 3. The queue (BullMQ in Redis mode, in process in embedded mode: the same
 *    retries) runs deliverOnce, which records every outcome in the store.
 * 4. Every `resumeEveryMs`, the store is asked for runs not queued yet (a
 *    dead letter retried through the API); once after the start, for every
 *    pending delivery (a queue that lost its jobs: the in-process one always
 *    does at a restart).
 */
export interface AlertDelivery {
  readonly kind: DeliveryQueue['kind'];
  readonly queue: DeliveryQueue;
  /** After a batch is stored, before it is acknowledged: queue its alert events' pending deliveries. */
  stored(events: readonly AuditEvent[]): Promise<void>;
  /** Queues the runs not queued yet (a retried dead letter) now, rather than at the next tick. */
  resume(): Promise<number>;
  /** Adds a counter of attempts by outcome (the API's Metrics.alertDelivery). */
  observe(recorder: (outcome: AlertDeliveryOutcome) => void): void;
  stats(): AlertStats;
  /** Stops the timer and the queue (running attempts finish). */
  close(): Promise<void>;
}

/** Rows asked of the store at a time. */
const PAGE = 1_000;

function positive(v: number, what: string): number {
  if (!Number.isSafeInteger(v) || v < 1)
    throw new RangeError(`${what} must be a positive integer, got ${v}`);
  return v;
}

function settingsOf(
  opts: AlertOptions,
): QueueSettings & { timeoutMs: number; resumeEveryMs: number } {
  return {
    attempts: positive(opts.attempts ?? ALERT_DEFAULTS.attempts, 'attempts'),
    backoffMs: positive(opts.backoffMs ?? ALERT_DEFAULTS.backoffMs, 'backoffMs'),
    timeoutMs: positive(opts.timeoutMs ?? ALERT_DEFAULTS.timeoutMs, 'timeoutMs'),
    concurrency: positive(opts.concurrency ?? ALERT_DEFAULTS.concurrency, 'concurrency'),
    resumeEveryMs: positive(opts.resumeEveryMs ?? ALERT_DEFAULTS.resumeEveryMs, 'resumeEveryMs'),
    keepFinishedMs: ALERT_DEFAULTS.keepFinishedMs,
    log: opts.log ?? defaultLog,
  };
}

/** The store's webhooks, or STORE_UNAVAILABLE for a store without them. */
export function webhooksOf(store: AuditStore): WebhookStore {
  if (store.webhooks === undefined) {
    throw new TollgateError('STORE_UNAVAILABLE', 'This audit store keeps no webhooks');
  }
  return store.webhooks;
}

async function startAlerts(
  opts: AlertOptions,
  webhooks: () => Promise<WebhookStore>,
  makeQueue: (p: DeliveryProcessor, s: QueueSettings) => Promise<DeliveryQueue>,
): Promise<AlertDelivery> {
  const s = settingsOf(opts);
  const stats: AlertStats = {
    delivered: 0,
    failed: 0,
    deadLettered: 0,
    skipped: 0,
    queued: 0,
    lastError: null,
  };
  const recorders: ((o: AlertDeliveryOutcome) => void)[] = opts.onOutcome ? [opts.onOutcome] : [];
  const ctx: DeliverContext = {
    webhooks,
    attempts: s.attempts,
    timeoutMs: s.timeoutMs,
    outcome(o, job, info) {
      if (o === 'delivered') stats.delivered++;
      else if (o === 'failed') stats.failed++;
      else stats.deadLettered++;
      for (const r of recorders) r(o);
      if (o !== 'delivered') {
        s.log(
          'warn',
          o === 'failed' ? 'alert delivery failed; will retry' : 'alert delivery dead-lettered',
          {
            event_id: job.eventId,
            webhook_id: job.webhookId,
            run: job.run,
            attempt: info.attempt,
            attempts: s.attempts,
            error: info.error,
          },
        );
      }
    },
  };
  const queue = await makeQueue(async (job, made) => {
    if ((await deliverOnce(ctx, job, made)) === 'skipped') stats.skipped++;
  }, s);

  const enqueue = async (store: WebhookStore, keys: readonly DeliveryKey[]): Promise<void> => {
    if (keys.length === 0) return;
    const jobs = keys.map((k) => ({ eventId: k.eventId, webhookId: k.webhookId, run: k.run }));
    await queue.add(jobs);
    stats.queued += jobs.length;
    await store.markQueued(jobs);
  };

  /** Every pending delivery (after a start), page by page. */
  const resumeAll = async (): Promise<number> => {
    const store = await webhooks();
    let n = 0;
    let after: { createdAt: number; eventId: string; webhookId: string } | undefined;
    for (;;) {
      const keys = await store.toQueue({ all: true, limit: PAGE, ...(after ? { after } : {}) });
      await enqueue(store, keys);
      n += keys.length;
      const last = keys.at(-1);
      if (last === undefined || keys.length < PAGE) return n;
      after = last;
    }
  };

  /** The runs not queued yet. */
  const resumeNew = async (): Promise<number> => {
    const store = await webhooks();
    let n = 0;
    for (;;) {
      const keys = await store.toQueue({ limit: PAGE });
      await enqueue(store, keys);
      n += keys.length;
      if (keys.length < PAGE) return n;
    }
  };

  let closed = false;
  let needAll = true;
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<unknown> = Promise.resolve();
  const tick = () => {
    timer = undefined;
    ticking = (async () => {
      try {
        if (needAll) {
          await resumeAll();
          needAll = false;
        }
        await resumeNew();
      } catch (e) {
        stats.lastError = (e as Error)?.message ?? String(e);
        s.log('warn', 'alert deliveries could not be queued; will try again', {
          error: stats.lastError,
        });
      }
      if (!closed) {
        timer = setTimeout(tick, s.resumeEveryMs);
        timer.unref();
      }
    })();
  };
  timer = setTimeout(tick, 0);
  timer.unref();

  return {
    kind: queue.kind,
    queue,
    async stored(events) {
      const ids: string[] = [];
      for (const e of events) if (e.type === 'budget_alert') ids.push(e.event_id);
      if (ids.length === 0) return;
      const store = await webhooks();
      await enqueue(store, await store.toQueue({ eventIds: ids, limit: ids.length * 100 }));
    },
    resume: resumeNew,
    observe(recorder) {
      recorders.push(recorder);
    },
    stats: () => ({ ...stats }),
    async close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      await ticking.catch(() => undefined);
      await queue.close();
    },
  };
}

/** Embedded mode: the in-process queue, on the store the embedded drain writes. */
export function startEmbeddedAlerts(
  store: AuditStore,
  opts: AlertOptions = {},
): Promise<AlertDelivery> {
  const webhooks = webhooksOf(store);
  return startAlerts(
    opts,
    async () => webhooks,
    async (p, s) => memoryQueue(p, s),
  );
}

/** Redis mode (the audit worker's process): the BullMQ queue `{tg-alerts}`; the store opened on first use. */
export function startRedisAlerts(
  redis: WorkerRedisTarget,
  store: () => Promise<AuditStore>,
  opts: AlertOptions = {},
): Promise<AlertDelivery> {
  return startAlerts(
    opts,
    async () => webhooksOf(await store()),
    (p, s) => bullQueue(redis, p, s),
  );
}

/**
 * The store as the drains see it with alerts on: insertEvents stores the
 * batch, then queues its alert events' deliveries (AlertDelivery.stored),
 * before the drain acknowledges the batch. Everything else is the store's.
 */
export function withAlerts(store: AuditStore, alerts: Pick<AlertDelivery, 'stored'>): AuditStore {
  const insertEvents = async (events: readonly AuditEvent[]): Promise<number> => {
    const n = await store.insertEvents(events);
    await alerts.stored(events);
    return n;
  };
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'insertEvents') return insertEvents;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
