/** The `## bench/engine` section of docs/BENCHMARKS.md. */
import { type BenchContext, type Floor, type Section, type Table, times } from '../lib/harness.js';
import { type Rounds, roundsFloor } from '../lib/rounds.js';
import { type Column, fmt, fmtInt } from '../lib/table.js';
import { WORKLOAD } from '../lib/workload.js';
import { CONFIG } from './config.js';
import type { Measurement } from './measure.js';
import type { PoolsPart } from './pools-part.js';
import type { RedisPart } from './redis-part.js';

const OP_LABEL = {
  authorize: 'authorize',
  consume: 'consume',
  pair: 'pair (authorize+settle)',
  'consume+reward': 'pair (consume+reward)',
} as const;
const TARGET_ORDER = ['tollgate/redis', 'rlf/redis', 'tollgate/memory'];
const OP_ORDER = Object.keys(OP_LABEL);

const MAIN_COLUMNS: Column[] = [
  { title: 'target' },
  { title: 'operation' },
  { title: 'conc.', align: 'right' },
  { title: 'ops/s', align: 'right' },
  { title: 'p50 ms', align: 'right' },
  { title: 'p99 ms', align: 'right' },
  { title: 'node CPU µs/op', align: 'right' },
  { title: 'Redis CPU µs/op', align: 'right' },
  { title: 'in script µs/op', align: 'right' },
  { title: 'Redis CPU %', align: 'right' },
];

function mainTable(rows: Measurement[]): Table {
  const sorted = [...rows].sort(
    (a, b) =>
      TARGET_ORDER.indexOf(a.target) - TARGET_ORDER.indexOf(b.target) ||
      OP_ORDER.indexOf(a.op) - OP_ORDER.indexOf(b.op) ||
      a.concurrency - b.concurrency,
  );
  return {
    columns: MAIN_COLUMNS,
    rows: sorted.map((m) => [
      m.target,
      OP_LABEL[m.op],
      m.concurrency === CONFIG.headToHeadConcurrency && m.target !== 'tollgate/memory'
        ? `${m.concurrency}*`
        : String(m.concurrency),
      fmtInt(m.opsPerSec),
      fmt(m.p50Ms, 3),
      fmt(m.p99Ms, 3),
      fmt(m.nodeCpuUsPerOp, 1),
      fmt(m.redisCpuUsPerOp, 1),
      fmt(m.scriptUsPerOp, 1),
      Number.isFinite(m.redisCpuPct) ? fmt(m.redisCpuPct, 0) : '–',
    ]),
  };
}

/**
 * Alternating rounds of two targets: each round's ops/s, their ratio and
 * each side's CPU per operation. `ours` and `peer` title the ops/s columns,
 * `sides` the CPU columns ("ours / rlf").
 */
function versusTable(r: Rounds<Measurement>, ours: string, peer: string, sides: string): Table {
  return {
    columns: [
      { title: 'round' },
      { title: ours, align: 'right' },
      { title: peer, align: 'right' },
      { title: 'ratio', align: 'right' },
      { title: `node CPU µs/op (${sides})`, align: 'right' },
      { title: `Redis CPU µs/op (${sides})`, align: 'right' },
    ],
    rows: r.rounds.map((x, i) => [
      String(i + 1),
      fmtInt(x.ours.opsPerSec),
      fmtInt(x.peer.opsPerSec),
      times(x.ratio),
      `${fmt(x.ours.nodeCpuUsPerOp, 1)} / ${fmt(x.peer.nodeCpuUsPerOp, 1)}`,
      `${fmt(x.ours.redisCpuUsPerOp, 1)} / ${fmt(x.peer.redisCpuUsPerOp, 1)}`,
    ]),
  };
}

/** Ours against the peer, round by round. */
function roundsTable(r: Rounds<Measurement>): Table {
  const ours = OP_LABEL[r.ours.op];
  const peer = OP_LABEL[r.peer.op];
  return versusTable(r, `tollgate ${ours} ops/s`, `rlf ${peer} ops/s`, 'ours / rlf');
}

const CEILING_COLUMNS: Column[] = [
  { title: 'script (EVALSHA)' },
  { title: 'redis.calls per call' },
  { title: 'requests/s', align: 'right' },
  { title: 'in script µs/call', align: 'right' },
  { title: 'Redis CPU µs/call', align: 'right' },
];

