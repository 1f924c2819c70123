import type { PoolDetail } from '../api/routes/pools.schemas.js';
import { usdToMicros } from '../engine/money.js';
import type { Actor, Engine, PoolStatus, PoolUpdateInput } from '../engine/types.js';
import { isTollgateError, TollgateError } from '../errors.js';
import type { PoolDeclaration } from '../policy/index.js';
import { type PoolRecord, toPoolRecord } from './pool-status.js';

export type { PoolDetail };

export interface PoolsDeps {
  engine: Engine;
  actor: Actor;
}

/** A pool's settings at the library's edge: money in USD, as `budget.setLimits`. */
export interface PoolSettings {
  /** USD per day, local to the pool's zone; 0: none. */
  dailyCostLimit?: number;
  /** USD per month, local to the pool's zone; 0: none. */
  monthlyCostLimit?: number;
  /** Authorizes per minute by every agent beneath the pool; 0: none. */
  requestsPerMinute?: number;
  /** Tokens held per minute by every agent beneath the pool; 0: none. */
  tokensPerMinute?: number;
  /** IANA time zone of the pool's day and month; absent: UTC (create) or unchanged (update). */
  timeZone?: string;
}

const micros = (usd: number | undefined) => (usd === undefined ? undefined : usdToMicros(usd));

function engineSet(s: PoolSettings): PoolUpdateInput['set'] {
  return {
    dailyLimitMicros: micros(s.dailyCostLimit),
    monthlyLimitMicros: micros(s.monthlyCostLimit),
    requestsPerMinute: s.requestsPerMinute,
    tokensPerMinute: s.tokensPerMinute,
    timeZone: s.timeZone,
  };
}

/**
 * Pools (docs/limits.md, "Pools"): shared budgets over the agents in them and
 * the pools beneath them, up to three levels. Agents join them explicitly
 * (`identity.registerAgent(…, { poolId })`, `identity.moveAgent`).
 */
export class Pools {
  constructor(private readonly deps: PoolsDeps) {}

  /**
   * A new pool (`parentId`: beneath that pool, which must exist; absent: a
   * root). The same create again with the same settings answers the pool;
   * a taken id is CONFLICT, a missing parent NOT_FOUND, a fourth level
   * VALIDATION_FAILED.
   */
  async create(
    poolId: string,
    settings: PoolSettings & { parentId?: string } = {},
  ): Promise<PoolRecord> {
    const set = engineSet(settings);
    const p = await this.deps.engine.createPool({
      poolId,
      ...(settings.parentId !== undefined ? { parentId: settings.parentId } : {}),
      ...definedOnly(set),
      actor: this.deps.actor,
    });
    return toPoolRecord(p);
  }

  /** Changes the given settings (0 removes a limit); the parent does not change. */
  async update(poolId: string, settings: PoolSettings): Promise<PoolRecord> {
    const p = await this.deps.engine.updatePool({
      poolId,
      set: definedOnly(engineSet(settings)),
      actor: this.deps.actor,
    });
    return toPoolRecord(p);
  }

  /**
   * Deletes an empty pool and answers its last status. While agents or pools
   * are in it: CONFLICT (details `{reason: 'pool_not_empty', agents, pools}`).
   */
  async delete(poolId: string): Promise<PoolRecord> {
    return toPoolRecord(await this.deps.engine.deletePool(poolId, this.deps.actor));
  }

  /** The pool's status; null when there is no such pool. */
  async status(poolId: string): Promise<PoolRecord | null> {
    const p = await this.deps.engine.poolStatus(poolId);
    return p ? toPoolRecord(p) : null;
  }

  /** The pool's status with the ids of the agents in it and of the pools beneath it; null: none. */
  async get(poolId: string): Promise<PoolDetail | null> {
    const [p, agents, pools] = await Promise.all([
      this.deps.engine.poolStatus(poolId),
      this.deps.engine.listAgents(),
      this.deps.engine.listPools(),
    ]);
    if (!p) return null;
    return {
      ...toPoolRecord(p),
      agent_ids: agents
        .filter((a) => a.status.poolId === poolId)
        .map((a) => a.status.agentId)
        .sort(),
      pool_ids: pools
        .filter((c) => c.parentId === poolId)
        .map((c) => c.poolId)
        .sort(),
    };
  }

