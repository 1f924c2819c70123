/** The console tables and the `## bench/engine` section of docs/BENCHMARKS.md. */

import type { MachineInfo } from '../lib/system.js';
import { type Column, fmt, fmtInt, markdownTable, textTable } from '../lib/table.js';
import { CONFIG } from './config.js';
import type { Measurement } from './measure.js';
import type { CeilingResult } from './redis-ceiling.js';

export interface Round {
  ours: Measurement;
  peer: Measurement;
  ratio: number;
}

export interface BenchReport {
  machine: MachineInfo;
  redisVersion: string;
  /** Main table rows; the head-to-head level shows the median round. */
  rows: Measurement[];
  rounds: Round[];
  medianRatio: number;
  ratioPass: boolean;
  memoryMinAuthorize: number;
  memoryPass: boolean;
  ceilings: (CeilingResult & { redisCalls: string })[];
  /** redis.call counts measured per script call, e.g. authorize → "7 (TIME, …)". */
  calls: Record<'authorize' | 'settle' | 'consume', string>;
  elapsedSeconds: number;
}

const pf = (pass: boolean) => (pass ? 'PASS' : 'FAIL');

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

function mainRows(r: BenchReport): string[][] {
  return r.rows.map((m) => [
    m.target,
    m.op === 'pair' ? 'pair (authorize+settle)' : m.op,
    m.concurrency === CONFIG.headToHeadConcurrency &&
    m.target !== 'tollgate/memory' &&
    m.op !== 'pair'
      ? `${m.concurrency}*`
      : String(m.concurrency),
    fmtInt(m.opsPerSec),
    fmt(m.p50Ms, 3),
    fmt(m.p99Ms, 3),
    fmt(m.nodeCpuUsPerOp, 1),
    fmt(m.redisCpuUsPerOp, 1),
    fmt(m.scriptUsPerOp, 1),
    Number.isFinite(m.redisCpuPct) ? fmt(m.redisCpuPct, 0) : '–',
  ]);
}

const ROUND_COLUMNS: Column[] = [
  { title: 'round' },
  { title: 'tollgate authorize ops/s', align: 'right' },
  { title: 'rlf consume ops/s', align: 'right' },
  { title: 'ratio', align: 'right' },
  { title: 'node CPU µs/op (ours / rlf)', align: 'right' },
  { title: 'Redis CPU µs/op (ours / rlf)', align: 'right' },
];

function roundRows(r: BenchReport): string[][] {
  return r.rounds.map((x, i) => [
    String(i + 1),
    fmtInt(x.ours.opsPerSec),
    fmtInt(x.peer.opsPerSec),
    `${fmt(x.ratio, 2)}×`,
    `${fmt(x.ours.nodeCpuUsPerOp, 1)} / ${fmt(x.peer.nodeCpuUsPerOp, 1)}`,
    `${fmt(x.ours.redisCpuUsPerOp, 1)} / ${fmt(x.peer.redisCpuUsPerOp, 1)}`,
  ]);
}

const CEILING_COLUMNS: Column[] = [
  { title: 'script (EVALSHA)' },
  { title: 'redis.calls per call' },
  { title: 'requests/s', align: 'right' },
  { title: 'in script µs/call', align: 'right' },
  { title: 'Redis CPU µs/call', align: 'right' },
];

function ceilingRows(r: BenchReport): string[][] {
  return r.ceilings.map((c) => [
    c.label,
    c.redisCalls,
    fmtInt(c.requestsPerSec),
    fmt(c.scriptUsPerCall, 2),
    fmt(c.redisCpuUsPerCall, 2),
  ]);
}

function verdicts(r: BenchReport): string[] {
  const f = CONFIG.floors;
  return [
    `Tollgate authorize ÷ rate-limiter-flexible consume at concurrency ${CONFIG.headToHeadConcurrency}, ` +
      `median of ${r.rounds.length} rounds: ${fmt(r.medianRatio, 2)}× ` +
      `(rounds: ${r.rounds.map((x) => `${fmt(x.ratio, 2)}×`).join(', ')}); ` +
      `floor ≥ ${f.ratioVsPeer}×: ${pf(r.ratioPass)}`,
    `MemoryEngine authorize, lowest of concurrency ${CONFIG.memoryConcurrency.join(' and ')}: ` +
      `${fmtInt(r.memoryMinAuthorize)}/s; floor ≥ ${fmtInt(f.memoryAuthorizePerSec)}/s: ${pf(r.memoryPass)}`,
  ];
}

export function consoleReport(r: BenchReport): string {
  const m = r.machine;
  return [
    '',
    `bench/engine — ${m.date}, node ${m.node}, redis ${r.redisVersion}, nproc ${m.nproc}, ${m.cpu}`,
    '',
    textTable(MAIN_COLUMNS, mainRows(r)),
    `* median of the ${r.rounds.length} alternating rounds below`,
    '',
    textTable(ROUND_COLUMNS, roundRows(r)),
    '',
    textTable(CEILING_COLUMNS, ceilingRows(r)),
    '',
    ...verdicts(r),
    '',
    `(${fmt(r.elapsedSeconds, 0)} s)`,
    '',
  ].join('\n');
}

