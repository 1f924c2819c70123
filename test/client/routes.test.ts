/**
 * The SDK has a method for every route (src/api/routes, and GET /metrics):
 * each method is called against a server that records the requests, and
 * every route of the API must have been reached. Then the new methods
 * against the real API, and errors that name the request.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../src/api/index.js';
import { TollgateApiError, TollgateClient } from '../../src/client/index.js';
import { ADMIN, type Api, startApi } from '../api/harness.js';
import { uid } from '../support/engines.js';

const RES = 'a-1.0123456789abcdef';
const DELIVERY = '01a21767-1012-7a92-9e7b-b8e1164aef00.wh_0123456789abcdef01234567';

/** Calls every SDK method once (dummy arguments: the recording server answers `{}`). */
async function callEveryMethod(c: TollgateClient): Promise<void> {
  const calls: (() => Promise<unknown>)[] = [
    () => c.registerAgent({ agent_id: 'a-1', role: 'coder' }),
    () => c.listAgents({ role: 'coder', status: 'active', pool_id: 'p-1' }),
    () => c.getAgent('a-1'),
    () => c.updateAgent('a-1', { role: 'reviewer' }),
    () => c.verifyAgent('a-1'),
    () => c.suspendAgent('a-1'),
    () => c.resumeAgent('a-1'),
    () => c.rotateKey('a-1'),
    () => c.deleteAgent('a-1'),
    () => c.setLimits('a-1', { daily_cost_limit: 5 }),
    () => c.getBudgetStatus('a-1'),
    () => c.startSession('a-1'),
    () => c.endSession('a-1', 'a-1.0123456789abcdef'),
    () => c.createPool({ pool_id: 'p-1' }),
    () => c.listPools(),
    () => c.getPool('p-1'),
    () => c.updatePool('p-1', { daily_cost_limit: 1 }),
    () => c.deletePool('p-1'),
    () => c.moveAgent('a-1', 'p-1'),
    () =>
      c.createWebhook({
        url: 'https://x.example',
        secret: 's'.repeat(16),
        events: ['budget_alert'],
      }),
    () => c.listWebhooks(),
    () => c.deleteWebhook('wh_0123456789abcdef01234567'),
    () => c.listDeadLetters({ limit: 5 }),
    () => c.retryDeadLetter(DELIVERY),
    () => c.getPolicy(),
    () => c.setPolicy({ default_estimate: 2000 }, { expectedVersion: 3, dryRun: true }),
    () => c.setPolicyRole('coder', { permissions: ['read_file'] }, { expectedVersion: 0 }),
    () => c.setShadowAgents(['a-1'], { dryRun: true }),
    () => c.getDashboard(),
    () => c.getDashboardSpend({ date: '2026-03-10' }),
    () => c.getDashboardHistory({ from: '2026-03-01', to: '2026-03-10' }),
    () => c.authorize({ agent_id: 'a-1', operation: 'read_file' }),
    () => c.settle({ reservation_id: RES, input_tokens: 1, output_tokens: 1, result: 'success' }),
    () => c.release(RES),
    () => c.recordUsage({ agent_id: 'a-1', input_tokens: 1, output_tokens: 1 }),
    () => c.audit({ agent_id: 'a-1', allowed: false, from: new Date(0), limit: 5 }),
    () => c.auditLag(),
    () => c.spend({ group_by: 'role', from: 0, to: '2026-03-11' }),
    () => c.health(),
    () => c.ready(),
    () => c.openapi(),
    () => c.metrics(),
  ];
  for (const call of calls) await call();
}

/** An Express path (`/v1/agents/:id`) as a regular expression. */
function pattern(path: string): RegExp {
  return new RegExp(`^${path.replace(/:[a-z]+/g, '[^/]+')}$`);
}

