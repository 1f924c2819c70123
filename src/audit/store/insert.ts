import type { AuditEvent } from '../event.js';
import { type Db, SqlArray } from './db.js';

/**
 * The insert path of the store (PostgreSQL and PGlite alike): a batch of
 * events as one array per column, one statement. The statements are constant
 * text; values only ever travel as parameters (on pg, in binary:
 * pg-binary.ts).
 */

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
  // Migration 2.
  ['overrun_tokens', 'bigint'],
  ['overrun_cost', 'bigint'],
  // Migration 4.
  ['estimated', 'boolean'],
  ['priced_as', 'text'],
  // Migration 6.
  ['alert', 'jsonb'],
  // Migration 7.
  ['policy', 'jsonb'],
  // Migration 8.
  ['pool_id', 'text'],
  ['from_pool_id', 'text'],
  ['pools', 'text'],
  ['pool', 'jsonb'],
  // Migration 9.
  ['would_deny', 'text'],
];

/** The column names in insert order (for the test that toColumns follows it). */
export const COLUMN_NAMES: readonly string[] = COLUMNS.map(([n]) => n);
/** The columns, comma-separated: the INSERTs' and the reads' list. */
export const NAMES = COLUMN_NAMES.join(', ');

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
 *
 * Pools rule: per pool, the batch's latest pool event (pool_created,
 * pool_updated, pool_deleted) is upserted the same way; pool_deleted sets
 * deleted_at, a later pool_created clears it; created_at is the latest
 * pool_created's at.
 *
 * Alerts rule: each budget_alert row the INSERT added gets one delivery per
 * webhook taking its type (alert_deliveries, pending), in the same
 * transaction; a batch delivered again adds none (src/alerts queues them).
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
                      daily_cost_limit, key_digest, created_at, metadata, updated_at, event_id, deleted_at,
                      requests_per_minute, tokens_per_minute, monthly_cost_limit, time_zone)
  SELECT DISTINCT ON (agent_id)
         agent_id, state->>'role', state->>'status', state->>'session_id',
         (state->>'session_started_at')::bigint, (state->>'session_token_limit')::bigint,
         (state->>'daily_cost_limit')::bigint, state->>'key_digest', (state->>'created_at')::bigint,
         state->>'metadata', at, event_id,
         CASE WHEN type = 'agent_deleted' THEN at END,
         coalesce((state->>'requests_per_minute')::bigint, 0),
         coalesce((state->>'tokens_per_minute')::bigint, 0),
         coalesce((state->>'monthly_cost_limit')::bigint, 0), coalesce(state->>'time_zone', 'UTC')
    FROM input
   WHERE state IS NOT NULL AND event_id IN (SELECT event_id FROM ins)
   ORDER BY agent_id, at DESC, ord DESC
  ON CONFLICT (agent_id) DO UPDATE SET
    role = excluded.role, status = excluded.status, session_id = excluded.session_id,
    session_started_at = excluded.session_started_at,
    session_token_limit = excluded.session_token_limit,
    daily_cost_limit = excluded.daily_cost_limit, key_digest = excluded.key_digest,
    created_at = excluded.created_at, metadata = excluded.metadata,
    updated_at = excluded.updated_at, event_id = excluded.event_id, deleted_at = excluded.deleted_at,
    requests_per_minute = excluded.requests_per_minute, tokens_per_minute = excluded.tokens_per_minute,
    monthly_cost_limit = excluded.monthly_cost_limit, time_zone = excluded.time_zone
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
),
pools_up AS (
  INSERT INTO pools (pool_id, parent_id, root_id, daily_cost_limit, monthly_cost_limit,
                     requests_per_minute, tokens_per_minute, time_zone, created_at, updated_at,
                     event_id, deleted_at)
  SELECT DISTINCT ON (i.pool_id)
         i.pool_id, nullif(i.pool->>'parent_id', ''), i.pool->>'root_id',
         (i.pool->>'daily_limit_micros')::bigint, (i.pool->>'monthly_limit_micros')::bigint,
         (i.pool->>'requests_per_minute')::bigint, (i.pool->>'tokens_per_minute')::bigint,
         i.pool->>'time_zone',
         coalesce((SELECT max(c.at) FROM input c
                    WHERE c.type = 'pool_created' AND c.pool_id = i.pool_id
                      AND c.event_id IN (SELECT event_id FROM ins)), 0),
         i.at, i.event_id, CASE WHEN i.type = 'pool_deleted' THEN i.at END
    FROM input i
   WHERE i.pool IS NOT NULL AND i.pool_id <> '' AND i.event_id IN (SELECT event_id FROM ins)
   ORDER BY i.pool_id, i.at DESC, i.ord DESC
  ON CONFLICT (pool_id) DO UPDATE SET
    parent_id = excluded.parent_id, root_id = excluded.root_id,
    daily_cost_limit = excluded.daily_cost_limit, monthly_cost_limit = excluded.monthly_cost_limit,
    requests_per_minute = excluded.requests_per_minute,
    tokens_per_minute = excluded.tokens_per_minute, time_zone = excluded.time_zone,
    created_at = greatest(pools.created_at, excluded.created_at),
    updated_at = excluded.updated_at, event_id = excluded.event_id, deleted_at = excluded.deleted_at
  WHERE pools.updated_at <= excluded.updated_at
  RETURNING 1
),
alerts_up AS (
  INSERT INTO alert_deliveries (event_id, webhook_id, created_at, updated_at)
  SELECT i.event_id, w.webhook_id, i.at, i.at
    FROM input i JOIN webhooks w ON i.type = ANY (w.events)
   WHERE i.type = 'budget_alert' AND i.event_id IN (SELECT event_id FROM ins)
  ON CONFLICT (event_id, webhook_id) DO NOTHING
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
  const cols = COLUMNS.map((): unknown[] => new Array<unknown>(n)) as Tuple<unknown[], 37>;
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
    c26,
    c27,
    c28,
    c29,
    c30,
    c31,
    c32,
    c33,
    c34,
    c35,
    c36,
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
    c26[m] = e.overrun_tokens;
    c27[m] = e.overrun_cost;
    c28[m] = e.estimated;
    c29[m] = e.priced_as;
    c30[m] = e.alert === undefined ? null : JSON.stringify(e.alert);
    c31[m] = e.policy === undefined ? null : JSON.stringify(e.policy);
    c32[m] = e.pool_id === undefined ? null : (e.pool_id ?? '');
    c33[m] = e.from_pool_id === undefined ? null : (e.from_pool_id ?? '');
    c34[m] = e.pools == null || e.pools.length === 0 ? null : e.pools.join('|');
    c35[m] = e.pool === undefined ? null : JSON.stringify(e.pool);
    c36[m] = e.would_deny ?? null;
    m++;
  }
  if (m < n) for (const col of cols) col.length = m;
  return cols;
}

/** Whether any event of the batch feeds a projection (the registry, the session log, alert deliveries). */
function projects(events: readonly AuditEvent[]): boolean {
  for (const e of events) {
    if (
      e.state !== null ||
      e.type === 'session_ended' ||
      e.type === 'budget_alert' ||
      e.pool !== undefined
    ) {
      return true;
    }
  }
  return false;
}

export async function insertEvents(db: Db, events: readonly AuditEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const params = toColumns(events).map((values, j) => new SqlArray((COLUMNS[j] as Col)[1], values));
  if (!projects(events)) {
    try {
      return await db.command(INSERT_EVENTS_NEW, params, 'tollgate_insert_events_new_v7');
    } catch (e) {
      if (!isStoredAlready(e)) throw e;
      return db.command(INSERT_EVENTS_ONLY, params, 'tollgate_insert_events_only_v7');
    }
  }
  const rows = await db.query<{ inserted: number }>(
    INSERT_EVENTS,
    params,
    'tollgate_insert_events_v7',
  );
  return Number(rows[0]?.inserted ?? 0);
}
