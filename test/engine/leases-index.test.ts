/**
 * The leases zset of an agent (lua/includes/leases.lua) on a real Redis: kept
 * a skiplist by its sentinel member from the first hold on, whatever the
 * number of holds, and the sentinel never taken for a hold (never due, never
 * the agent's earliest lease).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentKeys } from '../../src/engine/keys.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { type RedisServer, startRedis } from '../setup/redis-servers.js';
import { uid } from '../support/engines.js';
import { unpackState } from '../support/packed-state.js';

describe('the leases zset (Redis)', () => {
  let server: RedisServer;
  let raw: Redis;
  let tg: Tollgate;
  beforeAll(async () => {
    server = await startRedis();
    raw = new Redis(server.url);
    tg = await createTollgate({ redis: server.url });
  });
  afterAll(async () => {
    await tg.close();
    raw.disconnect();
    await server.stop();
  });

  it('is a skiplist from the first hold; expired holds go, the sentinel stays, and holds come again', async () => {
    const id = uid('leases');
    await tg.identity.registerAgent(id, 'coder');
    const keys = agentKeys(id, tg.engine.shards);
    const hold = async () => {
      const d = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 10 });
      expect(d.allowed).toBe(true);
    };
    await hold();
    expect(await raw.object('ENCODING', keys.leases)).toBe('skiplist');
    expect(await raw.zcard(keys.leases)).toBe(2); // the hold and the sentinel
    await Promise.all(Array.from({ length: 149 }, hold));
    expect(await raw.zcard(keys.leases)).toBe(151);
    expect(await raw.object('ENCODING', keys.leases)).toBe('skiplist');
    const sentinel = await raw.zrange(keys.leases, -1, -1, 'WITHSCORES');
    expect(sentinel[1]).toBe('inf');
    expect((sentinel[0] as string).length).toBeGreaterThan(64);

    // Past every lease: each read frees at most maxFree (8) holds, oldest first, never the sentinel.
    tg.engine.setClockOffsetForTests(tg.policy.leaseMs + 1_000);
    try {
      const reserved = async () => (await tg.budget.getBudgetStatus(id))?.session.tokens_reserved;
      let r = await reserved();
      for (let i = 0; i < 30 && r !== 0; i++) r = await reserved();
      expect(r).toBe(0);
      expect(await raw.zrange(keys.leases, 0, -1)).toEqual([sentinel[0]]);
      const state = unpackState((await raw.hgetBuffer(keys.agent, 's')) as Buffer);
      expect(state.next_exp).toBe('0'); // no open lease: the sentinel is not one
      expect(state.s_res).toBe('0');
      await hold();
      expect(await raw.zcard(keys.leases)).toBe(2);
      const after = unpackState((await raw.hgetBuffer(keys.agent, 's')) as Buffer);
      expect(Number(after.next_exp)).toBeGreaterThan(0);
    } finally {
      tg.engine.setClockOffsetForTests(0);
    }
  });
});
