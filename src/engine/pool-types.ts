/**
 * The pool types of the Engine interface (src/engine/types.ts re-exports
 * them): a pool's input, its change and its status, in raw units.
 */
import type { Actor } from './types.js';

/** A pool's four limits in raw units (micro-dollars, per minute); 0: none. */
export interface PoolLimits {
  dailyLimitMicros: number;
  monthlyLimitMicros: number;
  requestsPerMinute: number;
  tokensPerMinute: number;
}

/**
 * A pool: a shared budget over the agents in it and the pools beneath it, up
 * to three levels (docs/limits.md, "Pools"). Limits absent or 0: none.
 */
export interface PoolInput extends Partial<PoolLimits> {
  poolId: string;
  /** Absent: a root. The parent must exist, and a pool is at most the third level. */
  parentId?: string;
  /** IANA name of the pool's day and month; absent: UTC. */
  timeZone?: string;
  actor: Actor;
}

export interface PoolUpdateInput {
  poolId: string;
  /** Each given field replaces the pool's (0: no limit). The parent does not change. */
  set: Partial<PoolLimits> & { timeZone?: string };
  actor: Actor;
}

/** A pool's limits and spend, read in one atomic step. */
export interface PoolStatus {
  poolId: string;
  /** Null for a root. */
  parentId: string | null;
  rootId: string;
  /** 1 for a root, up to 3. */
  depth: number;
  timeZone: string;
  /** The pool's local date (yyyymmdd) and month (yyyymm) at nowMs. */
  day: number;
  month: number;
  dailyLimitMicros: number;
  /** Settled today (its agents' and the pools' beneath it) and held now. */
  dailyCostMicros: number;
  dailyReservedMicros: number;
  monthlyLimitMicros: number;
  monthlyCostMicros: number;
  monthlyReservedMicros: number;
  requestsPerMinute: number;
  tokensPerMinute: number;
  /** Agents directly in the pool, and pools directly beneath it. */
  agents: number;
  children: number;
  createdMs: number;
  nowMs: number;
}
