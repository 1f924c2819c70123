import { TollgateError } from '../../errors.js';
import type { AgentState, AuditEvent, EventType } from '../event.js';
import { type Db, SqlArray } from './db.js';
import type {
  AgentTotals,
  AuditFilter,
  AuditPage,
  SessionSummaryRow,
  StoredAgent,
} from './types.js';

/**
 * The one set of queries, for PostgreSQL and PGlite alike. Every statement is
 * constant text (or, for the audit filter, assembled from constant pieces);
 * values only ever travel as parameters.
 */

export const DAY_MS = 86_400_000;
export const MAX_PAGE = 1000;
export const DEFAULT_PAGE = 100;
/** See TOTALS. */
export const SESSION_SKEW_MS = 10 * 60_000;

type Col = readonly [name: string, sqlType: string];
type Tuple<T, N extends number, A extends T[] = []> = A['length'] extends N
  ? A
  : Tuple<T, N, [...A, T]>;

/** audit_events columns in insert order: name, the SQL array type it travels as (toColumns takes the values in this order). */
const COLUMNS: readonly Col[] = [
  ['event_id', 'uuid'],
  ['v', 'smallint'],
  ['at', 'bigint'],
  ['type', 'text'],
  ['agent_id', 'text'],
  ['actor', 'text'],
  ['session_id', 'text'],
  ['role', 'text'],
  ['operation', 'text'],
  ['allowed', 'boolean'],
  ['error_code', 'text'],
  ['exceeded', 'text'],
  ['estimated_tokens', 'bigint'],
  ['input_tokens', 'bigint'],
  ['output_tokens', 'bigint'],
  ['cost', 'bigint'],
  ['model', 'text'],
  ['reservation_id', 'text'],
  ['request_id', 'text'],
  ['result', 'text'],
  ['session_utilization', 'double precision'],
  ['daily_utilization', 'double precision'],
  ['tokens_used', 'bigint'],
  ['operations_blocked', 'bigint'],
  ['session_started_at', 'bigint'],
  ['state', 'jsonb'],
];

/** The column names in insert order (for the test that toColumns follows it). */
export const COLUMN_NAMES: readonly string[] = COLUMNS.map(([n]) => n);
const NAMES = COLUMN_NAMES.join(', ');

/**
 * The batch's rows: one `unnest` per column array in the SELECT list, which
 * PostgreSQL runs in lockstep, one value of each per row (all arrays have the
 * batch's length). Not `FROM unnest($1, $2, …)`: that form materializes each
 * column in a tuplestore of its own before zipping them, about three times
 * the cost per row (8 µs against 2.6 µs of the server's CPU per event on the
 * development machine, for 26 columns).
 */
const UNNEST = COLUMNS.map(([n, t], i) => `unnest($${i + 1}::${t}[]) AS ${n}`).join(', ');

/**
 * insertEvents, one statement: the batch arrives as one array per column,
 * `unnest` turns them into rows (UNNEST; `ord` numbers them, 1, 2, …), the INSERT keeps the new ones (ON CONFLICT
 * DO NOTHING) and RETURNs their ids, and two more data-modifying CTEs project
 * exactly those rows into `agents` and `session_summaries`. One statement is
 * one transaction: the ledger and its projections can never disagree.
 *
 * Registry rule: per agent, the batch's latest state event (greatest at, then
 * latest in the batch) is upserted, and it replaces the stored row only if its
 * at is >= the row's updated_at; an equal at goes to the later delivery, which
 * is outbox order. agent_deleted sets deleted_at (a tombstone); any later
 * state event (a re-registration) clears it.
 */
