/**
 * npm run bench:http — the HTTP API under autocannon: GET /healthz,
 * POST /v1/authorize, and authorize → settle pairs, on a private Redis and
 * embedded. Prints the tables and the floors, and writes the `## bench/http`
 * section of docs/BENCHMARKS.md (not when profiling). See that file for how
 * to read the figures.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { outboxKey } from '../../src/engine/keys.js';
import { replaceSection } from '../lib/markdown-section.js';
import { parseInfo, startBenchRedis } from '../lib/redis.js';
import { machineInfo } from '../lib/system.js';
import { fmt, fmtInt } from '../lib/table.js';
import { CONFIG } from './config.js';
import { type Measured, measureScenario } from './measure.js';
import { launchServer, serverMode } from './remote.js';
import { consoleReport, floors, type HttpReport, markdownSection } from './report.js';
import type { ScenarioName } from './scenarios.js';

const DOC = fileURLToPath(new URL('../../docs/BENCHMARKS.md', import.meta.url));
const SCENARIOS: ScenarioName[] = ['trivial', 'authorize', 'pair'];
const log = (text: string) => process.stderr.write(`${text}\n`);
/** BENCH_HTTP_PROF=<dir>: a CPU profile of the server per measured run (the figures are not written). */
const PROFILE_DIR = process.env.BENCH_HTTP_PROF ? resolve(process.env.BENCH_HTTP_PROF) : undefined;

function logMeasured(m: Measured): void {
  const k = m.kinds.authorize ?? m.kinds.healthz;
  const pairs = m.kinds.pair ? ` · ${fmtInt(m.kinds.pair.ok / m.seconds)} pairs/s` : '';
  log(
    `  ${m.engine} ${m.scenario}: ${fmtInt(m.reqPerSec)} req/s${pairs} · p50 ${fmt(k?.p50Ms ?? Number.NaN, 2)} ms · p99 ${fmt(k?.p99Ms ?? Number.NaN, 2)} ms · server ${fmt(m.serverCpuUsPerReq, 1)} µs/req (loop ${fmt(m.serverBusyPct, 0)}%) · redis ${fmt(m.redisCpuUsPerReq, 1)} µs/req`,
  );
  for (const p of m.problems) log(`    problem: ${p}`);
}

/** Empties the audit outbox streams (nobody drains them here) so every run starts alike. */
async function trimOutboxes(admin: Redis, shards: number): Promise<void> {
  const p = admin.pipeline();
  for (let s = 0; s < shards; s++) p.xtrim(outboxKey(s), 'MAXLEN', 0);
  await p.exec();
}

async function measureEngine(redisUrl: string | undefined, admin?: Redis): Promise<Measured[]> {
  const server = await launchServer(redisUrl);
  const out: Measured[] = [];
  try {
    log(`${server.engine} server on :${server.port} (${server.mode}), ${CONFIG.agents} agents`);
    for (const s of SCENARIOS) {
      if (admin) await trimOutboxes(admin, server.shards);
      const prof = PROFILE_DIR ? join(PROFILE_DIR, `${server.engine}-${s}.cpuprofile`) : undefined;
      const m = await measureScenario(server, s, admin, prof);
      if (prof) {
        // For profile-summary.ts: µs per request.
        const requests = Math.round(m.reqPerSec * m.seconds);
        writeFileSync(prof.replace(/\.cpuprofile$/, '.json'), JSON.stringify({ requests }));
      }
      logMeasured(m);
      out.push(m);
    }
  } finally {
    await server.close();
  }
  return out;
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineInfo();
  log(
    `bench/http: ${CONFIG.connections} connections, ${CONFIG.durationSeconds} s after a ${CONFIG.warmupSeconds} s warm-up`,
  );
  if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
  const redis = await startBenchRedis();
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const results: Measured[] = [];
  let redisVersion = '?';
  try {
    redisVersion = parseInfo(await admin.info('server')).get('redis_version') ?? '?';
    log(`private redis-server ${redisVersion} on :${redis.port}`);
    results.push(...(await measureEngine(redis.url, admin)));
  } finally {
    admin.disconnect();
    await redis.stop();
    redis.release();
  }
  results.push(...(await measureEngine(undefined)));

  const report: HttpReport = {
    machine,
    redisVersion,
    mode: serverMode(),
    results,
    elapsedSeconds: (performance.now() - started) / 1000,
  };
  process.stdout.write(consoleReport(report));
  const problems = results.flatMap((m) => m.problems.map((p) => `${m.engine} ${m.scenario}: ${p}`));
  if (problems.length > 0) {
    throw new Error(`responses were not all right, nothing written:\n${problems.join('\n')}`);
  }
  if (PROFILE_DIR) {
    log(`profiles in ${PROFILE_DIR}; ${DOC} left as it is (a profiled run)`);
  } else {
    replaceSection(DOC, '## bench/http', markdownSection(report), '# Benchmarks');
    log(`wrote ${DOC}`);
  }
  if (floors(report).some((f) => !f.ratioPass || !f.p99Pass)) process.exitCode = 2;
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench/http failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
