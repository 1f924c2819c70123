/**
 * Recovery in Redis mode (docs/recovery.md): traffic through createTollgate
 * with a durable store, everything drained into the store, then FLUSHALL on a
 * private Redis (never the run's shared one). The first call for an agent
 * restores its shard from the store: agents, keys, today's spend and the
 * current sessions' counters equal what Redis had and what the store sums.
 * On PGlite and on PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { drainShard, outboxLag } from '../../src/audit/drain/index.js';
import { dayStartOf } from '../../src/audit/embedded/restore.js';
import { storeRecovery } from '../../src/audit/recovery/index.js';
import type { AuditStore, StoreOptions } from '../../src/audit/store/index.js';
import type { PostgresStore } from '../../src/audit/store/postgres.js';
import { Code } from '../../src/engine/codes.js';
import { agentKeys, DEFAULT_SHARDS, shardOf } from '../../src/engine/keys.js';
import { loadScript, readyKey, recoveryLockKey } from '../../src/engine/redis/index.js';
import { RedisEngine } from '../../src/engine/redis/redis-engine.js';
import type { AuthorizeInput, EngineStatus } from '../../src/engine/types.js';
import { digestKey } from '../../src/identity/api-key.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { type RedisServer, startRedis } from '../setup/redis-servers.js';
import { keySlot } from '../support/slot.js';

const databaseUrl = inject('databaseUrl');
const SHARDS = Array.from({ length: DEFAULT_SHARDS }, (_, s) => s);
const hex = () => randomBytes(4).toString('hex');

/** An agent id of the given shard. */
function idInShard(shard: number, prefix: string): string {
  for (;;) {
    const id = `${prefix}-${hex()}`;
    if (shardOf(id, DEFAULT_SHARDS) === shard) return id;
  }
}

/** An agent id whose shard is not in `avoid`. */
function idOutside(avoid: Set<number>, prefix: string): string {
  for (;;) {
    const id = `${prefix}-${hex()}`;
    if (!avoid.has(shardOf(id, DEFAULT_SHARDS))) return id;
  }
}

/** A status without what a restore cannot keep (holds in flight) or does not fix (the time). */
function comparable(s: EngineStatus | null) {
  if (s === null) return null;
  const { nowMs: _now, sessionTokensReserved: _r, dailyReservedMicros: _d, ...rest } = s;
  return rest;
}

async function drainAll(redis: Redis, store: AuditStore): Promise<number> {
  let stored = 0;
  for (const shard of SHARDS) {
    stored += (await drainShard({ redis, store, shard, consumer: 'recovery-test' })).stored;
  }
  const lag = await outboxLag({ redis, shards: DEFAULT_SHARDS });
  expect(lag.reduce((a, l) => a + l.backlog, 0)).toBe(0);
  return stored;
}

async function commandCalls(redis: Redis, command: string): Promise<number> {
  const info = await redis.info('commandstats');
  const m = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info);
  return m ? Number(m[1]) : 0;
}

