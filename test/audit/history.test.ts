/**
 * The dashboard history's query (src/audit/store/spend.ts `spendHistory`) on
 * PostgreSQL and PGlite, and GET /v1/dashboard/history over it: the settle and
 * usage events of a range of UTC days, by day and over the range by role,
 * model and operation (one GROUPING SETS statement); other types, days outside
 * the range and events without a cost left out.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { AuditEvent, EventType } from '../../src/audit/event.js';
import { type AuditStore, createStore } from '../../src/audit/store/index.js';
import { eventId } from '../../src/engine/random.js';
import { isError, startApi } from '../api/harness.js';

const DAY = 86_400_000;
const D = Date.parse('2026-03-10T00:00:00Z');

let n = 0;
function event(
  at: number,
  type: EventType,
  e: { role?: string | null; model?: string | null; operation?: string; cost: number | null },
  estimated = false,
): AuditEvent {
  n = (n + 1) % 256;
  const spends = type === 'settle' || type === 'usage';
  return {
    v: 1,
    event_id: eventId(at, `-7abc-8def-${randomBytes(6).toString('hex')}`, n),
    at,
    type,
    agent_id: 'hist-a',
    actor: 'library',
    session_id: 'hist-a.0000000000000001',
    role: e.role === undefined ? 'coder' : e.role,
    operation: e.operation ?? 'read_file',
    allowed: type === 'decision' ? true : null,
    error_code: null,
    exceeded: null,
    estimated_tokens: null,
    input_tokens: spends ? 10 : null,
    output_tokens: spends ? 5 : null,
    cost: e.cost,
    model: e.model ?? null,
    reservation_id: null,
    request_id: null,
    result: spends ? 'success' : null,
    session_utilization: null,
    daily_utilization: null,
    tokens_used: null,
    operations_blocked: null,
    session_started_at: null,
    state: null,
    overrun_tokens: type === 'settle' ? 0 : null,
    overrun_cost: type === 'settle' ? 0 : null,
    estimated: type === 'settle' ? estimated : null,
    priced_as: null,
  };
}

const EVENTS: AuditEvent[] = [
  event(D + 1000, 'settle', { cost: 100, model: 'gpt-4o' }),
  event(D + DAY - 1, 'usage', { cost: 50, operation: 'run_tests' }),
  event(D + DAY, 'settle', { role: 'tester', cost: 7, model: 'gpt-4o' }, true),
  event(D + DAY + 5, 'decision', { cost: 999 }), // a hold's price: not spend
  event(D + DAY + 6, 'release', { cost: 5 }),
  event(D + 3 * DAY + 1, 'settle', { role: null, cost: 3, model: 'claude-sonnet-4' }),
  event(D + 3 * DAY + 2, 'usage', { cost: null }), // no cost: left out
  event(D - 1, 'settle', { cost: 11 }), // the day before the range
  event(D + 4 * DAY, 'settle', { cost: 13 }), // the day after it
];

const sums = (costMicros: number, events: number, estimatedEvents = 0) => ({
  costMicros,
  inputTokens: 10 * events,
  outputTokens: 5 * events,
  events,
  estimatedEvents,
});

const dirs: string[] = [];
const stores: AuditStore[] = [];
afterAll(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  await Promise.allSettled(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const KINDS = [
  {
    name: 'PostgreSQL',
    open: () =>
      createStore({
        databaseUrl: inject('databaseUrl'),
        schema: `t_hist_${randomBytes(6).toString('hex')}`,
      }),
  },
  {
    name: 'PGlite',
    open: async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'tollgate-history-'));
      dirs.push(dataDir);
      return createStore({ dataDir });
    },
  },
];

describe.each(KINDS)('spendHistory, $name', (kind) => {
  it('sums the range by day, and by role, model and operation, in one statement', async () => {
    const store = await kind.open();
    stores.push(store);
    expect(await store.insertEvents(EVENTS)).toBe(EVENTS.length);
    expect(await store.spendHistory?.({ from: D, to: D + 4 * DAY })).toEqual({
      days: [
        { day: D, ...sums(150, 2) },
        { day: D + DAY, ...sums(7, 1, 1) },
        { day: D + 3 * DAY, ...sums(3, 1) },
      ],
      byRole: [
        { key: 'coder', ...sums(150, 2) },
        { key: 'tester', ...sums(7, 1, 1) },
        { key: '', ...sums(3, 1) },
      ],
      byModel: [
        { key: 'gpt-4o', ...sums(107, 2, 1) },
        { key: '', ...sums(50, 1) },
        { key: 'claude-sonnet-4', ...sums(3, 1) },
      ],
      byOperation: [
        { key: 'read_file', ...sums(110, 3, 1) },
        { key: 'run_tests', ...sums(50, 1) },
      ],
    });
    const empty = { days: [], byRole: [], byModel: [], byOperation: [] };
    expect(await store.spendHistory?.({ from: D + 10 * DAY, to: D + 20 * DAY })).toEqual(empty);
    await expect(store.spendHistory?.({ from: D + 1, to: D + DAY })).rejects.toThrow(/midnight/);
  });
});

describe('GET /v1/dashboard/history', () => {
  it('answers every day of the range, the sums over it in USD, and refuses bad ranges', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tollgate-history-api-'));
    dirs.push(dataDir);
    const api = await startApi({ tollgate: { redis: undefined, store: { dataDir } } });
    try {
      await api.tg.store?.insertEvents(EVENTS);
      const r = await api.call('GET', '/v1/dashboard/history?from=2026-03-10&to=2026-03-13');
      expect(r.status, r.text).toBe(200);
      const row = (key: string | null, micros: number, events: number, estimated = 0) => ({
        key,
        cost: micros / 1e6,
        cost_micros: micros,
        input_tokens: 10 * events,
        output_tokens: 5 * events,
        events,
        estimated_events: estimated,
      });
      const day = (date: string, micros: number, events: number, estimated = 0) => {
        const { key: _k, ...rest } = row(null, micros, events, estimated);
        return { date, ...rest };
      };
      expect(r.body).toEqual({
        from: '2026-03-10',
        to: '2026-03-13',
        total: 0.00016,
        total_micros: 160,
        days: [
          day('2026-03-10', 150, 2),
          day('2026-03-11', 7, 1, 1),
          day('2026-03-12', 0, 0),
          day('2026-03-13', 3, 1),
        ],
        by_role: [row('coder', 150, 2), row('tester', 7, 1, 1), row(null, 3, 1)],
        by_model: [row('gpt-4o', 107, 2, 1), row(null, 50, 1), row('claude-sonnet-4', 3, 1)],
        by_operation: [row('read_file', 110, 3, 1), row('run_tests', 50, 1)],
      });
      // One day; the default: the last 30 days, today included.
      const one = await api.call('GET', '/v1/dashboard/history?from=2026-03-09&to=2026-03-09');
      expect(one.body.days).toEqual([day('2026-03-09', 11, 1)]);
      const def = await api.call('GET', '/v1/dashboard/history');
      expect(def.status, def.text).toBe(200);
      const today = new Date().toISOString().slice(0, 10);
      expect(def.body.to).toBe(today);
      expect(def.body.days).toHaveLength(30);
      expect(def.body.from).toBe(new Date(Date.parse(today) - 29 * DAY).toISOString().slice(0, 10));
      // 92 days are fine; 93, a reversed range, a bad date are not.
      const long = await api.call('GET', '/v1/dashboard/history?from=2026-01-01&to=2026-04-02');
      expect(long.status, long.text).toBe(200);
      expect(long.body.days).toHaveLength(92);
      for (const bad of [
        'from=2026-01-01&to=2026-04-03',
        'from=2026-03-11&to=2026-03-10',
        'from=2026-02-30',
        'to=yesterday',
        'date=2026-03-10',
      ]) {
        const v = await api.call('GET', `/v1/dashboard/history?${bad}`);
        expect(v.status, bad).toBe(400);
        expect(isError(v, 'VALIDATION_FAILED'), bad).toBe(true);
      }
      const agent = await api.agent('coder');
      const denied = await api.call('GET', '/v1/dashboard/history', { token: agent.key });
      expect(denied.status).toBe(403);
    } finally {
      await api.close();
    }
  });

  it('no store configured: 503 STORE_UNAVAILABLE', async () => {
    const api = await startApi({ tollgate: { redis: undefined } });
    try {
      const r = await api.call('GET', '/v1/dashboard/history');
      expect(r.status).toBe(503);
      expect(r.body.error.details).toEqual({ store: 'not configured' });
    } finally {
      await api.close();
    }
  });
});
