/**
 * The read-only operator token (TOLLGATE_READ_TOKEN, docs/api.md "The
 * read-only token"), end to end on the embedded engine with its store (so
 * that the audit and spend reads answer). Every route the app has registered
 * is taken from its router (not from a list kept here), so a route added
 * later is covered without touching this file: with the read token, every
 * method that is not GET is refused 403 and changes nothing (no event, no
 * agent changed, nothing forwarded by the gateway); the GETs of READ_ROUTES
 * and /metrics answer 200; any other GET that needs a token is refused.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes, createApp } from '../../src/api/index.js';
import { READ_ROUTES } from '../../src/api/read-token.js';
import { createTollgate } from '../../src/index.js';
import { readBacklog } from '../../src/metrics/index.js';
import { ADMIN, type Api, isError, startApi } from './harness.js';

const READ = 'test-read-token-0123456789abcdef';

interface Registered {
  method: string;
  path: string;
}

interface Layer {
  route?: { path: unknown; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  rawPath?: unknown;
}

/** Every route registered on the app's router and the routers mounted in it, as [method, path pattern]. */
function registeredRoutes(app: Express): Registered[] {
  const out: Registered[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route !== undefined) {
        expect(typeof layer.route.path, 'a route path is a string pattern').toBe('string');
        for (const [method, on] of Object.entries(layer.route.methods)) {
          if (on && method !== '_all') out.push({ method, path: `${prefix}${layer.route.path}` });
        }
      } else if (Array.isArray(layer.handle?.stack)) {
        const mount =
          typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
        walk(layer.handle.stack, prefix + mount);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return out;
}

describe('the read-only token', () => {
  let api: Api;
  let app: Express;
  let upstream: Server;
  let forwarded = 0;
  let agent: { id: string; key: string };
  let sessionId: string;
  const poolId = `pool-${Date.now().toString(36)}`;
  let routes: Registered[];
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-read-token-'));

  /** What a change would move: the events written (outbox + drained), the agents' state, the upstream. */
  async function state() {
    const backlog = await readBacklog(api.tg);
    const events =
      backlog.shards.reduce((n, s) => n + s.backlog, 0) + (api.tg.drain?.stats().drained ?? 0);
    const agents = (await api.tg.engine.listAgents()).map(({ status: s }) => [
      s.agentId,
      s.role,
      s.status,
      s.sessionId,
      s.sessionTokensUsed,
      s.sessionTokensReserved,
      s.sessionTokenLimit,
      s.dailyCostMicros,
      s.dailyLimitMicros,
      s.requestsPerMinute,
    ]);
    return { events, agents, forwarded };
  }

  /** The path with its parameters filled: the pool, the agent and its session, else `x`. */
  const fill = (path: string) =>
    path.replace(/:(\w+)/g, (_, name: string) =>
      name === 'id'
        ? path.startsWith('/v1/pools/')
          ? poolId
          : agent.id
        : name === 'sid'
          ? sessionId
          : 'x',
    );

  beforeAll(async () => {
    upstream = createServer((_req, res) => {
      forwarded += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const appDeps = {
      readToken: READ,
      gateway: {
        upstreams: {
          openai: { baseUrl: base, apiKey: 'sk-test' },
          anthropic: { baseUrl: base, apiKey: 'sk-test' },
        },
      },
    };
    api = await startApi({
      tollgate: { redis: undefined, store: { dataDir: dir }, drain: { intervalMs: 60_000 } },
      app: appDeps,
    });
    app = createApp({ tollgate: api.tg, adminToken: ADMIN, ...appDeps });
    routes = registeredRoutes(app);
    agent = await api.agent('coder');
    const pool = await api.call('POST', '/v1/pools', { body: { pool_id: poolId } });
    expect(pool.status, pool.text).toBe(201);
    const d = await api.call('POST', '/v1/authorize', {
      token: agent.key,
      body: { agent_id: agent.id, operation: 'write_file', estimated_tokens: 100 },
    });
    expect(d.body.allowed).toBe(true);
    const settled = await api.call('POST', '/v1/settle', {
      token: agent.key,
      body: {
        reservation_id: d.body.reservation_id,
        input_tokens: 60,
        output_tokens: 20,
        result: 'success',
      },
    });
    expect(settled.status).toBe(200);
    sessionId = d.body.budget_status.session.session_id;
    await api.tg.drain?.flush();
  });

  afterAll(async () => {
    await api?.close();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('the routes are read from the app: every API route, /metrics and the gateway’s are there', () => {
    const has = (method: string, path: string) =>
      routes.some((r) => r.method === method && r.path === path);
    for (const r of apiRoutes({ readyTimeoutMs: 1, openapi: () => ({}) })) {
      expect(has(r.method, r.path), `${r.method} ${r.path}`).toBe(true);
    }
    expect(has('get', '/metrics')).toBe(true);
    expect(has('post', '/openai/v1/chat/completions')).toBe(true);
    expect(has('post', '/anthropic/v1/messages')).toBe(true);
    expect(routes.filter((r) => r.method !== 'get').length).toBeGreaterThanOrEqual(12);
    // Every route the read token may call exists (a renamed route would leave a stale entry).
    for (const path of READ_ROUTES) expect(has('get', path), path).toBe(true);
  });

  it('every route that is not a GET: 403 FORBIDDEN, and nothing changed', async () => {
    const before = await state();
    const refused: string[] = [];
    for (const r of routes.filter((x) => x.method !== 'get')) {
      const path = fill(r.path);
      const reply = await api.call(r.method.toUpperCase(), path, { token: READ, body: {} });
      expect(reply.status, `${r.method} ${path}: ${reply.text}`).toBe(403);
      expect(isError(reply, 'FORBIDDEN'), `${r.method} ${path}`).toBe(true);
      expect(reply.body.error.message).toMatch(/read-only token/);
      refused.push(`${r.method} ${r.path}`);
    }
    expect(refused).toContain('post /v1/agents/:id/suspend');
    expect(refused).toContain('delete /v1/agents/:id');
    await api.tg.drain?.flush();
    expect(await state()).toEqual(before);
  });

  it('the same requests with the admin token do change things (the check above can fail)', async () => {
    const before = await state();
    const r = await api.call('POST', `/v1/agents/${agent.id}/suspend`, { body: {} });
    expect(r.status).toBe(200);
    expect(await state()).not.toEqual(before);
    expect((await api.call('POST', `/v1/agents/${agent.id}/resume`, { body: {} })).status).toBe(
      200,
    );
  });

  it('the GETs: READ_ROUTES and /metrics answer 200, the open ones too, any other is refused', async () => {
    const before = await state();
    const open = new Set(
      apiRoutes({ readyTimeoutMs: 1, openapi: () => ({}) })
        .filter((r) => r.auth === 'open')
        .map((r) => r.path),
    );
    const answered: string[] = [];
    for (const r of routes.filter((x) => x.method === 'get')) {
      const path = fill(r.path);
      const reply = await api.call('GET', path, { token: READ });
      if (READ_ROUTES.has(r.path) || r.path === '/metrics') {
        expect(reply.status, `GET ${path}: ${reply.text}`).toBe(200);
        answered.push(r.path);
      } else if (open.has(r.path) || r.path.startsWith('/dashboard')) {
        expect(reply.status, `GET ${path}`).toBe(200);
      } else if (r.path.startsWith('/v1/')) {
        expect(reply.status, `GET ${path}: ${reply.text}`).toBe(403);
        expect(isError(reply, 'FORBIDDEN')).toBe(true);
      } else {
        // The gateway takes agent keys only: any other token is not one (401), nothing forwarded.
        expect([401, 403], `GET ${path}: ${reply.text}`).toContain(reply.status);
      }
    }
    expect(answered.sort()).toEqual([...READ_ROUTES, '/metrics'].sort());
    expect(await state()).toEqual(before);
  });

  it('reads what the admin reads: every agent’s events, the dashboard, the metrics', async () => {
    const audit = await api.call('GET', `/v1/audit?agent_id=${agent.id}`, { token: READ });
    expect(audit.body.events.length).toBeGreaterThan(0);
    const all = await api.call('GET', '/v1/audit', { token: READ });
    expect(all.status).toBe(200);
    const dash = await api.call('GET', '/v1/dashboard', { token: READ });
    expect(dash.body.agents.some((a: { agent_id: string }) => a.agent_id === agent.id)).toBe(true);
    const metrics = await api.call('GET', '/metrics', { token: READ });
    expect(metrics.text).toContain('tollgate_decisions_total');
    // An agent key still may not read the metrics, nor the read token act as an agent.
    expect((await api.call('GET', '/metrics', { token: agent.key })).status).toBe(403);
  });
});

describe('createApp({ readToken })', () => {
  it('refuses the admin token as the read token; without one, the token is unknown (401)', async () => {
    const tg = await createTollgate();
    try {
      expect(() => createApp({ tollgate: tg, adminToken: ADMIN, readToken: ADMIN })).toThrow(
        /must differ from the admin token/,
      );
      expect(() => createApp({ tollgate: tg, adminToken: ADMIN, readToken: '' })).toThrow(
        /non-empty/,
      );
    } finally {
      await tg.close();
    }
    const api = await startApi();
    try {
      const r = await api.call('GET', '/v1/dashboard', { token: READ });
      expect(r.status).toBe(401);
      expect((await api.call('GET', '/metrics', { token: READ })).status).toBe(401);
    } finally {
      await api.close();
    }
  });
});
