import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apiRoutes } from '../../src/api/index.js';
import type { Route } from '../../src/api/route.js';
import { createEngine, type Engine } from '../../src/engine/index.js';
import { uid } from '../support/engines.js';
import { type Api, isError, type Reply, startApi } from './harness.js';

/**
 * Broken object-level authorization: agent A's key against agent B's
 * resources and against the admin routes, for every route of the table.
 * Agent keys name their agent (`tg_<agent_id>.<secret>`), so the answers are:
 *
 *   admin-only route, any agent-key-shaped token          403 FORBIDDEN
 *   route naming B, a key naming A (valid or not)          403 FORBIDDEN, no store read,
 *                                                           the same whether B exists or not
 *   route naming A, a key naming A that is not A's current  401 UNAUTHENTICATED
 *     key (forged, rotated, of a deleted agent)
 *   a token shaped like no agent key                       401 UNAUTHENTICATED
 *
 * Zero successes, and B is left exactly as it was.
 */
interface Target {
  id: string;
  key: string;
  sessionId: string;
  reservationId: string;
}

type Build = (t: Target) => { path: string; body?: unknown };

const REQUESTS: Record<string, Build> = {
  'post /v1/agents': (t) => ({ path: '/v1/agents', body: { agent_id: `${t.id}x`, role: 'coder' } }),
  'get /v1/agents': () => ({ path: '/v1/agents' }),
  'get /v1/dashboard': () => ({ path: '/v1/dashboard' }),
  'get /v1/dashboard/spend': () => ({ path: '/v1/dashboard/spend' }),
  'get /v1/dashboard/history': () => ({ path: '/v1/dashboard/history' }),
  'get /v1/agents/:id': (t) => ({ path: `/v1/agents/${t.id}` }),
  'patch /v1/agents/:id': (t) => ({
    path: `/v1/agents/${t.id}`,
    body: { role: 'backend-dev', metadata: { owned: true } },
  }),
  'get /v1/agents/:id/verify': (t) => ({ path: `/v1/agents/${t.id}/verify` }),
  'post /v1/agents/:id/suspend': (t) => ({ path: `/v1/agents/${t.id}/suspend` }),
  'post /v1/agents/:id/resume': (t) => ({ path: `/v1/agents/${t.id}/resume` }),
  'post /v1/agents/:id/keys': (t) => ({ path: `/v1/agents/${t.id}/keys` }),
  'delete /v1/agents/:id': (t) => ({ path: `/v1/agents/${t.id}` }),
  'put /v1/agents/:id/budget': (t) => ({
    path: `/v1/agents/${t.id}/budget`,
    body: { session_token_limit: 999_999, daily_cost_limit: 999 },
  }),
  'get /v1/agents/:id/budget': (t) => ({ path: `/v1/agents/${t.id}/budget` }),
  'post /v1/pools': (t) => ({ path: '/v1/pools', body: { pool_id: `${t.id}-pool` } }),
  'get /v1/pools': () => ({ path: '/v1/pools' }),
  'get /v1/pools/:id': (t) => ({ path: `/v1/pools/${t.id}-pool` }),
  'patch /v1/pools/:id': (t) => ({
    path: `/v1/pools/${t.id}-pool`,
    body: { daily_cost_limit: 1 },
  }),
  'delete /v1/pools/:id': (t) => ({ path: `/v1/pools/${t.id}-pool` }),
  'put /v1/agents/:id/pool': (t) => ({
    path: `/v1/agents/${t.id}/pool`,
    body: { pool_id: `${t.id}-pool` },
  }),
  'post /v1/agents/:id/sessions': (t) => ({ path: `/v1/agents/${t.id}/sessions` }),
  'delete /v1/agents/:id/sessions/:sid': (t) => ({
    path: `/v1/agents/${t.id}/sessions/${t.sessionId}`,
  }),
  'post /v1/authorize': (t) => ({
    path: '/v1/authorize',
    body: { agent_id: t.id, operation: 'write_file', estimated_tokens: 10 },
  }),
  'post /v1/settle': (t) => ({
    path: '/v1/settle',
    body: {
      reservation_id: t.reservationId,
      input_tokens: 50_000,
      output_tokens: 0,
      result: 'success',
    },
  }),
  'post /v1/release': (t) => ({ path: '/v1/release', body: { reservation_id: t.reservationId } }),
  'post /v1/usage': (t) => ({
    path: '/v1/usage',
    body: { agent_id: t.id, input_tokens: 50_000, output_tokens: 0 },
  }),
  'get /v1/audit': (t) => ({ path: `/v1/audit?agent_id=${t.id}` }),
  'get /v1/audit/lag': () => ({ path: '/v1/audit/lag' }),
  'get /v1/spend': (t) => ({ path: `/v1/spend?agent_id=${t.id}` }),
  'post /v1/webhooks': () => ({
    path: '/v1/webhooks',
    body: { url: 'http://127.0.0.1:9/hook', secret: 's'.repeat(16), events: ['budget_alert'] },
  }),
  'get /v1/webhooks': () => ({ path: '/v1/webhooks' }),
  'delete /v1/webhooks/:id': () => ({ path: `/v1/webhooks/wh_${'0'.repeat(24)}` }),
  'get /v1/webhooks/dead-letters': () => ({ path: '/v1/webhooks/dead-letters' }),
  'post /v1/webhooks/dead-letters/:id/retry': () => ({
    path: `/v1/webhooks/dead-letters/01a21718-f580-71a0-87bf-ff7ab50cc300.wh_${'0'.repeat(24)}/retry`,
  }),
  // Dry runs: an admin call changes nothing.
  'get /v1/policy': () => ({ path: '/v1/policy' }),
  'put /v1/policy': () => ({ path: '/v1/policy?dry_run=true', body: {} }),
  'patch /v1/policy/roles/:role': () => ({
    path: '/v1/policy/roles/coder?dry_run=true',
    body: { daily_cost_limit: 8 },
  }),
  'put /v1/policy/shadow-agents': () => ({
    path: '/v1/policy/shadow-agents?dry_run=true',
    body: { agents: [] },
  }),
};

