/** The `## bench/audit` section of docs/BENCHMARKS.md. */
import { AUTHORIZE_SCRIPT } from '../lib/evalsha.js';
import type { BenchContext, Floor, Section } from '../lib/harness.js';
import { type Column, fmt, fmtInt } from '../lib/table.js';
import { WORKLOAD } from '../lib/workload.js';
import type { Ceiling } from './ceiling.js';
import { CONFIG } from './config.js';
import type { DrainRun } from './drain.js';
import type { LagRun } from './lag.js';

export interface AuditReport {
  versions: { redis: string; postgres: string; pglite: string; bullmq: string; pg: string };
  pgSettings: Record<string, string>;
  ceiling: Ceiling;
  drains: DrainRun[];
  lag: LagRun;
  nproc: number;
}

/**
 * The rate to beat, this run, as the issue defines the floor: the best
 * script-call rate bench/engine measures, in decision events per second:
 * the authorize script with one decision per call by redis-benchmark (bench/engine's
 * Redis-side ceiling) or the library itself batching at concurrency 512 (the
 * fills, as bench:engine's authorize), whichever is higher.
 */
function rateToBeat(r: AuditReport): { rate: number; what: string } {
  const library = Math.max(...r.drains.map((d) => d.fillPerSec));
  const lone = r.ceiling.figures.find((f) => f.decisions === 1);
  return lone !== undefined && lone.eventsPerSec >= library
    ? {
        rate: lone.eventsPerSec,
        what: `${AUTHORIZE_SCRIPT} with 1 decision per call by EVALSHA from redis-benchmark (bench/engine's Redis-side ceiling)`,
      }
    : {
        rate: library,
        what: `library checkPermission at concurrency ${CONFIG.fillConcurrency}, batched by the library (the fills; bench/engine's authorize)`,
      };
}

/**
 * A stricter comparison than the floor: the Redis-side ceiling of batched
 * calls (redis-benchmark, 32 or 128 decisions per call, Redis alone on a core,
 * no Node client), the most events/s one Redis could append if enough client
 * processes kept it busy.
 */
function batchedCeiling(r: AuditReport): { rate: number; what: string } {
  const b = r.ceiling.best;
  return {
    rate: b.eventsPerSec,
    what:
      `${AUTHORIZE_SCRIPT} with ${b.decisions} decision${b.decisions === 1 ? '' : 's'} per call by EVALSHA from redis-benchmark ` +
      `(${fmtInt(b.callsPerSec)} calls/s × ${b.decisions} events each; Redis alone, no Node client)`,
  };
}

/** The drain against batchedCeiling: printed beside the floors, not one of them. */
function comparisons(r: AuditReport): string[] {
  const c = batchedCeiling(r);
  const w = find(r, 'postgres', 'worker');
  if (!w) return [];
  return [
    `(not a floor) drain into PostgreSQL, BullMQ worker, ÷ the Redis-side ceiling of batched calls ` +
      `${fmtInt(c.rate)} events/s = ${fmt(w.perSec / c.rate, 2)}×`,
  ];
}

function find(r: AuditReport, store: string, mode: string): DrainRun | undefined {
  return r.drains.find((d) => d.store === store && d.mode === mode);
}

const MODE_LABEL = {
  insertOnly: `insertEvents alone ×${CONFIG.drainConcurrency}`,
  drainShard: `drainShard ×${CONFIG.drainConcurrency}`,
  worker: 'BullMQ worker',
} as const;

