import { randomBytes } from 'node:crypto';
/**
 * The Redis-side ceilings, in events/s: how many decision events per second
 * the engine's authorize script can append to the outboxes, measured here in
 * the same run. Authorize is coalesced (src/engine/redis/authorize-batcher.ts):
 * one script call (lua/authorizeBatch-1.lua) decides up to 128 decisions of
 * one shard and appends one outbox entry holding one event per decision. So
 * the figure is calls/s × decisions per call, for
 *  - 1 decision per call (a lone decision: the batcher's smallest call), and
 *  - full batches of 32 and 128 decisions (32 is what 512 concurrent callers
 *    over 16 shards make; 128 is the batcher's ceiling),
 * each run by redis-benchmark (EVALSHA, pipelined, no Node client) against the
 * private Redis. The lone call is bench/engine's ceiling (one of the two rates
 * the floor takes the best of, report.ts rateToBeat); the best of all is the
 * stricter comparison (report.ts batchedCeiling).
 *
 * Every call is captured (MONITOR) from real checkPermission calls through
 * the library, so its KEYS and ARGV are exactly what RedisEngine sends: for a
 * batch of n, n concurrent checkPermission calls for n distinct agents of one
 * shard, which the batcher sends as one call (agents of the shard are
 * registered for it if the bench's own are too few). Before the run one call
 * is checked: every decision allowed, and its outbox entry holds exactly n
 * events; after the run, once more (all allowed: the figure is the allowed
 * path throughout). redis-benchmark repeats the same call, so the same
 * reservations (nonces) are written again and again: the cost of a decision
 * is the same.
 */
import type { Redis } from 'ioredis';
import { agentKeys } from '../../src/engine/keys.js';
import { EVENT_FIELD } from '../../src/engine/outbox-format.js';
import { splitReplies } from '../../src/engine/redis/index.js';
import type { Scalar } from '../../src/engine/redis/scripts.js';
import {
  captureScriptCall,
  redisBenchmarkEvalsha,
  type ScriptCall,
} from '../engine/redis-ceiling.js';
import { CONFIG } from './config.js';
import { type Decider, trimOutboxes } from './fill.js';

export interface CeilingFigure {
  /** Decisions in one authorizeBatch call (= events in its outbox entry). */
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
  command: string;
}

export interface Ceiling {
  figures: CeilingFigure[];
  /** The figure with the most events/s (the stricter comparison, not the floor). */
  best: CeilingFigure;
}

/** `count` distinct agents of one shard: the bench's own, then `ceiling-<i>` ones registered here. */
async function agentsOfOneShard(decider: Decider, count: number): Promise<string[]> {
  const shard = agentKeys(decider.agents[1] as string, decider.shards).shard;
  const inShard = (id: string) => agentKeys(id, decider.shards).shard === shard;
  const out = decider.agents.filter(inShard).slice(0, count);
  const extra: string[] = [];
  for (let i = 0; out.length + extra.length < count; i++) {
    const id = `ceiling-${String(i).padStart(5, '0')}`;
    if (inShard(id)) extra.push(id);
  }
  const { identity } = decider.tollgate;
  for (const id of extra) {
    // Registered by an earlier figure of this run: fine.
    await identity.registerAgent(id, CONFIG.role, {}, CONFIG.limits).catch((e: unknown) => {
      if (!/exist/i.test(String((e as Error).message))) throw e;
    });
  }
  return [...out, ...extra];
}

/**
 * One authorizeBatch call of `agents.length` decisions, as the library sends
 * it: the EVALSHA whose arguments name every one of the (distinct) agents.
 */
async function captureBatch(admin: Redis, decider: Decider, agents: string[]): Promise<ScriptCall> {
  const { guard } = decider.tollgate;
  const decideAll = () =>
    Promise.all(
      agents.map((a) => guard.checkPermission(a, CONFIG.operation, { estimatedTokens: 1 })),
    );
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
      last = e; // the batcher split them, or MONITOR was late: again
    }
  }
  throw new Error(
    `no authorizeBatch call of ${agents.length} decisions seen: ${(last as Error)?.message}`,
  );
}

