import type { OutboxEntry } from '../../engine/types.js';
import { type AuditEvent, EventParseError, parseOutboxFields } from '../event.js';
import type { AuditStore } from '../store/types.js';

/**
 * The embedded drain (ARCHITECTURE.md, rule 'Embedded by default'): no Redis,
 * so no BullMQ. An in-process
 * loop moves MemoryEngine's outbox into the store in batches with the same
 * store code as the worker (parseOutboxFields, then one insertEvents per
 * batch, ON CONFLICT (event_id) DO NOTHING). Entries leave the outbox only
 * after the store has them; while the store fails the loop retries the same
 * batch with exponential backoff, so no event is dropped.
 */

/** What the drain needs of the engine: MemoryEngine's peek/ack pair. */
export interface OutboxSource {
  takeOutbox(max: number): OutboxEntry[];
  ackOutbox(entries: readonly OutboxEntry[]): number;
  outboxBacklog(): { shard: number; length: number; oldestMs: number | null }[];
}

export interface EmbeddedDrainOptions {
  engine: OutboxSource;
  store: Pick<AuditStore, 'insertEvents'>;
  /** Pause between drains when the outbox is empty or was drained. Default 200 ms. */
  intervalMs?: number;
  /** Most events per insert. Default 1,000. */
  batch?: number;
  /** First retry delay after a store failure; doubles per failure. Default 100 ms. */
  retryMinMs?: number;
  /** Longest retry delay. Default 10 s. */
  retryMaxMs?: number;
  /** Told of each store failure (the batch stays in the outbox and is retried). Default: console.error. */
  onError?: (error: unknown, info: { attempt: number; retryInMs: number }) => void;
  /**
   * Told of an entry that can never be stored because it does not parse (a
   * bug, not an outage): it is taken out of the outbox so it cannot block the
   * others. Default: console.error.
   */
  onRejected?: (entry: OutboxEntry, error: EventParseError) => void;
}

export interface DrainStats {
  /** Events handed to the store and acknowledged. */
  drained: number;
  /** Of those, how many were new to the store. */
  inserted: number;
  /** Entries taken out because they did not parse. */
  rejected: number;
  /** Store failures since the last successful insert (0: healthy). */
  failures: number;
  lastError: string | null;
  /** Date.now() of the last successful drain, null before the first. */
  lastSuccessAt: number | null;
  /** Undrained events in the outbox. */
  backlog: number;
  /** Process time (ms) of the oldest undrained event, null when none. */
  oldestMs: number | null;
}

export interface EmbeddedDrain {
  /**
   * Drains everything now (for shutdown): runs until the outbox is empty,
   * retrying while the store fails, for at most `timeoutMs` (default 10 s),
   * then rejects with DrainFlushError naming what is left (still in the
   * outbox, nothing lost while the process lives). Resolves with the number
   * of outbox entries it drained. Works after stop() too.
   */
  flush(opts?: { timeoutMs?: number }): Promise<number>;
  /**
   * Stops the loop and waits for a drain in progress. Does not flush: on
   * shutdown call stop() and then flush() (flush works after stop).
   */
  stop(): Promise<void>;
  stats(): DrainStats;
}

