/**
 * The pools' metrics (docs/metrics.md, "Pools"), end to end over HTTP on
 * Redis and on the embedded engine: a two-level hierarchy, an agent in its
 * leaf that settles and holds, scraped: each pool's cost of its day and month
 * (the settle's exact cost, at every level above the agent), its holds, its
 * limits (absent when none), its utilization, its rate limits and its agents.
 * Then, on the library: pool denials counted by pool and limit (a replay and
 * the agent's own limit not), the `maxPools` bound (roots first; denials past
 * it as `_other`), `maxPools: 0`, and a pools read that fails.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { createMetrics, OTHER_POOL } from '../../src/metrics/index.js';
import { uid } from '../support/engines.js';
import { parse, type Sample, value } from '../support/prom-text.js';
import { type Api, startApi } from './harness.js';
import { MODES, ok, poolCalls } from './pools-harness.js';

/** Every sample of `name` whose `pool` label is one of `pools`. */
const ofPools = (s: Sample[], name: string, pools: string[]) =>
  s.filter((x) => x.name === name && pools.includes(x.labels.pool ?? ''));

describe.each(MODES)('pool metrics over HTTP, $name', (mode) => {
  let api: Api;
  let s: Sample[];
  let root: string;
  let leaf: string;
  let settledCost = 0;
  // A hold of 10,000 tokens at the default model's dearer rate ($15 / M) is $0.15.
  const HOLD = 10_000;
  const HELD = 0.15;
  const { pool, authorize, member } = poolCalls(() => api);

  beforeAll(async () => {
    api = await startApi({ tollgate: mode.tollgate });
    root = (
      await pool({
        daily_cost_limit: 1,
        monthly_cost_limit: 10,
        requests_per_minute: 600,
        time_zone: 'Asia/Tokyo',
      })
    ).pool_id;
    leaf = (await pool({ parent_id: root, daily_cost_limit: 0.2, tokens_per_minute: 100_000 }))
      .pool_id;
    const a = await member(leaf);

    // A settle: its cost counts in the leaf and in the root.
    const first = await authorize(a.key, a.id, 1000);
    if (!first.decision.allowed) throw new Error(`denied: ${first.decision.reason}`);
    const settled = ok(
      await api.call('POST', '/v1/settle', {
        token: a.key,
        body: {
          reservation_id: first.decision.reservation_id,
          input_tokens: 600,
          output_tokens: 200,
          result: 'success',
        },
      }),
    );
    settledCost = settled.cost;
    // A hold left open: held at both levels.
    expect((await authorize(a.key, a.id, HOLD)).decision.allowed).toBe(true);
    // The leaf's daily limit denies the next one (0.15 held + the cost + 0.15 > 0.2).
    const { decision } = await authorize(a.key, a.id, HOLD);
    expect(decision).toMatchObject({ allowed: false, exceeded: 'pool', level: leaf });

    const r = await api.call('GET', '/metrics');
    expect(r.status, r.text).toBe(200);
    s = parse(r.text);
  });
  afterAll(() => api.close());

  it('the pools are read: source up, tollgate_pools counts them by depth', () => {
    expect(value(s, 'tollgate_metrics_source_up', { source: 'pools' })).toBe(1);
    const n = (depth: string) => value(s, 'tollgate_pools', { depth });
    // MODES: the embedded mode sets `redis: undefined`, its engine holds these two only.
    if ('redis' in mode.tollgate) {
      expect([n('1'), n('2'), n('3')]).toEqual([1, 1, 0]);
    } else {
      // The Redis of the run is shared with other test files: at least these two.
      expect(n('1')).toBeGreaterThanOrEqual(1);
      expect(n('2')).toBeGreaterThanOrEqual(1);
    }
  });

  it('tollgate_pool_cost_usd: the settled cost, exact, in the leaf and the root, day and month', () => {
    expect(settledCost).toBeGreaterThan(0);
    for (const p of [root, leaf]) {
      for (const period of ['day', 'month']) {
        expect(value(s, 'tollgate_pool_cost_usd', { pool: p, period }), `${p} ${period}`).toBe(
          settledCost,
        );
      }
    }
  });

  it('tollgate_pool_reserved_cost_usd: the open hold, at both levels (the denied one holds nothing)', () => {
    expect(value(s, 'tollgate_pool_reserved_cost_usd', { pool: root })).toBe(HELD);
    expect(value(s, 'tollgate_pool_reserved_cost_usd', { pool: leaf })).toBe(HELD);
  });

  it('tollgate_pool_cost_limit_usd and the utilization: per period, absent without a limit', () => {
    const limit = (pool: string, period: string) =>
      value(s, 'tollgate_pool_cost_limit_usd', { pool, period });
    const ratio = (pool: string, period: string) =>
      value(s, 'tollgate_pool_cost_utilization_ratio', { pool, period });
    expect(limit(root, 'day')).toBe(1);
    expect(limit(root, 'month')).toBe(10);
    expect(limit(leaf, 'day')).toBe(0.2);
    expect(limit(leaf, 'month')).toBeUndefined();
    expect(ratio(root, 'day')).toBeCloseTo(settledCost / 1, 12);
    expect(ratio(root, 'month')).toBeCloseTo(settledCost / 10, 12);
    expect(ratio(leaf, 'day')).toBeCloseTo(settledCost / 0.2, 12);
    expect(ratio(leaf, 'month')).toBeUndefined();
  });

  it('the rate limits and the agents directly in each pool', () => {
    expect(value(s, 'tollgate_pool_requests_per_minute_limit', { pool: root })).toBe(600);
    expect(value(s, 'tollgate_pool_requests_per_minute_limit', { pool: leaf })).toBeUndefined();
    expect(value(s, 'tollgate_pool_tokens_per_minute_limit', { pool: leaf })).toBe(100_000);
    expect(value(s, 'tollgate_pool_tokens_per_minute_limit', { pool: root })).toBeUndefined();
    expect(value(s, 'tollgate_pool_agents', { pool: leaf })).toBe(1);
    expect(value(s, 'tollgate_pool_agents', { pool: root })).toBe(0);
  });

  it('the denial: BUDGET_EXCEEDED in tollgate_decisions_total; a pool’s limits have a denial series', () => {
    expect(
      value(s, 'tollgate_decisions_total', {
        outcome: 'denied',
        code: 'BUDGET_EXCEEDED',
        role: 'coder',
      }),
    ).toBe(1);
    // Each limit a pool has, and only those, from the first scrape.
    const series = ofPools(s, 'tollgate_pool_denials_total', [root, leaf])
      .map((x) => `${x.labels.pool === root ? 'root' : 'leaf'} ${x.labels.limit}`)
      .sort();
    expect(series).toEqual([
      'leaf daily_cost',
      'leaf tokens_per_minute',
      'root daily_cost',
      'root monthly_cost',
      'root requests_per_minute',
    ]);
    expect(value(s, 'tollgate_pool_denials_total', { pool: root, limit: 'daily_cost' })).toBe(0);
    // The one denial, counted where it was decided: the leaf's daily limit.
    expect(value(s, 'tollgate_pool_denials_total', { pool: leaf, limit: 'daily_cost' })).toBe(1);
  });
});

