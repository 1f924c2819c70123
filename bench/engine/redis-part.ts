/**
 * The Redis half of bench:engine: Tollgate through the library and
 * rate-limiter-flexible on one private Redis, the ours/peer rounds, and the
 * redis-benchmark ceiling of both scripts.
 */
import type { Redis } from 'ioredis';
import { outboxKey } from '../../src/engine/keys.js';
import { commandsOfOneCall, describeCalls, type RedisServer } from '../lib/redis.js';
import { CONFIG } from './config.js';
import { logMeasurement, type Measurement, measure } from './measure.js';
import { type PeerLoad, setupPeer } from './peer.js';
import { authorizeScript, captureScriptCall, expectAllowed, runCeiling } from './redis-ceiling.js';
import type { Round } from './report.js';
import { type GuardLoad, setupTollgate } from './tollgate-ops.js';

const log = (text: string) => process.stderr.write(`${text}\n`);

/** Empties the outbox streams between measurements (nobody drains them here). */
async function trimOutboxes(admin: Redis, shards: number): Promise<void> {
  const p = admin.pipeline();
  for (let s = 0; s < shards; s++) p.xtrim(outboxKey(s), 'MAXLEN', 0);
  await p.exec();
}

/** The measurement whose ops/s is the median of the list (odd lengths). */
function medianOf(list: Measurement[]): Measurement {
  const sorted = [...list].sort((a, b) => a.opsPerSec - b.opsPerSec);
  return sorted[Math.floor((sorted.length - 1) / 2)] as Measurement;
}

export async function redisPart(server: RedisServer, admin: Redis) {
  const ours: GuardLoad = await setupTollgate({ redis: server.url });
  const peer: PeerLoad = setupPeer(server.url);
  try {
    log(`registered ${ours.agents.length} agents on ${server.url}`);
    const agent = ours.agents[0] as string;
    const { guard } = ours.tollgate;
    const shards = ours.tollgate.engine.shards;

    // redis.calls per script call, counted by Redis. One warm pair first, so
    // the scripts are loaded and the day key exists: the calls counted below
    // take the steady allowed path (no first-of-the-day EXPIREAT).
    const d = await guard.checkPermission(agent, CONFIG.operation, { estimatedTokens: 1 });
    if (!d.allowed) throw new Error(`warm-up authorize denied: ${d.error_code}`);
    await guard.recordOperation(agent, CONFIG.operation, CONFIG.usage, 'success', d.reservation_id);
    await peer.consumeKey(agent);
    let reservation = '';
    const authorizeCalls = describeCalls(
      await commandsOfOneCall(admin, async () => {
        const r = await guard.checkPermission(agent, CONFIG.operation, { estimatedTokens: 1 });
        if (!r.allowed) throw new Error(`authorize denied: ${r.error_code}`);
        reservation = r.reservation_id;
      }),
    );
    const settleCalls = describeCalls(
      await commandsOfOneCall(admin, () =>
        guard.recordOperation(agent, CONFIG.operation, CONFIG.usage, 'success', reservation),
      ),
    );
    const consumeCalls = describeCalls(
      await commandsOfOneCall(admin, () => peer.consumeKey(agent)),
    );
    log(
      `redis.calls per call: authorize ${authorizeCalls.text}; settle ${settleCalls.text}; rlf consume ${consumeCalls.text}`,
    );

    const rows: Measurement[] = [];
    const run = async (
      target: 'tollgate/redis' | 'rlf/redis',
      op: 'authorize' | 'pair' | 'consume',
      concurrency: number,
    ) => {
      await trimOutboxes(admin, shards);
      const fn = op === 'authorize' ? ours.authorize : op === 'pair' ? ours.pair : peer.consume;
      const m = await measure({ target, op, concurrency, run: fn, admin });
      logMeasurement(m);
      return m;
    };

    for (const c of CONFIG.concurrency) {
      if (c === CONFIG.headToHeadConcurrency) continue;
      rows.push(await run('tollgate/redis', 'authorize', c));
      rows.push(await run('rlf/redis', 'consume', c));
    }
    for (const c of CONFIG.concurrency) rows.push(await run('tollgate/redis', 'pair', c));

    log(`head to head at concurrency ${CONFIG.headToHeadConcurrency}: ${CONFIG.rounds} rounds`);
    const rounds: Round[] = [];
    for (let i = 0; i < CONFIG.rounds; i++) {
      const o = await run('tollgate/redis', 'authorize', CONFIG.headToHeadConcurrency);
      const p = await run('rlf/redis', 'consume', CONFIG.headToHeadConcurrency);
      rounds.push({ ours: o, peer: p, ratio: o.opsPerSec / p.opsPerSec });
      log(`  round ${i + 1}: ratio ${(o.opsPerSec / p.opsPerSec).toFixed(2)}×`);
    }
    rows.push(medianOf(rounds.map((r) => r.ours)), medianOf(rounds.map((r) => r.peer)));

    log('redis-benchmark (EVALSHA, the Redis-side ceiling)');
    const ceilingAgent = ours.agents[1] as string;
    const authorizeCall = await captureScriptCall(
      admin,
      () => guard.checkPermission(ceilingAgent, CONFIG.operation, { estimatedTokens: 1 }),
      (keysAndArgs) => keysAndArgs.includes(ceilingAgent),
    );
    const consumeCall = await captureScriptCall(
      admin,
      () => peer.consumeKey(ceilingAgent),
      (keysAndArgs) => keysAndArgs.some((k) => k.endsWith(`:${ceilingAgent}`)),
    );
    await trimOutboxes(admin, shards);
    const a = await runCeiling(admin, server.port, {
      label: 'tollgate authorizeBatch-1, 1 decision (allowed)',
      script: authorizeScript(),
      call: authorizeCall,
      check: expectAllowed,
      varyNonce: true,
    });
    log(`  ${a.label}: ${Math.round(a.requestsPerSec)} requests/s`);
    const p = await runCeiling(admin, server.port, {
      label: 'rate-limiter-flexible consume',
      call: consumeCall,
    });
    log(`  ${p.label}: ${Math.round(p.requestsPerSec)} requests/s`);
    const ceilings = [
      { ...a, redisCalls: authorizeCalls.text },
      { ...p, redisCalls: consumeCalls.text },
    ];

    return {
      rows,
      rounds,
      ceilings,
      calls: {
        authorize: authorizeCalls.text,
        settle: settleCalls.text,
        consume: consumeCalls.text,
      },
    };
  } finally {
    await Promise.allSettled([ours.tollgate.close(), peer.close()]);
  }
}
