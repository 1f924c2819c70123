/**
 * One measurement: a closed-loop load (bench/lib/load.ts) plus, when a Redis
 * is involved, what the server spent on it: its CPU time per operation (INFO
 * cpu: script, commands, network I/O) and the time inside its scripts
 * (INFO commandstats, EVALSHA `usec`).
 */
import type { Redis } from 'ioredis';
import { fullGc } from '../lib/gc.js';
import { type LoadResult, runLoad } from '../lib/load.js';
import { commandStats, redisCpuSeconds } from '../lib/redis.js';
import { CONFIG } from './config.js';

export type Target = 'tollgate/redis' | 'rlf/redis' | 'tollgate/memory' | 'tollgate/cluster';
export type OpName = 'authorize' | 'pair' | 'consume';

export interface Measurement extends LoadResult {
  target: Target;
  op: OpName;
  /** Script calls (round trips) per operation: 2 for a pair, else 1. */
  callsPerOp: number;
  /** Redis CPU time (user + sys) per operation, µs; NaN without Redis. */
  redisCpuUsPerOp: number;
  /** Share of one core the Redis process used in the window, %. */
  redisCpuPct: number;
  /** Time inside EVALSHA per operation (commandstats), µs. */
  scriptUsPerOp: number;
}

export interface MeasureOptions {
  target: Target;
  op: OpName;
  concurrency: number;
  run: (seq: number) => Promise<void>;
  /** The private Redis's admin connection; none for the in-process engine. */
  admin?: Redis;
  /** Without `admin`: the servers' CPU seconds so far (a Cluster: every node's sum). */
  serverCpuSeconds?: () => Promise<number>;
}

export async function measure(o: MeasureOptions): Promise<Measurement> {
  const callsPerOp = o.op === 'pair' ? 2 : 1;
  const admin = o.admin;
  const serverCpu = admin ? () => redisCpuSeconds(admin) : o.serverCpuSeconds;
  let cpu0 = 0;
  let t0 = 0;
  let cpu = Number.NaN;
  let wall = Number.NaN;
  let evalsha = { calls: 0, usec: 0 };
  // Start every measurement with a clean heap (no garbage of the last one).
  fullGc();
  const load = await runLoad({
    concurrency: o.concurrency,
    warmupMs: CONFIG.warmupMs,
    durationMs: CONFIG.durationMs,
    op: o.run,
    onWindowStart: serverCpu
      ? async () => {
          await admin?.config('RESETSTAT');
          cpu0 = await serverCpu();
          t0 = performance.now();
        }
      : undefined,
    onWindowEnd: serverCpu
      ? async () => {
          cpu = (await serverCpu()) - cpu0;
          wall = (performance.now() - t0) / 1000;
          if (admin) evalsha = (await commandStats(admin)).get('evalsha') ?? evalsha;
        }
      : undefined,
  });
  const redisShare = cpu / wall;
  return {
    ...load,
    target: o.target,
    op: o.op,
    callsPerOp,
    redisCpuUsPerOp: (redisShare * 1e6) / load.opsPerSec,
    redisCpuPct: redisShare * 100,
    scriptUsPerOp: evalsha.calls > 0 ? (evalsha.usec / evalsha.calls) * callsPerOp : Number.NaN,
  };
}

/** One line of progress on stderr. */
export function logMeasurement(m: Measurement, note = ''): void {
  const redis = Number.isFinite(m.redisCpuUsPerOp)
    ? `  redis ${m.redisCpuUsPerOp.toFixed(1)} µs/op (${m.redisCpuPct.toFixed(0)}% of a core)`
    : '';
  process.stderr.write(
    `  ${m.target.padEnd(15)} ${m.op.padEnd(9)} c=${String(m.concurrency).padEnd(3)} ` +
      `${Math.round(m.opsPerSec).toLocaleString('en-US').padStart(9)} ops/s  ` +
      `p50 ${m.p50Ms.toFixed(2)} ms  p99 ${m.p99Ms.toFixed(2)} ms  ` +
      `node ${m.nodeCpuUsPerOp.toFixed(1)} µs/op${redis}${note}\n`,
  );
}
