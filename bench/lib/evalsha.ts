/**
 * Redis alone, no Node client: redis-benchmark repeating one EVALSHA against
 * the private Redis. The call it repeats is not rebuilt here: it is captured
 * (MONITOR) from real calls through the library, so its KEYS and ARGV are
 * exactly what the engine sends (that call's event tail, no request id). A
 * script that is safe to run twice answers a repeated nonce as a replay, so
 * every nonce is made fresh per call (redis-benchmark's `__rand_int__`).
 * Before a run, one call is checked to take the path the figure claims:
 * redis-benchmark does not look at replies.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { Code } from '../../src/engine/codes.js';
import { agentKeys } from '../../src/engine/keys.js';
import { splitReplies } from '../../src/engine/redis/index.js';
import { type CommandStat, commandStats, redisCpuSeconds } from './redis-stats.js';
import { WORKLOAD, type Workload } from './workload.js';

const execFileAsync = promisify(execFile);

/** The script authorize runs (lua/<name>.lua), as the reports name it. */
export const AUTHORIZE_SCRIPT = 'authorize-1';
const REDIS_BENCHMARK = '/usr/bin/redis-benchmark';

/** One EVALSHA as a client sent it. */
export interface ScriptCall {
  sha: string;
  numKeys: number;
  /** KEYS then ARGV. */
  keysAndArgs: string[];
}

/**
 * Runs `trigger` while MONITOR watches and returns the first EVALSHA whose
 * arguments satisfy `match` (run the call once before, so the script is
 * loaded and the client sends EVALSHA, not EVAL).
 */
export async function captureScriptCall(
  admin: Redis,
  trigger: () => Promise<unknown>,
  match: (keysAndArgs: string[]) => boolean,
): Promise<ScriptCall> {
  const monitor = await admin.monitor();
  try {
    let found: ScriptCall | undefined;
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (found || String(args[0]).toLowerCase() !== 'evalsha') return;
      const call = {
        sha: String(args[1]),
        numKeys: Number(args[2]),
        keysAndArgs: args.slice(3).map(String),
      };
      if (match(call.keysAndArgs)) found = call;
    });
    await trigger();
    // MONITOR lines arrive after the reply: wait for ours a little.
    for (let i = 0; i < 100 && !found; i++) await new Promise((r) => setTimeout(r, 10));
    if (!found) throw new Error('no matching EVALSHA seen by MONITOR');
    return found;
  } finally {
    monitor.disconnect();
  }
}

/** `count` distinct agents of one shard: the workload's, then `ceiling-<i>` ones registered here. */
export async function agentsOfOneShard(work: Workload, count: number): Promise<string[]> {
  const shard = agentKeys(work.agents[1] as string, work.shards).shard;
  const inShard = (id: string) => agentKeys(id, work.shards).shard === shard;
  const out = work.agents.filter(inShard).slice(0, count);
  for (let i = 0; out.length < count; i++) {
    const id = `ceiling-${String(i).padStart(5, '0')}`;
    if (!inShard(id)) continue;
    // Registered by an earlier figure of this run: fine.
    await work.tollgate.identity
      .registerAgent(id, WORKLOAD.role, {}, WORKLOAD.limits)
      .catch((e: unknown) => {
        if (!/exist/i.test(String((e as Error).message))) throw e;
      });
    out.push(id);
  }
  return out;
}

/**
 * One authorize call deciding for every one of `agents` (distinct, one
 * shard): n concurrent decisions, which the library sends as one call.
 */
export async function captureDecisions(
  admin: Redis,
  work: Workload,
  agents: string[],
): Promise<ScriptCall> {
  const decideAll = () => Promise.all(agents.map((a) => work.decide(a, 1)));
  await decideAll(); // the script is loaded, the agents' caches warm: the next ones go by EVALSHA
  const all = (ka: string[]) => {
    const args = new Set(ka);
    return agents.every((a) => args.has(a));
  };
  let last: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      return await captureScriptCall(admin, decideAll, all);
    } catch (e) {
      last = e; // the library split them, or MONITOR was late: again
    }
  }
  throw new Error(`no authorize call of ${agents.length} decisions seen: ${String(last)}`);
}

