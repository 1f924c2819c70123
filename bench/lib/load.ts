/**
 * A closed-loop load generator: `concurrency` async loops share one client,
 * each running `op` back to back. After a warm-up, a window of fixed length
 * counts the operations that complete in it and records their latencies.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LatencyRecorder } from './stats.js';

export interface LoadOptions {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** One operation; `seq` is a global counter (0, 1, 2, …) to spread keys round-robin. */
  op: (seq: number) => Promise<void>;
  /** Awaited when the warm-up ends, before the window opens (e.g. reset server stats). */
  onWindowStart?: () => Promise<void>;
  /** Awaited when the window closes, while the loops still run (e.g. read server stats). */
  onWindowEnd?: () => Promise<void>;
}

export interface LoadResult {
  concurrency: number;
  ops: number;
  windowMs: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time (user + system) of this Node process per operation in the window, µs. */
  nodeCpuUsPerOp: number;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  let seq = 0;
  let stop = false;
  let recording = false;
  let failure: unknown;
  let ops = 0;
  const lat = new LatencyRecorder();

  const loop = async () => {
    let n = 0;
    while (!stop) {
      // An in-process engine resolves without ever leaving the microtask
      // queue: yield now and then so that timers (the window) can fire.
      if ((++n & 255) === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const t0 = performance.now();
      try {
        await o.op(seq++);
      } catch (err) {
        failure ??= err;
        stop = true;
        return;
      }
      if (recording) {
        ops++;
        lat.add(performance.now() - t0);
      }
    }
  };

  const loops = Array.from({ length: o.concurrency }, loop);
  await sleep(o.warmupMs);
  await o.onWindowStart?.();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  recording = true;
  await sleep(o.durationMs);
  recording = false;
  const windowMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await o.onWindowEnd?.();
  stop = true;
  await Promise.all(loops);
  if (failure !== undefined) throw failure;
  if (ops === 0) throw new Error('no operation completed in the measurement window');
  const { p50, p99 } = lat.summary();
  return {
    concurrency: o.concurrency,
    ops,
    windowMs,
    opsPerSec: (ops * 1000) / windowMs,
    p50Ms: p50,
    p99Ms: p99,
    nodeCpuUsPerOp: (cpu.user + cpu.system) / ops,
  };
}
