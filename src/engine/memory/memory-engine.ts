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
import { authorize } from './authorize.js';
import { createPool } from './createPool.js';
import { deleteAgent } from './deleteAgent.js';
import { deletePool } from './deletePool.js';
import { getPool } from './getPool.js';
import { getAgent, getStatus } from './getStatus.js';
import { listAgents } from './listAgents.js';
import { listPools } from './listPools.js';
import { moveAgent } from './moveAgent.js';
import { ackOutbox, outboxBacklog, type ShardBacklog, takeOutbox } from './outbox.js';
import { recordUsage } from './recordUsage.js';
import { registerAgent } from './registerAgent.js';
import { release } from './release.js';
import { type EngineSnapshot, restore } from './restore.js';
import { settle } from './settle.js';
import { startSession } from './startSession.js';
import { MemoryState } from './state.js';
import { sweepShard } from './sweepShard.js';
import { updateAgent } from './updateAgent.js';
import { updatePool } from './updatePool.js';

export interface MemoryEngineOptions {
  /** Shards (outboxes) per deployment, as for RedisEngine. Default 16. */
  shards?: number;
  /** Most expired leases one call frees. Default 2048 (MAX_FREE_PER_CALL). */
  maxFreePerCall?: number;
}

/**
 * The embedded engine: the lua/ scripts' operations in TypeScript, in process,
 * with the same results. Each operation runs in one synchronous step (no
 * await between reading and writing state), so it is atomic; the methods are
 * async only to fit the Engine interface. All state lives in the instance.
 */
export class MemoryEngine implements Engine {
  readonly kind = 'memory' as const;
  readonly shards: number;
  private readonly st: MemoryState;

  constructor(opts: MemoryEngineOptions = {}) {
    this.st = new MemoryState(opts);
    this.shards = this.st.shards;
  }

  setClockOffsetForTests(ms: number): void {
    this.st.offset = ms;
  }

  async registerAgent(i: RegisterInput): Promise<AgentSnapshot> {
    return registerAgent(this.st, i);
  }

  async updateAgent(i: UpdateInput): Promise<AgentSnapshot> {
    return updateAgent(this.st, i);
  }

  async deleteAgent(agentId: string, actor: Actor): Promise<EngineStatus> {
    return deleteAgent(this.st, agentId, actor);
  }

  async startSession(i: SessionInput): Promise<SessionChange> {
    return startSession(this.st, i);
  }

  async authorize(i: AuthorizeInput): Promise<AuthorizeResult> {
    return authorize(this.st, i);
  }

  async settle(i: SettleInput): Promise<SettleResult> {
    return settle(this.st, i);
  }

  async release(i: ReleaseInput): Promise<ReleaseResult> {
    return release(this.st, i);
  }

  async recordUsage(i: UsageInput): Promise<UsageResult> {
    return recordUsage(this.st, i);
  }

  async status(agentId: string): Promise<EngineStatus | null> {
    return getStatus(this.st, agentId);
  }

  async getAgent(agentId: string): Promise<AgentRecordRaw | null> {
    return getAgent(this.st, agentId);
  }

  async listAgents(): Promise<AgentSnapshot[]> {
    return listAgents(this.st);
  }

  async createPool(i: PoolInput): Promise<PoolStatus> {
    return createPool(this.st, i);
  }

  async updatePool(i: PoolUpdateInput): Promise<PoolStatus> {
    return updatePool(this.st, i);
  }

  async deletePool(poolId: string, actor: Actor): Promise<PoolStatus> {
    return deletePool(this.st, poolId, actor);
  }

  async poolStatus(poolId: string): Promise<PoolStatus | null> {
    return getPool(this.st, poolId);
  }

  async listPools(): Promise<PoolStatus[]> {
    return listPools(this.st);
  }

  async moveAgent(agentId: string, poolId: string | null, actor: Actor): Promise<AgentSnapshot> {
    return moveAgent(this.st, agentId, poolId, actor);
  }

  /** Holds freed so far because their lease passed (all shards). */
  async expiredLeasesFreed(): Promise<number> {
    return this.st.leasesFreed.reduce((a, b) => a + b, 0);
  }

  /**
   * One step of the background sweep of `shard`: up to 100 of its agents in
   * id order from position `cursor` ('0': the start); their expired holds are
   * freed. The returned cursor is the next position, '0' when done.
   */
  async sweepShard(shard: number, cursor: string): Promise<SweepResult> {
    return sweepShard(this.st, shard, cursor);
  }

  /** Every event still in the outbox, oldest first, shard by shard ascending. */
  async readOutbox(shard?: number): Promise<OutboxEntry[]> {
    const boxes = shard === undefined ? this.st.outbox : [this.st.outbox[shard] ?? []];
    const out: OutboxEntry[] = [];
    for (const box of boxes) for (const e of box) out.push(e.toEntry());
    return out;
  }

  /**
   * Up to `max` of the oldest undrained events (every shard's from its head,
   * in order), copied, without removing them: the drain stores them, then
   * acknowledges them with ackOutbox. Taking again before the ack returns the
   * same entries, so a failed insert loses nothing. One drain per engine.
   */
  takeOutbox(max: number): OutboxEntry[] {
    return takeOutbox(this.st, max);
  }

  /** Removes entries the store has (matched by shard and stream id). Returns how many went. */
  ackOutbox(entries: readonly OutboxEntry[]): number {
    return ackOutbox(this.st, entries);
  }

  /** Per shard: undrained events and the process time of the oldest. */
  outboxBacklog(): ShardBacklog[] {
    return outboxBacklog(this.st);
  }

  /**
   * Loads agents (role, status, session, limits, key digest, creation time,
   * metadata), a day's spend and overrun and the current sessions' counters
   * (tokens, cost, blocked, overrun) into this engine, before it serves anything. Holds in
   * flight are not restored: the restored engine holds nothing. Throws
   * CONFLICT when the engine already has state (or was restored), and
   * VALIDATION_FAILED, changing nothing, for a bad snapshot. Returns the
   * number of agents loaded.
   */
  restore(snapshot: EngineSnapshot): number {
    return restore(this.st, snapshot);
  }

  async close(): Promise<void> {}
}
