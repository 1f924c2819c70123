/**
 * Pools survive a Redis data loss (docs/recovery.md, "What is restored"):
 * the pool scenario of test/support/restore-pools.ts through a RedisEngine
 * with a durable store, drained, then FLUSHALL. The shards are restored from
 * the store on their first calls: the hierarchies on their root's shard with
 * their limits and the spend of their local day and month, each agent in its
 * pool on that shard, and the directory entries (agents living away from
 * home, each pool's root). Checked with an engine that remembers nothing of
 * where things were, so every lookup goes through the restored directories.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { drainShard } from '../../src/audit/drain/index.js';
import { DEFAULT_SHARDS, dirKey, poolDirKey, shardOf } from '../../src/engine/keys.js';
import { createTollgate } from '../../src/index.js';
import { lossRig } from '../support/loss-rig.js';
import { expectPoolsBack, poolTraffic } from '../support/restore-pools.js';
import { keySlot } from '../support/slot.js';

const _databaseUrl = inject('databaseUrl');
const _hex = () => randomBytes(4).toString('hex');

describe.each(['pglite', 'postgres'] as const)('pools after FLUSHALL (%s)', (kind) => {
  const rig = lossRig(kind, 'pools-redis');

  it('pools, membership, spend and directories come back; a pool limit still holds', async () => {
    const { server, redis, tg, store } = await rig.start();
    const world = await poolTraffic(tg.engine);
    for (let shard = 0; shard < DEFAULT_SHARDS; shard++) {
      await drainShard({ redis, store, shard, consumer: 'pools-redis-test' });
    }
    await redis.flushall();

    // A new engine: nothing remembered of where agents live or of pools' roots.
    const calls: { script: string; keys: readonly string[] }[] = [];
    const fresh = await createTollgate({
      redis: server.url,
      store,
      warn: () => {},
      observer: (script, k) => calls.push({ script, keys: [...k] }),
    });
    rig.keep(fresh);
    await expectPoolsBack(fresh.engine, world);

    // The directories: each pool's root on its id's shard, each agent living away from home.
    const rootShard = shardOf(world.org, DEFAULT_SHARDS);
    for (const id of [world.org, world.teamA, world.teamB]) {
      const entry = await redis.hget(poolDirKey(shardOf(id, DEFAULT_SHARDS)), id);
      expect(entry, id).toMatch(new RegExp(`^${world.org}:\\d+$`));
    }
    for (const [agentId, poolId] of world.agents) {
      const home = shardOf(agentId, DEFAULT_SHARDS);
      const entry = await redis.hget(dirKey(home), agentId);
      if (poolId === null || home === rootShard) expect(entry, agentId).toBeNull();
      else expect(entry, agentId).toMatch(new RegExp(`^a${rootShard}:\\d+$`));
    }
    // The first engine, which remembers where everything was, sees the same.
    expect(await tg.engine.poolStatus(world.teamA)).toMatchObject({
      dailyCostMicros: world.pools.get(world.teamA)?.dailyCostMicros,
    });
    // Cluster-safe: each restore call keeps its keys in one slot.
    const restores = calls.filter((c) => c.script.startsWith('restore'));
    expect(new Set(restores.map((c) => c.script))).toEqual(
      new Set(['restoreAgent', 'restorePool', 'restoreDirectory']),
    );
    for (const c of restores) {
      expect(new Set(c.keys.map(keySlot)).size, `${c.script} ${c.keys.join(' ')}`).toBe(1);
    }
  });
});
