import { EVENT_FIELD, OutboxFormatError, unpackEvent } from '../../engine/outbox-format.js';
import {
  type AuditEvent,
  EventParseError,
  fastParseOutboxText,
  parseOutboxFields,
} from '../event.js';
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

/** SQLSTATE classes 22 (data exception) and 23 (integrity constraint): this data, not the database. */
function isDataError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
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
 * Where an event came from, for its dead letter if the store refuses it: its
 * text in the entry, or (an entry in the earlier flat format) its fields.
 */
type Source = string | Record<string, string>;

/** A dead letter for a parsed event the store refused. */
function refusedLetter(id: string, source: Source, error: string): DeadLetter {
  if (typeof source !== 'string') return { id, fields: source, error };
  return { id, fields: unpackEvent(source), error, event: source };
}

/**
 * Stores `events[lo, hi)` in one insert. If the database refuses the data
 * itself (a value out of range, a constraint), splits the range in halves and
 * goes on down to the single event it refuses, which is returned to be
 * dead-lettered; the rest is stored. Any other error (the store is down) is
 * thrown: nothing is acknowledged, and the entries are retried.
 */
async function insertSplitting(
  store: AuditStore,
  g: Group,
  lo: number,
  hi: number,
): Promise<{ inserted: number; refused: DeadLetter[] }> {
  if (hi <= lo) return { inserted: 0, refused: [] };
  try {
    const slice = lo === 0 && hi === g.evs.length ? g.evs : g.evs.slice(lo, hi);
    return { inserted: await store.insertEvents(slice), refused: [] };
  } catch (e) {
    if (!isDataError(e)) throw e;
    if (hi - lo === 1) {
      return {
        inserted: 0,
        refused: [
          refusedLetter(g.from[lo] as string, g.source[lo] as Source, `store: ${message(e)}`),
        ],
      };
    }
    const mid = lo + Math.ceil((hi - lo) / 2);
    const a = await insertSplitting(store, g, lo, mid);
    const b = await insertSplitting(store, g, mid, hi);
    return { inserted: a.inserted + b.inserted, refused: [...a.refused, ...b.refused] };
  }
}

/**
 * One insert group: entries whose events are inserted (≤ `batch` per
 * insert), then acknowledged together. The events are kept as parallel
 * arrays (no wrapper object per event).
 */
interface Group {
  /** The entries, to acknowledge. */
  ids: string[];
  /** The parsed events, in outbox order. */
  evs: AuditEvent[];
  /** Per event: its entry's id and its source (for a dead letter). */
  from: string[];
  source: Source[];
  dead: DeadLetter[];
  /** Events read (parsed, or dead-lettered as unreadable). */
  events: number;
}

function newGroup(): Group {
  return { ids: [], evs: [], from: [], source: [], dead: [], events: 0 };
}

/**
 * Drains one shard's outbox into the store: claims what dead consumers left
 * pending, handles this consumer's pending entries (a batch whose store write
 * failed before), then reads new entries, batch after batch, while the stream
 * has more. An entry holds one script call's events (`e` fields, see
 * src/engine/outbox-format.ts); a read asks for about `batch` events. Per
 * read: parse each event (parseOutboxText's fast path, the zod schema for
 * anything else; a malformed event goes to the dead-letter stream, alone,
 * instead of blocking the shard), store the events in inserts of at most
 * `batch` events (`ON CONFLICT (event_id) DO NOTHING`: a batch delivered
 * twice is stored once), then acknowledge and delete the entries whose events
 * are all stored or dead-lettered, in one MULTI per insert group (an entry is
 * never split between two acknowledgements). One group is stored at a time
 * (outbox order); the next read and its parsing overlap that store. If the
 * store throws, the entries not yet acknowledged stay pending for this
 * consumer, the error is thrown (after the group in flight has finished), and
 * the next drain retries them.
 *
 * An entry with no `e` field is read as one event in the earlier flat format
 * (`event_id`, value, `at`, value, …): entries written before the format
 * changed, or a flat dead letter replayed by hand, still drain.
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

  /** Parses one event's text into the group; a bad one becomes its dead letter. */
  const accept = (g: Group, id: string, text: string): void => {
    g.events++;
    let event = fastParseOutboxText(text);
    if (event === undefined) {
      // Not a plain valid event: the schema decides, and names what is wrong.
      try {
        event = parseOutboxFields(unpackEvent(text));
      } catch (e) {
        if (e instanceof OutboxFormatError) {
          g.dead.push({ id, fields: {}, error: e.message, event: text });
          return;
        }
        if (e instanceof EventParseError) {
          g.dead.push({ id, fields: e.fields, error: e.message, event: text });
          return;
        }
        throw e;
      }
    }
    g.evs.push(event);
    g.from.push(id);
    g.source.push(text);
  };

  /** An entry in the earlier flat format: its fields are one event. */
  const acceptFlat = (g: Group, id: string, fields: Record<string, string>): void => {
    g.events++;
    try {
      g.evs.push(parseOutboxFields(fields));
      g.from.push(id);
      g.source.push(fields);
    } catch (e) {
      if (!(e instanceof EventParseError)) throw e;
      g.dead.push({ id, fields, error: e.message });
    }
  };

  const unpack = (g: Group, id: string, flat: readonly string[]): void => {
    let stray: Record<string, string> | undefined;
    let hasEvents = false;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const name = flat[i] as string;
      const value = flat[i + 1] as string;
      if (name === EVENT_FIELD) {
        hasEvents = true;
        accept(g, id, value);
      } else {
        stray ??= {};
        stray[name] = value;
      }
    }
    if (stray === undefined) return;
    if (!hasEvents) {
      acceptFlat(g, id, stray);
    } else {
      const names = Object.keys(stray).join(', ');
      g.dead.push({
        id,
        fields: stray,
        error: `Bad outbox entry: fields beside its events: ${names}`,
      });
    }
  };

  /** Stores a group's events (inserts of ≤ `batch`), then acknowledges and deletes its entries. */
  const store_ = async (g: Group): Promise<void> => {
    let inserted = 0;
    let refused = 0;
    const n = g.evs.length;
    for (let k = 0; k < n; k += batch) {
      const r = await insertSplitting(store, g, k, Math.min(n, k + batch));
      inserted += r.inserted;
      refused += r.refused.length;
      for (const d of r.refused) g.dead.push(d);
    }
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
      if (entry.flat !== null) unpack(g, entry.id, entry.flat);
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
