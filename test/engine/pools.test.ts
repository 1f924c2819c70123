/**
 * Pools in a hierarchy (docs/limits.md, "Pools"; scratch/pools-contract.md),
 * on every engine (memory, Redis, Cluster): create, read, update and delete
 * with the contract's errors; registration in a pool; every denial names its
 * level; settle, release, lease expiry and usage correct every level the hold
 * was made under; a pool's day in its own zone. The concurrent load, moves and
 * stale directory caches are test/engine/pools-load.test.ts and
 * pools-moves.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fastParseOutboxText, parseOutboxFields } from '../../src/audit/event.js';
import { packEvent } from '../../src/engine/index.js';
import { shardOf } from '../../src/engine/keys.js';
import type { Engine, PoolStatus } from '../../src/engine/types.js';
import { ENGINE_KINDS, type EngineUnderTest, makeEngine, uid } from '../support/engines.js';
import {
  createPoolIn,
  type Denied,
  hold,
  PROFILE,
  registerIn,
  rejects,
  SHORT_LEASE,
  sweepUntilFreed,
} from '../support/pools.js';

describe.each(ENGINE_KINDS)('%s engine', (kind) => {
  let ut: EngineUnderTest;
  let engine: Engine;
  let offset = 0;

  beforeAll(async () => {
    ut = await makeEngine(kind);
    engine = ut.engine;
  });
  afterAll(async () => {
    engine.setClockOffsetForTests(0);
    await ut.close();
  });

  const pool = (parentId?: string, limits: Partial<PoolStatus> = {}) =>
    createPoolIn(engine, parentId, limits);

  async function poolEvents(poolId: string) {
    return (await engine.readOutbox()).filter((e) => e.fields.pool_id === poolId);
  }

  it('creates, reads, updates and deletes pools, with the contract errors', async () => {
    const root = uid('pl');
    const created = await engine.createPool({
      poolId: root,
      dailyLimitMicros: 5_000,
      timeZone: 'Europe/Berlin',
      actor: 'admin',
    });
    expect(created).toMatchObject({
      poolId: root,
      parentId: null,
      rootId: root,
      depth: 1,
      timeZone: 'Europe/Berlin',
      dailyLimitMicros: 5_000,
      dailyCostMicros: 0,
      dailyReservedMicros: 0,
      monthlyLimitMicros: 0,
      requestsPerMinute: 0,
      tokensPerMinute: 0,
      agents: 0,
      children: 0,
    });
    // The same create again answers the pool, with no second event.
    const again = await engine.createPool({
      poolId: root,
      dailyLimitMicros: 5_000,
      timeZone: 'Europe/Berlin',
      actor: 'admin',
    });
    expect(again.createdMs).toBe(created.createdMs);
    expect((await poolEvents(root)).filter((e) => e.fields.type === 'pool_created')).toHaveLength(
      1,
    );
    const taken = await rejects(engine.createPool({ poolId: root, actor: 'admin' }));
    expect(taken).toMatchObject({
      code: 'CONFLICT',
      details: { pool_id: root, reason: 'pool_exists' },
    });

    const team = await pool(root);
    const leaf = await pool(team);
    expect(await engine.poolStatus(leaf)).toMatchObject({
      parentId: team,
      rootId: root,
      depth: 3,
    });
    expect(await rejects(pool(leaf))).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'parent_id' },
    });
    const missing = uid('pl');
    expect(await rejects(pool(missing))).toMatchObject({
      code: 'NOT_FOUND',
      details: { pool_id: missing },
    });
    expect(await rejects(engine.createPool({ poolId: 'a:b', actor: 'admin' }))).toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    expect(await engine.poolStatus(missing)).toBeNull();
    expect((await engine.poolStatus(root))?.children).toBe(1);

    const updated = await engine.updatePool({
      poolId: team,
      set: { monthlyLimitMicros: 9_000, requestsPerMinute: 30 },
      actor: 'admin',
    });
    expect(updated).toMatchObject({ monthlyLimitMicros: 9_000, requestsPerMinute: 30 });
    await engine.updatePool({ poolId: team, set: { requestsPerMinute: 30 }, actor: 'admin' });
    expect((await poolEvents(team)).filter((e) => e.fields.type === 'pool_updated')).toHaveLength(
      1,
    );
    expect(
      await rejects(engine.updatePool({ poolId: missing, set: {}, actor: 'admin' })),
    ).toMatchObject({ code: 'NOT_FOUND', details: { pool_id: missing } });

    const listed = (await engine.listPools()).map((p) => p.poolId);
    expect(listed).toEqual(expect.arrayContaining([root, team, leaf]));

    // Not empty: an agent in it, or a pool beneath it.
    const agent = await registerIn(engine, leaf);
    expect((await engine.status(agent))?.poolId).toBe(leaf);
    expect((await engine.poolStatus(leaf))?.agents).toBe(1);
    const full = await rejects(engine.deletePool(leaf, 'admin'));
    expect(full).toMatchObject({
      code: 'CONFLICT',
      details: { pool_id: leaf, reason: 'pool_not_empty', agents: 1, pools: 0 },
    });
    expect((full as unknown as Error).message).toBe(
      `pool ${leaf} has 1 agents and 0 pools; move or delete them first`,
    );
    expect(await rejects(engine.deletePool(root, 'admin'))).toMatchObject({
      details: { agents: 0, pools: 1 },
    });
    await engine.deleteAgent(agent, 'admin');
    expect((await engine.poolStatus(leaf))?.agents).toBe(0);
    const gone = await engine.deletePool(leaf, 'admin');
    expect(gone.poolId).toBe(leaf);
    expect(await engine.poolStatus(leaf)).toBeNull();
    expect((await engine.poolStatus(team))?.children).toBe(0);
    expect(await rejects(engine.deletePool(leaf, 'admin'))).toMatchObject({ code: 'NOT_FOUND' });
    await engine.deletePool(team, 'admin');
    await engine.deletePool(root, 'admin');
    expect(await engine.poolStatus(root)).toBeNull();
    const types = (await poolEvents(root)).map((e) => e.fields.type);
    expect(types).toEqual(['pool_created', 'pool_deleted']);
  });

  it('registers an agent in a pool only if the pool exists, writing nothing else', async () => {
    const missing = uid('pl');
    const id = uid('pa');
    expect(await rejects(registerIn(engine, missing, { agentId: id }))).toMatchObject({
      code: 'NOT_FOUND',
      details: { pool_id: missing },
    });
    expect(await engine.status(id)).toBeNull();
    expect((await engine.readOutbox()).filter((e) => e.fields.agent_id === id)).toHaveLength(0);
    const p = await pool();
    await registerIn(engine, p, { agentId: id });
    const events = (await engine.readOutbox()).filter((e) => e.fields.agent_id === id);
    expect(events.map((e) => e.fields.type)).toEqual(['agent_registered']);
    expect(events[0]?.fields.pool_id).toBe(p);
    // The same registration again: the agent as it is.
    await registerIn(engine, p, { agentId: id });
    expect((await engine.poolStatus(p))?.agents).toBe(1);
  });

  it('every denial names its level: the agent, then each pool leaf first', async () => {
    const org = await pool(undefined, { dailyLimitMicros: 10_000, monthlyLimitMicros: 20_000 });
    const team = await pool(org, { dailyLimitMicros: 5_000, requestsPerMinute: 1_000 });
    const leaf = await pool(team, { tokensPerMinute: 1_000_000 });
    const a = await registerIn(engine, leaf, { dailyLimitMicros: 3_000 });
    const b = await registerIn(engine, leaf);

    // The agent's own daily limit first (no level beyond 'agent').
    const own = (await hold(engine, a, 3_001)) as Denied;
    expect(own).toMatchObject({ allowed: false, code: 'BUDGET_EXCEEDED', exceeded: 'daily' });
    expect(own.poolId).toBeUndefined();
    // The team's daily limit (5,000) before the org's (10,000).
    expect(await hold(engine, b, 5_001)).toMatchObject({
      allowed: false,
      code: 'BUDGET_EXCEEDED',
      exceeded: 'pool',
      poolId: team,
      period: 'daily',
      level: team,
    });
    // The leaf's tokens per minute: 1,000,000 tokens fit, the next do not.
    await engine.updatePool({ poolId: leaf, set: { tokensPerMinute: 100 }, actor: 'admin' });
    const tpm = (await hold(engine, b, 101)) as Denied;
    expect(tpm).toMatchObject({ code: 'RATE_LIMITED', exceeded: 'tokens_per_minute', level: leaf });
    expect(tpm.retryAfterMs).toBeGreaterThan(0);
    await engine.updatePool({ poolId: leaf, set: { tokensPerMinute: 0 }, actor: 'admin' });
    // The org's monthly limit: a daily room of 10,000 but 20,000 a month, 15,000 spent.
    await engine.updatePool({ poolId: team, set: { dailyLimitMicros: 0 }, actor: 'admin' });
    await engine.updatePool({ poolId: org, set: { dailyLimitMicros: 0 }, actor: 'admin' });
    await engine.recordUsage({
      agentId: b,
      inputTokens: 15_000,
      outputTokens: 0,
      rates: PROFILE.rates,
      result: 'success',
      actor: 'library',
    });
    expect(await hold(engine, b, 5_001)).toMatchObject({
      code: 'BUDGET_EXCEEDED',
      exceeded: 'pool',
      poolId: org,
      period: 'monthly',
      level: org,
    });
    // The team's requests per minute.
    await engine.updatePool({ poolId: team, set: { requestsPerMinute: 1 }, actor: 'admin' });
    const first = await hold(engine, b, 10);
    expect(first.allowed).toBe(true);
    const rpm = (await hold(engine, b, 10)) as Denied;
    expect(rpm).toMatchObject({
      code: 'RATE_LIMITED',
      exceeded: 'requests_per_minute',
      level: team,
    });
    // The denial's event names the pool.
    const events = (await engine.readOutbox()).filter(
      (e) => e.fields.agent_id === b && e.fields.type === 'decision' && e.fields.allowed === '0',
    );
    expect(events.map((e) => [e.fields.exceeded, e.fields.pool_id])).toEqual([
      ['pool', team],
      ['tokens_per_minute', leaf],
      ['pool', org],
      ['requests_per_minute', team],
    ]);
  });

  it('settle, release and a lease that passes correct every level the hold was made under', async () => {
    const org = await pool(undefined, { dailyLimitMicros: 1_000_000, tokensPerMinute: 1_000_000 });
    const team = await pool(org);
    const a = await registerIn(engine, team);
    const h1 = await hold(engine, a, 1_000);
    const h2 = await hold(engine, a, 2_000);
    const h3 = await hold(engine, a, 4_000);
    if (!h1.allowed || !h2.allowed || !h3.allowed) throw new Error('denied');
    for (const p of [org, team]) {
      expect(await engine.poolStatus(p)).toMatchObject({ dailyReservedMicros: 7_000 });
    }
    const s = await engine.settle({
      reservationId: h1.reservationId,
      inputTokens: 300,
      outputTokens: 200,
      result: 'success',
      actor: 'library',
    });
    expect(s.costMicros).toBe(500);
    await engine.release({ reservationId: h2.reservationId, actor: 'library' });
    for (const p of [org, team]) {
      expect(await engine.poolStatus(p)).toMatchObject({
        dailyReservedMicros: 4_000,
        dailyCostMicros: 500,
        monthlyCostMicros: 500,
      });
    }
    const settleEvent = (await engine.readOutbox()).find(
      (e) => e.fields.type === 'settle' && e.fields.reservation_id === h1.reservationId,
    );
    expect(settleEvent?.fields.pools).toBe(`${team}|${org}`);
    // The third hold's lease passes: freed under every level.
    offset += 120_000;
    engine.setClockOffsetForTests(offset);
    await engine.status(a);
    for (const p of [org, team]) {
      expect(await engine.poolStatus(p)).toMatchObject({ dailyReservedMicros: 0 });
    }
    const expired = (await engine.readOutbox()).find(
      (e) => e.fields.reservation_id === h3.reservationId && e.fields.result === 'lease_expired',
    );
    expect(expired?.fields.pools).toBe(`${team}|${org}`);
  });

  it('pool events parse, with the same answer from the schema and the fast path', async () => {
    const org = await pool(undefined, { dailyLimitMicros: 1_000, timeZone: 'Europe/Berlin' });
    const team = await pool(org);
    const a = await registerIn(engine, team);
    await engine.updatePool({ poolId: team, set: { tokensPerMinute: 5_000 }, actor: 'admin' });
    const h = await hold(engine, a, 40);
    if (!h.allowed) throw new Error('denied');
    await engine.settle({
      reservationId: h.reservationId,
      inputTokens: 40,
      outputTokens: 0,
      result: 'success',
      actor: 'library',
    });
    await hold(engine, a, 2_000); // the org's daily limit denies
    await engine.moveAgent(a, org, 'admin');
    await engine.deleteAgent(a, 'admin');
    await engine.deletePool(team, 'admin');
    const events = (await engine.readOutbox()).filter(
      (e) => e.fields.agent_id === a || e.fields.pool_id === org || e.fields.pool_id === team,
    );
    const parsed = events.map((e) => {
      const schema = parseOutboxFields(e.fields);
      expect(fastParseOutboxText(packEvent(e.fields))).toEqual(schema);
      return schema;
    });
    const byType = (t: string) => parsed.filter((e) => e.type === t);
    expect(byType('pool_created').map((e) => e.pool)).toEqual([
      {
        parent_id: null,
        root_id: org,
        daily_limit_micros: 1_000,
        monthly_limit_micros: 0,
        requests_per_minute: 0,
        tokens_per_minute: 0,
        time_zone: 'Europe/Berlin',
      },
      expect.objectContaining({ parent_id: org, root_id: org, time_zone: 'UTC' }),
    ]);
    expect(byType('pool_updated')[0]).toMatchObject({
      pool_id: team,
      pool: { tokens_per_minute: 5_000 },
    });
    expect(byType('pool_deleted')[0]).toMatchObject({ pool_id: team, agent_id: '' });
    expect(byType('agent_registered')[0]?.state?.pool_id).toBe(team);
    expect(byType('settle')[0]?.pools).toEqual([team, org]);
    const denied = parsed.find((e) => e.type === 'decision' && e.allowed === false);
    expect(denied).toMatchObject({ exceeded: 'pool', pool_id: org });
    expect(byType('agent_moved')[0]).toMatchObject({ pool_id: org, from_pool_id: team });
    expect(byType('agent_deleted')[0]?.state?.pool_id).toBe(org);
  });

  it('the sweep frees the expired holds of agents in pools under every level', async () => {
    // On Redis the sweep is of a shard the run's other files share: no clock
    // shifted ahead there (it would free their holds too), a 300 ms lease that
    // runs out in real time. The memory engine's clock is its own.
    const shared = kind !== 'memory';
    if (shared) engine.setClockOffsetForTests(0);
    const org = await pool();
    const team = await pool(org);
    const a = await registerIn(engine, team);
    const h = await engine.authorize({
      agentId: a,
      profile: shared ? SHORT_LEASE : PROFILE,
      estimatedTokens: 2_500,
      actor: 'library',
    });
    if (!h.allowed) throw new Error('denied');
    expect(await engine.poolStatus(org)).toMatchObject({ dailyReservedMicros: 2_500 });
    if (!shared) engine.setClockOffsetForTests(offset + 120_000);
    // The agent lives on its hierarchy's shard (the root's): the sweep of that
    // shard frees it (nothing else here touches the agent).
    const shard = shardOf(org, engine.shards);
    await sweepUntilFreed(
      engine,
      [shard],
      async () => (await engine.poolStatus(org))?.dailyReservedMicros === 0,
      () => engine.poolStatus(org),
    );
    expect(await engine.poolStatus(team)).toMatchObject({ dailyReservedMicros: 0 });
    const freed = (await engine.readOutbox(shard)).filter(
      (e) => e.fields.type === 'release' && e.fields.reservation_id === h.reservationId,
    );
    expect(freed.map((e) => e.fields.result)).toEqual(['lease_expired']);
    engine.setClockOffsetForTests(offset);
  });

  it("a pool's day is its own zone's: Europe/Berlin rolls over at local midnight", async () => {
    const berlin = await pool(undefined, {
      dailyLimitMicros: 1_000,
      timeZone: 'Europe/Berlin',
    });
    const a = await registerIn(engine, berlin);
    // 2027-06-10T21:59:58Z is 23:59:58 in Berlin (summer time, +2 h).
    const midnight = Date.parse('2027-06-10T22:00:00Z');
    const at = (ms: number) => engine.setClockOffsetForTests(ms - Date.now());
    at(midnight - 2_000);
    const h = await hold(engine, a, 1_000);
    if (!h.allowed) throw new Error('denied');
    await engine.settle({
      reservationId: h.reservationId,
      inputTokens: 1_000,
      outputTokens: 0,
      result: 'success',
      actor: 'library',
    });
    expect(await engine.poolStatus(berlin)).toMatchObject({
      day: 20270610,
      dailyCostMicros: 1_000,
    });
    expect(await hold(engine, a, 1)).toMatchObject({ exceeded: 'pool', period: 'daily' });
    at(midnight);
    expect(await engine.poolStatus(berlin)).toMatchObject({ day: 20270611, dailyCostMicros: 0 });
    expect((await hold(engine, a, 1_000)).allowed).toBe(true);
    engine.setClockOffsetForTests(offset);
  });
});
