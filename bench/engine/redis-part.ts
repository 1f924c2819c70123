/**
 * The Redis half of bench:engine: Tollgate through the library and
 * rate-limiter-flexible on one private Redis, each level measured once, the
 * ours/peer rounds at the head-to-head level (authorize against consume, and
 * authorize+settle against consume+reward), and the redis-benchmark ceiling
 * of both scripts.
 */
import {
  allowedDecisions,
  callOnce,
  captureDecisions,
  captureScriptCall,
  redisBenchmarkEvalsha,
  type ScriptCall,
} from '../lib/evalsha.js';
import { commandsOfOneCall, describeCalls } from '../lib/redis-stats.js';
import { alternate, type Rounds } from '../lib/rounds.js';
import type { BenchRedis } from '../lib/services.js';
import { setupWorkload, trimOutboxes, type Workload } from '../lib/workload.js';
import { CONFIG } from './config.js';
import { logMeasurement, type Measurement, measure, type OpName } from './measure.js';
import { type Peer, setupPeer } from './peer.js';

export interface Ceiling {
  label: string;
  redisCalls: string;
  requestsPerSec: number;
  scriptUsPerCall: number;
  redisCpuUsPerCall: number;
  command: string;
}

export interface RedisPart {
  /** One per target, operation and level; the head-to-head level's are the median rounds'. */
  rows: Measurement[];
  authorize: Rounds<Measurement>;
  pair: Rounds<Measurement>;
  ceilings: Ceiling[];
  /** redis.calls measured per script call, e.g. authorize → "5 (HGET, …)". */
  calls: Record<'authorize' | 'settle' | 'consume' | 'reward', string>;
}

const log = (text: string) => process.stderr.write(`${text}\n`);

/** redis.calls per script call, counted by Redis on the steady allowed path. */
async function countCalls(redis: BenchRedis, ours: Workload, peer: Peer) {
  const agent = ours.agents[0] as string;
  // One warm pair first, so the scripts are loaded and the day key exists:
  // the calls counted take the steady path (no first-of-the-day EXPIREAT).
  await ours.settle(agent, await ours.decide(agent, 1));
  await peer.consumeKey(agent);
  const count = async (call: () => Promise<unknown>) =>
    describeCalls(await commandsOfOneCall(redis.admin, call));
  let reservation = '';
  const calls = {
    authorize: await count(async () => {
      reservation = await ours.decide(agent, 1);
    }),
    settle: await count(() => ours.settle(agent, reservation)),
    consume: await count(() => peer.consumeKey(agent)),
    reward: await count(() => peer.rewardKey(agent)),
  };
  log(
    `redis.calls per call: authorize ${calls.authorize}; settle ${calls.settle}; rlf consume ${calls.consume}; rlf reward ${calls.reward}`,
  );
  return calls;
}

async function ceiling(
  redis: BenchRedis,
  label: string,
  call: ScriptCall,
  redisCalls: string,
  freshNonces: boolean,
): Promise<Ceiling> {
  const rb = CONFIG.redisBenchmark;
  const r = await redisBenchmarkEvalsha(redis.admin, redis.port, {
    call,
    calls: rb.n,
    clients: rb.c,
    pipeline: rb.P,
    freshNonces,
  });
  log(`  ${label}: ${Math.round(r.requestsPerSec)} requests/s`);
  return {
    label,
    redisCalls,
    requestsPerSec: r.requestsPerSec,
    scriptUsPerCall: r.evalsha.usecPerCall,
    redisCpuUsPerCall: (r.redisCpu * 1e6) / rb.n,
    command: r.command,
  };
}

export async function redisPart(redis: BenchRedis): Promise<RedisPart> {
  const ours = await setupWorkload({ redis: redis.url });
  const peer = setupPeer(redis.url);
  try {
    log(`registered ${ours.agents.length} agents on ${redis.url}`);
    const calls = await countCalls(redis, ours, peer);
    const run = async (op: OpName, concurrency: number) => {
      await trimOutboxes(redis.admin, ours.shards);
      const [target, fn] =
        op === 'authorize'
          ? (['tollgate/redis', ours.authorize] as const)
          : op === 'pair'
            ? (['tollgate/redis', ours.pair] as const)
            : op === 'consume'
              ? (['rlf/redis', peer.consume] as const)
              : (['rlf/redis', peer.pair] as const);
      const m = await measure(target, op, concurrency, fn, { redis: redis.admin });
      logMeasurement(m);
      return m;
    };

    const rows: Measurement[] = [];
    for (const c of CONFIG.concurrency) {
      if (c === CONFIG.headToHeadConcurrency) continue;
      for (const op of ['authorize', 'consume', 'pair', 'consume+reward'] as const) {
        rows.push(await run(op, c));
      }
    }

    const c = CONFIG.headToHeadConcurrency;
    log(`head to head at concurrency ${c}: ${CONFIG.rounds} rounds`);
    const rate = (m: Measurement) => m.opsPerSec;
    const onRound = (what: string) => (r: { ratio: number }, i: number) =>
      log(`  round ${i + 1}, ${what}: ratio ${r.ratio.toFixed(2)}×`);
    const authorize = await alternate(
      CONFIG.rounds,
      () => run('authorize', c),
      () => run('consume', c),
      { rate, onRound: onRound('authorize ÷ consume') },
    );
    const pair = await alternate(
      CONFIG.rounds,
      () => run('pair', c),
      () => run('consume+reward', c),
      { rate, onRound: onRound('pair ÷ consume+reward') },
    );
    rows.push(authorize.ours, authorize.peer, pair.ours, pair.peer);

    log('redis-benchmark (EVALSHA, the Redis-side ceiling)');
    const agent = ours.agents[1] as string;
    const authorizeCall = await captureDecisions(redis.admin, ours, [agent]);
    const consumeCall = await captureScriptCall(
      redis.admin,
      () => peer.consumeKey(agent),
      (keysAndArgs) => keysAndArgs.some((k) => k.endsWith(`:${agent}`)),
    );
    await trimOutboxes(redis.admin, ours.shards);
    const reply = await callOnce(redis.admin, authorizeCall);
    if (allowedDecisions(reply) !== 1) {
      throw new Error(
        `authorize by EVALSHA did not take the allowed path: ${JSON.stringify(reply)}`,
      );
    }
    const ceilings = [
      await ceiling(
        redis,
        'tollgate authorize, 1 decision (allowed)',
        authorizeCall,
        calls.authorize,
        true,
      ),
      await ceiling(redis, 'rate-limiter-flexible consume', consumeCall, calls.consume, false),
    ];
    return { rows, authorize, pair, ceilings, calls };
  } finally {
    await Promise.allSettled([ours.tollgate.close(), peer.close()]);
  }
}