export const INSERT_EVENTS = `
WITH input AS (
  SELECT ${UNNEST}, generate_series(1, cardinality($1::uuid[])) AS ord
),
ins AS (
  INSERT INTO audit_events (${NAMES})
  SELECT ${NAMES} FROM input
  ON CONFLICT (event_id) DO NOTHING
  RETURNING event_id
),
agents_up AS (
  INSERT INTO agents (agent_id, role, status, session_id, session_started_at, session_token_limit,
                      daily_cost_limit, key_digest, created_at, metadata, updated_at, event_id, deleted_at)
  SELECT DISTINCT ON (agent_id)
         agent_id, state->>'role', state->>'status', state->>'session_id',
         (state->>'session_started_at')::bigint, (state->>'session_token_limit')::bigint,
         (state->>'daily_cost_limit')::bigint, state->>'key_digest', (state->>'created_at')::bigint,
         state->>'metadata', at, event_id,
         CASE WHEN type = 'agent_deleted' THEN at END
    FROM input
   WHERE state IS NOT NULL AND event_id IN (SELECT event_id FROM ins)
   ORDER BY agent_id, at DESC, ord DESC
  ON CONFLICT (agent_id) DO UPDATE SET
    role = excluded.role, status = excluded.status, session_id = excluded.session_id,
    session_started_at = excluded.session_started_at,
    session_token_limit = excluded.session_token_limit,
    daily_cost_limit = excluded.daily_cost_limit, key_digest = excluded.key_digest,
    created_at = excluded.created_at, metadata = excluded.metadata,
    updated_at = excluded.updated_at, event_id = excluded.event_id, deleted_at = excluded.deleted_at
  WHERE agents.updated_at <= excluded.updated_at
  RETURNING 1
),
sessions_up AS (
  INSERT INTO session_summaries (agent_id, session_id, started_at, ended_at, tokens_used, cost,
                                 operations_blocked, event_id)
  SELECT DISTINCT ON (agent_id, session_id)
         agent_id, session_id, coalesce(session_started_at, at), at, coalesce(tokens_used, 0),
         coalesce(cost, 0), coalesce(operations_blocked, 0), event_id
    FROM input
   WHERE type = 'session_ended' AND session_id IS NOT NULL AND event_id IN (SELECT event_id FROM ins)
   ORDER BY agent_id, session_id, at DESC, ord DESC
  ON CONFLICT (agent_id, session_id) DO NOTHING
  RETURNING 1
)
SELECT count(*)::int AS inserted FROM ins`;

/**
 * insertEvents for a batch with nothing to project (no event carries an
 * agent's state, none is session_ended: the projections of INSERT_EVENTS
 * would select no row): the INSERT alone, its count of new rows from the
 * command tag. The common case (decisions, settles, usage); PostgreSQL spends
 * about a fifth less per event on it than on INSERT_EVENTS, whose CTEs keep
 * the input and the inserted ids for the projections.
 */
export const INSERT_EVENTS_ONLY = `
INSERT INTO audit_events (${NAMES})
SELECT ${UNNEST}
ON CONFLICT (event_id) DO NOTHING`;

/**
 * INSERT_EVENTS_ONLY without ON CONFLICT: tried first. A batch is new almost
 * always (each shard has one drain; a batch comes again only after a crash or
 * a lost reply), and the plain INSERT spares PostgreSQL the speculative
 * insertion ON CONFLICT makes for every row (about a sixth of its CPU per
 * event, measured). If any row is already stored, the statement fails whole
 * (unique_violation on the key, nothing written) and the batch goes again
 * with ON CONFLICT DO NOTHING.
 */
export const INSERT_EVENTS_NEW = `
INSERT INTO audit_events (${NAMES})
SELECT ${UNNEST}`;

/** A unique_violation of audit_events' primary key: some event of the batch is stored already. */
function isStoredAlready(e: unknown): boolean {
  const x = e as { code?: unknown; constraint?: unknown } | null;
  return (
    x?.code === '23505' && (x.constraint === undefined || x.constraint === 'audit_events_pkey')
  );
}

/**
 * The batch as one array per column (same order as COLUMNS, whose getters it
 * inlines: one pass, no call per value); duplicate ids in the batch dropped.
 */
export function toColumns(events: readonly AuditEvent[]): unknown[][] {
  const n = events.length;
  const cols = COLUMNS.map((): unknown[] => new Array<unknown>(n)) as Tuple<unknown[], 26>;
  const [
    c0,
    c1,
    c2,
    c3,
    c4,
    c5,
    c6,
    c7,
    c8,
    c9,
    c10,
    c11,
    c12,
    c13,
    c14,
    c15,
    c16,
    c17,
    c18,
    c19,
    c20,
    c21,
    c22,
    c23,
    c24,
    c25,
  ] = cols;
  const seen = new Set<string>();
  let m = 0;
  for (let i = 0; i < n; i++) {
    const e = events[i] as AuditEvent;
    if (seen.has(e.event_id)) continue;
    seen.add(e.event_id);
    c0[m] = e.event_id;
    c1[m] = e.v;
    c2[m] = e.at;
    c3[m] = e.type;
    c4[m] = e.agent_id;
    c5[m] = e.actor;
    c6[m] = e.session_id;
    c7[m] = e.role;
    c8[m] = e.operation;
    c9[m] = e.allowed;
    c10[m] = e.error_code;
    c11[m] = e.exceeded;
    c12[m] = e.estimated_tokens;
    c13[m] = e.input_tokens;
    c14[m] = e.output_tokens;
    c15[m] = e.cost;
    c16[m] = e.model;
    c17[m] = e.reservation_id;
    c18[m] = e.request_id;
    c19[m] = e.result;
    c20[m] = e.session_utilization;
    c21[m] = e.daily_utilization;
    c22[m] = e.tokens_used;
    c23[m] = e.operations_blocked;
    c24[m] = e.session_started_at;
    c25[m] = e.state === null ? null : JSON.stringify(e.state);
    m++;
  }
  if (m < n) for (const col of cols) col.length = m;
  return cols;
}

