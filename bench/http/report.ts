/** The `## bench/http` section of docs/BENCHMARKS.md. */
import type { BenchContext, Floor, Section } from '../lib/harness.js';
import { type Column, fmt, fmtInt } from '../lib/table.js';
import { WORKLOAD } from '../lib/workload.js';
import { CONFIG } from './config.js';
import type { Measured } from './measure.js';
import type { ServerMode } from './remote.js';
import type { KindFigures, RequestKind, ScenarioName } from './scenarios.js';

export interface HttpReport {
  redisVersion: string;
  mode: ServerMode;
  results: Measured[];
}

const ENGINE_LABEL = { redis: 'redis', memory: 'embedded' } as const;

function find(r: HttpReport, engine: 'redis' | 'memory', s: ScenarioName): Measured | undefined {
  return r.results.find((m) => m.engine === engine && m.scenario === s);
}

function floors(r: HttpReport): Floor[] {
  const f = CONFIG.floors;
  return (['redis', 'memory'] as const).flatMap((engine) => {
    const trivial = find(r, engine, 'trivial');
    const auth = find(r, engine, 'authorize');
    if (!trivial || !auth) return [];
    const ratio = auth.reqPerSec / trivial.reqPerSec;
    const p99Ms = auth.kinds.authorize?.p99Ms ?? Number.NaN;
    const e = ENGINE_LABEL[engine];
    return [
      {
        text: `${e}: authorize ÷ GET /healthz req/s = ${ratio.toFixed(2)}× (floor ≥ ${f.ratioVsTrivial}×)`,
        pass: ratio >= f.ratioVsTrivial,
      },
      {
        text: `${e}: authorize p99 = ${fmt(p99Ms, 2)} ms (floor ≤ ${f.p99Ms} ms)`,
        pass: p99Ms <= f.p99Ms,
      },
    ];
  });
}

const COLUMNS: Column[] = [
  { title: 'server' },
  { title: 'load' },
  { title: 'rate', align: 'right' },
  { title: 'unit' },
  { title: 'p50 ms', align: 'right' },
  { title: 'p99 ms', align: 'right' },
  { title: '÷ healthz', align: 'right' },
  { title: 'server CPU µs/req', align: 'right' },
  { title: 'server loop busy %', align: 'right' },
  { title: 'server GC % (max ms)', align: 'right' },
  { title: 'Redis CPU µs/req', align: 'right' },
  { title: 'in script µs/req', align: 'right' },
  { title: 'autocannon CPU µs/req', align: 'right' },
  { title: 'other load, cores', align: 'right' },
];

function rows(r: HttpReport): string[][] {
  const out: string[][] = [];
  for (const m of r.results) {
    const trivial = find(r, m.engine, 'trivial');
    const side = [
      fmt(m.serverCpuUsPerReq, 1),
      fmt(m.serverBusyPct, 0),
      `${fmt(m.gcPct, 0)} (${fmt(m.gcMaxMs, 1)})`,
      fmt(m.redisCpuUsPerReq, 1),
      fmt(m.scriptUsPerReq, 1),
      fmt(m.loadgenCpuUsPerReq, 1),
      // /proc/stat ticks are 10 ms: a quiet machine can read a hair below zero.
      fmt(Math.max(0, m.otherCores), 2),
    ];
    const blank = ['', '', '', '', '', '', ''];
    const line = (
      load: string,
      rate: number,
      unit: string,
      k: KindFigures | undefined,
      ratio: number,
      cost: string[],
    ) =>
      out.push([
        ENGINE_LABEL[m.engine],
        load,
        Number.isFinite(rate) ? fmtInt(rate) : '',
        unit,
        fmt(k?.p50Ms ?? Number.NaN, 2),
        fmt(k?.p99Ms ?? Number.NaN, 2),
        Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '',
        ...cost,
      ]);
    const k = (kind: RequestKind) => m.kinds[kind];
    if (m.scenario === 'trivial') {
      line('GET /healthz', m.reqPerSec, 'req/s', k('healthz'), Number.NaN, side);
    } else if (m.scenario === 'authorize') {
      const ratio = trivial ? m.reqPerSec / trivial.reqPerSec : Number.NaN;
      line('POST /v1/authorize', m.reqPerSec, 'req/s', k('authorize'), ratio, side);
    } else {
      const pairs = (k('pair')?.ok ?? 0) / m.seconds;
      line('authorize → settle', pairs, 'pairs/s', k('pair'), Number.NaN, blank);
      line('↳ authorize', Number.NaN, '', k('authorize'), Number.NaN, blank);
      line('↳ settle', Number.NaN, '', k('settle'), Number.NaN, blank);
      line('↳ both requests', m.reqPerSec, 'req/s', undefined, Number.NaN, side);
    }
  }
  return out;
}

/** Per engine: req/s predicted from the server's CPU per request (one core) against measured. */
function timeLines(r: HttpReport): string[] {
  const out: string[] = [];
  for (const engine of ['redis', 'memory'] as const) {
    const t = find(r, engine, 'trivial');
    const a = find(r, engine, 'authorize');
    if (!t || !a) continue;
    const redis =
      engine === 'redis'
        ? `; Redis spent ${fmt(a.redisCpuUsPerReq, 1)} µs per authorize on the other core (${fmt(a.redisCpuPct, 0)} % of it, socket reads per request ${fmt(a.redisReadsPerReq, 2)})`
        : '';
    out.push(
      `${ENGINE_LABEL[engine]}: the server's event loop was busy ${fmt(t.serverBusyPct, 0)} % (healthz) and ${fmt(a.serverBusyPct, 0)} % (authorize); its CPU per request, ${fmt(t.serverCpuUsPerReq, 1)} µs and ${fmt(a.serverCpuUsPerReq, 1)} µs, predicts a ratio of ${(t.serverCpuUsPerReq / a.serverCpuUsPerReq).toFixed(2)}× (measured ${(a.reqPerSec / t.reqPerSec).toFixed(2)}×); GC took ${fmt(t.gcPct, 0)} % and ${fmt(a.gcPct, 0)} % of the runs${redis}.`,
    );
  }
  return out;
}

