import { TollgateError } from '../../errors.js';
import type {
  AgentState,
  AuditEvent,
  BudgetAlert,
  EventType,
  PolicyChangeSummary,
  PoolSettings,
} from '../event.js';
import { EVENT_TYPES } from '../event-types.js';
import { type Db, SqlArray } from './db.js';
import { EVENT_KIND } from './event-kind.js';
import { NAMES } from './insert.js';

export { SESSION_SKEW_MS, totals } from './totals.js';

import type { AuditFilter, AuditPage, SessionSummaryRow, StoredAgent } from './types.js';

/**
 * The one set of queries, for PostgreSQL and PGlite alike. Every statement is
 * constant text (or, for the audit filter, assembled from constant pieces);
 * values only ever travel as parameters. The insert path is insert.ts.
 */

export {
  COLUMN_NAMES,
  INSERT_EVENTS,
  INSERT_EVENTS_NEW,
  INSERT_EVENTS_ONLY,
  insertEvents,
  toColumns,
} from './insert.js';

export const DAY_MS = 86_400_000;
export const MAX_PAGE = 1000;
export const DEFAULT_PAGE = 100;

// ---------------------------------------------------------------- reading

/** bigint comes back as a string (pg) or a number (PGlite); sums of bigint as numeric text. */
function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}
function optNum(v: unknown): number | null {
  return v === null || v === undefined ? null : num(v);
}

type Row = Record<string, unknown>;

/** A jsonb column: an object from PGlite, its text from pg when not parsed. */
function jsonOf<T>(v: unknown): T | null {
  return v === null || v === undefined ? null : ((typeof v === 'string' ? JSON.parse(v) : v) as T);
}

