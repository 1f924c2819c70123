import type { Db } from './db.js';
import { DAY_MS } from './queries.js';
import type {
  DaySpend,
  HourlySpend,
  SpendHistory,
  SpendHistoryQuery,
  SpendQuery,
  SpendRow,
} from './types.js';

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

/** What spendBy groups by: a column the settle and usage events carry. */
export const SPEND_GROUPS = ['model', 'role', 'operation', 'agent_id'] as const;
export type SpendGroup = (typeof SPEND_GROUPS)[number];

/**
 * The statement of spendBy for a group (its column name comes from
 * SPEND_GROUPS, never from a caller) and, with `agent`, one agent (then a
 * range scan of (agent_id, at, event_id); else of (at, event_id)). The
 * events are the two that charge money, as in SPEND_BY_HOUR.
 */
function spendByText(group: SpendGroup, agent: boolean): string {
  return `
SELECT coalesce(${group}, '') AS key,
       sum(cost)::bigint AS cost,
       coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
       coalesce(sum(output_tokens), 0)::bigint AS output_tokens,
       count(*)::bigint AS events,
       count(*) FILTER (WHERE estimated)::bigint AS estimated_events
  FROM audit_events
 WHERE at >= $1::bigint AND at < $2::bigint${agent ? ' AND agent_id = $3' : ''}
   AND type IN ('settle', 'usage') AND cost IS NOT NULL
 GROUP BY 1
 ORDER BY 2 DESC, 1`;
}

/**
 * Spend over `[from, to)` (ms) grouped by model, role, operation or agent,
 * optionally of one agent: every settle and usage event's cost and tokens,
 * and how many of them were estimates (a stream cut before its usage).
 */
export async function spendBy(db: Db, q: SpendQuery): Promise<SpendRow[]> {
  if (!Number.isSafeInteger(q.from) || !Number.isSafeInteger(q.to) || q.to < q.from) {
    throw new RangeError(`spendBy: [${q.from}, ${q.to}) is not a range of ms`);
  }
  if (!SPEND_GROUPS.includes(q.groupBy)) {
    throw new RangeError(`spendBy: cannot group by ${JSON.stringify(q.groupBy)}`);
  }
  const agent = q.agentId !== undefined;
  const params: unknown[] = agent ? [q.from, q.to, q.agentId] : [q.from, q.to];
  const rows = await db.query<Record<string, unknown>>(
    spendByText(q.groupBy, agent),
    params,
    `tollgate_spend_by_${q.groupBy}${agent ? '_agent' : ''}_v1`,
  );
  return rows.map((r) => ({
    key: r.key as string,
    costMicros: Number(r.cost),
    inputTokens: Number(r.input_tokens),
    outputTokens: Number(r.output_tokens),
    events: Number(r.events),
    estimatedEvents: Number(r.estimated_events),
  }));
}

/**
 * The dashboard's history: the settle and usage events of a range of UTC days
 * summed by day, and over the range by role, model and operation, in one
 * statement (GROUPING SETS: one range scan of the (at, event_id) index for
 * the four sums). A row's `by` names its set; the other sets' columns are
 * NULL in it, and the values are coalesced to '' before grouping, so a NULL
 * never is a value. Roles are those the events carry (the agent's role when
 * it was charged), as in SPEND_BY_HOUR.
 */
const SPEND_HISTORY = `
WITH e AS (
  SELECT ((at - $1::bigint) / ${DAY_MS})::int AS day,
         coalesce(role, '') AS role,
         coalesce(model, '') AS model,
         coalesce(operation, '') AS operation,
         cost, input_tokens, output_tokens, estimated
    FROM audit_events
   WHERE at >= $1::bigint AND at < $2::bigint
     AND type IN ('settle', 'usage') AND cost IS NOT NULL
)
SELECT CASE WHEN grouping(day) = 0 THEN 'day'
            WHEN grouping(role) = 0 THEN 'role'
            WHEN grouping(model) = 0 THEN 'model'
            ELSE 'operation' END AS by,
       day,
       coalesce(role, model, operation) AS key,
       sum(cost)::bigint AS cost,
       coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
       coalesce(sum(output_tokens), 0)::bigint AS output_tokens,
       count(*)::bigint AS events,
       count(*) FILTER (WHERE estimated)::bigint AS estimated_events
  FROM e
 GROUP BY GROUPING SETS ((day), (role), (model), (operation))
 ORDER BY 1, 2, 4 DESC, 3`;

/** The range's spend by day (days with any spend, oldest first) and by role, model and operation. */
export async function spendHistory(db: Db, q: SpendHistoryQuery): Promise<SpendHistory> {
  for (const t of [q.from, q.to]) {
    if (!Number.isSafeInteger(t) || t % DAY_MS !== 0) {
      throw new RangeError(`spendHistory: ${t} is not a UTC midnight in ms`);
    }
  }
  if (q.to < q.from) throw new RangeError(`spendHistory: [${q.from}, ${q.to}) is not a range`);
  const rows = await db.query<Record<string, unknown>>(
    SPEND_HISTORY,
    [q.from, q.to],
    'tollgate_spend_history_v1',
  );
  const out: SpendHistory = { days: [], byRole: [], byModel: [], byOperation: [] };
  for (const r of rows) {
    const sums = {
      costMicros: Number(r.cost),
      inputTokens: Number(r.input_tokens),
      outputTokens: Number(r.output_tokens),
      events: Number(r.events),
      estimatedEvents: Number(r.estimated_events),
    };
    if (r.by === 'day') {
      const day: DaySpend = { day: q.from + Number(r.day) * DAY_MS, ...sums };
      out.days.push(day);
    } else {
      const row: SpendRow = { key: r.key as string, ...sums };
      (r.by === 'role' ? out.byRole : r.by === 'model' ? out.byModel : out.byOperation).push(row);
    }
  }
  return out;
}
