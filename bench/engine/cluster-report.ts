/** The `## bench/engine on a Redis Cluster` section of docs/BENCHMARKS.md. */
import type { BenchContext, Section } from '../lib/harness.js';
import { median } from '../lib/stats.js';
import { type Column, fmt, fmtInt } from '../lib/table.js';
import { WORKLOAD } from '../lib/workload.js';
import type { ClusterRow } from './cluster-part.js';
import { CONFIG } from './config.js';

interface Summary {
  rows: ClusterRow[];
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerOp: number;
}

const keyOf = (m: ClusterRow, ap = m.autoPipelining) =>
  `${m.cluster}|${ap}|${m.waitReplicas}|${m.op}|${m.concurrency}`;

/** One line per configuration: the median of its rounds. */
function summarize(rows: readonly ClusterRow[]): Map<string, Summary> {
  const groups = new Map<string, ClusterRow[]>();
  for (const m of rows) groups.set(keyOf(m), [...(groups.get(keyOf(m)) ?? []), m]);
  const out = new Map<string, Summary>();
  for (const [key, list] of groups) {
    out.set(key, {
      rows: list,
      opsPerSec: median(list.map((m) => m.opsPerSec)),
      p50Ms: median(list.map((m) => m.p50Ms)),
      p99Ms: median(list.map((m) => m.p99Ms)),
      cpuUsPerOp: median(list.map((m) => m.nodeCpuUsPerOp + m.redisCpuUsPerOp)),
    });
  }
  return out;
}

const COLUMNS: Column[] = [
  { title: 'store' },
  { title: 'waitReplicas', align: 'right' },
  { title: 'operation' },
  { title: 'conc.', align: 'right' },
  { title: 'auto-pipelining' },
  { title: 'runs', align: 'right' },
  { title: 'ops/s', align: 'right' },
  { title: 'p50 ms', align: 'right' },
  { title: 'p99 ms', align: 'right' },
  { title: 'Node + Redis CPU µs/op', align: 'right' },
  { title: 'on ÷ off (ops/s)', align: 'right' },
];

function tableRows(sums: Map<string, Summary>): string[][] {
  return [...sums.values()].map((s) => {
    const m = s.rows[0] as ClusterRow;
    const off = sums.get(keyOf(m, false));
    return [
      m.cluster,
      String(m.waitReplicas),
      m.op === 'pair' ? 'pair (authorize+settle)' : m.op,
      String(m.concurrency),
      m.autoPipelining ? 'on' : 'off',
      String(s.rows.length),
      fmtInt(s.opsPerSec),
      fmt(s.p50Ms, 2),
      fmt(s.p99Ms, 2),
      fmt(s.cpuUsPerOp, 1),
      m.autoPipelining && off ? `${fmt(s.opsPerSec / off.opsPerSec, 2)}×` : '',
    ];
  });
}

/** The pair's ops/s with and without waitReplicas (auto-pipelining off), in words. */
function waitCost(sums: Map<string, Summary>): string {
  const pair = (wait: number) =>
    [...sums.values()].find((s) => {
      const m = s.rows[0] as ClusterRow;
      return (
        m.cluster !== 'Cluster, 3 masters' &&
        m.op === 'pair' &&
        !m.autoPipelining &&
        m.waitReplicas === wait
      );
    });
  const without = pair(0);
  const withWait = pair(1);
  if (!without || !withWait) return '';
  return (
    `In this run a pair took ${fmt(withWait.p50Ms, 0)} ms (p50) instead of ` +
    `${fmt(without.p50Ms, 0)} ms, ${fmtInt(withWait.opsPerSec)} pairs/s instead of ` +
    `${fmtInt(without.opsPerSec)}: the settle waits for the replica's acknowledgement.`
  );
}

export function clusterSection(ctx: BenchContext, rows: readonly ClusterRow[]): Section {
  const sums = summarize(rows);
  return {
    heading: '## bench/engine on a Redis Cluster',
    command: `npm run bench:engine                    # the whole bench, this section included
npx tsx bench/engine/cluster-part.ts    # this section alone; BENCH_CLUSTER_ROUNDS=n (default 2) rounds`,
    lastRun: ctx.lastRun(),
    blocks: [
      `The same load as above (${fmtInt(WORKLOAD.agents)} agents, closed loops of N callers on one client, ${CONFIG.durationMs / 1000} s windows
after ${CONFIG.warmupMs / 1000} s of warm-up), through \`createTollgate({ redis: cluster })\` on a private Redis Cluster:
three masters, then three masters with one replica each, all on this machine. The client
is \`new Cluster(nodes, CLUSTER_OPTIONS)\` (src/engine/connect.ts) with \`enableAutoPipelining\`
off (what Tollgate makes) and on. On the 3-master Cluster the two alternate over several
rounds and each line is the median of its runs. _Node + Redis CPU_: this process's CPU
time plus every node's (\`INFO cpu\`, replicas included) per operation.`,
      { columns: COLUMNS, rows: tableRows(sums) },
      `- Auto-pipelining is off in Tollgate's Cluster client: ioredis keeps one auto-pipeline in
  flight per master at a time, so callers wait for the pipeline before theirs, and its
  per-command bookkeeping costs more Node CPU than the writes it saves, once authorize
  already sends the decisions of one shard together (one script call).
  With it off, every command also gets its own MOVED/ASK handling during a failover.
- \`waitReplicas: 1\` adds a WAIT after each settle (the pair's second call), in one
  pipeline with the script: the settle is answered once a replica has it
  ([recovery.md](recovery.md#faults-what-a-caller-sees-what-is-lost)). ${waitCost(sums)}
- All nodes and this process share ${ctx.machine.nproc} cores: compare the lines of one run, not runs.`,
    ],
  };
}
