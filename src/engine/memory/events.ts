import { bpText, pctBp } from '../money.js';
import { type EventTailBits, eventIdOf } from '../random.js';
import type { Actor, SettleInput } from '../types.js';
import type { AgentRec, MemoryState, Reservation } from './state.js';
import { appendEvent, FieldsEvent, ValueEvent } from './stored-event.js';

/**
 * The transactional outbox (lua/includes/events.lua): each event is appended
 * to its shard's outbox by the operation that made the decision, with exactly
 * the fields, in the order and as the text, that the scripts emit (`event_id`,
 * `at`, then the script's fields; numbers as decimal text). The scripts pack
 * a call's events into one stream entry (src/engine/outbox-format.ts); here
 * each event is its own entry. `n` is the event's number within the
 * operation call (the event id's last 4 hex digits), as in the scripts.
 *
 * The frequent kinds (decision, in decision-events.ts; settle, release,
 * usage) are kept as the values they are made of (stored-event.ts) and
 * turned into text when read: every value is taken when the event happens
 * (utilization as basis points; a reservation's fields that never change),
 * so the text is what it would have been then. The rare kinds keep their
 * text.
 */

/** The `release` event of release-4.lua ('released') and leases.lua ('lease_expired'). */
class ReleaseEvent extends ValueEvent {
  constructor(
    st: MemoryState,
    tail: EventTailBits,
    n: number,
    private readonly r: Reservation,
    /** The agent's current session (holds move into new sessions). */
    private readonly sid: string,
    private readonly role: string,
    private readonly result: 'released' | 'lease_expired',
    private readonly actor: Actor,
  ) {
    super(st, r.scope.shard, tail, n);
  }

  fields(): Record<string, string> {
    const r = this.r;
    const agentId = r.scope.agentId;
    return withPools(r.pools, {
      event_id: this.eventId,
      at: String(this.at),
      type: 'release',
      agent_id: agentId,
      session_id: this.sid,
      role: this.role,
      operation: r.op,
      reservation_id: `${agentId}.${r.nonce}`,
      request_id: r.req,
      input_tokens: '0',
      output_tokens: '0',
      cost: '0',
      result: this.result,
      actor: this.actor,
    });
  }
}

export function releaseEvent(
  st: MemoryState,
  tail: EventTailBits,
  n: number,
  a: AgentRec,
  r: Reservation,
  result: 'released' | 'lease_expired',
  actor: Actor,
): void {
  appendEvent(st.outbox, new ReleaseEvent(st, tail, n, r, a.sid, a.role, result, actor));
}

/**
 * settle-4.lua: the usage priced at the hold's rates (its model), counted for
 * the session current at the settle (`sid`), with what went above the hold.
 */
class SettleEvent extends ValueEvent {
  constructor(
    st: MemoryState,
    tail: EventTailBits,
    n: number,
    private readonly r: Reservation,
    private readonly sid: string,
    private readonly role: string,
    private readonly sBp: number,
    private readonly dBp: number,
    private readonly actor: Actor,
    /** The usage is an estimate (SettleInput.estimated). */
    private readonly estimated: boolean,
    /** The model whose price was used ('' = not given). */
    private readonly pricedAs: string,
  ) {
    super(st, r.scope.shard, tail, n);
  }

  fields(): Record<string, string> {
    const r = this.r;
    const agentId = r.scope.agentId;
    return withPools(r.pools, {
      event_id: this.eventId,
      at: String(this.at),
      type: 'settle',
      agent_id: agentId,
      session_id: this.sid,
      role: this.role,
      operation: r.op,
      input_tokens: String(r.inTokens),
      output_tokens: String(r.outTokens),
      cost: String(r.charged),
      overrun_tokens: String(r.overTokens),
      overrun_cost: String(r.overMicros),
      model: r.model,
      reservation_id: `${agentId}.${r.nonce}`,
      request_id: r.req,
      result: r.result,
      session_utilization: bpText(this.sBp),
      daily_utilization: bpText(this.dBp),
      actor: this.actor,
      estimated: this.estimated ? '1' : '0',
      priced_as: this.pricedAs,
    });
  }
}

/**
 * The settle event of `r`, just settled (its usage, cost and overrun recorded
 * on it, never changed again) by agent `a` in its current session; `i`: the
 * settle's actor and its trusted labels (estimated, pricedAs).
 */
