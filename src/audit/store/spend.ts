import type { Db } from './db.js';
import { DAY_MS } from './queries.js';
import type { HourlySpend } from './types.js';

const HOUR_MS = 3_600_000;

/**
 * Spend of one UTC day by hour and role, for the dashboard's chart: every
 * settle and usage event (the two that charge money, as the engine counts a
 * day's cost) in [dayStart, dayStart + 24 h), summed per hour of its `at` and
 * the `role` it carries (the agent's role when it was charged). A range scan
 * of the (at, event_id) index; at most 24 × roles rows.
 */
const SPEND_BY_HOUR = `
SELECT ((at - $1::bigint) / ${HOUR_MS})::int AS hour,
       coalesce(role, '') AS role,
       sum(cost)::bigint AS cost,
       count(*)::bigint AS events
  FROM audit_events
 WHERE at >= $1::bigint AND at < $2::bigint
   AND type IN ('settle', 'usage') AND cost IS NOT NULL
 GROUP BY 1, 2
 ORDER BY 1, 2`;

/** Rows with any spend only (an hour or role with none has no row). `dayStart`: UTC midnight, ms. */
export async function spendByHour(db: Db, dayStart: number): Promise<HourlySpend[]> {
  if (!Number.isSafeInteger(dayStart) || dayStart % DAY_MS !== 0) {
    throw new RangeError(`spendByHour: ${dayStart} is not a UTC midnight in ms`);
  }
  const rows = await db.query<Record<string, unknown>>(
    SPEND_BY_HOUR,
    [dayStart, dayStart + DAY_MS],
    'tollgate_spend_by_hour_v1',
  );
  return rows.map((r) => ({
    hour: Number(r.hour),
    role: r.role as string,
    costMicros: Number(r.cost),
    events: Number(r.events),
  }));
}
