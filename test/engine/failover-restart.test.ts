/**
 * A Cluster master restarted EMPTY before the node timeout (docs/recovery.md,
 * "Faults"): SIGKILL, then the same node started again without data at once,
 * so it keeps its master role (nobody failed it over) and its replica
 * resyncs the empty data set. The shards of that master lost everything,
 * their ready markers included.
 *
 * With a durable store (PGlite and PostgreSQL) wired as createTollgate's
 * recovery source (as in test/audit/recovery.test.ts), the wipe is detected
 * (RedisEngine.shardRecoveries() grows, a warning each time) and the agents
 * and their spend come back exactly. Twice in a row, on a private 6-node
 * Cluster.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { drainShard, outboxLag } from '../../src/audit/drain/index.js';
import type { StoreOptions } from '../../src/audit/store/index.js';
import type { PostgresStore } from '../../src/audit/store/postgres.js';
import { DEFAULT_SHARDS, shardOf } from '../../src/engine/keys.js';
import { RedisEngine } from '../../src/engine/redis/redis-engine.js';
import type { AgentRecordRaw } from '../../src/engine/types.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import {
  nodeInfo,
  type ReplicatedCluster,
  startReplicatedCluster,
} from '../setup/redis-cluster-replicas.js';
import { keySlot } from '../support/slot.js';

const AGENTS = 30;
const hex = () => randomBytes(4).toString('hex');
const log = (line: string) => process.stdout.write(`[failover-restart] ${line}\n`);

/** A snapshot without what a restore does not fix (the time). */
function comparable(a: AgentRecordRaw | null) {
  if (a === null) return null;
  const { nowMs: _now, ...status } = a.status;
  return { status, createdMs: a.createdMs, metadata: a.metadata, keyDigest: a.keyDigest };
}

let cluster: ReplicatedCluster;

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  cluster = await startReplicatedCluster();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

