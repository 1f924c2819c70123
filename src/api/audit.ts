import type { AgentState, AuditEvent } from '../audit/event.js';
import type { AuditPage } from '../audit/store/types.js';
import type { Tollgate } from '../index.js';
import { readBacklog } from '../metrics/backlog.js';
import type { AuditEventWire, AuditLagWire, AuditPageWire } from './routes/audit.schemas.js';

/**
 * The audit ledger and its backlog at the HTTP edge: stored events in their
 * wire shape (times as ISO 8601, money in USD next to the exact
 * micro-dollars), and the undrained backlog per shard (read by
 * src/metrics/backlog.ts).
 *
 * Events are copied field by field (an allow-list, never a spread), so what
 * the store keeps and the API does not show, the key's digest in an event's
 * `state` first of all, cannot leak by a field added later.
 */

const iso = (ms: number) => new Date(ms).toISOString();
const usd = (micros: number) => micros / 1_000_000;

function metadataOf(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

function stateToWire(s: AgentState): NonNullable<AuditEventWire['state']> {
  return {
    role: s.role,
    status: s.status,
    session_id: s.session_id,
    session_started_at: iso(s.session_started_at),
    session_token_limit: s.session_token_limit,
    daily_cost_limit: usd(s.daily_cost_limit),
    created_at: iso(s.created_at),
    metadata: metadataOf(s.metadata),
    requests_per_minute: s.requests_per_minute ?? null,
    tokens_per_minute: s.tokens_per_minute ?? null,
    monthly_cost_limit: s.monthly_cost_limit === undefined ? null : usd(s.monthly_cost_limit),
    time_zone: s.time_zone ?? null,
    // key_digest: never shown.
  };
}

export function eventToWire(e: AuditEvent): AuditEventWire {
  return {
    v: e.v,
    event_id: e.event_id,
    at: iso(e.at),
    type: e.type,
    agent_id: e.agent_id,
    actor: e.actor,
    session_id: e.session_id,
    role: e.role,
    operation: e.operation,
    allowed: e.allowed,
    error_code: e.error_code,
    exceeded: e.exceeded,
    would_deny: e.would_deny ?? null,
    estimated_tokens: e.estimated_tokens,
    input_tokens: e.input_tokens,
    output_tokens: e.output_tokens,
    cost: e.cost === null ? null : usd(e.cost),
    cost_micros: e.cost,
    model: e.model,
    reservation_id: e.reservation_id,
    request_id: e.request_id,
    result: e.result,
    session_utilization: e.session_utilization,
    daily_utilization: e.daily_utilization,
    tokens_used: e.tokens_used,
    operations_blocked: e.operations_blocked,
    session_started_at: e.session_started_at === null ? null : iso(e.session_started_at),
    state: e.state === null ? null : stateToWire(e.state),
    overrun_tokens: e.overrun_tokens,
    overrun_cost: e.overrun_cost === null ? null : usd(e.overrun_cost),
    overrun_cost_micros: e.overrun_cost,
    estimated: e.estimated,
    priced_as: e.priced_as,
    alert:
      e.alert === undefined
        ? null
        : {
            pool_id: e.alert.pool_id,
            budget: e.alert.budget,
            threshold_pct: e.alert.threshold_pct,
            period: e.alert.period,
            used: e.alert.used,
            limit: e.alert.limit,
          },
    policy:
      e.policy === undefined
        ? null
        : {
            version: e.policy.version,
            previous_version: e.policy.previous_version,
            changes: e.policy.changes.map((c) => ({ ...c })),
            changes_total: e.policy.changes_total,
          },
  };
}

export function pageToWire(p: AuditPage): AuditPageWire {
  return {
    events: p.events.map(eventToWire),
    ...(p.nextCursor !== undefined ? { next_cursor: p.nextCursor } : {}),
  };
}

/**
 * The undrained audit backlog in its wire shape (GET /v1/audit/lag, /readyz):
 * per shard, the totals, and the embedded drain's counters. Rejects when
 * Redis does not answer.
 */
export async function auditLag(tollgate: Tollgate): Promise<AuditLagWire> {
  const { engine, shards, drain: d } = await readBacklog(tollgate);
  let backlog = 0;
  let pending = 0;
  let deadLetters = 0;
  let oldest = 0;
  for (const s of shards) {
    backlog += s.backlog;
    pending += s.pending;
    deadLetters += s.deadLetters;
    oldest = Math.max(oldest, s.oldestAgeMs);
  }
  return {
    engine,
    backlog,
    oldest_age_ms: oldest,
    pending,
    dead_letters: deadLetters,
    shards: shards.map((s) => ({
      shard: s.shard,
      backlog: s.backlog,
      pending: s.pending,
      oldest_age_ms: s.oldestAgeMs,
      dead_letters: s.deadLetters,
    })),
    drain:
      d === undefined
        ? null
        : {
            drained: d.drained,
            inserted: d.inserted,
            rejected: d.rejected,
            failures: d.failures,
            last_error: d.lastError,
            last_success_at: d.lastSuccessAt === null ? null : iso(d.lastSuccessAt),
          },
    measured_at: new Date().toISOString(),
  };
}
