import { z } from 'zod';

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
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Types whose event carries the agent's whole new state (all but the ledger entries). */
export const STATE_TYPES: ReadonlySet<EventType> = new Set(
  EVENT_TYPES.filter(
    (t) => !['decision', 'settle', 'release', 'usage', 'session_ended'].includes(t),
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
});
export type AgentState = z.infer<typeof AgentStateSchema>;

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
}
