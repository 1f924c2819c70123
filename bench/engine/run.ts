/**
 * npm run bench:engine — Tollgate's decision throughput through the library,
 * on a private Redis and in process, against rate-limiter-flexible on the
 * same Redis (consume beside authorize, consume+reward beside
 * authorize+settle, alternating rounds), plus the Redis-side ceiling of both
 * scripts; then on a private Redis Cluster (cluster-part.ts; BENCH_CLUSTER=0
 * skips it). Writes the `## bench/engine` and `## bench/engine on a Redis
 * Cluster` sections of docs/BENCHMARKS.md, which say how to read the figures.
 */
import { runBench } from '../lib/harness.js';
import { privateRedis } from '../lib/services.js';
import { setupWorkload } from '../lib/workload.js';
import { clusterPart } from './cluster-part.js';
import { clusterSection } from './cluster-report.js';
import { CONFIG } from './config.js';
import { logMeasurement, type Measurement, measure } from './measure.js';
import { poolsPart } from './pools-part.js';
import { redisPart } from './redis-part.js';
import { engineSection } from './report.js';

/** MemoryEngine through the library: a fresh engine per measurement (its outbox and holds live in memory). */
async function memoryPart(): Promise<Measurement[]> {
  const rows: Measurement[] = [];
  for (const op of ['authorize', 'pair'] as const) {
    for (const c of CONFIG.memoryConcurrency) {
      const mem = await setupWorkload({});
      try {
        const m = await measure('tollgate/memory', op, c, mem[op]);
        logMeasurement(m);
        rows.push(m);
      } finally {
        await mem.tollgate.close();
      }
    }
  }
  return rows;
}

runBench('bench/engine', async (ctx) => {
  ctx.log(
    `bench/engine: ${CONFIG.durationMs / 1000} s windows after ${CONFIG.warmupMs / 1000} s warm-up, ${CONFIG.rounds} rounds`,
  );
  const redis = await privateRedis(ctx);
  const part = await redisPart(redis);
  ctx.log('Pools: authorize under a three-level hierarchy against the plain agent');
  const pools = await poolsPart(redis);
  await redis.stop();
  ctx.log('MemoryEngine (in process)');
  const memory = await memoryPart();
  ctx.publish(engineSection(ctx, redis.version, part, memory, pools));
  if (process.env.BENCH_CLUSTER !== '0') {
    const started = ctx.elapsed();
    const rows = await clusterPart(ctx);
    ctx.publish(clusterSection(ctx, rows));
    ctx.log(`Cluster part: ${Math.round(ctx.elapsed() - started)} s`);
  }
});
