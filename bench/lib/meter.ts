/**
 * What each side spent over a measured stretch: this process's CPU, the
 * private Redis's (INFO cpu; its commandstats, reset at the start), the bench
 * database's PostgreSQL processes (from /proc: its backends and the server's
 * own processes, not other databases' backends), and how busy the whole
 * machine was (/proc/stat), so that a figure can say how much of the CPU went
 * to work that is not the benchmark's.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { type CommandStat, commandStats, redisCpuSeconds } from './redis-stats.js';
import type { BenchDatabase } from './services.js';

export interface MeterSources {
  /** The private Redis: CPU and commandstats. */
  redis?: Redis;
  /** Instead of `redis`: the servers' CPU seconds so far (a Cluster: every node's sum). */
  serverCpuSeconds?: () => Promise<number>;
  db?: BenchDatabase;
}

export interface Usage {
  /** Wall time, s. */
  seconds: number;
  /** CPU seconds (user + system): this process, Redis, PostgreSQL (NaN when not measured). */
  nodeCpu: number;
  redisCpu: number;
  pgCpu: number;
  /** Redis commandstats over the stretch (empty without `redis`). */
  commands: Map<string, CommandStat>;
  /** Cores the whole machine kept busy on average. */
  busyCores: number;
}

/** Cores busy with other processes: the machine's, minus this benchmark's (plus `ownCpu` s of its others). */
export function otherCores(u: Usage, ownCpu = 0): number {
  const own = u.nodeCpu + (u.redisCpu || 0) + (u.pgCpu || 0) + ownCpu;
  // /proc/stat ticks are 10 ms: a quiet machine can read a hair below zero.
  return Math.max(0, u.busyCores - own / u.seconds);
}

/** Starts measuring now; `stop()` ends it. */
export async function startMeter(s: MeterSources): Promise<{ stop(): Promise<Usage> }> {
  const serverCpu = s.redis ? () => redisCpuSeconds(s.redis as Redis) : s.serverCpuSeconds;
  if (s.redis) await s.redis.config('RESETSTAT');
  const pg0 = s.db ? postgresCpu() : undefined;
  const server0 = serverCpu ? await serverCpu() : Number.NaN;
  const cpu0 = process.cpuUsage();
  const ticks0 = machineTicks();
  const t0 = performance.now();
  return {
    async stop() {
      const seconds = (performance.now() - t0) / 1000;
      const ticks = machineTicks();
      const cpu = process.cpuUsage(cpu0);
      const redisCpu = serverCpu ? (await serverCpu()) - server0 : Number.NaN;
      const pgCpu =
        s.db && pg0
          ? postgresCpuDelta(pg0, postgresCpu(), await s.db.otherBackendPids())
          : Number.NaN;
      return {
        seconds,
        nodeCpu: (cpu.user + cpu.system) / 1e6,
        redisCpu,
        pgCpu,
        commands: s.redis ? await commandStats(s.redis) : new Map(),
        busyCores: (ticks.busy - ticks0.busy) / TICKS_PER_SECOND / ((ticks.at - ticks0.at) / 1000),
      };
    },
  };
}

const TICKS_PER_SECOND = 100;

/** The `cpu` line of /proc/stat (busy and total ticks); NaN where there is none. */
function machineTicks(): { busy: number; at: number } {
  const at = performance.now();
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return { busy: user + nice + system + irq + softirq + steal, at };
  } catch {
    return { busy: Number.NaN, at };
  }
}

let clockTicks: number | undefined;

/** CPU seconds (user + system) of every process named `postgres`, by pid. */
function postgresCpu(): Map<number, number> {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone, or not ours to read
    }
    const close = stat.lastIndexOf(')');
    if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
    // Fields after the command: state is field 3, utime 14, stime 15.
    const f = stat.slice(close + 2).split(' ');
    out.set(Number(entry), (Number(f[11]) + Number(f[12])) / clockTicks);
  }
  return out;
}

/**
 * CPU seconds the server spent for the bench between two snapshots: every
 * postgres process alive at the second (one started in between counts from
 * zero: a new backend of the pool) except the backends of other databases.
 */
function postgresCpuDelta(
  before: Map<number, number>,
  after: Map<number, number>,
  others: Set<number>,
): number {
  let sum = 0;
  for (const [pid, s] of after) if (!others.has(pid)) sum += s - (before.get(pid) ?? 0);
  return sum;
}
