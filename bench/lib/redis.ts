/**
 * A private redis-server for a benchmark (never the shared 6379), stopped at
 * the end, on error and on SIGINT/SIGTERM; and the server-side figures a
 * benchmark reads from it (INFO cpu, INFO commandstats).
 */
import type { Redis } from 'ioredis';
import { type RedisServer, startRedis } from '../../test/setup/redis-servers.js';

export type { RedisServer };

/**
 * Starts a private Redis (see test/setup/redis-servers.ts) and installs
 * SIGINT/SIGTERM handlers that stop it and exit. Call `release()` on the
 * result after `stop()` in the normal path to remove the handlers.
 */
export async function startBenchRedis(): Promise<RedisServer & { release(): void }> {
  const server = await startRedis();
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping the private redis-server on :${server.port}\n`);
    server.stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return Object.assign(server, {
    release() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  });
}

/** `key:value` lines of an INFO reply. */
export function parseInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

/** Seconds of CPU (user + system, all threads) the server has used so far. */
export async function redisCpuSeconds(admin: Redis): Promise<number> {
  const info = parseInfo(await admin.info('cpu'));
  return Number(info.get('used_cpu_user') ?? 0) + Number(info.get('used_cpu_sys') ?? 0);
}

export interface CommandStat {
  calls: number;
  usec: number;
  usecPerCall: number;
}

/** INFO commandstats as command name (lower case, `config|get` style) → figures. */
export async function commandStats(admin: Redis): Promise<Map<string, CommandStat>> {
  const out = new Map<string, CommandStat>();
  for (const [key, value] of parseInfo(await admin.info('commandstats'))) {
    if (!key.startsWith('cmdstat_')) continue;
    const fields = new Map(value.split(',').map((kv) => kv.split('=') as [string, string]));
    out.set(key.slice('cmdstat_'.length), {
      calls: Number(fields.get('calls') ?? 0),
      usec: Number(fields.get('usec') ?? 0),
      usecPerCall: Number(fields.get('usec_per_call') ?? 0),
    });
  }
  return out;
}

/**
 * The commands one script call makes: resets the stats, runs `call`, and
 * returns every command counted since except the script call itself and the
 * stats commands, e.g. { time: 1, hmget: 1, … }.
 */
export async function commandsOfOneCall(
  admin: Redis,
  call: () => Promise<unknown>,
): Promise<Map<string, number>> {
  await admin.config('RESETSTAT');
  await call();
  const stats = await commandStats(admin);
  const out = new Map<string, number>();
  for (const [name, s] of stats) {
    if (/^(evalsha|eval|config|info)(\||$)/.test(name)) continue;
    out.set(name, s.calls);
  }
  return out;
}

/** `7 (HGET, HMGET, HSET×2, TIME, XADD, ZADD)`-style text of commandsOfOneCall (names sorted). */
export function describeCalls(calls: Map<string, number>): { total: number; text: string } {
  let total = 0;
  const parts: string[] = [];
  for (const [name, n] of [...calls].sort((a, b) => a[0].localeCompare(b[0]))) {
    total += n;
    parts.push(`${name.toUpperCase()}${n > 1 ? `×${n}` : ''}`);
  }
  return { total, text: `${total} (${parts.join(', ')})` };
}
