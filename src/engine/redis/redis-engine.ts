import type { Cluster, Redis } from 'ioredis';
import { TollgateError } from '../../errors.js';
import { Code, denialOf } from '../codes.js';
import { checkAgentId } from '../ids.js';
import { AgentKeyCache, DEFAULT_SHARDS, indexKey, outboxKey, statsKey } from '../keys.js';
import { unpackEntry } from '../outbox-format.js';
import { RandomPool } from '../random.js';
import type {
  Actor,
  AgentRecordRaw,
  AgentSnapshot,
  AuthorizeInput,
  AuthorizeResult,
  Engine,
  EngineStatus,
  OutboxEntry,
  RegisterInput,
  ReleaseInput,
  ReleaseResult,
  ReservationState,
  SessionChange,
  SessionInput,
  SettleInput,
  SettleResult,
  SweepResult,
  UpdateInput,
  UsageInput,
  UsageResult,
} from '../types.js';
import {
  CheckMemo,
  checkAuthorize,
  checkRegister,
  checkRelease,
  checkSession,
  checkSettle,
  checkUpdate,
  checkUsage,
  MAX_FREE_PER_CALL,
} from '../validate.js';
import {
  AuthorizeBatcher,
  type DecisionArgs,
  type Profile,
  type ReplyValue,
} from './authorize-batcher.js';
import {
  type RecoveryOptions,
  type RecoverySource,
  ShardRecoverer,
  type ShardRecovery,
} from './recovery.js';
import { parseStatus } from './replies.js';
import {
  type Scalar,
  type ScriptKeys,
  type ScriptName,
  type ScriptObserver,
  type ScriptReply,
  Scripts,
} from './scripts.js';
import { statusFromState } from './state.js';
import { storeErrors } from './store-errors.js';

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
   * 6,000 ms; 0: never repeated.
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
  /** Most authorize decisions of one shard sent in one script call. Default 128. */
  maxBatch?: number;
  /** Most authorize batches of one shard on the way at once. Default 2. */
  maxInFlight?: number;
  /**
   * Recovery of a shard that lost its data (docs/recovery.md): where it is
   * restored from (the durable store) and where warnings go. Without a
   * source, a shard with no ready marker is marked ready with nothing restored.
   */
  recovery?: RecoveryOptions;
}

/** The scripts that answer SHARD_NOT_READY (their KEYS[1] is the agent hash). */
type AgentScript = Exclude<
  ScriptName,
  'authorizeBatch' | 'listAgents' | 'sweepShard' | 'beginRecovery' | 'restoreAgent' | 'endRecovery'
>;

/** The scripts whose writes settle money: they wait for replicas when asked (waitReplicas). */
const WAITED: ReadonlySet<ScriptName> = new Set<ScriptName>([
  'settle',
  'recordUsage',
  'registerAgent',
  'updateAgent',
]);

/** The shard in a key's hash tag `tg:{s<n>}:`. */
function shardOfKey(key: string): number {
  const m = /^tg:\{s(\d+)\}:/.exec(key);
  if (!m) throw new TollgateError('INTERNAL', `Not a shard key: ${key}`);
  return Number(m[1]);
}

const UPDATE_FIELDS = {
  role: 'role',
  status: 'status',
  sessionTokenLimit: 's_limit',
  dailyLimitMicros: 'd_limit',
  keyDigest: 'digest',
  metadata: 'meta',
} as const;

