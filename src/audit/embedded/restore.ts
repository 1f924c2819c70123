import { DAY_MS } from '../../engine/clock.js';
import type { EngineSnapshot, RestoredAgent, RestoredPool } from '../../engine/memory/index.js';
import type { AgentTotals, AuditStore } from '../store/types.js';

/** What restore needs of the engine: MemoryEngine's restore. */
export interface Restorable {
  restore(snapshot: EngineSnapshot): number;
}

/** UTC midnight (ms) of the day of `ms`. */
export function dayStartOf(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/**
 * The engine snapshot the store holds (ARCHITECTURE.md, rules 'Redis decides;
 * the store remembers and restores' and 'Embedded by default'): its registry
 * (agents not deleted, with role, status, current session, limits, rate
 * limits, monthly limit, time zone, key digest, creation time, metadata) and,
 * summed over its ledger, each agent's spend on its day and month local to its
 * zone at `nowMs` (and the overrun among them) and its current session's
 * tokens, cost, overrun tokens and denials; the pool registry (parents first)
 * with each pool's spend on its local day and month, and each agent's pool;
 * the budget alerts already fired in those periods (the marks). Holds in flight are not
 * in the store's sums: a hold is spend only once settled.
 */
export async function snapshotFromStore(
  store: Pick<AuditStore, 'agents' | 'totals' | 'pools'>,
  nowMs: number = Date.now(),
): Promise<EngineSnapshot> {
  const dayStartMs = dayStartOf(nowMs);
  const agents = await store.agents();
  const totals = await store.totals(nowMs, new Set(agents.map((a) => a.timeZone)));
  const stored = store.pools === undefined ? [] : await store.pools(nowMs);
  const byId = new Map<string, AgentTotals>(totals.map((t) => [t.agentId, t]));
  const pools = stored.map(
    (p): RestoredPool => ({
      poolId: p.poolId,
      parentId: p.parentId,
      dailyLimitMicros: p.dailyCostLimit,
      monthlyLimitMicros: p.monthlyCostLimit,
      requestsPerMinute: p.requestsPerMinute,
      tokensPerMinute: p.tokensPerMinute,
      timeZone: p.timeZone,
      createdMs: p.createdAt,
      dailyCostMicros: p.dayCost,
      monthlyCostMicros: p.monthCost,
      ...(p.dayAlerts === undefined ? {} : { dailyAlerts: p.dayAlerts }),
      ...(p.monthAlerts === undefined ? {} : { monthlyAlerts: p.monthAlerts }),
    }),
  );
  const known = new Set(pools.map((p) => p.poolId));
  return {
    dayStartMs,
    atMs: nowMs,
    pools,
    agents: agents.map((a): RestoredAgent => {
      const t = byId.get(a.agentId);
      return {
        agentId: a.agentId,
        role: a.role,
        status: a.status,
        sessionId: a.sessionId,
        sessionStartedMs: a.sessionStartedAt,
        sessionTokenLimit: a.sessionTokenLimit,
        dailyLimitMicros: a.dailyCostLimit,
        keyDigest: a.keyDigest,
        createdMs: a.createdAt,
        metadata: a.metadata,
        requestsPerMinute: a.requestsPerMinute,
        tokensPerMinute: a.tokensPerMinute,
        monthlyLimitMicros: a.monthlyCostLimit,
        timeZone: a.timeZone,
        sessionTokensUsed: t?.sessionTokens ?? 0,
        sessionCostMicros: t?.sessionCost ?? 0,
        operationsBlocked: t?.sessionBlocked ?? 0,
        dailyCostMicros: t?.dayCost ?? 0,
        sessionOverrunTokens: t?.sessionOverrunTokens ?? 0,
        dailyOverrunMicros: t?.dayOverrunCost ?? 0,
        monthlyCostMicros: t?.monthCost ?? 0,
        monthlyOverrunMicros: t?.monthOverrunCost ?? 0,
        ...(t?.sessionAlerts === undefined ? {} : { sessionAlerts: t.sessionAlerts }),
        ...(t?.dayAlerts === undefined ? {} : { dailyAlerts: t.dayAlerts }),
        ...(t?.monthAlerts === undefined ? {} : { monthlyAlerts: t.monthAlerts }),
        // A pool the registry lacks (deleted since, or its events not stored): in none.
        ...(a.poolId != null && known.has(a.poolId) ? { poolId: a.poolId } : {}),
      };
    }),
  };
}

/**
 * Restores a new MemoryEngine from the store before it serves anything: see
 * snapshotFromStore and MemoryEngine.restore (which refuses an engine that
 * already has state). `nowMs` is the engine's clock (default Date.now()).
 * Returns the number of agents restored and the day whose spend was loaded.
 */
export async function restoreFromStore(
  engine: Restorable,
  store: Pick<AuditStore, 'agents' | 'totals' | 'pools'>,
  nowMs: number = Date.now(),
): Promise<{ agents: number; dayStartMs: number }> {
  const snapshot = await snapshotFromStore(store, nowMs);
  const agents = engine.restore(snapshot);
  return { agents, dayStartMs: snapshot.dayStartMs };
}
