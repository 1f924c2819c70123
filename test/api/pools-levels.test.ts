/**
 * Pools over HTTP, their effect (docs/limits.md, "Pools"): a denial names its
 * level (the agent's own limits first, then a pool's daily or monthly cost, a
 * pool's requests or tokens per minute, leaf first up to the root); the
 * dashboard's pool rows; pools the policy declares exist at start.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DashboardSchema, PoolListSchema } from '../../src/api/schemas.js';
import { uid } from '../support/engines.js';
import { type Api, startApi } from './harness.js';
import { MODES, ok, poolCalls } from './pools-harness.js';

describe.each(MODES)('pool levels, $name', (mode) => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi({ tollgate: mode.tollgate });
  });
  afterAll(() => api.close());
  const { pool, authorize, member } = poolCalls(() => api);

  describe('a denial names its level', () => {
    // A hold of 10,000 tokens at the default model's dearer rate ($15 / M) is $0.15.
    const HOLD = 10_000;

    it("the agent's own limit is checked first: exceeded session, level agent", async () => {
      const p = await pool({ daily_cost_limit: 0.01 });
      const { id, key } = await member(p.pool_id);
      ok(await api.call('PUT', `/v1/agents/${id}/budget`, { body: { session_token_limit: 100 } }));
      const { decision } = await authorize(key, id, HOLD);
      expect(decision).toMatchObject({
        allowed: false,
        error_code: 'BUDGET_EXCEEDED',
        exceeded: 'session',
        level: 'agent',
      });
      expect(decision).not.toHaveProperty('pool_id');
    });

    it("the agent's pool: exceeded pool, its id, period daily; a sibling shares the budget", async () => {
      const p = await pool({ daily_cost_limit: 0.2 });
      const a = await member(p.pool_id);
      const b = await member(p.pool_id);
      expect((await authorize(a.key, a.id, HOLD)).decision.allowed).toBe(true);
      const { decision } = await authorize(b.key, b.id, HOLD);
      expect(decision).toMatchObject({
        allowed: false,
        error_code: 'BUDGET_EXCEEDED',
        exceeded: 'pool',
        pool_id: p.pool_id,
        period: 'daily',
        level: p.pool_id,
      });
      if (decision.allowed) throw new Error('unreachable');
      expect(decision.reason).toContain(`pool ${p.pool_id}`);
      expect(decision.suggestion).toContain(`pool ${p.pool_id}`);
      expect(decision.budget_status?.pool_id).toBe(p.pool_id);
      expect(ok(await api.call('GET', `/v1/pools/${p.pool_id}`)).daily.cost_reserved).toBe(0.15);
    });

    it('a pool above: its monthly limit, named by its id and period monthly', async () => {
      const top = await pool({ monthly_cost_limit: 0.1 });
      const leaf = await pool({ parent_id: top.pool_id, daily_cost_limit: 100 });
      const { id, key } = await member(leaf.pool_id);
      const { decision } = await authorize(key, id, HOLD);
      expect(decision).toMatchObject({
        allowed: false,
        exceeded: 'pool',
        pool_id: top.pool_id,
        period: 'monthly',
        level: top.pool_id,
      });
      if (decision.allowed) throw new Error('unreachable');
      expect(decision.reason).toContain('Monthly');
      // A smaller hold fits every level.
      expect((await authorize(key, id, 1000)).decision.allowed).toBe(true);
    });

    it("a root's requests per minute: RATE_LIMITED, level the root, Retry-After", async () => {
      const root = await pool({ requests_per_minute: 1 });
      const mid = await pool({ parent_id: root.pool_id });
      const leaf = await pool({ parent_id: mid.pool_id });
      const a = await member(leaf.pool_id);
      const b = await member(mid.pool_id);
      expect((await authorize(a.key, a.id, 100)).decision.allowed).toBe(true);
      const { decision, headers } = await authorize(b.key, b.id, 100);
      expect(decision).toMatchObject({
        allowed: false,
        error_code: 'RATE_LIMITED',
        exceeded: 'requests_per_minute',
        level: root.pool_id,
      });
      if (decision.allowed) throw new Error('unreachable');
      expect(decision.retry_after_ms).toBeGreaterThan(0);
      expect(Number(headers.get('retry-after'))).toBe(
        Math.ceil((decision.retry_after_ms ?? 0) / 1000),
      );
      expect(decision.reason).toContain(`pool ${root.pool_id}`);
    });

    it("a pool's tokens per minute: RATE_LIMITED, exceeded tokens_per_minute, level the pool", async () => {
      const p = await pool({ tokens_per_minute: 1000 });
      const { id, key } = await member(p.pool_id);
      const { decision } = await authorize(key, id, 2000);
      expect(decision).toMatchObject({
        allowed: false,
        error_code: 'RATE_LIMITED',
        exceeded: 'tokens_per_minute',
        level: p.pool_id,
      });
      expect((await authorize(key, id, 500)).decision.allowed).toBe(true);
    });

    it('the library: checkBudget (reads only) sees the cost limits of the pools above the agent', async () => {
      const top = await pool({ monthly_cost_limit: 0.1 });
      const leaf = await pool({ parent_id: top.pool_id });
      const { id } = await member(leaf.pool_id);
      const check = await api.tg.budget.checkBudget(id, HOLD);
      expect(check).toMatchObject({
        allowed: false,
        error_code: 'BUDGET_EXCEEDED',
        exceeded: 'pool',
        pool_id: top.pool_id,
        period: 'monthly',
      });
      expect(check.reason).toContain(`pool ${top.pool_id}`);
      expect((await api.tg.budget.checkBudget(id, 1000)).allowed).toBe(true);
      // It held nothing.
      expect(ok(await api.call('GET', `/v1/pools/${top.pool_id}`)).monthly.cost_reserved).toBe(0);
    });

    it('an agent moved out of the pool is no longer limited by it', async () => {
      const p = await pool({ daily_cost_limit: 0.01 });
      const { id, key } = await member(p.pool_id);
      expect((await authorize(key, id, HOLD)).decision.allowed).toBe(false);
      ok(await api.call('PUT', `/v1/agents/${id}/pool`, { body: { pool_id: null } }));
      expect((await authorize(key, id, HOLD)).decision.allowed).toBe(true);
    });
  });

  it('GET /v1/dashboard has a row per pool, and each agent row names its pool', async () => {
    const p = await pool({ daily_cost_limit: 3, requests_per_minute: 50 });
    const child = await pool({ parent_id: p.pool_id });
    const a = await member(child.pool_id);
    expect((await authorize(a.key, a.id, 1000)).decision.allowed).toBe(true);
    const dash = DashboardSchema.parse(ok(await api.call('GET', '/v1/dashboard')));
    const row = dash.pools.find((x) => x.pool_id === p.pool_id);
    expect(row).toMatchObject({
      pools: 1,
      agents: 0,
      daily: { cost_limit: 3, cost_reserved: 0.015 },
      rate_limits: { requests_per_minute: 50 },
    });
    expect(dash.pools.find((x) => x.pool_id === child.pool_id)).toMatchObject({
      parent_id: p.pool_id,
      agents: 1,
    });
    const agentRow = dash.agents.find((x) => x.agent_id === a.id);
    expect(agentRow?.budget_status.pool_id).toBe(child.pool_id);
  });
});

describe.each(MODES)('pools the policy declares, $name', (mode) => {
  let api: Api;
  const root = uid('pol');
  const leaf = uid('pol');
  beforeAll(async () => {
    api = await startApi({
      tollgate: {
        ...mode.tollgate,
        policy: {
          pools: [
            { pool_id: root, daily_cost_limit: 25, time_zone: 'America/New_York' },
            { pool_id: leaf, parent: root, requests_per_minute: 30 },
          ],
        },
      },
    });
  });
  afterAll(() => api.close());

  it('exist when the server starts, with the file’s settings', async () => {
    const pools = PoolListSchema.parse(ok(await api.call('GET', '/v1/pools'))).pools.filter((p) =>
      [root, leaf].includes(p.pool_id),
    );
    expect(pools.map((p) => p.pool_id)).toEqual([root, leaf]);
    expect(pools[0]).toMatchObject({
      time_zone: 'America/New_York',
      daily: { cost_limit: 25 },
      parent_id: null,
    });
    expect(pools[1]).toMatchObject({
      parent_id: root,
      rate_limits: { requests_per_minute: 30, tokens_per_minute: null },
    });
  });
});