/** Whether any event of the batch feeds a projection (the registry or the session log). */
function projects(events: readonly AuditEvent[]): boolean {
  for (const e of events) if (e.state !== null || e.type === 'session_ended') return true;
  return false;
}

export async function insertEvents(db: Db, events: readonly AuditEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const params = toColumns(events).map((values, j) => new SqlArray((COLUMNS[j] as Col)[1], values));
  if (!projects(events)) {
    try {
      return await db.command(INSERT_EVENTS_NEW, params, 'tollgate_insert_events_new_v1');
    } catch (e) {
      if (!isStoredAlready(e)) throw e;
      return db.command(INSERT_EVENTS_ONLY, params, 'tollgate_insert_events_only_v1');
    }
  }
  const rows = await db.query<{ inserted: number }>(
    INSERT_EVENTS,
    params,
    'tollgate_insert_events_v1',
  );
  return Number(rows[0]?.inserted ?? 0);
}

// ---------------------------------------------------------------- reading

/** bigint comes back as a string (pg) or a number (PGlite); sums of bigint as numeric text. */
function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}
function optNum(v: unknown): number | null {
  return v === null || v === undefined ? null : num(v);
}

type Row = Record<string, unknown>;

function toEvent(r: Row): AuditEvent {
  const state = r.state;
  return {
    v: num(r.v) as AuditEvent['v'],
    event_id: r.event_id as string,
    at: num(r.at),
    type: r.type as EventType,
    agent_id: r.agent_id as string,
    actor: r.actor as string | null,
    session_id: r.session_id as string | null,
    role: r.role as string | null,
    operation: r.operation as string | null,
    allowed: r.allowed as boolean | null,
    error_code: r.error_code as string | null,
    exceeded: r.exceeded as string | null,
    estimated_tokens: optNum(r.estimated_tokens),
    input_tokens: optNum(r.input_tokens),
    output_tokens: optNum(r.output_tokens),
    cost: optNum(r.cost),
    model: r.model as string | null,
    reservation_id: r.reservation_id as string | null,
    request_id: r.request_id as string | null,
    result: r.result as string | null,
    session_utilization: optNum(r.session_utilization),
    daily_utilization: optNum(r.daily_utilization),
    tokens_used: optNum(r.tokens_used),
    operations_blocked: optNum(r.operations_blocked),
    session_started_at: optNum(r.session_started_at),
    state:
      state === null || state === undefined
        ? null
        : ((typeof state === 'string' ? JSON.parse(state) : state) as AgentState),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The cursor is the last row's (at, event_id), base64url: opaque to callers. */
export function encodeCursor(at: number, eventId: string): string {
  return Buffer.from(`${at}_${eventId}`).toString('base64url');
}

export function decodeCursor(cursor: string): { at: number; eventId: string } {
  const [atText, eventId, ...rest] = Buffer.from(cursor, 'base64url').toString().split('_');
  const at = Number(atText);
  if (
    rest.length > 0 ||
    eventId === undefined ||
    !UUID.test(eventId) ||
    atText === '' ||
    !Number.isSafeInteger(at)
  ) {
    throw new TollgateError('VALIDATION_FAILED', 'Bad cursor', { field: 'cursor' });
  }
  return { at, eventId };
}

/**
 * A page of the ledger, newest first: ORDER BY at DESC, event_id DESC, keyset
 * on that pair (rows strictly after the cursor's), so pages never skip or
 * repeat an event even when many share one ms. Only the filters given become
 * conditions, so each shape of query uses its index: (agent_id, at, event_id)
 * with an agent, (at, event_id) without.
 */
export async function queryEvents(db: Db, f: AuditFilter): Promise<AuditPage> {
  const limit = pageLimit(f.limit);
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (f.agentId !== undefined) where.push(`agent_id = ${p(f.agentId)}`);
  if (f.type !== undefined) where.push(`type = ${p(f.type)}`);
  if (f.allowed !== undefined) where.push(`allowed = ${p(f.allowed)}`);
  if (f.from !== undefined) where.push(`at >= ${p(f.from)}::bigint`);
  if (f.to !== undefined) where.push(`at < ${p(f.to)}::bigint`);
  if (f.cursor !== undefined) {
    const c = decodeCursor(f.cursor);
    where.push(`(at, event_id) < (${p(c.at)}::bigint, ${p(c.eventId)}::uuid)`);
  }
  const sql = `SELECT ${NAMES} FROM audit_events${
    where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''
  } ORDER BY at DESC, event_id DESC LIMIT ${p(limit + 1)}`;
  const rows = await db.query<Row>(sql, params);
  const more = rows.length > limit;
  const events = (more ? rows.slice(0, limit) : rows).map(toEvent);
  const last = events[events.length - 1];
  return more && last ? { events, nextCursor: encodeCursor(last.at, last.event_id) } : { events };
}

function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new TollgateError('VALIDATION_FAILED', 'limit must be an integer from 1 to 1000', {
      field: 'limit',
    });
  }
  return Math.min(limit, MAX_PAGE);
}

