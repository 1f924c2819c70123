/**
 * Spend by model (src/audit/store/spend.ts spendBy) on PostgreSQL and PGlite,
 * migration 4 (a settle's `estimated` and `priced_as`) on a store from before
 * it, and GET /v1/spend with the SDK's `spend()` over it.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditEvent, EventType } from '../../src/audit/event.js';
import { MIGRATIONS, migrate } from '../../src/audit/store/index.js';
import { TollgateClient } from '../../src/client/index.js';
import { eventId, RandomPool } from '../../src/engine/random.js';
import { ADMIN, isError, startApi } from '../api/harness.js';
import { harness, newestFirst, uid } from './store-harness.js';

const DAY = 86_400_000;
const D = Date.parse('2026-03-10T00:00:00Z');
const pool = new RandomPool();
let n = 0;

interface Spend {
  at: number;
  type?: EventType;
  agent?: string;
  role?: string | null;
  operation?: string;
  model?: string | null;
  cost?: number | null;
  input?: number;
  output?: number;
  estimated?: boolean | null;
  pricedAs?: string | null;
}

function event(s: Spend): AuditEvent {
  n = (n + 1) % 4096;
  const type = s.type ?? 'settle';
  return {
    v: 1,
    event_id: eventId(s.at, pool.eventTail(), n),
    at: s.at,
    type,
    agent_id: s.agent ?? 'sm-a',
    actor: 'library',
    session_id: `${s.agent ?? 'sm-a'}.0000000000000001`,
    role: s.role === undefined ? 'coder' : s.role,
    operation: s.operation ?? 'model_call',
    allowed: type === 'decision' ? true : null,
    error_code: null,
    exceeded: null,
    estimated_tokens: type === 'decision' ? 1000 : null,
    input_tokens: s.input ?? 100,
    output_tokens: s.output ?? 10,
    cost: s.cost === undefined ? 1000 : s.cost,
    model: s.model === undefined ? 'gpt-4o' : s.model,
    reservation_id: null,
    request_id: null,
    result: 'success',
    session_utilization: null,
    daily_utilization: null,
    tokens_used: null,
    operations_blocked: null,
    session_started_at: null,
    state: null,
    overrun_tokens: type === 'settle' ? 0 : null,
    overrun_cost: type === 'settle' ? 0 : null,
    estimated: s.estimated === undefined ? (type === 'settle' ? false : null) : s.estimated,
    priced_as: s.pricedAs ?? null,
  };
}

const EVENTS: AuditEvent[] = [
  event({ at: D + 1, cost: 1000, input: 100, output: 10 }),
  event({ at: D + 2, cost: 3000, input: 300, output: 30, estimated: true }),
  event({ at: D + 3, model: 'claude-x', cost: 500_000, input: 5, output: 7, agent: 'sm-b' }),
  event({ at: D + 4, type: 'usage', model: 'claude-x', cost: 2, agent: 'sm-b', role: 'tester' }),
  event({ at: D + 5, model: 'odd-model', pricedAs: 'default', cost: 40, operation: 'other_op' }),
  event({ at: D + 6, model: null, cost: 9, role: null }),
  event({ at: D + 7, type: 'decision', cost: 999_999 }), // a hold's price: not spend
  event({ at: D + 8, type: 'release', cost: 0 }),
  event({ at: D + 9, cost: null }), // no cost: not spend
  event({ at: D - 1, cost: 11 }), // before the range
  event({ at: D + DAY, cost: 13 }), // at its end: excluded
];

describe.each(['postgres', 'pglite'] as const)('spend by model on %s', (kind) => {
  const h = harness(kind);
  afterAll(() => h.cleanup());

  it('sums settle and usage cost and tokens over [from, to) by model, role, operation, agent', async () => {
    const { store } = await h.fresh();
    expect(await store.insertEvents(EVENTS)).toBe(EVENTS.length);
    const q = (groupBy: 'model' | 'role' | 'operation' | 'agent_id', agentId?: string) =>
      store.spendBy?.({ from: D, to: D + DAY, groupBy, agentId });
    const row = (key: string, cost: number, i: number, o: number, ev: number, est = 0) => ({
      key,
      costMicros: cost,
      inputTokens: i,
      outputTokens: o,
      events: ev,
      estimatedEvents: est,
    });
    expect(await q('model')).toEqual([
      row('claude-x', 500_002, 105, 17, 2),
      row('gpt-4o', 4000, 400, 40, 2, 1),
      row('odd-model', 40, 100, 10, 1),
      row('', 9, 100, 10, 1),
    ]);
    expect(await q('role')).toEqual([
      row('coder', 504_040, 505, 57, 4, 1),
      row('', 9, 100, 10, 1),
      row('tester', 2, 100, 10, 1),
    ]);
    expect(await q('operation')).toEqual([
      row('model_call', 504_011, 605, 67, 5, 1),
      row('other_op', 40, 100, 10, 1),
    ]);
    expect(await q('agent_id')).toEqual([
      row('sm-b', 500_002, 105, 17, 2),
      row('sm-a', 4049, 600, 60, 4, 1),
    ]);
    expect(await q('model', 'sm-a')).toEqual([
      row('gpt-4o', 4000, 400, 40, 2, 1),
      row('odd-model', 40, 100, 10, 1),
      row('', 9, 100, 10, 1),
    ]);
    // The range's ends: from inclusive, to exclusive.
    expect(await store.spendBy?.({ from: D - 1, to: D, groupBy: 'model' })).toEqual([
      row('gpt-4o', 11, 100, 10, 1),
    ]);
    expect(await store.spendBy?.({ from: D + DAY, to: D + DAY, groupBy: 'model' })).toEqual([]);
    await expect(store.spendBy?.({ from: D, to: D - 1, groupBy: 'model' })).rejects.toThrow(
      RangeError,
    );
    await expect(
      store.spendBy?.({ from: D, to: D + 1, groupBy: 'cost; DROP TABLE x' as 'model' }),
    ).rejects.toThrow(RangeError);
  });

  it('events keep estimated and priced_as through the store', async () => {
    const { store } = await h.fresh();
    const agent = uid('sm-rt');
    const mine = EVENTS.slice(0, 6).map((e) => ({ ...e, agent_id: agent }));
    await store.insertEvents(mine);
    const back = (await store.queryEvents({ agentId: agent, limit: 100 })).events;
    expect(back).toEqual([...mine].sort(newestFirst));
    expect(back.map((e) => [e.estimated, e.priced_as])).toEqual([
      [false, null],
      [false, 'default'],
      [null, null],
      [false, null],
      [true, null],
      [false, null],
    ]);
  });

  it('migration 4 on a store from before it (versions 1-3): nullable columns, old rows read null', async () => {
    const { where, db } = await h.versionOne();
    await migrate(db, {
      ...(kind === 'postgres' ? { schema: where } : {}),
      migrations: MIGRATIONS.filter((m) => m.version <= 3),
    });
    const old = event({ at: Date.now() - 5_000, agent: uid('sm-v3') });
    await db.query(
      `INSERT INTO audit_events (event_id, v, at, type, agent_id, cost, model, overrun_tokens, overrun_cost)
       VALUES ($1::uuid, 1, $2::bigint, 'settle', $3, 42, 'gpt-4o', 0, 0)`,
      [old.event_id, old.at, old.agent_id],
    );
    await db.close();
    const store = await h.open(where);
    const versions = await h.sql<{ version: number }>(
      store,
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    expect(versions.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
    expect(MIGRATIONS.map((m) => m.version)).toContain(4);
    const cols = await h.sql<{ column_name: string; data_type: string; is_nullable: string }>(
      store,
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'audit_events'
          AND column_name IN ('estimated', 'priced_as') ORDER BY column_name`,
    );
    expect(cols).toEqual([
      { column_name: 'estimated', data_type: 'boolean', is_nullable: 'YES' },
      { column_name: 'priced_as', data_type: 'text', is_nullable: 'YES' },
    ]);
    const [before] = (await store.queryEvents({ agentId: old.agent_id })).events;
    expect(before).toMatchObject({ cost: 42, estimated: null, priced_as: null });
    // The old row counts as spend, not as an estimate.
    const now = Date.now();
    expect(
      await store.spendBy?.({
        from: now - DAY,
        to: now + 1,
        groupBy: 'model',
        agentId: old.agent_id,
      }),
    ).toEqual([
      {
        key: 'gpt-4o',
        costMicros: 42,
        inputTokens: 0,
        outputTokens: 0,
        events: 1,
        estimatedEvents: 0,
      },
    ]);
    // New rows carry theirs.
    const fresh = event({ at: now, agent: old.agent_id, estimated: true, pricedAs: 'default' });
    expect(await store.insertEvents([fresh])).toBe(1);
    expect((await store.queryEvents({ agentId: old.agent_id })).events[0]).toEqual(fresh);
  });
});

describe('GET /v1/spend', () => {
  it('admin: every agent, grouped as asked; an agent key: its own agent only; the SDK', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tollgate-spend-model-'));
    const api = await startApi({ tollgate: { redis: undefined, store: { dataDir } } });
    try {
      const a = await api.agent('coder');
      const b = await api.agent('coder');
      const at = Date.now();
      await api.tg.store?.insertEvents([
        event({ at, agent: a.id, model: 'gpt-4o', cost: 1_500_000, input: 10, output: 2 }),
        event({ at, agent: a.id, model: 'gpt-4o', cost: 500_000, estimated: true }),
        event({ at, agent: b.id, model: 'claude-x', cost: 250_000, input: 1, output: 1 }),
      ]);
      const day = new Date(at).toISOString().slice(0, 10);
      const r = await api.call('GET', `/v1/spend?from=${day}&group_by=model&agent_id=${a.id}`);
      expect(r.status, r.text).toBe(200);
      expect(r.body).toEqual({
        from: `${day}T00:00:00.000Z`,
        to: new Date(Date.parse(day) + DAY).toISOString(),
        group_by: 'model',
        agent_id: a.id,
        rows: [
          {
            key: 'gpt-4o',
            cost: 2,
            cost_micros: 2_000_000,
            input_tokens: 110,
            output_tokens: 12,
            events: 2,
            estimated_events: 1,
          },
        ],
      });
      // Defaults: today, by model, every agent (admin).
      const all = await api.call('GET', '/v1/spend');
      expect(all.status, all.text).toBe(200);
      expect(all.body.agent_id).toBeNull();
      const keys = all.body.rows.map((x: { key: string }) => x.key);
      expect(keys).toEqual(expect.arrayContaining(['gpt-4o', 'claude-x']));
      // An agent key: its own (the default), another agent's is 403.
      const own = await api.call('GET', '/v1/spend?group_by=agent_id', { token: a.key });
      expect(own.status, own.text).toBe(200);
      expect(own.body.agent_id).toBe(a.id);
      expect(own.body.rows.map((x: { key: string }) => x.key)).toEqual([a.id]);
      const other = await api.call('GET', `/v1/spend?agent_id=${b.id}`, { token: a.key });
      expect(other.status).toBe(403);
      // Bad queries: 400.
      for (const bad of ['group_by=cost', 'from=yesterday', `from=${at}&to=${at - 1}`, 'x=1']) {
        const v = await api.call('GET', `/v1/spend?${bad}`);
        expect(v.status, bad).toBe(400);
        expect(isError(v, 'VALIDATION_FAILED'), bad).toBe(true);
      }
      const early = await api.call('GET', `/v1/spend?to=${Date.parse(day) - 1}`);
      expect(early.status, 'to before the default from').toBe(400);
      // The SDK.
      const sdk = new TollgateClient({ baseUrl: api.base, token: ADMIN });
      const s = await sdk.spend({ from: new Date(Date.parse(day)), group_by: 'agent_id' });
      expect(s.rows.find((x) => x.key === b.id)).toMatchObject({
        cost: 0.25,
        cost_micros: 250_000,
        events: 1,
      });
      const mine = new TollgateClient({ baseUrl: api.base, token: a.key });
      expect((await mine.spend()).agent_id).toBe(a.id);
      // The OpenAPI document describes it.
      const doc = await api.call('GET', '/openapi.json', { token: null });
      expect(doc.body.paths['/v1/spend']?.get).toBeDefined();
    } finally {
      await api.close();
    }
  });

  it('no store configured: 503 STORE_UNAVAILABLE', async () => {
    const api = await startApi({ tollgate: { redis: undefined } });
    try {
      const r = await api.call('GET', '/v1/spend');
      expect(r.status).toBe(503);
      expect(isError(r, 'STORE_UNAVAILABLE')).toBe(true);
      expect(r.body.error.details).toEqual({ store: 'not configured' });
    } finally {
      await api.close();
    }
  });
});
