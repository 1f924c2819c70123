/**
 * `promtool check metrics` on real scrapes of GET /metrics, with no
 * exception: after decisions (allowed and denied), settles (a model call's
 * included), usage and replays, on the app with every optional family on
 * (Redis with per-agent gauges and an in-process worker's counters; the
 * embedded engine with its store, drain and sweep), pools and their denials
 * included. promtool prints nothing and exits 0 on a clean exposition.
 *
 * promtool comes from Debian's `prometheus` package (.ci/run installs it).
 * Without it the test is skipped with a message, except on CI (CI=true),
 * where it fails.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditWorkerStats } from '../../src/audit/drain/index.js';
import { type Api, startApi } from './harness.js';

const READ = 'test-read-token-promtool-0123456789';
const hasPromtool = (() => {
  const r = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return r.error === undefined && r.status === 0;
})();
const onCi = process.env.CI === 'true';
const skip = !hasPromtool && !onCi;
if (skip) {
  console.warn(
    'test/api/promtool.test.ts: promtool not found, skipped (apt-get install prometheus; never skipped on CI)',
  );
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Decisions, settles, usage and their replays, as a fleet makes them. */
async function traffic(api: Api): Promise<void> {
  const post = async (key: string, path: string, body: Record<string, unknown>) => {
    const r = await api.call('POST', path, { token: key, body });
    expect(r.status, `${path} ${JSON.stringify(body)}: ${r.text}`).toBe(200);
    return r.body;
  };
  const coder = await api.agent('coder');
  const tester = await api.agent('tester');
  const stranger = await api.agent(`custom-${randomBytes(3).toString('hex')}`);
  for (const a of [coder, tester, stranger]) {
    const d = await post(a.key, '/v1/authorize', {
      agent_id: a.id,
      operation: 'read_file',
      estimated_tokens: 500,
      request_id: `r-${a.id}`,
    });
    await post(a.key, '/v1/authorize', {
      agent_id: a.id,
      operation: 'read_file',
      estimated_tokens: 500,
      request_id: `r-${a.id}`,
    });
    if (d.allowed) {
      const settle = {
        reservation_id: d.reservation_id,
        input_tokens: 700,
        output_tokens: 100,
        result: 'success',
      };
      await post(a.key, '/v1/settle', settle);
      await post(a.key, '/v1/settle', settle);
    }
    await post(a.key, '/v1/authorize', { agent_id: a.id, operation: 'deploy' });
    await post(a.key, '/v1/usage', { agent_id: a.id, input_tokens: 20, output_tokens: 5 });
  }
  const m = await post(coder.key, '/v1/authorize', {
    agent_id: coder.id,
    operation: 'model_call',
    model: 'gpt-4o',
    hold: { input_tokens: 100, output_tokens: 50 },
  });
  expect(m.allowed).toBe(true);
  await post(coder.key, '/v1/settle', {
    reservation_id: m.reservation_id,
    model: 'gpt-4o',
    input_tokens: 100,
    output_tokens: 40,
    cache_read_tokens: 50,
    result: 'success',
  });
  // A pool tree with every limit, an agent in its leaf: a settle, a hold, a pool's denial.
  const root = `pm-${randomBytes(4).toString('hex')}`;
  const leaf = `${root}-leaf`;
  for (const body of [
    { pool_id: root, daily_cost_limit: 5, monthly_cost_limit: 50, requests_per_minute: 600 },
    { pool_id: leaf, parent_id: root, daily_cost_limit: 0.2, tokens_per_minute: 100_000 },
  ]) {
    const r = await api.call('POST', '/v1/pools', { body });
    expect(r.status, r.text).toBe(201);
  }
  const reg = await api.call('POST', '/v1/agents', {
    body: { agent_id: `${leaf}-a`, role: 'coder', pool_id: leaf },
  });
  expect(reg.status, reg.text).toBe(201);
  const member = { id: `${leaf}-a`, key: reg.body.api_key as string };
  const held = { agent_id: member.id, operation: 'read_file', estimated_tokens: 10_000 };
  const p = await post(member.key, '/v1/authorize', held);
  await post(member.key, '/v1/settle', {
    reservation_id: p.reservation_id,
    input_tokens: 600,
    output_tokens: 200,
    result: 'success',
  });
  await post(member.key, '/v1/authorize', held);
  expect((await post(member.key, '/v1/authorize', held)).exceeded).toBe('pool');
  // A 404 and a 401, for the HTTP families.
  await api.call('GET', '/v1/nowhere');
  await api.call('GET', '/v1/dashboard', { token: 'not-a-token-at-all' });
}

/** promtool's verdict on a scrape made with the read-only token. */
async function check(api: Api): Promise<{ status: number | null; out: string; text: string }> {
  const r = await api.call('GET', '/metrics', { token: READ });
  expect(r.status).toBe(200);
  // promtool passes empty input: make sure there is something to lint.
  expect(r.text).toContain('# TYPE tollgate_decisions_total counter');
  expect(r.text).toContain('# TYPE tollgate_role_spend_usd_total counter');
  expect(r.text).toContain('# TYPE tollgate_pool_denials_total counter');
  expect(r.text).toMatch(/^tollgate_pool_cost_utilization_ratio\{pool="pm-/m);
  const p = spawnSync('promtool', ['check', 'metrics'], { input: r.text, encoding: 'utf8' });
  return { status: p.status, out: `${p.stdout ?? ''}${p.stderr ?? ''}`, text: r.text };
}

describe.skipIf(skip)('promtool check metrics', () => {
  it('promtool is installed (CI)', () => {
    expect(hasPromtool, 'promtool is missing: apt-get install prometheus (.ci/run does)').toBe(
      true,
    );
  });

  it('Redis, per-agent gauges, an in-process worker: clean', async () => {
    const stats: AuditWorkerStats = {
      drains: 3,
      failures: 1,
      stalled: 0,
      stored: 10,
      duplicates: 1,
      deadLettered: 0,
      claimed: 0,
      sweeps: 2,
      sweptAgents: 5,
      sweepFreed: 1,
      repairs: 0,
      lastError: null,
    };
    const api = await startApi({
      app: {
        readToken: READ,
        metrics: { perAgentMetrics: true, worker: { stats: () => ({ ...stats }) } },
      },
    });
    try {
      await traffic(api);
      const r = await check(api);
      expect(r.text).toContain('tollgate_agent_session_tokens_used');
      expect(r.text).toContain('tollgate_drain_failures_total');
      expect(r.out).toBe('');
      expect(r.status).toBe(0);
    } finally {
      await api.close();
    }
  });

  it('embedded, with its store, drain and sweep: clean', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-promtool-'));
    dirs.push(dir);
    const api = await startApi({
      tollgate: { redis: undefined, store: { dataDir: dir } },
      app: { readToken: READ },
    });
    try {
      await traffic(api);
      await api.tg.drain?.flush();
      const r = await check(api);
      expect(r.text).toContain('tollgate_drain_last_success_timestamp_seconds');
      expect(r.out).toBe('');
      expect(r.status).toBe(0);
    } finally {
      await api.close();
    }
  });
});