function toEvent(r: Row): AuditEvent {
  const state = r.state;
  const alert = jsonOf<BudgetAlert>(r.alert);
  const policy = jsonOf<PolicyChangeSummary>(r.policy);
  const event: AuditEvent = {
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
    overrun_tokens: optNum(r.overrun_tokens),
    overrun_cost: optNum(r.overrun_cost),
    estimated: (r.estimated ?? null) as boolean | null,
    priced_as: (r.priced_as ?? null) as string | null,
  };
  if (alert !== null) event.alert = alert;
  if (policy !== null) event.policy = policy;
  // Pools (migration 8): only on the events that name them ('' stored for none).
  const pool = jsonOf<PoolSettings>(r.pool);
  if (typeof r.pool_id === 'string') event.pool_id = r.pool_id === '' ? null : r.pool_id;
  if (typeof r.from_pool_id === 'string') event.from_pool_id = r.from_pool_id || null;
  if (typeof r.pools === 'string' && r.pools !== '') event.pools = r.pools.split('|');
  if (pool !== null) event.pool = pool;
  // Shadow mode (migration 9): only on the decisions it let pass.
  if (typeof r.would_deny === 'string') event.would_deny = r.would_deny;
  return event;
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

/** The kinds a filter on type and allowed admits; undefined: no such filter. */
export function kindsOf(type?: EventType, allowed?: boolean): string[] | undefined {
  if (type === undefined && allowed === undefined) return undefined;
  const marks = allowed === undefined ? ['', '+', '-'] : [allowed ? '+' : '-'];
  return (type === undefined ? EVENT_TYPES : [type]).flatMap((t) => marks.map((m) => `${t}${m}`));
}

/** queryEvents' statement, for a filter (exported so that the tests can EXPLAIN it). */
export interface EventsQuery {
  text: string;
  params: unknown[];
  /** The page size (the statement asks for one more row: is there a next page?). */
  limit: number;
}

/**
 * The statement of a page (see queryEvents). Only the filters given become
 * conditions, and each shape is a backward range scan of one index, cut at
 * the page size:
 *
 * - no agent, no type or allowed: (at, event_id);
 * - an agent: (agent_id, at, event_id);
 * - a type and/or allowed: for each kind the filter admits (kindsOf: 3 for a
 *   type, 1 for a type and allowed, 13 for allowed alone), a LATERAL arm reads
 *   that kind's page from (agent_id, kind, at, event_id) with an agent, from
 *   (kind, at, event_id) without; the newest rows of the arms make the page.
 *
 * So a page reads at most (arms × page size) index entries, whatever the
 * history, and a filter that matches nothing costs one index probe per arm.
 *
 * Where an index's leading column is compared with `= ANY(ARRAY[v])` and
 * named in the ORDER BY, that is on purpose. With a plain `= v` the planner
 * knows the column is constant and that (at, event_id) is then the order, so
 * it may read the (at, event_id) index instead, dropping the rows of other
 * agents or kinds: on a ledger written in time order that index looks cheaper
 * (its heap is read in order), and it is, while the filter matches often; when
 * it matches rarely or never, that reads the whole table. The array form keeps
 * the column in the order, which only the intended index gives without a sort.
 * (One element: btree still seeks it like an equality.)
 */
export function eventsQuery(f: AuditFilter): EventsQuery {
  const limit = pageLimit(f.limit);
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const agent = f.agentId !== undefined ? p(new SqlArray('text', [f.agentId])) : undefined;
  if (agent !== undefined) {
    where.push(`agent_id = ANY(${agent}::text[])`);
    if (f.incarnations !== 'all') {
      where.push(
        `at >= coalesce((SELECT created_at FROM agents WHERE agent_id = ANY(${agent}::text[])), 0)::bigint`,
      );
    }
  }
  if (f.from !== undefined) where.push(`at >= ${p(f.from)}::bigint`);
  if (f.to !== undefined) where.push(`at < ${p(f.to)}::bigint`);
  if (f.cursor !== undefined) {
    const c = decodeCursor(f.cursor);
    where.push(`(at, event_id) < (${p(c.at)}::bigint, ${p(c.eventId)}::uuid)`);
  }
  const page = 'at DESC, event_id DESC';
  const kinds = kindsOf(f.type, f.allowed);
  const cond = (w: string[]) => (w.length > 0 ? ` WHERE ${w.join(' AND ')}` : '');
  if (kinds === undefined) {
    const order = agent !== undefined ? `agent_id DESC, ${page}` : page;
    const text = `SELECT ${NAMES} FROM audit_events${cond(where)} ORDER BY ${order} LIMIT ${p(limit + 1)}`;
    return { text, params, limit };
  }
  const k = p(new SqlArray('text', kinds));
  const n = p(limit + 1);
  // With an agent, the kind is the index's second column: an equality there
  // (PostgreSQL 15 would not keep the order of `= ANY` on a later column).
  const [kind, order] =
    agent !== undefined
      ? [`${EVENT_KIND} = k.kind`, `agent_id DESC, ${page}`]
      : [`${EVENT_KIND} = ANY(ARRAY[k.kind])`, `${EVENT_KIND} DESC, ${page}`];
  const text = `SELECT ${NAMES} FROM unnest(${k}::text[]) AS k(kind) CROSS JOIN LATERAL (SELECT ${NAMES} FROM audit_events${cond(
    [kind, ...where],
  )} ORDER BY ${order} LIMIT ${n}) e ORDER BY ${page} LIMIT ${n}`;
  return { text, params, limit };
}

/**
 * A page of the ledger, newest first: ORDER BY at DESC, event_id DESC, keyset
 * on that pair (rows strictly after the cursor's), so pages never skip or
 * repeat an event even when many share one ms. Every combination of filters
 * is served by an index in the page order (eventsQuery; docs/store.md shows
 * the plans).
 *
 * With an agent and `incarnations` not 'all': only its current incarnation's
 * events, those at or after the `created_at` the registry holds for the id
 * (its last registration; a deleted agent's tombstone keeps it, so a deleted
 * agent shows its last incarnation). An id the registry does not know: all.
 */
export async function queryEvents(db: Db, f: AuditFilter): Promise<AuditPage> {
  const { text, params, limit } = eventsQuery(f);
  const rows = await db.query<Row>(text, params);
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

/**
 * The registry; an agent's pool is its latest agent_moved's (found by the
 * kind index) when that is not older than its latest state event, else that
 * state event's (a primary key read): both say where it is at their instant.
 */
const AGENTS = `
SELECT a.agent_id, a.role, a.status, a.session_id, a.session_started_at, a.session_token_limit,
       a.daily_cost_limit, a.key_digest, a.created_at, a.metadata, a.updated_at,
       a.requests_per_minute, a.tokens_per_minute, a.monthly_cost_limit, a.time_zone,
       CASE WHEN mv.at IS NOT NULL AND mv.at >= a.updated_at THEN mv.pool_id
            ELSE s.state->>'pool_id' END AS pool_id
  FROM agents a
  LEFT JOIN audit_events s ON s.event_id = a.event_id
  LEFT JOIN LATERAL (
    SELECT e.at, e.pool_id FROM audit_events e
     WHERE e.agent_id = a.agent_id AND ${EVENT_KIND} = 'agent_moved'
     ORDER BY e.at DESC, e.event_id DESC LIMIT 1
  ) mv ON true
 WHERE a.deleted_at IS NULL ORDER BY a.agent_id`;

/** The registry: every agent whose latest state event is not agent_deleted, by id. */
export async function agents(db: Db): Promise<StoredAgent[]> {
  const rows = await db.query<Row>(AGENTS, [], 'tollgate_agents_v3');
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
    requestsPerMinute: num(r.requests_per_minute),
    tokensPerMinute: num(r.tokens_per_minute),
    monthlyCostLimit: num(r.monthly_cost_limit),
    timeZone: r.time_zone as string,
    poolId: typeof r.pool_id === 'string' && r.pool_id !== '' ? r.pool_id : null,
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