export class RedisEngine implements Engine {
  readonly kind = 'redis' as const;
  readonly shards: number;
  private readonly client: Redis | Cluster;
  private readonly scripts: Scripts;
  private readonly rnd = new RandomPool();
  private readonly maxFree: number;
  private readonly ownsClient: boolean;
  private readonly waitReplicas: number;
  private readonly waitTimeoutMs: number;
  private offsetMs = 0;
  private readonly keyCache: AgentKeyCache;
  private readonly recoverer: ShardRecoverer;
  private readonly batcher: AuthorizeBatcher;
  private readonly profiles = new Map<string, Profile>();
  /** What authorize has checked already (policy objects, agent ids that passed their pattern). */
  private readonly checks = new CheckMemo();
  private readonly checkedIds = new Set<string>();
  /** Per operation, the last profile and the values it was made from (see profileOf). */
  private readonly lastProfile = new Map<
    string,
    {
      rates: AuthorizeInput['rates'];
      roles: AuthorizeInput['allowedRoles'];
      leaseMs: number;
      actor: AuthorizeInput['actor'];
      profile: Profile;
    }
  >();
  /** Allowed-role lists (cached per operation by the policy) packed as `|a|b|` for the script. */
  private readonly packedRoles = new WeakMap<readonly string[], string>();

  constructor(opts: RedisEngineOptions) {
    this.client = opts.client;
    this.shards = opts.shards ?? DEFAULT_SHARDS;
    this.maxFree = opts.maxFreePerCall ?? MAX_FREE_PER_CALL;
    this.ownsClient = opts.ownsClient ?? false;
    this.waitReplicas = opts.waitReplicas ?? 0;
    this.waitTimeoutMs = opts.waitTimeoutMs ?? 1_000;
    this.scripts = new Scripts(opts.client, opts.observer, opts.failoverRetryMs);
    this.keyCache = new AgentKeyCache(this.shards);
    this.batcher = new AuthorizeBatcher(
      this.shards,
      this.sendBatch,
      opts.maxBatch,
      opts.maxInFlight,
    );
    this.recoverer = new ShardRecoverer(
      opts.client,
      this.scripts,
      this.shards,
      () => this.offsetMs,
      this.rnd,
      opts.recovery,
    );
  }

  /**
   * Sets where shards that lost their data are restored from (createTollgate
   * calls it with the durable store) and where recovery warnings go.
   */
  configureRecovery(opts: { source?: RecoverySource; warn?: (message: string) => void }): void {
    this.recoverer.configure(opts);
  }

  /**
   * Calls `listener` after each shard this engine found without its ready
   * marker and restored (or marked ready with nothing to restore): Redis lost
   * that shard's data. The audit worker listens to put its own Redis state
   * back at once (src/audit/drain/heal.ts). Returns the unsubscribe.
   */
  onRecovery(listener: (r: ShardRecovery) => void): () => void {
    return this.recoverer.onRecovery(listener);
  }

  /**
   * Restores `shard` from the recovery source unless its ready marker is set
   * (what a call that meets SHARD_NOT_READY does first). Safe to call at any
   * time: an agent Redis still has is never overwritten.
   */
  async recoverShard(shard: number): Promise<ShardRecovery> {
    if (!Number.isInteger(shard) || shard < 0 || shard >= this.shards) {
      throw new TollgateError('VALIDATION_FAILED', `No shard ${shard}`, { shard });
    }
    return this.recoverer.ensure(shard);
  }

  /**
   * Runs an agent script; on SHARD_NOT_READY (the agent is missing and so is
   * the shard's ready marker: Redis may have lost the shard) restores the
   * shard, then runs the script once more (the first call wrote nothing).
   * The allowed path pays one comparison, no Redis call.
   */
  private async runAgent<S extends AgentScript>(
    name: S,
    keys: ScriptKeys<S>,
    args: readonly Scalar[],
  ): Promise<ScriptReply> {
    const r = await this.runOnce(name, keys, args);
    if (r[0] !== Code.SHARD_NOT_READY) return r;
    const shard = shardOfKey(keys[0]);
    await this.recoverer.ensure(shard);
    const again = await this.runOnce(name, keys, args);
    if (again[0] === Code.SHARD_NOT_READY) throw notReady(shard);
    return again;
  }

