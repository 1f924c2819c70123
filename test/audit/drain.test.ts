/**
 * The Redis-mode audit drain (src/audit/drain): outbox streams → consumer
 * group → store, on a private Redis (the drain deletes what it stores, so it
 * must never run on the run's shared Redis, whose outboxes other test files
 * read), into PGlite and, when the test setup provides one, PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import {
  ackAndDelete,
  deadLetterKey,
  drainShard,
  GROUP,
  outboxLag,
  pruneConsumers,
  readNew,
  streamIdMs,
} from '../../src/audit/drain/index.js';
import { type AuditEvent, parseOutboxFields } from '../../src/audit/event.js';
import { type AuditStore, createStore } from '../../src/audit/store/index.js';
import { PGliteStore } from '../../src/audit/store/pglite.js';
import { PostgresStore } from '../../src/audit/store/postgres.js';
import { DEFAULT_SHARDS, outboxKey, shardOf } from '../../src/engine/keys.js';
import { packDecision, packEvent } from '../../src/engine/outbox-format.js';
import { eventId, RandomPool } from '../../src/engine/random.js';
import { TollgateError } from '../../src/errors.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { type RedisServer, startRedis } from '../setup/redis-servers.js';
import { type OutboxEvent, outboxEventCount, shardEvents } from '../support/outbox.js';

/** The run's fresh PostgreSQL database (test/setup/postgres.ts); each test keeps to a schema of its own. */
const databaseUrl = inject('databaseUrl');

let server: RedisServer;
let redis: Redis;
let tg: Tollgate;
let store: AuditStore;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'tollgate-drain-'));
  [server, store] = await Promise.all([startRedis(), createStore({ dataDir })]);
  redis = new Redis(server.url);
  tg = await createTollgate({ redis: server.url });
});

afterAll(async () => {
  await tg?.close();
  redis?.disconnect();
  await store?.close();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

beforeEach(async () => {
  await redis.flushall();
});

const uid = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;
const SHARDS = Array.from({ length: DEFAULT_SHARDS }, (_, s) => s);

/** Rows and distinct event ids in the store (optionally of some agents only). */
async function countRows(
  s: AuditStore,
  where: { agents?: string[]; type?: string } = {},
): Promise<{ rows: number; distinct: number }> {
  const sql = `SELECT count(*)::int AS rows, count(DISTINCT event_id)::int AS distinct
                 FROM audit_events
                WHERE ($1::text[] IS NULL OR agent_id = ANY($1)) AND ($2::text IS NULL OR type = $2)`;
  const params = [where.agents ?? null, where.type ?? null];
  const r =
    s instanceof PGliteStore
      ? (await s.pg.query<{ rows: number; distinct: number }>(sql, params)).rows[0]
      : (await (s as PostgresStore).pool.query(sql, params)).rows[0];
  return { rows: Number(r?.rows), distinct: Number(r?.distinct) };
}

async function totalBacklog(r: Redis): Promise<number> {
  return (await outboxLag({ redis: r, shards: DEFAULT_SHARDS })).reduce((a, l) => a + l.backlog, 0);
}

/** Every outbox event of one agent, parsed (read before the drain deletes them). */
async function outboxEventsOf(agentId: string): Promise<AuditEvent[]> {
  return (await shardEvents(redis, shardOf(agentId, DEFAULT_SHARDS)))
    .filter((e) => e.fields.agent_id === agentId)
    .map((e) => parseOutboxFields(e.fields));
}

async function storedEventsOf(s: AuditStore, agentId: string): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await s.queryEvents({ agentId, limit: 1000, cursor });
    out.push(...page.events);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return out;
}

const byId = (a: AuditEvent, b: AuditEvent) => a.event_id.localeCompare(b.event_id);

/** Runs every shard's drain at once, as the worker does, until all outboxes are empty. */
async function drainAll(s: AuditStore, consumer = 'test') {
  const results = await Promise.all(
    SHARDS.map((shard) => drainShard({ redis, store: s, shard, consumer })),
  );
  return results.reduce(
    (a, r) => ({
      read: a.read + r.read,
      stored: a.stored + r.stored,
      duplicates: a.duplicates + r.duplicates,
      deadLettered: a.deadLettered + r.deadLettered,
    }),
    { read: 0, stored: 0, duplicates: 0, deadLettered: 0 },
  );
}

/** `n` authorize calls spread over `agents`, `concurrency` in flight: allowed ones and denials (RBAC, budget). */
async function decide(agents: string[], n: number, concurrency = 64): Promise<void> {
  const ops = ['read_file', 'write_file', 'deploy', 'read_file'];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        await tg.guard.checkPermission(agents[i % agents.length] as string, ops[i % 4] as string, {
          estimatedTokens: 100 + (i % 7) * 50,
        });
      }
    }),
  );
}

