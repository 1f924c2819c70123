/**
 * npm run bench:dashboard — GET /v1/dashboard for 1,000 agents on a private
 * redis-server: its latency over the HTTP API (p50/p99 of sequential calls,
 * full body read), with the two parts under it (engine.listAgents(), the
 * Redis read; budget.getBudgetDashboard(), the read and the rows), and what
 * Redis sees per request (EVALSHA calls: one listAgents-1 per shard). Floor:
 * p99 under 200 ms. Writes the `## bench/dashboard` section of
 * docs/BENCHMARKS.md.
 *
 * BENCH_DASHBOARD_AGENTS (default 1000), BENCH_DASHBOARD_CALLS (default 50).
 */
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createApp } from '../../src/api/app.js';
import { startServer } from '../../src/api/server.js';
import { createTollgate } from '../../src/index.js';
import { seedFleet } from '../../test/support/fleet.js';
import { fullGc } from '../lib/gc.js';
import { replaceSection } from '../lib/markdown-section.js';
import { commandStats, parseInfo, redisCpuSeconds, startBenchRedis } from '../lib/redis.js';
import { percentile } from '../lib/stats.js';
import { machineInfo } from '../lib/system.js';
import { type Column, fmt, fmtInt, markdownTable, textTable } from '../lib/table.js';

const DOC = fileURLToPath(new URL('../../docs/BENCHMARKS.md', import.meta.url));
const AGENTS = Number(process.env.BENCH_DASHBOARD_AGENTS ?? 1000);
const CALLS = Number(process.env.BENCH_DASHBOARD_CALLS ?? 50);
const WARMUP = 5;
const FLOOR_MS = 200;
const TOKEN = 'bench-dashboard-admin-token';
const log = (text: string) => process.stderr.write(`${text}\n`);

interface Timing {
  what: string;
  calls: number;
  p50: number;
  p99: number;
  max: number;
}

