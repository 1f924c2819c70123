import { Code } from '../codes.js';
import type { ZoneTransitions } from '../periods.js';
import { type EventTailBits, eventIdOf } from '../random.js';
import { agentRate, type RateState, rateMove, type Tat } from '../rate.js';
import type { Actor, PoolStatus } from '../types.js';
import type { MemoryState } from './state.js';
import { appendEvent, FieldsEvent } from './stored-event.js';

/**
 * Pools in MemoryEngine (docs/limits.md, "Pools"): the in-process twin of
 * lua/includes/pools.lua. A pool's state is one record: its limits, zone,
 * the GCRA arrival times of its rate limits, what is held under it now, and
 * the spend of its current local day and month, each tagged with the period
 * it is of (a spend of another period counts as 0: a new day starts at 0,
 * decided by the clock, as the scripts decide it by Redis TIME).
 */
export interface PoolRec extends RateState {
  readonly id: string;
  readonly parent: string | null;
  /** The root of its hierarchy (itself for a root); the hierarchy lives on the root's shard. */
  readonly root: string;
  /** 1 for a root, up to MAX_POOL_DEPTH. */
  readonly depth: number;
  /** The pool and the pools above it, leaf first (this one first): what an agent in it is charged to. */
  readonly chain: readonly string[];
  dLimit: number;
  mLimit: number;
  zone: string;
  zoneT: ZoneTransitions;
  /** Micro-dollars held now under the pool (by agents in it and in the pools beneath it). */
  cRes: number;
  /** The local date (yyyymmdd) `dCost` is of; the local month (yyyymm) `mCost` is of. */
  day: number;
  dCost: number;
  mon: number;
  mCost: number;
  /** Agents directly in the pool, and pools directly beneath it. */
  agents: number;
  children: number;
  readonly created: number;
  /** Alert marks of its day and month (fields `ad:<id>`, `am:<id>` of the hierarchy: alerts.ts). */
  dAlerts?: PoolAlertMarks;
  mAlerts?: PoolAlertMarks;
}

/** A pool's alert marks of one period: the period (yyyymmdd or yyyymm) and the thresholds fired in it. */
export interface PoolAlertMarks {
  period: number;
  fired: Set<number>;
}

/** The shard a pool's hierarchy (and every agent in it) lives on: its root's. */
export function poolShard(st: MemoryState, pl: PoolRec): number {
  return st.shardOf(pl.root);
}

/** The pool's spend of its local day and month at `now` (0 for a period it has not spent in). */
export function poolSpend(st: MemoryState, pl: PoolRec): { dCost: number; mCost: number } {
  const p = st.periodIn(pl.zoneT);
  return { dCost: pl.day === p.day ? pl.dCost : 0, mCost: pl.mon === p.month ? pl.mCost : 0 };
}

/** The pools of a chain that still exist (a pool emptied and deleted under an open hold is skipped). */
function levels(st: MemoryState, chain: readonly string[]): PoolRec[] {
  const out: PoolRec[] = [];
  for (const id of chain) {
    const pl = st.pools.get(id);
    if (pl !== undefined) out.push(pl);
  }
  return out;
}

/**
 * checkPools' answer; a denial also gives the new arrival times of the levels
 * below the one that denied (shadow mode holds with them: ./shadow.ts).
 */
export type PoolCheck =
  | { code: null; tats: { rTat: Tat; tTat: Tat }[] }
  | { code: number; poolId: string; retryMs: number; tats: { rTat: Tat; tTat: Tat }[] };

/**
 * authorize's checks of every pool of the chain, leaf first, for a hold of
 * `holdCost` and `tokens`: daily cost, monthly cost (in the pool's zone),
 * requests and tokens per minute. All or nothing: the new arrival times of
 * each level (stored by holdPools once the hold is made), or the first
 * denial's code (POOL_*), its pool and, for a rate limit, the ms to wait.
 */
export function checkPools(
  st: MemoryState,
  chain: readonly string[],
  holdCost: number,
  tokens: number,
): PoolCheck {
  const tats: { rTat: Tat; tTat: Tat }[] = [];
  for (const pl of levels(st, chain)) {
    const { dCost, mCost } = poolSpend(st, pl);
    if (pl.dLimit > 0 && dCost + pl.cRes + holdCost > pl.dLimit) {
      return { code: Code.POOL_DAILY, poolId: pl.id, retryMs: 0, tats };
    }
    if (pl.mLimit > 0 && mCost + pl.cRes + holdCost > pl.mLimit) {
      return { code: Code.POOL_MONTHLY, poolId: pl.id, retryMs: 0, tats };
    }
    if (pl.rpm > 0 || pl.tpm > 0) {
      const r = agentRate(pl, tokens, st.now);
      if (r.code !== null) {
        const code =
          r.code === Code.RATE_REQUESTS ? Code.POOL_RATE_REQUESTS : Code.POOL_RATE_TOKENS;
        return { code, poolId: pl.id, retryMs: r.retryMs, tats };
      }
      tats.push({ rTat: r.rTat, tTat: r.tTat });
    } else {
      tats.push({ rTat: pl.rTat, tTat: pl.tTat });
    }
  }
  return { code: null, tats };
}

