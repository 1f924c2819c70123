import {
  DeliveryFailed,
  type DeliveryJob,
  type DeliveryProcessor,
  type DeliveryQueue,
  jobIdOf,
  type QueueSettings,
} from './types.js';

/**
 * The delivery queue in process (embedded mode: no Redis, no BullMQ), with
 * BullMQ's semantics as the alerts use them (types.ts, DeliveryQueue): an id
 * is added once while the queue knows it (waiting, waiting out a retry,
 * running, or finished less than `keepFinishedMs` ago); up to `concurrency`
 * jobs run at once, oldest first; a failed attempt waits `backoffMs`,
 * then twice that, … (BullMQ's exponential: backoffMs × 2^(attempts made − 1))
 * and runs again, until `attempts` attempts or a final DeliveryFailed.
 * Nothing here survives the process: the store keeps every pending delivery,
 * and the alerts queue them again when the process starts (alerts.ts).
 */

interface Entry {
  job: DeliveryJob;
  attemptsMade: number;
  /** Set when the job ended (delivered, or no attempt left): kept until then + keepFinishedMs. */
  finishedAt?: number;
  timer?: NodeJS.Timeout;
}

export function memoryQueue(process: DeliveryProcessor, s: QueueSettings): DeliveryQueue {
  const entries = new Map<string, Entry>();
  const ready: string[] = [];
  const running = new Set<Promise<void>>();
  let closed = false;

  const prune = (now: number) => {
    for (const [id, e] of entries) {
      if (e.finishedAt !== undefined && now - e.finishedAt >= s.keepFinishedMs) entries.delete(id);
    }
  };

  const finish = (e: Entry) => {
    e.finishedAt = Date.now();
  };

  const run = async (id: string, e: Entry): Promise<void> => {
    try {
      await process(e.job, e.attemptsMade);
      e.attemptsMade++;
      finish(e);
    } catch (err) {
      e.attemptsMade++;
      const final = err instanceof DeliveryFailed && err.final;
      if (final || e.attemptsMade >= s.attempts || closed) {
        if (!(err instanceof DeliveryFailed)) {
          s.log('warn', 'alert delivery job failed', {
            job: id,
            attempt: e.attemptsMade,
            error: (err as Error)?.message ?? String(err),
          });
        }
        finish(e);
        return;
      }
      const delay = Math.round(s.backoffMs * 2 ** (e.attemptsMade - 1));
      e.timer = setTimeout(() => {
        e.timer = undefined;
        ready.push(id);
        pump();
      }, delay);
      e.timer.unref();
    }
  };

  const pump = (): void => {
    while (!closed && running.size < s.concurrency && ready.length > 0) {
      const id = ready.shift() as string;
      const e = entries.get(id);
      if (e === undefined) continue;
      const p = run(id, e).finally(() => {
        running.delete(p);
        pump();
      });
      running.add(p);
    }
  };

  return {
    kind: 'memory',
    async add(jobs) {
      if (closed) throw new Error('The alert delivery queue is closed');
      prune(Date.now());
      for (const job of jobs) {
        const id = jobIdOf(job);
        if (entries.has(id)) continue;
        entries.set(id, { job, attemptsMade: 0 });
        ready.push(id);
      }
      pump();
    },
    async close() {
      closed = true;
      for (const e of entries.values()) if (e.timer !== undefined) clearTimeout(e.timer);
      await Promise.allSettled([...running]);
    },
  };
}