  /** One script call; with `waitReplicas`, the writes that settle money wait for replicas. */
  private runOnce<S extends AgentScript>(
    name: S,
    keys: ScriptKeys<S>,
    args: readonly Scalar[],
  ): Promise<ScriptReply> {
    if (this.waitReplicas > 0 && WAITED.has(name)) {
      return this.scripts.runWaiting(name, keys, args, this.waitReplicas, this.waitTimeoutMs);
    }
    return this.scripts.run(name, keys, args) as Promise<ScriptReply>;
  }

  /**
   * Every time this process found a shard without its ready marker (Redis lost
   * the shard, or a new deployment): how many times, and the last ones (shard,
   * when, what was restored). /readyz and the metrics show them.
   */
  shardRecoveries(): { total: number; recent: readonly ShardRecovery[] } {
    return { total: this.recoverer.wipes, recent: this.recoverer.history };
  }

  /** The engine's Redis client (read-only: for the audit backlog, /readyz and GET /v1/audit/lag). */
  get redisClient(): Redis | Cluster {
    return this.client;
  }

  setClockOffsetForTests(ms: number): void {
    this.offsetMs = ms;
  }

  private keys(agentId: string) {
    return this.keyCache.get(agentId);
  }

  private rolesArg(roles: readonly string[]): string {
    let packed = this.packedRoles.get(roles);
    if (packed === undefined) {
      packed = `|${roles.join('|')}|`;
      this.packedRoles.set(roles, packed);
    }
    return packed;
  }

  /** register and update answer { code, { createdMs, metadata, replayed }, statusTuple }. */
  private snapshot(agentId: string, r: ScriptReply): AgentSnapshot {
    return {
      status: parseStatus(agentId, r[2]),
      createdMs: Number(r[1][0]),
      metadata: String(r[1][1] ?? '{}'),
      replayed: Number(r[1][2]) === 1,
    };
  }

  async registerAgent(i: RegisterInput): Promise<AgentSnapshot> {
    checkRegister(i);
    const k = this.keys(i.agentId);
    const r = await storeErrors(
      this.runAgent(
        'registerAgent',
        [k.agent, k.index, k.outbox],
        [
          this.offsetMs,
          i.agentId,
          i.role,
          i.sessionTokenLimit,
          i.dailyLimitMicros,
          i.keyDigest,
          i.metadata,
          `${i.agentId}.${this.rnd.nonce()}`,
          this.rnd.eventTail(),
          i.actor,
        ],
      ),
    );
    if (r[0] === Code.CONFLICT) {
      throw new TollgateError('CONFLICT', `Agent ${i.agentId} already exists`, {
        agent_id: i.agentId,
      });
    }
    return this.snapshot(i.agentId, r);
  }

  async updateAgent(i: UpdateInput): Promise<AgentSnapshot> {
    checkUpdate(i);
    const k = this.keys(i.agentId);
    const pairs: (string | number)[] = [];
    for (const [name, field] of Object.entries(UPDATE_FIELDS)) {
      const v = i.set[name as keyof typeof UPDATE_FIELDS];
      if (v !== undefined) pairs.push(field, v);
    }
    const r = await storeErrors(
      this.runAgent(
        'updateAgent',
        [k.agent, k.outbox],
        [this.offsetMs, i.agentId, i.event, this.rnd.eventTail(), i.actor, ...pairs],
      ),
    );
    if (r[0] === Code.AGENT_NOT_FOUND) throw notFound(i.agentId);
    return this.snapshot(i.agentId, r);
  }

  async deleteAgent(agentId: string, actor: Actor): Promise<EngineStatus> {
    checkAgentId(agentId);
    const k = this.keys(agentId);
    const r = await storeErrors(
      this.runAgent(
        'deleteAgent',
        [k.agent, k.index, k.leases, k.outbox],
        [this.offsetMs, agentId, this.rnd.eventTail(), actor, this.rnd.nonce()],
      ),
    );
    if (r[0] === Code.AGENT_NOT_FOUND) throw notFound(agentId);
    return parseStatus(agentId, r[2]);
  }

