/**
 * Load and ledger helpers for tests that take Redis's data away under
 * traffic (test/audit/drain-heal.test.ts): callers that authorize and settle
 * until stopped, and what the store holds of each of their decisions.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { outboxLag } from '../../src/audit/drain/index.js';
import type { AuditEvent } from '../../src/audit/event.js';
import type { AuditStore } from '../../src/audit/store/index.js';
import { PGliteStore } from '../../src/audit/store/pglite.js';
import type { PostgresStore } from '../../src/audit/store/postgres.js';
import { DEFAULT_SHARDS } from '../../src/engine/keys.js';
import type { Tollgate } from '../../src/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hex = () => randomBytes(4).toString('hex');

/** One decision the load made: its request id, when it was asked, and its settle. */
export interface Call {
  requestId: string;
  agent: string;
  start: number;
  /** Answered (allowed or denied): its decision event was written to Redis. */
  decided: boolean;
  reservation?: string;
  settleStart?: number;
  settled?: boolean;
}

export type Decide = (
  agent: string,
  requestId: string,
) => Promise<{ allowed: boolean; reservation?: string }>;
export type Settle = (agent: string, reservation: string) => Promise<void>;

/** `loops` callers, each authorizing and settling in turn over `agents` until stopped; errors are noted and waited out. */
export function load(agents: string[], decide: Decide, settle: Settle, loops = 8) {
  const calls: Call[] = [];
  let stop = false;
  const run = async (loop: number) => {
    for (let i = 0; !stop; i++) {
      const agent = agents[(loop + i * loops) % agents.length] as string;
      const c: Call = {
        requestId: `heal-${loop}-${i}-${hex()}`,
        agent,
        start: Date.now(),
        decided: false,
      };
      calls.push(c);
      try {
        const d = await decide(agent, c.requestId);
        c.decided = true;
        if (!d.allowed || d.reservation === undefined) continue;
        c.reservation = d.reservation;
        c.settleStart = Date.now();
        await settle(agent, d.reservation);
        c.settled = true;
      } catch {
        await sleep(20); // Redis away, or a hold lost with it: go on
      }
    }
  };
  const running = Array.from({ length: loops }, (_, l) => run(l));
  return {
    calls,
    stop: async () => {
      stop = true;
      await Promise.all(running);
      return calls;
    },
  };
}

async function query<T>(s: AuditStore, sql: string, params: unknown[]): Promise<T[]> {
  if (s instanceof PGliteStore) return (await s.pg.query<T>(sql, params)).rows;
  return (await (s as PostgresStore).pool.query(sql, params)).rows as T[];
}

/** Per request id, its decision events in the store; per reservation, its settle events; rows and distinct event ids. */
async function ledger(s: AuditStore, calls: Call[]) {
  const decisions = new Map<string, number>();
  const settles = new Map<string, number>();
  const ids = calls.map((c) => c.requestId);
  const reservations = calls.flatMap((c) => (c.reservation ? [c.reservation] : []));
  for (const r of await query<{ id: string; n: number }>(
    s,
    `SELECT request_id AS id, count(*)::int AS n FROM audit_events
      WHERE type = 'decision' AND request_id = ANY($1) GROUP BY request_id`,
    [ids],
  )) {
    decisions.set(r.id, Number(r.n));
  }
  for (const r of await query<{ id: string; n: number }>(
    s,
    `SELECT reservation_id AS id, count(*)::int AS n FROM audit_events
      WHERE type = 'settle' AND reservation_id = ANY($1) GROUP BY reservation_id`,
    [reservations],
  )) {
    settles.set(r.id, Number(r.n));
  }
  const [dup] = await query<{ rows: number; distinct: number }>(
    s,
    'SELECT count(*)::int AS rows, count(DISTINCT event_id)::int AS distinct FROM audit_events',
    [],
  );
  return { decisions, settles, rows: Number(dup?.rows), distinct: Number(dup?.distinct) };
}

/** Entries in all the outboxes (not yet stored). */
export async function backlog(redis: Redis): Promise<number> {
  const lag = await outboxLag({ redis, shards: DEFAULT_SHARDS });
  return lag.reduce((n, l) => n + l.backlog, 0);
}

/** Polls until the outboxes are empty; the time it took. */
export async function drained(redis: Redis, timeoutMs = 15_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    if ((await backlog(redis).catch(() => -1)) === 0) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`backlog not drained in ${timeoutMs} ms`);
    await sleep(25);
  }
}

/** More than this many decisions asked for after Redis came back are checked (expectExactlyOnce). */
export const AFTER_MIN = 50;

/**
 * Lets the load run on after Redis came back at `back`: at least `minMs`, then
 * until more than AFTER_MIN of its decisions asked since are answered (a
 * loaded machine answers fewer in a fixed time), at most `timeoutMs` (the
 * tests' drain bound, 10 s from the return, includes this time).
 */
