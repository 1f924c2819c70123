/**
 * Pools over HTTP (docs/api.md, "Pools"): create, list, read, change and
 * delete them; agents join them at registration or move; every error with the
 * contract's details (400, 403, 404, 409); the OpenAPI document. The levels of
 * a denial, the dashboard and the policy's pools: pools-levels.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AgentRecordSchema,
  BudgetStatusSchema,
  PoolDetailSchema,
  PoolListSchema,
  PoolStatusSchema,
} from '../../src/api/schemas.js';
import { shardOf } from '../../src/engine/keys.js';
import { uid } from '../support/engines.js';
import { type Api, isError, startApi } from './harness.js';
import { MODES, ok, poolCalls } from './pools-harness.js';

describe.each(MODES)('pools over HTTP, $name', (mode) => {
  let api: Api;
  beforeAll(async () => {
    api = await startApi({ tollgate: mode.tollgate });
  });
  afterAll(() => api.close());
  const { post, pool, authorize, member } = poolCalls(() => api);

  describe('create, read, change, delete', () => {
    it('POST creates roots and children, in USD, with null for no limit; the same create again answers the pool', async () => {
      const root = await pool({
        daily_cost_limit: 100,
        monthly_cost_limit: 2000.5,
        requests_per_minute: 600,
        time_zone: 'Europe/Berlin',
      });
      expect(root).toMatchObject({
        parent_id: null,
        root_id: root.pool_id,
        depth: 1,
        time_zone: 'Europe/Berlin',
        daily: { cost_used: 0, cost_reserved: 0, cost_limit: 100, cost_remaining: 100 },
        monthly: { cost_used: 0, cost_limit: 2000.5, cost_remaining: 2000.5 },
        rate_limits: { requests_per_minute: 600, tokens_per_minute: null },
        agents: 0,
        pools: 0,
        is_daily_exhausted: false,
        is_over_limit: false,
      });
      // The pool's local date (Berlin) and its next local midnight.
      const berlin = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Berlin' }).format(
        new Date(),
      );
      expect(root.daily.date).toBe(berlin);
      expect(Date.parse(root.daily.resets_at)).toBeGreaterThan(Date.now());

      const child = await pool({ parent_id: root.pool_id });
      expect(child).toMatchObject({
        parent_id: root.pool_id,
        root_id: root.pool_id,
        depth: 2,
        time_zone: 'UTC',
        daily: { cost_limit: null, cost_remaining: null, utilization_pct: 0 },
        monthly: { cost_limit: null },
        rate_limits: null,
      });
      const grandchild = await pool({ parent_id: child.pool_id, tokens_per_minute: 5000 });
      expect(grandchild).toMatchObject({ depth: 3, root_id: root.pool_id });

      // A retry of the same create: 201, the same pool.
      const again = await post({ pool_id: child.pool_id, parent_id: root.pool_id });
      expect(again.status, again.text).toBe(201);
      expect(PoolStatusSchema.parse(again.body).pool_id).toBe(child.pool_id);
    });

    it('GET /v1/pools lists them roots first; GET /v1/pools/:id adds its agents and child pools', async () => {
      const root = await pool({ daily_cost_limit: 10 });
      const child = await pool({ parent_id: root.pool_id });
      const a = await member(root.pool_id);
      const b = await member(root.pool_id);
      await member(child.pool_id);

      const list = PoolListSchema.parse(ok(await api.call('GET', '/v1/pools'))).pools;
      const ids = list.map((p) => p.pool_id);
      expect(ids).toContain(root.pool_id);
      expect(ids.indexOf(root.pool_id)).toBeLessThan(ids.indexOf(child.pool_id));
      const depths = list.map((p) => p.depth);
      expect(depths).toEqual([...depths].sort((x, y) => x - y));

      const detail = PoolDetailSchema.parse(ok(await api.call('GET', `/v1/pools/${root.pool_id}`)));
      expect(detail).toMatchObject({ pool_id: root.pool_id, agents: 2, pools: 1 });
      expect(detail.agent_ids).toEqual([a.id, b.id].sort());
      expect(detail.pool_ids).toEqual([child.pool_id]);
    });

    it('PATCH changes the limits and the zone (0 removes a limit); DELETE of an empty pool answers its last status', async () => {
      const p = await pool({ daily_cost_limit: 5, requests_per_minute: 10 });
      const patched = PoolStatusSchema.parse(
        ok(
          await api.call('PATCH', `/v1/pools/${p.pool_id}`, {
            body: { daily_cost_limit: 0, monthly_cost_limit: 50, time_zone: 'Asia/Kolkata' },
          }),
        ),
      );
      expect(patched).toMatchObject({
        time_zone: 'Asia/Kolkata',
        daily: { cost_limit: null },
        monthly: { cost_limit: 50 },
        rate_limits: { requests_per_minute: 10, tokens_per_minute: null },
      });
      const del = ok(await api.call('DELETE', `/v1/pools/${p.pool_id}`));
      expect(del).toMatchObject({ pool_id: p.pool_id, deleted: true });
      expect(PoolStatusSchema.parse(del.pool_status).monthly.cost_limit).toBe(50);
      const gone = await api.call('GET', `/v1/pools/${p.pool_id}`);
      expect(gone.status).toBe(404);
      expect(gone.body.error.details).toEqual({ pool_id: p.pool_id });
    });
  });

  describe('agents in pools', () => {
    it('POST /v1/agents takes pool_id; the record and the budget status name the pool', async () => {
      const p = await pool();
      const { id, key } = await member(p.pool_id);
      const rec = AgentRecordSchema.parse(ok(await api.call('GET', `/v1/agents/${id}`)));
      expect(rec.pool_id).toBe(p.pool_id);
      const status = BudgetStatusSchema.parse(
        ok(await api.call('GET', `/v1/agents/${id}/budget`, { token: key })),
      );
      expect(status.pool_id).toBe(p.pool_id);
      const plain = await api.agent('coder');
      const s = ok(await api.call('GET', `/v1/agents/${plain.id}/budget`));
      expect(s.pool_id).toBeNull();
      const listed = ok(await api.call('GET', `/v1/agents?pool_id=${p.pool_id}`)).agents;
      expect(listed.map((a: { agent_id: string }) => a.agent_id)).toEqual([id]);
    });

    it('PUT /v1/agents/:id/pool moves an agent in, across, and out (null)', async () => {
      const p1 = await pool();
      const p2 = await pool();
      const { id } = await api.agent('coder');
      const moveTo = (poolId: string | null) =>
        api.call('PUT', `/v1/agents/${id}/pool`, { body: { pool_id: poolId } });
      expect(AgentRecordSchema.parse(ok(await moveTo(p1.pool_id))).pool_id).toBe(p1.pool_id);
      expect(ok(await api.call('GET', `/v1/pools/${p1.pool_id}`)).agent_ids).toEqual([id]);
      expect(ok(await moveTo(p2.pool_id)).pool_id).toBe(p2.pool_id);
      expect(ok(await api.call('GET', `/v1/pools/${p1.pool_id}`)).agents).toBe(0);
      expect(ok(await api.call('GET', `/v1/pools/${p2.pool_id}`)).agent_ids).toEqual([id]);
      expect(ok(await moveTo(null)).pool_id).toBeNull();
      expect(ok(await api.call('GET', `/v1/pools/${p2.pool_id}`)).agents).toBe(0);
    });

    it('a move to a tree on another shard with a hold open: the hold settles under the pool it was made under', async () => {
      const { id, key } = await api.agent('coder');
      const shards = api.tg.engine.shards;
      const near = await pool({});
      // A root whose shard is not the first pool's.
      let far = uid('far');
      while (shardOf(far, shards) === shardOf(near.pool_id, shards)) far = uid('far');
      ok(await post({ pool_id: far }), 201);
      const move = (poolId: string) =>
        api.call('PUT', `/v1/agents/${id}/pool`, { body: { pool_id: poolId } });
      const daily = async (poolId: string) =>
        ok(await api.call('GET', `/v1/pools/${poolId}`)).daily as {
          cost_used: number;
          cost_reserved: number;
        };
      ok(await move(near.pool_id));
      const held = await authorize(key, id, 100);
      if (!held.decision.allowed) throw new Error('denied');
      const heldCost = (await daily(near.pool_id)).cost_reserved;
      expect(heldCost).toBeGreaterThan(0);
      expect(ok(await move(far)).pool_id).toBe(far);
      expect(await daily(near.pool_id)).toMatchObject({ cost_used: 0, cost_reserved: heldCost });
      expect(await daily(far)).toMatchObject({ cost_used: 0, cost_reserved: 0 });
      const settled = ok(
        await api.call('POST', '/v1/settle', {
          token: key,
          body: {
            reservation_id: held.decision.reservation_id,
            input_tokens: 50,
            output_tokens: 0,
            result: 'success',
          },
        }),
      );
      expect(settled.cost).toBeGreaterThan(0);
      expect(await daily(near.pool_id)).toMatchObject({
        cost_used: settled.cost,
        cost_reserved: 0,
      });
      expect(await daily(far)).toMatchObject({ cost_used: 0, cost_reserved: 0 });
    });
  });

  describe('errors', () => {
    it('400: a bad body, path or zone; no field to change; a fourth level (details.field parent_id)', async () => {
      const cases: [string, string, unknown][] = [
        ['POST', '/v1/pools', { pool_id: 'bad id' }],
        ['POST', '/v1/pools', { pool_id: uid('pl'), daily_cost_limit: -1 }],
        ['POST', '/v1/pools', { pool_id: uid('pl'), time_zone: 'Mars/Olympus_Mons' }],
        ['POST', '/v1/pools', { pool_id: uid('pl'), requests_per_minute: 1.5 }],
        ['POST', '/v1/pools', { pool_id: uid('pl'), parent: 'x' }],
        ['POST', '/v1/pools', {}],
        ['PATCH', '/v1/pools/whatever', {}],
        ['PATCH', '/v1/pools/whatever', { parent_id: 'x' }],
        ['GET', '/v1/pools/a.b', undefined],
        ['PUT', `/v1/agents/${uid('ag')}/pool`, {}],
        ['PUT', `/v1/agents/${uid('ag')}/pool`, { pool_id: 'bad id' }],
        ['POST', '/v1/agents', { agent_id: uid('ag'), role: 'coder', pool_id: 'x:y' }],
      ];
      for (const [method, path, body] of cases) {
        const r = await api.call(method, path, { body });
        expect(r.status, `${method} ${path} ${JSON.stringify(body)}: ${r.text}`).toBe(400);
        expect(isError(r, 'VALIDATION_FAILED')).toBe(true);
        expect(r.body.error.details.issues.length).toBeGreaterThan(0);
      }
      const a = await pool();
      const b = await pool({ parent_id: a.pool_id });
      const c = await pool({ parent_id: b.pool_id });
      const d = uid('pl');
      const deep = await post({ pool_id: d, parent_id: c.pool_id });
      expect(deep.status, deep.text).toBe(400);
      expect(isError(deep, 'VALIDATION_FAILED')).toBe(true);
      expect(deep.body.error.details.field).toBe('parent_id');
      expect((await api.call('GET', `/v1/pools/${d}`)).status).toBe(404);
    });

    it('403: an agent key on every pool route, its own agent included', async () => {
      const p = await pool();
      const { id, key } = await api.agent('coder');
      const cases: [string, string, unknown][] = [
        ['POST', '/v1/pools', { pool_id: uid('pl') }],
        ['GET', '/v1/pools', undefined],
        ['GET', `/v1/pools/${p.pool_id}`, undefined],
        ['PATCH', `/v1/pools/${p.pool_id}`, { daily_cost_limit: 1 }],
        ['DELETE', `/v1/pools/${p.pool_id}`, undefined],
        ['PUT', `/v1/agents/${id}/pool`, { pool_id: p.pool_id }],
      ];
      for (const [method, path, body] of cases) {
        const r = await api.call(method, path, { token: key, body });
        expect(r.status, `${method} ${path}`).toBe(403);
        expect(isError(r, 'FORBIDDEN')).toBe(true);
      }
      // Nothing changed.
      expect(ok(await api.call('GET', `/v1/pools/${p.pool_id}`)).agents).toBe(0);
      expect(ok(await api.call('GET', `/v1/agents/${id}`)).pool_id).toBeNull();
    });

    it('404: no such pool (details {pool_id}), no such parent, no such agent; nothing written', async () => {
      const ghost = uid('ghost');
      for (const [method, path, body] of [
        ['GET', `/v1/pools/${ghost}`, undefined],
        ['PATCH', `/v1/pools/${ghost}`, { daily_cost_limit: 1 }],
        ['DELETE', `/v1/pools/${ghost}`, undefined],
      ] as const) {
        const r = await api.call(method, path, { body });
        expect(r.status, `${method} ${path}: ${r.text}`).toBe(404);
        expect(isError(r, 'NOT_FOUND')).toBe(true);
        expect(r.body.error.details).toEqual({ pool_id: ghost });
      }
      const orphan = uid('pl');
      const noParent = await post({ pool_id: orphan, parent_id: ghost });
      expect(noParent.status).toBe(404);
      expect(noParent.body.error.details).toEqual({ pool_id: ghost });
      expect((await api.call('GET', `/v1/pools/${orphan}`)).status).toBe(404);

      const agentId = uid('ag');
      const reg = await api.call('POST', '/v1/agents', {
        body: { agent_id: agentId, role: 'coder', pool_id: ghost },
      });
      expect(reg.status, reg.text).toBe(404);
      expect(reg.body.error.details).toEqual({ pool_id: ghost });
      expect((await api.call('GET', `/v1/agents/${agentId}`)).status).toBe(404);

      const { id } = await api.agent('coder');
      const move = await api.call('PUT', `/v1/agents/${id}/pool`, { body: { pool_id: ghost } });
      expect(move.status).toBe(404);
      expect(move.body.error.details).toEqual({ pool_id: ghost });
      expect(ok(await api.call('GET', `/v1/agents/${id}`)).pool_id).toBeNull();
      const p = await pool();
      const noAgent = await api.call('PUT', `/v1/agents/${uid('ag')}/pool`, {
        body: { pool_id: p.pool_id },
      });
      expect(noAgent.status).toBe(404);
      expect(isError(noAgent, 'NOT_FOUND')).toBe(true);
    });

    it('409: a taken id with other settings (pool_exists); deleting a pool with agents or pools in it (pool_not_empty)', async () => {
      const p = await pool({ daily_cost_limit: 1 });
      const taken = await post({ pool_id: p.pool_id, daily_cost_limit: 2 });
      expect(taken.status).toBe(409);
      expect(isError(taken, 'CONFLICT')).toBe(true);
      expect(taken.body.error.details).toMatchObject({ reason: 'pool_exists', pool_id: p.pool_id });
      expect(ok(await api.call('GET', `/v1/pools/${p.pool_id}`)).daily.cost_limit).toBe(1);

      const child = await pool({ parent_id: p.pool_id });
      const { id } = await member(p.pool_id);
      const busy = await api.call('DELETE', `/v1/pools/${p.pool_id}`);
      expect(busy.status).toBe(409);
      expect(isError(busy, 'CONFLICT')).toBe(true);
      expect(busy.body.error.details).toEqual({
        pool_id: p.pool_id,
        reason: 'pool_not_empty',
        agents: 1,
        pools: 1,
      });
      expect(busy.body.error.message).toBe(
        `pool ${p.pool_id} has 1 agents and 1 pools; move or delete them first`,
      );
      // Emptied, it goes.
      ok(await api.call('PUT', `/v1/agents/${id}/pool`, { body: { pool_id: null } }));
      ok(await api.call('DELETE', `/v1/pools/${child.pool_id}`));
      ok(await api.call('DELETE', `/v1/pools/${p.pool_id}`));
    });
  });

  it('the OpenAPI document covers the pool routes', async () => {
    const doc = ok(await api.call('GET', '/openapi.json', { token: null }));
    expect(Object.keys(doc.paths['/v1/pools']).sort()).toEqual(['get', 'post']);
    expect(Object.keys(doc.paths['/v1/pools/{id}']).sort()).toEqual(['delete', 'get', 'patch']);
    expect(Object.keys(doc.paths['/v1/agents/{id}/pool'])).toEqual(['put']);
    const create = doc.paths['/v1/pools'].post;
    expect(create['x-tollgate-auth']).toBe('admin');
    expect(create.requestBody.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/CreatePoolRequest',
    });
    expect(Object.keys(create.responses)).toEqual(
      expect.arrayContaining(['201', '400', '401', '403', '404', '409']),
    );
    expect(Object.keys(doc.paths['/v1/pools/{id}'].delete.responses)).toContain('409');
    expect(doc.components.schemas.PoolStatus.required).toContain('pool_id');
    expect(doc.components.schemas.CreatePoolRequest.additionalProperties).toBe(false);
    const decision = JSON.stringify(doc.components.schemas.Decision);
    expect(decision).toContain('"pool"');
    expect(decision).toContain('"period"');
  });
});