  async startSession(i: SessionInput): Promise<SessionChange> {
    checkSession(i);
    const k = this.keys(i.agentId);
    const r = await storeErrors(
      this.runAgent(
        'startSession',
        [k.agent, k.leases, k.outbox],
        [
          this.offsetMs,
          i.agentId,
          i.sessionId ?? `${i.agentId}.${this.rnd.nonce()}`,
          i.endSessionId ?? '',
          this.rnd.eventTail(),
          i.actor,
          this.maxFree,
        ],
      ),
    );
    if (r[0] === Code.AGENT_NOT_FOUND) throw notFound(i.agentId);
    if (r[0] === Code.CONFLICT) {
      throw new TollgateError('CONFLICT', 'session_id is already used', {
        session_id: i.sessionId,
      });
    }
    if (r[0] === Code.SESSION_NOT_FOUND) {
      throw new TollgateError('NOT_FOUND', 'Session not found or already ended', {
        session_id: i.endSessionId,
      });
    }
    const e = r[1];
    return {
      ended: {
        sessionId: String(e[0]),
        startedMs: Number(e[1]),
        tokensUsed: Number(e[2]),
        costMicros: Number(e[3]),
        operationsBlocked: Number(e[4]),
        dailyCostMicros: Number(e[5]),
      },
      status: parseStatus(i.agentId, r[2]),
      replayed: Number(e[6]) === 1,
    };
  }

  async authorize(i: AuthorizeInput): Promise<AuthorizeResult> {
    checkAuthorize(i, this.checks, this.checkedIds.has(i.agentId));
    if (this.checkedIds.size >= 100_000) this.checkedIds.clear();
    this.checkedIds.add(i.agentId);
    const shard = this.keys(i.agentId).shard;
    const profile = this.profileOf(i);
    const decision: DecisionArgs = [
      i.agentId,
      i.estimatedTokens,
      this.rnd.nonce(),
      i.requestId ?? '',
      i.keyDigest ?? '',
    ];
    let d = await this.batcher.submit(shard, profile, decision);
    if (d[0] === Code.SHARD_NOT_READY) {
      // Nothing was written: restore the shard, then decide once more.
      await this.recoverer.ensure(shard);
      d = await this.batcher.submit(shard, profile, decision);
      if (d[0] === Code.SHARD_NOT_READY) throw notReady(shard);
    }
    const code = Number(d[0]);
    const now = Number(d[d.length - 1]);
    if (code === Code.OK) {
      return {
        allowed: true,
        reservationId: `${i.agentId}.${decision[2]}`,
        leaseEndMs: now + i.leaseMs,
        holdCostMicros: Number(d[2]),
        replayed: false,
        reservationState: 'open',
        status: statusFromState(i.agentId, d[1] as Buffer, now),
      };
    }
    if (code === Code.REPLAYED) {
      return {
        allowed: true,
        reservationId: `${i.agentId}.${String(d[3])}`,
        leaseEndMs: Number(d[4]),
        holdCostMicros: Number(d[2]),
        replayed: true,
        reservationState: RES_STATES[Number(d[5])] ?? 'open',
        status: statusFromState(i.agentId, d[1] as Buffer, now),
      };
    }
    requestErrors(code, i.agentId);
    if (code === Code.AGENT_NOT_FOUND) {
      return { allowed: false, code: 'AGENT_NOT_FOUND', replayed: false, status: null };
    }
    const replayed = code === Code.REPLAYED_DENIAL;
    const denial = denialOf(replayed ? Number(d[2]) : code);
    if (!denial) throw unexpected('authorizeBatch', code);
    return {
      allowed: false,
      ...denial,
      replayed,
      status: statusFromState(i.agentId, d[1] as Buffer, now),
    };
  }

