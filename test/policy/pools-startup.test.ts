/**
 * The policy's pools at startup (docs/policy.md, "Pools"): createTollgate
 * creates a declared pool that does not exist, updates one whose settings
 * differ (the file wins), deletes none, and refuses to start when a declared
 * pool exists under another parent. MemoryEngine, no store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { syncPolicyPools } from '../../src/budget/index.js';
import { MemoryEngine } from '../../src/engine/index.js';
import { createPolicy, createTollgate, type Tollgate } from '../../src/index.js';

const open: Tollgate[] = [];
afterEach(async () => {
  for (const tg of open.splice(0)) await tg.close();
});

/** A Tollgate on `engine` (kept open: the tests start several on one engine). */
async function start(engine: MemoryEngine, pools: unknown): Promise<Tollgate> {
  return createTollgate({ engine, policy: { pools }, sweep: false });
}

/** Events of this type in the outbox (every shard). */
async function count(engine: MemoryEngine, type: string): Promise<number> {
  return (await engine.readOutbox()).filter((e) => e.fields.type === type).length;
}

const POLICY = [
  { pool_id: 'eng', daily_cost_limit: 100, monthly_cost_limit: 1500, time_zone: 'Europe/Berlin' },
  { pool_id: 'web', parent: 'eng', requests_per_minute: 600, tokens_per_minute: 200_000 },
  { pool_id: 'web-ci', parent: 'web', daily_cost_limit: 5 },
];

describe('the policy pools at startup', () => {
  it('creates every declared pool, parents first, with the file’s settings', async () => {
    const engine = new MemoryEngine();
    const tg = await start(engine, POLICY);
    open.push(tg);
    const pools = await tg.pools.list();
    expect(pools.map((p) => [p.pool_id, p.parent_id, p.depth])).toEqual([
      ['eng', null, 1],
      ['web', 'eng', 2],
      ['web-ci', 'web', 3],
    ]);
    expect(pools[0]).toMatchObject({
      time_zone: 'Europe/Berlin',
      daily: { cost_limit: 100 },
      monthly: { cost_limit: 1500 },
      rate_limits: null,
    });
    expect(pools[1]?.rate_limits).toEqual({ requests_per_minute: 600, tokens_per_minute: 200_000 });
    // Created by the system, in the outbox like any other change.
    const events = (await engine.readOutbox()).filter((e) => e.fields.type === 'pool_created');
    expect(events).toHaveLength(3);
    expect(events.map((e) => e.fields.actor)).toEqual(['system', 'system', 'system']);
  });

  it('a restart updates what differs (the file wins), leaves the rest, deletes nothing', async () => {
    const engine = new MemoryEngine();
    const first = await start(engine, POLICY);
    // Changed by an operator meanwhile, and a pool the file does not name.
    await first.pools.update('eng', { dailyCostLimit: 7, timeZone: 'UTC' });
    await first.pools.update('web', { requestsPerMinute: 0 });
    await first.pools.create('adhoc', { dailyCostLimit: 1 });
    const updatesBefore = await count(engine, 'pool_updated');

    const sync = await syncPolicyPools(engine, createPolicy({ pools: POLICY }).pools, 'system');
    expect(sync).toEqual({ created: [], updated: ['eng', 'web'] });
    const second = await start(engine, POLICY);
    open.push(second);
    const byId = new Map((await second.pools.list()).map((p) => [p.pool_id, p]));
    expect(byId.get('eng')).toMatchObject({
      time_zone: 'Europe/Berlin',
      daily: { cost_limit: 100 },
    });
    expect(byId.get('web')?.rate_limits?.requests_per_minute).toBe(600);
    expect(byId.get('adhoc')?.daily.cost_limit).toBe(1);
    // Two updates by the sync; the second start found nothing to change: no event written.
    expect((await count(engine, 'pool_updated')) - updatesBefore).toBe(2);
    expect(await count(engine, 'pool_created')).toBe(4);

    // A file that drops a pool deletes nothing.
    const third = await start(engine, [POLICY[0]]);
    open.push(third);
    expect((await third.pools.list()).map((p) => p.pool_id).sort()).toEqual(
      ['adhoc', 'eng', 'web', 'web-ci'].sort(),
    );
  });

  it('refuses to start when a declared pool exists under another parent', async () => {
    const engine = new MemoryEngine();
    const tg = await start(engine, [
      { pool_id: 'a' },
      { pool_id: 'b' },
      { pool_id: 'c', parent: 'a' },
    ]);
    open.push(tg);
    const moved = [{ pool_id: 'a' }, { pool_id: 'b' }, { pool_id: 'c', parent: 'b' }];
    const err = await start(engine, moved).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string; details?: unknown },
    );
    expect(err?.code).toBe('CONFLICT');
    expect(err?.message).toContain('Pool c exists beneath a, but the policy declares it beneath b');
    expect(err?.details).toEqual({ pool_id: 'c', parent_id: 'a', declared_parent_id: 'b' });
  });
});
