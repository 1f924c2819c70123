import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type AuditEvent, parseOutboxFields } from '../../src/audit/event.js';
import { type AuditStore, createStore, MIGRATIONS } from '../../src/audit/store/index.js';
import { PGliteStore } from '../../src/audit/store/pglite.js';
import { PostgresStore } from '../../src/audit/store/postgres.js';
import { MemoryEngine } from '../../src/engine/memory/index.js';
import { eventId, RandomPool } from '../../src/engine/random.js';
import { createTollgate } from '../../src/index.js';

const DAY = 86_400_000;

// ------------------------------------------------------------------ harness

type Kind = 'postgres' | 'pglite';

interface Harness {
  /** A store on fresh tables (PostgreSQL: a new schema in the run's database; PGlite: a new dir). */
  fresh(): Promise<{ store: AuditStore; where: string }>;
  /** Another store on the same tables. */
  open(where: string): Promise<AuditStore>;
  /** Rows of a SQL query, run on the store's own connection. */
  sql<R>(store: AuditStore, text: string): Promise<R[]>;
  cleanup(): Promise<void>;
}

function harness(kind: Kind): Harness {
  const stores: AuditStore[] = [];
  const dirs: string[] = [];
  const track = <S extends AuditStore>(s: S) => {
    stores.push(s);
    return s;
  };
  if (kind === 'postgres') {
    const databaseUrl = inject('databaseUrl');
    const open = async (schema: string) => track(await PostgresStore.open({ databaseUrl, schema }));
    return {
      async fresh() {
        const where = `t_${randomBytes(6).toString('hex')}`;
        return { store: await open(where), where };
      },
      open,
      sql: async (s, text) => (await (s as PostgresStore).pool.query(text)).rows,
      async cleanup() {
        await Promise.allSettled(stores.map((s) => s.close()));
      },
    };
  }
  const open = async (dataDir: string) => track(await PGliteStore.open({ dataDir }));
  return {
    async fresh() {
      const where = await mkdtemp(join(tmpdir(), 'tollgate-pglite-'));
      dirs.push(where);
      return { store: await open(where), where };
    },
    open,
    sql: async (s, text) => (await (s as PGliteStore).pg.query(text)).rows as never[],
    async cleanup() {
      await Promise.allSettled(stores.map((s) => s.close()));
      await Promise.allSettled(dirs.map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

// ---------------------------------------------------------------- events

const uid = (p: string) => `${p}-${randomBytes(5).toString('hex')}`;

/** Newest first by (at, event_id), the store's page order. */
const newestFirst = (a: AuditEvent, b: AuditEvent) =>
  b.at - a.at || (a.event_id < b.event_id ? 1 : a.event_id > b.event_id ? -1 : 0);

async function allEvents(store: AuditStore, agentId?: string): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.queryEvents({
      limit: 1000,
      ...(agentId === undefined ? {} : { agentId }),
      ...(cursor === undefined ? {} : { cursor }),
    });
    out.push(...page.events);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return out;
}

/**
 * Real events: a Tollgate on MemoryEngine taken through every kind of event.
 * The clock steps 2 ms between operations, so state events have distinct times.
 */
async function scenario() {
  const engine = new MemoryEngine();
  const tg = await createTollgate({ engine });
  let offset = 0;
  const step = () => {
    offset += 2;
    engine.setClockOffsetForTests(offset);
  };
  const a = uid('st-a');
  const b = uid('st-b');
  const c = uid('st-c');
  const ended: Awaited<ReturnType<typeof tg.identity.endSession>>[] = [];

  const rec = await tg.identity.registerAgent(a, 'coder', {
    note: 'quotes " and \\ backslash, {braces}, NULL, ü, 日本',
  });
  step();
  const d1 = await tg.guard.checkPermission(a, 'read_file', {
    estimatedTokens: 1000,
    requestId: 'r-1',
  });
  if (!d1.allowed) throw new Error('denied');
  step();
  await tg.guard.recordOperation(
    a,
    'read_file',
    { inputTokens: 300, outputTokens: 200 },
    'success',
    d1.reservation_id,
  );
  step();
  const d2 = await tg.guard.checkPermission(a, 'write_file');
  if (d2.allowed) await tg.guard.releaseReservation(d2.reservation_id);
  step();
  await tg.guard.checkPermission(a, 'deploy'); // RBAC_DENIED: blocked
  step();
  await tg.budget.deductBudget(a, 10, 10);
  step();
  ended.push(await tg.identity.endSession(rec.session_id));
  step();
  // A hold made in session 2, settled after session 3 began: its tokens count
  // for no current session, its cost for the day.
  const d3 = await tg.guard.checkPermission(a, 'read_file', { estimatedTokens: 2000 });
  if (!d3.allowed) throw new Error('denied');
  step();
  const d4 = await tg.guard.checkPermission(a, 'run_tests', { estimatedTokens: 500 });
  if (!d4.allowed) throw new Error('denied');
  step();
  await tg.guard.recordOperation(
    a,
    'run_tests',
    { inputTokens: 100, outputTokens: 50 },
    'failure',
    d4.reservation_id,
  );
  step();
  await tg.guard.checkPermission(a, 'deploy');
  step();
  const s2 = (await tg.budget.getBudgetStatus(a))?.session.session_id as string;
  ended.push(await tg.identity.endSession(s2));
  step();
  await tg.guard.recordOperation(
    a,
    'read_file',
    { inputTokens: 700, outputTokens: 300 },
    'success',
    d3.reservation_id,
  );
  step();
  await tg.budget.deductBudget(a, 5, 5);
  step();
  await tg.guard.checkPermission(a, 'deploy');
  step();
  await tg.guard.checkPermission(a, 'read_file', { estimatedTokens: 100_000 }); // BUDGET_EXCEEDED
  step();
  await tg.identity.suspendAgent(a);
  step();
  await tg.guard.checkPermission(a, 'read_file'); // AGENT_SUSPENDED: blocked
  step();
  await tg.identity.resumeAgent(a);
  step();
  await tg.identity.rotateKey(a);
  step();
  await tg.budget.setLimits(a, { sessionTokenLimit: 50_000 });
  step();
  await tg.identity.setMetadata(a, { team: 'b' });
  step();
  // An open hold at the end: not spend, not in any sum.
  await tg.guard.checkPermission(a, 'read_file', { estimatedTokens: 100 });
  step();

  await tg.identity.registerAgent(b, 'tester');
  step();
  await tg.budget.deductBudget(b, 1000, 1000);
  step();
  await tg.identity.deleteAgent(b);
  step();

  await tg.identity.registerAgent(c, 'reviewer');
  step();
  await tg.identity.deleteAgent(c);
  step();
  await tg.identity.registerAgent(c, 'admin');
  step();
  await tg.budget.deductBudget(c, 40, 2);
  await tg.guard.checkPermission(c, 'no_such_operation');
  await tg.guard.checkPermission(uid('st-ghost'), 'read_file'); // AGENT_NOT_FOUND

  const events = (await engine.readOutbox()).map((e) => parseOutboxFields(e.fields));
  return { engine, tg, a, b, c, ended, events };
}

/** Synthetic decision events for one agent: `n` of them, `perMs` sharing each ms. */
function synthetic(agentId: string, n: number, base: number, perMs = 1): AuditEvent[] {
  const rnd = new RandomPool();
  const out: AuditEvent[] = [];
  for (let i = 0; i < n; i++) {
    const at = base + Math.floor(i / perMs);
    const allowed = i % 5 !== 0;
    out.push({
      v: 1,
      event_id: eventId(at, rnd.eventTail(), i % 256),
      at,
      type: i % 11 === 0 ? 'usage' : 'decision',
      agent_id: agentId,
      actor: 'agent',
      session_id: `${agentId}.0000010123456789`,
      role: 'coder',
      operation: 'read_file',
      allowed: i % 11 === 0 ? null : allowed,
      error_code: allowed ? null : 'BUDGET_EXCEEDED',
      exceeded: allowed ? null : 'session',
      estimated_tokens: 5000,
      input_tokens: i % 11 === 0 ? 120 : null,
      output_tokens: i % 11 === 0 ? 80 : null,
      cost: allowed ? 75_000 : 0,
      model: 'default',
      reservation_id: allowed ? `${agentId}.${(i + 1).toString(16).padStart(16, '0')}` : null,
      request_id: i % 3 === 0 ? `req-${i}` : null,
      result: null,
      session_utilization: (i % 100) / 100,
      daily_utilization: 0.125,
      tokens_used: null,
      operations_blocked: null,
      session_started_at: null,
      state: null,
    });
  }
  return out;
}

function chunks<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

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
          sessionTokens: s.sessionTokensUsed,
          sessionCost: s.sessionCostMicros,
          sessionBlocked: s.operationsBlocked,
        });
      }
      const ta = sums.find((t) => t.agentId === a);
      // deploy, over the session limit, and read_file while suspended
      expect(ta?.sessionBlocked).toBe(3);
      expect(ta?.sessionTokens).toBe(10); // the late settle of session 2's hold is not in it
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

  it('insert rate: 50,000 events in batches of 1,000 (printed, not asserted)', async () => {
    const { store } = await h.fresh();
    const batches = chunks(synthetic(uid('rate'), 50_000, Date.now() - 60_000, 10), 1000);
    await store.insertEvents(synthetic(uid('warm'), 1000, Date.now(), 10)); // warm-up
    const t0 = performance.now();
    let n = 0;
    for (const b of batches) n += await store.insertEvents(b);
    const s = (performance.now() - t0) / 1000;
    expect(n).toBe(50_000);
    console.log(
      `[store] ${kind}: inserted 50,000 events in batches of 1,000 in ${s.toFixed(2)} s = ${Math.round(
        50_000 / s,
      ).toLocaleString('en-US')} events/s`,
    );
  }, 120_000);
});
