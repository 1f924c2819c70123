import type { Cluster, Redis } from 'ioredis';
import { outboxKey } from '../../engine/keys.js';

/**
 * The Redis side of the audit drain: each shard's outbox stream
 * (`tg:{s<n>}:outbox`, appended to by the deciding scripts) is read through
 * one consumer group, `tg-audit`.
 *
 * Every command here names exactly one shard's keys (the outbox and its
 * dead-letter stream `tg:{s<n>}:outbox:dead` share the `{s<n>}` hash tag), so
 * each runs on the one node that owns the shard, on a single Redis and on a
 * Redis Cluster alike; the MULTI in `ackAndDelete` is single-slot.
 *
 * An entry is one script call's events (src/engine/outbox-format.ts: fields
 * `e`, <event>, `e`, <event>, …; one event for most calls, more when a call
 * freed expired leases or decided a batch).
 *
 * Entry lifecycle: XADD (script) → XREADGROUP delivers it to one consumer
 * (it is now pending for that consumer) → the drain stores its events (or
 * dead-letters the bad ones) → XACK + XDEL in one MULTI. Entries are removed by id (XDEL), never by XTRIM MINID: a
 * MINID trim removes everything below an id whether acknowledged or not, so
 * it would drop the pending entries of a consumer that died (or of a batch
 * being retried) if they were older than the trim point. XDEL removes only
 * the ids that were just stored; the stream is then exactly the undrained
 * entries, so XLEN is the backlog (in entries, not events).
 */
export const GROUP = 'tg-audit';

/** A shard's dead-letter stream: events (or stray fields) that could not be parsed or stored, with the reason. */
export function deadLetterKey(shard: number): string {
  return `${outboxKey(shard)}:dead`;
}

export type RedisClient = Redis | Cluster;

/**
 * One stream entry: its id and its field array as Redis returns it
 * (`[name, value, …]`: `e`, <event> pairs, see unpackEntry); `flat` is null
 * when the entry was deleted while still pending.
 */
export interface StreamEntry {
  id: string;
  flat: readonly string[] | null;
}

/**
 * A dead letter: one event of an outbox entry (or the entry's stray fields
 * that are not events), and why it could not be stored.
 */
export interface DeadLetter {
  /** The outbox entry it came from (the entry's other events may have been stored). */
  id: string;
  /** The event's fields (empty when its text did not even split into fields), or the stray fields. */
  fields: Record<string, string>;
  error: string;
  /** The event's text as it was in the entry (absent for stray fields): replay with `XADD <outbox> * e <event>`. */
  event?: string;
}

/** Shards whose group this client has created (or found), to skip XGROUP CREATE after the first time. */
const ensured = new WeakMap<RedisClient, Set<number>>();

/**
 * Creates the shard's consumer group if it is missing (`XGROUP CREATE … 0
 * MKSTREAM`: from the stream's start, so entries appended before the group
 * existed are drained too; BUSYGROUP, the group already exists, is fine).
 */
export async function ensureGroup(redis: RedisClient, shard: number, force = false): Promise<void> {
  let done = ensured.get(redis);
  if (done === undefined) {
    done = new Set();
    ensured.set(redis, done);
  }
  if (!force && done.has(shard)) return;
  try {
    await redis.xgroup('CREATE', outboxKey(shard), GROUP, '0', 'MKSTREAM');
  } catch (e) {
    if (!(e instanceof Error && e.message.startsWith('BUSYGROUP'))) throw e;
  }
  done.add(shard);
}

function isNoGroup(e: unknown): boolean {
  return e instanceof Error && e.message.startsWith('NOGROUP');
}

/** Runs `fn`; if the group (or the whole stream) is gone, e.g. after a FLUSHALL, creates it and runs `fn` once more. */
async function withGroup<T>(redis: RedisClient, shard: number, fn: () => Promise<T>): Promise<T> {
  await ensureGroup(redis, shard);
  try {
    return await fn();
  } catch (e) {
    if (!isNoGroup(e)) throw e;
    await ensureGroup(redis, shard, true);
    return fn();
  }
}

