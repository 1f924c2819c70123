import { z } from 'zod';
import { MAX_POOL_DEPTH } from '../../engine/ids.js';
import { MAX_LIMIT } from '../../engine/validate.js';
import { isoTime, named, PerMinute, PoolId, TimeZone, usd } from './shared.schemas.js';

/**
 * The schemas of the pools routes (routes/pools.ts): shared budgets over the
 * agents in them and the pools beneath them, up to three levels
 * (docs/limits.md, "Pools").
 */

// ── requests ───────────────────────────────────────────────────────────────

export const PoolParams = z.strictObject({ id: PoolId });

const PoolCostLimit = z
  .number()
  .min(0)
  .max(MAX_LIMIT / 1_000_000)
  .optional();

/** The settings of a pool; each absent one is none (create) or unchanged (update). */
const poolSettings = {
  daily_cost_limit: PoolCostLimit.describe(
    "USD per day, local to the pool's time zone (kept to the micro-dollar); 0: none.",
  ),
  monthly_cost_limit: PoolCostLimit.describe(
    "USD per month, local to the pool's time zone (kept to the micro-dollar); 0: none.",
  ),
  requests_per_minute: PerMinute.describe(
    'Authorizes per minute by all the agents beneath the pool (docs/limits.md); 0: none.',
  ),
  tokens_per_minute: PerMinute.describe(
    'Tokens held per minute by all the agents beneath the pool, corrected by settles; 0: none.',
  ),
  time_zone: TimeZone.optional().describe(
    "IANA time zone of the pool's day and month, e.g. `Europe/Berlin`; default `UTC`.",
  ),
};

export const CreatePoolRequest = named(
  'CreatePoolRequest',
  z.strictObject({
    pool_id: PoolId,
    parent_id: PoolId.optional().describe(
      'The pool it sits beneath (it must exist; a pool is at most the third level). Absent: a root. It does not change later.',
    ),
    ...poolSettings,
  }),
);

export const UpdatePoolRequest = named(
  'UpdatePoolRequest',
  z.strictObject(poolSettings).refine((v) => Object.values(v).some((x) => x !== undefined), {
    message:
      'give daily_cost_limit, monthly_cost_limit, requests_per_minute, tokens_per_minute or time_zone',
  }),
);

export const MoveAgentRequest = named(
  'MoveAgentRequest',
  z.strictObject({
    pool_id: PoolId.nullable().describe(
      'The pool the agent joins; null: none. Its open holds stay charged to the pools they were made under.',
    ),
  }),
);

// ── answers ────────────────────────────────────────────────────────────────

const limit = (what: string) => usd.nullable().describe(`${what}; null: no limit.`);

export const PoolStatusSchema = named(
  'PoolStatus',
  z.strictObject({
    pool_id: z.string(),
    parent_id: z.string().nullable().describe('Null for a root.'),
    root_id: z.string().describe('The root of its tree (itself for a root).'),
    depth: z
      .number()
      .int()
      .min(1)
      .max(MAX_POOL_DEPTH)
      .describe(`1 for a root, up to ${MAX_POOL_DEPTH}.`),
    time_zone: z.string().describe("The pool's IANA time zone (`UTC` by default)."),
    daily: z
      .strictObject({
        date: z.string().describe("The pool's local date, YYYY-MM-DD."),
        cost_used: usd.describe('Settled today by the agents beneath the pool, at any depth.'),
        cost_reserved: usd.describe('Held now by the agents beneath the pool.'),
        cost_limit: limit('USD per day'),
        cost_remaining: limit('Limit - used - reserved, never below 0'),
        utilization_pct: z.number().describe('Used over limit; 0 when there is no limit.'),
        resets_at: isoTime.describe('The next local midnight of the pool.'),
      })
      .describe("Today's spend, local to the pool's time zone."),
    monthly: z
      .strictObject({
        month: z.string().describe("The pool's local month, YYYY-MM."),
        cost_used: usd,
        cost_reserved: usd,
        cost_limit: limit('USD per month'),
        cost_remaining: limit('Limit - used - reserved, never below 0'),
        utilization_pct: z.number().describe('Used over limit; 0 when there is no limit.'),
        resets_at: isoTime.describe('The first instant of the next local month.'),
      })
      .describe("This month's spend, local to the pool's time zone."),
    rate_limits: z
      .strictObject({
        requests_per_minute: z.number().int().nullable(),
        tokens_per_minute: z.number().int().nullable(),
      })
      .nullable()
      .describe("The pool's rate limits, each null when not set; null: none."),
    agents: z.number().int().describe('Agents directly in the pool.'),
    pools: z.number().int().describe('Pools directly beneath it.'),
    is_daily_exhausted: z.boolean().describe('False when there is no daily limit.'),
    is_monthly_exhausted: z.boolean().describe('False when there is no monthly limit.'),
    is_over_limit: z
      .boolean()
      .describe(
        'Used past a cost limit (settles above their holds): every authorize beneath it is denied.',
      ),
    created_at: isoTime,
  }),
);

export const PoolDetailSchema = named(
  'PoolDetail',
  PoolStatusSchema.extend({
    agent_ids: z.array(z.string()).describe('The agents directly in the pool, by id.'),
    pool_ids: z.array(z.string()).describe('The pools directly beneath it, by id.'),
  }),
);

export const PoolListSchema = named(
  'PoolList',
  z.strictObject({ pools: z.array(PoolStatusSchema) }),
);

export const DeletedPoolSchema = named(
  'DeletedPool',
  z.strictObject({
    pool_id: z.string(),
    deleted: z.literal(true),
    pool_status: PoolStatusSchema.describe('Its last status.'),
  }),
);

/** A pool's limits and spend as the API shows them (USD), built by src/budget/pool-status.ts. */
export type PoolRecord = z.output<typeof PoolStatusSchema>;
/** A pool with the ids of the agents in it and the pools beneath it: GET /v1/pools/:id. */
export type PoolDetail = z.output<typeof PoolDetailSchema>;
export type PoolList = z.output<typeof PoolListSchema>;
export type DeletedPool = z.output<typeof DeletedPoolSchema>;
export type CreatePoolBody = z.input<typeof CreatePoolRequest>;
export type UpdatePoolBody = z.input<typeof UpdatePoolRequest>;
export type MoveAgentBody = z.input<typeof MoveAgentRequest>;
