import { TollgateError } from '../../errors.js';
import { DAY_MS } from '../clock.js';
import { checkAgentId, checkCount, checkRole, parseScopedId } from '../ids.js';
import { agentZone, decodeZone, periodAt } from '../periods.js';
import type { AgentStatus } from '../types.js';
import { checkPerMinute, MAX_LIMIT } from '../validate.js';
import { dayExpiry } from './records.js';
import { addPools, checkFired, checkPools, type RestoredPool } from './restore-pools.js';
import type { AgentRec, DayRec, MemoryState } from './state.js';

/**
 * What MemoryEngine can be restored from (ARCHITECTURE.md, rules 'Redis decides;
 * the store remembers and restores' and 'Embedded by default'): the agents
 * as the durable store projected them, the spend (and overrun) of one UTC
 * day, the counters of each agent's current session, and the budget alerts
 * already fired in those periods. Holds in flight are not part of
 * it: a restored engine holds nothing (a hold's worker settles it against a
 * reservation that no longer exists and gets RESERVATION_NOT_FOUND; its usage
 * can still be recorded with recordUsage).
 */
export interface RestoredAgent {
  agentId: string;
  role: string;
  status: AgentStatus;
  /** The current session: `<agentId>.<nonce>`. */
  sessionId: string;
  sessionStartedMs: number;
  sessionTokenLimit: number;
  dailyLimitMicros: number;
  /** sha-256 hex of the agent's API key. */
  keyDigest: string;
  createdMs: number;
  /** JSON text as stored. */
  metadata: string;
  /** The current session's counters. */
  sessionTokensUsed: number;
  sessionCostMicros: number;
  operationsBlocked: number;
  /** Spend on its local day at the snapshot's atMs, micro-dollars. */
  dailyCostMicros: number;
  /** Tokens settled above their holds in the current session (absent: 0). */
  sessionOverrunTokens?: number;
  /** Micro-dollars settled above their holds' cost on that day (absent: 0). */
  dailyOverrunMicros?: number;
  /** Rate limits (absent: none; their TATs start empty). */
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  /** Micro-dollars a month (absent or 0: none). */
  monthlyLimitMicros?: number;
  /** IANA time zone of its day and month (absent: UTC). */
  timeZone?: string;
  /** Spend and overrun of its local month at the snapshot's atMs (absent: 0). */
  monthlyCostMicros?: number;
  monthlyOverrunMicros?: number;
  /** The pool it is in (absent: none); it must be among the snapshot's pools. */
  poolId?: string;
  /**
   * The budget alert thresholds (percent, increasing) already fired for its own
   * budgets (absent: none): of its current session, of its local day and of its
   * local month at atMs. Restored as its alert marks, so that they do not fire
   * again in those periods (lua/includes/alerts.lua).
   */
  sessionAlerts?: readonly number[];
  dailyAlerts?: readonly number[];
  monthlyAlerts?: readonly number[];
}

export type { RestoredPool };

export interface EngineSnapshot {
  /** Start (ms, UTC midnight) of the UTC day of atMs (of the spend of agents without a zone). */
  dayStartMs: number;
  /**
   * The instant the spend is of: each agent's `dailyCostMicros` is of its day
   * local to its zone at atMs, `monthlyCostMicros` of its local month (absent:
   * dayStartMs).
   */
  atMs?: number;
  agents: readonly RestoredAgent[];
  /** The pools, each after its parent, with their local day's and month's spend at atMs (absent: none). */
  pools?: readonly RestoredPool[];
}

const DIGEST = /^[0-9a-f]{64}$/;
const MAX_METADATA = 16_384;

function invalid(message: string, details: Record<string, unknown>): TollgateError {
  return new TollgateError('VALIDATION_FAILED', `Bad snapshot: ${message}`, details);
}

function counter(v: unknown, what: string, agentId: string): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw invalid(`${what} must be a non-negative integer`, { agent_id: agentId, field: what });
  }
}

function checkAgent(a: RestoredAgent): void {
  checkAgentId(a.agentId);
  const id = a.agentId;
  checkRole(a.role);
  if (a.status !== 'active' && a.status !== 'suspended') {
    throw invalid('status must be active or suspended', { agent_id: id, field: 'status' });
  }
  if (parseScopedId(a.sessionId, 'session_id').agentId !== id) {
    throw invalid('session_id belongs to another agent', { agent_id: id, field: 'session_id' });
  }
  checkCount(a.sessionTokenLimit, 'session_token_limit', MAX_LIMIT);
  checkCount(a.dailyLimitMicros, 'daily_cost_limit', MAX_LIMIT);
  if (typeof a.keyDigest !== 'string' || !DIGEST.test(a.keyDigest)) {
    throw invalid('key digest must be 64 hex digits', { agent_id: id, field: 'key_digest' });
  }
  if (typeof a.metadata !== 'string' || a.metadata.length > MAX_METADATA) {
    throw invalid('metadata must be text of at most 16384 characters', {
      agent_id: id,
      field: 'metadata',
    });
  }
  counter(a.sessionStartedMs, 'session_started_at', id);
  counter(a.createdMs, 'created_at', id);
  counter(a.sessionTokensUsed, 'session_tokens_used', id);
  counter(a.sessionCostMicros, 'session_cost', id);
  counter(a.operationsBlocked, 'operations_blocked', id);
  counter(a.dailyCostMicros, 'daily_cost', id);
  counter(a.sessionOverrunTokens ?? 0, 'session_overrun_tokens', id);
  counter(a.dailyOverrunMicros ?? 0, 'daily_overrun', id);
  checkPerMinute(a);
  counter(a.monthlyCostMicros ?? 0, 'monthly_cost', id);
  counter(a.monthlyOverrunMicros ?? 0, 'monthly_overrun', id);
  agentZone(a.timeZone, Date.now());
  checkAlerts(a);
}

