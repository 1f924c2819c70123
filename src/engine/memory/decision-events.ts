import { bpText, pctBp } from '../money.js';
import type { Profile } from '../profile.js';
import type { EventTailBits } from '../random.js';
import type { Actor, AuthorizeInput, WouldDeny } from '../types.js';
import type { AgentRec, MemoryState, Reservation } from './state.js';
import { appendEvent, ValueEvent } from './stored-event.js';

/**
 * The decision event of authorize-1.lua (decisionEvent), one per
 * authorize outcome, kept as values and turned into text when read (see
 * events.ts): an allowed decision refers to the hold it made, whose fields in
 * the event never change; a denial keeps its own.
 */

/**
 * decisionEvent of authorize-1.lua, for a decision that held `r`; a shadow
 * decision's (`wouldDeny`) is shadow.lua's S.event: `exceeded`, `pool_id`
 * (a pool's denial) and `would_deny` added.
 */
class AllowedEvent extends ValueEvent {
  constructor(
    st: MemoryState,
    tail: EventTailBits,
    n: number,
    private readonly r: Reservation,
    private readonly role: string,
    private readonly sBp: number,
    private readonly dBp: number,
    private readonly actor: Actor,
    private readonly wouldDeny: WouldDeny | undefined,
  ) {
    super(st, r.scope.shard, tail, n);
  }

  fields(): Record<string, string> {
    const r = this.r;
    const agentId = r.scope.agentId;
    const f: Record<string, string> = {
      event_id: this.eventId,
      at: String(this.at),
      type: 'decision',
      agent_id: agentId,
      session_id: r.sid,
      role: this.role,
      operation: r.op,
      allowed: '1',
      error_code: '',
      exceeded: '',
      estimated_tokens: String(r.tok),
      cost: String(r.cost),
      model: r.model,
      reservation_id: `${agentId}.${r.nonce}`,
      request_id: r.req,
      session_utilization: bpText(this.sBp),
      daily_utilization: bpText(this.dBp),
      actor: this.actor,
    };
    const w = this.wouldDeny;
    if (w !== undefined) {
      f.exceeded = w.exceeded ?? '';
      if (w.poolId !== undefined) f.pool_id = w.poolId;
      f.would_deny = w.code;
    }
    return f;
  }
}

/** decisionEvent of authorize-1.lua, for a denial of an agent (a missing agent has none). */
class DeniedEvent extends ValueEvent {
  constructor(
    st: MemoryState,
    shard: number,
    tail: EventTailBits,
    n: number,
    private readonly agentId: string,
    private readonly sid: string,
    private readonly role: string,
    private readonly op: string,
    private readonly code: string,
    private readonly exceeded: string,
    private readonly est: number,
    private readonly model: string,
    private readonly req: string,
    private readonly sBp: number,
    private readonly dBp: number,
    private readonly actor: Actor,
    /** A pool's denial: the pool ('' else). */
    private readonly poolId: string,
  ) {
    super(st, shard, tail, n);
  }

  fields(): Record<string, string> {
    const f: Record<string, string> = {
      event_id: this.eventId,
      at: String(this.at),
      type: 'decision',
      agent_id: this.agentId,
      session_id: this.sid,
      role: this.role,
      operation: this.op,
      allowed: '0',
      error_code: this.code,
      exceeded: this.exceeded,
      estimated_tokens: String(this.est),
      cost: '0',
      model: this.model,
      reservation_id: '',
      request_id: this.req,
      session_utilization: bpText(this.sBp),
      daily_utilization: bpText(this.dBp),
      actor: this.actor,
    };
    if (this.poolId !== '') f.pool_id = this.poolId;
    return f;
  }
}

/** The decision event of an authorize that held `r` (for agent `a`; `wouldDeny`: in shadow mode). */
export function allowedEvent(
  st: MemoryState,
  tail: EventTailBits,
  n: number,
  a: AgentRec,
  r: Reservation,
  cUsed: number,
  actor: Actor,
  wouldDeny?: WouldDeny,
): void {
  const sBp = pctBp(a.sUsed, a.sLimit);
  const dBp = pctBp(cUsed, a.dLimit);
  appendEvent(st.outbox, new AllowedEvent(st, tail, n, r, a.role, sBp, dBp, actor, wouldDeny));
}

/**
 * The decision event of a denial of agent `a` (AGENT_NOT_FOUND has none:
 * nothing is written); a pool's denial names the pool (`pool_id`).
 */
export function deniedEvent(
  st: MemoryState,
  shard: number,
  tail: EventTailBits,
  n: number,
  i: AuthorizeInput,
  p: Profile,
  a: AgentRec,
  code: string,
  exceeded: string,
  cUsed: number,
  poolId: string,
): void {
  appendEvent(
    st.outbox,
    new DeniedEvent(
      st,
      shard,
      tail,
      n,
      i.agentId,
      a.sid,
      a.role,
      p.operation,
      code,
      exceeded,
      i.estimatedTokens,
      p.rates.model,
      i.requestId ?? '',
      pctBp(a.sUsed, a.sLimit),
      pctBp(cUsed, a.dLimit),
      i.actor,
      poolId,
    ),
  );
}