async function register(prefix: string, count: number): Promise<string[]> {
  const agents = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  await Promise.all(agents.map((a) => tg.identity.registerAgent(a, 'coder')));
  return agents;
}

describe.each([{ kind: 'pglite' as const }, { kind: 'postgres' as const }])(
  '50,000 decisions drained into $kind',
  ({ kind }) => {
    it('rows = outbox events, 0 duplicates, every field as decided', {
      timeout: 60_000,
    }, async () => {
      const schema = `tg_drain_${randomBytes(4).toString('hex')}`;
      const target =
        kind === 'pglite' ? store : await createStore({ databaseUrl: databaseUrl, schema });
      try {
        const agents = await register(uid('bulk'), 500);
        await decide(agents, 50_000);
        const entries = await totalBacklog(redis); // one per script call
        const produced = await outboxEventCount(redis);
        expect(produced).toBeGreaterThanOrEqual(50_500); // 500 registrations + 50,000 decisions
        expect(entries).toBeLessThanOrEqual(produced);
        const sample = agents.slice(0, 4);
        const decided = (await Promise.all(sample.map(outboxEventsOf))).flat();
        expect(decided.filter((e) => e.type === 'decision').length).toBe(400);

        const t0 = performance.now();
        const r = await drainAll(target);
        const seconds = (performance.now() - t0) / 1000;
        console.log(
          `drain into ${kind}: ${r.stored} events in ${seconds.toFixed(2)} s = ${Math.round(r.stored / seconds)} events/s`,
        );
        expect(r).toEqual({ read: entries, stored: produced, duplicates: 0, deadLettered: 0 });
        expect(await totalBacklog(redis)).toBe(0);
        expect(await countRows(target, { agents })).toEqual({ rows: produced, distinct: produced });
        expect((await countRows(target, { agents, type: 'decision' })).rows).toBe(50_000);
        const stored = (await Promise.all(sample.map((a) => storedEventsOf(target, a)))).flat();
        expect(stored.sort(byId)).toEqual(decided.sort(byId));

        // Delivered again (a crash before the ack): stored once.
        expect(await target.insertEvents(decided)).toBe(0);
        expect(await countRows(target, { agents })).toEqual({ rows: produced, distinct: produced });
      } finally {
        if (target instanceof PostgresStore) {
          await target.pool.query(`DROP SCHEMA ${schema} CASCADE`);
          await target.close();
        }
      }
    });
  },
);