export function settleEvent(
  st: MemoryState,
  tail: EventTailBits,
  n: number,
  a: AgentRec,
  r: Reservation,
  cUsed: number,
  i: Pick<SettleInput, 'actor' | 'estimated' | 'pricedAs'>,
): void {
  const sBp = pctBp(a.sUsed, a.sLimit);
  const dBp = pctBp(cUsed, a.dLimit);
  appendEvent(
    st.outbox,
    new SettleEvent(
      st,
      tail,
      n,
      r,
      a.sid,
      a.role,
      sBp,
      dBp,
      i.actor,
      i.estimated === true,
      i.pricedAs ?? '',
    ),
  );
}

/** recordUsage-3.lua */
class UsageEvent extends ValueEvent {
  constructor(
    st: MemoryState,
    shard: number,
    tail: EventTailBits,
    n: number,
    private readonly agentId: string,
    private readonly sid: string,
    private readonly role: string,
    private readonly op: string,
    private readonly inTokens: number,
    private readonly outTokens: number,
    private readonly cost: number,
    private readonly model: string,
    private readonly result: string,
    private readonly sBp: number,
    private readonly dBp: number,
    private readonly actor: Actor,
    private readonly pools: readonly string[],
  ) {
    super(st, shard, tail, n);
  }

  fields(): Record<string, string> {
    return withPools(this.pools, {
      event_id: this.eventId,
      at: String(this.at),
      type: 'usage',
      agent_id: this.agentId,
      session_id: this.sid,
      role: this.role,
      operation: this.op,
      input_tokens: String(this.inTokens),
      output_tokens: String(this.outTokens),
      cost: String(this.cost),
      model: this.model,
      result: this.result,
      session_utilization: bpText(this.sBp),
      daily_utilization: bpText(this.dBp),
      actor: this.actor,
    });
  }
}

export function usageEvent(
  st: MemoryState,
  shard: number,
  tail: EventTailBits,
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
  appendEvent(
    st.outbox,
    new UsageEvent(
      st,
      shard,
      tail,
      n,
      agentId,
      a.sid,
      a.role,
      operation,
      inTokens,
      outTokens,
      cost,
      model,
      result,
      pctBp(a.sUsed, a.sLimit),
      pctBp(cUsed, a.dLimit),
      actor,
      a.pools,
    ),
  );
}

/** Appends an event of a rare kind, its fields built now. */
function emitFields(st: MemoryState, shard: number, fields: Record<string, string>): void {
  appendEvent(st.outbox, new FieldsEvent(st, shard, fields));
}

/** startSession-3.lua: the session that ends (before its counters are reset). */
export function sessionEndedEvent(
  st: MemoryState,
  shard: number,
  tail: EventTailBits,
  n: number,
  agentId: string,
  a: AgentRec,
  cUsed: number,
  actor: Actor,
): void {
  const now = st.now;
  emitFields(st, shard, {
    event_id: eventIdOf(now, tail, n),
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
    session_utilization: bpText(pctBp(a.sUsed, a.sLimit)),
    daily_utilization: bpText(pctBp(cUsed, a.dLimit)),
    actor,
  });
}

/** The events that carry the agent's whole state (stateFields of agent.lua), with its pool when in one. */
export function stateEvent(
  st: MemoryState,
  shard: number,
  tail: EventTailBits,
  n: number,
  type: string,
  agentId: string,
  a: AgentRec,
  actor: Actor,
): void {
  const now = st.now;
  const f: Record<string, string> = {
    event_id: eventIdOf(now, tail, n),
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
    requests_per_minute: String(a.rpm),
    tokens_per_minute: String(a.tpm),
    monthly_cost_limit: String(a.mLimit),
    time_zone: a.zone,
  };
  // The agent's pool, when it is in one (the scripts add it only then).
  if (a.pools.length > 0) f.pool_id = a.pools[0] as string;
  f.type = type;
  f.agent_id = agentId;
  f.actor = actor;
  emitFields(st, shard, f);
}

/**
 * A settle's, release's or usage's fields with `pools` (the levels charged,
 * leaf first, joined by '|') last, when the hold or agent had any: the
 * scripts append it only then.
 */
function withPools(pools: readonly string[], f: Record<string, string>): Record<string, string> {
  if (pools.length > 0) f.pools = pools.join('|');
  return f;
}