  /**
   * The profile of a decision (what the decisions of one operation share, sent
   * once per batch): one array per distinct set of values, reused, so that the
   * batcher can match them by identity.
   */
  private profileOf(i: AuthorizeInput): Profile {
    // The last profile of this operation, if made from the same values: callers pass
    // the policy's own (frozen) rates and role lists, so identity finds it without a key
    // text. Objects that can change are never remembered by identity (see below).
    const last = this.lastProfile.get(i.operation);
    if (
      last !== undefined &&
      last.rates === i.rates &&
      last.roles === i.allowedRoles &&
      last.leaseMs === i.leaseMs &&
      last.actor === i.actor
    ) {
      return last.profile;
    }
    const profile = this.profileByKey(i);
    if (!Object.isFrozen(i.rates) || !Object.isFrozen(i.allowedRoles)) return profile;
    if (this.lastProfile.size >= 10_000) this.lastProfile.clear();
    this.lastProfile.set(i.operation, {
      rates: i.rates,
      roles: i.allowedRoles,
      leaseMs: i.leaseMs,
      actor: i.actor,
      profile,
    });
    return profile;
  }

  private profileByKey(i: AuthorizeInput): Profile {
    const roles = this.rolesArg(i.allowedRoles);
    const r = i.rates;
    const key = `${i.operation}|${r.model}|${r.inputMicrosPerMillion}|${r.outputMicrosPerMillion}|${i.leaseMs}|${i.actor}|${roles}`;
    let p = this.profiles.get(key);
    if (p === undefined) {
      if (this.profiles.size >= 10_000) this.profiles.clear();
      p = [
        i.operation,
        r.model,
        r.inputMicrosPerMillion,
        r.outputMicrosPerMillion,
        i.leaseMs,
        i.actor,
        roles,
      ];
      this.profiles.set(key, p);
    }
    return p;
  }

  /** One script call for a shard's queued decisions (the batcher's sender). */
  private readonly sendBatch = (shard: number, args: Scalar[]): Promise<ReplyValue[]> =>
    storeErrors(
      this.scripts.runBuffer(
        'authorizeBatch',
        [outboxKey(shard)],
        [this.offsetMs, this.rnd.eventTail(), this.maxFree, ...args],
      ) as Promise<ReplyValue[]>,
    );

  async settle(i: SettleInput): Promise<SettleResult> {
    const { agentId, nonce } = checkSettle(i);
    const k = this.keys(agentId);
    const r = await storeErrors(
      this.runAgent(
        'settle',
        [k.agent, k.leases, k.outbox],
        [
          this.offsetMs,
          agentId,
          nonce,
          nonce === '' ? (i.operation ?? '') : '',
          i.inputTokens,
          i.outputTokens,
          i.result,
          i.keyDigest ?? '',
          this.rnd.eventTail(),
          i.actor,
          this.maxFree,
          nonce === '' ? (i.usageId ?? `u-${this.rnd.nonce()}`) : '',
        ],
      ),
    );
    const code = r[0];
    const d = r[1];
    if (code === Code.IDEMPOTENCY_CONFLICT) {
      // By operation: the usage id recorded another settle; by reservation: what was recorded.
      if (nonce === '') throw usageConflict(agentId, i.usageId);
      throw settleConflict(d);
    }
    requestErrors(code, agentId);
    if (nonce !== '' && (code === Code.AGENT_NOT_FOUND || code === Code.RESERVATION_NOT_FOUND)) {
      throw reservationNotFound(i);
    }
    if (code === Code.AGENT_NOT_FOUND) throw notFound(agentId);
    return {
      outcome: code === Code.OK ? 'settled' : code === Code.NO_HOLD ? 'no_hold' : 'already_closed',
      reservationId: String(d[0] ?? ''),
      costMicros: Number(d[1] ?? 0),
      overrunTokens: Number(d[2] ?? 0),
      overrunMicros: Number(d[3] ?? 0),
      status: parseStatus(agentId, r[2]),
    };
  }