describe('drainShard', () => {
  it('moves a malformed entry to the dead letters, acknowledges it, and stores the rest', async () => {
    const [agent] = await register(uid('dl'), 1);
    const shard = shardOf(agent as string, DEFAULT_SHARDS);
    await decide([agent as string], 3, 1);
    const badId = await redis.xadd(outboxKey(shard), '*', 'event_id', 'not-a-uuid', 'type', 'x');
    await decide([agent as string], 3, 1);

    const r = await drainShard({ redis, store, shard, consumer: 'c1' });
    expect(r).toMatchObject({ read: 8, stored: 7, deadLettered: 1, duplicates: 0 });
    expect(await countRows(store, { agents: [agent as string] })).toEqual({ rows: 7, distinct: 7 });
    const dead = await redis.xrange(deadLetterKey(shard), '-', '+');
    expect(dead).toHaveLength(1);
    const fields = dead[0]?.[1] ?? [];
    expect(fields.slice(0, 2)).toEqual(['source_id', badId]);
    expect(fields[3]).toMatch(/^Bad outbox entry: event_id/);
    expect(fields.slice(4)).toEqual(['f:event_id', 'not-a-uuid', 'f:type', 'x']);
    // Nothing left behind: the shard is not blocked.
    expect(await redis.xlen(outboxKey(shard))).toBe(0);
    expect((await redis.xpending(outboxKey(shard), GROUP))[0]).toBe(0);
    const [lag] = (await outboxLag({ redis, shards: DEFAULT_SHARDS })).filter(
      (l) => l.shard === shard,
    );
    expect(lag).toMatchObject({ backlog: 0, pending: 0, deadLetters: 1 });
  });

  it('acknowledges nothing when the store fails; the next drain stores the batch once', async () => {
    const agents = await register(uid('down'), 3);
    await decide(agents, 30, 4);
    let down = true;
    const flaky: AuditStore = Object.assign(Object.create(store) as AuditStore, {
      insertEvents: (events: readonly AuditEvent[]) =>
        down
          ? Promise.reject(new TollgateError('STORE_UNAVAILABLE', 'Audit store unavailable: test'))
          : store.insertEvents(events),
    });
    const shards = [...new Set(agents.map((a) => shardOf(a, DEFAULT_SHARDS)))];
    for (const shard of shards) {
      await expect(drainShard({ redis, store: flaky, shard, consumer: 'c1' })).rejects.toThrow(
        /unavailable/,
      );
    }
    expect(await countRows(store, { agents })).toEqual({ rows: 0, distinct: 0 });
    const lag = await outboxLag({ redis, shards: DEFAULT_SHARDS });
    const entries = lag.reduce((a, l) => a + l.backlog, 0);
    expect(lag.reduce((a, l) => a + l.pending, 0)).toBe(entries); // read, not acknowledged
    expect(await outboxEventCount(redis)).toBe(33);

    down = false;
    const r = await drainAll(flaky, 'c1');
    expect(r).toMatchObject({ read: entries, stored: 33, duplicates: 0 });
    expect(await countRows(store, { agents })).toEqual({ rows: 33, distinct: 33 });
    expect(await totalBacklog(redis)).toBe(0);
  });

  it('claims the entries a consumer that died left pending, and stores them once', async () => {
    const [agent] = (await register(uid('claim'), 1)) as [string];
    const shard = shardOf(agent, DEFAULT_SHARDS);
    await decide([agent], 20, 1);
    // A consumer reads a batch and dies before storing it.
    expect(await readNew(redis, shard, 'dead-consumer', 15)).toHaveLength(15);
    await new Promise((r) => setTimeout(r, 60));

    // A live drain with a short claim timeout takes them over.
    const r = await drainShard({ redis, store, shard, consumer: 'live', claimIdleMs: 50 });
    expect(r).toMatchObject({ claimed: 15, read: 21, stored: 21, duplicates: 0 });
    expect(await countRows(store, { agents: [agent] })).toEqual({ rows: 21, distinct: 21 });
    expect((await redis.xpending(outboxKey(shard), GROUP))[0]).toBe(0);
    // The dead consumer, now idle with nothing pending, is cleaned up; the live one is kept.
    expect(await pruneConsumers(redis, shard, 10, 'live')).toBe(1);
    const names = ((await redis.xinfo('CONSUMERS', outboxKey(shard), GROUP)) as string[][]).map(
      (c) => c[1],
    );
    expect(names).toEqual(['live']);
  });

  it('does not claim from a consumer that is still within the claim timeout', async () => {
    const [agent] = (await register(uid('busy'), 1)) as [string];
    const shard = shardOf(agent, DEFAULT_SHARDS);
    await decide([agent], 5, 1);
    await readNew(redis, shard, 'busy-consumer', 3);
    const r = await drainShard({ redis, store, shard, consumer: 'other', claimIdleMs: 60_000 });
    expect(r).toMatchObject({ claimed: 0, read: 3, stored: 3 });
    // The busy consumer's 3 stay pending for it, not lost, not doubled.
    expect((await redis.xpending(outboxKey(shard), GROUP))[0]).toBe(3);
    expect(await pruneConsumers(redis, shard, 0, 'other')).toBe(0);
    const again = await drainShard({ redis, store, shard, consumer: 'busy-consumer' });
    expect(again).toMatchObject({ read: 3, stored: 3 });
    expect(await countRows(store, { agents: [agent] })).toEqual({ rows: 6, distinct: 6 });
  });

  it('dead-letters an event the database refuses, alone, and stores the rest of its batch', async () => {
    const agents = await register(uid('refuse'), 2);
    await decide(agents, 40, 2);
    const shard = shardOf(agents[0] as string, DEFAULT_SHARDS);
    const inShard = await shardEvents(redis, shard);
    const poisoned = inShard[10] as OutboxEvent;
    const poison = poisoned.fields.event_id;
    const refusing: AuditStore = Object.assign(Object.create(store) as AuditStore, {
      insertEvents: (events: readonly AuditEvent[]) =>
        events.some((e) => e.event_id === poison)
          ? Promise.reject(
              Object.assign(new Error('value out of range'), { code: '22003' }), // SQLSTATE data exception
            )
          : store.insertEvents(events),
    });
    const entries = await redis.xlen(outboxKey(shard));
    const r = await drainShard({ redis, store: refusing, shard, consumer: 'c1' });
    expect(r).toMatchObject({
      read: entries,
      events: inShard.length,
      stored: inShard.length - 1,
      deadLettered: 1,
    });
    const dead = await redis.xrange(deadLetterKey(shard), '-', '+');
    expect(dead).toHaveLength(1);
    expect(dead[0]?.[1].slice(0, 6)).toEqual([
      'source_id',
      poisoned.streamId,
      'error',
      'store: value out of range',
      'event',
      packDecision(poisoned.fields), // its text as the script wrote it (a decision: positional)
    ]);
    expect(await redis.xlen(outboxKey(shard))).toBe(0);
  });

  it('a second drain of a shard by the same consumer in this process returns at once (busy)', async () => {
    const agents = await register(uid('busy2'), 2);
    await decide(agents, 200, 8);
    const shard = shardOf(agents[0] as string, DEFAULT_SHARDS);
    const inShard = (await shardEvents(redis, shard)).length;
    // A store that holds the first drain's insert until the second drain has come and gone.
    let release = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const slow: AuditStore = Object.assign(Object.create(store) as AuditStore, {
      insertEvents: async (events: readonly AuditEvent[]) => {
        await held;
        return store.insertEvents(events);
      },
    });
    const first = drainShard({ redis, store: slow, shard, consumer: 'same' });
    await new Promise((r) => setTimeout(r, 50));
    const second = await drainShard({ redis, store, shard, consumer: 'same' });
    expect(second).toMatchObject({ busy: true, more: true, read: 0, stored: 0 });
    release();
    const r = await first;
    expect(r).toMatchObject({ stored: inShard, duplicates: 0 });
    expect(r.busy).toBeUndefined();
    // Done: the shard can be drained again.
    expect((await drainShard({ redis, store, shard, consumer: 'same' })).busy).toBeUndefined();
  });

  it('ackAndDelete removes exactly the given ids: an older pending entry is never dropped', async () => {
    const [agent] = (await register(uid('ids'), 1)) as [string];
    const shard = shardOf(agent, DEFAULT_SHARDS);
    await decide([agent], 4, 1);
    const [older, ...rest] = await readNew(redis, shard, 'a', 10);
    await ackAndDelete(
      redis,
      shard,
      rest.map((e) => e.id),
    );
    const left = await redis.xrange(outboxKey(shard), '-', '+');
    expect(left.map(([id]) => id)).toEqual([older?.id]);
    expect((await redis.xpending(outboxKey(shard), GROUP))[0]).toBe(1);
  });
});

