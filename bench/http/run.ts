/**
 * npm run bench:http — the HTTP API under autocannon: GET /healthz,
 * POST /v1/authorize, and authorize → settle pairs, on a private Redis and
 * embedded. Writes the `## bench/http` section of docs/BENCHMARKS.md (not
 * when profiling), which says how to read the figures.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { runBench } from '../lib/harness.js';
import { privateRedis } from '../lib/services.js';
import { fmt, fmtInt } from '../lib/table.js';
import { trimOutboxes } from '../lib/workload.js';
import { type Measured, measureScenario } from './measure.js';
import { launchServer, serverMode } from './remote.js';
import { httpSection } from './report.js';
import type { ScenarioName } from './scenarios.js';

const SCENARIOS: ScenarioName[] = ['trivial', 'authorize', 'pair'];
/** BENCH_HTTP_PROF=<dir>: a CPU profile of the server per measured run (the figures are not written). */
const PROFILE_DIR = process.env.BENCH_HTTP_PROF ? resolve(process.env.BENCH_HTTP_PROF) : undefined;
const log = (text: string) => process.stderr.write(`${text}\n`);

function logMeasured(m: Measured): void {
  const k = m.kinds.authorize ?? m.kinds.healthz;
  const pairs = m.kinds.pair ? ` · ${fmtInt(m.kinds.pair.ok / m.seconds)} pairs/s` : '';
  log(
    `  ${m.engine} ${m.scenario}: ${fmtInt(m.reqPerSec)} req/s${pairs} · p50 ${fmt(k?.p50Ms ?? Number.NaN, 2)} ms · p99 ${fmt(k?.p99Ms ?? Number.NaN, 2)} ms · server ${fmt(m.serverCpuUsPerReq, 1)} µs/req (loop ${fmt(m.serverBusyPct, 0)}%) · redis ${fmt(m.redisCpuUsPerReq, 1)} µs/req`,
  );
  if (m.redisCalls !== '') {
    log(
      `    per request: Redis socket reads ${fmt(m.redisReadsPerReq, 2)}, commands ${m.redisCalls}`,
    );
  }
  for (const p of m.problems) log(`    problem: ${p}`);
}

async function measureEngine(redisUrl: string | undefined, admin?: Redis): Promise<Measured[]> {
  const server = await launchServer(redisUrl);
  const out: Measured[] = [];
  try {
    log(`${server.engine} server on :${server.port} (${server.mode})`);
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

runBench('bench/http', async (ctx) => {
  if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
  const redis = await privateRedis(ctx);
  const results = await measureEngine(redis.url, redis.admin);
  await redis.stop();
  results.push(...(await measureEngine(undefined)));
  const problems = results.flatMap((m) => m.problems.map((p) => `${m.engine} ${m.scenario}: ${p}`));
  if (problems.length > 0) {
    throw new Error(`responses were not all right, nothing written:\n${problems.join('\n')}`);
  }
  // A profiled run is slower: its figures are not written.
  ctx.publish(
    httpSection(ctx, { redisVersion: redis.version, mode: serverMode(), results }),
    !PROFILE_DIR,
  );
});
