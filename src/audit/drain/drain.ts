import { FastEventParser } from '../event.js';
import type { AuditStore } from '../store/types.js';
import { addEntry, type Group, insertGroup, newGroup } from './group.js';
import {
  ackAndDelete,
  claimIdle,
  type DeadLetter,
  type RedisClient,
  readNew,
  readPending,
  type StreamEntry,
} from './redis-outbox.js';

/**
 * Ceiling (and default) of a drain's `batch`: the events per INSERT, about
 * the events per read, and the most entries per read (XREADGROUP COUNT).
 */
export const MAX_BATCH = 1000;
/** Entries in a drain's first read of new entries (then: about `batch` events per read, see entriesPerRead). */
export const FIRST_READ = 16;
/** Entries pending this long belong to a drain that died (or hung): claim them. */
export const DEFAULT_CLAIM_IDLE_MS = 10_000;

export interface DrainShardOptions {
  redis: RedisClient;
  store: AuditStore;
  shard: number;
  /** This drain's consumer name in the group (one per worker process). */
  consumer: string;
  /** Events per insert (and about per read: see entriesPerRead), 1..1000. Default 1000. */
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
  /**
   * Told the counts of each group as soon as it is stored and acknowledged
   * (a drain that fails later has still stored those: its result is lost).
   */
  onStored?: (counts: { stored: number; duplicates: number; deadLettered: number }) => void;
  /** Told of each dead letter written (a bad event, or an entry's stray fields). */
  onDeadLetter?: (d: DeadLetter & { shard: number }) => void;
}

export interface DrainResult {
  shard: number;
  /** Entries handled (their events stored, already stored or dead-lettered; or gone), all acknowledged and deleted. */
  read: number;
  /** Events in those entries: stored + duplicates + the bad events among deadLettered. */
  events: number;
  /** Events the store did not have before (rows inserted). */
  stored: number;
  /** Events the store already had (a batch delivered again after a crash or a retry). */
  duplicates: number;
  /** Dead letters written: one per bad event, and one per entry with fields other than events. */
  deadLettered: number;
  /** Entries claimed from consumers that stopped (pending longer than claimIdleMs). */
  claimed: number;
  batches: number;
  /**
   * True when the drain stopped (time or stop request) with entries left, or
   * did not start because a drain of the shard by the same consumer is
   * running in this process (`busy`).
   */
  more: boolean;
  /** True when it did nothing: a drain of this shard by this consumer (on this client) was already running here. */
  busy?: boolean;
  ms: number;
}

/**
 * The shards being drained in this process, per client and consumer. BullMQ
 * runs one drain job per shard at a time, but a job whose lock lapsed (its
 * process starved of CPU for longer than the lock) is handed on while it still
 * runs; if this process takes it again, a second drain of the shard under the
 * same consumer name would read the first one's pending entries
 * (`XREADGROUP … 0`) and store them again. The store would keep them once, but
 * the work and the counts would be done twice: the second drain returns at
 * once instead, unless the first has been running for longer than its time
 * limit plus the claim timeout (hung: then the second goes ahead, as another
 * process would after claiming its entries).
 */
const running = new WeakMap<RedisClient, Map<string, { since: number }>>();

/**
 * Entries for the next read (1..batch): as many as fit `batch` events if each
 * holds as many as the biggest entry of the last read, so that a read is one
 * insert, not one insert and a small remainder.
 */
function entriesPerRead(entries: readonly StreamEntry[], batch: number): number {
  let most = 1;
  for (const e of entries)
    if (e.flat !== null && e.flat.length >> 1 > most) most = e.flat.length >> 1;
  return Math.max(1, Math.min(batch, Math.floor(batch / most)));
}

/**
 * Drains one shard's outbox into the store: claims what dead consumers left
 * pending, handles this consumer's pending entries (a batch whose store write
 * failed before), then reads new entries, batch after batch, while the stream
 * has more. An entry holds one script call's events (`e` fields, see
 * src/engine/outbox-format.ts); a read asks for about `batch` events. Per
 * read: parse each event into an insert group (src/audit/drain/group.ts: the
 * drain's own FastEventParser, the zod schema for anything else; a malformed
 * event, or an entry's fields other than `e`, goes to the dead-letter stream
 * instead of blocking the shard), store the events in inserts of at most
 * `batch` events (`ON CONFLICT (event_id) DO NOTHING`: a batch delivered
 * twice is stored once), then acknowledge and delete the entries whose events
 * are all stored or dead-lettered, in one MULTI per insert group (an entry is
 * never split between two acknowledgements). One group is stored at a time
 * (outbox order); the next read and its parsing overlap that store. If the
 * store throws, the entries not yet acknowledged stay pending for this
 * consumer, the error is thrown (after the group in flight has finished), and
 * the next drain retries them.
 */
