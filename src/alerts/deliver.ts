import type { WebhookStore } from '../audit/store/webhooks.js';
import type { AlertDeliveryOutcome } from '../metrics/alerts.js';
import { postSigned } from './send.js';
import { alertBody } from './sign.js';
import { DeliveryFailed, type DeliveryJob } from './types.js';

/**
 * One attempt of one delivery, the same in both queues: read the delivery
 * from the store (with its webhook and event); if it is no longer pending in
 * this job's run (delivered, a dead letter, retried into a new run, its
 * webhook deleted), do nothing. Else send it, and record the outcome in the
 * store before the queue hears of it: delivered; failed (pending, the queue
 * retries); or, when this was the last attempt, dead (a dead letter, the job
 * ends). The attempt number is the larger of the store's count and the
 * queue's, so a job queued again after a restart does not get a fresh set.
 */
export interface DeliverContext {
  webhooks(): Promise<WebhookStore>;
  attempts: number;
  timeoutMs: number;
  /** Told of each attempt that reached the receiver or failed to. */
  outcome(
    o: AlertDeliveryOutcome,
    job: DeliveryJob,
    info: { attempt: number; error: string | null },
  ): void;
}

export type Attempted = 'delivered' | 'skipped';

export async function deliverOnce(
  ctx: DeliverContext,
  job: DeliveryJob,
  attemptsMade: number,
): Promise<Attempted> {
  const store = await ctx.webhooks();
  const d = await store.delivery(job.eventId, job.webhookId);
  if (d === null || d.status !== 'pending' || d.run !== job.run) return 'skipped';
  const attempt = Math.max(d.attempts, attemptsMade) + 1;
  const r = await postSigned(d.url, alertBody(d.event), {
    secret: d.secret,
    eventId: job.eventId,
    timeoutMs: ctx.timeoutMs,
  });
  const atMs = Date.now();
  if (r.ok) {
    await store.recordAttempt(job, {
      outcome: 'delivered',
      attempts: attempt,
      status: r.status,
      error: null,
      atMs,
    });
    ctx.outcome('delivered', job, { attempt, error: null });
    return 'delivered';
  }
  const dead = attempt >= ctx.attempts;
  await store.recordAttempt(job, {
    outcome: dead ? 'dead' : 'failed',
    attempts: attempt,
    status: r.status,
    error: r.error,
    atMs,
  });
  ctx.outcome(dead ? 'dead_lettered' : 'failed', job, { attempt, error: r.error });
  throw new DeliveryFailed(r.error ?? 'failed', dead);
}
