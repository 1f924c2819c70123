/**
 * The pooled load of the benchmarks (bench:engine's pools row and
 * bench/engine/instructions.ts): agents under a three-level hierarchy, org ->
 * two teams -> two pools each, with a daily and a monthly cost limit and both
 * rate limits at every level, set so that they never deny (each is checked on
 * every decision). Its agents are the workload's (role, limits, estimate).
 */
import { randomBytes } from 'node:crypto';
import { usdToMicros } from '../../src/engine/money.js';
import type { Engine } from '../../src/engine/types.js';
import { WORKLOAD } from '../lib/workload.js';

/** Limits at every level, checked on every decision and never denying. */
export const POOL_LIMITS = {
  dailyLimitMicros: 1e12,
  monthlyLimitMicros: 1e12,
  requestsPerMinute: 1e9,
  tokensPerMinute: 1e9,
} as const;

/** Creates `root` -> 2 teams -> 2 pools each; answers the 4 leaves. */
export async function createHierarchy(engine: Engine, root: string): Promise<string[]> {
  const make = (poolId: string, parentId?: string) =>
    engine.createPool({ poolId, parentId, ...POOL_LIMITS, actor: 'admin' });
  await make(root);
  const leaves: string[] = [];
  for (const t of ['a', 'b']) {
    const team = `${root}-${t}`;
    await make(team, root);
    for (const p of ['1', '2']) {
      await make(`${team}${p}`, team);
      leaves.push(`${team}${p}`);
    }
  }
  return leaves;
}

/** Registers `ids` round-robin in `leaves`, with the workload's role and limits. */
export async function registerPooled(
  engine: Engine,
  ids: readonly string[],
  leaves: readonly string[],
): Promise<void> {
  for (let i = 0; i < ids.length; i += 250) {
    await Promise.all(
      ids.slice(i, i + 250).map((agentId, k) =>
        engine.registerAgent({
          agentId,
          role: WORKLOAD.role,
          sessionTokenLimit: WORKLOAD.limits.sessionTokenLimit,
          dailyLimitMicros: usdToMicros(WORKLOAD.limits.dailyCostLimit),
          poolId: leaves[(i + k) % leaves.length] as string,
          keyDigest: randomBytes(32).toString('hex'),
          metadata: '{}',
          actor: 'admin',
        }),
      ),
    );
  }
}
