import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { type WorkerRedisTarget, workerConnection } from '../audit/drain/connection.js';
import {
  DeliveryFailed,
  type DeliveryJob,
  type DeliveryProcessor,
  type DeliveryQueue,
  jobIdOf,
  type QueueSettings,
} from './types.js';

/**
 * The delivery queue on Redis (types.ts, DeliveryQueue): BullMQ queue
 * `tg-alerts` under the prefix `{tg-alerts}` (its keys share one Redis
 * Cluster slot, apart from the audit queue's `{tg-audit}` and the shards'),
 * and a worker on it in this process. Every job has the fixed id
 * `<event_id>.<webhook_id>.<run>`: BullMQ does not add a job whose id exists,
 * so a repeat add is a no-op while the job waits, waits out a retry, runs, or
 * is kept after completion (an hour). `attempts`, `backoff: exponential`
 * (backoffMs × 2^(attempts made − 1)) give the retries; a final failure is
 * thrown as UnrecoverableError (no retry: the store already holds it as a
 * dead letter) and the failed job is removed (the store keeps the dead
 * letters, in both modes).
 */
export const ALERTS_QUEUE_NAME = 'tg-alerts';
export const ALERTS_QUEUE_PREFIX = '{tg-alerts}';

export interface BullDeliveryQueue extends DeliveryQueue {
  readonly queue: Queue<DeliveryJob>;
  readonly worker: Worker<DeliveryJob>;
}

export async function bullQueue(
  redis: WorkerRedisTarget,
  process: DeliveryProcessor,
  s: QueueSettings,
): Promise<BullDeliveryQueue> {
  const connection = workerConnection(redis);
  connection.on('error', () => undefined);
  let closing = false;
  const jobOpts = {
    attempts: s.attempts,
    backoff: { type: 'exponential', delay: s.backoffMs },
    removeOnComplete: { age: Math.ceil(s.keepFinishedMs / 1000) },
    removeOnFail: true,
  };
  const queue = new Queue<DeliveryJob>(ALERTS_QUEUE_NAME, {
    connection,
    prefix: ALERTS_QUEUE_PREFIX,
    streams: { events: { maxLen: 1_000 } },
  });
  queue.on('error', (e) => s.log('error', 'alert queue error', { error: e.message }));
  const worker = new Worker<DeliveryJob>(
    ALERTS_QUEUE_NAME,
    async (job: Job<DeliveryJob>) => {
      try {
        return await process(job.data, job.attemptsMade);
      } catch (e) {
        if (e instanceof DeliveryFailed && e.final) throw new UnrecoverableError(e.message);
        throw e;
      }
    },
    { connection, prefix: ALERTS_QUEUE_PREFIX, concurrency: s.concurrency },
  );
  worker.on('failed', (job, err) => {
    // A receiver's failure is logged by the alerts; here, the machinery's own (the store, …).
    if (err instanceof DeliveryFailed || err instanceof UnrecoverableError) return;
    s.log('warn', 'alert delivery job failed', {
      job: job?.id,
      attempt: job?.attemptsMade,
      error: err.message,
    });
  });
  worker.on('error', (e) => {
    if (!closing) s.log('error', 'alert worker error', { error: e.message });
  });
  try {
    await worker.waitUntilReady();
    await queue.waitUntilReady();
  } catch (e) {
    await worker.close(true).catch(() => undefined);
    await queue.close().catch(() => undefined);
    connection.disconnect();
    throw e;
  }
  return {
    kind: 'bullmq',
    queue,
    worker,
    async add(jobs) {
      if (jobs.length === 0) return;
      await queue.addBulk(
        jobs.map((data) => ({ name: 'deliver', data, opts: { ...jobOpts, jobId: jobIdOf(data) } })),
      );
    },
    async close() {
      closing = true;
      await worker.close();
      await queue.close();
      await connection.quit().catch(() => undefined);
    },
  };
}
