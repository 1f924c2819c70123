import type { Cluster, Redis } from 'ioredis';
import { Code, notReady } from '../../codes.js';
import { AgentKeyCache, DEFAULT_SHARDS } from '../../keys.js';
import { RandomPool } from '../../random.js';
import type { EngineStatus } from '../../types.js';
import { checkShard, MAX_FREE_PER_CALL } from '../../validate.js';
import { type RecoveryOptions, ShardRecoverer, type ShardRecovery } from '../recovery.js';
import { type Scalar, type ScriptName, type ScriptObserver, Scripts } from '../scripts.js';
import { StateReader } from '../state.js';
import { storeErrors } from '../store-errors.js';
import { Whereabouts } from './whereabouts.js';

export interface RedisEngineOptions {
  /** An ioredis client or Cluster. */
  client: Redis | Cluster;
  /** Close the client on close() (true when Tollgate created it). */
  ownsClient?: boolean;
  /** Shards per deployment (fixed once data exists). Default 16. */
  shards?: number;
  /** Most expired holds one script call frees. Default 2048 (docs/engine.md). */
  maxFreePerCall?: number;
  observer?: ScriptObserver;
  /**
   * How long a script call is repeated (the same arguments: every script is
   * safe to run twice) while Redis answers with a failover's error. Default
   * 8,000 ms; 0: never repeated.
   */
  failoverRetryMs?: number;
  /**
   * Replicas that must acknowledge a write that settles money (settle, usage,
   * register, agent updates such as limit changes) before it is answered
   * (Redis WAIT after the script, on its connection). Default 0: Redis's
   * asynchronous replication, which a failover can lose the last writes of
   * (docs/recovery.md). Too few replicas in `waitTimeoutMs`: STORE_UNAVAILABLE,
   * retryable with the same ids.
   */
  waitReplicas?: number;
  /** How long WAIT waits for `waitReplicas`. Default 1,000 ms. */
  waitTimeoutMs?: number;
  /** Most decisions (or settles) of one shard sent in one script call. Default 128. */
  maxBatch?: number;
  /** Most batches of one shard on the way at once. Default 2. */
  maxInFlight?: number;
  /**
   * Recovery of a shard that lost its data (docs/recovery.md): where it is
   * restored from (the durable store) and where warnings go. Without a
   * source, a shard with no ready marker is marked ready with nothing restored.
   */
  recovery?: RecoveryOptions;
}

/**
 * A value of a script's reply, read as binary (`runBuffer`): integers as
 * numbers, bulk strings as Buffers (the packed agent state is binary), arrays
 * as arrays.
 */
export type ReplyValue = number | Buffer | ReplyValue[];

/** The scripts whose writes settle money: they wait for replicas when asked (waitReplicas). */
const WAITED: ReadonlySet<ScriptName> = new Set<ScriptName>([
  'settle',
  'recordUsage',
  'registerAgent',
  'updateAgent',
  'moveAgent',
  'copyAgent',
  'closeLeftHold',
  'createPool',
  'updatePool',
]);

/** The shard in a key's hash tag `tg:{s<n>}:`. */
function shardOfKey(key: string): number {
  return Number(/^tg:\{s(\d+)\}:/.exec(key)?.[1] ?? Number.NaN);
}

/** A reply value as text (a bulk string, or a number). */
export function text(v: ReplyValue | undefined): string {
  return Buffer.isBuffer(v) ? v.toString('utf8') : v === undefined ? '' : String(v);
}

/**
 * What every operation of RedisEngine shares (src/engine/redis/ops/<op>.ts
 * each take it): the client and its scripts, the key names, randomness, the
 * clock offset, the bounds, shard recovery, and what an operation keeps for
 * the engine's life (its batcher, `once`). One per RedisEngine.
 */