/** Runs fn WARMUP times, then `calls` times one after another; ms per call. */
async function time(what: string, calls: number, fn: () => Promise<unknown>): Promise<Timing> {
  for (let i = 0; i < WARMUP; i++) await fn();
  fullGc();
  const ms: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  const sorted = Float64Array.from(ms).sort();
  return {
    what,
    calls,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] as number,
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineInfo();
  const redis = await startBenchRedis();
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  let redisVersion = '?';
  const tollgate = await createTollgate({ redis: redis.url });
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    redisVersion = parseInfo(await admin.info('server')).get('redis_version') ?? '?';
    const shards = tollgate.engine.shards;
    log(`private redis-server ${redisVersion} on :${redis.port}, ${shards} shards`);
    const t0 = performance.now();
    const fleet = await seedFleet(tollgate, { agents: AGENTS, prefix: 'bench-', maxOps: 3 });
    log(`${fmtInt(fleet.length)} agents seeded in ${fmt((performance.now() - t0) / 1000, 1)} s`);

    const app = createApp({ tollgate, adminToken: TOKEN });
    server = await startServer({ app, port: 0, host: '127.0.0.1', tollgate, signals: [] });
    const url = `http://127.0.0.1:${server.port}/v1/dashboard`;
    let bytes = 0;
    let rows = 0;
    const get = async () => {
      const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`GET /v1/dashboard: ${res.status} ${text}`);
      bytes = text.length;
      return text;
    };
    rows = (JSON.parse(await get()) as { agents: unknown[] }).agents.length;
    if (rows !== AGENTS) throw new Error(`GET /v1/dashboard listed ${rows} agents, not ${AGENTS}`);

    // What Redis does per request: EVALSHA calls (round trips' worth of scripts) and CPU.
    await admin.config('RESETSTAT');
    const cpu0 = await redisCpuSeconds(admin);
    const http = await time('GET /v1/dashboard (HTTP, full body)', CALLS, get);
    const cpu1 = await redisCpuSeconds(admin);
    const stats = await commandStats(admin);
    const evalsha = (stats.get('evalsha')?.calls ?? 0) / (CALLS + WARMUP);
    let inScripts = 0;
    for (const [name, s] of stats) {
      if (!/^(evalsha|eval|config|info)(\||$)/.test(name)) inScripts += s.calls;
    }
    inScripts /= CALLS + WARMUP;
    const redisMsPerReq = ((cpu1 - cpu0) * 1000) / (CALLS + WARMUP);

    const budget = await time('budget.getBudgetDashboard() (read + rows)', CALLS, () =>
      tollgate.budget.getBudgetDashboard(),
    );
    const engine = await time('engine.listAgents() (the Redis read)', CALLS, () =>
      tollgate.engine.listAgents(),
    );
    const timings = [http, budget, engine];
    const pass = http.p99 < FLOOR_MS;

    const columns: Column[] = [
      { title: 'measured' },
      { title: 'calls', align: 'right' },
      { title: 'p50 ms', align: 'right' },
      { title: 'p99 ms', align: 'right' },
      { title: 'max ms', align: 'right' },
    ];
    const cells = timings.map((t) => [
      t.what,
      String(t.calls),
      fmt(t.p50, 1),
      fmt(t.p99, 1),
      fmt(t.max, 1),
    ]);
    const perRequest = `${fmt(evalsha, 0)} EVALSHA (listAgents-1, one per shard, sent at once) · ${fmtInt(inScripts)} redis.calls inside them · Redis CPU ${fmt(redisMsPerReq, 1)} ms · response ${fmt(bytes / 1024, 0)} KiB of JSON`;
    const floor = `GET /v1/dashboard for ${fmtInt(AGENTS)} agents, p99 of ${CALLS} calls: ${fmt(http.p99, 1)} ms; floor < ${FLOOR_MS} ms: ${pass ? 'PASS' : 'FAIL'}`;
    process.stdout.write(
      `\n${textTable(columns, cells)}\n\nper request: ${perRequest}\n${floor}\n`,
    );

    const elapsed = (performance.now() - started) / 1000;
    const section = `## bench/dashboard

\`\`\`sh
npm run bench:dashboard        # BENCH_DASHBOARD_AGENTS=5000 BENCH_DASHBOARD_CALLS=100 npm run bench:dashboard
\`\`\`

Last run: ${machine.date} · node ${machine.node} · redis ${redisVersion} · nproc ${machine.nproc} (${machine.cpu.split(' ').slice(0, 2).join(' ')}) · ${machine.os} · ${fmt(elapsed, 0)} s

\`GET /v1/dashboard\` (the dashboard page reads it every second) for ${fmtInt(AGENTS)} agents on a private
\`redis-server\` (no persistence, ${shards} shards): the fleet of the browser test
(\`test/support/fleet.ts\`: four roles, spend over today's hours, holds in flight, denials,
suspended and blocked agents), \`createTollgate({ redis })\` + \`createApp\` served by
\`startServer\` in this process. Each figure is ${CALLS} calls one after another after ${WARMUP}
warm-up calls, timed from the request to the last byte of the body. Below it, the same read
through the library: \`budget.getBudgetDashboard()\` (the rows) and \`engine.listAgents()\`
(the Redis read alone).

${markdownTable(columns, cells)}

Per request: ${perRequest}.

The read is one \`listAgents-1.lua\` call per shard, all sent at once (\`Promise.all\`; ioredis
pipelines them): each script reads its shard's agent index (\`SMEMBERS\`) and every agent's
hash and today's spend inside Redis, and answers with the rows. Not one round trip per
agent: the EVALSHA count per request is the shard count, whatever the number of agents.
The rest of the time is building ${fmtInt(AGENTS)} rows and their JSON.

### Floor

- ${floor}
`;
    replaceSection(DOC, '## bench/dashboard', section, '# Benchmarks');
    log(`wrote ${DOC}`);
    if (!pass) process.exitCode = 2;
  } finally {
    // The server's close() closes the Tollgate too.
    await (server ? server.close() : tollgate.close());
    admin.disconnect();
    await redis.stop();
    redis.release();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench/dashboard failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
