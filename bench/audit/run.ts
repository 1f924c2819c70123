/**
 * npm run bench:audit — the audit drain: how fast the real drain code moves
 * decision events from the Redis outboxes into PostgreSQL and into PGlite
 * (drainShard directly, and the BullMQ worker), against the most decision
 * events per second the engine can append (authorizeBatch by redis-benchmark,
 * 1, 32 and 128 decisions per call, measured in the same run), and
 * the lag of every event under a steady load of decisions with the worker
 * draining into PostgreSQL. Prints the tables and writes the `## bench/audit`
 * section of docs/BENCHMARKS.md. See that file for how to read the figures.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { replaceSection } from '../lib/markdown-section.js';
import { parseInfo, startBenchRedis } from '../lib/redis.js';
import { machineInfo } from '../lib/system.js';
import { fmt, fmtInt } from '../lib/table.js';
import { authorizeCeiling, type Ceiling } from './ceiling.js';
import { CONFIG } from './config.js';
import { type DrainMode, type DrainRun, drainRun } from './drain.js';
import { type Decider, setupDecider } from './fill.js';
import { type LagRun, lagRun } from './lag.js';
import { type BenchDatabase, createBenchDatabase } from './postgres.js';
import { type AuditReport, consoleReport, floors, markdownSection } from './report.js';
import type { StoreKind } from './stores.js';

const DOC = fileURLToPath(new URL('../../docs/BENCHMARKS.md', import.meta.url));
const log = (text: string) => process.stderr.write(`${text}\n`);
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

function logDrain(r: DrainRun): void {
  log(
    `  ${r.store} ${r.mode}: ${fmtInt(r.events)} events in ${fmt(r.ms / 1000, 2)} s = ${fmtInt(r.perSec)}/s · ` +
      `${r.batches} inserts · node ${fmt(r.nodeUsPerEvent, 1)} µs/ev · redis ${fmt(r.redisUsPerEvent, 1)} µs/ev · ` +
      `pg ${fmt(r.pgUsPerEvent, 1)} µs/ev · (fill: ${fmtInt(r.fillPerSec)} decisions/s, ${fmt(r.events / r.entries, 1)} per entry)`,
  );
  for (const p of r.problems) log(`    problem: ${p}`);
}

function logLag(r: LagRun): void {
  log(
    `  lag at ${fmtInt(r.achievedRate)} decisions/s: p50 ${fmt(r.lagP50Ms, 0)} ms · p99 ${fmt(r.lagP99Ms, 0)} ms · ` +
      `max ${fmt(r.lagMaxMs, 0)} ms · ${fmtInt(r.samples)} events · backlog ≤ ${fmtInt(r.maxBacklog)}`,
  );
  for (const p of r.problems) log(`    problem: ${p}`);
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineInfo();
  log(
    `bench/audit: ${fmtInt(CONFIG.events)} events per drain run; lag at ${fmtInt(CONFIG.lag.rate)} decisions/s for ${CONFIG.lag.durationMs / 1000} s`,
  );
  if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
  const redis = await startBenchRedis();
  // One signal handler for everything this run started: Redis and the database.
  redis.release();
  let db: BenchDatabase | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    log(`\n${signal}: stopping the private redis-server and dropping the bench database`);
    Promise.allSettled([redis.stop(), db?.drop()]).finally(() =>
      process.exit(signal === 'SIGINT' ? 130 : 143),
    );
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  let decider: Decider | undefined;
  let redisVersion = '?';
  let ceiling: Ceiling;
  const drains: DrainRun[] = [];
  let lag: LagRun;
  try {
    redisVersion = parseInfo(await admin.info('server')).get('redis_version') ?? '?';
    log(`private redis-server ${redisVersion} on :${redis.port}`);
    db = await createBenchDatabase();
    log(`PostgreSQL ${db.version}: fresh database ${db.name}`);
    decider = await setupDecider(redis.url);
    log(`registered ${decider.agents.length} agents over ${decider.shards} shards`);

    log(
      'Redis-side ceilings: authorizeBatch-1 by EVALSHA (redis-benchmark), 1, 32 and 128 decisions per call',
    );
    ceiling = await authorizeCeiling(admin, redis.port, decider, log);

    log('drain throughput');
    for (const [kind, mode] of RUNS) {
      const r = await drainRun({
        mode,
        kind,
        decider,
        admin,
        redisUrl: redis.url,
        db,
        schema: `drain_${drains.length + 1}`,
        ...(PROFILE_DIR ? { profileDir: PROFILE_DIR } : {}),
      });
      logDrain(r);
      drains.push(r);
    }

    log('lag under a steady load (worker → PostgreSQL)');
    lag = await lagRun({ decider, admin, redisUrl: redis.url, db, schema: 'lag' });
    logLag(lag);
  } finally {
    await decider?.tollgate.close().catch(() => undefined);
    admin.disconnect();
    await redis.stop();
    await db?.drop().catch((e: unknown) => log(`could not drop ${db?.name}: ${String(e)}`));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const report: AuditReport = {
    machine,
    versions: {
      redis: redisVersion,
      postgres: db.version,
      pglite: packageVersion('@electric-sql/pglite'),
      bullmq: packageVersion('bullmq'),
      pg: packageVersion('pg'),
    },
    pgSettings: db.settings,
    ceiling,
    drains,
    lag,
    elapsedSeconds: (performance.now() - started) / 1000,
  };
  process.stdout.write(consoleReport(report));
  const problems = [
    ...drains.flatMap((r) => r.problems.map((p) => `${r.store} ${r.mode}: ${p}`)),
    ...lag.problems.map((p) => `lag: ${p}`),
  ];
  if (problems.length > 0) {
    throw new Error(`the runs were not all right, nothing written:\n${problems.join('\n')}`);
  }
  if (PROFILE_DIR) {
    log(`profiles in ${PROFILE_DIR}; ${DOC} left as it is (a profiled run)`);
  } else {
    replaceSection(DOC, '## bench/audit', markdownSection(report), '# Benchmarks');
    log(`wrote ${DOC}`);
  }
  if (floors(report).some((f) => !f.pass)) process.exitCode = 2;
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench/audit failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