export async function decidedAfter(
  calls: Call[],
  back: number,
  minMs = 1_500,
  timeoutMs = 6_000,
): Promise<void> {
  const started = Date.now();
  await sleep(minMs);
  const after = () => calls.filter((c) => c.start >= back && c.decided).length;
  while (after() <= AFTER_MIN && Date.now() - started < timeoutMs) await sleep(50);
}

/**
 * Checks the store against the calls: a decision asked for after Redis came
 * back (and answered) is stored exactly once, and so is a settle of it that
 * succeeded; one from before may have been lost with Redis, never stored
 * twice; no event is stored twice.
 */
export async function expectExactlyOnce(store: AuditStore, calls: Call[], back: number) {
  const l = await ledger(store, calls);
  expect(l.rows).toBe(l.distinct);
  let after = 0;
  let lost = 0;
  for (const c of calls) {
    const n = l.decisions.get(c.requestId) ?? 0;
    expect(n).toBeLessThanOrEqual(1);
    if (c.start >= back && c.decided) {
      after++;
      expect(n, `decision ${c.requestId} made after the return`).toBe(1);
    } else if (c.decided && n === 0) {
      lost++;
    }
    if (c.reservation !== undefined) {
      const settles = l.settles.get(c.reservation) ?? 0;
      expect(settles).toBeLessThanOrEqual(1);
      if (c.settled && (c.settleStart ?? 0) >= back) expect(settles).toBe(1);
    }
  }
  expect(after).toBeGreaterThan(AFTER_MIN);
  return { after, lost, total: calls.filter((c) => c.decided).length };
}

interface Spend {
  session: string;
  tokens_used: number;
  tokens_overrun: number;
  cost_used: number;
  cost_overrun: number;
  blocked: number;
}

/** The spend a restore must bring back: session and daily counters (not the holds, which are lost). */
async function spend(tg: Tollgate, agents: string[]): Promise<Record<string, Spend>> {
  const out: Record<string, Spend> = {};
  for (const a of agents) {
    const s = await tg.budget.getBudgetStatus(a);
    if (s === null) throw new Error(`agent ${a} not found`);
    out[a] = {
      session: s.session.session_id,
      tokens_used: s.session.tokens_used,
      tokens_overrun: s.session.tokens_overrun,
      cost_used: s.daily.cost_used,
      cost_overrun: s.daily.cost_overrun,
      blocked: s.operations_blocked,
    };
  }
  return out;
}

/**
 * The store the worker writes, watched for the documented edge case
 * (docs/recovery.md): a batch read from Redis before a loss whose insert
 * completes after Redis is back may miss the restore's read of the store, so
 * the restored counters of its agents lack it (the store has it). `late`
 * names those agents: events decided by the Redis that was lost (`at` <=
 * `lossAt`, which the caller takes once that Redis's process has exited:
 * `at` is Redis TIME, the same host clock), stored after `upAt` (taken
 * before the new Redis starts). A `lossAt` taken before the signal misses
 * the events Redis still decides between the signal and its exit.
 */
export function lateWatch(store: AuditStore) {
  const late = new Set<string>();
  const times = { lossAt: Number.POSITIVE_INFINITY, upAt: Number.POSITIVE_INFINITY };
  const watched: AuditStore = Object.assign(Object.create(store) as AuditStore, {
    async insertEvents(events: readonly AuditEvent[]) {
      const n = await store.insertEvents(events);
      if (Date.now() >= times.upAt) {
        for (const e of events) if (e.at <= times.lossAt) late.add(e.agent_id);
      }
      return n;
    },
  });
  return { store: watched, late, times };
}

/**
 * With the load stopped and everything drained: FLUSHALL, and the restore
 * brings back what Redis held. Exactly, but for the agents in `late`, whose
 * restored spend may be higher (never lower: the store is never behind).
 */
export async function expectRestoredSpend(
  tg: Tollgate,
  redis: Redis,
  agents: string[],
  late: ReadonlySet<string> = new Set(),
): Promise<void> {
  await drained(redis);
  const before = await spend(tg, agents);
  await redis.flushall();
  const after = await spend(tg, agents);
  for (const a of agents) {
    const b = before[a] as Spend;
    const r = after[a] as Spend;
    if (!late.has(a)) {
      expect(r, a).toEqual(b);
      continue;
    }
    expect(r.session).toBe(b.session);
    for (const k of [
      'tokens_used',
      'tokens_overrun',
      'cost_used',
      'cost_overrun',
      'blocked',
    ] as const) {
      expect(r[k], `${a} ${k}`).toBeGreaterThanOrEqual(b[k]);
    }
  }
}