const NONCE = /^[0-9a-f]{16}$/;

/** The call's KEYS and ARGV with each nonce replaced by `make()`. */
export function withNonces(call: ScriptCall, make: () => string): string[] {
  return call.keysAndArgs.map((a) => (NONCE.test(a) ? make() : a));
}

/** Runs the call once with fresh nonces; its reply. */
export function callOnce(admin: Redis, call: ScriptCall): Promise<unknown> {
  const fresh = () => randomBytes(8).toString('hex');
  return admin.evalsha(call.sha, call.numKeys, ...withNonces(call, fresh));
}

/** The decisions of an authorize reply that were allowed with a new hold. */
export function allowedDecisions(reply: unknown): number {
  const decisions = Array.isArray(reply) ? (splitReplies(reply as (string | number)[]) ?? []) : [];
  return decisions.filter((d) => d[0] === Code.OK).length;
}

export interface EvalshaRun {
  call: ScriptCall;
  calls: number;
  clients: number;
  pipeline: number;
  /** Make every nonce fresh per call. */
  freshNonces?: boolean;
  timeoutMs?: number;
}

export interface EvalshaResult {
  requestsPerSec: number;
  /** The server's EVALSHA stats over the run, and its CPU seconds. */
  evalsha: CommandStat;
  redisCpu: number;
  /** The command line, with `<sha>` and `PORT`. */
  command: string;
}

/**
 * Runs redis-benchmark repeating one EVALSHA and reads what it did: requests/s
 * from its output, the server's EVALSHA stats and CPU over the run. Throws if
 * fewer calls ran than asked or any call failed (INFO errorstats).
 */
export async function redisBenchmarkEvalsha(
  admin: Redis,
  port: number,
  r: EvalshaRun,
): Promise<EvalshaResult> {
  const keysAndArgs = r.freshNonces
    ? withNonces(r.call, () => '0000__rand_int__')
    : r.call.keysAndArgs;
  const args = [
    ...['-h', '127.0.0.1', '-p', String(port)],
    ...['-n', String(r.calls), '-c', String(r.clients), '-P', String(r.pipeline), '-q'],
    ...(r.freshNonces ? ['-r', '1000000000000'] : []),
    ...['EVALSHA', r.call.sha, String(r.call.numKeys), ...keysAndArgs],
  ];
  await admin.config('RESETSTAT');
  const cpu0 = await redisCpuSeconds(admin);
  const { stdout, stderr } = await execFileAsync(REDIS_BENCHMARK, args, {
    maxBuffer: 16 * 1024 * 1024,
    timeout: r.timeoutMs ?? 300_000,
  });
  const redisCpu = (await redisCpuSeconds(admin)) - cpu0;
  const evalsha = (await commandStats(admin)).get('evalsha');
  const text = `${stdout}\n${stderr}`;
  const rps = Number([...text.matchAll(/([\d.]+) requests per second/g)].at(-1)?.[1]);
  if (!Number.isFinite(rps) || rps <= 0) {
    throw new Error(`could not read requests/s from redis-benchmark:\n${text.slice(-2000)}`);
  }
  if (evalsha === undefined || evalsha.calls < r.calls) {
    throw new Error(`redis-benchmark ran ${evalsha?.calls ?? 0} EVALSHA of ${r.calls}:\n${text}`);
  }
  // A script error (NOSCRIPT, a runtime error) would show up here.
  const errors = (await admin.info('errorstats')).match(/errorstat_\w+:count=\d+/g);
  if (errors) throw new Error(`redis-benchmark calls failed: ${errors.join(', ')}`);
  const shown = args.slice(2).map((a) => (a === '' ? "''" : /[|{}]/.test(a) ? `'${a}'` : a));
  return {
    requestsPerSec: rps,
    evalsha,
    redisCpu,
    command: `redis-benchmark ${shown.join(' ').replace(r.call.sha, '<sha>').replace(`-p ${port} `, '-p PORT ')}`,
  };
}
