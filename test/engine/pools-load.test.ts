/**
 * Pools under concurrent load (docs/limits.md, "Pools"), on every engine: a
 * three-level hierarchy (org -> two teams -> a pool in each) hit by many
 * concurrent authorize + settle pairs from two engine instances on the same
 * store (on Redis: two RedisEngines, as two processes would be) passes no
 * level's limit, leaves nothing held, and every level's spend is the exact sum
 * of what was settled beneath it; a pool's requests per minute let exactly
 * their number through out of 200 concurrent authorizes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisEngine } from '../../src/engine/redis/index.js';
import type { Engine } from '../../src/engine/types.js';
import {
  ENGINE_KINDS,
  type EngineUnderTest,
  makeEngine,
  redisClient,
  uid,
} from '../support/engines.js';
import { hold, registerIn } from '../support/pools.js';

describe.each(ENGINE_KINDS)('%s engine', (kind) => {
  let ut: EngineUnderTest;
  /** The engines calls are spread over: two instances on one store (memory: the one engine). */
  let engines: Engine[];

  beforeAll(async () => {
    ut = await makeEngine(kind);
    engines = [ut.engine];
    if (kind !== 'memory') {
      engines.push(new RedisEngine({ client: redisClient(kind), ownsClient: true }));
    }
  });
  afterAll(async () => {
    for (const e of engines.slice(1)) await e.close();
    await ut.close();
  });

  async function pool(parentId: string | undefined, dailyLimitMicros: number): Promise<string> {
    const id = uid('pl');
    await ut.engine.createPool({ poolId: id, parentId, dailyLimitMicros, actor: 'admin' });
    return id;
  }

  it('concurrent pairs under org -> team -> pool: no level passes its limit, exact totals', async () => {
    const org = await pool(undefined, 90_000);
    const teamA = await pool(org, 60_000);
    const teamB = await pool(org, 50_000);
    const poolA = await pool(teamA, 40_000);
    const poolB = await pool(teamB, 1_000_000);
    const agentsA = await Promise.all([0, 1, 2, 3].map(() => registerIn(ut.engine, poolA)));
    const agentsB = await Promise.all([0, 1, 2, 3].map(() => registerIn(ut.engine, poolB)));
    const agents = [...agentsA, ...agentsB];
    // 400 pairs of 1,000 µ$ each (a hold of 1,000 tokens settled at 1,000): 400,000 µ$
    // asked for, 90,000 at most can be spent (the org's limit).
    const PAIRS = 400;
    let allowed = 0;
    const spentBy = new Map<string, number>();
    await Promise.all(
      Array.from({ length: PAIRS }, async (_, k) => {
        const engine = engines[k % engines.length] as Engine;
        const agentId = agents[k % agents.length] as string;
        const d = await hold(engine, agentId, 1_000);
        if (!d.allowed) {
          expect(d).toMatchObject({ code: 'BUDGET_EXCEEDED', exceeded: 'pool', period: 'daily' });
          return;
        }
        allowed++;
        const s = await engines[(k + 1) % engines.length]?.settle({
          reservationId: d.reservationId,
          inputTokens: 600,
          outputTokens: 400,
          result: 'success',
          actor: 'library',
        });
        expect(s?.costMicros).toBe(1_000);
        spentBy.set(agentId, (spentBy.get(agentId) ?? 0) + 1_000);
      }),
    );
    const statusOf = async (id: string) => (await ut.engine.poolStatus(id)) ?? undefined;
    const [o, ta, tb, pa, pb] = await Promise.all([org, teamA, teamB, poolA, poolB].map(statusOf));
    const sum = (ids: string[]) => ids.reduce((s, id) => s + (spentBy.get(id) ?? 0), 0);
    expect(pa?.dailyCostMicros).toBe(sum(agentsA));
    expect(pb?.dailyCostMicros).toBe(sum(agentsB));
    expect(ta?.dailyCostMicros).toBe(sum(agentsA));
    expect(tb?.dailyCostMicros).toBe(sum(agentsB));
    expect(o?.dailyCostMicros).toBe(sum(agents));
    expect(o?.dailyCostMicros).toBe(allowed * 1_000);
    for (const [s, limit] of [
      [o, 90_000],
      [ta, 60_000],
      [tb, 50_000],
      [pa, 40_000],
    ] as const) {
      expect(s?.dailyCostMicros).toBeLessThanOrEqual(limit);
      expect(s?.dailyReservedMicros).toBe(0);
    }
    // The org's limit is what bound the total (teams 60,000 + 50,000 > 90,000; pool A 40,000).
    expect(o?.dailyCostMicros).toBe(90_000);
    expect(pa?.dailyCostMicros).toBe(40_000);
    for (const id of agents) {
      const st = await ut.engine.status(id);
      expect(st?.dailyReservedMicros).toBe(0);
      expect(st?.dailyCostMicros).toBe(spentBy.get(id) ?? 0);
    }
  });

  it("a pool's 30 requests per minute let exactly 30 of 200 concurrent authorizes through", async () => {
    const root = await pool(undefined, 0);
    const limited = uid('pl');
    await ut.engine.createPool({
      poolId: limited,
      parentId: root,
      requestsPerMinute: 30,
      actor: 'admin',
    });
    const agents = await Promise.all([0, 1, 2, 3, 4].map(() => registerIn(ut.engine, limited)));
    const rs = await Promise.all(
      Array.from({ length: 200 }, (_, k) =>
        hold(engines[k % engines.length] as Engine, agents[k % agents.length] as string, 10),
      ),
    );
    expect(rs.filter((r) => r.allowed)).toHaveLength(30);
    for (const r of rs.filter((x) => !x.allowed)) {
      expect(r).toMatchObject({
        code: 'RATE_LIMITED',
        exceeded: 'requests_per_minute',
        level: limited,
      });
    }
    expect((await ut.engine.poolStatus(root))?.dailyReservedMicros).toBe(300);
  });
});
