import type { Cluster, Redis } from 'ioredis';
import { outboxKey, statsKey } from '../keys.js';
import { unpackEntry } from '../outbox-format.js';
import type {
  Actor,
  AgentRecordRaw,
  AgentSnapshot,
  AuthorizeInput,
  AuthorizeResult,
  Engine,
  EngineStatus,
  OutboxEntry,
  PoolInput,
  PoolStatus,
  PoolUpdateInput,
  RegisterInput,
  ReleaseInput,
  ReleaseResult,
  SessionChange,
  SessionInput,
  SettleInput,
  SettleResult,
  SweepResult,
  UpdateInput,
  UsageInput,
  UsageResult,
} from '../types.js';
import { authorize } from './ops/authorize.js';
import { OpContext, type RedisEngineOptions } from './ops/context.js';
import { createPool } from './ops/createPool.js';
import { deleteAgent } from './ops/deleteAgent.js';
import { deletePool } from './ops/deletePool.js';
import { getPool } from './ops/getPool.js';
import { getAgent, getStatus } from './ops/getStatus.js';
import { listAgents } from './ops/listAgents.js';
import { listPools } from './ops/listPools.js';
import { moveAgent } from './ops/moveAgent.js';
import { recordUsage } from './ops/recordUsage.js';
import { registerAgent } from './ops/registerAgent.js';
import { release } from './ops/release.js';
import { settle } from './ops/settle.js';
import { startSession } from './ops/startSession.js';
import { sweepShard } from './ops/sweepShard.js';
import { updateAgent } from './ops/updateAgent.js';
import { updatePool } from './ops/updatePool.js';
import type { RecoverySource, ShardRecovery } from './recovery.js';
import { storeErrors } from './store-errors.js';

export type { RedisEngineOptions } from './ops/context.js';

/**
 * The Engine on Redis or a Redis Cluster: each operation is one script call
 * (lua/<op>-<n>.lua), its keys, arguments and reply in
 * src/engine/redis/ops/<op>.ts; this class only dispatches to them with the
 * engine's shared context (ops/context.ts).
 */
export class RedisEngine implements Engine {
  readonly kind = 'redis' as const;
  readonly shards: number;
  private readonly ctx: OpContext;
  private readonly ownsClient: boolean;

  constructor(opts: RedisEngineOptions) {
    this.ctx = new OpContext(opts);
    this.shards = this.ctx.shards;
    this.ownsClient = opts.ownsClient ?? false;
  }

  /**
   * Sets where shards that lost their data are restored from (createTollgate
   * calls it with the durable store) and where recovery warnings go.
   */
  configureRecovery(opts: { source?: RecoverySource; warn?: (message: string) => void }): void {
    this.ctx.recoverer.configure(opts);
  }

  /**
   * Calls `listener` after each shard this engine found without its ready
   * marker and restored (or marked ready with nothing to restore): Redis lost
   * that shard's data. The audit worker listens to put its own Redis state
   * back at once (src/audit/drain/heal.ts). Returns the unsubscribe.
   */
  onRecovery(listener: (r: ShardRecovery) => void): () => void {
    return this.ctx.recoverer.onRecovery(listener);
  }

  /**
   * Restores `shard` from the recovery source unless its ready marker is set
   * (what a call that meets SHARD_NOT_READY does first). Safe to call at any
   * time: an agent Redis still has is never overwritten.
   */
  recoverShard(shard: number): Promise<ShardRecovery> {
    return this.ctx.recover(shard);
  }

  /**
   * Every time this process found a shard without its ready marker (Redis lost
   * the shard, or a new deployment): how many times, and the last ones (shard,
   * when, what was restored). /readyz and the metrics show them.
   */
  shardRecoveries(): { total: number; recent: readonly ShardRecovery[] } {
    return { total: this.ctx.recoverer.wipes, recent: this.ctx.recoverer.history };
  }

  /** The engine's Redis client (read-only: for the audit backlog, /readyz and GET /v1/audit/lag). */
  get redisClient(): Redis | Cluster {
    return this.ctx.client;
  }

  setClockOffsetForTests(ms: number): void {
    this.ctx.offsetMs = ms;
  }

  registerAgent(i: RegisterInput): Promise<AgentSnapshot> {
    return registerAgent(this.ctx, i);
  }

  updateAgent(i: UpdateInput): Promise<AgentSnapshot> {
    return updateAgent(this.ctx, i);
  }

  deleteAgent(agentId: string, actor: Actor): Promise<EngineStatus> {
    return deleteAgent(this.ctx, agentId, actor);
  }

  startSession(i: SessionInput): Promise<SessionChange> {
    return startSession(this.ctx, i);
  }

  authorize(i: AuthorizeInput): Promise<AuthorizeResult> {
    return authorize(this.ctx, i);
  }

  settle(i: SettleInput): Promise<SettleResult> {
    return settle(this.ctx, i);
  }

  release(i: ReleaseInput): Promise<ReleaseResult> {
    return release(this.ctx, i);
  }

  recordUsage(i: UsageInput): Promise<UsageResult> {
    return recordUsage(this.ctx, i);
  }

  status(agentId: string): Promise<EngineStatus | null> {
    return getStatus(this.ctx, agentId);
  }

  getAgent(agentId: string): Promise<AgentRecordRaw | null> {
    return getAgent(this.ctx, agentId);
  }

  listAgents(): Promise<AgentSnapshot[]> {
    return listAgents(this.ctx);
  }

  sweepShard(shard: number, cursor: string): Promise<SweepResult> {
    return sweepShard(this.ctx, shard, cursor);
  }

  createPool(i: PoolInput): Promise<PoolStatus> {
    return createPool(this.ctx, i);
  }

  updatePool(i: PoolUpdateInput): Promise<PoolStatus> {
    return updatePool(this.ctx, i);
  }

  deletePool(poolId: string, actor: Actor): Promise<PoolStatus> {
    return deletePool(this.ctx, poolId, actor);
  }

  poolStatus(poolId: string): Promise<PoolStatus | null> {
    return getPool(this.ctx, poolId);
  }

  listPools(): Promise<PoolStatus[]> {
    return listPools(this.ctx);
  }

  moveAgent(agentId: string, poolId: string | null, actor: Actor): Promise<AgentSnapshot> {
    return moveAgent(this.ctx, agentId, poolId, actor);
  }

  /** Holds freed so far because their lease passed (every shard's tg:{s<n>}:stats). */
  async expiredLeasesFreed(): Promise<number> {
    const shards = Array.from({ length: this.shards }, (_, s) => s);
    const counts = await storeErrors(
      Promise.all(shards.map((s) => this.ctx.client.hget(statsKey(s), 'leases_freed'))),
    );
    return counts.reduce((sum, c) => sum + Number(c ?? 0), 0);
  }

  async readOutbox(shard?: number): Promise<OutboxEntry[]> {
    const shards = shard === undefined ? Array.from({ length: this.shards }, (_, s) => s) : [shard];
    const out: OutboxEntry[] = [];
    for (const s of shards) {
      const entries = await storeErrors(this.ctx.client.xrange(outboxKey(s), '-', '+'));
      for (const [streamId, flat] of entries) {
        for (const fields of unpackEntry(flat)) out.push({ shard: s, streamId, fields });
      }
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.ownsClient) await this.ctx.client.quit().catch(() => undefined);
  }
}
