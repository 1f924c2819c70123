/**
 * Alert marks in the deciding scripts (lua/includes/alerts.lua,
 * src/engine/memory/alerts.ts): 50 concurrent workers, spread over several
 * engine instances, cross 80 % of one budget at once: exactly one 80 % alert
 * per budget in the outbox; a raised limit does not fire a threshold again in
 * the same period (the mark, not arithmetic alone); a new session fires again.
 * Then end to end: the same race over HTTP (MemoryEngine, PGlite, the
 * in-process delivery queue) gives one webhook delivery.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseOutboxFields } from '../../src/audit/event.js';
import { alertThresholds } from '../../src/engine/alerts.js';
import { MemoryEngine } from '../../src/engine/memory/index.js';
import type { Engine } from '../../src/engine/types.js';
import { DEFAULT_ALERT_THRESHOLDS } from '../../src/policy/defaults.js';
import { type Api, startApi } from '../api/harness.js';
import { type EngineKind, makeEngine, uid } from '../support/engines.js';
import { startReceiver, until } from './helpers.js';

/** 1 µ$ per token in and out: cost = tokens. */
const RATES = { model: 'm', inputMicrosPerMillion: 1_000_000, outputMicrosPerMillion: 1_000_000 };
const LIMIT = 1_000_000;
/** The policy's default thresholds, as the guard and the budget pass them. */
const ALERTS = alertThresholds(DEFAULT_ALERT_THRESHOLDS);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function engines(kind: EngineKind, n: number): Promise<Engine[]> {
  const out: Engine[] = [];
  for (let i = 0; i < (kind === 'memory' ? 1 : n); i++) {
    const ut = await makeEngine(kind);
    cleanups.push(() => ut.close());
    out.push(ut.engine);
  }
  return out;
}

async function alertsOf(e: Engine, agentId: string) {
  return (await e.readOutbox())
    .filter((x) => x.fields.type === 'budget_alert' && x.fields.agent_id === agentId)
    .map((x) => parseOutboxFields(x.fields));
}

const usage = (e: Engine, agentId: string, tokens: number) =>
  e.recordUsage({
    agentId,
    operation: 'read_file',
    inputTokens: tokens,
    outputTokens: 0,
    rates: RATES,
    result: 'success',
    actor: 'library',
    alerts: ALERTS,
  });

async function pair(e: Engine, agentId: string, tokens: number) {
  const r = await e.authorize({
    agentId,
    operation: 'read_file',
    estimatedTokens: tokens,
    rates: RATES,
    leaseMs: 60_000,
    allowedRoles: ['coder'],
    actor: 'library',
  });
  if (!r.allowed) throw new Error(`denied: ${r.code}`);
  await e.settle({
    reservationId: r.reservationId,
    inputTokens: tokens,
    outputTokens: 0,
    result: 'success',
    actor: 'library',
    alerts: ALERTS,
  });
}

describe.each(['memory', 'redis', 'cluster'] as const)('%s: alert marks', (kind) => {
  it('50 workers on 3 engines cross 80 % at once: one 80 % alert per budget', async () => {
    const es = await engines(kind, 3);
    const e = es[0] as Engine;
    const agentId = uid('cross');
    await e.registerAgent({
      agentId,
      role: 'coder',
      sessionTokenLimit: LIMIT,
      dailyLimitMicros: LIMIT,
      monthlyLimitMicros: LIMIT,
      keyDigest: 'a'.repeat(64),
      metadata: '{}',
      actor: 'admin',
    });
    // 79 %: the 50 % alerts fire here, once each.
    await usage(e, agentId, 790_000);
    const before = await alertsOf(e, agentId);
    expect(before.map((x) => `${x.alert?.budget}:${x.alert?.threshold_pct}`).sort()).toEqual([
      'daily:50',
      'monthly:50',
      'session:50',
    ]);
    // 50 workers × 1,000 tokens: 79 % → 84 %, all at once.
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => pair(es[i % es.length] as Engine, agentId, 1_000)),
    );
    const all = await alertsOf(e, agentId);
    const at80 = all.filter((x) => x.alert?.threshold_pct === 80);
    expect(at80.map((x) => x.alert?.budget).sort()).toEqual(['daily', 'monthly', 'session']);
    expect(all.filter((x) => x.alert?.threshold_pct === 100)).toEqual([]);
    const status = await e.status(agentId);
    const daily = at80.find((x) => x.alert?.budget === 'daily');
    const day = new Date(daily?.at ?? 0).toISOString().slice(0, 10).replaceAll('-', '');
    expect(daily?.alert).toMatchObject({ pool_id: '', period: day, limit: LIMIT });
    expect(daily?.alert?.used).toBeGreaterThanOrEqual(800_000);
    expect(daily?.alert?.used).toBeLessThan(801_000);
    const session = at80.find((x) => x.alert?.budget === 'session');
    expect(session?.alert?.period).toBe(status?.sessionId);
    expect(at80.find((x) => x.alert?.budget === 'monthly')?.alert?.period).toBe(day.slice(0, 6));

    // A raised limit: spend is 42 % of it, crossing 50 % and 80 % of it again fires nothing
    // (the marks of this day, month and session); 100 % fires once.
    await e.updateAgent({
      agentId,
      event: 'limits_changed',
      actor: 'admin',
      set: {
        sessionTokenLimit: 2 * LIMIT,
        dailyLimitMicros: 2 * LIMIT,
        monthlyLimitMicros: 2 * LIMIT,
      },
    });
    await usage(e, agentId, 1_170_000);
    const after = await alertsOf(e, agentId);
    expect(
      after
        .slice(all.length)
        .map((x) => `${x.alert?.budget}:${x.alert?.threshold_pct}`)
        .sort(),
    ).toEqual(['daily:100', 'monthly:100', 'session:100']);

    // A new session is a new period for the session's budget (the day's and month's stay).
    await e.startSession({ agentId, actor: 'library' });
    await usage(e, agentId, 1_000_000);
    const fresh = (await alertsOf(e, agentId)).slice(after.length);
    expect(fresh.map((x) => `${x.alert?.budget}:${x.alert?.threshold_pct}`)).toEqual([
      'session:50',
    ]);
  });

  it('no limit (monthly 0), no alerts for it; a settle that crosses nothing emits none', async () => {
    const [e] = (await engines(kind, 1)) as [Engine];
    const agentId = uid('nolim');
    await e.registerAgent({
      agentId,
      role: 'coder',
      sessionTokenLimit: LIMIT,
      dailyLimitMicros: LIMIT,
      keyDigest: 'a'.repeat(64),
      metadata: '{}',
      actor: 'admin',
    });
    await pair(e, agentId, 1_000);
    expect(await alertsOf(e, agentId)).toEqual([]);
    await usage(e, agentId, 600_000);
    expect((await alertsOf(e, agentId)).map((x) => x.alert?.budget).sort()).toEqual([
      'daily',
      'session',
    ]);
  });
});

