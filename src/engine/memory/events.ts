import { pct } from '../money.js';
import { eventId } from '../random.js';
import type { Actor, AuthorizeInput, OutboxEntry } from '../types.js';
import type { AgentRec, MemoryState, Reservation } from './state.js';

/**
 * The transactional outbox (lua/includes/events.lua): each event is appended
 * to its shard's outbox by the operation that made the decision, with exactly
 * the fields, in the order and as the text, that the scripts emit (`event_id`,
 * `at`, then the script's fields; numbers as decimal text). The scripts pack
 * a call's events into one stream entry (src/engine/outbox-format.ts); here
 * each event is its own OutboxEntry. `n` is the event's number within the
 * operation call (the event id's last 4 hex digits), as in the scripts.
 */
export function emit(st: MemoryState, shard: number, fields: Record<string, string>): void {
  (st.outbox[shard] as OutboxEntry[]).push({ shard, streamId: st.streamId(shard), fields });
}

/** authorizeBatch-1.lua decisionEvent. */
export function decisionEvent(
  st: MemoryState,
  shard: number,
  tail: string,
  n: number,
  i: AuthorizeInput,
  a: AgentRec | null,
  allowed: boolean,
  code: string,
  exceeded: string,
  cUsed: number,
  holdCost: number,
  resId: string,
): void {
  const now = st.now;
  emit(st, shard, {
    event_id: eventId(now, tail, n),
    at: String(now),
    type: 'decision',
    agent_id: i.agentId,
    session_id: a ? a.sid : '',
    role: a ? a.role : '',
    operation: i.operation,
    allowed: allowed ? '1' : '0',
    error_code: code,
    exceeded,
    estimated_tokens: String(i.estimatedTokens),
    cost: allowed ? String(holdCost) : '0',
    model: i.rates.model,
    reservation_id: resId,
    request_id: i.requestId ?? '',
    session_utilization: a ? pct(a.sUsed, a.sLimit) : '',
    daily_utilization: a ? pct(cUsed, a.dLimit) : '',
    actor: i.actor,
  });
}

/** The `release` event of release-4.lua ('released') and leases.lua ('lease_expired'). */
export function releaseEvent(
  st: MemoryState,
  tail: string,
  n: number,
  a: AgentRec,
  r: Reservation,
  result: 'released' | 'lease_expired',
  actor: Actor,
): void {
  const now = st.now;
  const sc = r.scope;
  emit(st, sc.shard, {
    event_id: eventId(now, tail, n),
    at: String(now),
    type: 'release',
    agent_id: sc.agentId,
    session_id: r.sid,
    role: a.role,
    operation: r.op,
    reservation_id: `${sc.agentId}.${r.nonce}`,
    request_id: r.req,
    input_tokens: '0',
    output_tokens: '0',
    cost: '0',
    result,
    actor,
  });
}

/** settle-4.lua */
export function settleEvent(
  st: MemoryState,
  tail: string,
  n: number,
  a: AgentRec,
  r: Reservation,
  inTokens: number,
  outTokens: number,
  cost: number,
  model: string,
  result: string,
  cUsed: number,
  actor: Actor,
): void {
  const now = st.now;
  const sc = r.scope;
  emit(st, sc.shard, {
    event_id: eventId(now, tail, n),
    at: String(now),
    type: 'settle',
    agent_id: sc.agentId,
    session_id: r.sid,
    role: a.role,
    operation: r.op,
    input_tokens: String(inTokens),
    output_tokens: String(outTokens),
    cost: String(cost),
    model,
    reservation_id: `${sc.agentId}.${r.nonce}`,
    request_id: r.req,
    result,
    session_utilization: pct(a.sUsed, a.sLimit),
    daily_utilization: pct(cUsed, a.dLimit),
    actor,
  });
}

/** recordUsage-3.lua */
export function usageEvent(
  st: MemoryState,
  shard: number,
  tail: string,
  n: number,
  agentId: string,
  a: AgentRec,
  operation: string,
  inTokens: number,
  outTokens: number,
  cost: number,
  model: string,
  result: string,
  cUsed: number,
  actor: Actor,
): void {
  const now = st.now;
  emit(st, shard, {
    event_id: eventId(now, tail, n),
    at: String(now),
    type: 'usage',
    agent_id: agentId,
    session_id: a.sid,
    role: a.role,
    operation,
    input_tokens: String(inTokens),
    output_tokens: String(outTokens),
    cost: String(cost),
    model,
    result,
    session_utilization: pct(a.sUsed, a.sLimit),
    daily_utilization: pct(cUsed, a.dLimit),
    actor,
  });
}

/** startSession-3.lua: the session that ends (before its counters are reset). */
export function sessionEndedEvent(
  st: MemoryState,
  shard: number,
  tail: string,
  n: number,
  agentId: string,
  a: AgentRec,
  cUsed: number,
  actor: Actor,
): void {
  const now = st.now;
  emit(st, shard, {
    event_id: eventId(now, tail, n),
    at: String(now),
    type: 'session_ended',
    agent_id: agentId,
    session_id: a.sid,
    role: a.role,
    input_tokens: '',
    output_tokens: '',
    tokens_used: String(a.sUsed),
    cost: String(a.sCost),
    operations_blocked: String(a.blocked),
    session_started_at: String(a.sStart),
    session_utilization: pct(a.sUsed, a.sLimit),
    daily_utilization: pct(cUsed, a.dLimit),
    actor,
  });
}

/** The events that carry the agent's whole state (stateFields of agent.lua). */
export function stateEvent(
  st: MemoryState,
  shard: number,
  tail: string,
  n: number,
  type: string,
  agentId: string,
  a: AgentRec,
  actor: Actor,
): void {
  const now = st.now;
  emit(st, shard, {
    event_id: eventId(now, tail, n),
    at: String(now),
    role: a.role,
    status: a.status,
    session_id: a.sid,
    session_started_at: String(a.sStart),
    session_token_limit: String(a.sLimit),
    daily_cost_limit: String(a.dLimit),
    key_digest: a.digest,
    created_at: String(a.created),
    metadata: a.meta,
    type,
    agent_id: agentId,
    actor,
  });
}