describe('entries of several events (one entry per script call)', () => {
  const pool = new RandomPool();

  /** A valid `usage` event of `agentId`, written by hand (a fresh UUIDv7 in Redis-like time). */
  function usage(agentId: string, n = 0): Record<string, string> {
    const now = Date.now();
    return {
      event_id: eventId(now, pool.eventTail(), n),
      at: String(now),
      type: 'usage',
      agent_id: agentId,
      session_id: `${agentId}.000001aabbccddee`,
      role: 'coder',
      operation: 'read_file',
      input_tokens: '10',
      output_tokens: '5',
      cost: '7',
      model: 'm',
      result: 'success',
      session_utilization: '0.01',
      daily_utilization: '0.02',
      actor: 'library',
    };
  }

  /** XADDs one entry holding `events` (each an event's fields, or a raw text). */
  async function addEntry(shard: number, events: (Record<string, string> | string)[]) {
    const flat = events.flatMap((e) => ['e', typeof e === 'string' ? e : packEvent(e)]);
    return (await redis.xadd(outboxKey(shard), '*', ...flat)) as string;
  }

  /** A store that records the size of each insert, and fails the inserts `failAt` says to. */
  function counting(failAt: (call: number) => boolean = () => false) {
    const sizes: number[] = [];
    const s: AuditStore = Object.assign(Object.create(store) as AuditStore, {
      insertEvents: (events: readonly AuditEvent[]) => {
        sizes.push(events.length);
        return failAt(sizes.length)
          ? Promise.reject(new TollgateError('STORE_UNAVAILABLE', 'Audit store unavailable: test'))
          : store.insertEvents(events);
      },
    });
    return { store: s, sizes };
  }

  it("the scripts' entries: a new session's two events in one entry; backlog counts entries", async () => {
    const [agent] = (await register(uid('sess'), 1)) as [string];
    const shard = shardOf(agent, DEFAULT_SHARDS);
    for (let i = 0; i < 5; i++) await tg.identity.createSession(agent);
    await tg.budget.deductBudget(agent, 10, 10);
    const events = await shardEvents(redis, shard);
    expect(events.map((e) => e.fields.type)).toEqual([
      'agent_registered',
      ...Array.from({ length: 5 }, () => ['session_ended', 'session_started']).flat(),
      'usage',
    ]);
    const lag = (await outboxLag({ redis, shards: DEFAULT_SHARDS }))[shard];
    expect(lag).toMatchObject({ backlog: 7, pending: 0 }); // 7 entries, 12 events
    // The oldest entry's age is its oldest event's.
    expect(
      Math.abs(Date.now() - Number(events[0]?.fields.at) - (lag?.oldestAgeMs ?? 0)),
    ).toBeLessThan(1_000);

    const r = await drainShard({ redis, store, shard, consumer: 'c1' });
    expect(r).toMatchObject({ read: 7, events: 12, stored: 12, duplicates: 0, deadLettered: 0 });
    expect(await countRows(store, { agents: [agent] })).toEqual({ rows: 12, distinct: 12 });
    const stored = await storedEventsOf(store, agent);
    expect(stored.map((e) => e.event_id).sort()).toEqual(
      events.map((e) => e.fields.event_id).sort(),
    );
    expect(stored.filter((e) => e.type === 'session_ended')).toHaveLength(5);
    expect(await redis.xlen(outboxKey(shard))).toBe(0);
    expect((await redis.xpending(outboxKey(shard), GROUP))[0]).toBe(0);
  });

  it('dead-letters the bad events of an entry one by one, stores its good ones, and deletes the entry', async () => {
    const agent = uid('hand');
    const shard = shardOf(agent, DEFAULT_SHARDS);
    const good = [usage(agent, 0), usage(agent, 3)];
    const unsplit = 'event_id\x1fx\x1fat'; // not name/value pairs
    const badType: Record<string, string> = { ...usage(agent, 1), type: 'nope' };
    const entry = await addEntry(shard, [good[0] as Record<string, string>, unsplit, badType]);
    const next = await addEntry(shard, [good[1] as Record<string, string>]);

    const seen: { id: string; error: string }[] = [];
    const r = await drainShard({
      redis,
      store,
      shard,
      consumer: 'c1',
      onDeadLetter: (d) => seen.push({ id: d.id, error: d.error }),
    });
    expect(r).toMatchObject({ read: 2, events: 4, stored: 2, duplicates: 0, deadLettered: 2 });
    expect(await countRows(store, { agents: [agent] })).toEqual({ rows: 2, distinct: 2 });
    expect(await redis.xlen(outboxKey(shard))).toBe(0);
    expect((await redis.xpending(outboxKey(shard), GROUP))[0]).toBe(0);

    // One dead letter per bad event, naming its entry, readable, and with the text to replay.
    const dead = await redis.xrange(deadLetterKey(shard), '-', '+');
    expect(dead.map(([, f]) => f.slice(0, 2))).toEqual([
      ['source_id', entry],
      ['source_id', entry],
    ]);
    const [first, second] = dead.map(([, f]) => f) as [string[], string[]];
    expect(first[2]).toBe('error');
    expect(first[3]).toMatch(/^Bad outbox event: 3 parts/);
    expect(first.slice(4)).toEqual(['event', unsplit]);
    expect(second[3]).toMatch(/^Bad outbox entry: type/);
    expect(second.slice(4, 6)).toEqual(['event', packEvent(badType)]);
    expect(second.slice(6, 10)).toEqual(['f:event_id', badType.event_id, 'f:at', badType.at]);
    expect(seen.map((d) => d.id)).toEqual([entry, entry]);
    expect(next > entry).toBe(true);
    expect((await outboxLag({ redis, shards: DEFAULT_SHARDS }))[shard]).toMatchObject({
      backlog: 0,
      deadLetters: 2,
    });

    // Replayed after a fix (`XADD <outbox> * e <event>`): stored once.
    await addEntry(shard, [packEvent({ ...badType, type: 'usage' })]);
    expect(await drainShard({ redis, store, shard, consumer: 'c1' })).toMatchObject({
      read: 1,
      stored: 1,
    });
    expect(await countRows(store, { agents: [agent] })).toEqual({ rows: 3, distinct: 3 });
  });

  it('inserts at most `batch` events at a time; an entry is acknowledged once all its events are stored', async () => {
    const agent = uid('big');
    const shard = shardOf(agent, DEFAULT_SHARDS);
    const big = Array.from({ length: 10 }, (_, i) => usage(agent, i));
    await addEntry(shard, big);
    for (let k = 0; k < 3; k++)
      await addEntry(shard, [usage(agent), usage(agent, 1), usage(agent, 2)]);
    await addEntry(shard, [usage(agent)]);

    // The store fails on the big entry's second insert: nothing of it is acknowledged.
    const failing = counting((call) => call === 2);
    await expect(
      drainShard({ redis, store: failing.store, shard, consumer: 'c1', batch: 4 }),
    ).rejects.toThrow(/unavailable/);
    expect(failing.sizes).toEqual([4, 4]);
    expect(await redis.xlen(outboxKey(shard))).toBe(5);
    expect((await redis.xpending(outboxKey(shard), GROUP))[0]).toBe(4); // read: COUNT 4 entries

    // Retried: the first 4 are duplicates, the rest new; every insert ≤ 4 events.
    const ok = counting();
    const r = await drainShard({ redis, store: ok.store, shard, consumer: 'c1', batch: 4 });
    expect(Math.max(...ok.sizes)).toBeLessThanOrEqual(4);
    // The pending 4 entries: the big one alone (4, 4, 2), then one 3-event entry per insert
    // (3 + 3 > 4); then the new read of the last entry.
    expect(ok.sizes).toEqual([4, 4, 2, 3, 3, 3, 1]);
    expect(r).toMatchObject({ read: 5, events: 20, stored: 16, duplicates: 4, deadLettered: 0 });
    expect(await countRows(store, { agents: [agent] })).toEqual({ rows: 20, distinct: 20 });
    expect(await redis.xlen(outboxKey(shard))).toBe(0);
  });

  it('an entry with no `e` field is a dead letter (no earlier flat format); fields beside events are dead-lettered', async () => {
    const agent = uid('flat');
    const shard = shardOf(agent, DEFAULT_SHARDS);
    const flat = usage(agent);
    const flatId = (await redis.xadd(
      outboxKey(shard),
      '*',
      ...Object.entries(flat).flat(),
    )) as string;
    const inner = usage(agent, 1);
    const mixed = (await redis.xadd(
      outboxKey(shard),
      '*',
      'e',
      packEvent(inner),
      'stray',
      'x',
    )) as string;
    const r = await drainShard({ redis, store, shard, consumer: 'c1' });
    expect(r).toMatchObject({ read: 2, events: 1, stored: 1, deadLettered: 2 });
    expect((await storedEventsOf(store, agent)).map((e) => e.event_id)).toEqual([inner.event_id]);
    const dead = await redis.xrange(deadLetterKey(shard), '-', '+');
    expect(dead.map(([, f]) => f)).toEqual([
      [
        'source_id',
        flatId,
        'error',
        `Bad outbox entry: ${Object.keys(flat).join(', ')}: no "e" field, no events`,
        ...Object.entries(flat).flatMap(([k, v]) => [`f:${k}`, v]),
      ],
      [
        'source_id',
        mixed,
        'error',
        'Bad outbox entry: fields beside its events: stray',
        'f:stray',
        'x',
      ],
    ]);
  });
});

