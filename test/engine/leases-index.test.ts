/**
 * The leases zset of an agent (lua/includes/records.lua) on a real Redis: kept
 * a skiplist by its sentinel member from the agent's creation on, whatever the
 * number of holds, and the sentinel never taken for a hold (never due, never
 * the agent's earliest lease); closed holds stay as tombstones (score < 0)
 * for an hour, then go.
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

  it('is a skiplist from the start; expired holds go, the sentinel stays, and holds come again', async () => {
    const id = uid('leases');
    await tg.identity.registerAgent(id, 'coder');
    const keys = agentKeys(id, tg.engine.shards);
    expect(await raw.object('ENCODING', keys.leases)).toBe('skiplist');
    expect(await raw.zcard(keys.leases)).toBe(1); // the sentinel
    const hold = async () => {
      const d = await tg.guard.checkPermission(id, 'read_file', { estimatedTokens: 10 });
      expect(d.allowed).toBe(true);
    };
    const open = () => raw.zrangebyscore(keys.leases, 0, '+inf');
    await hold();
    expect(await raw.object('ENCODING', keys.leases)).toBe('skiplist');
    expect(await raw.zcard(keys.leases)).toBe(2); // the hold and the sentinel
    await Promise.all(Array.from({ length: 149 }, hold));
    expect(await raw.zcard(keys.leases)).toBe(151);
    expect(await raw.object('ENCODING', keys.leases)).toBe('skiplist');
    const sentinel = await raw.zrange(keys.leases, -1, -1, 'WITHSCORES');
    expect(sentinel[1]).toBe('inf');
    expect((sentinel[0] as string).length).toBeGreaterThan(64);

    // Past every lease: one read frees them all (oldest first, never the sentinel); each
    // stays as a tombstone (its record, for a late settle) scored below 0.
    tg.engine.setClockOffsetForTests(tg.policy.leaseMs + 1_000);
    try {
      const reserved = async () => (await tg.budget.getBudgetStatus(id))?.session.tokens_reserved;
      expect(await reserved()).toBe(0);
      expect(await open()).toEqual([sentinel[0]]);
      expect(await raw.zcount(keys.leases, '-inf', '(0')).toBe(150);
      const state = unpackState((await raw.hgetBuffer(keys.agent, 's')) as Buffer);
      expect(state.next_exp).toBe('0'); // no open lease: the sentinel is not one
      expect(state.s_res).toBe('0');
      await hold();
      expect(await open()).toHaveLength(2);
      const after = unpackState((await raw.hgetBuffer(keys.agent, 's')) as Buffer);
      expect(Number(after.next_exp)).toBeGreaterThan(0);
      // An hour (and the purge interval) later the tombstones and their records are gone.
      tg.engine.setClockOffsetForTests(2 * tg.policy.leaseMs + 3_600_000 + 120_000);
      expect(await reserved()).toBe(0);
      // Left: the last hold, expired just now (its tombstone and record), and the sentinel.
      expect(await open()).toEqual([sentinel[0]]);
      expect(await raw.zcard(keys.leases)).toBe(2);
      const fields = await raw.hkeys(keys.agent);
      expect(fields.filter((f) => f.startsWith('h:'))).toHaveLength(1);
    } finally {
      tg.engine.setClockOffsetForTests(0);
    }
  });
});
