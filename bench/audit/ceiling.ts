/**
 * The Redis-side ceilings, in events/s: how many decision events per second
 * the engine's authorize script can append to the outboxes, measured here in
 * the same run. Authorize is coalesced (src/engine/redis/authorize-batcher.ts):
 * one script call decides up to 128 decisions of one shard and appends one
 * outbox entry holding one event per decision. So the figure is calls/s ×
 * decisions per call, for
 *  - 1 decision per call (a lone decision: the batcher's smallest call), and
 *  - full batches of 32 and 128 decisions (32 is what 512 concurrent callers
 *    over 16 shards make; 128 is the batcher's ceiling),
 * each run by redis-benchmark (bench/lib/evalsha.ts: EVALSHA captured from
 * real checkPermission calls, fresh nonces per call, no Node client) against
 * the private Redis. The lone call is bench/engine's ceiling (one of the two
 * rates the floor takes the best of, report.ts rateToBeat); the best of all
 * is the stricter comparison (report.ts batchedCeiling). Before the run and
 * after it, one call is checked: every decision allowed, and its outbox entry
 * holds exactly n events.
 */
import type { Redis } from 'ioredis';
import { EVENT_FIELD } from '../../src/engine/outbox-format.js';
import {
  agentsOfOneShard,
  allowedDecisions,
  callOnce,
  captureDecisions,
  redisBenchmarkEvalsha,
  type ScriptCall,
} from '../lib/evalsha.js';
import type { BenchRedis } from '../lib/services.js';
import { trimOutboxes, type Workload } from '../lib/workload.js';
import { CONFIG } from './config.js';

export interface CeilingFigure {
  /** Decisions in one authorize call (= events in its outbox entry). */
  decisions: number;
  callsPerSec: number;
  /** callsPerSec × decisions: decision events appended per second. */
  eventsPerSec: number;
  /** Time inside the script per call (commandstats), µs. */
  scriptUsPerCall: number;
  /** Redis CPU per event, µs (INFO cpu over the run ÷ events). */
  redisCpuUsPerEvent: number;
  /** redis-benchmark's connections and pipeline depth, and calls made. */
  clients: number;
  pipeline: number;
  calls: number;
}

export interface Ceiling {
  figures: CeilingFigure[];
  /** The figure with the most events/s (the stricter comparison, not the floor). */
  best: CeilingFigure;
}

/** Events in the newest entry of the call's outbox. */
async function eventsInLastEntry(admin: Redis, call: ScriptCall): Promise<number> {
  const [last] = await admin.xrevrange(call.keysAndArgs[0] as string, '+', '-', 'COUNT', 1);
  const flat = last?.[1] ?? [];
  let n = 0;
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === EVENT_FIELD) n++;
  return n;
}

async function runOne(redis: BenchRedis, call: ScriptCall, decisions: number) {
  const c = CONFIG.ceiling;
  const check = async (when: string) => {
    const reply = await callOnce(redis.admin, call);
    const allowed = allowedDecisions(reply);
    if (allowed !== decisions) {
      const text = JSON.stringify(reply).slice(0, 300);
      throw new Error(`${decisions} per call, ${when}: ${allowed} decisions allowed: ${text}`);
    }
    const events = await eventsInLastEntry(redis.admin, call);
    if (events !== decisions) {
      throw new Error(`${decisions} per call, ${when}: its outbox entry holds ${events} events`);
    }
  };
  await check('before the run');
  const { clients, pipeline } = decisions === 1 ? c.single : c.batch;
  const calls = Math.max(c.minCalls, Math.round(c.decisionsPerRun / decisions));
  const r = await redisBenchmarkEvalsha(redis.admin, redis.port, {
    call,
    calls,
    clients,
    pipeline,
    freshNonces: true,
  });
  await check('after the run');
  return {
    decisions,
    callsPerSec: r.requestsPerSec,
    eventsPerSec: r.requestsPerSec * decisions,
    scriptUsPerCall: r.evalsha.usecPerCall,
    redisCpuUsPerEvent: (r.redisCpu * 1e6) / (r.evalsha.calls * decisions),
    clients,
    pipeline,
    calls,
  };
}

export async function authorizeCeiling(
  redis: BenchRedis,
  work: Workload,
  log: (text: string) => void,
): Promise<Ceiling> {
  const figures: CeilingFigure[] = [];
  try {
    for (const n of CONFIG.ceiling.decisionsPerCall) {
      const agents = await agentsOfOneShard(work, n);
      const f = await runOne(redis, await captureDecisions(redis.admin, work, agents), n);
      log(
        `  ${n} decision${n === 1 ? '' : 's'} per call: ${Math.round(f.callsPerSec)} calls/s = ${Math.round(f.eventsPerSec)} events/s`,
      );
      figures.push(f);
      // Keep Redis small: the calls wrote the same keys over and over, and one entry each.
      await trimOutboxes(redis.admin, work.shards);
    }
  } finally {
    // Its calls appended to the outboxes: no drain run may see them.
    await trimOutboxes(redis.admin, work.shards);
  }
  const best = figures.reduce((a, b) => (b.eventsPerSec > a.eventsPerSec ? b : a));
  return { figures, best };
}