/** p99 ÷ p50 of healthz and authorize, per engine. */
function tailLines(r: HttpReport): string {
  const tail = (m: Measured | undefined, kind: RequestKind) => {
    const k = m?.kinds[kind];
    return k ? `${(k.p99Ms / k.p50Ms).toFixed(1)}×` : '–';
  };
  return (['redis', 'memory'] as const)
    .map(
      (e) =>
        `${ENGINE_LABEL[e]}: healthz ${tail(find(r, e, 'trivial'), 'healthz')}, authorize ${tail(find(r, e, 'authorize'), 'authorize')}`,
    )
    .join('; ');
}

export function httpSection(ctx: BenchContext, r: HttpReport): Section {
  const c = CONFIG;
  const w = WORKLOAD;
  const nproc = ctx.machine.nproc;
  const where =
    r.mode === 'child'
      ? 'server in a child process'
      : 'server in the load generator’s process (inline)';
  return {
    heading: '## bench/http',
    command: 'npm run bench:http        # BENCH_SECONDS=15 npm run bench:http for longer windows',
    lastRun: ctx.lastRun([`redis ${r.redisVersion}`], [where]),
    blocks: [
      `The HTTP API end to end: \`createTollgate\` + \`createApp\` served by \`startServer\` on a free
port, in a **child process** (\`bench/http/child.ts\`, so that the server's event loop and CPU
are its own; \`BENCH_HTTP_SERVER=inline\` runs it in the load generator's process instead),
once on a private \`redis-server\` (no persistence) and once embedded (\`createTollgate()\`,
no Redis). ${fmtInt(w.agents)} agents are registered up front through the library (role \`${w.role}\`,
limits that never deny). autocannon, in the parent process, opens ${c.connections} connections (no
pipelining) and runs each load for ${c.durationSeconds} s after a ${c.warmupSeconds} s warm-up run, with the admin token:
\`GET /healthz\` (the trivial route: same app, same middleware, no store), \`POST /v1/authorize\`
alone (\`${w.operation}\`, ${fmtInt(w.estimatedTokens)} estimated tokens, round-robin over the agents), and
authorize → settle chained on each connection (autocannon \`requests\` with
\`setupRequest\`/\`onResponse\`: the settle body carries the \`reservation_id\` the authorize
returned). Every response is checked (200, \`allowed\`, \`settled\`).

### Results`,
      { columns: COLUMNS, rows: rows(r) },
      `_rate_: completed requests (or pairs) per second of the measured run. _p50/p99_: per request,
timed in the load generator from building the request to its full response
(\`performance.now()\`); a pair's is authorize sent → settle answered. _÷ healthz_: the
route's req/s over \`GET /healthz\`'s on the same server in the same run. _server CPU_: the
server process's CPU time per request; _server loop busy_: its event-loop utilisation over the
run (100 % = saturated); _server GC_: its share of the run in GC pauses, and the longest pause.
_Redis CPU_ (\`INFO cpu\`) and _in script_ (EVALSHA time, \`INFO
commandstats\`) per request. _autocannon CPU_: the load generator's CPU per request. _other
load_: cores busy with processes that are not this benchmark's during the run (\`/proc/stat\`
minus the server, autocannon and Redis): a run next to other work reads lower.

### Floors`,
      floors(r),
      `### How to read it

- The machine drifts 1.3–1.9× between runs (shared, ${nproc} cores): compare figures **within one
  run** (authorize against \`/healthz\` on the same server a few seconds apart), not across runs.
- With ${nproc} cores, autocannon, the server and Redis share the machine: each side's CPU per request
  is in the table, so a rate can be read as "the busiest side's µs/req".
- The ratio is the price of the decision on top of the HTTP stack: \`/healthz\` goes through the
  same Express app, headers middleware and router but reads no body, validates nothing and
  asks no store.
- Where the time goes, this run: ${timeLines(r).join(' ')}
- At ${c.connections} connections the server is saturated, so latency is mostly queueing: mean ≈
  ${c.connections} ÷ req/s, and p99 ÷ p50 is much the same on every route, \`/healthz\` included
  (this run: ${tailLines(r)}). The p99 floor is therefore a throughput floor: fewer server µs per
  request.
- The embedded server keeps every hold and audit event on its heap (nobody drains them), so its
  authorize-only figures include the GC of a growing heap.
- To see where the server's time goes: \`BENCH_HTTP_PROF=/tmp/prof npm run bench:http\` writes a
  CPU profile of the server per measured run (\`redis-authorize.cpuprofile\`, …; the profiler
  slows it, so the figures of that run are not written here), then
  \`npx tsx bench/http/profile-summary.ts /tmp/prof/*.cpuprofile\` sums self time by area, and
  \`… --diff /tmp/prof/redis-trivial.cpuprofile /tmp/prof/redis-authorize.cpuprofile\` shows, in
  µs per request, what a decision adds to the HTTP stack.`,
    ],
  };
}
