/**
 * Budget alert marks survive a restore from the store (docs/recovery.md,
 * "What is restored"): each threshold fires once per budget and period, a
 * loss of Redis's data or an embedded restart in between. An agent in a pool,
 * with its session, day and month limits equal to the pool's day and month
 * (1 token costs 1 µ$), crosses 50 % of all five: one alert each. After the
 * loss and the restore, a settle in the same band fires nothing; the limits
 * are raised (35 % now) and a settle crosses 50 % of the new ones: nothing
 * either (the marks, which the restored spend alone does not give: without
 * them each 50 % fired a second time); then crossing 80 % fires exactly one
 * alert per budget. Redis data loss (FLUSHALL, the first call restores the
 * shard) on PGlite and PostgreSQL, and an embedded restart from a PGlite data
 * folder. The engines' clocks are pinned mid-day, so that the day and month
 * are the same throughout.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { drainShard } from '../../src/audit/drain/index.js';
import { restoreFromStore } from '../../src/audit/embedded/index.js';
import { parseOutboxFields } from '../../src/audit/event.js';
import { createStore } from '../../src/audit/store/index.js';
import { alertThresholds } from '../../src/engine/alerts.js';
import { DEFAULT_SHARDS, shardOf } from '../../src/engine/keys.js';
import { MemoryEngine, type RestoredAgent } from '../../src/engine/memory/index.js';
import { invalidAgent } from '../../src/engine/redis/recovery.js';
import type { Engine } from '../../src/engine/types.js';
import { createTollgate } from '../../src/index.js';
import { DEFAULT_ALERT_THRESHOLDS } from '../../src/policy/defaults.js';
import { lossRig } from '../support/loss-rig.js';
import { createPoolIn, DIGEST, holdAndSettle } from '../support/pools.js';

const _databaseUrl = inject('databaseUrl');
const ALERTS = alertThresholds(DEFAULT_ALERT_THRESHOLDS);
const L = 1_000_000;
/** Mid-day UTC: the whole test stays in one day and month. */
const NOW = Date.parse('2027-06-15T12:00:00Z');
const hex = () => randomBytes(4).toString('hex');

function at(engine: Engine, ms: number): void {
  engine.setClockOffsetForTests(ms - Date.now());
}

/** The budget_alert events in the engine's outbox: `<pool or agent>:<budget>:<pct>`, sorted. */
async function alertsIn(engine: Engine): Promise<string[]> {
  return (await engine.readOutbox())
    .filter((x) => x.fields.type === 'budget_alert')
    .map((x) => parseOutboxFields(x.fields).alert)
    .map((a) => `${a?.pool_id === '' ? 'agent' : 'pool'}:${a?.budget}:${a?.threshold_pct}`)
    .sort();
}

const FIVE = (pct: number) =>
  [
    `agent:daily:${pct}`,
    `agent:monthly:${pct}`,
    `agent:session:${pct}`,
    `pool:daily:${pct}`,
    `pool:monthly:${pct}`,
  ].sort();

interface World {
  agentId: string;
  poolId: string;
}

/** The pool and its agent, five budgets of L each; 60 % spent: the five 50 % alerts. */
async function before(engine: Engine): Promise<World> {
  at(engine, NOW);
  const poolId = await createPoolIn(engine, undefined, {
    dailyLimitMicros: L,
    monthlyLimitMicros: L,
  });
  const agentId = `al-${hex()}`;
  await engine.registerAgent({
    agentId,
    role: 'coder',
    sessionTokenLimit: L,
    dailyLimitMicros: L,
    monthlyLimitMicros: L,
    poolId,
    keyDigest: DIGEST,
    metadata: '{}',
    actor: 'admin',
  });
  await holdAndSettle(engine, agentId, 600_000, ALERTS);
  expect(await alertsIn(engine)).toEqual(FIVE(50));
  return { agentId, poolId };
}

