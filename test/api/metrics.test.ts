/**
 * GET /metrics end to end (real HTTP, the run's Redis; one case on the
 * embedded engine for the drain): decisions counted by outcome, code and
 * role; the decision latency histogram; HTTP requests by route pattern and
 * status, never the raw path; no agent id in any label unless
 * perAgentMetrics; the admin token (401 without it, 403 for an agent key)
 * unless the route is made open; 503 STORE_UNAVAILABLE counted.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditWorkerStats } from '../../src/audit/drain/index.js';
import { MemoryEngine, TollgateError } from '../../src/index.js';
import { parse, type Sample, value } from '../support/prom-text.js';
import { type Api, isError, startApi } from './harness.js';

async function scrape(api: Api, token?: string | null): Promise<Sample[]> {
  const r = await api.call('GET', '/metrics', token === undefined ? {} : { token });
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parse(r.text);
}

const hex = () => randomBytes(4).toString('hex');

describe('GET /metrics (Redis)', () => {
  let api: Api;
  let coder: { id: string; key: string };
  let tester: { id: string; key: string };
  let custom: { id: string; key: string };
  const customRole = `custom-${hex()}`;
  const missing = `ghost-${hex()}`;

  beforeAll(async () => {
    api = await startApi();
    coder = await api.agent('coder');
    tester = await api.agent('tester');
    custom = await api.agent(customRole);
    const authorize = async (who: { id: string; key: string }, body: Record<string, unknown>) => {
      const r = await api.call('POST', '/v1/authorize', {
        token: who.key,
        body: { agent_id: who.id, ...body },
      });
      expect(r.status).toBe(200);
      return r.body;
    };
    // coder: 3 allowed (one of them replayed once), 2 RBAC_DENIED, 1 BUDGET_EXCEEDED.
    expect((await authorize(coder, { operation: 'write_file' })).allowed).toBe(true);
    expect((await authorize(coder, { operation: 'read_file' })).allowed).toBe(true);
    const job = `job-${hex()}`;
    const held = await authorize(coder, { operation: 'run_tests', request_id: job });
    expect(held.allowed).toBe(true);
    const again = await authorize(coder, { operation: 'run_tests', request_id: job });
    expect(again.reservation_id).toBe(held.reservation_id);
    expect((await authorize(coder, { operation: 'deploy' })).error_code).toBe('RBAC_DENIED');
    expect((await authorize(coder, { operation: 'deploy' })).error_code).toBe('RBAC_DENIED');
    expect(
      (await authorize(coder, { operation: 'write_file', estimated_tokens: 10_000_000 }))
        .error_code,
    ).toBe('BUDGET_EXCEEDED');
    // tester: 1 allowed, 1 AGENT_SUSPENDED.
    expect((await authorize(tester, { operation: 'read_file' })).allowed).toBe(true);
    expect((await api.call('POST', `/v1/agents/${tester.id}/suspend`)).status).toBe(200);
    expect((await authorize(tester, { operation: 'read_file' })).error_code).toBe(
      'AGENT_SUSPENDED',
    );
    // A role the policy does not name: no permissions, and labelled `other`.
    expect((await authorize(custom, { operation: 'read_file' })).error_code).toBe('RBAC_DENIED');
    // No such agent (admin): no role.
    const ghost = await api.call('POST', '/v1/authorize', {
      body: { agent_id: missing, operation: 'read_file' },
    });
    expect(ghost.body.error_code).toBe('AGENT_NOT_FOUND');
  });
  afterAll(async () => {
    await api?.close();
  });

  it('counts decisions by outcome, code and role', async () => {
    const s = await scrape(api);
    const d = (outcome: string, code: string, role: string) =>
      value(s, 'tollgate_decisions_total', { outcome, code, role });
    expect(d('allowed', 'none', 'coder')).toBe(3);
    expect(d('denied', 'RBAC_DENIED', 'coder')).toBe(2);
    expect(d('denied', 'BUDGET_EXCEEDED', 'coder')).toBe(1);
    expect(d('allowed', 'none', 'tester')).toBe(1);
    expect(d('denied', 'AGENT_SUSPENDED', 'tester')).toBe(1);
    expect(d('denied', 'RBAC_DENIED', 'other')).toBe(1);
    expect(d('denied', 'AGENT_NOT_FOUND', 'none')).toBe(1);
    const total = s
      .filter((x) => x.name === 'tollgate_decisions_total')
      .reduce((a, x) => a + x.value, 0);
    expect(total).toBe(10);
    // The replay answered the earlier hold: counted apart, not as a decision.
    expect(value(s, 'tollgate_decision_replays_total', { role: 'coder' })).toBe(1);
    // Roles the policy does not name never become a label value.
    expect(s.some((x) => Object.values(x.labels).includes(customRole))).toBe(false);
  });

  it('observes every answered authorize in the latency histogram', async () => {
    const s = await scrape(api);
    const count = (outcome: string) =>
      value(s, 'tollgate_decision_duration_seconds_count', { outcome });
    expect(count('allowed')).toBe(5); // 4 decisions + 1 replay
    expect(count('denied')).toBe(6);
    const sum = value(s, 'tollgate_decision_duration_seconds_sum', { outcome: 'allowed' });
    expect(sum).toBeGreaterThan(0);
    const buckets = s
      .filter(
        (x) =>
          x.name === 'tollgate_decision_duration_seconds_bucket' && x.labels.outcome === 'denied',
      )
      .map((x) => x.labels.le);
    expect(buckets).toEqual([
      '0.0001',
      '0.00025',
      '0.0005',
      '0.001',
      '0.0025',
      '0.005',
      '0.01',
      '0.025',
      '0.05',
      '0.1',
      '+Inf',
    ]);
    expect(
      value(s, 'tollgate_decision_duration_seconds_bucket', { outcome: 'denied', le: '+Inf' }),
    ).toBe(6);
  });

  it('labels HTTP requests with the route pattern and status, never the raw path', async () => {
    expect((await api.call('GET', `/v1/agents/${coder.id}/budget`)).status).toBe(200);
    expect((await api.call('GET', `/v1/agents/${tester.id}/budget`)).status).toBe(200);
    expect((await api.call('GET', `/v1/agents/${missing}/budget`)).status).toBe(404);
    expect((await api.call('GET', `/no/such/${coder.id}`)).status).toBe(404);
    expect((await api.call('GET', `/v1/agents/${coder.id}/budget`, { token: null })).status).toBe(
      401,
    );
    const s = await scrape(api);
    const req = (route: string, status: string, method = 'GET') =>
      value(s, 'tollgate_http_requests_total', { method, route, status });
    expect(req('/v1/agents/:id/budget', '200')).toBe(2);
    expect(req('/v1/agents/:id/budget', '404')).toBe(1);
    expect(req('/v1/agents/:id/budget', '401')).toBe(1);
    expect(req('unmatched', '404')).toBe(1);
    expect(req('/v1/authorize', '200', 'POST')).toBe(11);
    expect(req('/v1/agents/:id/suspend', '200', 'POST')).toBe(1);
    expect(req('/v1/agents', '201', 'POST')).toBe(3);
    expect(
      value(s, 'tollgate_http_request_duration_seconds_count', {
        method: 'GET',
        route: '/v1/agents/:id/budget',
      }),
    ).toBe(4);
    for (const x of s.filter((x) => x.name.startsWith('tollgate_http_'))) {
      const route = x.labels.route as string;
      expect(route === 'unmatched' || route.startsWith('/')).toBe(true);
      expect(route).not.toMatch(/api-|ghost-|\/no\/such/);
    }
  });

  it('reads the fleet and the outbox per shard on each scrape', async () => {
    const s = await scrape(api);
    expect(value(s, 'tollgate_metrics_source_up', { source: 'agents' })).toBe(1);
    expect(value(s, 'tollgate_metrics_source_up', { source: 'outbox' })).toBe(1);
    expect(value(s, 'tollgate_metrics_source_up', { source: 'leases' })).toBe(1);
    // Read from the engine's counters (other files may free leases meanwhile: ≤ a later read).
    const freed = value(s, 'tollgate_expired_leases_freed_total', {}) ?? -1;
    expect(freed).toBeGreaterThanOrEqual(0);
    expect(freed).toBeLessThanOrEqual(await api.tg.engine.expiredLeasesFreed());
    // The run's Redis is shared with other test files: at least ours.
    expect(value(s, 'tollgate_agents', { role: 'coder', status: 'active' })).toBeGreaterThanOrEqual(
      1,
    );
    expect(
      value(s, 'tollgate_agents', { role: 'tester', status: 'suspended' }),
    ).toBeGreaterThanOrEqual(1);
    expect(value(s, 'tollgate_agents', { role: 'other', status: 'active' })).toBeGreaterThanOrEqual(
      1,
    );
    // coder holds write_file 3000 + read_file 5000 + run_tests 8000.
    expect(value(s, 'tollgate_reserved_tokens', { role: 'coder' })).toBeGreaterThanOrEqual(16_000);
    expect(value(s, 'tollgate_reserved_cost_usd', { role: 'coder' })).toBeGreaterThan(0);
    for (let shard = 0; shard < api.tg.engine.shards; shard++) {
      const l = { shard: String(shard) };
      expect(value(s, 'tollgate_outbox_backlog', l)).toBeGreaterThanOrEqual(0);
      expect(value(s, 'tollgate_outbox_oldest_age_seconds', l)).toBeGreaterThanOrEqual(0);
      expect(value(s, 'tollgate_outbox_pending', l)).toBeGreaterThanOrEqual(0);
      expect(value(s, 'tollgate_outbox_dead_letters', l)).toBeGreaterThanOrEqual(0);
    }
    const backlog = s
      .filter((x) => x.name === 'tollgate_outbox_backlog')
      .reduce((a, x) => a + x.value, 0);
    expect(backlog).toBeGreaterThan(0); // nothing drains the run's Redis in tests
    // Embedded-only and worker-only series are absent.
    expect(s.some((x) => x.name.startsWith('tollgate_drain_'))).toBe(false);
    expect(s.some((x) => x.name.startsWith('tollgate_sweep_'))).toBe(false);
    // Node.js process metrics share the registry.
    expect(s.some((x) => x.name === 'process_cpu_user_seconds_total')).toBe(true);
  });

  it('puts no agent id in any label by default', async () => {
    const r = await api.call('GET', '/metrics');
    for (const id of [coder.id, tester.id, custom.id, missing]) expect(r.text).not.toContain(id);
    const s = parse(r.text);
    expect(s.some((x) => 'agent_id' in x.labels)).toBe(false);
    expect(s.some((x) => x.name.startsWith('tollgate_agent_'))).toBe(false);
  });

  it('needs the admin token', async () => {
    const none = await api.call('GET', '/metrics', { token: null });
    expect(none.status).toBe(401);
    expect(isError(none, 'UNAUTHENTICATED')).toBe(true);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(none.text).not.toContain('tollgate_');
    const wrong = await api.call('GET', '/metrics', { token: 'not-the-admin-token' });
    expect(wrong.status).toBe(401);
    const agentKey = await api.call('GET', '/metrics', { token: coder.key });
    expect(agentKey.status).toBe(403);
    expect(isError(agentKey, 'FORBIDDEN')).toBe(true);
    // Refusals are counted too, under the route's pattern.
    const s = await scrape(api);
    expect(
      value(s, 'tollgate_http_requests_total', { method: 'GET', route: '/metrics', status: '401' }),
    ).toBe(2);
    expect(
      value(s, 'tollgate_http_requests_total', { method: 'GET', route: '/metrics', status: '403' }),
    ).toBe(1);
  });
});

describe('GET /metrics options', () => {
  it('perAgentMetrics: per-agent gauges labelled with the agent id', async () => {
    const api = await startApi({ app: { metrics: { perAgentMetrics: true } } });
    try {
      const a = await api.agent('coder');
      const ok = await api.call('POST', '/v1/authorize', {
        token: a.key,
        body: { agent_id: a.id, operation: 'write_file', estimated_tokens: 1234 },
      });
      expect(ok.body.allowed).toBe(true);
      const denied = await api.call('POST', '/v1/authorize', {
        token: a.key,
        body: { agent_id: a.id, operation: 'deploy' },
      });
      expect(denied.body.allowed).toBe(false);
      const s = await scrape(api);
      const l = { agent_id: a.id, role: 'coder' };
      expect(value(s, 'tollgate_agent_session_tokens_reserved', l)).toBe(1234);
      expect(value(s, 'tollgate_agent_session_tokens_used', l)).toBe(0);
      expect(value(s, 'tollgate_agent_session_token_limit', l)).toBe(80_000);
      expect(value(s, 'tollgate_agent_daily_cost_limit_usd', l)).toBe(8);
      expect(value(s, 'tollgate_agent_daily_cost_usd', l)).toBe(0);
      expect(value(s, 'tollgate_agent_operations_blocked', l)).toBe(1);
      // Counters stay without agent ids, whatever the option.
      for (const x of s.filter((x) => !x.name.startsWith('tollgate_agent_'))) {
        expect('agent_id' in x.labels).toBe(false);
      }
      // A deleted agent's series go with it (the gauges are rebuilt per scrape).
      expect((await api.call('DELETE', `/v1/agents/${a.id}`)).status).toBe(200);
      const after = await api.call('GET', '/metrics');
      expect(after.text).not.toContain(a.id);
    } finally {
      await api.close();
    }
  });

  it('open: no token needed', async () => {
    const api = await startApi({ app: { metrics: { open: true, defaultMetrics: false } } });
    try {
      const r = await api.call('GET', '/metrics', { token: null });
      expect(r.status).toBe(200);
      expect(r.text).toContain('tollgate_decisions_total');
      expect(r.text).not.toContain('process_cpu_user_seconds_total');
    } finally {
      await api.close();
    }
  });

  it('worker: an in-process audit worker’s counters become the drain metrics', async () => {
    const stats: AuditWorkerStats = {
      drains: 7,
      failures: 2,
      stalled: 0,
      stored: 40,
      duplicates: 3,
      deadLettered: 1,
      claimed: 0,
      sweeps: 4,
      sweptAgents: 120,
      sweepFreed: 5,
      repairs: 1,
      lastError: null,
    };
    const api = await startApi({ app: { metrics: { worker: { stats: () => ({ ...stats }) } } } });
    try {
      let s = await scrape(api);
      expect(value(s, 'tollgate_drain_events_total')).toBe(43);
      expect(value(s, 'tollgate_drain_inserted_total')).toBe(40);
      expect(value(s, 'tollgate_drain_rejected_total')).toBe(1);
      expect(value(s, 'tollgate_drain_failures_total')).toBe(2);
      expect(value(s, 'tollgate_drain_repairs_total')).toBe(1);
      expect(value(s, 'tollgate_sweep_runs_total')).toBe(4);
      expect(value(s, 'tollgate_sweep_freed_total')).toBe(5);
      expect(value(s, 'tollgate_metrics_source_up', { source: 'drain' })).toBe(1);
      // Embedded-only series are absent.
      expect(value(s, 'tollgate_drain_consecutive_failures')).toBeUndefined();
      stats.stored += 10;
      stats.failures += 1;
      s = await scrape(api);
      expect(value(s, 'tollgate_drain_events_total')).toBe(53);
      expect(value(s, 'tollgate_drain_failures_total')).toBe(3);
    } finally {
      await api.close();
    }
  });

  it('false: no /metrics route', async () => {
    const api = await startApi({ app: { metrics: false } });
    try {
      const r = await api.call('GET', '/metrics');
      expect(r.status).toBe(404);
      expect(isError(r, 'NOT_FOUND')).toBe(true);
    } finally {
      await api.close();
    }
  });

  it('counts 503 STORE_UNAVAILABLE answers by route; an unreadable source is reported, not fatal', async () => {
    const down = () => new TollgateError('STORE_UNAVAILABLE', 'down');
    class DownEngine extends MemoryEngine {
      override async status(): Promise<never> {
        throw down();
      }
      override async listAgents(): Promise<never> {
        throw down();
      }
    }
    const api = await startApi({ tollgate: { engine: new DownEngine() } });
    try {
      expect((await api.call('GET', '/readyz')).status).toBe(503);
      expect((await api.call('GET', '/readyz')).status).toBe(503);
      const s = await scrape(api);
      expect(value(s, 'tollgate_store_unavailable_total', { route: '/readyz' })).toBe(2);
      expect(value(s, 'tollgate_metrics_source_up', { source: 'agents' })).toBe(0);
      expect(value(s, 'tollgate_metrics_source_up', { source: 'outbox' })).toBe(1);
      expect(s.some((x) => x.name === 'tollgate_agents')).toBe(false);
    } finally {
      await api.close();
    }
  });
});

describe('GET /metrics (embedded: in-process drain)', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('reports the drain’s counters and the outbox backlog', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-metrics-'));
    dirs.push(dir);
    const api = await startApi({
      tollgate: { redis: undefined, store: { dataDir: dir }, drain: { intervalMs: 60_000 } },
    });
    try {
      const a = await api.agent('coder');
      for (let i = 0; i < 3; i++) {
        const r = await api.call('POST', '/v1/authorize', {
          token: a.key,
          body: { agent_id: a.id, operation: 'read_file' },
        });
        expect(r.body.allowed).toBe(true);
      }
      // The loop waits a minute: the events are still in the outbox.
      const before = await scrape(api);
      const backlog = before
        .filter((x) => x.name === 'tollgate_outbox_backlog')
        .reduce((n, x) => n + x.value, 0);
      expect(backlog).toBeGreaterThanOrEqual(4); // registered + 3 decisions
      const drained = await api.tg.drain?.flush();
      expect(drained).toBeGreaterThanOrEqual(4);
      const s = await scrape(api);
      expect(value(s, 'tollgate_drain_events_total')).toBe(api.tg.drain?.stats().drained);
      expect(value(s, 'tollgate_drain_inserted_total')).toBe(api.tg.drain?.stats().inserted);
      expect(value(s, 'tollgate_drain_events_total')).toBeGreaterThanOrEqual(4);
      expect(value(s, 'tollgate_drain_rejected_total')).toBe(0);
      expect(value(s, 'tollgate_drain_consecutive_failures')).toBe(0);
      expect(value(s, 'tollgate_drain_last_success_timestamp_seconds')).toBeGreaterThan(
        Date.now() / 1000 - 60,
      );
      expect(
        s.filter((x) => x.name === 'tollgate_outbox_backlog').reduce((n, x) => n + x.value, 0),
      ).toBe(0);
      expect(
        value(s, 'tollgate_decisions_total', { outcome: 'allowed', code: 'none', role: 'coder' }),
      ).toBe(3);
      // The embedded sweep timer's counters.
      expect(value(s, 'tollgate_sweep_runs_total')).toBe(api.tg.sweep?.stats().runs);
      expect(value(s, 'tollgate_sweep_freed_total')).toBe(api.tg.sweep?.stats().freed);
    } finally {
      await api.close();
    }
  });
});