export function markdownSection(r: BenchReport): string {
  const m = r.machine;
  const secs = CONFIG.durationMs / 1000;
  return `## bench/engine

\`\`\`sh
npm run bench:engine        # BENCH_SECONDS=5 npm run bench:engine for longer windows
\`\`\`

Last run: ${m.date} · node ${m.node} · redis ${r.redisVersion} · nproc ${m.nproc} (${m.cpu}) · ${m.os} · ${fmt(r.elapsedSeconds, 0)} s

One process, one private \`redis-server\` on a free port (no persistence), ${CONFIG.agents.toLocaleString('en-US')}
agents registered up front (role \`${CONFIG.role}\`, limits that never deny). Each figure is a
closed loop of N async callers sharing one client (one \`createTollgate({ redis: url })\`, whose
ioredis client auto-pipelines), spread round-robin over the agents, measured for ${secs} s after a
${CONFIG.warmupMs / 1000} s warm-up. \`authorize\` is \`guard.checkPermission(agent, '${CONFIG.operation}', { estimatedTokens: ${CONFIG.estimatedTokens} })\`;
\`pair\` is that plus \`guard.recordOperation(…, reservation_id)\` (ops/s counts pairs; latency is
the pair's). The peer is rate-limiter-flexible ${'`RateLimiterRedis.consume(key)`'} on its own ioredis
client with the same options, over the same keys.

### Results

${markdownTable(MAIN_COLUMNS, mainRows(r))}

\\* median of the alternating rounds below. _node CPU_: this process's CPU time per operation
(the client side: ours or rlf, ioredis, the event loop). _Redis CPU_: the server's CPU time per
operation (\`INFO cpu\`: scripts, commands, network I/O). _in script_: time inside EVALSHA
(\`INFO commandstats\`). _Redis CPU %_: share of one core the server used.

### Tollgate vs rate-limiter-flexible (alternating rounds, concurrency ${CONFIG.headToHeadConcurrency})

${markdownTable(ROUND_COLUMNS, roundRows(r))}

### The Redis-side ceiling (redis-benchmark, one Redis core, no Node client)

${markdownTable(CEILING_COLUMNS, ceilingRows(r))}

Each repeats one EVALSHA captured (MONITOR) from a real call through the library, so KEYS
and ARGV are exactly what the client sends (that call's nonce and event tail, no request id;
one call is checked to take the allowed path first):

${r.ceilings.map((c) => `- \`${c.command}\``).join('\n')}

The redis.call counts are measured (INFO commandstats around one call of the steady allowed
path), not read from the source. A pair is authorize + settle: ${r.calls.authorize} +
${r.calls.settle} redis.calls.

### Floors

${verdicts(r)
  .map((v) => `- ${v}`)
  .join('\n')}

### How to read it

- The machine drifts 1.3–3× between runs and between hours of one day (shared, 2 cores):
  compare figures **within one run**, not across runs. That is why ours and the peer alternate and the ratio is a median.
- With 2 cores, this Node process and Redis share the machine; the node CPU and Redis CPU
  columns give each side's cost per operation.
- Per call, the peer does much less: RLF's \`consume\` is one small script on a string key
  (redis.calls: ${r.calls.consume}) and returns two numbers. Our \`authorize\` goes to Redis
  coalesced: the decisions of one shard that arrive together are one \`authorizeBatch-1\` call
  (each still atomic, in order). Per decision it reads the agent's packed state and the day's
  spend, checks status, role, session and daily limits, holds the estimate (state and hold in
  one HSET, lease zset) and emits the decision event; per call one TIME and one XADD
  (redis.calls of a one-decision call: ${r.calls.authorize}). It returns the reservation and the
  agent's full budget status, which the library turns into the decision object.
- ${whereTimeGoes(r)}
- \`tollgate/memory\` runs in this process on a fresh engine per figure (a full GC before
  each measurement). No drain runs, so every audit event and every open hold of the
  authorize-only loop stays on the heap: its figures include the GC of a growing heap.
- The ceiling table is Redis alone (pipelined, ${CONFIG.redisBenchmark.c} connections); the
  library's figures sit below it by the client-side cost per call; it runs one decision per
  call, so it shows the lone-call cost, not the batched one. Redis-side instructions per
  decision by batch size (deterministic, callgrind): \`npx tsx bench/engine/instructions.ts\`
  ([decisions](decisions.md#engine-redis-side)).
`;
}

/** Node + Redis CPU per operation of the median rounds, and the ratio they predict. */
function whereTimeGoes(r: BenchReport): string {
  const head = r.rows.filter((m) => m.concurrency === CONFIG.headToHeadConcurrency);
  const ours = head.find((m) => m.target === 'tollgate/redis' && m.op === 'authorize');
  const peer = head.find((m) => m.target === 'rlf/redis');
  if (!ours || !peer) return '';
  const o = ours.nodeCpuUsPerOp + ours.redisCpuUsPerOp;
  const p = peer.nodeCpuUsPerOp + peer.redisCpuUsPerOp;
  return (
    `Where the time goes (this run, concurrency ${CONFIG.headToHeadConcurrency}, median rounds): ` +
    `an authorize cost ${fmt(ours.nodeCpuUsPerOp, 1)} µs of Node CPU + ${fmt(ours.redisCpuUsPerOp, 1)} µs ` +
    `of Redis CPU, a consume ${fmt(peer.nodeCpuUsPerOp, 1)} + ${fmt(peer.redisCpuUsPerOp, 1)} µs. ` +
    'On one auto-pipelined connection Node and Redis mostly take turns (neither reaches 100% ' +
    'of a core), so ops/s follows 1 / (Node + Redis µs per op): ' +
    `${fmt(p, 1)} / ${fmt(o, 1)} = ${fmt(p / o, 2)}× predicted, ${fmt(r.medianRatio, 2)}× measured.`
  );
}
