/**
 * One measurement: a closed-loop load (bench/lib/load.ts) plus, when a Redis
 * is involved, what the server spent on it (bench/lib/meter.ts): its CPU time
 * per operation (INFO cpu: script, commands, network I/O) and the time inside
 * its scripts (INFO commandstats, EVALSHA `usec`).
 */
import { fullGc } from '../lib/gc.js';
import { type LoadResult, runLoad } from '../lib/load.js';
import { type MeterSources, startMeter, type Usage } from '../lib/meter.js';
import { CONFIG } from './config.js';

export type Target = 'tollgate/redis' | 'rlf/redis' | 'tollgate/memory' | 'tollgate/cluster';
/** `pair`: authorize then settle; `consume+reward`: the peer's pair. */
export type OpName = 'authorize' | 'pair' | 'consume' | 'consume+reward';

/** Script calls (round trips) per operation. */
const CALLS: Record<OpName, number> = { authorize: 1, consume: 1, pair: 2, 'consume+reward': 2 };

export interface Measurement extends LoadResult {
  target: Target;
  op: OpName;
  /** Redis CPU time (user + sys) per operation, µs; NaN without Redis. */
  redisCpuUsPerOp: number;
  /** Share of one core the Redis process used in the window, %. */
  redisCpuPct: number;
  /** Time inside EVALSHA per operation (commandstats), µs. */
  scriptUsPerOp: number;
}

export async function measure(
  target: Target,
  op: OpName,
  concurrency: number,
  run: (seq: number) => Promise<void>,
  /** The Redis side; none for the in-process engine. */
  servers: MeterSources = {},
): Promise<Measurement> {
  const metered = servers.redis !== undefined || servers.serverCpuSeconds !== undefined;
  let meter: Awaited<ReturnType<typeof startMeter>> | undefined;
  let usage: Usage | undefined;
  // Start every measurement with a clean heap (no garbage of the last one).
  fullGc();
  const load = await runLoad({
    concurrency,
    warmupMs: CONFIG.warmupMs,
    durationMs: CONFIG.durationMs,
    op: run,
    onWindowStart: metered
      ? async () => {
          meter = await startMeter(servers);
        }
      : undefined,
    onWindowEnd: metered
      ? async () => {
          usage = await meter?.stop();
        }
      : undefined,
  });
  const share = usage ? usage.redisCpu / usage.seconds : Number.NaN;
  const evalsha = usage?.commands.get('evalsha');
  return {
    ...load,
    target,
    op,
    redisCpuUsPerOp: (share * 1e6) / load.opsPerSec,
    redisCpuPct: share * 100,
    scriptUsPerOp: evalsha ? (evalsha.usec / evalsha.calls) * CALLS[op] : Number.NaN,
  };
}

/** One line of progress on stderr. */
export function logMeasurement(m: Measurement, note = ''): void {
  const redis = Number.isFinite(m.redisCpuUsPerOp)
    ? `  redis ${m.redisCpuUsPerOp.toFixed(1)} µs/op (${m.redisCpuPct.toFixed(0)}% of a core)`
    : '';
  process.stderr.write(
    `  ${m.target.padEnd(15)} ${m.op.padEnd(14)} c=${String(m.concurrency).padEnd(3)} ` +
      `${Math.round(m.opsPerSec).toLocaleString('en-US').padStart(9)} ops/s  ` +
      `p50 ${m.p50Ms.toFixed(2)} ms  p99 ${m.p99Ms.toFixed(2)} ms  ` +
      `node ${m.nodeCpuUsPerOp.toFixed(1)} µs/op${redis}${note}\n`,
  );
}