describe('pool metrics on the library (embedded)', () => {
  let tg: Tollgate;
  beforeAll(async () => {
    tg = await createTollgate({ redis: undefined });
  });
  afterAll(() => tg.close());

  it('tollgate_pool_denials_total: by the pool and the limit that denied; not a replay, not the agent’s own limit', async () => {
    const m = createMetrics({ tollgate: tg, defaultMetrics: false });
    const base = { allowed: false, role: 'coder', replayed: false };
    const budget = { ...base, code: 'BUDGET_EXCEEDED', exceeded: 'pool' };
    m.decision({ ...budget, level: 'p-a', period: 'daily' }, 0.001);
    m.decision({ ...budget, level: 'p-a', period: 'daily' }, 0.001);
    m.decision({ ...budget, level: 'p-b', period: 'monthly' }, 0.001);
    m.decision({ ...budget, level: 'p-b', period: 'monthly', replayed: true }, 0.001);
    const rate = { ...base, code: 'RATE_LIMITED', level: 'p-c' };
    m.decision({ ...rate, exceeded: 'requests_per_minute' }, 0.001);
    m.decision({ ...rate, exceeded: 'tokens_per_minute' }, 0.001);
    // The agent's own limits, and a decision without a level: no pool denial.
    m.decision({ ...base, code: 'BUDGET_EXCEEDED', exceeded: 'daily', level: 'agent' }, 0.001);
    m.decision({ ...base, code: 'RATE_LIMITED', exceeded: 'requests_per_minute' }, 0.001);
    m.decision({ ...base, code: 'RBAC_DENIED' }, 0.001);
    const s = parse(await m.scrape());
    const d = (pool: string, limit: string) =>
      value(s, 'tollgate_pool_denials_total', { pool, limit });
    expect(d('p-a', 'daily_cost')).toBe(2);
    expect(d('p-b', 'monthly_cost')).toBe(1);
    expect(d('p-c', 'requests_per_minute')).toBe(1);
    expect(d('p-c', 'tokens_per_minute')).toBe(1);
    const all = s.filter((x) => x.name === 'tollgate_pool_denials_total');
    expect(all.reduce((n, x) => n + x.value, 0)).toBe(5);
    expect(all.some((x) => x.labels.pool === 'agent')).toBe(false);
  });

  it('maxPools: the first pools (roots first, then by id) have series; the others count in tollgate_pools only', async () => {
    const other = await createTollgate({ redis: undefined });
    try {
      const tag = uid('mx');
      const [a, b, c] = [`a-${tag}`, `b-${tag}`, `c-${tag}`];
      const kid = `${a}-kid`;
      for (const id of [c, b, a]) await other.pools.create(id, { dailyCostLimit: 5 });
      await other.pools.create(kid, { parentId: a, dailyCostLimit: 1 });
      const m = createMetrics({ tollgate: other, defaultMetrics: false, maxPools: 2 });
      // A denial by a pool past the bound: _other (the bound holds the first two seen).
      m.decision(
        {
          allowed: false,
          code: 'BUDGET_EXCEEDED',
          role: 'coder',
          replayed: false,
          exceeded: 'pool',
          level: kid,
          period: 'daily',
        },
        0.001,
      );
      const s = parse(await m.scrape());
      expect(value(s, 'tollgate_pools', { depth: '1' })).toBe(3);
      expect(value(s, 'tollgate_pools', { depth: '2' })).toBe(1);
      const shown = (name: string) =>
        [...new Set(ofPools(s, name, [a, b, c, kid]).map((x) => x.labels.pool))].sort();
      expect(shown('tollgate_pool_cost_usd')).toEqual([a, b]);
      expect(shown('tollgate_pool_cost_limit_usd')).toEqual([a, b]);
      // The denial took the first denial slot (kid), a the second; b is past the bound.
      expect(value(s, 'tollgate_pool_denials_total', { pool: kid, limit: 'daily_cost' })).toBe(1);
      expect(value(s, 'tollgate_pool_denials_total', { pool: b, limit: 'daily_cost' })).toBe(
        undefined,
      );
      expect(
        value(s, 'tollgate_pool_denials_total', { pool: OTHER_POOL, limit: 'daily_cost' }),
      ).toBe(0);
      const labels = new Set(
        s.filter((x) => x.name === 'tollgate_pool_denials_total').map((x) => x.labels.pool),
      );
      expect(labels.size).toBeLessThanOrEqual(3);
    } finally {
      await other.close();
    }
  });

  it('maxPools: 0: no pool series and no pools read', async () => {
    await tg.pools.create(uid('z'), { dailyCostLimit: 1 });
    const spy = vi.spyOn(tg.engine, 'listPools');
    try {
      const m = createMetrics({ tollgate: tg, defaultMetrics: false, maxPools: 0 });
      const text = await m.scrape();
      expect(text).not.toMatch(/tollgate_pool/);
      expect(text).not.toContain('source="pools"');
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  it('a pools read that fails: source_up 0 and no pool gauges, the rest of the scrape served', async () => {
    await tg.pools.create(uid('f'), { dailyCostLimit: 1 });
    const m = createMetrics({ tollgate: tg, defaultMetrics: false });
    let s = parse(await m.scrape());
    expect(value(s, 'tollgate_metrics_source_up', { source: 'pools' })).toBe(1);
    expect(s.some((x) => x.name === 'tollgate_pool_cost_usd')).toBe(true);
    const spy = vi.spyOn(tg.engine, 'listPools').mockRejectedValue(new Error('down'));
    try {
      s = parse(await m.scrape());
    } finally {
      spy.mockRestore();
    }
    expect(value(s, 'tollgate_metrics_source_up', { source: 'pools' })).toBe(0);
    expect(value(s, 'tollgate_metrics_source_up', { source: 'agents' })).toBe(1);
    expect(s.some((x) => x.name.startsWith('tollgate_pool_') && x.name.endsWith('_usd'))).toBe(
      false,
    );
    expect(s.some((x) => x.name === 'tollgate_pools')).toBe(false);
  });
});
