/**
 * One scenario with what each side spent on it: the server's CPU time and
 * event-loop busy share (its own process, read over IPC), this process's CPU
 * (the load generator), and Redis's CPU and time inside scripts (INFO cpu,
 * INFO commandstats), per HTTP request of the measured run.
 */
import type { Redis } from 'ioredis';
import { commandStats, parseInfo, redisCpuSeconds } from '../lib/redis.js';
import { machineBusyCores, machineTicks } from './machine-load.js';
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
  let u0: ServerUsage = { cpuUs: 0, idle: 0, active: 0, gcMs: 0, gcCount: 0, gcMaxMs: 0 };
  let u1 = u0;
  let cpu0 = process.cpuUsage();
  let cpu = cpu0;
  let redis0 = 0;
  let redis1 = 0;
  let t0 = 0;
  let wallMs = 0;
  let m0 = machineTicks();
  let m1 = m0;
  const run = await runScenario(server.port, scenario, {
    async before() {
      if (profileFile) await server.profileStart();
      if (admin) {
        await admin.config('RESETSTAT');
        redis0 = await redisCpuSeconds(admin);
      }
      u0 = await server.usage();
      cpu0 = process.cpuUsage();
      m0 = machineTicks();
      t0 = performance.now();
    },
    async after() {
      wallMs = performance.now() - t0;
      m1 = machineTicks();
      cpu = process.cpuUsage(cpu0);
      u1 = await server.usage();
      if (admin) redis1 = await redisCpuSeconds(admin);
      if (profileFile) await server.profileStop(profileFile);
    },
  });
  const requests = run.reqPerSec * run.seconds;
  const per = (us: number) => (requests > 0 ? us / requests : Number.NaN);
  const busy = u1.active - u0.active;
  const idle = u1.idle - u0.idle;

  let scriptUs = Number.NaN;
  let redisCalls = '';
  let redisReads = Number.NaN;
  if (admin) {
    // Socket reads Redis made (RESETSTAT zeroes it): how well commands were batched.
    redisReads = Number(parseInfo(await admin.info('stats')).get('total_reads_processed'));
    const stats = [...(await commandStats(admin))].filter(
      ([name]) => !/^(config|info)(\||$)/.test(name),
    );
    scriptUs = stats.filter(([n]) => n === 'evalsha').reduce((s, [, c]) => s + c.usec, 0);
    redisCalls = stats
      .sort((a, b) => b[1].calls - a[1].calls)
      .map(([n, c]) => `${n} ${(c.calls / requests).toFixed(2)}`)
      .join(', ');
  }
  const inline = server.mode === 'inline';
  // CPU of the benchmark's own processes in the run (inline: the server's figure is this process).
  const oursUs =
    u1.cpuUs - u0.cpuUs + (inline ? 0 : cpu.user + cpu.system) + (redis1 - redis0) * 1e6;
  return {
    ...run,
    engine: server.engine,
    serverCpuUsPerReq: per(u1.cpuUs - u0.cpuUs),
    serverBusyPct: busy + idle > 0 ? (100 * busy) / (busy + idle) : Number.NaN,
    gcPct: wallMs > 0 ? (100 * (u1.gcMs - u0.gcMs)) / wallMs : Number.NaN,
    gcMaxMs: u1.gcMaxMs,
    loadgenCpuUsPerReq: inline ? Number.NaN : per(cpu.user + cpu.system),
    redisCpuUsPerReq: admin ? per((redis1 - redis0) * 1e6) : Number.NaN,
    redisCpuPct: admin && wallMs > 0 ? (100 * (redis1 - redis0) * 1000) / wallMs : Number.NaN,
    scriptUsPerReq: admin ? per(scriptUs) : Number.NaN,
    redisCalls,
    redisReadsPerReq: per(redisReads),
    otherCores: machineBusyCores(m0, m1) - oursUs / (wallMs * 1000),
  };
}