describe('end to end over HTTP (MemoryEngine, PGlite, in-process delivery)', () => {
  let dir = '';
  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('50 concurrent HTTP clients cross 80 % of one day: one webhook delivery of it', {
    timeout: 90_000,
  }, async () => {
    dir = mkdtempSync(join(tmpdir(), 'tg-crossing-'));
    const api: Api = await startApi({
      tollgate: {
        engine: new MemoryEngine(),
        store: { dataDir: dir },
        drain: { intervalMs: 20 },
        alerts: {
          backoffMs: 200,
          attempts: 4,
          timeoutMs: 2_000,
          resumeEveryMs: 50,
          log: () => undefined,
        },
      },
    });
    cleanups.push(() => api.close());
    const rx = await startReceiver('up');
    cleanups.push(() => rx.close());
    const hook = await api.call('POST', '/v1/webhooks', {
      body: { url: rx.url, secret: 'crossing-secret-0123456789', events: ['budget_alert'] },
    });
    expect(hook.status, hook.text).toBe(201);

    const agentId = uid('http');
    const reg = await api.call('POST', '/v1/agents', {
      body: { agent_id: agentId, role: 'coder' },
    });
    expect(reg.status, reg.text).toBe(201);
    const key = reg.body.api_key as string;
    const lim = await api.call('PUT', `/v1/agents/${agentId}/budget`, {
      body: { session_token_limit: 100_000_000, daily_cost_limit: 1 },
    });
    expect(lim.status, lim.text).toBe(200);
    const gate = async () => {
      const a = await api.call('POST', '/v1/authorize', {
        token: key,
        body: { agent_id: agentId, operation: 'read_file', estimated_tokens: 1_000 },
      });
      expect(a.status, a.text).toBe(200);
      if (a.body.allowed !== true) return a.body;
      const s = await api.call('POST', '/v1/settle', {
        token: key,
        body: {
          reservation_id: a.body.reservation_id,
          input_tokens: 1_000,
          output_tokens: 0,
          result: 'success',
        },
      });
      expect(s.status, s.text).toBe(200);
      return a.body;
    };
    // Find the cost of one pair, then spend to just under 80 % of $1 with
    // recorded usage, then race 50 pairs across it.
    await gate();
    const st = await api.call('GET', `/v1/agents/${agentId}/budget`, {});
    expect(st.status, st.text).toBe(200);
    const one = Math.round((st.body.daily.cost_used as number) * 1e6);
    expect(one).toBeGreaterThan(0);
    const engine = api.tg.engine as MemoryEngine;
    await engine.recordUsage({
      agentId,
      operation: 'read_file',
      inputTokens: 0,
      outputTokens: 0,
      costMicros: 800_000 - one - 25 * one,
      rates: RATES,
      result: 'success',
      actor: 'library',
    });
    await Promise.all(Array.from({ length: 50 }, gate));
    const at80 = () =>
      rx
        .delivered()
        .map((r) => JSON.parse(r.body.toString()) as Record<string, unknown>)
        .filter((b) => b.agent_id === agentId && b.threshold_pct === 80 && b.budget === 'daily');
    await until('the 80 % alert delivered', () => at80().length >= 1);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(at80()).toHaveLength(1);
    expect(at80()[0]).toMatchObject({ type: 'budget_alert', limit: 1_000_000, pool_id: '' });
  });
});
