/**
 * The operator's counters (docs/metrics.md): spend and tokens by role for
 * every usage recorded through the API (settles, model-call settles, usage
 * without a hold; replays count nothing), by model for model calls (the
 * price table's names), decisions by outcome with shadow mode's
 * `would_deny`, alert deliveries by outcome, and the Node.js gauges without
 * the `_total` gauges promtool refuses.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTollgate, type Tollgate } from '../../src/index.js';
import {
  ALERT_DELIVERY_OUTCOMES,
  createMetrics,
  DROPPED_DEFAULT_METRICS,
  OTHER_MODEL,
  OTHER_ROLE,
} from '../../src/metrics/index.js';
import { parse, type Sample, types, value } from '../support/prom-text.js';
import { type Api, startApi } from './harness.js';

const hex = () => randomBytes(4).toString('hex');

describe('spend and tokens by role and by model (HTTP)', () => {
  let api: Api;
  let s: Sample[];
  const expected = { coder: 0, tester: 0, other: 0 };
  const tokens = { coder: [0, 0], tester: [0, 0] };

  const call = async (key: string, path: string, body: Record<string, unknown>) => {
    const r = await api.call('POST', path, { token: key, body });
    expect(r.status, r.text).toBe(200);
    return r.body;
  };

  beforeAll(async () => {
    api = await startApi({
      tollgate: {
        policy: { models: { 'priced-a': { input_per_million: 2, output_per_million: 10 } } },
      },
    });
    const coder = await api.agent('coder');
    const tester = await api.agent('tester');
    const custom = await api.agent(`custom-${hex()}`);

    // A settle: counted once, its replay not again.
    const d = await call(coder.key, '/v1/authorize', {
      agent_id: coder.id,
      operation: 'write_file',
      estimated_tokens: 1000,
    });
    const settle = {
      reservation_id: d.reservation_id,
      input_tokens: 600,
      output_tokens: 200,
      result: 'success',
    };
    const settled = await call(coder.key, '/v1/settle', settle);
    expect((await call(coder.key, '/v1/settle', settle)).outcome).toBe('already_closed');
    expected.coder += settled.cost;
    tokens.coder = [600, 200];

    // A model call's settle: by role, and by model under the price table's name.
    const m = await call(coder.key, '/v1/authorize', {
      agent_id: coder.id,
      operation: 'model_call',
      model: 'priced-a',
      hold: { input_tokens: 1000, output_tokens: 500 },
    });
    expect(m.allowed).toBe(true);
    const ms = await call(coder.key, '/v1/settle', {
      reservation_id: m.reservation_id,
      model: 'priced-a',
      input_tokens: 1000,
      output_tokens: 100,
      result: 'success',
    });
    expected.coder += ms.cost;
    tokens.coder = [1600, 300];

    // Usage without a hold: counted once, its replay not again.
    const usage = {
      agent_id: tester.id,
      usage_id: `u-${hex()}`,
      input_tokens: 300,
      output_tokens: 30,
    };
    const u = await call(tester.key, '/v1/usage', usage);
    expect((await call(tester.key, '/v1/usage', usage)).replayed).toBe(true);
    expected.tester += u.cost;
    tokens.tester = [300, 30];

    // A role the policy does not name.
    const c = await call(custom.key, '/v1/usage', {
      agent_id: custom.id,
      input_tokens: 10,
      output_tokens: 10,
    });
    expected.other += c.cost;

    const r = await api.call('GET', '/metrics');
    expect(r.status).toBe(200);
    s = parse(r.text);
  });
  afterAll(() => api.close());

  it('tollgate_role_spend_usd_total: the cost each answer gave, by role', () => {
    expect(expected.coder).toBeGreaterThan(0);
    expect(expected.tester).toBeGreaterThan(0);
    for (const role of ['coder', 'tester', OTHER_ROLE] as const) {
      expect(value(s, 'tollgate_role_spend_usd_total', { role }), role).toBeCloseTo(
        expected[role === OTHER_ROLE ? 'other' : role],
        9,
      );
    }
    // Every role the policy names is there, at 0 until it spends.
    for (const role of api.tg.policy.knownRoles()) {
      expect(value(s, 'tollgate_role_spend_usd_total', { role }), role).toBeDefined();
    }
  });

  it('tollgate_role_tokens_total: input and output tokens by role', () => {
    for (const role of ['coder', 'tester'] as const) {
      expect(value(s, 'tollgate_role_tokens_total', { role, kind: 'input' })).toBe(tokens[role][0]);
      expect(value(s, 'tollgate_role_tokens_total', { role, kind: 'output' })).toBe(
        tokens[role][1],
      );
    }
  });

  it('tollgate_model_spend_usd_total: the model call, under its price-table name', () => {
    // 1000 × $2/M + 100 × $10/M
    expect(value(s, 'tollgate_model_spend_usd_total', { model: 'priced-a' })).toBeCloseTo(0.003, 9);
    expect(value(s, 'tollgate_model_tokens_total', { model: 'priced-a', kind: 'input' })).toBe(
      1000,
    );
  });
});

describe('decisions by outcome, alert deliveries, process metrics', () => {
  let tg: Tollgate;
  beforeAll(async () => {
    tg = await createTollgate();
  });
  afterAll(() => tg.close());

  it('would_deny: an allowed decision shadow mode let pass, with the code it would have denied', async () => {
    const m = createMetrics({ tollgate: tg, defaultMetrics: false });
    const base = { role: 'coder', replayed: false };
    m.decision({ ...base, allowed: true, code: null, wouldDeny: 'BUDGET_EXCEEDED' }, 0.001);
    m.decision({ ...base, allowed: true, code: null }, 0.001);
    m.decision({ ...base, allowed: true, code: null, wouldDeny: null }, 0.001);
    m.decision({ ...base, allowed: false, code: 'RBAC_DENIED', wouldDeny: 'RBAC_DENIED' }, 0.001);
    const s = parse(await m.scrape());
    const d = (outcome: string, code: string) =>
      value(s, 'tollgate_decisions_total', { outcome, code, role: 'coder' });
    expect(d('would_deny', 'BUDGET_EXCEEDED')).toBe(1);
    expect(d('allowed', 'none')).toBe(2);
    // A denial is a denial, whatever else it carries.
    expect(d('denied', 'RBAC_DENIED')).toBe(1);
    expect(d('would_deny', 'RBAC_DENIED')).toBeUndefined();
    expect(value(s, 'tollgate_decision_duration_seconds_count', { outcome: 'would_deny' })).toBe(1);
  });

  it('tollgate_alert_deliveries_total: every outcome from the start, counted by alertDelivery', async () => {
    const m = createMetrics({ tollgate: tg, defaultMetrics: false });
    let s = parse(await m.scrape());
    for (const outcome of ALERT_DELIVERY_OUTCOMES) {
      expect(value(s, 'tollgate_alert_deliveries_total', { outcome })).toBe(0);
    }
    m.alertDelivery('failed', 2);
    m.alertDelivery('delivered');
    m.alertDelivery('dead_lettered');
    s = parse(await m.scrape());
    expect(value(s, 'tollgate_alert_deliveries_total', { outcome: 'failed' })).toBe(2);
    expect(value(s, 'tollgate_alert_deliveries_total', { outcome: 'delivered' })).toBe(1);
    expect(value(s, 'tollgate_alert_deliveries_total', { outcome: 'dead_lettered' })).toBe(1);
  });

  it('the model label takes no name the price table does not know', async () => {
    const m = createMetrics({ tollgate: tg, defaultMetrics: false });
    m.modelCall({
      model: `made-up-${hex()}`,
      costMicros: 5,
      usage: { inputTokens: 1, outputTokens: 1 },
    });
    const s = parse(await m.scrape());
    const models = s
      .filter((x) => x.name === 'tollgate_model_spend_usd_total')
      .map((x) => x.labels.model);
    expect(models).toEqual([OTHER_MODEL]);
  });

  it('Node.js gauges: no `_total` gauge, the by-type gauges that sum to them stay', async () => {
    const m = createMetrics({ tollgate: tg });
    const text = await m.scrape();
    const t = types(text);
    for (const name of DROPPED_DEFAULT_METRICS) expect(t.has(name), name).toBe(false);
    expect(t.get('nodejs_active_handles')).toBe('gauge');
    expect(t.get('nodejs_active_resources')).toBe('gauge');
    expect(t.get('process_cpu_seconds_total')).toBe('counter');
    // The rule promtool applies, checked here too: `_total` is for counters.
    for (const [name, type] of t) {
      if (name.endsWith('_total')) expect(type, name).toBe('counter');
    }
  });
});