  async release(i: ReleaseInput): Promise<ReleaseResult> {
    const { agentId, nonce } = checkRelease(i);
    const k = this.keys(agentId);
    const r = await storeErrors(
      this.runAgent(
        'release',
        [k.agent, k.leases, k.outbox],
        [
          this.offsetMs,
          agentId,
          nonce,
          i.keyDigest ?? '',
          this.rnd.eventTail(),
          i.actor,
          this.maxFree,
        ],
      ),
    );
    requestErrors(r[0], agentId);
    if (r[0] === Code.AGENT_NOT_FOUND || r[0] === Code.RESERVATION_NOT_FOUND) {
      throw reservationNotFound(i);
    }
    return {
      outcome: r[0] === Code.OK ? 'released' : 'already_closed',
      reservationId: i.reservationId,
      status: parseStatus(agentId, r[2]),
    };
  }

  async recordUsage(i: UsageInput): Promise<UsageResult> {
    checkUsage(i);
    const k = this.keys(i.agentId);
    const r = await storeErrors(
      this.runAgent(
        'recordUsage',
        [k.agent, k.leases, k.outbox],
        [
          this.offsetMs,
          i.agentId,
          i.operation ?? '',
          i.inputTokens,
          i.outputTokens,
          i.rates.inputMicrosPerMillion,
          i.rates.outputMicrosPerMillion,
          i.rates.model,
          i.result,
          i.keyDigest ?? '',
          this.rnd.eventTail(),
          i.actor,
          this.maxFree,
          i.usageId ?? `u-${this.rnd.nonce()}`,
        ],
      ),
    );
    if (r[0] === Code.IDEMPOTENCY_CONFLICT) throw usageConflict(i.agentId, i.usageId);
    requestErrors(r[0], i.agentId);
    if (r[0] === Code.AGENT_NOT_FOUND) throw notFound(i.agentId);
    return {
      costMicros: Number(r[1][1]),
      replayed: r[0] === Code.ALREADY_CLOSED,
      status: parseStatus(i.agentId, r[2]),
    };
  }

  async status(agentId: string): Promise<EngineStatus | null> {
    const r = await this.statusReply(agentId);
    return r[0] === Code.OK ? parseStatus(agentId, r[2]) : null;
  }

  /** getStatus-3's reply: { code, { keyDigest, createdMs, metadata }, statusTuple }. */
  private statusReply(agentId: string): Promise<ScriptReply> {
    checkAgentId(agentId);
    const k = this.keys(agentId);
    return storeErrors(
      this.runAgent(
        'getStatus',
        [k.agent, k.leases, k.outbox],
        [this.offsetMs, agentId, this.rnd.eventTail(), this.maxFree],
      ),
    );
  }

  async getAgent(agentId: string): Promise<AgentRecordRaw | null> {
    const r = await this.statusReply(agentId);
    if (r[0] !== Code.OK) return null;
    return {
      status: parseStatus(agentId, r[2]),
      createdMs: Number(r[1][1]),
      metadata: String(r[1][2] ?? '{}'),
      keyDigest: String(r[1][0] ?? ''),
    };
  }

  async listAgents(): Promise<AgentSnapshot[]> {
    const shards = Array.from({ length: this.shards }, (_, s) => s);
    const replies = await storeErrors(Promise.all(shards.map((s) => this.listShard(s))));
    const out: AgentSnapshot[] = [];
    for (const rows of replies) {
      for (const [id, created, meta, tuple] of rows) {
        out.push({ status: parseStatus(id, tuple), createdMs: Number(created), metadata: meta });
      }
    }
    return out.sort((a, b) => a.status.agentId.localeCompare(b.status.agentId));
  }

  private async listShard(shard: number) {
    const r = await this.scripts.run('listAgents', [indexKey(shard)], [this.offsetMs]);
    if (typeof r !== 'number') return r;
    if (r !== Code.SHARD_NOT_READY) throw unexpected('listAgents', r);
    await this.recoverer.ensure(shard);
    const again = await this.scripts.run('listAgents', [indexKey(shard)], [this.offsetMs]);
    if (typeof again === 'number') throw notReady(shard);
    return again;
  }

