/**
 * npm run bench:audit — the audit drain: how fast the real drain code moves
 * decision events from the Redis outboxes into PostgreSQL and into PGlite
 * (drainShard directly, and the BullMQ worker), against the most decision
 * events per second the engine can append (the authorize script by
 * redis-benchmark, 1, 32 and 128 decisions per call, measured in the same
 * run), and the lag of every event under a steady load of decisions with the
 * worker draining into PostgreSQL. Writes the `## bench/audit` section of
 * docs/BENCHMARKS.md (not when profiling), which says how to read the figures.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBench } from '../lib/harness.js';
import { benchDatabase, privateRedis } from '../lib/services.js';
import { fmt, fmtInt } from '../lib/table.js';
import { setupWorkload } from '../lib/workload.js';
import { authorizeCeiling } from './ceiling.js';
import { CONFIG } from './config.js';
import { type DrainMode, type DrainRun, drainRun } from './drain.js';
import { lagRun } from './lag.js';
import { auditSection } from './report.js';
import type { StoreKind } from './stores.js';

/** BENCH_AUDIT_PROF=<dir>: a CPU profile of this process per drain run (the figures are not written). */
const PROFILE_DIR = process.env.BENCH_AUDIT_PROF
  ? resolve(process.env.BENCH_AUDIT_PROF)
  : undefined;

const RUNS: [StoreKind, DrainMode][] = [
  ['postgres', 'insertOnly'],
  ['postgres', 'drainShard'],
  ['postgres', 'worker'],
  ['pglite', 'insertOnly'],
  ['pglite', 'drainShard'],
  ['pglite', 'worker'],
];

function packageVersion(name: string): string {
  const file = fileURLToPath(new URL(`../../node_modules/${name}/package.json`, import.meta.url));
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

runBench('bench/audit', async (ctx) => {
  const { log } = ctx;
  log(
    `bench/audit: ${fmtInt(CONFIG.events)} events per drain run; lag at ${fmtInt(CONFIG.lag.rate)} decisions/s for ${CONFIG.lag.durationMs / 1000} s`,
  );
  if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
  const redis = await privateRedis(ctx);
  const db = await benchDatabase(ctx);
  const work = await setupWorkload({ redis: redis.url });
  ctx.onStop(() => work.tollgate.close());
  log(`registered ${work.agents.length} agents over ${work.shards} shards`);

  log(
    'Redis-side ceilings: the authorize script by EVALSHA (redis-benchmark), 1, 32 and 128 decisions per call',
  );
  const ceiling = await authorizeCeiling(redis, work, log);

  log('drain throughput');
  const drains: DrainRun[] = [];
  for (const [kind, mode] of RUNS) {
    const r = await drainRun({
      mode,
      kind,
      work,
      admin: redis.admin,
      redisUrl: redis.url,
      db,
      schema: `drain_${drains.length + 1}`,
      ...(PROFILE_DIR ? { profileDir: PROFILE_DIR } : {}),
    });
    log(
      `  ${r.store} ${r.mode}: ${fmtInt(r.events)} events in ${fmt(r.ms / 1000, 2)} s = ${fmtInt(r.perSec)}/s · ` +
        `${r.batches} inserts · node ${fmt(r.nodeUsPerEvent, 1)} µs/ev · redis ${fmt(r.redisUsPerEvent, 1)} µs/ev · ` +
        `pg ${fmt(r.pgUsPerEvent, 1)} µs/ev · (fill: ${fmtInt(r.fillPerSec)} decisions/s, ${fmt(r.events / r.entries, 1)} per entry)`,
    );
    for (const p of r.problems) log(`    problem: ${p}`);
    drains.push(r);
  }

  log('lag under a steady load (worker → PostgreSQL)');
  const lag = await lagRun({ work, admin: redis.admin, redisUrl: redis.url, db, schema: 'lag' });
  log(
    `  lag at ${fmtInt(lag.achievedRate)} decisions/s: p50 ${fmt(lag.lagP50Ms, 0)} ms · p99 ${fmt(lag.lagP99Ms, 0)} ms · ` +
      `max ${fmt(lag.lagMaxMs, 0)} ms · ${fmtInt(lag.samples)} events · backlog ≤ ${fmtInt(lag.maxBacklog)}`,
  );
  for (const p of lag.problems) log(`    problem: ${p}`);

  const problems = [
    ...drains.flatMap((r) => r.problems.map((p) => `${r.store} ${r.mode}: ${p}`)),
    ...lag.problems.map((p) => `lag: ${p}`),
  ];
  if (problems.length > 0) {
    throw new Error(`the runs were not all right, nothing written:\n${problems.join('\n')}`);
  }
  const report = {
    versions: {
      redis: redis.version,
      postgres: db.version,
      pglite: packageVersion('@electric-sql/pglite'),
      bullmq: packageVersion('bullmq'),
      pg: packageVersion('pg'),
    },
    pgSettings: db.settings,
    ceiling,
    drains,
    lag,
    nproc: ctx.machine.nproc,
  };
  // A profiled run is slower: its figures are not written.
  ctx.publish(auditSection(ctx, report), !PROFILE_DIR);
});
