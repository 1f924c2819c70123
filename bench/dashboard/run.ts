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
import { createApp } from '../../src/api/app.js';
import { startServer } from '../../src/api/server.js';
import { createTollgate } from '../../src/index.js';
import { seedFleet } from '../../test/support/fleet.js';
import { envNumber } from '../lib/env.js';
import { fullGc } from '../lib/gc.js';
import { runBench, type Table } from '../lib/harness.js';
import { startMeter } from '../lib/meter.js';
import { NOT_A_REDIS_CALL } from '../lib/redis-stats.js';
import { privateRedis } from '../lib/services.js';
import { percentile } from '../lib/stats.js';
import { fmt, fmtInt } from '../lib/table.js';

const AGENTS = Math.round(envNumber('BENCH_DASHBOARD_AGENTS', 1000));
const CALLS = Math.round(envNumber('BENCH_DASHBOARD_CALLS', 50));
const WARMUP = 5;
const FLOOR_MS = 200;
const TOKEN = 'bench-dashboard-admin-token';

/** Runs fn WARMUP times, then CALLS times one after another: the table row, and the p99 in ms. */
async function time(what: string, fn: () => Promise<unknown>) {
  for (let i = 0; i < WARMUP; i++) await fn();
  fullGc();
  const ms = new Float64Array(CALLS);
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    await fn();
    ms[i] = performance.now() - t0;
  }
  ms.sort();
  const p = (q: number) => fmt(percentile(ms, q), 1);
  const row = [what, String(CALLS), p(50), p(99), fmt(ms[CALLS - 1] as number, 1)];
  return { row, p99: percentile(ms, 99) };
}

runBench('bench/dashboard', async (ctx) => {
  const redis = await privateRedis(ctx);
  const tollgate = await createTollgate({ redis: redis.url });
  const closeTollgate = ctx.onStop(() => tollgate.close());
  const shards = tollgate.engine.shards;
  const t0 = performance.now();
  const fleet = await seedFleet(tollgate, { agents: AGENTS, prefix: 'bench-', maxOps: 3 });
  ctx.log(`${fmtInt(fleet.length)} agents seeded in ${fmt((performance.now() - t0) / 1000, 1)} s`);

  const app = createApp({ tollgate, adminToken: TOKEN });
  const server = await startServer({ app, port: 0, host: '127.0.0.1', tollgate, signals: [] });
  // The server's close() closes the Tollgate too.
  await closeTollgate(false);
  ctx.onStop(() => server.close());
  const url = `http://127.0.0.1:${server.port}/v1/dashboard`;
  let bytes = 0;
  const get = async () => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET /v1/dashboard: ${res.status} ${text}`);
    bytes = text.length;
    return text;
  };
  const rows = (JSON.parse(await get()) as { agents: unknown[] }).agents.length;
  if (rows !== AGENTS) throw new Error(`GET /v1/dashboard listed ${rows} agents, not ${AGENTS}`);

  // What Redis does per request: EVALSHA calls (round trips' worth of scripts) and CPU.
  const meter = await startMeter({ redis: redis.admin });
  const http = await time('GET /v1/dashboard (HTTP, full body)', get);
  const usage = await meter.stop();
  const requests = CALLS + WARMUP;
  const evalsha = (usage.commands.get('evalsha')?.calls ?? 0) / requests;
  let inScripts = 0;
  for (const [name, s] of usage.commands) if (!NOT_A_REDIS_CALL.test(name)) inScripts += s.calls;
  const table: Table = {
    columns: [
      { title: 'measured' },
      { title: 'calls', align: 'right' },
      { title: 'p50 ms', align: 'right' },
      { title: 'p99 ms', align: 'right' },
      { title: 'max ms', align: 'right' },
    ],
    rows: [
      http.row,
      (
        await time('budget.getBudgetDashboard() (read + rows)', () =>
          tollgate.budget.getBudgetDashboard(),
        )
      ).row,
      (await time('engine.listAgents() (the Redis read)', () => tollgate.engine.listAgents())).row,
    ],
  };
  const p99 = http.p99;
  const perRequest = `${fmt(evalsha, 0)} EVALSHA (listAgents-1, one per shard, sent at once) · ${fmtInt(inScripts / requests)} redis.calls inside them · Redis CPU ${fmt((usage.redisCpu * 1000) / requests, 1)} ms · response ${fmt(bytes / 1024, 0)} KiB of JSON`;
  ctx.publish({
    heading: '## bench/dashboard',
    command:
      'npm run bench:dashboard        # BENCH_DASHBOARD_AGENTS=5000 BENCH_DASHBOARD_CALLS=100 npm run bench:dashboard',
    lastRun: ctx.lastRun([`redis ${redis.version}`]),
    blocks: [
      `\`GET /v1/dashboard\` (the dashboard page reads it every second) for ${fmtInt(AGENTS)} agents on a private
\`redis-server\` (no persistence, ${shards} shards): the fleet of the browser test
(\`test/support/fleet.ts\`: four roles, spend over today's hours, holds in flight, denials,
suspended and blocked agents), \`createTollgate({ redis })\` + \`createApp\` served by
\`startServer\` in this process. Each figure is ${CALLS} calls one after another after ${WARMUP}
warm-up calls, timed from the request to the last byte of the body. Below it, the same read
through the library: \`budget.getBudgetDashboard()\` (the rows) and \`engine.listAgents()\`
(the Redis read alone).`,
      table,
      `Per request: ${perRequest}.

The read is one \`listAgents-1.lua\` call per shard, all sent at once (\`Promise.all\`; ioredis
pipelines them): each script reads its shard's agent index (\`SMEMBERS\`) and every agent's
hash and today's spend inside Redis, and answers with the rows. Not one round trip per
agent: the EVALSHA count per request is the shard count, whatever the number of agents.
The rest of the time is building ${fmtInt(AGENTS)} rows and their JSON.

### Floor`,
      [
        {
          text: `GET /v1/dashboard for ${fmtInt(AGENTS)} agents, p99 of ${CALLS} calls: ${fmt(p99, 1)} ms; floor < ${FLOOR_MS} ms`,
          pass: p99 < FLOOR_MS,
        },
      ],
    ],
  });
});
