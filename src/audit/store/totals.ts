import { MAX_ALERT_PCT } from '../../engine/alerts.js';
import { DAY_MS } from '../../engine/clock.js';
import { decodeZone, periodAt, zoneTextAt } from '../../engine/periods.js';
import { type Db, SqlArray } from './db.js';
import { EVENT_KIND } from './event-kind.js';
import type { AgentTotals } from './types.js';

/** See totalsSql. */
export const SESSION_SKEW_MS = 10 * 60_000;
/**
 * How much earlier than the local month's start (in the zone it has now) a
 * budget_alert of its day or month may be: one made before a change of zone
 * (two days cover any two UTC offsets).
 */
export const ZONE_SLACK_MS = 2 * DAY_MS;

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
 * the (agent_id, at) index. The alert marks (docs/recovery.md, "What is
 * restored") are the thresholds of the agent's own budget_alert events (pool
 * id '') of its current session and of its local day and month (their
 * period's text, `r`), read on the (agent_id, kind, at) index (migration 3)
 * from the earlier of the month's start (less ZONE_SLACK_MS) and the
 * session's: only its alerts of that stretch. Built when run: EVENT_KIND
 * comes from queries.ts, which re-exports this module.
 */
const totalsSql = () => `
SELECT a.agent_id, a.time_zone,
       coalesce(d.cost, 0)::bigint AS day_cost,
       coalesce(d.overrun, 0)::bigint AS day_overrun,
       coalesce(m.cost, 0)::bigint AS month_cost,
       coalesce(m.overrun, 0)::bigint AS month_overrun,
       coalesce(s.tokens, 0)::bigint AS session_tokens,
       coalesce(s.cost, 0)::bigint AS session_cost,
       coalesce(s.overrun, 0)::bigint AS session_overrun,
       coalesce(s.blocked, 0)::bigint AS session_blocked,
       al.session_fired, al.day_fired, al.month_fired
  FROM agents a
  LEFT JOIN unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[],
                   $7::text[])
         AS r(zone, day_start, day_end, month_start, month_end, day, month) ON r.zone = a.time_zone
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
     WHERE e.agent_id = a.agent_id AND e.at >= a.session_started_at - $8::bigint
       AND e.session_id = a.session_id
  ) s ON true
  LEFT JOIN LATERAL (
    SELECT string_agg(e.alert->>'threshold_pct', ',') FILTER (WHERE e.alert->>'budget' = 'session'
             AND e.alert->>'period' = a.session_id) AS session_fired,
           string_agg(e.alert->>'threshold_pct', ',') FILTER (WHERE e.alert->>'budget' = 'daily'
             AND e.alert->>'period' = r.day) AS day_fired,
           string_agg(e.alert->>'threshold_pct', ',') FILTER (WHERE e.alert->>'budget' = 'monthly'
             AND e.alert->>'period' = r.month) AS month_fired
      FROM audit_events e
     WHERE e.agent_id = a.agent_id AND ${EVENT_KIND} = 'budget_alert'
       AND e.at >= least(r.month_start - $9::bigint, a.session_started_at - $8::bigint)
       AND e.alert->>'pool_id' = ''
  ) al ON true
 WHERE a.deleted_at IS NULL
 ORDER BY a.agent_id`;

type Row = Record<string, unknown>;

/** bigint comes back as a string (pg) or a number (PGlite). */
function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

/**
 * The zones' local day and month at `atMs`, as totalsSql (and POOL_SPEND, pools.ts)
 * take them (a zone Intl does not know: no row): zone, day start, day end, month
 * start, month end; with `periods`, then the day (yyyymmdd) and month (yyyymm) as
 * text, as a budget_alert's period names them.
 */
export function ranges(zones: ReadonlySet<string>, atMs: number, periods = false): SqlArray[] {
  const cols: [string[], number[], number[], number[], number[]] = [[], [], [], [], []];
  const texts: [string[], string[]] = [[], []];
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
    texts[0].push(String(p.day));
    texts[1].push(String(p.month));
  }
  const [z, ...bounds] = cols;
  const out = [new SqlArray('text', z), ...bounds.map((b) => new SqlArray('bigint', b))];
  return periods ? [...out, ...texts.map((t) => new SqlArray('text', t))] : out;
}

/** A `string_agg` of thresholds: increasing, each once (1 to MAX_ALERT_PCT), or undefined for none. */
export function fired(v: unknown): number[] | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  const pcts = [...new Set(v.split(',').map(Number))].filter(
    (n) => Number.isInteger(n) && n >= 1 && n <= MAX_ALERT_PCT,
  );
  return pcts.length === 0 ? undefined : pcts.sort((a, b) => a - b);
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
  return rows.map((r) => {
    const session = fired(r.session_fired);
    const day = fired(r.day_fired);
    const month = fired(r.month_fired);
    return {
      agentId: r.agent_id as string,
      dayCost: num(r.day_cost),
      dayOverrunCost: num(r.day_overrun),
      monthCost: num(r.month_cost),
      monthOverrunCost: num(r.month_overrun),
      sessionTokens: num(r.session_tokens),
      sessionCost: num(r.session_cost),
      sessionOverrunTokens: num(r.session_overrun),
      sessionBlocked: num(r.session_blocked),
      ...(session === undefined ? {} : { sessionAlerts: session }),
      ...(day === undefined ? {} : { dayAlerts: day }),
      ...(month === undefined ? {} : { monthAlerts: month }),
    };
  });
}

function run(db: Db, atMs: number, zones: ReadonlySet<string>): Promise<Row[]> {
  const params = [...ranges(zones, atMs, true), SESSION_SKEW_MS, ZONE_SLACK_MS];
  return db.query<Row>(totalsSql(), params, 'tollgate_totals_v5');
}
