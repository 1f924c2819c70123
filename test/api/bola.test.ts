import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../src/api/index.js';
import { uid } from '../support/engines.js';
import { type Api, isError, startApi } from './harness.js';

/**
 * Broken object-level authorization: agent A's key against agent B's
 * resources and against the admin routes, for every route of the table.
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
  'get /v1/agents/:id': (t) => ({ path: `/v1/agents/${t.id}` }),
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
};

const routes = apiRoutes({ readyTimeoutMs: 1000, openapi: () => ({}) }).filter(
  (r) => r.auth !== 'open',
);
const keyOf = (r: { method: string; path: string }) => `${r.method} ${r.path}`;

let api: Api;
let a: Target;
let b: Target;

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

beforeAll(async () => {
  api = await startApi();
  a = await target();
  b = await target();
});
afterAll(() => api.close());

describe('BOLA matrix', () => {
  it('has a request for every authenticated route of the table', () => {
    expect(routes.map(keyOf).sort()).toEqual(Object.keys(REQUESTS).sort());
  });

  it("agent A's key reaches none of agent B's resources, and B is unchanged", async () => {
    const before = await snapshot(b);
    const results: string[] = [];
    for (const r of routes) {
      const req = (REQUESTS[keyOf(r)] as Build)(b);
      const res = await api.call(r.method.toUpperCase(), req.path, {
        token: a.key,
        body: req.body,
      });
      results.push(`${keyOf(r)} -> ${res.status}`);
      expect(res.status, keyOf(r)).toBeGreaterThanOrEqual(400);
      expect(res.status, keyOf(r)).toBeLessThan(500);
      // Admin routes: 403 whoever's key it is; B's routes: A's key is not B's key (401).
      if (r.auth === 'admin') expect(isError(res, 'FORBIDDEN'), keyOf(r)).toBe(true);
      else expect(isError(res, 'UNAUTHENTICATED'), keyOf(r)).toBe(true);
    }
    expect(results).toHaveLength(routes.length);
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
    for (const r of routes.filter((x) => x.auth === 'admin')) {
      const req = (REQUESTS[keyOf(r)] as Build)(a);
      const res = await api.call(r.method.toUpperCase(), req.path, {
        token: a.key,
        body: req.body,
      });
      expect(res.status, keyOf(r)).toBe(403);
      expect(isError(res, 'FORBIDDEN')).toBe(true);
    }
    expect((await api.call('GET', `/v1/agents/${a.id}`)).body.status).toBe('active');
  });

  it("agent A's key against an agent that does not exist: 401, the same as for one that does", async () => {
    const ghost: Target = {
      id: uid('ghost'),
      key: a.key,
      sessionId: `${uid('ghost')}.0123456789abcdef`,
      reservationId: '',
    };
    ghost.sessionId = `${ghost.id}.0123456789abcdef`;
    ghost.reservationId = `${ghost.id}.0123456789abcdef`;
    for (const r of routes.filter((x) => x.auth === 'agent')) {
      const req = (REQUESTS[keyOf(r)] as Build)(ghost);
      const res = await api.call(r.method.toUpperCase(), req.path, {
        token: a.key,
        body: req.body,
      });
      expect(res.status, keyOf(r)).toBe(401);
    }
  });

  it("A's key on A's own path with B's session or reservation: refused", async () => {
    const endB = await api.call('DELETE', `/v1/agents/${a.id}/sessions/${b.sessionId}`, {
      token: a.key,
    });
    expect(endB.status).toBe(404);
    expect(isError(endB, 'NOT_FOUND')).toBe(true);
    const before = await snapshot(b);
    expect(before.budget.session.session_id).toBe(b.sessionId);
  });

  it("agent A's own key reaches every one of A's routes (the matrix is not vacuous)", async () => {
    for (const r of routes.filter((x) => x.auth === 'agent')) {
      const req = (REQUESTS[keyOf(r)] as Build)(a);
      const res = await api.call(r.method.toUpperCase(), req.path, {
        token: a.key,
        body: req.body,
      });
      expect(res.status, `${keyOf(r)} ${res.text}`).toBeLessThan(300);
      if (keyOf(r) === 'post /v1/agents/:id/sessions') a.sessionId = res.body.session_id;
    }
  });

  it('a key that looks like an agent key but is nobody’s: 401 on agent routes, 403 on admin routes', async () => {
    const forged = `tg_${'A'.repeat(43)}`;
    for (const r of routes) {
      const req = (REQUESTS[keyOf(r)] as Build)(b);
      const res = await api.call(r.method.toUpperCase(), req.path, {
        token: forged,
        body: req.body,
      });
      expect(res.status, keyOf(r)).toBe(r.auth === 'admin' ? 403 : 401);
    }
  });
});