export function floors(part: RedisPart, memory: Measurement[], pools: PoolsPart): Floor[] {
  const f = CONFIG.floors;
  const c = CONFIG.headToHeadConcurrency;
  const lowest = Math.min(...memory.filter((m) => m.op === 'authorize').map((m) => m.opsPerSec));
  return [
    roundsFloor(
      `Tollgate authorize ÷ rate-limiter-flexible consume at concurrency ${c}`,
      part.authorize,
      f.authorizeVsConsume,
    ),
    roundsFloor(
      `Tollgate authorize+settle ÷ rate-limiter-flexible consume+reward (pairs/s) at concurrency ${c}`,
      part.pair,
      f.pairVsPeerPair,
    ),
    {
      text: `MemoryEngine authorize, lowest of concurrency ${CONFIG.memoryConcurrency.join(' and ')}: ${fmtInt(lowest)}/s; floor ≥ ${fmtInt(f.memoryAuthorizePerSec)}/s`,
      pass: lowest >= f.memoryAuthorizePerSec,
    },
    roundsFloor(
      `Tollgate authorize under a three-level pool hierarchy ÷ the plain agent's authorize at concurrency ${c}`,
      pools.authorize,
      f.poolsVsPlain,
    ),
  ];
}

/** The pools rounds: pooled authorize against the plain agent's, with the Redis CPU per decision. */
function poolsTable(r: Rounds<Measurement>): Table {
  return versusTable(r, 'authorize under pools ops/s', 'plain authorize ops/s', 'pools / plain');
}

/** Decisions per second one Redis core can make: 1e6 / its CPU µs per decision. */
const perCore = (m: Measurement) => fmtInt(1e6 / m.redisCpuUsPerOp);

/** Node + Redis CPU per operation of the median rounds, and the ratio they predict. */
function whereTimeGoes(r: Rounds<Measurement>, what: string, peer: string): string {
  const o = r.ours.nodeCpuUsPerOp + r.ours.redisCpuUsPerOp;
  const p = r.peer.nodeCpuUsPerOp + r.peer.redisCpuUsPerOp;
  return (
    `${what} cost ${fmt(r.ours.nodeCpuUsPerOp, 1)} µs of Node CPU + ${fmt(r.ours.redisCpuUsPerOp, 1)} µs ` +
    `of Redis CPU, ${peer} ${fmt(r.peer.nodeCpuUsPerOp, 1)} + ${fmt(r.peer.redisCpuUsPerOp, 1)} µs: ` +
    `${fmt(p, 1)} / ${fmt(o, 1)} = ${times(p / o)} predicted, ${times(r.ratio)} measured`
  );
}

