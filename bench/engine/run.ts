/**
 * npm run bench:engine — Tollgate's decision throughput through the library,
 * on a private Redis and in process, against rate-limiter-flexible on the
 * same Redis, plus the Redis-side ceiling of the authorize script; then on a
 * private Redis Cluster (bench/engine/cluster-part.ts; BENCH_CLUSTER=0 skips).
 * Prints the tables and writes the `## bench/engine` and `## bench/engine on
 * a Redis Cluster` sections of docs/BENCHMARKS.md. See that file for how to
 * read the figures.
 */
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { replaceSection } from '../lib/markdown-section.js';
import { parseInfo, startBenchRedis } from '../lib/redis.js';
import { median } from '../lib/stats.js';
import { machineInfo } from '../lib/system.js';
import { clusterPart } from './cluster-part.js';
import { writeClusterReport } from './cluster-report.js';
import { CONFIG } from './config.js';
import type { Measurement } from './measure.js';
import { memoryPart } from './memory-part.js';
import { redisPart } from './redis-part.js';
import { type BenchReport, consoleReport, markdownSection } from './report.js';

const DOC = fileURLToPath(new URL('../../docs/BENCHMARKS.md', import.meta.url));
const log = (text: string) => process.stderr.write(`${text}\n`);

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineInfo();
  log(
    `bench/engine: ${CONFIG.durationMs / 1000} s windows after ${CONFIG.warmupMs / 1000} s warm-up`,
  );
  const server = await startBenchRedis();
  const admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  let redisVersion = '';
  let part: Awaited<ReturnType<typeof redisPart>>;
  try {
    redisVersion = parseInfo(await admin.info('server')).get('redis_version') ?? '?';
    log(`private redis-server ${redisVersion} on :${server.port}`);
    part = await redisPart(server, admin);
  } finally {
    admin.disconnect();
    await server.stop();
    server.release();
  }
  const memRows = await memoryPart();

  const memAuthorize = memRows.filter((m) => m.op === 'authorize').map((m) => m.opsPerSec);
  const medianRatio = median(part.rounds.map((r) => r.ratio));
  const memoryMinAuthorize = Math.min(...memAuthorize);
  const report: BenchReport = {
    machine,
    redisVersion,
    rows: [...part.rows, ...memRows].sort(rowOrder),
    rounds: part.rounds,
    medianRatio,
    ratioPass: medianRatio >= CONFIG.floors.ratioVsPeer,
    memoryMinAuthorize,
    memoryPass: memoryMinAuthorize >= CONFIG.floors.memoryAuthorizePerSec,
    ceilings: part.ceilings,
    calls: part.calls,
    elapsedSeconds: (performance.now() - started) / 1000,
  };
  process.stdout.write(consoleReport(report));
  replaceSection(DOC, '## bench/engine', markdownSection(report), '# Benchmarks');
  log(`wrote ${DOC}`);

  // The Cluster part (its own section; BENCH_CLUSTER=0 skips it).
  if (process.env.BENCH_CLUSTER !== '0') {
    const clusterStarted = performance.now();
    const rows = await clusterPart();
    writeClusterReport(rows, (performance.now() - clusterStarted) / 1000);
  }
}

const TARGET_ORDER = ['tollgate/redis', 'rlf/redis', 'tollgate/memory'];
const OP_ORDER = ['authorize', 'consume', 'pair'];

function rowOrder(a: Measurement, b: Measurement): number {
  return (
    TARGET_ORDER.indexOf(a.target) - TARGET_ORDER.indexOf(b.target) ||
    OP_ORDER.indexOf(a.op) - OP_ORDER.indexOf(b.op) ||
    a.concurrency - b.concurrency
  );
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench/engine failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
