import type { PoolLimits } from '../engine/types.js';
import { usdToMicros } from './money.js';
import { MAX_POOL_DEPTH } from './names.js';
import type { PoolEntry } from './schema.js';

/**
 * The pools a policy file declares (docs/policy.md, "Pools"): a list of
 * entries that name their pool (`pool_id`), or a mapping whose keys name them.
 * The merged document keeps the mapping form; the policy gives them parents
 * first, in engine units, for the startup to create or update
 * (src/budget/pools.ts, `syncPolicyPools`).
 */

/** A declared pool in engine units: money in micro-dollars; 0: no limit. */
export interface PoolDeclaration extends PoolLimits {
  poolId: string;
  /** Null for a root. */
  parentId: string | null;
  /** IANA name; 'UTC' when the file gives none. */
  timeZone: string;
}

export interface TreeIssue {
  path: PropertyKey[];
  message: string;
}

/** A pool as a `pools` section declares it, read as it came (policy-store checks it against the engine). */
export interface Declared {
  id: string;
  parent: string | undefined;
  /** Where the entry is: its index in a list, its key in a mapping. */
  at: PropertyKey;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The entries of a `pools` section as given (any shape): those with a string id. */
export function declaredPools(pools: unknown): Declared[] {
  const out: Declared[] = [];
  const parentOf = (e: Record<string, unknown>) =>
    typeof e.parent === 'string' ? e.parent : undefined;
  if (Array.isArray(pools)) {
    pools.forEach((e, i) => {
      if (isRecord(e) && typeof e.pool_id === 'string') {
        out.push({ id: e.pool_id, parent: parentOf(e), at: i });
      }
    });
  } else if (isRecord(pools)) {
    for (const [key, e] of Object.entries(pools)) {
      if (isRecord(e)) out.push({ id: key, parent: parentOf(e), at: key });
    }
  }
  return out;
}

/**
 * The problems of the tree a `pools` section declares, read as it came (any
 * shape, so that it runs beside the schema's own checks): an id declared
 * twice, a mapping entry whose `pool_id` is not its key, a parent the file
 * does not declare, a pool below the third level, a loop of parents.
 */
export function poolTreeIssues(pools: unknown): TreeIssue[] {
  const issues: TreeIssue[] = [];
  if (isRecord(pools)) {
    for (const [key, e] of Object.entries(pools)) {
      if (isRecord(e) && e.pool_id !== undefined && e.pool_id !== key) {
        issues.push({ path: [key, 'pool_id'], message: `must be the entry's key ("${key}")` });
      }
    }
  }
  const entries = declaredPools(pools);
  const byId = new Map<string, Declared>();
  for (const e of entries) {
    const first = byId.get(e.id);
    if (first !== undefined) {
      issues.push({
        path: [e.at, 'pool_id'],
        message: `pool "${e.id}" is declared twice (first at pools[${String(first.at)}])`,
      });
      continue;
    }
    byId.set(e.id, e);
  }
  for (const e of byId.values()) {
    if (e.parent === undefined) continue;
    if (!byId.has(e.parent)) {
      issues.push({
        path: [e.at, 'parent'],
        message: `no pool "${e.parent}" is declared in this file (a parent must be declared with its children)`,
      });
      continue;
    }
    const chain = [e.id];
    let cur: Declared | undefined = e;
    while (cur?.parent !== undefined) {
      if (chain.includes(cur.parent)) {
        issues.push({
          path: [e.at, 'parent'],
          message: `the parents loop: ${[...chain, cur.parent].join(' > ')}`,
        });
        break;
      }
      chain.push(cur.parent);
      cur = byId.get(cur.parent);
    }
    if (cur?.parent === undefined && chain.length > MAX_POOL_DEPTH) {
      issues.push({
        path: [e.at, 'parent'],
        message: `pools have at most ${MAX_POOL_DEPTH} levels: "${e.id}" would be level ${chain.length} (${[...chain].reverse().join(' > ')})`,
      });
    }
  }
  return issues;
}

/** A file's `pools` (a list or a mapping, already checked) in the document's mapping form. */
export function poolsToDoc(
  pools:
    | readonly ({ pool_id: string } & PoolEntry)[]
    | Record<string, { pool_id?: string } & PoolEntry>,
): Record<string, PoolEntry> {
  const out: Record<string, PoolEntry> = {};
  const entries = Array.isArray(pools)
    ? pools.map((e) => [e.pool_id, e] as const)
    : Object.entries(pools);
  for (const [id, { pool_id: _, ...entry }] of entries) {
    out[id] = Object.fromEntries(
      Object.entries(entry).filter(([, v]) => v !== undefined),
    ) as PoolEntry;
  }
  return out;
}

/** The document's pools in engine units, each after its parent (by level, then in file order). */
export function poolDeclarations(
  pools: Readonly<Record<string, PoolEntry>> | undefined,
): readonly PoolDeclaration[] {
  if (pools === undefined) return Object.freeze([]);
  const entries = Object.entries(pools);
  const levelOf = (id: string): number => {
    let level = 1;
    for (
      let p = pools[id]?.parent;
      p !== undefined && level <= MAX_POOL_DEPTH;
      p = pools[p]?.parent
    ) {
      level++;
    }
    return level;
  };
  const ordered = entries
    .map(([id, e], i) => ({ id, e, i, level: levelOf(id) }))
    .sort((a, b) => a.level - b.level || a.i - b.i);
  return Object.freeze(
    ordered.map(({ id, e }) =>
      Object.freeze({
        poolId: id,
        parentId: e.parent ?? null,
        dailyLimitMicros: usdToMicros(e.daily_cost_limit ?? 0),
        monthlyLimitMicros: usdToMicros(e.monthly_cost_limit ?? 0),
        requestsPerMinute: e.requests_per_minute ?? 0,
        tokensPerMinute: e.tokens_per_minute ?? 0,
        timeZone: e.time_zone ?? 'UTC',
      }),
    ),
  );
}
