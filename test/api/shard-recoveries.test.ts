/**
 * A wiped shard is never silent: every time a Redis shard is found without its
 * ready marker (a new deployment, or Redis lost it), the log, /readyz and
 * /metrics say so: which shard, when, what was restored.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardOf } from '../../src/engine/keys.js';
import { type RedisServer, startRedis } from '../setup/redis-servers.js';
import { uid } from '../support/engines.js';
import { type Api, startApi } from './harness.js';

describe('shard recoveries in the log, /readyz and /metrics (Redis, no store)', () => {
  let server: RedisServer;
  let raw: Redis;
  let api: Api;
  const warnings: string[] = [];
  beforeAll(async () => {
    server = await startRedis();
    raw = new Redis(server.url);
    api = await startApi({
      tollgate: { redis: server.url, warn: (m: string) => warnings.push(m) },
    });
    // The harness's tollgate warns through console: route recovery warnings here.
    (api.tg.engine as unknown as { configureRecovery(o: object): void }).configureRecovery({
      warn: (m: string) => warnings.push(m),
    });
  });
  afterAll(async () => {
    await api.close();
    raw.disconnect();
    await server.stop();
  });

  const recoveries = async () => {
    const r = await api.call('GET', '/readyz', { token: null });
    expect(r.status).toBe(200);
    return r.body.shard_recoveries as {
      total: number;
      recent: { shard: number; at: string; outcome: string; restored: number }[];
    };
  };
  const metric = async () => {
    const text = (await api.call('GET', '/metrics')).text;
    const m = /^tollgate_shard_recoveries_total\{outcome="unrestored"\} (\d+)$/m.exec(text);
    return Number(m?.[1] ?? Number.NaN);
  };

  it('counts and shows every wipe, each time, with the shard and when', async () => {
    const { id } = await api.agent('coder', uid('wipe'));
    const shard = shardOf(id, api.tg.engine.shards);
    let seen = await recoveries();
    let counted = await metric();
    expect(seen.total).toBeGreaterThanOrEqual(1); // this shard, at its first use
    expect(counted).toBeGreaterThanOrEqual(1);

    for (let round = 1; round <= 2; round++) {
      warnings.length = 0;
      await raw.flushall();
      const t0 = Date.now();
      // The next call for the agent finds the shard without its marker.
      expect(await api.tg.budget.getBudgetStatus(id)).toBeNull();
      const after = await recoveries();
      expect(after.total).toBeGreaterThan(seen.total);
      const ours = after.recent.filter((r) => r.shard === shard && Date.parse(r.at) >= t0);
      expect(ours).toEqual([expect.objectContaining({ outcome: 'unrestored', restored: 0 })]);
      expect(warnings.filter((w) => w.includes(`shard ${shard} had no ready marker`))).toHaveLength(
        1,
      );
      const now = await metric();
      expect(now).toBeGreaterThan(counted);
      seen = after;
      counted = now;
    }
  });
});
