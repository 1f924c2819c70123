import { type AuditEvent, EventParseError, parseOutboxFields } from '../event.js';
import type { AuditStore } from '../store/types.js';
import {
  ackAndDelete,
  claimIdle,
  type DeadLetter,
  type RedisClient,
  readNew,
  readPending,
  type StreamEntry,
} from './redis-outbox.js';

/** XREADGROUP COUNT ceiling (and default): one INSERT per batch of at most this many events. */
export const MAX_BATCH = 1000;
/** Entries pending this long belong to a drain that died (or hung): claim them. */
export const DEFAULT_CLAIM_IDLE_MS = 10_000;

export interface DrainShardOptions {
  redis: RedisClient;
  store: AuditStore;
  shard: number;
  /** This drain's consumer name in the group (one per worker process). */
  consumer: string;
  /** Entries per read, 1..1000. Default 1000. */
  batch?: number;
  /** Claim entries pending longer than this from other consumers. Default 10 s. */
  claimIdleMs?: number;
  /**
   * Stop after this long even if the stream has more (the next drain goes on),
   * so that one busy shard cannot hold a worker forever. Default: no limit.
   */
  maxMs?: number;
  /** Checked after each batch: true ends the drain there (clean stop on SIGTERM). */
  shouldStop?: () => boolean;
  /** Told of each entry moved to the dead-letter stream. */
  onDeadLetter?: (d: DeadLetter & { shard: number }) => void;
}

export interface DrainResult {
  shard: number;
  /** Entries handled (stored, already stored, dead-lettered or gone), all acknowledged and deleted. */
  read: number;
  /** Events the store did not have before (rows inserted). */
  stored: number;
  /** Events the store already had (a batch delivered again after a crash or a retry). */
  duplicates: number;
  /** Entries moved to the dead-letter stream. */
  deadLettered: number;
  /** Entries claimed from consumers that stopped (pending longer than claimIdleMs). */
  claimed: number;
  batches: number;
  /** True when the drain stopped (time or stop request) with entries left. */
  more: boolean;
  ms: number;
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity constraint): this data, not the database. */
function isDataError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

interface Parsed {
  event: AuditEvent;
  entry: StreamEntry & { fields: Record<string, string> };
}

/**
 * Stores `items` in one insert. If the database refuses the data itself (a
 * value out of range, a constraint), splits the batch in halves and goes on
 * down to the single event it refuses, which is returned to be dead-lettered;
 * the rest is stored. Any other error (the store is down) is thrown: nothing
 * is acknowledged, and the entries are retried.
 */
async function insertSplitting(
  store: AuditStore,
  items: readonly Parsed[],
): Promise<{ inserted: number; refused: DeadLetter[] }> {
  if (items.length === 0) return { inserted: 0, refused: [] };
  try {
    return { inserted: await store.insertEvents(items.map((i) => i.event)), refused: [] };
  } catch (e) {
    if (!isDataError(e)) throw e;
    const only = items.length === 1 ? items[0] : undefined;
    if (only !== undefined) {
      return {
        inserted: 0,
        refused: [{ id: only.entry.id, fields: only.entry.fields, error: `store: ${message(e)}` }],
      };
    }
    const mid = Math.ceil(items.length / 2);
    const a = await insertSplitting(store, items.slice(0, mid));
    const b = await insertSplitting(store, items.slice(mid));
    return { inserted: a.inserted + b.inserted, refused: [...a.refused, ...b.refused] };
  }
}

/**
 * Drains one shard's outbox into the store: claims what dead consumers left
 * pending, handles this consumer's pending entries (a batch whose store write
 * failed before), then reads new entries, batch after batch, while the stream
 * has more. Per batch: parse each entry (a malformed one goes to the
 * dead-letter stream instead of blocking the shard), store the events in one
 * insert (`ON CONFLICT (event_id) DO NOTHING`: a batch delivered twice is
 * stored once), then acknowledge and delete the batch in one MULTI. If the
 * store throws, nothing of that batch is acknowledged and the error is thrown:
 * the entries stay pending for this consumer and the next drain retries them.
 */
export async function drainShard(opts: DrainShardOptions): Promise<DrainResult> {
  const { redis, store, shard, consumer } = opts;
  const batch = Math.max(1, Math.min(MAX_BATCH, Math.floor(opts.batch ?? MAX_BATCH)));
  const maxMs = opts.maxMs ?? Number.POSITIVE_INFINITY;
  const started = performance.now();
  const result: DrainResult = {
    shard,
    read: 0,
    stored: 0,
    duplicates: 0,
    deadLettered: 0,
    claimed: 0,
    batches: 0,
    more: false,
    ms: 0,
  };
  const enough = () => (opts.shouldStop?.() ?? false) || performance.now() - started >= maxMs;

  const handle = async (entries: readonly StreamEntry[]): Promise<void> => {
    const items: Parsed[] = [];
    const dead: DeadLetter[] = [];
    const seen = new Set<string>();
    let repeated = 0;
    for (const entry of entries) {
      // A pending id whose entry was deleted: nothing to store, just acknowledge.
      if (entry.fields === null) continue;
      try {
        const event = parseOutboxFields(entry.fields);
        if (seen.has(event.event_id)) {
          repeated++;
          continue;
        }
        seen.add(event.event_id);
        items.push({ event, entry: entry as Parsed['entry'] });
      } catch (e) {
        if (!(e instanceof EventParseError)) throw e;
        dead.push({ id: entry.id, fields: entry.fields, error: e.message });
      }
    }
    const { inserted, refused } = await insertSplitting(store, items);
    dead.push(...refused);
    await ackAndDelete(
      redis,
      shard,
      entries.map((e) => e.id),
      dead,
    );
    result.batches++;
    result.read += entries.length;
    result.stored += inserted;
    result.duplicates += items.length - refused.length - inserted + repeated;
    result.deadLettered += dead.length;
    for (const d of dead) opts.onDeadLetter?.({ ...d, shard });
  };

  result.claimed = await claimIdle(
    redis,
    shard,
    consumer,
    opts.claimIdleMs ?? DEFAULT_CLAIM_IDLE_MS,
    batch,
  );

  // 1. This consumer's pending entries: a batch that failed before, and what was just claimed.
  let after = '0';
  for (;;) {
    const entries = await readPending(redis, shard, consumer, batch, after);
    const last = entries.at(-1);
    if (last === undefined) break;
    await handle(entries);
    after = last.id;
    if (enough()) {
      result.more = true;
      result.ms = performance.now() - started;
      return result;
    }
  }
  // 2. New entries, while the stream has more.
  for (;;) {
    const entries = await readNew(redis, shard, consumer, batch);
    if (entries.length === 0) break;
    await handle(entries);
    if (entries.length < batch) break;
    if (enough()) {
      result.more = true;
      break;
    }
  }
  result.ms = performance.now() - started;
  return result;
}