export class OpContext {
  readonly client: Redis | Cluster;
  readonly scripts: Scripts;
  readonly shards: number;
  /** Most expired holds one call frees (ARGV maxFree). */
  readonly maxFree: number;
  readonly maxBatch: number | undefined;
  readonly maxInFlight: number | undefined;
  readonly rnd = new RandomPool();
  /** Key names per agent id (src/engine/keys.ts), built once each. */
  readonly keys: AgentKeyCache;
  readonly recoverer: ShardRecoverer;
  /** Reads the packed agent state every script answers. */
  readonly state = new StateReader();
  /** Where agents that live away from their home shard live, and pools' roots (a cache). */
  readonly where = new Whereabouts();
  /** Test-only clock shift, added to Redis TIME by the scripts (ARGV[1]). */
  offsetMs = 0;
  /** Replicas the money-settling scripts wait for (WAIT); 0: none. */
  readonly waitReplicas: number;
  private readonly waitTimeoutMs: number;
  private readonly owned = new Map<string, unknown>();

  constructor(opts: RedisEngineOptions) {
    this.client = opts.client;
    this.shards = opts.shards ?? DEFAULT_SHARDS;
    this.maxFree = opts.maxFreePerCall ?? MAX_FREE_PER_CALL;
    this.maxBatch = opts.maxBatch;
    this.maxInFlight = opts.maxInFlight;
    this.waitReplicas = opts.waitReplicas ?? 0;
    this.waitTimeoutMs = opts.waitTimeoutMs ?? 1_000;
    this.scripts = new Scripts(opts.client, opts.observer, opts.failoverRetryMs);
    this.keys = new AgentKeyCache(this.shards);
    this.recoverer = new ShardRecoverer(
      opts.client,
      this.scripts,
      this.shards,
      () => this.offsetMs,
      this.rnd,
      opts.recovery,
    );
  }

  /** The engine's one value named `name` (an operation's batcher), made on first use. */
  once<T>(name: string, make: () => T): T {
    let v = this.owned.get(name) as T | undefined;
    if (v === undefined) {
      v = make();
      this.owned.set(name, v);
    }
    return v;
  }

  /**
   * One script call, its reply read as binary; with `waitReplicas`, a write
   * that settles money waits for the replicas. Store failures become
   * STORE_UNAVAILABLE or INTERNAL (store-errors.ts).
   */
  run(name: ScriptName, keys: readonly string[], args: readonly Scalar[]): Promise<ReplyValue[]> {
    const p =
      this.waitReplicas > 0 && WAITED.has(name)
        ? this.scripts.runWaiting(name, keys, args, this.waitReplicas, this.waitTimeoutMs, true)
        : this.scripts.runBuffer(name, keys, args);
    return storeErrors(p as Promise<ReplyValue[]>);
  }

  /**
   * `run` for an agent script (its KEYS[1] a key of the agent's shard), whose
   * reply is `{ code, details, state, nowMs }` (each lua/<op>-<n>.lua header;
   * `state` the packed state, read by `status`), or `{ code }` when the code
   * carries nothing. On SHARD_NOT_READY (no agent and no ready
   * marker: Redis may have lost the shard; nothing was written) restores the
   * shard, then calls once more. The usual path pays one comparison.
   */
  async runAgent(
    name: ScriptName,
    keys: readonly string[],
    args: readonly Scalar[],
  ): Promise<ReplyValue[]> {
    const r = await this.run(name, keys, args);
    if (r[0] !== Code.SHARD_NOT_READY) return r;
    const shard = shardOfKey(keys[0] as string);
    await storeErrors(this.recoverer.ensure(shard));
    const again = await this.run(name, keys, args);
    if (again[0] === Code.SHARD_NOT_READY) throw notReady(shard);
    return again;
  }

  /**
   * Restores `shard` from the recovery source unless its ready marker is set
   * (what a call that meets SHARD_NOT_READY does first). Safe at any time: an
   * agent Redis still has is never overwritten.
   */
  recover(shard: number): Promise<ShardRecovery> {
    checkShard(shard, this.shards);
    return this.recoverer.ensure(shard);
  }

  /** The budget status of a reply's packed state at its nowMs. */
  status(
    agentId: string,
    state: ReplyValue | undefined,
    nowMs: ReplyValue | undefined,
  ): EngineStatus {
    return this.state.statusOf(agentId, state as Buffer, Number(nowMs));
  }
}