describe('outboxLag', () => {
  it('per shard: backlog, pending, and the age of the oldest undrained entry in Redis time', async () => {
    const empty = await outboxLag({ redis, shards: DEFAULT_SHARDS });
    expect(empty).toHaveLength(DEFAULT_SHARDS);
    for (const l of empty) {
      expect(l).toEqual({ shard: l.shard, backlog: 0, pending: 0, oldestAgeMs: 0, deadLetters: 0 });
    }
    const [agent] = (await register(uid('lag'), 1)) as [string];
    const shard = shardOf(agent, DEFAULT_SHARDS);
    await decide([agent], 9, 1);
    await readNew(redis, shard, 'reader', 4);
    await new Promise((r) => setTimeout(r, 300));
    const lag = (await outboxLag({ redis, shards: DEFAULT_SHARDS }))[shard];
    expect(lag).toMatchObject({ shard, backlog: 10, pending: 4, deadLetters: 0 });
    expect(lag?.oldestAgeMs).toBeGreaterThanOrEqual(290);
    expect(lag?.oldestAgeMs).toBeLessThan(10_000);
    const [first] = await redis.xrange(outboxKey(shard), '-', '+', 'COUNT', 1);
    const [sec, micros] = await redis.time();
    const now = Number(sec) * 1000 + Math.floor(Number(micros) / 1000);
    expect(Math.abs(now - streamIdMs(first?.[0] as string) - (lag?.oldestAgeMs ?? 0))).toBeLessThan(
      1_000,
    );
    await drainShard({ redis, store, shard, consumer: 'reader', claimIdleMs: 0 });
    expect((await outboxLag({ redis, shards: DEFAULT_SHARDS }))[shard]).toMatchObject({
      backlog: 0,
      pending: 0,
      oldestAgeMs: 0,
    });
  });
});
