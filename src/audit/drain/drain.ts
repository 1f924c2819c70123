import { EVENT_FIELD, OutboxFormatError, unpackEvent } from '../../engine/outbox-format.js';
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

/**
 * Ceiling (and default) of a drain's `batch`: the entries per read
 * (XREADGROUP COUNT) and the events per INSERT.
 */
export const MAX_BATCH = 1000;
/** Entries pending this long belong to a drain that died (or hung): claim them. */
export const DEFAULT_CLAIM_IDLE_MS = 10_000;

export interface DrainShardOptions {
  redis: RedisClient;
  store: AuditStore;
  shard: number;
  /** This drain's consumer name in the group (one per worker process). */
  consumer: string;
  /** Entries per read, and events per insert, 1..1000. Default 1000. */
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
  /** The outbox entry it came from. */
  id: string;
  fields: Record<string, string>;
  /** Its text in the entry (undefined: a flat entry of the earlier format). */
  text: string | undefined;
}

/** A dead letter for a parsed event the store refused. */
function refusedLetter(p: Parsed, error: string): DeadLetter {
  const d: DeadLetter = { id: p.id, fields: p.fields, error };
  if (p.text !== undefined) d.event = p.text;
  return d;
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
      return { inserted: 0, refused: [refusedLetter(only, `store: ${message(e)}`)] };
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
 * has more. An entry holds one script call's events (`e` fields, see
 * src/engine/outbox-format.ts). Per read: unpack and parse each event (a
 * malformed one goes to the dead-letter stream, alone, instead of blocking
 * the shard), store the events in inserts of at most `batch` events
 * (`ON CONFLICT (event_id) DO NOTHING`: a batch delivered twice is stored
 * once), then acknowledge and delete the entries whose events are all stored
 * or dead-lettered, in one MULTI per insert group (an entry is never split
 * between two acknowledgements). If the store throws, the entries not yet
 * acknowledged stay pending for this consumer, the error is thrown, and the
 * next drain retries them.
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

  // One insert group: entries whose events are inserted (≤ `batch` per insert), then acknowledged together.
  let ids: string[] = [];
  let items: Parsed[] = [];
  let dead: DeadLetter[] = [];
  let events = 0;
  let repeated = 0;
  let seen = new Set<string>();

  const accept = (id: string, fields: Record<string, string>, text: string | undefined) => {
    events++;
    try {
      const event = parseOutboxFields(fields);
      if (seen.has(event.event_id)) {
        repeated++;
        return;
      }
      seen.add(event.event_id);
      items.push({ event, id, fields, text });
    } catch (e) {
      if (!(e instanceof EventParseError)) throw e;
      const d: DeadLetter = { id, fields, error: e.message };
      if (text !== undefined) d.event = text;
      dead.push(d);
    }
  };

  const unpack = (id: string, flat: readonly string[]) => {
    let stray: Record<string, string> | undefined;
    let hasEvents = false;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const name = flat[i] as string;
      const value = flat[i + 1] as string;
      if (name !== EVENT_FIELD) {
        stray ??= {};
        stray[name] = value;
        continue;
      }
      hasEvents = true;
      let fields: Record<string, string>;
      try {
        fields = unpackEvent(value);
      } catch (e) {
        if (!(e instanceof OutboxFormatError)) throw e;
        events++;
        dead.push({ id, fields: {}, error: e.message, event: value });
        continue;
      }
      accept(id, fields, value);
    }
    if (stray === undefined) return;
    if (!hasEvents) {
      accept(id, stray, undefined); // the earlier flat format: the entry is one event
    } else {
      const names = Object.keys(stray).join(', ');
      dead.push({
        id,
        fields: stray,
        error: `Bad outbox entry: fields beside its events: ${names}`,
      });
    }
  };

  const flush = async (): Promise<void> => {
    if (ids.length === 0) return;
    let inserted = 0;
    let refused = 0;
    for (let k = 0; k < items.length; k += batch) {
      const r = await insertSplitting(store, items.slice(k, k + batch));
      inserted += r.inserted;
      refused += r.refused.length;
      dead.push(...r.refused);
    }
    await ackAndDelete(redis, shard, ids, dead);
    result.read += ids.length;
    result.events += events;
    result.stored += inserted;
    result.duplicates += items.length - refused - inserted + repeated;
    result.deadLettered += dead.length;
    for (const d of dead) opts.onDeadLetter?.({ ...d, shard });
    ids = [];
    items = [];
    dead = [];
    events = 0;
    repeated = 0;
    seen = new Set();
  };

  const handle = async (entries: readonly StreamEntry[]): Promise<void> => {
    for (const entry of entries) {
      // Start a new insert group if this entry's events would not fit (a bigger entry goes alone).
      const size = entry.flat === null ? 0 : entry.flat.length >> 1;
      if (items.length > 0 && items.length + size > batch) await flush();
      ids.push(entry.id);
      // A pending id whose entry was deleted: nothing to store, just acknowledge.
      if (entry.flat !== null) unpack(entry.id, entry.flat);
    }
    await flush();
    result.batches++;
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