export class DrainFlushError extends Error {
  constructor(
    message: string,
    readonly pending: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DrainFlushError';
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function positive(v: number, what: string): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${what} must be >= 0, got ${v}`);
  return v;
}

/** Starts the loop; the first drain runs at once. */
export function startEmbeddedDrain(opts: EmbeddedDrainOptions): EmbeddedDrain {
  const { engine, store } = opts;
  const intervalMs = positive(opts.intervalMs ?? 200, 'intervalMs');
  const batch = opts.batch ?? 1000;
  if (!Number.isSafeInteger(batch) || batch < 1) {
    throw new RangeError(`batch must be a positive integer, got ${batch}`);
  }
  const retryMinMs = positive(opts.retryMinMs ?? 100, 'retryMinMs');
  const retryMaxMs = Math.max(retryMinMs, positive(opts.retryMaxMs ?? 10_000, 'retryMaxMs'));
  const onError =
    opts.onError ??
    ((e: unknown, info: { attempt: number; retryInMs: number }) =>
      console.error(
        `tollgate: audit drain: store failed (attempt ${info.attempt}, retry in ${info.retryInMs} ms): ${(e as Error)?.message ?? e}`,
      ));
  const onRejected =
    opts.onRejected ??
    ((entry: OutboxEntry, e: EventParseError) =>
      console.error(
        `tollgate: audit drain: dropped unparseable outbox entry ${entry.shard}/${entry.streamId}: ${e.message}`,
      ));

  const counts = {
    drained: 0,
    inserted: 0,
    rejected: 0,
    failures: 0,
    lastError: null as string | null,
    lastSuccessAt: null as number | null,
  };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  /** Every drain runs under this chain: one at a time, in call order. */
  let chain: Promise<unknown> = Promise.resolve();

  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = chain.then(fn);
    chain = run.catch(() => {});
    return run;
  }

  const backoff = (attempt: number) =>
    Math.min(retryMaxMs, retryMinMs * 2 ** Math.min(attempt - 1, 30));

  function failed(e: unknown): number {
    counts.failures++;
    counts.lastError = e instanceof Error ? e.message : String(e);
    const retryInMs = backoff(counts.failures);
    try {
      onError(e, { attempt: counts.failures, retryInMs });
    } catch {
      // A failing error handler must not stop the drain.
    }
    return retryInMs;
  }

  /** One batch: take, parse, insert, acknowledge. Returns how many entries it took. */
  async function drainOnce(): Promise<number> {
    const entries = engine.takeOutbox(batch);
    if (entries.length === 0) return 0;
    const events: AuditEvent[] = [];
    let bad = 0;
    for (const entry of entries) {
      try {
        events.push(parseOutboxFields(entry.fields));
      } catch (e) {
        if (!(e instanceof EventParseError)) throw e;
        bad++;
        try {
          onRejected(entry, e);
        } catch {
          // ignored, as for onError
        }
      }
    }
    const inserted = events.length > 0 ? await store.insertEvents(events) : 0;
    engine.ackOutbox(entries);
    counts.drained += events.length;
    counts.inserted += inserted;
    counts.rejected += bad;
    counts.failures = 0;
    counts.lastError = null;
    counts.lastSuccessAt = Date.now();
    return entries.length;
  }

  function schedule(ms: number): void {
    if (stopped) return;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(tick, ms);
    // The loop alone does not keep the process alive: shut down with flush().
    timer.unref();
  }

  function tick(): void {
    timer = undefined;
    void exclusive(async () => {
      if (stopped) return;
      let delay = intervalMs;
      try {
        // Go on while there is more: a full batch means the outbox may hold more.
        while (!stopped && (await drainOnce()) === batch) {}
      } catch (e) {
        delay = failed(e);
      }
      schedule(delay);
    });
  }

  function pending(): number {
    let n = 0;
    for (const s of engine.outboxBacklog()) n += s.length;
    return n;
  }

  schedule(0);

  return {
    flush(flushOpts = {}) {
      const timeoutMs = positive(flushOpts.timeoutMs ?? 10_000, 'timeoutMs');
      return exclusive(async () => {
        const deadline = Date.now() + timeoutMs;
        let total = 0;
        for (;;) {
          let n: number;
          try {
            n = await drainOnce();
          } catch (e) {
            const retryInMs = failed(e);
            if (Date.now() + retryInMs > deadline) {
              const left = pending();
              throw new DrainFlushError(
                `Audit drain: ${left} event(s) not stored after ${timeoutMs} ms: ${counts.lastError}`,
                left,
                { cause: e },
              );
            }
            await sleep(retryInMs);
            continue;
          }
          if (n === 0) return total;
          total += n;
        }
      });
    },

    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await chain;
    },

    stats() {
      let backlog = 0;
      let oldestMs: number | null = null;
      for (const s of engine.outboxBacklog()) {
        backlog += s.length;
        if (s.oldestMs !== null && (oldestMs === null || s.oldestMs < oldestMs)) {
          oldestMs = s.oldestMs;
        }
      }
      return { ...counts, backlog, oldestMs };
    },
  };
}
