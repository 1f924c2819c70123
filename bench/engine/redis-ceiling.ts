/**
 * The Redis-side ceiling: redis-benchmark (pipelined, 50 connections) runs
 * one script by EVALSHA against the private Redis, so no Node client is in
 * the way.
 *
 * The command it repeats is not rebuilt here: it is captured (MONITOR) from
 * one real call through the library, so its KEYS and ARGV are exactly what
 * RedisEngine sends today (with that call's nonce and event tail, fixed from
 * then on; no request id). A script that is safe to run twice answers a
 * repeated nonce as a replay, so the nonce is made fresh per call
 * (`varyNonce`: redis-benchmark's `__rand_int__`, 12 random digits). Before
 * the run, one EVALSHA of it is checked to take the path the figure claims
 * (e.g. allowed): redis-benchmark does not look at replies.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { loadScript, splitReplies } from '../../src/engine/redis/index.js';
import type { Scalar } from '../../src/engine/redis/scripts.js';
import { commandStats, redisCpuSeconds } from '../lib/redis.js';
import { CONFIG } from './config.js';

const execFileAsync = promisify(execFile);

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

export interface CeilingResult {
  label: string;
  requestsPerSec: number;
  /** Time inside the script per call (commandstats), µs. */
  scriptUsPerCall: number;
  /** Redis CPU per call, µs (INFO cpu over the run ÷ requests). */
  redisCpuUsPerCall: number;
  command: string;
}

export interface CeilingOptions {
  label: string;
  /**
   * The script text to SCRIPT LOAD; its SHA must be `call.sha` unless `anySha`.
   * None: run `call.sha` as the client loaded it.
   */
  script?: string;
  call: ScriptCall;
  /** Throws if one call's reply is not the path being measured. */
  check?: (reply: unknown) => void;
  /** The script is a variant of the captured one. */
  anySha?: boolean;
  /** Replace the call's reservation nonce (16 hex) by a fresh one per call. */
  varyNonce?: boolean;
}

export interface EvalshaRun {
  /** redis-benchmark's path. */
  path: string;
  sha: string;
  call: ScriptCall;
  calls: number;
  clients: number;
  pipeline: number;
  timeoutMs: number;
  /** Expand `__rand_int__` in the arguments (redis-benchmark -r). */
  randomInts?: boolean;
}

/**
 * Runs redis-benchmark repeating one EVALSHA and reads what it did: requests/s
 * from its output, the server's EVALSHA stats and CPU over the run. Throws if
 * fewer calls ran than asked or any call failed (INFO errorstats).
 */
export async function redisBenchmarkEvalsha(admin: Redis, port: number, r: EvalshaRun) {
  const args = [
    ...['-h', '127.0.0.1', '-p', String(port)],
    ...['-n', String(r.calls), '-c', String(r.clients), '-P', String(r.pipeline), '-q'],
    ...(r.randomInts ? ['-r', '1000000000000'] : []),
    ...['EVALSHA', r.sha, String(r.call.numKeys), ...r.call.keysAndArgs],
  ];
  await admin.config('RESETSTAT');
  const cpu0 = await redisCpuSeconds(admin);
  const { stdout, stderr } = await execFileAsync(r.path, args, {
    maxBuffer: 16 * 1024 * 1024,
    timeout: r.timeoutMs,
  });
  const cpu = (await redisCpuSeconds(admin)) - cpu0;
  const stats = (await commandStats(admin)).get('evalsha');
  const text = `${stdout}\n${stderr}`;
  const rps = Number([...text.matchAll(/([\d.]+) requests per second/g)].at(-1)?.[1]);
  if (!Number.isFinite(rps) || rps <= 0) {
    throw new Error(`could not read requests/s from redis-benchmark:\n${text.slice(-2000)}`);
  }
  if (stats === undefined || stats.calls < r.calls) {
    throw new Error(`redis-benchmark ran ${stats?.calls ?? 0} EVALSHA of ${r.calls}:\n${text}`);
  }
  // A script error (NOSCRIPT, a runtime error) would show up here.
  const errors = (await admin.info('errorstats')).match(/errorstat_\w+:count=\d+/g);
  if (errors) throw new Error(`redis-benchmark calls failed: ${errors.join(', ')}`);
  return { args, rps, stats, cpu };
}

/** SCRIPT LOADs the script, checks one call, runs redis-benchmark with EVALSHA. */
export async function runCeiling(
  admin: Redis,
  port: number,
  o: CeilingOptions,
): Promise<CeilingResult> {
  const sha = o.script === undefined ? o.call.sha : String(await admin.script('LOAD', o.script));
  if (!o.anySha && sha !== o.call.sha) {
    throw new Error(
      `${o.label}: the script text loaded here (${sha}) is not the one the client runs (${o.call.sha}); was it edited during the run?`,
    );
  }
  const nonceAt = o.call.keysAndArgs.findIndex((a) => /^[0-9a-f]{16}$/.test(a));
  if (o.varyNonce && nonceAt < 0) throw new Error(`${o.label}: no nonce in the captured call`);
  const withNonce = (nonce: string) =>
    o.varyNonce
      ? o.call.keysAndArgs.map((a, i) => (i === nonceAt ? nonce : a))
      : o.call.keysAndArgs;
  const reply = await admin.evalsha(sha, o.call.numKeys, ...withNonce('ffff000000000000'));
  o.check?.(reply);
  const rb = CONFIG.redisBenchmark;
  const { args, rps, stats, cpu } = await redisBenchmarkEvalsha(admin, port, {
    path: rb.path,
    sha,
    call: { ...o.call, keysAndArgs: withNonce('0000__rand_int__') },
    calls: rb.n,
    clients: rb.c,
    pipeline: rb.P,
    timeoutMs: 120_000,
    randomInts: o.varyNonce,
  });
  const shown = args.slice(2).map((a) => (a === '' ? "''" : /[|{}]/.test(a) ? `'${a}'` : a));
  return {
    label: o.label,
    requestsPerSec: rps,
    scriptUsPerCall: stats.usecPerCall,
    redisCpuUsPerCall: (cpu * 1e6) / rb.n,
    command: `redis-benchmark ${shown.join(' ').replace(sha, '<sha>').replace(`-p ${port} `, '-p PORT ')}`,
  };
}

/** The text of authorizeBatch-1 as the library loads it (includes expanded). */
export function authorizeScript(): string {
  return loadScript('authorizeBatch-1');
}

/** Every decision of an authorizeBatch reply must be code 0 (allowed, a new hold). */
export function expectAllowed(reply: unknown): void {
  // Each decision's values in turn, then the call's time.
  const decisions = Array.isArray(reply) ? (splitReplies(reply as Scalar[]) ?? []) : [];
  if (decisions.length === 0 || !decisions.every((d) => d[0] === 0)) {
    throw new Error(`authorize by EVALSHA did not take the allowed path: ${JSON.stringify(reply)}`);
  }
}
