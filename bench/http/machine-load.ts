/**
 * How busy the whole machine was (Linux /proc/stat), so that a run can say
 * how much of the CPU went to processes other than the benchmark's own.
 */
import { readFileSync } from 'node:fs';

export interface Ticks {
  busy: number;
  total: number;
  /** performance.now() when read. */
  at: number;
}

const TICKS_PER_SECOND = 100;

/** The `cpu` line of /proc/stat; zeros where there is none. */
export function machineTicks(): Ticks {
  const at = performance.now();
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] =
      f;
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait, at };
  } catch {
    return { busy: Number.NaN, total: Number.NaN, at };
  }
}

/** Cores busy on average between two readings (USER_HZ = 100 on Linux). */
export function machineBusyCores(a: Ticks, b: Ticks): number {
  const seconds = (b.at - a.at) / 1000;
  return seconds > 0 ? (b.busy - a.busy) / TICKS_PER_SECOND / seconds : Number.NaN;
}
