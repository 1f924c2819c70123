/**
 * The dashboard chart's query (src/audit/store/spend.ts) on PostgreSQL and
 * PGlite, and GET /v1/dashboard/spend over it: settle and usage events of one
 * UTC day, summed by hour and role; other types, other days and events
 * without a cost left out.
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
const HOUR = 3_600_000;
const D = Date.parse('2026-03-10T00:00:00Z');

let n = 0;
function event(at: number, type: EventType, role: string | null, cost: number | null): AuditEvent {
  n = (n + 1) % 256;
  return {
    v: 1,
    event_id: eventId(at, `-7abc-8def-${randomBytes(6).toString('hex')}`, n),
    at,
    type,
    agent_id: 'spend-a',
    actor: 'library',
    session_id: 'spend-a.0000000000000001',
    role,
    operation: 'read_file',
    allowed: type === 'decision' ? true : null,
    error_code: null,
    exceeded: null,
    estimated_tokens: null,
    input_tokens: type === 'settle' || type === 'usage' ? 10 : null,
    output_tokens: type === 'settle' || type === 'usage' ? 10 : null,
    cost,
    model: null,
    reservation_id: null,
    request_id: null,
    result: type === 'settle' || type === 'usage' ? 'success' : null,
    session_utilization: null,
    daily_utilization: null,
    tokens_used: null,
    operations_blocked: null,
    session_started_at: null,
    state: null,
    overrun_tokens: type === 'settle' ? 0 : null,
    overrun_cost: type === 'settle' ? 0 : null,
    estimated: type === 'settle' ? false : null,
    priced_as: null,
  };
}

const EVENTS: AuditEvent[] = [
  event(D + 10 * 60_000, 'settle', 'coder', 100),
  event(D + HOUR - 1, 'usage', 'coder', 50),
  event(D + HOUR, 'decision', 'coder', 999), // a hold's price: not spend
  event(D + HOUR + 1, 'release', 'coder', 5),
  event(D + 5 * HOUR, 'settle', null, 3), // no role
  event(D + 13 * HOUR, 'settle', 'coder', 7),
  event(D + 13 * HOUR + 30 * 60_000, 'settle', 'tester', 1000),
  event(D + 13 * HOUR + 31 * 60_000, 'usage', 'tester', null),
  event(D + DAY - 1, 'usage', 'coder', 20),
  event(D - 1, 'settle', 'coder', 11), // the day before
  event(D + DAY, 'settle', 'coder', 13), // the day after
];

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
        schema: `t_spend_${randomBytes(6).toString('hex')}`,
      }),
  },
  {
    name: 'PGlite',
    open: async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'tollgate-spend-'));
      dirs.push(dataDir);
      return createStore({ dataDir });
    },
  },
];

describe.each(KINDS)('spendByHour, $name', (kind) => {
  it('sums settle and usage costs of the UTC day by hour and role', async () => {
    const store = await kind.open();
    stores.push(store);
    expect(await store.insertEvents(EVENTS)).toBe(EVENTS.length);
    expect(await store.spendByHour?.(D)).toEqual([
      { hour: 0, role: 'coder', costMicros: 150, events: 2 },
      { hour: 5, role: '', costMicros: 3, events: 1 },
      { hour: 13, role: 'coder', costMicros: 7, events: 1 },
      { hour: 13, role: 'tester', costMicros: 1000, events: 1 },
      { hour: 23, role: 'coder', costMicros: 20, events: 1 },
    ]);
    expect(await store.spendByHour?.(D - DAY)).toEqual([
      { hour: 23, role: 'coder', costMicros: 11, events: 1 },
    ]);
    expect(await store.spendByHour?.(D + 7 * DAY)).toEqual([]);
    await expect(store.spendByHour?.(D + 1)).rejects.toThrow(/midnight/);
  });
});

describe('GET /v1/dashboard/spend', () => {
  it('answers per role, 24 hours in USD, from the store', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tollgate-spend-api-'));
    dirs.push(dataDir);
    const api = await startApi({ tollgate: { redis: undefined, store: { dataDir } } });
    try {
      await api.tg.store?.insertEvents(EVENTS);
      const r = await api.call('GET', '/v1/dashboard/spend?date=2026-03-10');
      expect(r.status, r.text).toBe(200);
      const hours = (set: Record<number, number>) =>
        Array.from({ length: 24 }, (_, h) => set[h] ?? 0);
      expect(r.body).toEqual({
        date: '2026-03-10',
        total: 0.00118,
        roles: [
          { role: '(none)', total: 0.000003, hours: hours({ 5: 0.000003 }) },
          {
            role: 'coder',
            total: 0.000177,
            hours: hours({ 0: 0.00015, 13: 0.000007, 23: 0.00002 }),
          },
          { role: 'tester', total: 0.001, hours: hours({ 13: 0.001 }) },
        ],
      });
      // Default: today (nothing stored today here).
      const today = await api.call('GET', '/v1/dashboard/spend');
      expect(today.body).toEqual({
        date: new Date().toISOString().slice(0, 10),
        total: 0,
        roles: [],
      });
      for (const bad of ['2026-02-30', '2026-3-1', 'yesterday', '2026-03-10T00:00:00Z']) {
        const v = await api.call('GET', `/v1/dashboard/spend?date=${bad}`);
        expect(v.status, bad).toBe(400);
        expect(isError(v, 'VALIDATION_FAILED'), bad).toBe(true);
      }
      const agent = await api.agent('coder');
      expect((await api.call('GET', '/v1/dashboard/spend', { token: agent.key })).status).toBe(403);
    } finally {
      await api.close();
    }
  });

  it('no store configured: 503 STORE_UNAVAILABLE', async () => {
    const api = await startApi({ tollgate: { redis: undefined } });
    try {
      const r = await api.call('GET', '/v1/dashboard/spend');
      expect(r.status).toBe(503);
      expect(isError(r, 'STORE_UNAVAILABLE')).toBe(true);
      expect(r.body.error.details).toEqual({ store: 'not configured' });
    } finally {
      await api.close();
    }
  });
});