  /** Every pool, roots first, then by id. */
  async list(): Promise<PoolRecord[]> {
    return sortPools(await this.deps.engine.listPools()).map(toPoolRecord);
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Parents before children (by depth), then by id (also the metrics' order: src/metrics/pools.ts). */
export function sortPools(pools: PoolStatus[]): PoolStatus[] {
  return [...pools].sort(
    (a, b) => a.depth - b.depth || (a.poolId < b.poolId ? -1 : a.poolId > b.poolId ? 1 : 0),
  );
}

/** What the startup did with the policy's pools. */
export interface PoolSync {
  created: string[];
  updated: string[];
}

/** The settings of a declared pool that differ from the pool's, for an update. */
function differences(d: PoolDeclaration, p: PoolStatus): PoolUpdateInput['set'] {
  const set: PoolUpdateInput['set'] = {};
  if (p.dailyLimitMicros !== d.dailyLimitMicros) set.dailyLimitMicros = d.dailyLimitMicros;
  if (p.monthlyLimitMicros !== d.monthlyLimitMicros) set.monthlyLimitMicros = d.monthlyLimitMicros;
  if (p.requestsPerMinute !== d.requestsPerMinute) set.requestsPerMinute = d.requestsPerMinute;
  if (p.tokensPerMinute !== d.tokensPerMinute) set.tokensPerMinute = d.tokensPerMinute;
  if (p.timeZone !== d.timeZone) set.timeZone = d.timeZone;
  return set;
}

/** A declared pool that exists beneath another parent: a pool's parent never changes. */
export interface PoolParentConflict {
  poolId: string;
  /** The existing pool's parent (null: a root). */
  parentId: string | null;
  declaredParentId: string | null;
  message: string;
}

/**
 * Every declared pool that exists beneath another parent than declared (all
 * of them, read before anything is written: syncPolicyPools and a policy
 * change through the API refuse them at once, src/policy-store).
 */
export async function poolParentConflicts(
  engine: Engine,
  pools: readonly Pick<PoolDeclaration, 'poolId' | 'parentId'>[],
): Promise<PoolParentConflict[]> {
  const statuses = await Promise.all(pools.map((d) => engine.poolStatus(d.poolId)));
  const out: PoolParentConflict[] = [];
  pools.forEach((d, i) => {
    const p = statuses[i];
    if (p === null || p === undefined || p.parentId === d.parentId) return;
    out.push({
      poolId: d.poolId,
      parentId: p.parentId,
      declaredParentId: d.parentId,
      message: `Pool ${d.poolId} exists ${p.parentId === null ? 'as a root' : `beneath ${p.parentId}`}, but the policy declares it ${d.parentId === null ? 'as a root' : `beneath ${d.parentId}`}; a pool's parent does not change: delete the pool (once empty) or change the policy`,
    });
  });
  return out;
}

function conflictError(conflicts: readonly PoolParentConflict[]): TollgateError {
  const wire = conflicts.map((c) => ({
    pool_id: c.poolId,
    parent_id: c.parentId,
    declared_parent_id: c.declaredParentId,
  }));
  return new TollgateError('CONFLICT', conflicts.map((c) => c.message).join('; '), {
    ...wire[0],
    ...(wire.length > 1 ? { conflicts: wire } : {}),
  });
}

/**
 * Makes the engine hold the policy's pools (docs/policy.md, "Pools"): a
 * declared pool that does not exist is created, one whose settings differ is
 * updated to the file's (the file wins), none is deleted. `pools` come
 * parents first (`policy.pools`). Pools that exist under another parent than
 * the file's are CONFLICT, all of them named at once, before anything is
 * written: a pool's parent does not change.
 */
export async function syncPolicyPools(
  engine: Engine,
  pools: readonly PoolDeclaration[],
  actor: Actor,
): Promise<PoolSync> {
  const out: PoolSync = { created: [], updated: [] };
  const conflicts = await poolParentConflicts(engine, pools);
  if (conflicts.length > 0) throw conflictError(conflicts);
  for (const d of pools) {
    let p = await engine.poolStatus(d.poolId);
    if (p === null) {
      try {
        await engine.createPool({
          poolId: d.poolId,
          ...(d.parentId !== null ? { parentId: d.parentId } : {}),
          dailyLimitMicros: d.dailyLimitMicros,
          monthlyLimitMicros: d.monthlyLimitMicros,
          requestsPerMinute: d.requestsPerMinute,
          tokensPerMinute: d.tokensPerMinute,
          timeZone: d.timeZone,
          actor,
        });
        out.created.push(d.poolId);
        continue;
      } catch (e) {
        // Another process created it meanwhile (with other settings): update it below.
        if (!isTollgateError(e) || e.code !== 'CONFLICT') throw e;
        p = await engine.poolStatus(d.poolId);
        if (p === null) throw e;
      }
    }
    if (p.parentId !== d.parentId) {
      // Created meanwhile by another process beneath another parent.
      const [conflict] = await poolParentConflicts(engine, [d]);
      if (conflict !== undefined) throw conflictError([conflict]);
    }
    const set = differences(d, p);
    if (Object.keys(set).length === 0) continue;
    await engine.updatePool({ poolId: d.poolId, set, actor });
    out.updated.push(d.poolId);
  }
  return out;
}
