/**
 * Pool budget alerts (lua/includes/alerts.lua poolAlerts,
 * src/engine/memory/alerts.ts), on every engine: 50 concurrent settles
 * (spread over several engine instances on Redis) cross 80 % of a pool's
 * daily limit: one 80 % alert for that pool, one 50 % for the pool above it,
 * and the agent's own alerts as its own budget says; a pool's month, in the
 * pool's time zone; a new local day fires again; thresholds other than the
 * default fire at those only; a settle that carries none fires none; a
 * limit raised within a period does not fire its thresholds again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOutboxFields } from '../../src/audit/event.js';
import { type AlertThresholds, alertThresholds } from '../../src/engine/alerts.js';
import type { Engine, PoolStatus } from '../../src/engine/types.js';
import { DEFAULT_ALERT_THRESHOLDS } from '../../src/policy/defaults.js';
import { ENGINE_KINDS, type EngineUnderTest, makeEngine } from '../support/engines.js';
import { createPoolIn, holdAndSettle, registerIn } from '../support/pools.js';

const ALERTS = alertThresholds(DEFAULT_ALERT_THRESHOLDS);
const LIMIT = 1_000_000;

describe.each(ENGINE_KINDS)('%s engine: pool alerts', (kind) => {
  const uts: EngineUnderTest[] = [];
  let engine: Engine;
  let others: Engine[];

  beforeAll(async () => {
    for (let i = 0; i < (kind === 'memory' ? 1 : 3); i++) uts.push(await makeEngine(kind));
    engine = (uts[0] as EngineUnderTest).engine;
    others = uts.map((u) => u.engine);
  });
  afterAll(async () => {
    for (const u of uts) {
      u.engine.setClockOffsetForTests(0);
      await u.close();
    }
  });

  const pool = (parentId?: string, limits: Partial<PoolStatus> = {}) =>
    createPoolIn(engine, parentId, limits);

  /** Usage with no hold: `micros` µ$ (1 µ$ per token). */
  function usage(e: Engine, agentId: string, micros: number, alerts: AlertThresholds = ALERTS) {
    return e.recordUsage({
      agentId,
      operation: 'op',
      inputTokens: micros,
      outputTokens: 0,
      rates: { model: 'm', inputMicrosPerMillion: 1_000_000, outputMicrosPerMillion: 1_000_000 },
      result: 'success',
      actor: 'library',
      alerts,
    });
  }

  /** The budget_alert events of the agent: `<pool or agent>:<budget>:<pct>`, in order. */
  async function alertsOf(agentId: string) {
    return (await engine.readOutbox())
      .filter((x) => x.fields.type === 'budget_alert' && x.fields.agent_id === agentId)
      .map((x) => parseOutboxFields(x.fields));
  }
  const names = (list: Awaited<ReturnType<typeof alertsOf>>) =>
    list.map((x) => `${x.alert?.pool_id || 'agent'}:${x.alert?.budget}:${x.alert?.threshold_pct}`);

  it('50 concurrent settles cross 80 % of a pool’s day: one alert per pool and threshold', async () => {
    const org = await pool(undefined, { dailyLimitMicros: 1_600_000 });
    const team = await pool(org, { dailyLimitMicros: LIMIT, monthlyLimitMicros: 10 * LIMIT });
    // The agent's own day: 1.6 $, as the org's.
    const agentId = await registerIn(engine, team, { dailyLimitMicros: 1_600_000 });
    // 79 % of the team's day (49 % of the org's, the agent's): its 50 % only.
    await usage(engine, agentId, 790_000);
    expect(names(await alertsOf(agentId))).toEqual([`${team}:daily:50`]);

    // 50 settles of 1,000 µ$, all at once: 79 % → 84 % of the team's day, 49 % → 52.5 % of the org's.
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        holdAndSettle(others[i % others.length] as Engine, agentId, 1_000, ALERTS),
      ),
    );
    const all = await alertsOf(agentId);
    expect(names(all).sort()).toEqual(
      [`${team}:daily:50`, `${team}:daily:80`, `${org}:daily:50`, 'agent:daily:50'].sort(),
    );
    const at80 = all.find((x) => x.alert?.pool_id === team && x.alert.threshold_pct === 80);
    const day = new Date(at80?.at ?? 0).toISOString().slice(0, 10).replaceAll('-', '');
    expect(at80).toMatchObject({ agent_id: agentId });
    expect(at80?.alert).toMatchObject({ budget: 'daily', period: day, limit: LIMIT });
    expect(at80?.alert?.used).toBeGreaterThanOrEqual(800_000);
    expect(at80?.alert?.used).toBeLessThan(801_000);
    // The agent's own alert is its own budget's: no pool in it.
    expect(all.find((x) => x.alert?.pool_id === '')?.alert).toMatchObject({
      budget: 'daily',
      limit: 1_600_000,
    });
    // The team's month (8.4 % of 10 $) fired nothing.
    expect(all.filter((x) => x.alert?.budget === 'monthly')).toEqual([]);
  });

  it('a pool’s month, in the pool’s own zone', async () => {
    const zone = 'Pacific/Kiritimati'; // UTC+14: its day and month are often not UTC's
    const team = await pool(undefined, { monthlyLimitMicros: LIMIT, timeZone: zone });
    const agentId = await registerIn(engine, team);
    await usage(engine, agentId, 500_000);
    const [a] = await alertsOf(agentId);
    const local = new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
    })
      .format(new Date(a?.at ?? 0))
      .replace('-', '');
    expect(a).toMatchObject({ agent_id: agentId });
    expect(a?.alert).toEqual({
      pool_id: team,
      budget: 'monthly',
      threshold_pct: 50,
      period: local,
      used: 500_000,
      limit: LIMIT,
    });
    expect(await alertsOf(agentId)).toHaveLength(1);
  });

  it('a new local day of the pool fires its thresholds again', async () => {
    const team = await pool(undefined, { dailyLimitMicros: LIMIT });
    const agentId = await registerIn(engine, team);
    await usage(engine, agentId, 600_000);
    await usage(engine, agentId, 100_000); // 70 %: nothing new
    const first = await alertsOf(agentId);
    expect(names(first)).toEqual([`${team}:daily:50`]);
    try {
      engine.setClockOffsetForTests(86_400_000);
      await usage(engine, agentId, 600_000);
      const next = (await alertsOf(agentId)).slice(first.length);
      expect(names(next)).toEqual([`${team}:daily:50`]);
      expect(Number(next[0]?.alert?.period)).toBeGreaterThan(Number(first[0]?.alert?.period));
      expect(next[0]?.alert?.used).toBe(600_000);
    } finally {
      engine.setClockOffsetForTests(0);
    }
  });

  it('a limit raised within the day does not fire a threshold of that day again (its mark)', async () => {
    const team = await pool(undefined, { dailyLimitMicros: LIMIT });
    const agentId = await registerIn(engine, team);
    await usage(engine, agentId, 850_000); // 50 and 80 %
    await engine.updatePool({ poolId: team, set: { dailyLimitMicros: 2 * LIMIT }, actor: 'admin' });
    await usage(engine, agentId, 800_000); // 42.5 → 82.5 % of the new limit: both marked
    await usage(engine, agentId, 400_000); // 102.5 %
    expect(names(await alertsOf(agentId))).toEqual([
      `${team}:daily:50`,
      `${team}:daily:80`,
      `${team}:daily:100`,
    ]);
  });

  it('other thresholds fire at those only; none, nothing', async () => {
    const custom = alertThresholds([25, 90]);
    const team = await pool(undefined, { dailyLimitMicros: LIMIT });
    const agentId = await registerIn(engine, team, { dailyLimitMicros: 10 * LIMIT });
    await usage(engine, agentId, 300_000, custom);
    await usage(engine, agentId, 300_000, custom); // 60 %: not 50
    await usage(engine, agentId, 250_000, custom); // 85 %: not 80
    expect(names(await alertsOf(agentId))).toEqual([`${team}:daily:25`]);
    await usage(engine, agentId, 100_000, custom); // 95 %
    expect(names(await alertsOf(agentId))).toEqual([`${team}:daily:25`, `${team}:daily:90`]);
    // No thresholds (none given, or an empty list): the pool's 105 % and the agent's own
    // 25 % (26.5 % of 10 $ after the last) fire nothing.
    await usage(engine, agentId, 100_000, alertThresholds([]));
    await engine.recordUsage({
      agentId,
      inputTokens: 1_600_000,
      outputTokens: 0,
      rates: { model: 'm', inputMicrosPerMillion: 1_000_000, outputMicrosPerMillion: 1_000_000 },
      result: 'success',
      actor: 'library',
    });
    expect(names(await alertsOf(agentId))).toEqual([`${team}:daily:25`, `${team}:daily:90`]);
  });
});