function floors(r: AuditReport): Floor[] {
  const best = rateToBeat(r);
  const out: Floor[] = [];
  for (const mode of ['worker', 'drainShard'] as const) {
    const d = find(r, 'postgres', mode);
    if (!d) continue;
    out.push({
      text:
        `drain into PostgreSQL, ${MODE_LABEL[mode]}: ${fmtInt(d.perSec)} events/s ÷ the rate to beat ` +
        `${fmtInt(best.rate)} events/s = ${fmt(d.perSec / best.rate, 2)}× (floor ≥ 1×)`,
      pass: d.perSec >= best.rate,
    });
  }
  out.push({
    text: `lag p99 under ${fmtInt(r.lag.achievedRate)} decisions/s, worker → PostgreSQL: ${fmtInt(r.lag.lagP99Ms)} ms (floor ≤ ${fmtInt(CONFIG.floors.lagP99Ms)} ms)`,
    pass: r.lag.lagP99Ms <= CONFIG.floors.lagP99Ms,
  });
  return out;
}

const DRAIN_COLUMNS: Column[] = [
  { title: 'store' },
  { title: 'drain' },
  { title: 'events', align: 'right' },
  { title: 's', align: 'right' },
  { title: 'events/s', align: 'right' },
  { title: '÷ rate to beat', align: 'right' },
  { title: 'inserts', align: 'right' },
  { title: 'inserts in flight', align: 'right' },
  { title: 'node CPU µs/ev', align: 'right' },
  { title: 'PostgreSQL CPU µs/ev', align: 'right' },
  { title: 'Redis CPU µs/ev', align: 'right' },
  { title: 'CPU % node / PG / Redis', align: 'right' },
  { title: 'other load, cores', align: 'right' },
];

function drainRows(r: AuditReport): string[][] {
  const best = rateToBeat(r).rate;
  return r.drains.map((d) => [
    d.store,
    MODE_LABEL[d.mode],
    fmtInt(d.events),
    fmt(d.ms / 1000, 2),
    fmtInt(d.perSec),
    `${fmt(d.perSec / best, 2)}×`,
    `${fmtInt(d.batches)} × ${fmtInt(d.eventsPerBatch)}`,
    fmt(d.insertsInFlight, 2),
    fmt(d.nodeUsPerEvent, 1),
    Number.isFinite(d.pgUsPerEvent) ? fmt(d.pgUsPerEvent, 1) : 'in node',
    fmt(d.redisUsPerEvent, 1),
    `${fmt(d.nodePct, 0)} / ${Number.isFinite(d.pgPct) ? fmt(d.pgPct, 0) : '–'} / ${fmt(d.redisPct, 0)}`,
    fmt(d.otherCores, 2),
  ]);
}

const RATE_COLUMNS: Column[] = [
  { title: 'what appends the decision events' },
  { title: 'events per call', align: 'right' },
  { title: 'calls/s', align: 'right' },
  { title: 'events/s', align: 'right' },
  { title: 'Redis CPU µs/event', align: 'right' },
  { title: 'in script µs/call', align: 'right' },
];

function rateRows(r: AuditReport): string[][] {
  const rows = r.ceiling.figures.map((f) => [
    `${AUTHORIZE_SCRIPT} by EVALSHA, redis-benchmark (-c ${f.clients} -P ${f.pipeline}, ${fmtInt(f.calls)} calls), no Node client`,
    fmtInt(f.decisions),
    fmtInt(f.callsPerSec),
    fmtInt(f.eventsPerSec),
    fmt(f.redisCpuUsPerEvent, 1),
    fmtInt(f.scriptUsPerCall),
  ]);
  const fills = r.drains.map((d) => d.fillPerSec);
  const best = r.drains.reduce((a, d) => (d.fillPerSec > a.fillPerSec ? d : a));
  const perEntry = best.events / best.entries;
  rows.push([
    `library checkPermission, concurrency ${CONFIG.fillConcurrency} (batched by the library): best of the ${fills.length} fills (all: ${fills.map(fmtInt).join(', ')})`,
    fmt(perEntry, 1),
    fmtInt(best.fillPerSec / perEntry),
    fmtInt(best.fillPerSec),
    '–',
    '–',
  ]);
  return rows;
}