function toFields(flat: unknown): Record<string, string> | null {
  if (!Array.isArray(flat)) return null;
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = String(flat[i + 1]);
  return fields;
}

/** XREADGROUP's reply (`[[key, [[id, [f, v, …]] | [id, null], …]]]` or null) as entries. */
function parseRead(reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const stream = reply[0] as [string, [string, unknown][]];
  return stream[1].map(([id, flat]) => ({
    id,
    flat: Array.isArray(flat) ? (flat as string[]) : null,
  }));
}

/**
 * Reads up to `count` entries already delivered to `consumer` and not yet
 * acknowledged, with ids greater than `after` (`'0'`: from the start): a batch
 * whose store write failed, or entries claimed from a dead consumer.
 */
export async function readPending(
  redis: RedisClient,
  shard: number,
  consumer: string,
  count: number,
  after = '0',
): Promise<StreamEntry[]> {
  const key = outboxKey(shard);
  return withGroup(redis, shard, async () =>
    parseRead(
      await redis.xreadgroup('GROUP', GROUP, consumer, 'COUNT', count, 'STREAMS', key, after),
    ),
  );
}

/** Reads up to `count` entries never delivered to the group (`>`), making them pending for `consumer`. */
export async function readNew(
  redis: RedisClient,
  shard: number,
  consumer: string,
  count: number,
): Promise<StreamEntry[]> {
  const key = outboxKey(shard);
  return withGroup(redis, shard, async () =>
    parseRead(
      await redis.xreadgroup('GROUP', GROUP, consumer, 'COUNT', count, 'STREAMS', key, '>'),
    ),
  );
}

/**
 * Moves to `consumer` every entry pending for longer than `minIdleMs` (the
 * consumer that read it died, or is stuck), with XAUTOCLAIM … JUSTID in pages
 * of `count` until the cursor wraps. Returns how many were claimed; read them
 * with `readPending`. Pending ids whose entry no longer exists are dropped
 * from the pending list by Redis itself (7.0+).
 */
export async function claimIdle(
  redis: RedisClient,
  shard: number,
  consumer: string,
  minIdleMs: number,
  count: number,
): Promise<number> {
  const key = outboxKey(shard);
  return withGroup(redis, shard, async () => {
    let cursor = '0-0';
    let claimed = 0;
    // Bounded: each round advances the cursor through the pending list.
    for (let round = 0; round < 10_000; round++) {
      const reply = (await redis.xautoclaim(
        key,
        GROUP,
        consumer,
        minIdleMs,
        cursor,
        'COUNT',
        count,
        'JUSTID',
      )) as [string, string[], string[]?];
      claimed += reply[1].length;
      cursor = reply[0];
      if (cursor === '0-0') break;
    }
    return claimed;
  });
}

/**
 * In one MULTI on the shard's slot: appends the dead letters to the shard's
 * dead-letter stream (one entry each: `source_id`, `error`, `event` (the
 * event's text, when it is one), then its fields as `f:<name>`), acknowledges
 * `ids` and deletes them from the outbox.
 * Atomic, so a crash leaves either all of it done or none of it (the entries
 * then stay pending and are handled again: the store ignores events it has).
 */
export async function ackAndDelete(
  redis: RedisClient,
  shard: number,
  ids: readonly string[],
  dead: readonly DeadLetter[] = [],
): Promise<void> {
  if (ids.length === 0 && dead.length === 0) return;
  const key = outboxKey(shard);
  const tx = redis.multi();
  for (const d of dead) {
    const flat: string[] = ['source_id', d.id, 'error', d.error];
    if (d.event !== undefined) flat.push('event', d.event);
    for (const [k, v] of Object.entries(d.fields)) flat.push(`f:${k}`, v);
    tx.xadd(deadLetterKey(shard), '*', ...flat);
  }
  if (ids.length > 0) {
    tx.xack(key, GROUP, ...ids);
    tx.xdel(key, ...ids);
  }
  const results = await tx.exec();
  if (results === null) throw new Error(`MULTI on ${key} was discarded`);
  for (const [err] of results) if (err) throw err;
}