export function engineSection(
  ctx: BenchContext,
  redisVersion: string,
  part: RedisPart,
  memory: Measurement[],
  pools: PoolsPart,
): Section {
  const c = CONFIG.headToHeadConcurrency;
  const secs = CONFIG.durationMs / 1000;
  return {
    heading: '## bench/engine',
    command:
      'npm run bench:engine        # BENCH_SECONDS=5 for longer windows, BENCH_ROUNDS=5 for more rounds',
    lastRun: ctx.lastRun([`redis ${redisVersion}`]),
    blocks: [
      `One process, one private \`redis-server\` on a free port (no persistence), ${fmtInt(WORKLOAD.agents)}
agents registered up front (role \`${WORKLOAD.role}\`, limits that never deny). Each figure is a
closed loop of N async callers sharing one client (one \`createTollgate({ redis: url })\`, whose
ioredis client auto-pipelines), spread round-robin over the agents, measured for ${secs} s after a
${CONFIG.warmupMs / 1000} s warm-up. \`authorize\` is \`guard.checkPermission(agent, '${WORKLOAD.operation}', { estimatedTokens: ${WORKLOAD.estimatedTokens} })\`;
\`pair (authorize+settle)\` is that plus \`guard.recordOperation(…, reservation_id)\` (ops/s counts pairs; latency is
the pair's). The peer is rate-limiter-flexible \`RateLimiterRedis\` on its own ioredis
client with the same options, over the same keys: \`consume(key)\`, and \`pair (consume+reward)\`,
\`consume(key)\` then \`reward(key)\` (its way to hold a point and give it back).

### Results`,
      mainTable(part.rows.concat(memory)),
      `\\* median of the alternating rounds below. _node CPU_: this process's CPU time per operation
(the client side: ours or rlf, ioredis, the event loop). _Redis CPU_: the server's CPU time per
operation (\`INFO cpu\`: scripts, commands, network I/O). _in script_: time inside EVALSHA
(\`INFO commandstats\`). _Redis CPU %_: share of one core the server used.

### Tollgate vs rate-limiter-flexible (alternating rounds, concurrency ${c})`,
      roundsTable(part.authorize),
      roundsTable(part.pair),
      `### Pools: authorize under a three-level hierarchy (alternating rounds, concurrency ${c})

The same private Redis; ${fmtInt(WORKLOAD.agents)} agents under one org -> 2 teams -> 4 pools, a daily
and a monthly cost limit and both rate limits at every level (never denying, each checked on
every decision), all living on the root's shard (one hot root), against ${fmtInt(WORKLOAD.agents)} plain agents.`,
      poolsTable(pools.authorize),
      `The same pooled agents against ${fmtInt(WORKLOAD.agents)} plain agents of the root's shard only: their
decisions are batched as the pooled ones are (one shard), so the ratio is the pools' own cost per decision.`,
      poolsTable(pools.sameShard),
      `One hot root's ceiling on one Redis core (1e6 / Redis CPU µs per decision, median rounds):
${perCore(pools.sameShard.ours)} decisions/s under the pools, ${perCore(pools.sameShard.peer)} for plain agents of one
shard, ${perCore(pools.authorize.peer)} for plain agents spread over the shards.`,
      '### The Redis-side ceiling (redis-benchmark, one Redis core, no Node client)',
      {
        columns: CEILING_COLUMNS,
        rows: part.ceilings.map((x) => [
          x.label,
          x.redisCalls,
          fmtInt(x.requestsPerSec),
          fmt(x.scriptUsPerCall, 2),
          fmt(x.redisCpuUsPerCall, 2),
        ]),
      },
      `Each repeats one EVALSHA captured (MONITOR) from a real call through the library, so KEYS
and ARGV are exactly what the client sends (that call's event tail, no request id, a fresh
nonce per call; one call is checked to take the allowed path first):

${part.ceilings.map((x) => `- \`${x.command}\``).join('\n')}

The redis.call counts are measured (INFO commandstats around one call of the steady allowed
path), not read from the source. A pair is authorize + settle: ${part.calls.authorize} +
${part.calls.settle} redis.calls; the peer's, consume + reward: ${part.calls.consume} + ${part.calls.reward}.

### Floors`,
      floors(part, memory, pools),
      `### How to read it

- The machine drifts 1.3–3× between runs and between hours of one day (shared, ${ctx.machine.nproc} cores):
  compare figures **within one run**, not across runs. That is why ours and the peer alternate and the ratio is a median.
- With ${ctx.machine.nproc} cores, this Node process and Redis share the machine; the node CPU and Redis CPU
  columns give each side's cost per operation.
- Per call, the peer does much less: RLF's \`consume\` is one small script on a string key
  (redis.calls: ${part.calls.consume}) and returns two numbers; its \`reward\` is the same script
  adding −1. Our \`authorize\` goes to Redis coalesced: the decisions of one shard that arrive
  together are one script call (each still atomic, in order). Per decision it reads the agent's
  packed state and the day's spend, checks status, role, session and daily limits, holds the
  estimate and emits the decision event (redis.calls of a one-decision call: ${part.calls.authorize}).
  It returns the reservation and the agent's full budget status, which the library turns into the
  decision object. The settle prices the usage, frees the hold, records the spend and emits its event.
- Where the time goes (this run, concurrency ${c}, median rounds): ${whereTimeGoes(part.authorize, 'an authorize', 'a consume')}; ${whereTimeGoes(part.pair, 'a pair (authorize+settle)', 'a consume+reward')}. On one auto-pipelined connection Node and Redis mostly take turns (neither reaches 100% of a core), so ops/s follows 1 / (Node + Redis µs per op).
- \`tollgate/memory\` runs in this process on a fresh engine per figure (a full GC before
  each measurement). No drain runs, so every audit event and every open hold of the
  authorize-only loop stays on the heap: its figures include the GC of a growing heap.
- The ceiling table is Redis alone (pipelined, ${CONFIG.redisBenchmark.c} connections); the
  library's figures sit below it by the client-side cost per call; it runs one decision per
  call, so it shows the lone-call cost, not the batched one. Redis-side instructions per
  decision by batch size (deterministic, callgrind): \`npx tsx bench/engine/instructions.ts\`
  ([decisions](decisions.md#engine-redis-side)).`,
    ],
  };
}