describe.each(['pglite', 'postgres'] as const)('a master restarted empty (%s store)', (kind) => {
  let tg: Tollgate;
  let engine: RedisEngine;
  let dataDir: string | undefined;
  let schema: string | undefined;
  const warnings: string[] = [];
  const agents: string[] = [];

  beforeAll(async () => {
    let store: StoreOptions;
    if (kind === 'pglite') {
      dataDir = mkdtempSync(join(tmpdir(), 'tollgate-failover-'));
      store = { dataDir };
    } else {
      schema = `tg_failover_${hex()}`;
      store = { databaseUrl: inject('databaseUrl'), schema };
    }
    tg = await createTollgate({
      redis: { clusterNodes: cluster.nodes },
      store,
      warn: (m) => warnings.push(m),
    });
    if (!(tg.engine instanceof RedisEngine)) throw new Error('expected RedisEngine');
    engine = tg.engine;
    for (let i = 0; i < AGENTS; i++) {
      const id = `fr-${kind}-${hex()}`;
      agents.push(id);
      await tg.identity.registerAgent(id, 'coder', { i }, { sessionTokenLimit: 1e9 });
    }
  }, 60_000);

  afterAll(async () => {
    if (schema !== undefined && tg?.store) {
      await (tg.store as PostgresStore).pool.query(`DROP SCHEMA ${schema} CASCADE`);
    }
    await tg?.close();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  /** Settles, usage without a hold, denials; then everything drained into the store. */
  async function traffic(round: number): Promise<void> {
    const g = tg.guard;
    await Promise.all(
      agents.map(async (id, i) => {
        for (let k = 0; k < 3; k++) {
          const d = await g.checkPermission(id, 'read_file', { estimatedTokens: 500 + i });
          if (!d.allowed) throw new Error(`${id} denied: ${d.error_code}`);
          const used = 100 * (round + 1) + 37 * k + i; // some above the hold
          await g.recordOperation(
            id,
            'read_file',
            { inputTokens: used, outputTokens: 3 * k + 1 },
            'success',
            d.reservation_id,
          );
        }
        await g.recordOperation(id, 'write_file', { inputTokens: 11 * i, outputTokens: round });
        if (i % 5 === 0) expect((await g.checkPermission(id, 'deploy')).allowed).toBe(false);
      }),
    );
    const redis = engine.redisClient;
    for (let shard = 0; shard < DEFAULT_SHARDS; shard++) {
      await drainShard({
        redis,
        store: tg.store as NonNullable<Tollgate['store']>,
        shard,
        consumer: 'failover-test',
      });
    }
    const lag = await outboxLag({ redis, shards: DEFAULT_SHARDS });
    expect(lag.reduce((a, l) => a + l.backlog, 0)).toBe(0);
  }

  for (const round of [1, 2]) {
    it(`wipe ${round}: detected, logged, agents and spend restored exactly`, {
      timeout: 60_000,
    }, async () => {
      await cluster.waitHealthy();
      await traffic(round);
      const before = new Map<string, ReturnType<typeof comparable>>();
      for (const id of agents) before.set(id, comparable(await engine.getAgent(id)));

      // The master of the first agent's shard, and every shard it serves.
      const shard = shardOf(agents[0] as string, DEFAULT_SHARDS);
      const slot = keySlot(`tg:{s${shard}}:ready`);
      const master = await cluster.masterOf(slot);
      const wiped = new Set<number>();
      for (let s = 0; s < DEFAULT_SHARDS; s++) {
        if ((await cluster.masterOf(keySlot(`tg:{s${s}}:ready`))) === master) wiped.add(s);
      }
      const hit = agents.filter((id) => wiped.has(shardOf(id, DEFAULT_SHARDS)));
      const hitShards = new Set(hit.map((id) => shardOf(id, DEFAULT_SHARDS)));
      const recoveries = engine.shardRecoveries().total;
      warnings.length = 0;

      const downMs = await cluster.restartEmpty(master);
      // Back before the node timeout: still the master of its slots, and its
      // replica resynced the empty data set.
      await cluster.waitHealthy();
      expect(await cluster.masterOf(slot)).toBe(master);
      const [replica] = await cluster.replicasOf(master);
      expect(replica).toBeDefined();
      expect((await nodeInfo(master.port, 'keyspace')).size).toBe(0);
      await waitFor(
        async () => (await nodeInfo((replica as typeof master).port, 'keyspace')).size === 0,
        'the replica resyncs the empty data set',
      );
      log(
        `${kind} wipe ${round}: master :${master.port} down ${downMs} ms, shards ` +
          `[${[...wiped].join(',')}] empty; ${hit.length} agents in ${hitShards.size} of them`,
      );

      // The first call for each agent restores its shard from the store.
      for (const id of agents) {
        expect(comparable(await engine.getAgent(id)), id).toEqual(before.get(id));
      }
      const r = engine.shardRecoveries();
      expect(r.total - recoveries).toBe(hitShards.size);
      const recent = r.recent.slice(-hitShards.size);
      expect(new Set(recent.map((x) => x.shard))).toEqual(hitShards);
      expect(recent.reduce((a, x) => a + x.restored, 0)).toBe(hit.length);
      for (const s of hitShards) {
        expect(
          warnings.some((w) => w.includes(`shard ${s} had no ready marker`)),
          `${s}`,
        ).toBe(true);
      }
      // Spend goes on from the restored figures.
      const id = hit[0] as string;
      const b = before.get(id)?.status;
      const u = await tg.guard.recordOperation(id, 'read_file', {
        inputTokens: 5,
        outputTokens: 5,
      });
      const s = await engine.status(id);
      expect(s?.sessionTokensUsed).toBe((b?.sessionTokensUsed ?? 0) + 10);
      expect(s?.dailyCostMicros).toBe((b?.dailyCostMicros ?? 0) + Math.round(u.cost * 1e6));
    });
  }
});