const AGENTS = `
SELECT agent_id, role, status, session_id, session_started_at, session_token_limit,
       daily_cost_limit, key_digest, created_at, metadata, updated_at
  FROM agents WHERE deleted_at IS NULL ORDER BY agent_id`;

/** The registry: every agent whose latest state event is not agent_deleted, by id. */
export async function agents(db: Db): Promise<StoredAgent[]> {
  const rows = await db.query<Row>(AGENTS, [], 'tollgate_agents_v1');
  return rows.map((r) => ({
    agentId: r.agent_id as string,
    role: r.role as string,
    status: r.status as StoredAgent['status'],
    sessionId: r.session_id as string,
    sessionStartedAt: num(r.session_started_at),
    sessionTokenLimit: num(r.session_token_limit),
    dailyCostLimit: num(r.daily_cost_limit),
    keyDigest: r.key_digest as string,
    createdAt: num(r.created_at),
    metadata: r.metadata as string,
    updatedAt: num(r.updated_at),
  }));
}

/**
 * Recovery sums per registered agent (DESIGN rule 8), the same rules the
 * engine counts by: the day's cost is every settle and usage charged in
 * [dayStart, dayStart + 24 h) (cost goes to the day of the settle); the
 * session's tokens and cost are the settle and usage events carrying the
 * agent's current session id (a settle of an older session's hold does not
 * count, as in the engine), and blocked is its denied decisions. The session
 * scan is bounded below by the session's start (its events cannot be older:
 * Redis time), so it walks only that stretch of the (agent_id, at) index.
 */
const TOTALS = `
SELECT a.agent_id,
       coalesce(d.cost, 0)::bigint AS day_cost,
       coalesce(s.tokens, 0)::bigint AS session_tokens,
       coalesce(s.cost, 0)::bigint AS session_cost,
       coalesce(s.blocked, 0)::bigint AS session_blocked
  FROM agents a
  LEFT JOIN LATERAL (
    SELECT sum(e.cost) AS cost
      FROM audit_events e
     WHERE e.agent_id = a.agent_id AND e.at >= $1::bigint AND e.at < $2::bigint
       AND e.type IN ('settle', 'usage')
  ) d ON true
  LEFT JOIN LATERAL (
    SELECT sum(coalesce(e.input_tokens, 0) + coalesce(e.output_tokens, 0))
             FILTER (WHERE e.type IN ('settle', 'usage')) AS tokens,
           sum(e.cost) FILTER (WHERE e.type IN ('settle', 'usage')) AS cost,
           count(*) FILTER (WHERE e.type = 'decision' AND e.allowed = false) AS blocked
      FROM audit_events e
     WHERE e.agent_id = a.agent_id AND e.at >= a.session_started_at - $3::bigint
       AND e.session_id = a.session_id
  ) s ON true
 WHERE a.deleted_at IS NULL
 ORDER BY a.agent_id`;

export async function totals(db: Db, dayStart: number): Promise<AgentTotals[]> {
  const rows = await db.query<Row>(
    TOTALS,
    [dayStart, dayStart + DAY_MS, SESSION_SKEW_MS],
    'tollgate_totals_v1',
  );
  return rows.map((r) => ({
    agentId: r.agent_id as string,
    dayCost: num(r.day_cost),
    sessionTokens: num(r.session_tokens),
    sessionCost: num(r.session_cost),
    sessionBlocked: num(r.session_blocked),
  }));
}

const SESSIONS = `
SELECT agent_id, session_id, started_at, ended_at, tokens_used, cost, operations_blocked
  FROM session_summaries WHERE agent_id = $1 ORDER BY ended_at DESC, session_id DESC`;

/** The agent's ended sessions, newest first. */
export async function sessionSummaries(db: Db, agentId: string): Promise<SessionSummaryRow[]> {
  const rows = await db.query<Row>(SESSIONS, [agentId], 'tollgate_sessions_v1');
  return rows.map((r) => ({
    agentId: r.agent_id as string,
    sessionId: r.session_id as string,
    startedAt: num(r.started_at),
    endedAt: num(r.ended_at),
    tokensUsed: num(r.tokens_used),
    cost: num(r.cost),
    operationsBlocked: num(r.operations_blocked),
  }));
}