/** After the restore (`engine`'s outbox holds nothing of before): the same band, raised limits, 80 %. */
async function after(engine: Engine, w: World): Promise<void> {
  at(engine, NOW + 60_000);
  await holdAndSettle(engine, w.agentId, 100_000, ALERTS); // 70 %: the same band
  expect(await alertsIn(engine)).toEqual([]);
  await engine.updateAgent({
    agentId: w.agentId,
    event: 'limits_changed',
    actor: 'admin',
    set: { sessionTokenLimit: 2 * L, dailyLimitMicros: 2 * L, monthlyLimitMicros: 2 * L },
  });
  await engine.updatePool({
    poolId: w.poolId,
    set: { dailyLimitMicros: 2 * L, monthlyLimitMicros: 2 * L },
    actor: 'admin',
  });
  await holdAndSettle(engine, w.agentId, 400_000, ALERTS); // 35 % → 55 % of the new limits: 50 % marked already
  expect(await alertsIn(engine)).toEqual([]);
  await holdAndSettle(engine, w.agentId, 600_000, ALERTS); // 85 %
  expect(await alertsIn(engine)).toEqual(FIVE(80));
  engine.setClockOffsetForTests(0);
}

describe.each(['pglite', 'postgres'] as const)('alert marks after FLUSHALL (%s)', (kind) => {
  const rig = lossRig(kind, 'alerts');

  it('a threshold alerted before the loss does not alert again; the next one alerts once', async () => {
    const { redis, engine, store } = await rig.start();
    const w = await before(engine);
    for (let shard = 0; shard < DEFAULT_SHARDS; shard++) {
      await drainShard({ redis, store, shard, consumer: 'alerts-test' });
    }
    const stored = await store.queryEvents({ type: 'budget_alert', agentId: w.agentId });
    expect(stored.events).toHaveLength(5);
    await redis.flushall();
    await after(engine, w);
    expect(engine.shardRecoveries().total).toBeGreaterThan(0);
  }, 60_000);
});

describe('alert marks after an embedded restart (PGlite)', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a threshold alerted before the restart does not alert again; the next one alerts once', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-alerts-embedded-'));
    dirs.push(dataDir);
    const engine = new MemoryEngine();
    const tg = await createTollgate({ engine, store: { dataDir } });
    const w = await before(engine);
    await tg.close(); // flushes the drain into the data folder

    const engine2 = new MemoryEngine();
    at(engine2, NOW + 60_000);
    const store2 = await createStore({ dataDir });
    try {
      expect(await restoreFromStore(engine2, store2, NOW + 60_000)).toMatchObject({ agents: 1 });
    } finally {
      await store2.close();
    }
    await after(engine2, w);
    await engine2.close();
  }, 60_000);
});

describe('alert marks in a snapshot', () => {
  const agentId = `al-${hex()}`;
  const agent = (alerts: Partial<RestoredAgent>): RestoredAgent => ({
    agentId,
    role: 'coder',
    status: 'active',
    sessionId: `${agentId}.0123456789abcdef`,
    sessionStartedMs: NOW,
    sessionTokenLimit: L,
    dailyLimitMicros: L,
    keyDigest: DIGEST,
    createdMs: NOW,
    metadata: '{}',
    sessionTokensUsed: 0,
    sessionCostMicros: 0,
    operationsBlocked: 0,
    dailyCostMicros: 0,
    ...alerts,
  });

  it('thresholds out of order, repeated or out of range are refused by both engines', async () => {
    const shard = shardOf(agentId, DEFAULT_SHARDS);
    const snapshot = (a: RestoredAgent) => ({ dayStartMs: NOW - (NOW % 86_400_000), agents: [a] });
    for (const bad of [
      { sessionAlerts: [80, 50] },
      { dailyAlerts: [50, 50] },
      { monthlyAlerts: [0] },
      { dailyAlerts: [1001] },
      { sessionAlerts: [50.5] },
    ]) {
      const a = agent(bad);
      expect(invalidAgent(a, shard, DEFAULT_SHARDS), JSON.stringify(bad)).toMatch(/_alerts must/);
      const engine = new MemoryEngine();
      expect(() => engine.restore(snapshot(a)), JSON.stringify(bad)).toThrow(/_alerts must/);
      await engine.close();
    }
    const good = agent({ sessionAlerts: [50], dailyAlerts: [50, 80], monthlyAlerts: [] });
    expect(invalidAgent(good, shard, DEFAULT_SHARDS)).toBeUndefined();
    const engine = new MemoryEngine();
    expect(engine.restore(snapshot(good))).toBe(1);
    await engine.close();
  });
});