/**
 * The hold made: each level holds its cost and takes its new arrival times
 * (checkPools'); the levels past `tats` keep theirs (a shadow decision).
 */
export function holdPools(
  st: MemoryState,
  chain: readonly string[],
  holdCost: number,
  tats: readonly { rTat: Tat; tTat: Tat }[],
): void {
  levels(st, chain).forEach((pl, k) => {
    pl.cRes += holdCost;
    const t = tats[k];
    if (t !== undefined) {
      pl.rTat = t.rTat;
      pl.tTat = t.tTat;
    }
  });
}

/**
 * A hold closed under its pools: `open` (it was still held) frees its cost;
 * `charge` (a settle) adds the usage's cost to each level's day and month;
 * `tokenDelta` (a settle: used - held; a release: -held; null for a lease's
 * end) corrects each level's tokens per minute, as the agent's.
 */
export function closePools(
  st: MemoryState,
  chain: readonly string[],
  heldCost: number,
  open: boolean,
  charge: number,
  tokenDelta: number | null,
): void {
  for (const pl of levels(st, chain)) {
    if (open) pl.cRes = Math.max(0, pl.cRes - heldCost);
    if (charge > 0) chargePool(st, pl, charge);
    if (tokenDelta !== null && pl.tpm > 0 && tokenDelta !== 0) {
      pl.tTat = rateMove(pl.tTat, pl.tpm, tokenDelta, st.now);
    }
  }
}

/**
 * Usage without a hold (recordUsage): `cost` to each level's day and month,
 * `tokens` to its tokens per minute (counted, never refused).
 */
export function chargePools(
  st: MemoryState,
  chain: readonly string[],
  cost: number,
  tokens: number,
): void {
  if (cost <= 0 && tokens <= 0) return;
  for (const pl of levels(st, chain)) {
    if (cost > 0) chargePool(st, pl, cost);
    if (tokens > 0 && pl.tpm > 0) pl.tTat = rateMove(pl.tTat, pl.tpm, tokens, st.now);
  }
}

function chargePool(st: MemoryState, pl: PoolRec, cost: number): void {
  const p = st.periodIn(pl.zoneT);
  if (pl.day !== p.day) {
    pl.day = p.day;
    pl.dCost = 0;
  }
  if (pl.mon !== p.month) {
    pl.mon = p.month;
    pl.mCost = 0;
  }
  pl.dCost += cost;
  pl.mCost += cost;
}

/** The `pools` field of settle, release and usage events: the levels, leaf first ('' for none). */
export function poolsText(chain: readonly string[]): string {
  return chain.join('|');
}

/** A pool's status now (the same object, key for key, as RedisEngine reads). */
export function poolStatusOf(st: MemoryState, pl: PoolRec): PoolStatus {
  const p = st.periodIn(pl.zoneT);
  const { dCost, mCost } = poolSpend(st, pl);
  return {
    poolId: pl.id,
    parentId: pl.parent,
    rootId: pl.root,
    depth: pl.depth,
    timeZone: pl.zone,
    day: p.day,
    month: p.month,
    dailyLimitMicros: pl.dLimit,
    dailyCostMicros: dCost,
    dailyReservedMicros: pl.cRes,
    monthlyLimitMicros: pl.mLimit,
    monthlyCostMicros: mCost,
    monthlyReservedMicros: pl.cRes,
    requestsPerMinute: pl.rpm,
    tokensPerMinute: pl.tpm,
    agents: pl.agents,
    children: pl.children,
    createdMs: pl.created,
    nowMs: st.now,
  };
}

/** pool_created, pool_updated, pool_deleted (lua/includes/pools.lua poolEvent), on the root's shard. */
export function poolEvent(
  st: MemoryState,
  tail: EventTailBits,
  type: 'pool_created' | 'pool_updated' | 'pool_deleted',
  pl: PoolRec,
  actor: Actor,
): void {
  appendEvent(
    st.outbox,
    new FieldsEvent(st, poolShard(st, pl), {
      event_id: eventIdOf(st.now, tail, 0),
      at: String(st.now),
      type,
      agent_id: '',
      pool_id: pl.id,
      parent_id: pl.parent ?? '',
      root_id: pl.root,
      daily_limit_micros: String(pl.dLimit),
      monthly_limit_micros: String(pl.mLimit),
      requests_per_minute: String(pl.rpm),
      tokens_per_minute: String(pl.tpm),
      time_zone: pl.zone,
      actor,
    }),
  );
}

/** agent_moved (lua/moveAgent-*.lua, lua/copyAgent-*.lua), on the agent's new shard. */
export function movedEvent(
  st: MemoryState,
  shard: number,
  tail: EventTailBits,
  n: number,
  agentId: string,
  to: string,
  from: string,
  actor: Actor,
): void {
  appendEvent(
    st.outbox,
    new FieldsEvent(st, shard, {
      event_id: eventIdOf(st.now, tail, n),
      at: String(st.now),
      type: 'agent_moved',
      agent_id: agentId,
      pool_id: to,
      from_pool_id: from,
      actor,
    }),
  );
}
