/**
 * bench:engine's pools row: authorize for agents under a three-level pool
 * hierarchy (org -> two teams -> two pools each, a daily and a monthly cost
 * limit and both rate limits at every level, never denying:
 * bench/engine/pool-workload.ts) against the plain agent's authorize, on the
 * same private Redis, in alternating rounds at the head-to-head level. All the
 * pooled agents live on their root's shard: one hot root. Its ceiling (what
 * one root can decide per second on one Redis core) is 1e6 / its Redis CPU µs
 * per decision, beside the plain agent's.
 */
import { shardOf } from '../../src/engine/keys.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { alternate, type Rounds } from '../lib/rounds.js';
import type { BenchRedis } from '../lib/services.js';
import { setupWorkload, trimOutboxes, WORKLOAD } from '../lib/workload.js';
import { CONFIG } from './config.js';
import { logMeasurement, type Measurement, measure } from './measure.js';
import { createHierarchy, registerPooled } from './pool-workload.js';

export interface PoolsPart {
  /** ours: authorize under the pools; peer: the plain agent's authorize (the workload's agents). */
  authorize: Rounds<Measurement>;
  /**
   * ours: the same; peer: plain agents of the root's shard only, whose decisions are
   * batched as the pooled ones are (one shard: the per-decision cost of the pools alone).
   */
  sameShard: Rounds<Measurement>;
}

const log = (text: string) => process.stderr.write(`${text}\n`);

function ids(prefix: string, shard?: number, shards = 16): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < WORKLOAD.agents; i++) {
    const id = `${prefix}-${String(i).padStart(4, '0')}`;
    if (shard === undefined || shardOf(id, shards) === shard) out.push(id);
  }
  return out;
}

export async function poolsPart(redis: BenchRedis): Promise<PoolsPart> {
  const plain = await setupWorkload({ redis: redis.url }, ids('plain'));
  const near = await setupWorkload(
    { redis: redis.url },
    ids('near', shardOf('bench-org', plain.shards), plain.shards),
  );
  let pooled: Tollgate | undefined;
  try {
    pooled = await createTollgate({ redis: redis.url });
    const tg = pooled;
    const leaves = await createHierarchy(tg.engine, 'bench-org');
    const agents = ids('pooled');
    await registerPooled(tg.engine, agents, leaves);
    log(`pools: ${agents.length} agents under bench-org -> 2 teams -> 4 pools`);
    const n = agents.length;
    const decide = async (seq: number) => {
      const d = await tg.guard.checkPermission(agents[seq % n] as string, WORKLOAD.operation, {
        estimatedTokens: WORKLOAD.estimatedTokens,
      });
      if (!d.allowed) throw new Error(`pooled authorize denied: ${d.error_code} ${d.reason}`);
    };
    const c = CONFIG.headToHeadConcurrency;
    const run = async (fn: (seq: number) => Promise<void>, note: string) => {
      await trimOutboxes(redis.admin, plain.shards);
      const m = await measure('tollgate/redis', 'authorize', c, fn, { redis: redis.admin });
      logMeasurement(m, note);
      return m;
    };
    const authorize = await alternate(
      CONFIG.rounds,
      () => run(decide, '  (3-level pools)'),
      () => run(plain.authorize, '  (plain)'),
      {
        rate: (m) => m.opsPerSec,
        onRound: (r, i) => log(`  round ${i + 1}, pools ÷ plain: ratio ${r.ratio.toFixed(2)}×`),
      },
    );
    const sameShard = await alternate(
      CONFIG.rounds,
      () => run(decide, '  (3-level pools)'),
      () => run(near.authorize, "  (plain, the root's shard)"),
      {
        rate: (m) => m.opsPerSec,
        onRound: (r, i) =>
          log(`  round ${i + 1}, pools ÷ plain of one shard: ratio ${r.ratio.toFixed(2)}×`),
      },
    );
    return { authorize, sameShard };
  } finally {
    await Promise.allSettled([plain.tollgate.close(), near.tollgate.close(), pooled?.close()]);
  }
}
