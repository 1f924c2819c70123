/**
 * A move to another shard with holds open, under faults (docs/limits.md,
 * "Moves"): the reply of each step is dropped and the connection cut
 * (test/support/fault-proxy.ts), so ioredis sends the same script call again
 * and the script runs twice. The move, and the settle that closes a moved
 * hold's pools on their shard (lua/closeLeftHold-1.lua), still happen once:
 * the old pool is charged the settle's cost exactly once and holds nothing
 * after, the new pool none of it. On the private Redis and Cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SHARDS, shardOf } from '../../src/engine/keys.js';
import { RedisEngine } from '../../src/engine/redis/index.js';
import { uid } from '../support/engines.js';
import {
  dropped,
  type Faulty,
  faultyStore,
  preloadScripts,
  scriptCall,
} from '../support/exactly-once.js';
import { hold, registerIn } from '../support/pools.js';

const STEPS = ['freezeAgent', 'copyAgent', 'dropAgent', 'settle', 'closeLeftHold'] as const;

describe.each(['redis', 'cluster'] as const)('%s: a dropped reply, resent', (kind) => {
  let store: Faulty;
  let engine: RedisEngine;

  beforeAll(async () => {
    store = await faultyStore(kind);
    await preloadScripts(store.raw);
    engine = new RedisEngine({ client: store.client });
  });
  afterAll(async () => {
    await engine?.close();
    await store?.close();
  });

  it.each(STEPS)('%s: the move and the moved hold’s settle happen once', async (step) => {
    const p1 = uid('pr');
    let p2 = uid('pr');
    while (shardOf(p2, DEFAULT_SHARDS) === shardOf(p1, DEFAULT_SHARDS)) p2 = uid('pr');
    await engine.createPool({ poolId: p1, actor: 'admin' });
    await engine.createPool({ poolId: p2, actor: 'admin' });
    /** An agent in p1 with a hold of 1,000 tokens moved to p2, its hold settled at 400. */
    const cycle = async (a: string) => {
      const h = await hold(engine, a, 1_000);
      if (!h.allowed) throw new Error('denied');
      await engine.moveAgent(a, p2, 'admin');
      return engine.settle({
        reservationId: h.reservationId,
        inputTokens: 400,
        outputTokens: 0,
        result: 'success',
        actor: 'library',
      });
    };
    // Once without a fault: each script is then sent by its hash (the first use of a
    // script on a connection sends its text, which the match below does not look for).
    await cycle(await registerIn(engine, p1));
    const a = await registerIn(engine, p1);
    const fired = store.armDropNextReply({ match: scriptCall(step, a) });
    try {
      expect(['settled', 'already_closed']).toContain((await cycle(a)).outcome);
    } finally {
      store.disarm();
    }
    expect(await dropped(fired), `the reply of ${step} was not dropped`).toBeDefined();

    // Both agents' holds: 400 each, once.
    expect(await engine.poolStatus(p1)).toMatchObject({
      agents: 0,
      dailyReservedMicros: 0,
      dailyCostMicros: 800,
    });
    expect(await engine.poolStatus(p2)).toMatchObject({
      agents: 2,
      dailyReservedMicros: 0,
      dailyCostMicros: 0,
    });
    expect(await engine.status(a)).toMatchObject({
      poolId: p2,
      dailyCostMicros: 400,
      dailyReservedMicros: 0,
    });
    const moves = (await engine.readOutbox()).filter(
      (e) => e.fields.agent_id === a && e.fields.type === 'agent_moved',
    );
    expect(moves).toHaveLength(1);
  });
});