const LAG_COLUMNS: Column[] = [
  { title: 'decisions/s (target)' },
  { title: 'events', align: 'right' },
  { title: 'lag p50 ms', align: 'right' },
  { title: 'lag p99 ms', align: 'right' },
  { title: 'lag max ms', align: 'right' },
  { title: 'decision p50 / p99 ms', align: 'right' },
  { title: 'max backlog', align: 'right' },
  { title: 'inserts/s × events', align: 'right' },
  { title: 'catch-up ms', align: 'right' },
  { title: 'loop delay p99 / max ms', align: 'right' },
  { title: 'CPU % node / PG / Redis', align: 'right' },
  { title: 'other load, cores', align: 'right' },
];

function lagRows(r: AuditReport): string[][] {
  const l = r.lag;
  return [
    [
      `${fmtInt(l.achievedRate)} (${fmtInt(l.targetRate)})`,
      fmtInt(l.samples),
      fmt(l.lagP50Ms, 0),
      fmt(l.lagP99Ms, 0),
      fmt(l.lagMaxMs, 0),
      `${fmt(l.decisionP50Ms, 2)} / ${fmt(l.decisionP99Ms, 2)}`,
      fmtInt(l.maxBacklog),
      `${fmt(l.inserts / (l.windowMs / 1000), 1)} × ${fmtInt(l.eventsPerInsert)}`,
      fmtInt(l.catchUpMs),
      `${fmt(l.loopDelayP99Ms, 0)} / ${fmt(l.loopDelayMaxMs, 0)}`,
      `${fmt(l.nodePct, 0)} / ${fmt(l.pgPct, 0)} / ${fmt(l.redisPct, 0)}`,
      fmt(l.otherCores, 2),
    ],
  ];
}

/** Per-event CPU of the worker's drain into PostgreSQL against the insert alone and the engine, this run. */
function whereTimeGoes(r: AuditReport): string {
  const w = find(r, 'postgres', 'worker');
  const ins = find(r, 'postgres', 'insertOnly');
  if (!w || !ins) return '';
  const total = w.nodeUsPerEvent + w.pgUsPerEvent + w.redisUsPerEvent;
  const n = r.nproc;
  const busy = (w.nodePct + w.pgPct + w.redisPct) / 100 + w.otherCores;
  const b = r.ceiling.best;
  const sides: [string, number][] = [
    ['Node', w.nodeUsPerEvent],
    ['PostgreSQL', w.pgUsPerEvent],
    ['Redis', w.redisUsPerEvent],
  ];
  const [largest] = sides.reduce((x, y) => (y[1] > x[1] ? y : x));
  return (
    `Where the time goes (this run): the BullMQ worker's drain into PostgreSQL cost ${fmt(w.nodeUsPerEvent, 1)} µs of ` +
    `Node CPU per event (${fmt(w.nodePct, 0)}% of a core), ${fmt(w.pgUsPerEvent, 1)} µs of PostgreSQL (${fmt(w.pgPct, 0)}%) and ` +
    `${fmt(w.redisUsPerEvent, 1)} µs of Redis (${fmt(w.redisPct, 0)}%); ${largest}'s share is the largest. All three together, ` +
    `${fmt(total, 1)} µs per event, allow at most ${fmtInt((n * 1e6) / total)} events/s on ${n} cores even if they overlapped ` +
    `perfectly; the machine was ${fmt(busy, 2)} of ${n} cores busy (${fmt(w.otherCores, 2)} of them other work). ` +
    `\`insertEvents\` alone took ${fmtInt(ins.perSec)} events/s with ${fmt(ins.nodeUsPerEvent, 1)} µs of Node and ` +
    `${fmt(ins.pgUsPerEvent, 1)} µs of PostgreSQL per event, so reading the stream, parsing and acknowledging cost the ` +
    `drain's other ${fmt(w.nodeUsPerEvent - ins.nodeUsPerEvent, 1)} µs of Node. For comparison, Redis spent ` +
    `${fmt(b.redisCpuUsPerEvent, 1)} µs per event deciding them (${b.decisions} per call, its batched ceiling), on a core of its own.`
  );
}