/** Events in the newest entry of the call's outbox. */
async function eventsInLastEntry(admin: Redis, call: ScriptCall): Promise<number> {
  const key = call.keysAndArgs[0] as string;
  const [last] = await admin.xrevrange(key, '+', '-', 'COUNT', 1);
  const flat = last?.[1] ?? [];
  let n = 0;
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === EVENT_FIELD) n++;
  return n;
}

async function runOne(
  admin: Redis,
  port: number,
  call: ScriptCall,
  decisions: number,
): Promise<CeilingFigure> {
  const c = CONFIG.ceiling;
  // Every script is safe to run twice: a repeated nonce is answered as a replay. Each
  // call gets fresh nonces (redis-benchmark expands each `__rand_int__` on its own).
  const isNonce = (a: string) => /^[0-9a-f]{16}$/.test(a);
  const withNonces = (make: () => string) => call.keysAndArgs.map((a) => (isNonce(a) ? make() : a));
  const check = async (when: string) => {
    const fresh = () => randomBytes(8).toString('hex');
    const reply = await admin.evalsha(call.sha, call.numKeys, ...withNonces(fresh));
    // Each decision's values in turn (code 0: allowed, a new hold), then the call's time.
    const allowed = (Array.isArray(reply) ? (splitReplies(reply as Scalar[]) ?? []) : []).filter(
      (d) => d[0] === 0,
    ).length;
    if (allowed !== decisions) {
      const text = JSON.stringify(reply).slice(0, 300);
      throw new Error(`${decisions} per call, ${when}: ${allowed} decisions allowed: ${text}`);
    }
    const events = await eventsInLastEntry(admin, call);
    if (events !== decisions) {
      throw new Error(`${decisions} per call, ${when}: its outbox entry holds ${events} events`);
    }
  };
  await check('before the run');
  const single = decisions === 1;
  const clients = single ? c.single.clients : c.batch.clients;
  const pipeline = single ? c.single.pipeline : c.batch.pipeline;
  const calls = Math.max(c.minCalls, Math.round(c.decisionsPerRun / decisions));
  const { args, rps, stats, cpu } = await redisBenchmarkEvalsha(admin, port, {
    path: c.redisBenchmark,
    sha: call.sha,
    call: { ...call, keysAndArgs: withNonces(() => '0000__rand_int__') },
    calls,
    clients,
    pipeline,
    timeoutMs: 300_000,
    randomInts: true,
  });
  await check('after the run');
  const shown = args
    .slice(4, 11)
    .concat(
      'EVALSHA <sha> 1',
      `<outbox> <${call.keysAndArgs.length - 1} ARGV: ${decisions} decisions>`,
    );
  return {
    decisions,
    callsPerSec: rps,
    eventsPerSec: rps * decisions,
    scriptUsPerCall: stats.usecPerCall,
    redisCpuUsPerEvent: (cpu * 1e6) / (stats.calls * decisions),
    clients,
    pipeline,
    calls,
    command: `redis-benchmark ${shown.join(' ')}`,
  };
}

export async function authorizeCeiling(
  admin: Redis,
  port: number,
  decider: Decider,
  log: (text: string) => void = () => undefined,
): Promise<Ceiling> {
  const figures: CeilingFigure[] = [];
  try {
    for (const n of CONFIG.ceiling.decisionsPerCall) {
      const agents = await agentsOfOneShard(decider, n);
      const call = await captureBatch(admin, decider, agents);
      const f = await runOne(admin, port, call, n);
      log(
        `  ${n} decision${n === 1 ? '' : 's'} per call: ${Math.round(f.callsPerSec)} calls/s = ${Math.round(f.eventsPerSec)} events/s`,
      );
      figures.push(f);
      // Keep Redis small: the calls wrote the same keys over and over, and one entry each.
      await trimOutboxes(admin, decider.shards);
    }
  } finally {
    // Its calls appended to the outboxes: no drain run may see them.
    await trimOutboxes(admin, decider.shards);
  }
  const best = figures.reduce((a, b) => (b.eventsPerSec > a.eventsPerSec ? b : a));
  return { figures, best };
}