describe.each(['pglite', 'postgres'] as const)('recovery after FLUSHALL (%s)', (kind) => {
  let server: RedisServer;
  let redis: Redis;
  let tg: Tollgate;
  let engine: RedisEngine;
  let dataDir: string | undefined;
  let schema: string | undefined;
  const warnings: string[] = [];
  const calls: { script: string; keys: readonly string[] }[] = [];

  /** What the test did before the flush, and what Redis said then. */
  const ids = {
    busy: '', // settles, usage, a denial
    rotated: '', // key rotated: the old key must fail
    session: '', // traffic, a new session, more traffic
    suspended: '', // suspended, other limits, metadata
    holding: '', // an open hold at the flush
    deleted: '', // deleted: must not come back
    idle: '', // registered, nothing else
  };
  const keys: Record<string, string> = {};
  let oldRotatedKey = '';
  let heldReservation = '';
  const before = new Map<string, EngineStatus>();
  const records = new Map<string, { createdMs: number; metadata: string; keyDigest: string }>();

  const storeOptions = (): StoreOptions => {
    if (kind === 'pglite') {
      dataDir = mkdtempSync(join(tmpdir(), 'tollgate-recovery-'));
      return { dataDir };
    }
    schema = `tg_recovery_${hex()}`;
    return { databaseUrl, schema };
  };

  const authorizeInput = (
    agentId: string,
    operation: string,
    extra: Partial<AuthorizeInput> = {},
  ): AuthorizeInput => ({
    agentId,
    operation,
    estimatedTokens: tg.policy.estimate(operation),
    rates: tg.policy.rates(),
    leaseMs: tg.policy.leaseMs,
    allowedRoles: tg.policy.rolesAllowed(operation),
    actor: 'agent',
    ...extra,
  });

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    tg = await createTollgate({
      redis: server.url,
      store: storeOptions(),
      warn: (m) => warnings.push(m),
      observer: (script, k) => calls.push({ script, keys: [...k] }),
    });
    if (!(tg.engine instanceof RedisEngine)) throw new Error('expected RedisEngine');
    engine = tg.engine;
  });

  afterAll(async () => {
    if (schema !== undefined && tg?.store) {
      await (tg.store as PostgresStore).pool.query(`DROP SCHEMA ${schema} CASCADE`);
    }
    await tg?.close();
    redis?.disconnect();
    await server?.stop();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  it('before the flush: traffic, drained into the store', async () => {
    // A new deployment: no markers; the first registration of a shard marks it (nothing to restore).
    expect(await redis.keys('tg:*:ready')).toEqual([]);
    for (const name of Object.keys(ids) as (keyof typeof ids)[]) {
      ids[name] = `${name}-${hex()}`;
      const rec = await tg.identity.registerAgent(ids[name], 'coder', { name });
      keys[ids[name]] = rec.api_key;
    }
    expect((await redis.keys('tg:*:ready')).length).toBeGreaterThan(0);
    expect(warnings).toEqual([]); // a store is configured: nothing to warn about

    const g = tg.guard;
    for (let i = 0; i < 5; i++) {
      const d = await g.checkPermission(ids.busy, 'read_file', { estimatedTokens: 2000 });
      if (!d.allowed) throw new Error('denied');
      await g.recordOperation(
        ids.busy,
        'read_file',
        { inputTokens: 700 + i, outputTokens: 300 },
        'success',
        d.reservation_id,
      );
    }
    await g.recordOperation(ids.busy, 'write_file', { inputTokens: 1234, outputTokens: 99 }); // no hold
    // A settle above its hold: 1,000 tokens on a hold of 400 (an overrun of 600 and its cost).
    const over = await g.checkPermission(ids.busy, 'read_file', { estimatedTokens: 400 });
    if (!over.allowed) throw new Error('denied');
    await g.recordOperation(
      ids.busy,
      'read_file',
      { inputTokens: 700, outputTokens: 300 },
      'success',
      over.reservation_id,
    );
    expect((await g.checkPermission(ids.busy, 'deploy')).allowed).toBe(false); // RBAC: blocked 1

    oldRotatedKey = keys[ids.rotated] as string;
    keys[ids.rotated] = (await tg.identity.rotateKey(ids.rotated)).api_key;
    const r = await engine.authorize(
      authorizeInput(ids.rotated, 'run_tests', {
        keyDigest: digestKey(keys[ids.rotated] as string),
      }),
    );
    if (!r.allowed) throw new Error('denied');
    await engine.settle({
      reservationId: r.reservationId,
      inputTokens: 5000,
      outputTokens: 1000,
      result: 'success',
      actor: 'agent',
    });

    await g.recordOperation(ids.session, 'read_file', { inputTokens: 9000, outputTokens: 1000 });
    await tg.identity.createSession(ids.session);
    await g.recordOperation(ids.session, 'read_file', { inputTokens: 400, outputTokens: 100 });

    await g.recordOperation(ids.suspended, 'read_file', { inputTokens: 100, outputTokens: 1 });
    await tg.identity.setRole(ids.suspended, 'reviewer', {
      sessionTokenLimit: 12_345,
      dailyCostLimit: 1.5,
    });
    await tg.identity.setMetadata(ids.suspended, { name: 'suspended', team: 'x' });
    await tg.identity.suspendAgent(ids.suspended);
    expect((await g.checkPermission(ids.suspended, 'read_file')).allowed).toBe(false);

    await g.recordOperation(ids.holding, 'read_file', { inputTokens: 10, outputTokens: 10 });
    const held = await g.checkPermission(ids.holding, 'run_tests');
    if (!held.allowed) throw new Error('denied');
    heldReservation = held.reservation_id;

    await g.recordOperation(ids.deleted, 'read_file', { inputTokens: 50, outputTokens: 50 });
    await tg.identity.deleteAgent(ids.deleted);

    const store = tg.store as AuditStore;
    expect(await drainAll(redis, store)).toBeGreaterThan(20);

    for (const id of Object.values(ids)) {
      const raw = await engine.getAgent(id);
      if (id === ids.deleted) {
        expect(raw).toBeNull();
        continue;
      }
      if (!raw) throw new Error(`no agent ${id}`);
      before.set(id, raw.status);
      records.set(id, {
        createdMs: raw.createdMs,
        metadata: raw.metadata,
        keyDigest: raw.keyDigest,
      });
    }
    expect(before.get(ids.holding)?.sessionTokensReserved).toBeGreaterThan(0);
    expect(before.get(ids.busy)?.operationsBlocked).toBe(1);
    expect(before.get(ids.busy)?.sessionOverrunTokens).toBe(600);
    expect(before.get(ids.busy)?.dailyOverrunMicros).toBeGreaterThan(0);

    // What Redis says is what the store sums (the restore's source).
    const totals = new Map(
      (await store.totals(dayStartOf(Date.now()))).map((t) => [t.agentId, t] as const),
    );
    for (const [id, s] of before) {
      expect(totals.get(id), id).toEqual({
        agentId: id,
        dayCost: s.dailyCostMicros,
        dayOverrunCost: s.dailyOverrunMicros,
        monthCost: s.monthlyCostMicros,
        monthOverrunCost: s.monthlyOverrunMicros,
        sessionTokens: s.sessionTokensUsed,
        sessionCost: s.sessionCostMicros,
        sessionOverrunTokens: s.sessionOverrunTokens,
        sessionBlocked: s.operationsBlocked,
      });
    }
  });

  it('FLUSHALL; the first call for an agent restores its shard (and only its shard)', async () => {
    await redis.flushall();
    expect(await redis.dbsize()).toBe(0);
    const shard = shardOf(ids.busy, DEFAULT_SHARDS);

    const s = await engine.status(ids.busy);
    expect(comparable(s)).toEqual(comparable(before.get(ids.busy) as EngineStatus));
    expect(await redis.exists(readyKey(shard))).toBe(1);
    expect(await redis.get(readyKey(shard))).toMatch(/^\d+ store \d+$/);
    expect(await redis.exists(recoveryLockKey(shard))).toBe(0);
    // No other shard was touched.
    const ready = (await redis.keys('tg:*:ready')).sort();
    expect(ready).toEqual([readyKey(shard)]);
    for (const id of before.keys()) {
      const same = shardOf(id, DEFAULT_SHARDS) === shard;
      expect(await redis.exists(agentKeys(id, DEFAULT_SHARDS).agent), id).toBe(same ? 1 : 0);
    }
    expect(warnings.some((w) => w.includes(`shard ${shard} had no ready marker`))).toBe(true);
    expect(warnings.some((w) => /restored [1-9]\d* agent/.test(w))).toBe(true);
  });

  it('registering a new agent on a flushed shard restores that shard first', async () => {
    const readyNow = new Set(SHARDS.filter((s) => s === shardOf(ids.busy, DEFAULT_SHARDS)));
    // A restored-to-be agent whose shard is still flushed.
    const target = [...before.keys()].find((id) => !readyNow.has(shardOf(id, DEFAULT_SHARDS)));
    if (target === undefined) throw new Error('every agent shares one shard');
    const shard = shardOf(target, DEFAULT_SHARDS);
    expect(await redis.exists(readyKey(shard))).toBe(0);

    const fresh = idInShard(shard, 'fresh');
    const rec = await tg.identity.registerAgent(fresh, 'coder');
    expect(rec.agent_id).toBe(fresh);
    expect(await redis.exists(readyKey(shard))).toBe(1);
    // The shard's agents are back before anyone called for them.
    expect(await redis.exists(agentKeys(target, DEFAULT_SHARDS).agent)).toBe(1);
    expect(comparable(await engine.status(target))).toEqual(
      comparable(before.get(target) as EngineStatus),
    );
    // Registering an id the store has is a conflict, as before the flush.
    await expect(tg.identity.registerAgent(target, 'coder')).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    await tg.identity.deleteAgent(fresh);
  });

  it('every agent comes back as it was: state, keys, today and the current session', async () => {
    for (const [id, s] of before) {
      const raw = await engine.getAgent(id);
      expect(raw, id).not.toBeNull();
      expect(comparable(raw?.status ?? null), id).toEqual(comparable(s));
      expect(raw?.status.sessionTokensReserved).toBe(0);
      expect(raw?.status.dailyReservedMicros).toBe(0);
      expect({
        createdMs: raw?.createdMs,
        metadata: raw?.metadata,
        keyDigest: raw?.keyDigest,
      }).toEqual(records.get(id));
    }
    expect(await engine.getAgent(ids.deleted)).toBeNull();
    const listed = await engine.listAgents();
    expect(listed.map((a) => a.status.agentId).sort()).toEqual([...before.keys()].sort());

    const sus = before.get(ids.suspended) as EngineStatus;
    expect(sus).toMatchObject({ status: 'suspended', role: 'reviewer', sessionTokenLimit: 12_345 });
    expect(sus.dailyLimitMicros).toBe(1_500_000);
    const ses = before.get(ids.session) as EngineStatus;
    expect(ses.sessionTokensUsed).toBe(500);
    expect(ses.dailyCostMicros).toBeGreaterThan(ses.sessionCostMicros);

    // Every shard that has agents is ready; the store's sums are Redis's again.
    const totals = await (tg.store as AuditStore).totals(dayStartOf(Date.now()));
    for (const t of totals) {
      const s = await engine.status(t.agentId);
      expect(
        {
          dayCost: s?.dailyCostMicros,
          dayOverrunCost: s?.dailyOverrunMicros,
          sessionTokens: s?.sessionTokensUsed,
          sessionCost: s?.sessionCostMicros,
          sessionOverrunTokens: s?.sessionOverrunTokens,
          sessionBlocked: s?.operationsBlocked,
        },
        t.agentId,
      ).toEqual({
        dayCost: t.dayCost,
        dayOverrunCost: t.dayOverrunCost,
        sessionTokens: t.sessionTokens,
        sessionCost: t.sessionCost,
        sessionOverrunTokens: t.sessionOverrunTokens,
        sessionBlocked: t.sessionBlocked,
      });
    }
  });

  it("keys: an agent's key still works, a rotated-away key still fails", async () => {
    for (const id of before.keys()) {
      if (id === ids.suspended) continue;
      const r = await engine.authorize(
        authorizeInput(id, 'read_file', { keyDigest: digestKey(keys[id] as string) }),
      );
      expect(r.allowed, id).toBe(true);
      if (r.allowed) await engine.release({ reservationId: r.reservationId, actor: 'agent' });
    }
    await expect(
      engine.authorize(
        authorizeInput(ids.rotated, 'read_file', { keyDigest: digestKey(oldRotatedKey) }),
      ),
    ).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(
      engine.recordUsage({
        agentId: ids.rotated,
        inputTokens: 1,
        outputTokens: 1,
        rates: tg.policy.rates(),
        result: 'success',
        keyDigest: digestKey(oldRotatedKey),
        actor: 'agent',
      }),
    ).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    const v = await tg.identity.verifyAgent(ids.rotated, oldRotatedKey);
    expect(v).toEqual({ valid: false, reason: 'Invalid API key' });
    expect(await tg.identity.verifyAgent(ids.rotated, keys[ids.rotated])).toEqual({
      valid: true,
      reason: null,
    });
    // A suspended agent stays suspended; its key is still its own.
    const s = await engine.authorize(
      authorizeInput(ids.suspended, 'read_file', {
        keyDigest: digestKey(keys[ids.suspended] as string),
      }),
    );
    expect(s).toMatchObject({ allowed: false, code: 'AGENT_SUSPENDED' });
  });

  it('a hold in flight at the flush is gone; spend goes on from the restored day', async () => {
    await expect(
      tg.guard.recordOperation(
        ids.holding,
        'run_tests',
        { inputTokens: 1 },
        'success',
        heldReservation,
      ),
    ).rejects.toMatchObject({ code: 'RESERVATION_NOT_FOUND' });
    const b = before.get(ids.busy) as EngineStatus;
    const r = await tg.guard.recordOperation(ids.busy, 'read_file', {
      inputTokens: 1000,
      outputTokens: 0,
    });
    const s = await engine.status(ids.busy);
    expect(s?.dailyCostMicros).toBe(b.dailyCostMicros + Math.round(r.cost * 1e6));
    expect(s?.sessionTokensUsed).toBe(b.sessionTokensUsed + 1000);
    // The day key expires as chargeDay's would: a day after the day's midnight.
    const dayKey = (await redis.keys(`${agentKeys(ids.busy, DEFAULT_SHARDS).agent}:day:*`))[0];
    const ttl = await redis.ttl(dayKey as string);
    expect(ttl).toBeGreaterThan(86_400 - 5);
    expect(ttl).toBeLessThanOrEqual(2 * 86_400);
  });

  it('the allowed path reads no marker: no EXISTS on authorize, settle, usage or status', async () => {
    await redis.config('RESETSTAT');
    for (let i = 0; i < 20; i++) {
      const d = await tg.guard.checkPermission(ids.idle, 'read_file', { estimatedTokens: 10 });
      if (!d.allowed) throw new Error('denied');
      await tg.guard.recordOperation(
        ids.idle,
        'read_file',
        { inputTokens: 5 },
        'success',
        d.reservation_id,
      );
      await tg.guard.recordOperation(ids.idle, 'write_file', { inputTokens: 5 });
      await engine.status(ids.idle);
      expect((await tg.guard.checkPermission(ids.idle, 'deploy')).allowed).toBe(false);
    }
    expect(await commandCalls(redis, 'evalsha')).toBeGreaterThanOrEqual(100);
    expect(await commandCalls(redis, 'exists')).toBe(0);
  });

  it('concurrent recoveries (two engines, many callers) restore each agent once', async () => {
    await drainAll(redis, tg.store as AuditStore);
    const expected = new Map<string, EngineStatus>();
    for (const id of before.keys()) expected.set(id, (await engine.status(id)) as EngineStatus);
    await redis.flushall();

    const other = await createTollgate({
      redis: server.url,
      store: tg.store as AuditStore,
      warn: () => undefined,
      observer: (script, k) => calls.push({ script, keys: [...k] }),
    });
    try {
      const ids2 = [...expected.keys()];
      const results = await Promise.all(
        [engine, other.engine, engine, other.engine].flatMap((e) =>
          ids2.map(async (id) => [id, await e.status(id)] as const),
        ),
      );
      for (const [id, s] of results)
        expect(comparable(s), id).toEqual(comparable(expected.get(id) ?? null));
      const shards = new Set(ids2.map((id) => shardOf(id, DEFAULT_SHARDS)));
      expect((await redis.keys('tg:*:ready')).length).toBe(shards.size);
      expect(await redis.keys('tg:*:recovering')).toEqual([]);
      // Each agent's counters once, not twice.
      for (const id of ids2) {
        expect((await engine.status(id))?.dailyCostMicros).toBe(expected.get(id)?.dailyCostMicros);
      }
      // recoverShard on a ready shard does nothing.
      const again = await engine.recoverShard(shardOf(ids.busy, DEFAULT_SHARDS));
      expect(again).toMatchObject({ outcome: 'ready', restored: 0 });
    } finally {
      await other.close();
    }
  });

  it('a store that cannot be read fails the call closed, and recovery runs again later', async () => {
    await redis.flushall();
    let fail = true;
    const real = storeRecovery(tg.store as AuditStore, { shards: DEFAULT_SHARDS });
    engine.configureRecovery({
      source: {
        load: (shard, now) =>
          fail ? Promise.reject(new Error('connection refused')) : real.load(shard, now),
      },
    });
    const shard = shardOf(ids.busy, DEFAULT_SHARDS);
    await expect(engine.status(ids.busy)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    const unknown = idInShard(shard, 'nobody');
    await expect(engine.authorize(authorizeInput(unknown, 'read_file'))).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
    await expect(tg.identity.registerAgent(idInShard(shard, 'new'), 'coder')).rejects.toMatchObject(
      {
        code: 'STORE_UNAVAILABLE',
      },
    );
    expect(await redis.exists(readyKey(shard))).toBe(0);
    expect(await redis.exists(recoveryLockKey(shard))).toBe(0);
    expect(await redis.dbsize()).toBe(0); // nothing decided, nothing written
    fail = false;
    expect((await engine.status(ids.busy))?.dailyCostMicros).toBeGreaterThan(0);
    const nf = await engine.authorize(authorizeInput(unknown, 'read_file'));
    expect(nf).toMatchObject({ allowed: false, code: 'AGENT_NOT_FOUND' });
    engine.configureRecovery({
      source: storeRecovery(tg.store as AuditStore, { shards: DEFAULT_SHARDS }),
    });
  });

  it('a recovery lock left by a process that died is taken over when its lease ends', async () => {
    await drainAll(redis, tg.store as AuditStore);
    const want = await engine.status(ids.session);
    await redis.flushall();
    const shard = shardOf(ids.session, DEFAULT_SHARDS);
    await redis.set(recoveryLockKey(shard), 'dead-process', 'PX', 400);
    const t0 = Date.now();
    const s = await engine.status(ids.session);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(comparable(s)).toEqual(comparable(want));
    expect(await redis.exists(recoveryLockKey(shard))).toBe(0);
    expect(await redis.exists(readyKey(shard))).toBe(1);
  });

  it('cluster-safe: every recovery script call keeps its keys in one slot', () => {
    const seen = new Set<string>();
    for (const c of calls) {
      seen.add(c.script);
      expect(new Set(c.keys.map(keySlot)).size, `${c.script} ${c.keys.join(' ')}`).toBe(1);
    }
    expect(seen).toEqual(
      new Set([
        'authorize',
        'beginRecovery',
        'deleteAgent',
        'endRecovery',
        'getStatus',
        'listAgents',
        'recordUsage',
        'registerAgent',
        'release',
        'restoreAgent',
        'settle',
        'startSession',
        'updateAgent',
      ]),
    );
  });
});

describe('storeRecovery', () => {
  it('serves each load from a read that started after it; loads during a read share the next', async () => {
    const reads: { resolve: () => void }[] = [];
    const agent = (agentId: string) => ({
      agentId,
      role: 'coder',
      status: 'active' as const,
      sessionId: `${agentId}.0123456789abcdef`,
      sessionStartedAt: 1,
      sessionTokenLimit: 10,
      dailyCostLimit: 10,
      keyDigest: 'a'.repeat(64),
      createdAt: 1,
      metadata: '{}',
      updatedAt: 1,
      requestsPerMinute: 0,
      tokensPerMinute: 0,
      monthlyCostLimit: 0,
      timeZone: 'UTC',
    });
    let generation = 0;
    const store = {
      agents: async () => {
        const g = ++generation;
        await new Promise<void>((resolve) => reads.push({ resolve }));
        return [agent(idInShard(0, `gen${g}`)), agent(idInShard(1, `gen${g}`))];
      },
      totals: async () => [],
    };
    const src = storeRecovery(store, { shards: DEFAULT_SHARDS });
    const now = Date.UTC(2026, 0, 2, 12);
    const first = src.load(0, now);
    await new Promise((r) => setImmediate(r));
    const second = src.load(1, now);
    const third = src.load(0, now);
    expect(reads).toHaveLength(1);
    reads[0]?.resolve();
    const a = await first;
    await new Promise((r) => setImmediate(r));
    expect(reads).toHaveLength(2); // the next read starts once the first ends
    reads[1]?.resolve();
    const [b, c] = await Promise.all([second, third]);
    expect(a.dayStartMs).toBe(Date.UTC(2026, 0, 2));
    expect(a.agents.map((x) => x.agentId.slice(0, 4))).toEqual(['gen1']);
    expect(b.agents.map((x) => x.agentId.slice(0, 4))).toEqual(['gen2']);
    expect(c.agents.map((x) => x.agentId.slice(0, 4))).toEqual(['gen2']);
    expect(b.agents.every((x) => shardOf(x.agentId, DEFAULT_SHARDS) === 1)).toBe(true);
    expect(generation).toBe(2);
  });
});

describe('recovery without a store', () => {
  let server: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it('a new deployment works: the first call of a shard marks it ready, with a warning per shard, every time', async () => {
    const warnings: string[] = [];
    const tg = await createTollgate({ redis: server.url, warn: (m) => warnings.push(m) });
    try {
      const a = `a-${hex()}`;
      const rec = await tg.identity.registerAgent(a, 'coder');
      expect(await redis.exists(readyKey(shardOf(a, DEFAULT_SHARDS)))).toBe(1);
      expect(await redis.get(readyKey(shardOf(a, DEFAULT_SHARDS)))).toMatch(/^\d+ none 0$/);
      const ghost = idOutside(new Set([shardOf(a, DEFAULT_SHARDS)]), 'ghost');
      expect((await tg.guard.checkPermission(ghost, 'read_file')).allowed).toBe(false);
      // Two shards found without their marker: one warning each.
      expect(warnings).toHaveLength(2);
      for (const w of warnings) expect(w).toMatch(/no durable store is configured/);

      // Without a store a flush loses the agents: they are not found, and the shard is
      // marked again, said again (a wiped shard is never silent).
      await redis.flushall();
      expect(await tg.engine.status(a)).toBeNull();
      await expect(tg.identity.registerAgent(a, 'coder')).resolves.toMatchObject({ agent_id: a });
      expect(rec.api_key).not.toBe('');
      expect(warnings).toHaveLength(3);
      expect(warnings[2]).toContain(`shard ${shardOf(a, DEFAULT_SHARDS)} had no ready marker`);
    } finally {
      await tg.close();
    }
  });

  it('every agent script answers SHARD_NOT_READY (14) on a flushed shard, writing nothing', async () => {
    await redis.flushall();
    const id = `raw-${hex()}`;
    const k = agentKeys(id, DEFAULT_SHARDS);
    const nonce = '0123456789abcdef';
    const tail = '-7000-8000-000000000000';
    const cases: [string, string[], (string | number)[]][] = [
      [
        'authorize-1',
        [k.outbox],
        [
          0,
          tail,
          8,
          1,
          'read_file',
          'm',
          1,
          1,
          1000,
          'agent',
          '|coder|',
          '',
          '',
          id,
          1,
          10,
          nonce,
          '',
          '',
          '',
        ],
      ],
      [
        'settle-1',
        [k.outbox],
        [0, tail, 8, '', '', id, nonce, '', 1, 1, 'success', '', 'agent', '', '', '', '', ''],
      ],
      ['release-3', [k.agent, k.leases, k.outbox], [0, id, nonce, '', tail, 'agent', 8]],
      [
        'recordUsage-3',
        [k.agent, k.leases, k.outbox],
        [0, id, '', 1, 1, 1, 1, 'm', 'success', '', tail, 'agent', 8, 'u-1', '', '', ''],
      ],
      ['getStatus-3', [k.agent, k.leases, k.outbox], [0, id, tail, 8]],
      [
        'startSession-3',
        [k.agent, k.leases, k.outbox],
        [0, id, `${id}.${nonce}`, '', tail, 'agent', 8],
      ],
      ['updateAgent-2', [k.agent, k.outbox], [0, id, 'agent_updated', tail, 'admin', 'role', 'x']],
      ['deleteAgent-4', [k.agent, k.index, k.leases, k.outbox], [0, id, tail, 'admin', nonce]],
      [
        'registerAgent-3',
        [k.agent, k.index, k.outbox],
        [0, id, 'coder', 100, 100, 'a'.repeat(64), '{}', nonce, tail, 'admin'],
      ],
    ];
    // authorize answers one array per decision: the code is its first value.
    const codeOf = (reply: unknown[]) => (Array.isArray(reply[0]) ? reply[0][0] : reply[0]);
    for (const [file, ks, args] of cases) {
      const reply = (await redis.eval(loadScript(file), ks.length, ...ks, ...args)) as unknown[];
      expect(codeOf(reply), file).toBe(Code.SHARD_NOT_READY);
    }
    expect(await redis.eval(loadScript('listAgents-1'), 1, k.index, 0)).toBe(Code.SHARD_NOT_READY);
    expect(await redis.dbsize()).toBe(0);

    // With the marker, the same calls decide: AGENT_NOT_FOUND, writing nothing (no event either:
    // nothing is written before the caller is authenticated).
    await redis.set(readyKey(shardOf(id, DEFAULT_SHARDS)), '0 test 0');
    for (const [file, ks, args] of cases.slice(0, 8)) {
      const reply = (await redis.eval(loadScript(file), ks.length, ...ks, ...args)) as unknown[];
      expect(codeOf(reply), file).toBe(Code.AGENT_NOT_FOUND);
    }
    expect(await redis.dbsize()).toBe(1); // the marker alone
  });
});
