/**
 * The audit store tests' harness (not a test file): fresh stores on
 * PostgreSQL (a schema of the run's database) or PGlite (a data folder), real
 * engine events from a scenario, and synthetic events.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { inject } from 'vitest';
import { type AuditEvent, parseOutboxFields } from '../../src/audit/event.js';
import { type AuditStore, type Db, MIGRATIONS, migrate } from '../../src/audit/store/index.js';
import { PGliteStore, pgliteDb } from '../../src/audit/store/pglite.js';
import { PostgresStore, poolDb } from '../../src/audit/store/postgres.js';
import { MemoryEngine } from '../../src/engine/memory/index.js';
import { eventId, RandomPool } from '../../src/engine/random.js';
import { createTollgate } from '../../src/index.js';

export const DAY = 86_400_000;

// ------------------------------------------------------------------ harness

export type Kind = 'postgres' | 'pglite';

export interface Harness {
  /** A store on fresh tables (PostgreSQL: a new schema in the run's database; PGlite: a new dir). */
  fresh(): Promise<{ store: AuditStore; where: string }>;
  /** Another store on the same tables. */
  open(where: string): Promise<AuditStore>;
  /** Rows of a SQL query, run on the store's own connection. */
  sql<R>(store: AuditStore, text: string): Promise<R[]>;
  /** Fresh tables with migration 1 only (a store from before migration 2), and a Db on them. */
  versionOne(): Promise<{ where: string; db: Db }>;
  cleanup(): Promise<void>;
}

export function harness(kind: Kind): Harness {
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
      async versionOne() {
        const where = `t_${randomBytes(6).toString('hex')}`;
        const pool = new pg.Pool({
          connectionString: databaseUrl,
          options: `-c search_path=${where}`,
        });
        const db = poolDb(pool);
        await migrate(db, { schema: where, migrations: MIGRATIONS.filter((m) => m.version === 1) });
        return { where, db };
      },
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
    async versionOne() {
      const where = await mkdtemp(join(tmpdir(), 'tollgate-pglite-'));
      dirs.push(where);
      const db = pgliteDb(await PGlite.create(where));
      await migrate(db, { migrations: MIGRATIONS.filter((m) => m.version === 1) });
      return { where, db };
    },
    async cleanup() {
      await Promise.allSettled(stores.map((s) => s.close()));
      await Promise.allSettled(dirs.map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

// ---------------------------------------------------------------- events

export const uid = (p: string) => `${p}-${randomBytes(5).toString('hex')}`;

/** Newest first by (at, event_id), the store's page order. */
export const newestFirst = (a: AuditEvent, b: AuditEvent) =>
  b.at - a.at || (a.event_id < b.event_id ? 1 : a.event_id > b.event_id ? -1 : 0);

export async function allEvents(store: AuditStore, agentId?: string): Promise<AuditEvent[]> {
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
export async function scenario() {
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
  // Settled as a metered model call's settle is: its usage an estimate, priced as a named model.
  await engine.settle({
    reservationId: d1.reservation_id,
    inputTokens: 300,
    outputTokens: 200,
    result: 'success',
    actor: 'library',
    estimated: true,
    pricedAs: 'default',
  });
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
  // A hold made in session 2, settled after session 3 began: it moved into
  // session 3, which pays for it (the live session pays); its cost, the day's.
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
  // A settle above its hold (estimate 100, used 400): an overrun of 300 tokens and of its cost.
  const d5 = await tg.guard.checkPermission(a, 'read_file', { estimatedTokens: 100 });
  if (!d5.allowed) throw new Error('denied');
  step();
  await tg.guard.recordOperation(
    a,
    'read_file',
    { inputTokens: 300, outputTokens: 100 },
    'success',
    d5.reservation_id,
  );
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
  // AGENT_NOT_FOUND: no event (nothing is written before the caller is authenticated).
  await tg.guard.checkPermission(uid('st-ghost'), 'read_file');

  const events = (await engine.readOutbox()).map((e) => parseOutboxFields(e.fields));
  return { engine, tg, a, b, c, ended, events };
}

/** Synthetic decision events for one agent: `n` of them, `perMs` sharing each ms. */
export function synthetic(agentId: string, n: number, base: number, perMs = 1): AuditEvent[] {
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
      overrun_tokens: null,
      overrun_cost: null,
      estimated: null,
      priced_as: null,
    });
  }
  return out;
}

export function chunks<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}