export async function drainShard(opts: DrainShardOptions): Promise<DrainResult> {
  const { redis, store, shard, consumer } = opts;
  const batch = Math.max(1, Math.min(MAX_BATCH, Math.floor(opts.batch ?? MAX_BATCH)));
  const maxMs = opts.maxMs ?? Number.POSITIVE_INFINITY;
  const started = performance.now();
  const result: DrainResult = {
    shard,
    read: 0,
    events: 0,
    stored: 0,
    duplicates: 0,
    deadLettered: 0,
    claimed: 0,
    batches: 0,
    more: false,
    ms: 0,
  };
  const enough = () => (opts.shouldStop?.() ?? false) || performance.now() - started >= maxMs;

  let mine = running.get(redis);
  if (mine === undefined) {
    mine = new Map();
    running.set(redis, mine);
  }
  const key = `${shard}\u0000${consumer}`;
  const other = mine.get(key);
  const claimIdleMs = opts.claimIdleMs ?? DEFAULT_CLAIM_IDLE_MS;
  if (other !== undefined && started - other.since < maxMs + claimIdleMs) {
    return { ...result, more: true, busy: true };
  }
  const me = { since: started };
  mine.set(key, me);

  /** This drain's fast parser (it remembers the field order of the shard's events). */
  const fast = new FastEventParser();

  /** Stores a group's events (inserts of ≤ `batch`), then acknowledges and deletes its entries. */
  const store_ = async (g: Group): Promise<void> => {
    const n = g.evs.length;
    const { inserted, refused } = await insertGroup(store, g, batch);
    await ackAndDelete(redis, shard, g.ids, g.dead);
    result.read += g.ids.length;
    result.events += g.events;
    result.stored += inserted;
    // Events handed to the store and neither new nor refused: it had them (or the group had them twice).
    result.duplicates += n - refused - inserted;
    result.deadLettered += g.dead.length;
    opts.onStored?.({
      stored: inserted,
      duplicates: n - refused - inserted,
      deadLettered: g.dead.length,
    });
    if (opts.onDeadLetter) for (const d of g.dead) opts.onDeadLetter({ ...d, shard });
  };

  /**
   * The group being stored (insert, then acknowledge), while the next one is
   * parsed: at most one per drain, so the shard's inserts stay in outbox order.
   */
  let storing: Promise<void> | undefined;
  const submit = async (g: Group): Promise<void> => {
    if (storing !== undefined) await storing;
    storing = undefined;
    if (g.ids.length === 0) return;
    const p = store_(g);
    p.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
    storing = p;
  };
  const settle = async (): Promise<void> => {
    const p = storing;
    storing = undefined;
    if (p !== undefined) await p;
  };

  /**
   * Parses a read's entries into groups and submits them. The last group's
   * store is left running: the next read (and its parsing) overlaps it.
   */
  const handle = async (entries: readonly StreamEntry[]): Promise<void> => {
    let g = newGroup();
    for (const entry of entries) {
      // Start a new group if this entry's events would not fit (a bigger entry goes alone).
      const size = entry.flat === null ? 0 : entry.flat.length >> 1;
      if (g.evs.length > 0 && g.evs.length + size > batch) {
        await submit(g);
        g = newGroup();
      }
      g.ids.push(entry.id);
      // A pending id whose entry was deleted: nothing to store, just acknowledge.
      if (entry.flat !== null) addEntry(g, entry.id, entry.flat, fast);
    }
    await submit(g);
    result.batches++;
  };

  try {
    try {
      await readAll();
    } catch (e) {
      // The group in flight finishes (stored and acknowledged, or not) before the error is told.
      await settle().catch(() => undefined);
      throw e;
    }
    await settle();
  } finally {
    if (mine.get(key) === me) mine.delete(key);
  }
  result.ms = performance.now() - started;
  return result;

  async function readAll(): Promise<void> {
    result.claimed = await claimIdle(redis, shard, consumer, claimIdleMs, batch);

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
        return;
      }
    }
    // 2. New entries, while the stream has more. A read asks for at most about `batch` events: an
    // entry holds one script call's events (a batched authorize: dozens), so the entries per read
    // follow the biggest entry of the last read (a first read of FIRST_READ entries finds it out).
    let count = Math.min(batch, FIRST_READ);
    for (;;) {
      const entries = await readNew(redis, shard, consumer, count);
      if (entries.length === 0) break;
      await handle(entries);
      if (entries.length < count) break;
      if (enough()) {
        result.more = true;
        break;
      }
      count = entriesPerRead(entries, batch);
    }
  }
}