export function auditSection(ctx: BenchContext, r: AuditReport): Section {
  const best = rateToBeat(r);
  const l = r.lag;
  const s = r.pgSettings;
  const v = r.versions;
  return {
    heading: '## bench/audit',
    command:
      'npm run bench:audit    # BENCH_AUDIT_EVENTS=200000 BENCH_AUDIT_RATE=5000 BENCH_SECONDS=30 to change the sizes',
    lastRun: ctx.lastRun([
      `redis ${v.redis}`,
      `PostgreSQL ${v.postgres}`,
      `PGlite ${v.pglite}`,
      `bullmq ${v.bullmq}`,
      `pg ${v.pg}`,
    ]),
    blocks: [
      `One process, one private \`redis-server\` (no persistence), a fresh PostgreSQL database
(\`tollgate_test_<random>\` on the local server, dropped at the end; ${Object.entries(s)
        .map(([k, v]) => `\`${k}=${v}\``)
        .join(', ')}), PGlite in a temporary folder. ${fmtInt(WORKLOAD.agents)} agents
registered through the library (role \`${WORKLOAD.role}\`, limits that never deny), spread over the
16 shards.

- **Drain throughput.** Before each run the outboxes are emptied and refilled with exactly
  ${fmtInt(CONFIG.events)} decision events by \`guard.checkPermission\` from ${CONFIG.fillConcurrency} concurrent loops (one
  \`createTollgate({ redis })\`); then a fresh store (a schema of its own in the bench database,
  or a new PGlite folder, migrated by \`createStore\`) and the clock starts. _drainShard ×${CONFIG.drainConcurrency}_:
  \`drainShard\` called directly, ${CONFIG.drainConcurrency} shards at a time, each until its outbox is empty (the drain
  alone: reads of about 1,000 events, the parse, one \`insertEvents\` statement per read, XACK +
  XDEL, the next read and parse overlapping the insert). _BullMQ worker_:
  \`startAuditWorker\` with its defaults (tick every 200 ms, 4 drain jobs at once, batches of
  1,000), timed from its start until its stats count every event stored. Each run checks the
  store holds one row per event (all distinct) and the outboxes are empty.
- **The rate to beat** is measured in the same run, in decision events per second, as the
  issue words the floor: the best script-call rate bench/engine measures. bench/engine
  measures two: authorize through the library at concurrency ${CONFIG.fillConcurrency} (batched by the
  library; here, the fills: ${CONFIG.fillConcurrency} concurrent \`checkPermission\` loops) and redis-benchmark running
  \`${AUTHORIZE_SCRIPT}\` with one decision per call. This run, the best was ${best.what},
  ${fmtInt(best.rate)} events/s: a drain at least this fast shrinks any backlog the library makes
  on this machine.
- **A stricter comparison, not the floor**: one \`${AUTHORIZE_SCRIPT}\` call decides up to 128
  decisions of one shard (one outbox entry, one event each), so redis-benchmark also runs calls
  of 32 decisions (what ${CONFIG.fillConcurrency} concurrent callers over 16 shards make) and 128 (the batcher's most),
  each captured from real \`checkPermission\` calls and checked before and after the run (every
  decision allowed, one event each in its entry). That is the most one Redis could append if
  enough client processes kept it busy: ${batchedCeiling(r).what}, ${fmtInt(batchedCeiling(r).rate)}
  events/s. It is printed beside the floors with the worker's ratio to it (why it is not the
  floor: [decisions.md](decisions.md#audit-drain-and-store)).
- **Lag.** Decisions at a steady ${fmtInt(l.targetRate)}/s (open loop: issued on a clock every ${CONFIG.lag.tickMs} ms,
  not when earlier ones answer) for ${fmt(CONFIG.lag.warmupMs / 1000, 0)} s of warm-up and a ${fmt(CONFIG.lag.durationMs / 1000, 0)} s window, while the worker
  (defaults) drains into PostgreSQL in the same process. Every event is measured, not a sample: the
  store handed to the worker wraps the real one and notes, for each event of each insert, its
  \`at\` (Redis time, set by the deciding script) and when the insert returned (committed, visible
  to any reader). Lag = that moment − \`at\`, for the events whose \`at\` is in the window.
- **The store alone** (_insertEvents alone_ rows): the same fill, read (XRANGE) and parsed
  before the clock starts, then handed to the store's \`insertEvents\` in the same batches,
  ${CONFIG.drainConcurrency} at a time: what the drain would reach if reading and parsing were free.

### Decision events per second the engine appends (the rate to beat and the ceilings)`,
      { columns: RATE_COLUMNS, rows: rateRows(r) },
      `_events per call_: decisions per \`${AUTHORIZE_SCRIPT}\` call, one event each (for the
library: the fills' events ÷ outbox entries). _in script_: time inside one call (\`INFO
commandstats\`); _Redis CPU_: \`INFO cpu\` over the run ÷ events.

### Drain throughput`,
      { columns: DRAIN_COLUMNS, rows: drainRows(r) },
      `_÷ rate to beat_: events/s over ${fmtInt(best.rate)} events/s. _inserts_: \`insertEvents\` statements ×
mean events in one. _inserts in flight_: time inside \`insertEvents\` summed over the run ÷ its
length (how many statements were running at once, on average). _node CPU_: this process
(the drain code, ioredis, pg, or PGlite itself, which runs in the process). _PostgreSQL CPU_:
the bench database's backends and the server's own processes (WAL writer, checkpointer, …;
not other databases' backends), from /proc. _Redis CPU_: \`INFO cpu\`. _CPU %_: share of one
core each side used over the run. _other load_: cores busy with processes that are not this
benchmark's during the run (\`/proc/stat\` minus the three): a run next to other work reads lower.

### Lag under a steady load (worker → PostgreSQL)`,
      { columns: LAG_COLUMNS, rows: lagRows(r) },
      `_events_: events with \`at\` in the window (= the decisions made in it). _decision_: the
checkPermission latency in the window, with the drain running. _max backlog_: the most
undrained entries (sum of XLEN, sampled every ${CONFIG.lag.backlogEveryMs} ms). _inserts/s × events_: the
worker's statements per second of the window, and their mean size. _catch-up_: after the
load stopped, the time until the last event was stored. _loop delay_: this process's event-loop
delay in the window (load generator and worker share it). Rows in the store = ${fmtInt(l.rows)} = decisions made
(warm-up included).

### Floors`,
      floors(r),
      `${comparisons(r)
        .map((c) => `- ${c}`)
        .join('\n')}

The floor is checked against the rate to beat of the same run: ${best.what}.
The worker's figure is the one that counts (it is what \`tollgate worker\` runs); drainShard alone
shows what the queue costs on top.

### How to read it

- The machine drifts between runs (shared, ${r.nproc} cores): compare figures **within one run**.
- With ${r.nproc} cores, Node (the drain, and PGlite inside it), PostgreSQL and Redis share the
  machine; the CPU columns say what each side spent per event and how busy it was.
- PGlite runs in the worker's own process, one connection: its inserts never overlap, and
  its CPU is in the node column.
- Lag has a floor of its own: the worker looks for work every 200 ms (its tick), so an event
  waits up to one tick before a drain even starts; then the drain's batch and its insert.
- ${whereTimeGoes(r)}
- To see where the drain's Node time goes: \`BENCH_AUDIT_PROF=/tmp/prof npm run bench:audit\`, then
  \`npx tsx bench/http/profile-summary.ts /tmp/prof/postgres-worker.cpuprofile\` (the last
  breakdown: [decisions.md](decisions.md#audit-drain-and-store)).`,
    ],
  };
}
