/** What a benchmark reads from a Redis it started: INFO cpu, INFO commandstats, redis.calls per call. */
import type { Redis } from 'ioredis';

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

/** Script calls and the bench's own stats commands, left out of the redis.call counts. */
export const NOT_A_REDIS_CALL = /^(evalsha|eval|config|info)(\||$)/;

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
  const out = new Map<string, number>();
  for (const [name, s] of await commandStats(admin)) {
    if (!NOT_A_REDIS_CALL.test(name)) out.set(name, s.calls);
  }
  return out;
}

/** `7 (HGET, HMGET, HSET×2, TIME, XADD, ZADD)`-style text of commandsOfOneCall (names sorted). */
export function describeCalls(calls: Map<string, number>): string {
  let total = 0;
  const parts: string[] = [];
  for (const [name, n] of [...calls].sort((a, b) => a[0].localeCompare(b[0]))) {
    total += n;
    parts.push(`${name.toUpperCase()}${n > 1 ? `×${n}` : ''}`);
  }
  return `${total} (${parts.join(', ')})`;
}