/**
 * A shard's undrained backlog, for /readyz and the API. Counts are of stream
 * entries: an entry holds one script call's events (1 for most calls, more
 * for a batched authorize or a call that freed expired leases), so the events
 * waiting are at least `backlog`. Counting them exactly would mean reading
 * the whole stream.
 */
export interface ShardLag {
  shard: number;
  /** Entries in the outbox: not yet stored (XLEN; stored entries are deleted). */
  backlog: number;
  /** Of those, delivered to a drain and not yet acknowledged (XPENDING). */
  pending: number;
  /** Age of the oldest undrained entry (so of its events) in ms: Redis time minus its stream id's time; 0 when empty. */
  oldestAgeMs: number;
  /** Entries in the shard's dead-letter stream, one per bad event (they need a look). */
  deadLetters: number;
}

/** Milliseconds of a stream id (`<ms>-<seq>`). */
export function streamIdMs(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

/**
 * Backlog and age of the oldest undrained entry per shard: one single-slot
 * pipeline per shard (XLEN, XRANGE - + COUNT 1, XPENDING, XLEN of the dead
 * letters), and Redis TIME as the clock.
 */
export async function outboxLag(opts: { redis: RedisClient; shards: number }): Promise<ShardLag[]> {
  const { redis, shards } = opts;
  const [sec, micros] = await redis.time();
  const now = Number(sec) * 1000 + Math.floor(Number(micros) / 1000);
  return Promise.all(
    Array.from({ length: shards }, async (_, shard): Promise<ShardLag> => {
      const key = outboxKey(shard);
      const replies = await redis
        .pipeline()
        .xlen(key)
        .xrange(key, '-', '+', 'COUNT', 1)
        .xpending(key, GROUP)
        .xlen(deadLetterKey(shard))
        .exec();
      if (replies === null) throw new Error(`pipeline on ${key} was discarded`);
      const value = (i: number): unknown => {
        const [err, v] = replies[i] ?? [null, null];
        if (err && !isNoGroup(err)) throw err;
        return err ? null : v;
      };
      const first = (value(1) as [string, string[]][] | null)?.[0];
      const pending = value(2) as [number, ...unknown[]] | null;
      return {
        shard,
        backlog: Number(value(0) ?? 0),
        pending: Number(pending?.[0] ?? 0),
        oldestAgeMs: first === undefined ? 0 : Math.max(0, now - streamIdMs(first[0])),
        deadLetters: Number(value(3) ?? 0),
      };
    }),
  );
}

/**
 * Deletes one consumer if, at that instant, it holds no pending entry (one
 * script, so no read can slip in between the check and the delete: XGROUP
 * DELCONSUMER would forget a consumer's pending entries, which would then
 * never be delivered again). Returns 1 when deleted, 0 when it kept entries.
 */
const DELETE_IDLE_CONSUMER = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #p > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1`;

/**
 * Removes consumers of the shard's group that hold no pending entries and
 * have been idle longer than `idleMs` (every worker process names a new
 * consumer; this keeps the group's consumer list short). A consumer with
 * pending entries is never removed: `claimIdle` takes its entries first.
 */
export async function pruneConsumers(
  redis: RedisClient,
  shard: number,
  idleMs: number,
  keep: string,
): Promise<number> {
  const key = outboxKey(shard);
  let rows: unknown;
  try {
    rows = await redis.xinfo('CONSUMERS', key, GROUP);
  } catch (e) {
    if (isNoGroup(e) || (e instanceof Error && /no such key/i.test(e.message))) return 0;
    throw e;
  }
  let removed = 0;
  for (const row of rows as unknown[][]) {
    const info = toFields(row) ?? {};
    const name = info.name;
    if (name === undefined || name === keep) continue;
    if (Number(info.pending) === 0 && Number(info.idle) > idleMs) {
      removed += Number(await redis.eval(DELETE_IDLE_CONSUMER, 1, key, GROUP, name));
    }
  }
  return removed;
}