/** Checks the agent's alert thresholds already fired (restore-pools.ts checkFired). */
export function checkAlerts(a: RestoredAgent): void {
  const details = { agent_id: a.agentId };
  checkFired(a.sessionAlerts, 'session_alerts', details);
  checkFired(a.dailyAlerts, 'daily_alerts', details);
  checkFired(a.monthlyAlerts, 'monthly_alerts', details);
}

/** True when the engine holds anything at all: agents, spend, holds, or undrained events. */
export function hasState(st: MemoryState): boolean {
  if (st.scopes.size > 0 || st.pools.size > 0) return true;
  for (const box of st.outbox) if (box.length > 0) return true;
  return false;
}

/**
 * Loads a snapshot into an empty engine, all or nothing: every agent is
 * checked first, then the state is written. Refuses (CONFLICT) an engine that
 * has any state or was restored before: restore runs before the engine serves
 * anything. Emits no events (the store already has them).
 */
export function restore(st: MemoryState, snap: EngineSnapshot): number {
  if (st.restored || hasState(st)) {
    throw new TollgateError(
      'CONFLICT',
      'restore needs a new, empty engine: run it before the engine serves anything',
      {},
    );
  }
  const dayStart = snap.dayStartMs;
  if (!Number.isSafeInteger(dayStart) || dayStart < 0 || dayStart % DAY_MS !== 0) {
    throw invalid('dayStartMs must be a UTC midnight in ms', { field: 'day_start' });
  }
  const at = snap.atMs ?? dayStart;
  if (!Number.isSafeInteger(at) || at < 0) {
    throw invalid('atMs must be an instant in ms', { field: 'at' });
  }
  const pools = checkPools(snap.pools ?? [], at, Date.now());
  const seen = new Set<string>();
  for (const a of snap.agents) {
    checkAgent(a);
    if (seen.has(a.agentId)) throw invalid('agent listed twice', { agent_id: a.agentId });
    seen.add(a.agentId);
    if (a.poolId !== undefined && !pools.has(a.poolId)) {
      throw invalid('agent in a pool the snapshot lacks', {
        agent_id: a.agentId,
        pool_id: a.poolId,
      });
    }
  }

  st.tick();
  addPools(st, pools);
  for (const x of snap.agents) {
    const sc = st.scope(x.agentId);
    const zone = agentZone(x.timeZone, st.now);
    const a: AgentRec = {
      role: x.role,
      status: x.status,
      sid: x.sessionId,
      sStart: x.sessionStartedMs,
      sLimit: x.sessionTokenLimit,
      dLimit: x.dailyLimitMicros,
      mLimit: x.monthlyLimitMicros ?? 0,
      zone: zone.name,
      zoneT: decodeZone(zone.text),
      rpm: x.requestsPerMinute ?? 0,
      tpm: x.tokensPerMinute ?? 0,
      rTat: { tat: 0, frac: 0 },
      tTat: { tat: 0, frac: 0 },
      sUsed: x.sessionTokensUsed,
      sRes: 0,
      sCost: x.sessionCostMicros,
      cRes: 0,
      blocked: x.operationsBlocked,
      sOver: x.sessionOverrunTokens ?? 0,
      nextExp: 0,
      digest: x.keyDigest,
      created: x.createdMs,
      meta: x.metadata,
      ended: null,
      pools: [],
    };
    const sFired = x.sessionAlerts ?? [];
    if (sFired.length > 0) a.alertSids = new Map(sFired.map((pct) => [pct, x.sessionId]));
    sc.agent = a;
    const pool = x.poolId === undefined ? undefined : pools.get(x.poolId);
    if (pool !== undefined) {
      // In its pool, on its hierarchy's shard (as registerAgent places it).
      a.pools = pool.chain;
      pool.agents += 1;
      st.moveToShard(sc, st.shardOf(pool.root));
    }
    st.addToIndex(sc);
    // The spend of its local day and month at the snapshot's instant, as chargeDay keeps
    // them, with the alerts fired in them (their marks).
    const p = periodAt(at, a.zoneT);
    const dFired = x.dailyAlerts ?? [];
    const cost = x.dailyCostMicros;
    const over = x.dailyOverrunMicros ?? 0;
    const dayExpireAt = dayExpiry(p.nextDayMs, st.offset);
    if ((cost > 0 || over > 0 || dFired.length > 0) && dayExpireAt >= st.real) {
      const rec: DayRec = { scope: sc, day: p.day, cost, over, expireAt: dayExpireAt };
      if (dFired.length > 0) rec.alerts = new Set(dFired);
      sc.days.set(p.day, rec);
      st.dayQ.push(dayExpireAt, rec);
    }
    const mFired = x.monthlyAlerts ?? [];
    const mCost = x.monthlyCostMicros ?? 0;
    const mOver = x.monthlyOverrunMicros ?? 0;
    const monthExpireAt = dayExpiry(p.nextMonthMs, st.offset);
    if ((mCost > 0 || mOver > 0 || mFired.length > 0) && monthExpireAt >= st.real) {
      const rec: DayRec = {
        scope: sc,
        day: p.month,
        cost: mCost,
        over: mOver,
        expireAt: monthExpireAt,
      };
      if (mFired.length > 0) rec.alerts = new Set(mFired);
      sc.days.set(p.month, rec);
      st.dayQ.push(monthExpireAt, rec);
    }
  }
  st.restored = true;
  return snap.agents.length;
}