const routes = apiRoutes({ readyTimeoutMs: 1000, openapi: () => ({}) }).filter(
  (r) => r.auth !== 'open',
);
const adminRoutes = routes.filter((r) => r.auth === 'admin');
const agentRoutes = routes.filter((r) => r.auth === 'agent');
const keyOf = (r: { method: string; path: string }) => `${r.method} ${r.path}`;

/** A key naming `agentId` with a secret nobody was given. */
const forgedKey = (agentId: string, secretChar = 'A') => `tg_${agentId}.${secretChar.repeat(43)}`;
const secretOf = (key: string) => key.slice(key.indexOf('.') + 1);

let api: Api;
let a: Target;
let b: Target;
/** Every engine method call the API makes (the engine is wrapped to count them). */
let engineCalls = 0;

/** The engine, counting its method calls. */
function counting(engine: Engine): Engine {
  return new Proxy(engine, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        engineCalls += 1;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

async function target(): Promise<Target> {
  const { id, key } = await api.agent('coder');
  const session = await api.call('POST', `/v1/agents/${id}/sessions`, { token: key });
  const d = await api.call('POST', '/v1/authorize', {
    token: key,
    body: { agent_id: id, operation: 'write_file', estimated_tokens: 1000 },
  });
  if (!d.body.allowed) throw new Error('setup: authorize denied');
  return { id, key, sessionId: session.body.session_id, reservationId: d.body.reservation_id };
}

/** Everything observable about an agent, to compare before and after. */
async function snapshot(t: Target) {
  const [rec, budget, verify] = await Promise.all([
    api.call('GET', `/v1/agents/${t.id}`),
    api.call('GET', `/v1/agents/${t.id}/budget`),
    api.call('GET', `/v1/agents/${t.id}/verify`, { token: t.key }),
  ]);
  const { daily, ...rest } = budget.body;
  return {
    rec: rec.body,
    budget: { ...rest, daily: { ...daily, resets_at: undefined } },
    verify: verify.body,
  };
}

/** Sends route `r`, built for `t`, with `token`. */
function send(r: Route, t: Target, token: string): Promise<Reply> {
  const req = (REQUESTS[keyOf(r)] as Build)(t);
  return api.call(r.method.toUpperCase(), req.path, { token, body: req.body });
}

/** GET /v1/audit reads the store: a PGlite of this file's own. */
const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-bola-'));

beforeAll(async () => {
  const engine = await createEngine({ redis: inject('redisUrl') });
  api = await startApi({ tollgate: { engine: counting(engine), store: { dataDir } } });
  a = await target();
  b = await target();
});
afterAll(async () => {
  await api.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('BOLA matrix', () => {
  it('has a request for every authenticated route of the table', () => {
    expect(routes.map(keyOf).sort()).toEqual(Object.keys(REQUESTS).sort());
    expect(agentRoutes.length).toBeGreaterThan(0);
    expect(adminRoutes.length).toBeGreaterThan(0);
  });

  it("agent A's key reaches none of agent B's resources (403, no store read), and B is unchanged", async () => {
    const before = await snapshot(b);
    let successes = 0;
    const calls0 = engineCalls;
    for (const r of routes) {
      const res = await send(r, b, a.key);
      if (res.status < 400) successes += 1;
      expect(res.status, `${keyOf(r)} ${res.text}`).toBe(403);
      expect(isError(res, 'FORBIDDEN'), keyOf(r)).toBe(true);
      expect(res.headers.get('www-authenticate'), keyOf(r)).toBeNull();
    }
    expect(successes).toBe(0);
    // Refused from the key's shape alone: nothing was read from (or written to) the store.
    expect(engineCalls - calls0).toBe(0);
    expect(await snapshot(b)).toEqual(before);
    // B's hold is still open: B itself can release it.
    const rel = await api.call('POST', '/v1/release', {
      token: b.key,
      body: { reservation_id: b.reservationId },
    });
    expect(rel.body.outcome).toBe('released');
    b.reservationId = (
      await api.call('POST', '/v1/authorize', {
        token: b.key,
        body: { agent_id: b.id, operation: 'write_file', estimated_tokens: 1000 },
      })
    ).body.reservation_id;
  });

  it("agent A's key on admin routes naming A itself: 403 FORBIDDEN", async () => {
    for (const r of adminRoutes) {
      const res = await send(r, a, a.key);
      expect(res.status, keyOf(r)).toBe(403);
      expect(isError(res, 'FORBIDDEN')).toBe(true);
    }
    expect((await api.call('GET', `/v1/agents/${a.id}`)).body.status).toBe('active');
  });

  it("agent A's key against an agent that does not exist: 403, the same answer as for one that does", async () => {
    const ghostId = uid('ghost');
    const ghost: Target = {
      id: ghostId,
      key: a.key,
      sessionId: `${ghostId}.0123456789abcdef`,
      reservationId: `${ghostId}.0123456789abcdef`,
    };
    const calls0 = engineCalls;
    for (const r of routes) {
      const [onGhost, onB] = [await send(r, ghost, a.key), await send(r, b, a.key)];
      expect(onGhost.status, keyOf(r)).toBe(403);
      expect(onGhost.body.error.code, keyOf(r)).toBe(onB.body.error.code);
      expect(onGhost.body.error.message, keyOf(r)).toBe(onB.body.error.message);
    }
    expect(engineCalls - calls0).toBe(0);
  });

  it("A's key on A's own path with B's session: 404, and B's session is untouched", async () => {
    const endB = await api.call('DELETE', `/v1/agents/${a.id}/sessions/${b.sessionId}`, {
      token: a.key,
    });
    expect(endB.status).toBe(404);
    expect(isError(endB, 'NOT_FOUND')).toBe(true);
    const after = await snapshot(b);
    expect(after.budget.session.session_id).toBe(b.sessionId);
  });

  it("agent A's own key reaches every one of A's routes (the matrix is not vacuous)", async () => {
    for (const r of agentRoutes) {
      const res = await send(r, a, a.key);
      expect(res.status, `${keyOf(r)} ${res.text}`).toBeLessThan(300);
      if (keyOf(r) === 'post /v1/agents/:id/sessions') a.sessionId = res.body.session_id;
    }
  });

  it("a forged key naming B: 401 on B's routes (checked against B's digest), 403 on admin routes", async () => {
    const before = await snapshot(b);
    // A secret nobody was given, and A's real secret under B's name: neither is B's key.
    for (const forged of [forgedKey(b.id), forgedKey(b.id, 'w'), `tg_${b.id}.${secretOf(a.key)}`]) {
      for (const r of routes) {
        const res = await send(r, b, forged);
        expect(res.status, `${forged} ${keyOf(r)} ${res.text}`).toBe(
          r.auth === 'admin' ? 403 : 401,
        );
        expect(isError(res, r.auth === 'admin' ? 'FORBIDDEN' : 'UNAUTHENTICATED')).toBe(true);
        if (res.status === 401) expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      }
    }
    expect(await snapshot(b)).toEqual(before);
  });

  it('a forged key naming A on B’s routes: 403, like A’s real key', async () => {
    for (const r of routes) {
      const res = await send(r, b, forgedKey(a.id));
      expect(res.status, keyOf(r)).toBe(403);
    }
  });

  it('a token shaped like no agent key: 401 on every route, admin ones included', async () => {
    for (const token of [
      `tg_${'A'.repeat(43)}`, // the old format, which named no agent
      `tg_${b.id}.${'A'.repeat(42)}`, // secret too short
      `tg_${b.id}.${'A'.repeat(44)}`, // too long
      `tg_${b.id}.${'A'.repeat(42)}B`, // not a canonical encoding of 32 bytes
      `tg_${b.id}.${secretOf(b.key).slice(0, 42)}=`, // padding
      `tg_.${secretOf(b.key)}`, // no agent
      `tg_-${b.id}.${secretOf(b.key)}`, // not an agent id
      `tg_${b.id}.${b.id}.${secretOf(b.key)}`, // agent ids hold no '.'
      `TG_${b.id}.${secretOf(b.key)}`,
      secretOf(b.key),
    ]) {
      for (const r of routes) {
        const res = await send(r, b, token);
        expect(res.status, `${token} ${keyOf(r)}`).toBe(401);
        expect(isError(res, 'UNAUTHENTICATED')).toBe(true);
      }
    }
  });

  it("a rotated key, and a deleted agent's key: 401 on the agent's own routes, 403 elsewhere", async () => {
    const c = await target();
    const rotated = await api.call('POST', `/v1/agents/${c.id}/keys`);
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.api_key as string;
    expect(fresh.startsWith(`tg_${c.id}.`)).toBe(true);
    for (const r of routes) {
      const res = await send(r, c, c.key);
      expect(res.status, keyOf(r)).toBe(r.auth === 'admin' ? 403 : 401);
      const other = await send(r, b, c.key);
      expect(other.status, keyOf(r)).toBe(403);
    }
    // The new key works; the hold is still C's to release.
    const rel = await api.call('POST', '/v1/release', {
      token: fresh,
      body: { reservation_id: c.reservationId },
    });
    expect(rel.body.outcome).toBe('released');

    const d = await target();
    expect((await api.call('DELETE', `/v1/agents/${d.id}`)).status).toBe(200);
    for (const r of agentRoutes) {
      const res = await send(r, d, d.key);
      expect(res.status, `${keyOf(r)} ${res.text}`).toBe(401);
      expect(isError(res, 'UNAUTHENTICATED')).toBe(true);
    }
  });
});
