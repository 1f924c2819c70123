/**
 * What the server process spent, read at the start and the end of a measured
 * run: CPU time, event-loop utilisation, and garbage-collection pauses.
 */
import { PerformanceObserver } from 'node:perf_hooks';

export interface ServerUsage {
  /** process.cpuUsage() user + system, µs. */
  cpuUs: number;
  /** performance.eventLoopUtilization() raw counters, ms. */
  idle: number;
  active: number;
  /** GC pauses so far: total ms and count (observed since the first read). */
  gcMs: number;
  gcCount: number;
  /** The longest GC pause since the previous read, ms. */
  gcMaxMs: number;
}

let gcMs = 0;
let gcCount = 0;
let gcMaxMs = 0;
let observer: PerformanceObserver | undefined;

export function currentUsage(): ServerUsage {
  if (observer === undefined) {
    observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        gcMs += e.duration;
        gcCount++;
        if (e.duration > gcMaxMs) gcMaxMs = e.duration;
      }
    });
    observer.observe({ entryTypes: ['gc'] });
  }
  const c = process.cpuUsage();
  const elu = performance.eventLoopUtilization();
  const u = {
    cpuUs: c.user + c.system,
    idle: elu.idle,
    active: elu.active,
    gcMs,
    gcCount,
    gcMaxMs,
  };
  gcMaxMs = 0;
  return u;
}