describe('a method for every route', () => {
  let recorder: Server;
  const seen: { method: string; path: string; query: string }[] = [];

  beforeAll(async () => {
    recorder = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      seen.push({ method: req.method ?? '', path: url.pathname, query: url.search });
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(url.pathname === '/metrics' ? '' : '{}');
    });
    await new Promise<void>((r) => recorder.listen(0, '127.0.0.1', () => r()));
  });
  afterAll(() => new Promise<void>((r) => recorder.close(() => r())));

  it('reaches every route of the API, and nothing else', async () => {
    const port = (recorder.address() as AddressInfo).port;
    await callEveryMethod(
      new TollgateClient({ baseUrl: `http://127.0.0.1:${port}`, token: ADMIN }),
    );
    const routes = [
      ...apiRoutes({ readyTimeoutMs: 1, openapi: () => ({}) }).map((r) => ({
        method: r.method.toUpperCase(),
        path: r.path,
      })),
      { method: 'GET', path: '/metrics' },
    ];
    const missing = routes.filter(
      (r) => !seen.some((s) => s.method === r.method && pattern(r.path).test(s.path)),
    );
    expect(missing, 'routes without an SDK method').toEqual([]);
    const unknown = seen.filter(
      (s) => !routes.some((r) => s.method === r.method && pattern(r.path).test(s.path)),
    );
    expect(unknown, 'SDK requests to no route').toEqual([]);
  });

  it("sends the routes' query filters", () => {
    const q = (path: string) => seen.find((s) => s.method === 'GET' && s.path === path)?.query;
    expect(q('/v1/agents')).toBe('?role=coder&status=active&pool_id=p-1');
    expect(q('/v1/audit')).toBe(
      '?agent_id=a-1&allowed=false&from=1970-01-01T00%3A00%3A00.000Z&limit=5',
    );
    expect(q('/v1/spend')).toBe('?from=0&to=2026-03-11&group_by=role');
    expect(q('/v1/dashboard/spend')).toBe('?date=2026-03-10');
    expect(q('/v1/dashboard/history')).toBe('?from=2026-03-01&to=2026-03-10');
    expect(q('/v1/webhooks/dead-letters')).toBe('?limit=5');
    const sent = (method: string, path: string) =>
      seen.find((s) => s.method === method && s.path === path)?.query;
    expect(sent('PUT', '/v1/policy')).toBe('?expected_version=3&dry_run=true');
    expect(sent('PATCH', '/v1/policy/roles/coder')).toBe('?expected_version=0');
  });
});

describe('the new methods on the real API', () => {
  let api: Api;
  let admin: TollgateClient;

  beforeAll(async () => {
    api = await startApi();
    admin = new TollgateClient({ baseUrl: api.base, token: ADMIN });
  });
  afterAll(() => api.close());

  it('updateAgent changes role and metadata in one event; listAgents filters on the server', async () => {
    const id = uid('sdk');
    const other = uid('sdk');
    await admin.registerAgent({ agent_id: id, role: 'coder', metadata: { team: 'a' } });
    await admin.registerAgent({ agent_id: other, role: 'coder' });
    const rec = await admin.updateAgent(id, { role: 'tester', metadata: { team: 'b' } });
    expect(rec).toMatchObject({ agent_id: id, role: 'tester', metadata: { team: 'b' } });
    const events = (await api.tg.engine.readOutbox()).filter(
      (e) => e.fields.agent_id === id && e.fields.type === 'agent_updated',
    );
    expect(events).toHaveLength(1);
    const testers = await admin.listAgents({ role: 'tester' });
    expect(testers.agents.map((a) => a.agent_id)).toContain(id);
    expect(testers.agents.map((a) => a.agent_id)).not.toContain(other);
    expect(testers.agents.every((a) => a.role === 'tester')).toBe(true);
    await admin.suspendAgent(other);
    const suspended = await admin.listAgents({ status: 'suspended', role: 'coder' });
    expect(suspended.agents.map((a) => a.agent_id)).toContain(other);
    await expect(admin.updateAgent(id, {})).rejects.toMatchObject({
      status: 400,
      code: 'VALIDATION_FAILED',
    });
  });

  it('health, ready and openapi need no token; metrics is text', async () => {
    const open = new TollgateClient({ baseUrl: api.base, token: '' });
    expect(await open.health()).toEqual({ status: 'ok' });
    expect(await open.ready()).toMatchObject({ status: 'ready', policy: 'loaded' });
    expect((await open.openapi()).paths).toHaveProperty(['/v1/agents/{id}']);
    expect(await admin.metrics()).toContain('# TYPE');
    await expect(open.metrics()).rejects.toMatchObject({ status: 401, method: 'GET' });
  });

  it('errors name the request: method, URL, status; no answer names the URL and the cause', async () => {
    const ghost = uid('ghost');
    const e = await admin.getAgent(ghost).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(TollgateApiError);
    expect(e).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
      method: 'GET',
      url: `${api.base}/v1/agents/${ghost}`,
    });
    const down = new TollgateClient({ baseUrl: 'http://127.0.0.1:9', token: ADMIN, retries: 1 });
    const n = await down.listAgents().catch((err: unknown) => err);
    expect(n).toMatchObject({
      status: 0,
      code: 'NETWORK_ERROR',
      url: 'http://127.0.0.1:9/v1/agents',
    });
    expect((n as Error).message).toMatch(
      /^cannot reach http:\/\/127\.0\.0\.1:9\/v1\/agents \(GET\): /,
    );
  });
});
