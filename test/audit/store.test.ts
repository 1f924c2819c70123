import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/event.js';
import { type AuditStore, createStore, MIGRATIONS } from '../../src/audit/store/index.js';
import { PostgresStore } from '../../src/audit/store/postgres.js';
import { eventId, RandomPool } from '../../src/engine/random.js';
import {
  allEvents,
  chunks,
  DAY,
  harness,
  newestFirst,
  scenario,
  synthetic,
  uid,
} from './store-harness.js';

// ------------------------------------------------------------------ suite

describe.each(['postgres', 'pglite'] as const)('audit store on %s', (kind) => {
  const h = harness(kind);
  afterAll(() => h.cleanup());

  it('createStore picks this store and migrates', async () => {
    const store =
      kind === 'postgres'
        ? await createStore({
            databaseUrl: inject('databaseUrl'),
            schema: `t_${randomBytes(6).toString('hex')}`,
          })
        : await createStore({ dataDir: await mkdtemp(join(tmpdir(), 'tollgate-pglite-')) });
    try {
      expect(store.kind).toBe(kind);
      expect(await store.agents()).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('migrations are idempotent, and safe when run at once', async () => {
    const { store, where } = await h.fresh();
    await store.migrate();
    await Promise.all([store.migrate(), store.migrate(), store.migrate()]);
    if (kind === 'postgres') {
      // Two "processes" starting together on fresh tables.
      const fresh = `t_${randomBytes(6).toString('hex')}`;
      const [x, y] = await Promise.all([h.open(fresh), h.open(fresh)]);
      const v = await h.sql<{ version: number }>(x, 'SELECT version FROM schema_migrations');
      expect(v.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(await y.agents()).toEqual([]);
    }
    const again = kind === 'postgres' ? await h.open(where) : store;
    const rows = await h.sql<{ version: number; name: string }>(
      again,
      'SELECT version, name FROM schema_migrations ORDER BY version',
    );
    expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
  });

  it('insert, then the same again: 0 new, no duplicates', async () => {
    const { store } = await h.fresh();
    const agent = uid('dup');
    const events = synthetic(agent, 1500, Date.now(), 3);
    expect(await store.insertEvents(events.slice(0, 1000))).toBe(1000);
    expect(await store.insertEvents(events.slice(0, 1000))).toBe(0);
    // Overlapping batch, and an event twice in one batch.
    const tail = events.slice(900);
    expect(await store.insertEvents([...tail, tail[0] as AuditEvent])).toBe(500);
    expect(await store.insertEvents([])).toBe(0);
    const stored = await allEvents(store, agent);
    expect(stored).toHaveLength(1500);
    expect(new Set(stored.map((e) => e.event_id)).size).toBe(1500);
    const [{ n }] = (await h.sql<{ n: string | number }>(
      store,
      'SELECT count(*) AS n FROM audit_events',
    )) as [{ n: string | number }];
    expect(Number(n)).toBe(1500);
  });

  it('every field of real engine events round-trips', async () => {
    const { store } = await h.fresh();
    const { events, tg } = await scenario();
    try {
      expect(await store.insertEvents(events)).toBe(events.length);
      const stored = await allEvents(store);
      expect(stored).toEqual([...events].sort(newestFirst));
      // The scenario exercises every type and every field with a value.
      expect(new Set(stored.map((e) => e.type)).size).toBe(13);
      const keys = Object.keys(events[0] as AuditEvent) as (keyof AuditEvent)[];
      for (const k of keys) {
        expect(
          stored.some((e) => e[k] !== null),
          `some event has ${k}`,
        ).toBe(true);
      }
      const later = Math.max(...events.map((e) => e.at)) + 1000;
      const odd = {
        ...(events[0] as AuditEvent),
        at: later,
        event_id: eventId(later, new RandomPool().eventTail(), 0),
        model: 'm"o\\d,e{l}',
        result: 'NULL',
        request_id: '',
        session_utilization: 1e-7,
        daily_utilization: 123.456789,
      };
      await store.insertEvents([odd]);
      const back = await store.queryEvents({ agentId: odd.agent_id, limit: 1 });
      expect(back.events[0]).toEqual(odd);
    } finally {
      await tg.close();
    }
  });

  it('projects the registry and the session log; recovery totals equal the engine', async () => {
    const { store } = await h.fresh();
    const { engine, tg, a, b, c, ended, events } = await scenario();
    try {
      await store.insertEvents(events.slice(0, 7));
      await store.insertEvents(events.slice(7));
      const stored = await store.agents();
      expect(stored.map((x) => x.agentId)).toEqual([a, c].sort());
      for (const x of stored) {
        const raw = await engine.getAgent(x.agentId);
        if (!raw) throw new Error('missing');
        expect(x).toMatchObject({
          role: raw.status.role,
          status: raw.status.status,
          sessionId: raw.status.sessionId,
          sessionStartedAt: raw.status.sessionStartedMs,
          sessionTokenLimit: raw.status.sessionTokenLimit,
          dailyCostLimit: raw.status.dailyLimitMicros,
          keyDigest: raw.keyDigest,
          createdAt: raw.createdMs,
          metadata: raw.metadata,
        });
      }
      expect(stored.find((x) => x.agentId === a)?.metadata).toBe('{"team":"b"}');

      const sums = await store.totals(Math.floor(Date.now() / DAY) * DAY);
      expect(sums.map((t) => t.agentId)).toEqual([a, c].sort());
      for (const t of sums) {
        const s = await engine.status(t.agentId);
        if (!s) throw new Error('missing');
        expect(Math.floor(s.nowMs / DAY) * DAY).toBe(Math.floor(Date.now() / DAY) * DAY);
        expect(t).toEqual({
          agentId: t.agentId,
          dayCost: s.dailyCostMicros,
          dayOverrunCost: s.dailyOverrunMicros,
          monthCost: s.monthlyCostMicros,
          monthOverrunCost: s.monthlyOverrunMicros,
          sessionTokens: s.sessionTokensUsed,
          sessionCost: s.sessionCostMicros,
          sessionOverrunTokens: s.sessionOverrunTokens,
          sessionBlocked: s.operationsBlocked,
        });
      }
      const ta = sums.find((t) => t.agentId === a);
      // deploy, over the session limit, and read_file while suspended
      expect(ta?.sessionBlocked).toBe(3);
      // The late settle of session 2's hold (1,000) counts for session 3, with usage (10) and
      // the settle above its hold (400, 300 of them over).
      expect(ta?.sessionTokens).toBe(1410);
      expect(ta?.sessionOverrunTokens).toBe(300);
      // 300 in at $3/M + 100 out at $15/M = 2,400 µ$, on a hold of 100 at $15/M = 1,500 µ$.
      expect(ta?.dayOverrunCost).toBe(900);
      // Yesterday and tomorrow: no spend.
      const yday = await store.totals(Math.floor(Date.now() / DAY) * DAY - DAY);
      expect(yday.every((t) => t.dayCost === 0)).toBe(true);

      const log = await store.sessionSummaries(a);
      expect(log).toEqual(
        [...ended].reverse().map((e) => ({
          agentId: a,
          sessionId: e.session_id,
          startedAt: Date.parse(e.started_at),
          endedAt: Date.parse(e.ended_at),
          tokensUsed: e.tokens_used,
          cost: Math.round(e.cost_incurred * 1_000_000),
          operationsBlocked: e.operations_blocked,
        })),
      );
      expect(log[1]).toMatchObject({ tokensUsed: 520, operationsBlocked: 1 });
      expect(await store.sessionSummaries(b)).toEqual([]);
    } finally {
      await tg.close();
    }
  });

  it('projection does not depend on batch order', async () => {
    const { events, tg } = await scenario();
    await tg.close();
    const { store: inOrder } = await h.fresh();
    await inOrder.insertEvents(events);
    const { store: reversed } = await h.fresh();
    for (const batch of chunks(events, 3).reverse()) await reversed.insertEvents(batch);
    const { store: shuffled } = await h.fresh();
    const parts = chunks(events, 2);
    for (let i = parts.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [parts[i], parts[j]] = [parts[j] as AuditEvent[], parts[i] as AuditEvent[]];
    }
    for (const batch of parts) await shuffled.insertEvents(batch);
    // Redelivering everything changes nothing.
    expect(await shuffled.insertEvents(events)).toBe(0);

    const day = Math.floor(Date.now() / DAY) * DAY;
    const expected = {
      agents: await inOrder.agents(),
      totals: await inOrder.totals(day),
      log: await Promise.all(
        [...new Set(events.map((e) => e.agent_id))].map((id) => inOrder.sessionSummaries(id)),
      ),
    };
    expect(expected.agents).toHaveLength(2);
    for (const s of [reversed, shuffled]) {
      expect(await s.agents()).toEqual(expected.agents);
      expect(await s.totals(day)).toEqual(expected.totals);
      expect(
        await Promise.all(
          [...new Set(events.map((e) => e.agent_id))].map((id) => s.sessionSummaries(id)),
        ),
      ).toEqual(expected.log);
    }
  });

  it('state events in the same ms: the later in outbox order wins', async () => {
    const { store } = await h.fresh();
    const { events, tg, a } = await scenario();
    await tg.close();
    const mine = events.filter((e) => e.agent_id === a && e.state !== null);
    const reg = mine[0] as AuditEvent;
    const at = reg.at + 1_000_000;
    const rnd = new RandomPool();
    const at1 = (e: AuditEvent, status: 'active' | 'suspended'): AuditEvent => ({
      ...e,
      event_id: eventId(at, rnd.eventTail(), 0),
      at,
      state: { ...(e.state as NonNullable<AuditEvent['state']>), status },
    });
    await store.insertEvents([reg]);
    await store.insertEvents([at1(reg, 'suspended'), at1(reg, 'active')]);
    expect((await store.agents())[0]?.status).toBe('active');
    await store.insertEvents([at1(reg, 'active'), at1(reg, 'suspended')]);
    expect((await store.agents())[0]?.status).toBe('suspended');
    // An older event delivered late changes nothing.
    await store.insertEvents([{ ...at1(reg, 'active'), at: at - 5 }]);
    expect((await store.agents())[0]).toMatchObject({ status: 'suspended', updatedAt: at });
  });

  it('pages by cursor: 2,500 events in pages of 1,000, no gaps, no repeats', async () => {
    const { store } = await h.fresh();
    const agent = uid('page');
    const events = synthetic(agent, 2500, Date.now() - 10_000, 7);
    const other = synthetic(uid('other'), 300, Date.now() - 10_000, 7);
    for (const batch of chunks([...events, ...other], 1000).reverse()) {
      await store.insertEvents(batch);
    }
    const seen: AuditEvent[] = [];
    const sizes: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.queryEvents({ agentId: agent, limit: 1000, cursor });
      sizes.push(page.events.length);
      seen.push(...page.events);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(sizes).toEqual([1000, 1000, 500]);
    expect(seen).toEqual([...events].sort(newestFirst));
    // Unfiltered, over both agents, and a limit above the cap.
    const all = await store.queryEvents({ limit: 5000 });
    expect(all.events).toHaveLength(1000);
    expect((await allEvents(store)).length).toBe(2800);
    // Default page size, and a page that ends exactly at the end.
    expect((await store.queryEvents({ agentId: agent })).events).toHaveLength(100);
    const pages: [number, boolean][] = [];
    cursor = undefined;
    do {
      const page = await store.queryEvents({ agentId: agent, limit: 500, cursor });
      pages.push([page.events.length, page.nextCursor !== undefined]);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(pages).toEqual([...Array(4).fill([500, true]), [500, false]]);
  });

  it('filters: agent, type, allowed, from, to', async () => {
    const { store } = await h.fresh();
    const agent = uid('filter');
    const base = 1_800_000_000_000;
    const events = synthetic(agent, 300, base, 2); // at: base .. base + 149
    await store.insertEvents(events);
    await store.insertEvents(synthetic(uid('noise'), 100, base, 2));
    const q = async (f: Parameters<AuditStore['queryEvents']>[0]) =>
      (await store.queryEvents({ limit: 1000, ...f })).events;
    const ids = (xs: AuditEvent[]) => new Set(xs.map((e) => e.event_id));
    const want = (p: (e: AuditEvent) => boolean) => ids(events.filter(p));

    expect(ids(await q({ agentId: agent }))).toEqual(ids(events));
    expect(ids(await q({ agentId: agent, type: 'usage' }))).toEqual(
      want((e) => e.type === 'usage'),
    );
    expect(ids(await q({ agentId: agent, allowed: false }))).toEqual(
      want((e) => e.allowed === false),
    );
    expect(ids(await q({ agentId: agent, allowed: true, type: 'decision' }))).toEqual(
      want((e) => e.allowed === true && e.type === 'decision'),
    );
    expect(ids(await q({ agentId: agent, from: base + 100 }))).toEqual(
      want((e) => e.at >= base + 100),
    );
    expect(ids(await q({ agentId: agent, to: base + 10 }))).toEqual(want((e) => e.at < base + 10));
    expect(ids(await q({ agentId: agent, from: base + 10, to: base + 20, allowed: true }))).toEqual(
      want((e) => e.at >= base + 10 && e.at < base + 20 && e.allowed === true),
    );
    expect(await q({ from: base + 150 })).toEqual([]);
    expect((await q({ from: base, to: base + 1 })).length).toBe(4); // 2 per ms per agent

    await expect(store.queryEvents({ cursor: 'not-a-cursor' })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    await expect(store.queryEvents({ limit: 0 })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
  });

  if (kind === 'postgres') {
    it('a database that cannot be reached is STORE_UNAVAILABLE', async () => {
      const store = new PostgresStore({
        databaseUrl: 'postgres://postgres@127.0.0.1:1/nowhere',
        connectionTimeoutMillis: 2000,
      });
      try {
        await expect(store.queryEvents({})).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
        await expect(store.migrate()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      } finally {
        await store.close();
      }
    });
  }

  if (kind === 'pglite') {
    it('persists: close, reopen the same data dir, everything is still there', async () => {
      const { store, where } = await h.fresh();
      const { events, tg } = await scenario();
      await tg.close();
      await store.insertEvents(events);
      const agents = await store.agents();
      const day = Math.floor(Date.now() / DAY) * DAY;
      const sums = await store.totals(day);
      await store.close();
      const again = await h.open(where);
      expect(await allEvents(again)).toEqual([...events].sort(newestFirst));
      expect(await again.agents()).toEqual(agents);
      expect(await again.totals(day)).toEqual(sums);
      expect(await again.insertEvents(events)).toBe(0);
    });
  }
});
