/**
 * Periods in a time zone (docs/limits.md), on every engine (memory, Redis,
 * Cluster): the day and month keys are the agent's LOCAL date and month, a new
 * period starts at zero at local midnight (DST days of 23 and 25 hours
 * included), a monthly limit denies with `exceeded: 'monthly'`, a settle
 * charges the period it runs in, and UTC agents keep the UTC day. The engine's
 * clock is moved with its test offset; "before" is 2 s before the boundary (the
 * real ms between setting the offset and the engine reading its clock stay far
 * below that), "at" is the boundary itself (the clock only moves on from it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBudgetStatus } from '../../src/budget/status.js';
import type { EngineStatus } from '../../src/engine/types.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { ENGINE_KINDS, type EngineUnderTest, makeEngine, uid } from '../support/engines.js';

const DIGEST = 'a'.repeat(64);
const RATES = { model: 'm', inputMicrosPerMillion: 1_000_000, outputMicrosPerMillion: 1_000_000 };

describe.each(ENGINE_KINDS)('%s engine', (kind) => {
  let ut: EngineUnderTest;
  let tg: Tollgate;

  beforeAll(async () => {
    ut = await makeEngine(kind);
    tg = await createTollgate({ engine: ut.engine });
  });
  afterAll(async () => {
    ut.engine.setClockOffsetForTests(0);
    await ut.close();
  });

  /** Sets the engine's clock to `ms` (UTC) from now on. */
  function at(ms: number): void {
    ut.engine.setClockOffsetForTests(ms - Date.now());
  }

  async function register(timeZone?: string, monthlyLimitMicros?: number): Promise<string> {
    const id = uid('pd');
    await ut.engine.registerAgent({
      agentId: id,
      role: 'coder',
      sessionTokenLimit: 10_000_000,
      dailyLimitMicros: 1_000_000_000,
      monthlyLimitMicros,
      timeZone,
      keyDigest: DIGEST,
      metadata: '{}',
      actor: 'library',
    });
    return id;
  }

  async function spend(id: string, tokens: number): Promise<EngineStatus> {
    const r = await ut.engine.recordUsage({
      agentId: id,
      inputTokens: tokens,
      outputTokens: 0,
      rates: RATES,
      result: 'success',
      actor: 'library',
    });
    return r.status;
  }

  async function status(id: string): Promise<EngineStatus> {
    return (await ut.engine.status(id)) as EngineStatus;
  }

  // Local midnights (UTC instants) after a DST change, and the local dates on either side.
  const boundaries = [
    // Berlin, clocks forward 2027-03-28 01:00Z: that day is 23 h; its end is 22:00Z.
    ['Europe/Berlin', '2027-03-28T22:00:00Z', '2027-03-28', '2027-03-29', '2027-03', '2027-03'],
    // Berlin, clocks back 2027-10-31 01:00Z: a 25 h day, and the month's end.
    ['Europe/Berlin', '2027-10-31T23:00:00Z', '2027-10-31', '2027-11-01', '2027-10', '2027-11'],
    ['America/New_York', '2027-03-15T04:00:00Z', '2027-03-14', '2027-03-15', '2027-03', '2027-03'],
    ['America/New_York', '2027-11-08T05:00:00Z', '2027-11-07', '2027-11-08', '2027-11', '2027-11'],
  ] as const;

  it.each(boundaries)('%s: a new day at local midnight %s', async (zone, iso, d0, d1, m0, m1) => {
    const midnight = Date.parse(iso);
    const id = await register(zone);
    at(midnight - 2000);
    const before = await spend(id, 1000);
    const b = toBudgetStatus(before);
    expect(b.daily.date).toBe(d0);
    expect(b.daily.time_zone).toBe(zone);
    expect(b.daily.resets_at).toBe(new Date(midnight).toISOString());
    expect(b.monthly.month).toBe(m0);
    expect(before.dailyCostMicros).toBe(1000);
    expect(before.monthlyCostMicros).toBe(1000);

    at(midnight);
    const after = await status(id);
    const a = toBudgetStatus(after);
    expect(a.daily.date).toBe(d1);
    expect(after.dailyCostMicros).toBe(0);
    expect(a.monthly.month).toBe(m1);
    expect(after.monthlyCostMicros).toBe(m0 === m1 ? 1000 : 0);
    const charged = await spend(id, 500);
    expect(charged.dailyCostMicros).toBe(500);
    expect(charged.monthlyCostMicros).toBe(m0 === m1 ? 1500 : 500);

    at(midnight - 2000);
    expect((await status(id)).dailyCostMicros).toBe(1000);
  });

  it('a hold made before local midnight and settled after charges the new day and month', async () => {
    const midnight = Date.parse('2027-10-31T23:00:00Z');
    const id = await register('Europe/Berlin');
    at(midnight - 2000);
    const held = await tg.engine.authorize({
      agentId: id,
      profile: tg.policy.profile('read_file'),
      estimatedTokens: 100,
      actor: 'library',
    });
    expect(held.allowed).toBe(true);
    if (!held.allowed) return;
    at(midnight);
    const s = await ut.engine.settle({
      reservationId: held.reservationId,
      inputTokens: 50,
      outputTokens: 50,
      result: 'success',
      actor: 'library',
    });
    expect(s.costMicros).toBeGreaterThan(0);
    expect(s.status.dailyCostMicros).toBe(s.costMicros);
    expect(s.status.monthlyCostMicros).toBe(s.costMicros);
    expect(s.status.dailyReservedMicros).toBe(0);
    at(midnight - 2000);
    const old = await status(id);
    expect(old.dailyCostMicros).toBe(0);
    expect(old.monthlyCostMicros).toBe(0);
  });

  it("a monthly limit denies with exceeded: 'monthly', and a new month allows again", async () => {
    const id = await register('America/New_York', 2000);
    at(Date.parse('2027-11-30T12:00:00Z'));
    await spend(id, 1900);
    const r = await tg.engine.authorize({
      agentId: id,
      profile: tg.policy.profile('read_file'),
      estimatedTokens: 100,
      actor: 'library',
    });
    expect(r.allowed).toBe(false);
    if (r.allowed) return;
    expect(r.code).toBe('BUDGET_EXCEEDED');
    expect(r.exceeded).toBe('monthly');
    const b = toBudgetStatus(r.status as EngineStatus);
    expect(b.monthly.cost_limit).toBe(0.002);
    expect(b.monthly.resets_at).toBe('2027-12-01T05:00:00.000Z');
    at(Date.parse('2027-12-01T05:00:00Z'));
    const next = await tg.engine.authorize({
      agentId: id,
      profile: tg.policy.profile('read_file'),
      estimatedTokens: 100,
      actor: 'library',
    });
    expect(next.allowed).toBe(true);
  });

  it('a UTC agent keeps the UTC day', async () => {
    const id = await register();
    at(Date.parse('2027-03-28T23:59:58Z'));
    const s = await spend(id, 10);
    expect(s.timeZone).toBe('UTC');
    expect(s.day).toBe(20270328);
    expect(s.month).toBe(202703);
    at(Date.parse('2027-03-29T00:00:00Z'));
    const t = await status(id);
    expect(t.day).toBe(20270329);
    expect(t.dailyCostMicros).toBe(0);
    expect(t.monthlyCostMicros).toBe(10);
    expect(toBudgetStatus(t).monthly.cost_limit).toBeNull();
  });
});
