import type { Db } from './db.js';
import { EVENT_KIND } from './event-kind.js';
import { fired, ranges, ZONE_SLACK_MS } from './totals.js';
import type { StoredPool } from './types.js';

/**
 * The pool registry and each pool's spend, for restore (ARCHITECTURE.md, rule
 * 'Redis decides; the store remembers and restores'; docs/recovery.md): the
 * pools not deleted (projected from the pool events by insertEvents,
 * migration 8) with the spend of their local day and month at an instant.
 */

const POOLS = `
SELECT pool_id, parent_id, root_id, daily_cost_limit, monthly_cost_limit, requests_per_minute,
       tokens_per_minute, time_zone, created_at, updated_at
  FROM pools WHERE deleted_at IS NULL ORDER BY pool_id`;

/**
 * A pool's spend: every settle and usage event charged to it (its id among
 * the event's `pools`, the levels it charged) in the pool's local day and
 * month at the instant asked for (the bounds per zone, `r`, as totalsSql takes
 * them), since the pool was last created (a pool deleted and created again
 * starts at 0, as in the engine). One range scan of the partial index
 * audit_events_pools_at over the widest month asked for: only the events
 * under pools are read.
 */
const POOL_SPEND = `
WITH r AS (
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
      AS r(zone, day_start, day_end, month_start, month_end)
),
p AS (
  SELECT p.pool_id, p.created_at, r.day_start, r.day_end, r.month_start, r.month_end
    FROM pools p JOIN r ON r.zone = p.time_zone
   WHERE p.deleted_at IS NULL
)
SELECT l.pool_id,
       coalesce(sum(e.cost) FILTER (WHERE e.at >= p.day_start AND e.at < p.day_end), 0)::bigint AS day_cost,
       coalesce(sum(e.cost), 0)::bigint AS month_cost
  FROM audit_events e
  CROSS JOIN LATERAL unnest(string_to_array(e.pools, '|')) AS l(pool_id)
  JOIN p ON p.pool_id = l.pool_id
 WHERE e.pools IS NOT NULL
   AND e.at >= (SELECT min(month_start) FROM r) AND e.at < (SELECT max(month_end) FROM r)
   AND e.at >= p.month_start AND e.at < p.month_end AND e.at >= p.created_at
   AND e.type IN ('settle', 'usage')
 GROUP BY l.pool_id`;

/**
 * A pool's alert marks (docs/recovery.md, "What is restored"): the thresholds
 * of the budget_alert events naming it (`alert`'s pool_id) of its local day
 * and month at the instant asked for (their period's text, `r`), since it was
 * last created (deletePool removes its marks). One range scan of the index on
 * (kind, at) (migration 3) from the earliest month's start asked for (less
 * ZONE_SLACK_MS, $8): only the alerts of that stretch are read.
 */
const POOL_ALERTS = `
WITH r AS (
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
                       $6::text[], $7::text[])
      AS r(zone, day_start, day_end, month_start, month_end, day, month)
),
p AS (
  SELECT p.pool_id, p.created_at, r.day, r.month
    FROM pools p JOIN r ON r.zone = p.time_zone
   WHERE p.deleted_at IS NULL
)
SELECT p.pool_id,
       string_agg(e.alert->>'threshold_pct', ',') FILTER (WHERE e.alert->>'budget' = 'daily'
         AND e.alert->>'period' = p.day) AS day_fired,
       string_agg(e.alert->>'threshold_pct', ',') FILTER (WHERE e.alert->>'budget' = 'monthly'
         AND e.alert->>'period' = p.month) AS month_fired
  FROM audit_events e
  JOIN p ON p.pool_id = e.alert->>'pool_id'
 WHERE ${EVENT_KIND} = 'budget_alert'
   AND e.at >= (SELECT min(month_start) FROM r) - $8::bigint AND e.at >= p.created_at
 GROUP BY p.pool_id`;

type Row = Record<string, unknown>;

/** bigint comes back as a string (pg) or a number (PGlite). */
function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

/**
 * The pools not deleted, parents before their children (then by id), each
 * with its spend on its local day and month at `atMs` (a zone Intl does not
 * know: 0) and its alert marks of them. Three statements: the registry, then
 * the spend and the alerts of its zones.
 */
export async function pools(db: Db, atMs: number): Promise<StoredPool[]> {
  const rows = await db.query<Row>(POOLS, [], 'tollgate_pools_v1');
  if (rows.length === 0) return [];
  const zones = new Set(rows.map((r) => r.time_zone as string));
  const spend = await db.query<Row>(POOL_SPEND, ranges(zones, atMs), 'tollgate_pool_spend_v1');
  const byId = new Map(spend.map((s) => [s.pool_id as string, s]));
  const marks = await db.query<Row>(
    POOL_ALERTS,
    [...ranges(zones, atMs, true), ZONE_SLACK_MS],
    'tollgate_pool_alerts_v1',
  );
  const alertsOf = new Map(marks.map((m) => [m.pool_id as string, m]));
  const list = rows.map((r): StoredPool => {
    const s = byId.get(r.pool_id as string);
    const m = alertsOf.get(r.pool_id as string);
    const day = fired(m?.day_fired);
    const month = fired(m?.month_fired);
    const created = num(r.created_at);
    return {
      poolId: r.pool_id as string,
      parentId: (r.parent_id as string | null) ?? null,
      rootId: r.root_id as string,
      dailyCostLimit: num(r.daily_cost_limit),
      monthlyCostLimit: num(r.monthly_cost_limit),
      requestsPerMinute: num(r.requests_per_minute),
      tokensPerMinute: num(r.tokens_per_minute),
      timeZone: r.time_zone as string,
      createdAt: created > 0 ? created : num(r.updated_at),
      updatedAt: num(r.updated_at),
      dayCost: s === undefined ? 0 : num(s.day_cost),
      monthCost: s === undefined ? 0 : num(s.month_cost),
      ...(day === undefined ? {} : { dayAlerts: day }),
      ...(month === undefined ? {} : { monthAlerts: month }),
    };
  });
  return parentsFirst(list);
}

/** Orders pools so that each comes after its parent (a pool whose parent is missing keeps its place among the roots). */
export function parentsFirst<T extends { poolId: string; parentId: string | null }>(
  list: readonly T[],
): T[] {
  const ids = new Set(list.map((p) => p.poolId));
  const depth = new Map<string, number>();
  const byId = new Map(list.map((p) => [p.poolId, p]));
  const depthOf = (p: T, seen: number): number => {
    const known = depth.get(p.poolId);
    if (known !== undefined) return known;
    const parent = p.parentId === null || !ids.has(p.parentId) ? undefined : byId.get(p.parentId);
    const d = parent === undefined || seen > list.length ? 1 : depthOf(parent, seen + 1) + 1;
    depth.set(p.poolId, d);
    return d;
  };
  return [...list].sort(
    (a, b) =>
      depthOf(a, 0) - depthOf(b, 0) || (a.poolId < b.poolId ? -1 : a.poolId > b.poolId ? 1 : 0),
  );
}
