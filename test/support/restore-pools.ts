/**
 * The pool restore scenario (test/audit/restore-pools.test.ts): traffic under
 * a two-level hierarchy, and the checks that a restored engine has it back.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { Engine, PoolStatus } from '../../src/engine/types.js';
import { type Denied, hold, registerIn } from './pools.js';

const hex = () => randomBytes(3).toString('hex');

export interface PoolWorld {
  org: string;
  teamA: string;
  teamB: string;
  gone: string;
  /** agent id → its pool (null: none). */
  agents: Map<string, string | null>;
  pools: Map<string, PoolStatus>;
}

/** Settles a hold of `tokens` (N tokens cost N µ$) in full. */
async function spend(engine: Engine, agentId: string, tokens: number): Promise<void> {
  const h = await hold(engine, agentId, tokens);
  if (!h.allowed) throw new Error(`denied: ${h.code}`);
  await engine.settle({
    reservationId: h.reservationId,
    inputTokens: tokens,
    outputTokens: 0,
    result: 'success',
    actor: 'library',
  });
}

/**
 * org (daily 10,000 µ$) > team-a (5,000, New York), team-b; an agent in each
 * team, one moved from team-a to team-b after spending, one in no pool; a
 * pool created and deleted. 7,000 µ$ spent under org.
 */
export async function poolTraffic(engine: Engine): Promise<PoolWorld> {
  const s = hex();
  const org = `org-${s}`;
  const teamA = `team-a-${s}`;
  const teamB = `team-b-${s}`;
  const gone = `gone-${s}`;
  await engine.createPool({
    poolId: org,
    dailyLimitMicros: 10_000,
    monthlyLimitMicros: 50_000,
    actor: 'admin',
  });
  await engine.createPool({
    poolId: teamA,
    parentId: org,
    dailyLimitMicros: 5_000,
    timeZone: 'America/New_York',
    actor: 'admin',
  });
  await engine.createPool({ poolId: teamB, parentId: org, requestsPerMinute: 600, actor: 'admin' });
  await engine.updatePool({ poolId: teamB, set: { tokensPerMinute: 900_000 }, actor: 'admin' });
  await engine.createPool({ poolId: gone, parentId: teamB, actor: 'admin' });
  await engine.deletePool(gone, 'admin');
  const a = await registerIn(engine, teamA, { agentId: `a-${s}` });
  const b = await registerIn(engine, teamB, { agentId: `b-${s}` });
  const m = await registerIn(engine, teamA, { agentId: `m-${s}` });
  const plain = await registerIn(engine, undefined, { agentId: `p-${s}` });
  await spend(engine, a, 1_000);
  await spend(engine, m, 2_000);
  await engine.moveAgent(m, teamB, 'admin');
  await spend(engine, m, 1_500);
  await spend(engine, b, 2_500);
  await spend(engine, plain, 400);
  const pools = new Map<string, PoolStatus>();
  for (const p of [org, teamA, teamB]) pools.set(p, (await engine.poolStatus(p)) as PoolStatus);
  expect(pools.get(org)).toMatchObject({ dailyCostMicros: 7_000, agents: 0, children: 2 });
  expect(pools.get(teamA)).toMatchObject({ dailyCostMicros: 3_000, agents: 1 });
  expect(pools.get(teamB)).toMatchObject({ dailyCostMicros: 4_000, agents: 2 });
  return {
    org,
    teamA,
    teamB,
    gone,
    agents: new Map([
      [a, teamA],
      [b, teamB],
      [m, teamB],
      [plain, null],
    ]),
    pools,
  };
}

/** The restored engine has the world back exactly (spend, limits, membership), and org's limit holds. */
export async function expectPoolsBack(engine: Engine, w: PoolWorld): Promise<void> {
  for (const [id, before] of w.pools) {
    const after = (await engine.poolStatus(id)) as PoolStatus;
    expect(after, id).toMatchObject({
      ...before,
      nowMs: after.nowMs,
      dailyReservedMicros: 0,
      monthlyReservedMicros: 0,
    });
  }
  expect(await engine.poolStatus(w.gone)).toBeNull();
  for (const [agentId, poolId] of w.agents) {
    expect((await engine.status(agentId))?.poolId ?? null, agentId).toBe(poolId);
  }
  // org has 3,000 µ$ left today: a hold of 3,001 under team-b is the pool's denial, 3,000 fits.
  const b = [...w.agents].find(([, p]) => p === w.teamB)?.[0] as string;
  const over = (await hold(engine, b, 3_001)) as Denied;
  expect(over).toMatchObject({ allowed: false, code: 'BUDGET_EXCEEDED', poolId: w.org });
  expect((await hold(engine, b, 3_000)).allowed).toBe(true);
  // org is full now: an agent of team-a (2,000 left there) is denied by org.
  const a = [...w.agents].find(([, p]) => p === w.teamA)?.[0] as string;
  expect(await hold(engine, a, 1)).toMatchObject({ allowed: false, poolId: w.org });
}