  async expiredLeasesFreed(): Promise<number> {
    const counts = await storeErrors(
      Promise.all(
        Array.from({ length: this.shards }, (_, s) =>
          this.client.hget(statsKey(s), 'leases_freed'),
        ),
      ),
    );
    return counts.reduce((sum, c) => sum + Number(c ?? 0), 0);
  }

  async sweepShard(shard: number, cursor: string): Promise<SweepResult> {
    if (!Number.isInteger(shard) || shard < 0 || shard >= this.shards) {
      throw new TollgateError('VALIDATION_FAILED', `No shard ${shard}`, { shard });
    }
    const [next, agents, freed] = await storeErrors(
      this.scripts.run(
        'sweepShard',
        [indexKey(shard), outboxKey(shard)],
        [this.offsetMs, cursor, SWEEP_COUNT, this.maxFree, this.rnd.eventTail()],
      ),
    );
    return { cursor: String(next), agents: Number(agents), freed: Number(freed) };
  }

  async readOutbox(shard?: number): Promise<OutboxEntry[]> {
    const shards = shard === undefined ? Array.from({ length: this.shards }, (_, s) => s) : [shard];
    const out: OutboxEntry[] = [];
    for (const s of shards) {
      const entries = await storeErrors(this.client.xrange(outboxKey(s), '-', '+'));
      for (const [streamId, flat] of entries) {
        for (const fields of unpackEntry(flat)) out.push({ shard: s, streamId, fields });
      }
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.ownsClient) await this.client.quit().catch(() => undefined);
  }
}

/** authorizeBatch's resState values (lua/authorizeBatch-1.lua). */
const RES_STATES: readonly ReservationState[] = ['open', 'settled', 'released', 'expired'];

/** Agents one sweep step visits (the SSCAN COUNT hint). */
const SWEEP_COUNT = 100;

/** A usage id recorded before with other values (or by the other kind of call). */
function usageConflict(agentId: string, usageId: string | undefined): TollgateError {
  return new TollgateError(
    'IDEMPOTENCY_CONFLICT',
    'usage_id was already used for a different usage',
    { agent_id: agentId, usage_id: usageId },
  );
}

/** settle's IDEMPOTENCY_CONFLICT: what was recorded (lua/settle-3.lua's details). */
function settleConflict(d: Scalar[]): TollgateError {
  const state = String(d[4] ?? '');
  const recorded =
    state === 'settled'
      ? {
          state,
          input_tokens: Number(d[5]),
          output_tokens: Number(d[6]),
          result: String(d[7]),
          cost: Number(d[1]),
        }
      : { state };
  return new TollgateError(
    'IDEMPOTENCY_CONFLICT',
    state === 'released'
      ? 'Reservation was released'
      : 'Reservation was already settled with other usage',
    { reservation_id: String(d[0] ?? ''), recorded },
  );
}

function notFound(agentId: string): TollgateError {
  return new TollgateError('NOT_FOUND', `Agent ${agentId} not found`, { agent_id: agentId });
}

function notReady(shard: number): TollgateError {
  return new TollgateError(
    'STORE_UNAVAILABLE',
    `Redis shard ${shard} is not ready after recovery`,
    {
      shard,
    },
  );
}

function reservationNotFound(i: { reservationId?: string }): TollgateError {
  return new TollgateError('RESERVATION_NOT_FOUND', 'Reservation not found', {
    reservation_id: i.reservationId,
  });
}

function unexpected(script: string, code: number): TollgateError {
  return new TollgateError('INTERNAL', `Unexpected status ${code} from ${script}`);
}

/** Codes that are errors of the request, whatever the script. */
function requestErrors(code: number, agentId: string): void {
  if (code === Code.UNAUTHENTICATED) {
    throw new TollgateError('UNAUTHENTICATED', 'Invalid agent key', { agent_id: agentId });
  }
  if (code === Code.IDEMPOTENCY_CONFLICT) {
    throw new TollgateError(
      'IDEMPOTENCY_CONFLICT',
      'request_id was already used for a different request',
      { agent_id: agentId },
    );
  }
}
