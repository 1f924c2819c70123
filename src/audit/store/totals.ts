import { decodeZone, periodAt, zoneTextAt } from '../../engine/periods.js';
import { type Db, SqlArray } from './db.js';
import type { AgentTotals } from './types.js';

/** See TOTALS. */
export const SESSION_SKEW_MS = 10 * 60_000;

/**
 * Recovery sums per registered agent (ARCHITECTURE.md, rule 'Redis decides;
 * the store remembers and restores'), the same rules the engine counts by:
 * the day's cost (and the overrun among it) is every settle and usage charged
 * in the agent's LOCAL day at the instant asked for (cost goes to the day of
 * the settle), the month's likewise over its local month; the bounds come per
 * zone (`r`: one row per zone, from periodAt, src/engine/periods.ts) and each
 * agent takes its zone's row (an agent whose zone has no row sums 0 there).
 * The session's tokens, cost and overrun tokens are the settle and usage
 * events carrying the agent's current session id (a settle carries the
 * session current when it was made: the live session pays), and blocked is its
 * denied decisions. The session scan is bounded below by the session's start
 * (its events cannot be older: Redis time), so it walks only that stretch of
 * the (agent_id, at) index.
 */
const TOTALS = `
SELECT a.agent_id, a.time_zone,
       coalesce(d.cost, 0)::bigint AS day_cost,
       coalesce(d.overrun, 0)::bigint AS day_overrun,
       coalesce(m.cost, 0)::bigint AS month_cost,
       coalesce(m.overrun, 0)::bigint AS month_overrun,
       coalesce(s.tokens, 0)::bigint AS session_tokens,
       coalesce(s.cost, 0)::bigint AS session_cost,
       coalesce(s.overrun, 0)::bigint AS session_overrun,
       coalesce(s.blocked, 0)::bigint AS session_blocked
  FROM agents a
  LEFT JOIN unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
         AS r(zone, day_start, day_end, month_start, month_end) ON r.zone = a.time_zone
  LEFT JOIN LATERAL (
    SELECT sum(e.cost) AS cost, sum(e.overrun_cost) AS overrun
      FROM audit_events e
     WHERE e.agent_id = a.agent_id AND e.at >= r.day_start AND e.at < r.day_end
       AND e.type IN ('settle', 'usage')
  ) d ON true
  LEFT JOIN LATERAL (
    SELECT sum(e.cost) AS cost, sum(e.overrun_cost) AS overrun
      FROM audit_events e
     WHERE e.agent_id = a.agent_id AND e.at >= r.month_start AND e.at < r.month_end
       AND e.type IN ('settle', 'usage')
  ) m ON true
  LEFT JOIN LATERAL (
    SELECT sum(coalesce(e.input_tokens, 0) + coalesce(e.output_tokens, 0))
             FILTER (WHERE e.type IN ('settle', 'usage')) AS tokens,
           sum(e.cost) FILTER (WHERE e.type IN ('settle', 'usage')) AS cost,
           sum(e.overrun_tokens) FILTER (WHERE e.type = 'settle') AS overrun,
           count(*) FILTER (WHERE e.type = 'decision' AND e.allowed = false) AS blocked
      FROM audit_events e
     WHERE e.agent_id = a.agent_id AND e.at >= a.session_started_at - $6::bigint
       AND e.session_id = a.session_id
  ) s ON true
 WHERE a.deleted_at IS NULL
 ORDER BY a.agent_id`;

type Row = Record<string, unknown>;

/** bigint comes back as a string (pg) or a number (PGlite). */
function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

/** The zones' local day and month at `atMs`, as TOTALS (and POOL_SPEND, pools.ts) take them (a zone Intl does not know: no row). */
export function ranges(zones: ReadonlySet<string>, atMs: number): SqlArray[] {
  const cols: [string[], number[], number[], number[], number[]] = [[], [], [], [], []];
  for (const zone of zones) {
    let p: ReturnType<typeof periodAt>;
    try {
      p = periodAt(atMs, decodeZone(zoneTextAt(zone, atMs)));
    } catch {
      continue;
    }
    cols[0].push(zone);
    cols[1].push(p.dayStartMs);
    cols[2].push(p.nextDayMs);
    cols[3].push(p.monthStartMs);
    cols[4].push(p.nextMonthMs);
  }
  const [z, ...bounds] = cols;
  return [new SqlArray('text', z), ...bounds.map((b) => new SqlArray('bigint', b))];
}

/**
 * The sums of every registered agent over its day and month local to its time
 * zone at `atMs` (a UTC agent: the UTC day and month of `atMs`), and over its
 * current session. `zones`: the zones the agents have, if the caller knows
 * them (recovery, from the registry it read); one statement when every agent's
 * zone is among them (UTC always is), else a second one with the zones the
 * first found (a zone changed between the caller's reads, or not given).
 */
export async function totals(
  db: Db,
  atMs: number,
  zones: Iterable<string> = [],
): Promise<AgentTotals[]> {
  const known = new Set(['UTC', ...zones]);
  let rows = await run(db, atMs, known);
  const missing = rows.map((r) => r.time_zone as string).filter((z) => !known.has(z));
  if (missing.length > 0) {
    rows = await run(db, atMs, new Set([...known, ...missing]));
  }
  return rows.map((r) => ({
    agentId: r.agent_id as string,
    dayCost: num(r.day_cost),
    dayOverrunCost: num(r.day_overrun),
    monthCost: num(r.month_cost),
    monthOverrunCost: num(r.month_overrun),
    sessionTokens: num(r.session_tokens),
    sessionCost: num(r.session_cost),
    sessionOverrunTokens: num(r.session_overrun),
    sessionBlocked: num(r.session_blocked),
  }));
}

function run(db: Db, atMs: number, zones: ReadonlySet<string>): Promise<Row[]> {
  return db.query<Row>(TOTALS, [...ranges(zones, atMs), SESSION_SKEW_MS], 'tollgate_totals_v4');
}
