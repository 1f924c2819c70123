/**
 * One scenario with what each side spent on it: the server's CPU time and
 * event-loop busy share (its own process, read over IPC), this process's CPU
 * (the load generator), and Redis's CPU and time inside scripts
 * (bench/lib/meter.ts), per HTTP request of the measured run.
 */
import type { Redis } from 'ioredis';
import { type MeterSources, otherCores, startMeter, type Usage } from '../lib/meter.js';
import { parseInfo } from '../lib/redis-stats.js';
import type { UsageSource } from './remote.js';
import { type RunResult, runScenario, type ScenarioName } from './scenarios.js';
import type { ServerUsage } from './usage.js';

export interface Measured extends RunResult {
  engine: 'redis' | 'memory';
  /** Server process CPU µs per HTTP request (inline mode: server + load generator). */
  serverCpuUsPerReq: number;
  /** Share of the measured run the server's event loop was busy, %. */
  serverBusyPct: number;
  /** Share of the run the server spent in GC pauses, %. */
  gcPct: number;
  /** The server's longest GC pause in the run, ms. */
  gcMaxMs: number;
  /** This process (autocannon) CPU µs per request; NaN in inline mode. */
  loadgenCpuUsPerReq: number;
  /** Redis CPU µs per request; NaN for the embedded engine. */
  redisCpuUsPerReq: number;
  /** Share of one core Redis used, %. */
  redisCpuPct: number;
  /** Time inside EVALSHA per request (commandstats), µs. */
  scriptUsPerReq: number;
  /** Redis commands per HTTP request, `evalsha 1.00, hset 2.00, …` ('' without Redis). */
  redisCalls: string;
  /** Socket reads Redis made per HTTP request (1.0: every command came in its own write). */
  redisReadsPerReq: number;
  /** Cores busy with anything but this benchmark (server, autocannon, Redis) during the run. */
  otherCores: number;
}

export async function measureScenario(
  server: UsageSource,
  scenario: ScenarioName,
  admin: Redis | undefined,
  /** Profile the server over the measured run into this .cpuprofile file. */
  profileFile?: string,
): Promise<Measured> {
  const sources: MeterSources = admin ? { redis: admin } : {};
  let meter: Awaited<ReturnType<typeof startMeter>> | undefined;
  let u0: ServerUsage | undefined;
  let u1: ServerUsage | undefined;
  let usage: Usage | undefined;
  const run = await runScenario(server.port, scenario, {
    async before() {
      if (profileFile) await server.profileStart();
      u0 = await server.usage();
      meter = await startMeter(sources);
    },
    async after() {
      usage = await meter?.stop();
      u1 = await server.usage();
      if (profileFile) await server.profileStop(profileFile);
    },
  });
  if (!u0 || !u1 || !usage) throw new Error('the measured run did not start');
  const requests = run.reqPerSec * run.seconds;
  const per = (us: number) => (requests > 0 ? us / requests : Number.NaN);
  const busy = u1.active - u0.active;
  const idle = u1.idle - u0.idle;
  const serverCpuUs = u1.cpuUs - u0.cpuUs;
  const inline = server.mode === 'inline';
  const redisUs = usage.redisCpu * 1e6;

  let redisCalls = '';
  let redisReads = Number.NaN;
  if (admin) {
    // Socket reads Redis made (the meter's RESETSTAT zeroed it): how well commands were batched.
    redisReads = Number(parseInfo(await admin.info('stats')).get('total_reads_processed'));
    redisCalls = [...usage.commands]
      .filter(([name]) => !/^(config|info)(\||$)/.test(name))
      .sort((a, b) => b[1].calls - a[1].calls)
      .map(([n, c]) => `${n} ${(c.calls / requests).toFixed(2)}`)
      .join(', ');
  }
  return {
    ...run,
    engine: server.engine,
    serverCpuUsPerReq: per(serverCpuUs),
    serverBusyPct: busy + idle > 0 ? (100 * busy) / (busy + idle) : Number.NaN,
    gcPct: (100 * (u1.gcMs - u0.gcMs)) / (usage.seconds * 1000),
    gcMaxMs: u1.gcMaxMs,
    loadgenCpuUsPerReq: inline ? Number.NaN : per(usage.nodeCpu * 1e6),
    redisCpuUsPerReq: admin ? per(redisUs) : Number.NaN,
    redisCpuPct: admin ? (100 * usage.redisCpu) / usage.seconds : Number.NaN,
    scriptUsPerReq: admin ? per(usage.commands.get('evalsha')?.usec ?? 0) : Number.NaN,
    redisCalls,
    redisReadsPerReq: per(redisReads),
    // Inline, the server's CPU is this process's (counted once).
    otherCores: otherCores(usage, inline ? 0 : serverCpuUs / 1e6),
  };
}
