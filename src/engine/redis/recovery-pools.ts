import { Code, unexpected } from '../codes.js';
import { dirKey, poolDirKey, poolKey, shardOf } from '../keys.js';
import { checkPools, type EngineSnapshot, type RestoredAgent } from '../memory/index.js';
import type { PoolRec } from '../memory/pools.js';
import { zoneTextAt } from '../periods.js';
import type { Scripts } from './scripts.js';
import { storeErrors } from './store-errors.js';

/** restorePool-2's values per pool (its header). */
const POOL_ARGS = 13;

/**
 * What a shard's recovery restores of pools (docs/recovery.md, "What is
 * restored"; docs/engine.md, "Where an agent lives"): the hierarchies whose
 * root is on the shard (with their alert marks), where each agent of the
 * snapshot lives (a plain agent at home, an agent in a pool on its root's
 * shard, with its pool chain), and the directory entries the shard keeps: its
 * agents that live elsewhere, and the roots of the pools whose id's shard it is.
 */
export interface PoolPlan {
  /** The hierarchies rooted on the shard: root id → restorePool's ARGV from ARGV[3] on. */
  hierarchies: Map<string, (string | number)[]>;
  /** The shard the agent lives on and its pool chain ('' none), or undefined: in no known pool. */
  place(a: RestoredAgent): { shard: number; chain: string };
  /** restoreDirectory's ARGV from ARGV[2] on (agent entries, then pool entries), or undefined: none. */
  directory: (string | number)[] | undefined;
  shards: number;
}

/**
 * The plan for `shard`. The snapshot's pools are checked as the embedded
 * restore checks them (checkPools); pools it refuses are warned about and not
 * restored (their agents come back at home in none), so a bad row cannot hold
 * the shard back.
 */
export function poolPlan(
  snap: EngineSnapshot,
  shard: number,
  shards: number,
  warn: (message: string) => void,
): PoolPlan {
  const at = snap.atMs ?? snap.dayStartMs;
  let pools = new Map<string, PoolRec>();
  try {
    pools = checkPools(snap.pools ?? [], at, Date.now());
  } catch (e) {
    warn(
      `tollgate: recovery of shard ${shard}: pools not restored: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const place = (a: RestoredAgent): { shard: number; chain: string } => {
    const pl = a.poolId === undefined ? undefined : pools.get(a.poolId);
    if (pl === undefined) return { shard: shardOf(a.agentId, shards), chain: '' };
    return { shard: shardOf(pl.root, shards), chain: pl.chain.join('|') };
  };
  const agentsIn = new Map<string, number>();
  const away: (string | number)[] = [];
  for (const a of snap.agents) {
    const p = place(a);
    if (a.poolId !== undefined && p.chain !== '') {
      agentsIn.set(a.poolId, (agentsIn.get(a.poolId) ?? 0) + 1);
    }
    if (shardOf(a.agentId, shards) === shard && p.shard !== shard) away.push(a.agentId, p.shard);
  }
  const byId = new Map((snap.pools ?? []).map((p) => [p.poolId, p]));
  const hierarchies = new Map<string, (string | number)[]>();
  const roots: (string | number)[] = [];
  for (const pl of pools.values()) {
    if (shardOf(pl.id, shards) === shard) roots.push(pl.id, pl.root);
    if (shardOf(pl.root, shards) !== shard) continue;
    const p = byId.get(pl.id);
    if (p === undefined) continue;
    let args = hierarchies.get(pl.root);
    if (args === undefined) {
      args = [];
      hierarchies.set(pl.root, args);
    }
    args.push(
      pl.id,
      pl.parent ?? '',
      zoneTextAt(pl.zone, Date.now()),
      pl.dLimit,
      pl.mLimit,
      pl.rpm,
      pl.tpm,
      pl.created,
      p.dailyCostMicros,
      p.monthlyCostMicros,
      agentsIn.get(pl.id) ?? 0,
      // Its alert marks: checkPools checked the lists.
      pl.dAlerts === undefined ? '' : [...pl.dAlerts.fired].join(','),
      pl.mAlerts === undefined ? '' : [...pl.mAlerts.fired].join(','),
    );
  }
  const directory =
    away.length === 0 && roots.length === 0 ? undefined : [away.length / 2, ...away, ...roots];
  return { hierarchies, place, directory, shards };
}

/**
 * restorePool-2 for each hierarchy of the plan (one call each: atomic, and a
 * hierarchy already there is left alone). `overtaken`: the shard became
 * ready meanwhile (another process restored it).
 */
export async function restoreHierarchies(
  scripts: Scripts,
  plan: PoolPlan,
  /** The shard's ready marker. */
  marker: string,
  atMs: number,
  offset: () => number,
): Promise<{ written: number; overtaken: boolean }> {
  let written = 0;
  for (const [root, args] of plan.hierarchies) {
    const [c] = await storeErrors(
      scripts.run(
        'restorePool',
        [poolKey(root, plan.shards), marker],
        [offset(), atMs, args.length / POOL_ARGS, ...args],
      ),
    );
    if (c === Code.SHARD_READY) return { written, overtaken: true };
    if (c === Code.OK) written++;
    else if (c !== Code.CONFLICT) throw unexpected('restorePool', c);
  }
  return { written, overtaken: false };
}

/** restoreDirectory-2 with the plan's entries, if any; true: the shard became ready meanwhile. */
export async function restoreDirectory(
  scripts: Scripts,
  plan: PoolPlan,
  shard: number,
  offset: () => number,
): Promise<boolean> {
  if (plan.directory === undefined) return false;
  const [c] = await storeErrors(
    scripts.run(
      'restoreDirectory',
      [dirKey(shard), poolDirKey(shard)],
      [offset(), ...plan.directory],
    ),
  );
  if (c === Code.SHARD_READY) return true;
  if (c !== Code.OK) throw unexpected('restoreDirectory', c);
  return false;
}
