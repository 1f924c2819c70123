import { z } from 'zod';
import { MAX_ALERT_PCT } from '../engine/alerts.js';

/**
 * The audit event, version 1, as typed values (src/audit/event.ts parses the
 * outbox's text into it; src/audit/event-fast.ts is the drain's fast path).
 * Money is integer micro-dollars; times are ms of Redis time. Events that
 * change an agent carry its new `state`.
 */
export const EVENT_VERSION = 1;

export const EVENT_TYPES = [
  'decision',
  'settle',
  'release',
  'usage',
  'agent_registered',
  'agent_updated',
  'agent_suspended',
  'agent_resumed',
  'agent_deleted',
  'key_rotated',
  'session_started',
  'session_ended',
  'limits_changed',
  'pool_created',
  'pool_updated',
  'pool_deleted',
  'agent_moved',
  'budget_alert',
  'policy_changed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Types whose event carries the agent's whole new state (all but the ledger entries). */
export const STATE_TYPES: ReadonlySet<EventType> = new Set(
  EVENT_TYPES.filter(
    (t) =>
      ![
        'decision',
        'settle',
        'release',
        'usage',
        'session_ended',
        'budget_alert',
        'policy_changed',
        'pool_created',
        'pool_updated',
        'pool_deleted',
        'agent_moved',
      ].includes(t),
  ),
);

export const AgentStateSchema = z.object({
  role: z.string(),
  status: z.enum(['active', 'suspended']),
  session_id: z.string(),
  session_started_at: z.number().int(),
  session_token_limit: z.number().int(),
  daily_cost_limit: z.number().int(),
  key_digest: z.string(),
  created_at: z.number().int(),
  metadata: z.string(),
  /**
   * Rate limits (0: none), the monthly cost limit (micro-dollars, 0: none) and
   * the time zone's IANA name (its offsets are recomputed from the name on
   * restore). Absent from events appended before they existed.
   */
  requests_per_minute: z.number().int().optional(),
  tokens_per_minute: z.number().int().optional(),
  monthly_cost_limit: z.number().int().optional(),
  time_zone: z.string().optional(),
  /** The pool the agent is in; absent when in none (and on events from before pools). */
  pool_id: z.string().optional(),
});
export type AgentState = z.infer<typeof AgentStateSchema>;

/**
 * The budgets an alert is about (docs/operations.md, "Alerts"): an agent's
 * session, day or month; a pool's day or month (`pool_id` set).
 */
export const ALERT_BUDGETS = ['session', 'daily', 'monthly'] as const;
/** Highest threshold an alert may name, in percent (the policy's bound, src/engine/alerts.ts). */
export const MAX_THRESHOLD_PCT = MAX_ALERT_PCT;

/**
 * budget_alert: a budget's spend crossed a threshold (emitted once per budget,
 * threshold and period by the deciding script). `used` and `limit` are tokens
 * for a session, micro-dollars otherwise; `period` the session id, the local
 * yyyymmdd or yyyymm (a pool's: in the pool's zone). The event's `agent_id`
 * is the agent whose charge crossed it; `pool_id` is the pool whose budget
 * crossed ('daily' or 'monthly'), '' for an agent's budget.
 */
export const BudgetAlertSchema = z.object({
  pool_id: z.string(),
  budget: z.enum(ALERT_BUDGETS),
  threshold_pct: z.number().int().min(1).max(MAX_THRESHOLD_PCT),
  period: z.string().min(1),
  used: z.number().int().min(0),
  limit: z.number().int().min(0),
});
export type BudgetAlert = z.infer<typeof BudgetAlertSchema>;

export interface AuditEvent {
  v: typeof EVENT_VERSION;
  event_id: string;
  /** ms, Redis time. */
  at: number;
  type: EventType;
  agent_id: string;
  actor: string | null;
  /** settle: the session current at the settle (the live session pays). */
  session_id: string | null;
  role: string | null;
  operation: string | null;
  allowed: boolean | null;
  error_code: string | null;
  exceeded: string | null;
  estimated_tokens: number | null;
  input_tokens: number | null;
  output_tokens: number | null;
  /** Micro-dollars. */
  cost: number | null;
  model: string | null;
  reservation_id: string | null;
  request_id: string | null;
  result: string | null;
  session_utilization: number | null;
  daily_utilization: number | null;
  /** session_ended: the session's totals. */
  tokens_used: number | null;
  operations_blocked: number | null;
  session_started_at: number | null;
  /** Events that change an agent: its new state (key digest included: it never leaves the server). */
  state: AgentState | null;
  /** settle: tokens used above the hold's estimate (0 within it); null on other events. */
  overrun_tokens: number | null;
  /** settle: micro-dollars above the hold's cost (0 within it); null on other events. */
  overrun_cost: number | null;
  /**
   * settle: whether the usage is an estimate (a stream cut before its usage
   * arrived; trusted code says so); null on other events and on settles
   * appended before the field existed.
   */
  estimated: boolean | null;
  /** settle: the model whose price trusted code used (null when not given, and on other events). */
  priced_as: string | null;
  /**
   * Pools (docs/limits.md, "Pools"), each present only on the events that
   * name one: a decision denied by a pool, that pool; the agent-state events
   * of an agent in a pool, its pool (also `state.pool_id`); pool events, the
   * pool; agent_moved, the new pool (null: none).
   */
  pool_id?: string | null;
  /** settle, release, usage under pools: the levels charged, leaf first. */
  pools?: string[];
  /** agent_moved: the pool the agent left (null: none). */
  from_pool_id?: string | null;
  /** pool_created, pool_updated, pool_deleted: the pool's settings. */
  pool?: PoolSettings;
  /** budget_alert: the crossing (absent on other events). */
  alert?: BudgetAlert;
  /** policy_changed: the version stored and what changed (absent on other events). */
  policy?: PolicyChangeSummary;
  /**
   * decision in shadow mode (docs/operations.md, "Shadow mode"): allowed, and
   * the error code the rules would have denied it with (`exceeded` names the
   * limit); absent on every other event.
   */
  would_deny?: string;
}

/** One field of the policy that a change set: its dotted path, the value before and after (absent: none). */
export interface PolicyFieldChange {
  path: string;
  before?: unknown;
  after?: unknown;
}

/**
 * policy_changed (written by the store with the policy's new version, not by a
 * script: src/audit/store/policies.ts): the version stored, the one it
 * replaced (0: the file's or the defaults), and the fields that changed (at
 * most MAX_POLICY_CHANGES of them; `changes_total` counts them all). Its
 * `agent_id` is ''.
 */
export interface PolicyChangeSummary {
  version: number;
  previous_version: number;
  changes: PolicyFieldChange[];
  changes_total: number;
}

/** The changes a policy_changed event lists at most. */
export const MAX_POLICY_CHANGES = 200;

/** The events of a pool's life: they carry the pool's settings (`pool`); their `agent_id` is ''. */
export const POOL_TYPES: ReadonlySet<string> = new Set([
  'pool_created',
  'pool_updated',
  'pool_deleted',
]);

/** A pool's settings as its events carry them (micro-dollars, per minute; 0: no limit). */
export interface PoolSettings {
  parent_id: string | null;
  root_id: string;
  daily_limit_micros: number;
  monthly_limit_micros: number;
  requests_per_minute: number;
  tokens_per_minute: number;
  time_zone: string;
}

/** The outbox fields of pools, as text ('' when absent): what poolParts reads. */
export type PoolField =
  | 'pool_id'
  | 'pools'
  | 'from_pool_id'
  | 'parent_id'
  | 'root_id'
  | 'daily_limit_micros'
  | 'monthly_limit_micros'
  | 'requests_per_minute'
  | 'tokens_per_minute'
  | 'time_zone';

const INTEGER = /^(0|[1-9][0-9]{0,15})$/;

/**
 * The pool parts of an event of `type`, from its outbox fields (`get`: the
 * text, '' when absent). Both parsers (event.ts and event-fast.ts) use this
 * one function, so they agree. Only the keys the event names; undefined when
 * a pool event's limit is not a non-negative integer (the schema path reports it).
 * A budget_alert's pool is its `alert`'s, not these.
 */
export function poolParts(
  type: EventType,
  get: (name: PoolField) => string,
): Pick<AuditEvent, 'pool_id' | 'pools' | 'from_pool_id' | 'pool'> | undefined {
  if ((type as string) === 'budget_alert') return {};
  const poolId = get('pool_id');
  if (type === 'agent_moved') {
    return { pool_id: poolId === '' ? null : poolId, from_pool_id: get('from_pool_id') || null };
  }
  if (POOL_TYPES.has(type)) {
    const n = (name: PoolField): number => {
      const v = get(name);
      return INTEGER.test(v) && Number.isSafeInteger(Number(v)) ? Number(v) : -1;
    };
    const pool: PoolSettings = {
      parent_id: get('parent_id') || null,
      root_id: get('root_id'),
      daily_limit_micros: n('daily_limit_micros'),
      monthly_limit_micros: n('monthly_limit_micros'),
      requests_per_minute: n('requests_per_minute'),
      tokens_per_minute: n('tokens_per_minute'),
      time_zone: get('time_zone'),
    };
    if (
      pool.daily_limit_micros < 0 ||
      pool.monthly_limit_micros < 0 ||
      pool.requests_per_minute < 0 ||
      pool.tokens_per_minute < 0
    ) {
      return undefined;
    }
    return { pool_id: poolId === '' ? null : poolId, pool };
  }
  const out: Pick<AuditEvent, 'pool_id' | 'pools'> = {};
  if (poolId !== '') out.pool_id = poolId;
  const pools = get('pools');
  if (pools !== '') out.pools = pools.split('|');
  return out;
}
