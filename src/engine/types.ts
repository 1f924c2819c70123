/**
 * The Engine: one method per atomic operation, in raw units (tokens, integer
 * micro-dollars, ms of the engine's clock). RedisEngine runs the lua/ scripts;
 * MemoryEngine does the same in process. Both give the same results.
 *
 * Denials are results, not errors. Request errors (an agent or reservation
 * that does not exist, a conflict) and infrastructure failures throw a
 * TollgateError with a code.
 */
import type { PoolInput, PoolStatus, PoolUpdateInput } from './pool-types.js';
import type { Profile } from './profile.js';
import type {
  ReleaseInput,
  ReleaseResult,
  SettleInput,
  SettleResult,
  UsageInput,
  UsageResult,
} from './usage-types.js';

export type { PoolInput, PoolLimits, PoolStatus, PoolUpdateInput } from './pool-types.js';
export type {
  ReleaseInput,
  ReleaseResult,
  SettleInput,
  SettleResult,
  UsageInput,
  UsageResult,
} from './usage-types.js';

export type Actor = 'admin' | 'agent' | 'library' | 'system';
export type AgentStatus = 'active' | 'suspended';
export type DenialCode =
  | 'AGENT_NOT_FOUND'
  | 'AGENT_SUSPENDED'
  | 'RBAC_DENIED'
  | 'BUDGET_EXCEEDED'
  | 'RATE_LIMITED';
/** The budget a BUDGET_EXCEEDED denial names. */
export type Exceeded = 'session' | 'daily' | 'monthly' | 'pool';
/** The period of a pool's cost limit that denied (with `exceeded: 'pool'`). */
export type PoolPeriod = 'daily' | 'monthly';
/** The rate limit a RATE_LIMITED denial names (docs/limits.md). */
export type RateExceeded = 'requests_per_minute' | 'tokens_per_minute';
/** Whose limit denied: the agent's own (`'agent'`), or a pool's: its id (docs/limits.md, "Pools"). */
export type LimitLevel = string;
/** A denial shadow mode let pass (docs/operations.md, "Shadow mode"): its code, limit and pool. */
export interface WouldDeny {
  code: Exclude<DenialCode, 'AGENT_NOT_FOUND' | 'AGENT_SUSPENDED'>;
  exceeded?: Exceeded | RateExceeded;
  poolId?: string;
}
/** Where a reservation stands: held, or closed by a settle, a release or its lease's end. */
export type ReservationState = 'open' | 'settled' | 'released' | 'expired';

export interface Rates {
  model: string;
  inputMicrosPerMillion: number;
  outputMicrosPerMillion: number;
}

/** Everything in a budget status, read in one atomic step. */
export interface EngineStatus {
  agentId: string;
  role: string;
  status: AgentStatus;
  sessionId: string;
  sessionStartedMs: number;
  sessionTokensUsed: number;
  sessionTokensReserved: number;
  sessionTokenLimit: number;
  sessionCostMicros: number;
  dailyCostMicros: number;
  dailyReservedMicros: number;
  dailyLimitMicros: number;
  operationsBlocked: number;
  /** Tokens settled above their holds in this session (usage past the estimate). */
  sessionOverrunTokens: number;
  /** Micro-dollars settled above their holds' cost today. */
  dailyOverrunMicros: number;
  /** The agent's rate limits (docs/limits.md); 0: none. */
  requestsPerMinute: number;
  tokensPerMinute: number;
  /** The agent's time zone (IANA name; 'UTC' by default): its day and month are local to it. */
  timeZone: string;
  /** The local date (yyyymmdd) and month (yyyymm) at nowMs that the daily and monthly figures are of. */
  day: number;
  month: number;
  /** This month's spend and its overrun (micro-dollars), and the monthly limit (0: none). */
  monthlyCostMicros: number;
  monthlyOverrunMicros: number;
  monthlyLimitMicros: number;
  /** The pool the agent belongs to (docs/limits.md, "Pools"); null: none. */
  poolId: string | null;
  nowMs: number;
}

export interface AgentSnapshot {
  status: EngineStatus;
  createdMs: number;
  /** JSON text as stored. */
  metadata: string;
  /**
   * True when the call changed nothing because its effect was there already: a
   * register whose agent exists with the same key digest (the same creation,
   * run twice), an update that sets what is set.
   */
  replayed?: boolean;
}

export interface RegisterInput {
  agentId: string;
  role: string;
  sessionTokenLimit: number;
  dailyLimitMicros: number;
  /** Rate limits (docs/limits.md); absent or 0: none. */
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  /** Micro-dollars a month (local to the zone); absent or 0: none. */
  monthlyLimitMicros?: number;
  /** IANA time zone of the agent's day and month; absent: UTC. */
  timeZone?: string;
  /** The pool the agent belongs to; absent: none. It must exist (else NOT_FOUND, nothing written). */
  poolId?: string;
  keyDigest: string;
  metadata: string;
  actor: Actor;
}

export type UpdateEvent =
  | 'agent_updated'
  | 'agent_suspended'
  | 'agent_resumed'
  | 'key_rotated'
  | 'limits_changed';

export interface UpdateInput {
  agentId: string;
  event: UpdateEvent;
  actor: Actor;
  set: {
    role?: string;
    status?: AgentStatus;
    sessionTokenLimit?: number;
    dailyLimitMicros?: number;
    /** 0: no limit. */
    requestsPerMinute?: number;
    tokensPerMinute?: number;
    /** 0: no limit. */
    monthlyLimitMicros?: number;
    /** IANA name; 'UTC' for UTC. */
    timeZone?: string;
    keyDigest?: string;
    metadata?: string;
  };
}

export interface SessionInput {
  agentId: string;
  /** When given, the session to end: it must be the current one (or the one just ended: a replay). */
  endSessionId?: string;
  /**
   * The new session's id, `<agentId>.<16 hex>`, made by the caller before it
   * sends (absent: the engine makes one). A second run with the same id finds
   * it current and answers the first run's result.
   */
  sessionId?: string;
  actor: Actor;
}

export interface EndedSession {
  sessionId: string;
  startedMs: number;
  tokensUsed: number;
  costMicros: number;
  operationsBlocked: number;
  dailyCostMicros: number;
}

export interface SessionChange {
  ended: EndedSession;
  status: EngineStatus;
  /** True when this answers an earlier run (same new session id, or the session already ended). */
  replayed: boolean;
}

interface AuthorizeCommon {
  agentId: string;
  estimatedTokens: number;
  requestId?: string;
  /** sha-256 hex of the caller's agent key; absent for admin and library callers. */
  keyDigest?: string;
  /**
   * The hold's exact cost in micro-dollars, priced by trusted code (a model
   * call's price from src/models); absent: `estimatedTokens` at the profile's
   * hold rate. Never taken from an HTTP body (docs/engine.md#priced-holds-and-settles).
   */
  holdCostMicros?: number;
  actor: Actor;
}

/**
 * An authorize: the operation's compiled profile (`policy.profile(operation,
 * model)`, checked once when the policy was loaded), or the raw values, which
 * are checked and compiled on every call (docs/engine.md#profiles).
 */
export type AuthorizeInput =
  | (AuthorizeCommon & { profile: Profile })
  | (AuthorizeCommon & {
      operation: string;
      rates: Rates;
      leaseMs: number;
      /** Roles the policy allows for the operation. */
      allowedRoles: readonly string[];
      profile?: undefined;
    });

export type AuthorizeResult =
  | {
      allowed: true;
      reservationId: string;
      leaseEndMs: number;
      holdCostMicros: number;
      /** True when this answers an earlier decision (its request id, or its nonce run
       * twice): the earlier hold is returned, nothing new held. */
      replayed: boolean;
      /** The reservation's state now ('open' for a new hold). */
      reservationState: ReservationState;
      status: EngineStatus;
      /** Shadow mode: the denial it let pass (absent: none; a replay never has one). */
      wouldDeny?: WouldDeny;
    }
  | {
      allowed: false;
      code: DenialCode;
      exceeded?: Exceeded | RateExceeded;
      /**
       * RATE_LIMITED and BUDGET_EXCEEDED: whose limit denied ('agent', or a
       * pool's id); RATE_LIMITED: the ms until the limits would allow the request.
       */
      level?: LimitLevel;
      retryAfterMs?: number;
      /** `exceeded: 'pool'`: the pool whose cost limit denied, and which period. */
      poolId?: string;
      period?: PoolPeriod;
      /** True when this answers an earlier denial of the same request id (nothing counted again). */
      replayed: boolean;
      /** Null only for AGENT_NOT_FOUND. */
      status: EngineStatus | null;
    };

/** One step of the background sweep of a shard (see Engine.sweepShard). */
export interface SweepResult {
  /** Where the next step starts; '0' when the shard's agents were all visited. */
  cursor: string;
  /** Agents visited in this step. */
  agents: number;
  /** Holds freed because their lease passed. */
  freed: number;
}

/** One outbox entry: the flat fields the script appended, as text. */
export interface OutboxEntry {
  shard: number;
  streamId: string;
  fields: Record<string, string>;
}

export interface AgentRecordRaw extends AgentSnapshot {
  keyDigest: string;
}

export interface Engine {
  readonly kind: 'memory' | 'redis';
  readonly shards: number;
  registerAgent(input: RegisterInput): Promise<AgentSnapshot>;
  updateAgent(input: UpdateInput): Promise<AgentSnapshot>;
  deleteAgent(agentId: string, actor: Actor): Promise<EngineStatus>;
  startSession(input: SessionInput): Promise<SessionChange>;
  authorize(input: AuthorizeInput): Promise<AuthorizeResult>;
  settle(input: SettleInput): Promise<SettleResult>;
  release(input: ReleaseInput): Promise<ReleaseResult>;
  recordUsage(input: UsageInput): Promise<UsageResult>;
  status(agentId: string): Promise<EngineStatus | null>;
  getAgent(agentId: string): Promise<AgentRecordRaw | null>;
  listAgents(): Promise<AgentSnapshot[]>;
  /** A new pool; CONFLICT when the id is taken, NOT_FOUND for a missing parent, VALIDATION_FAILED past three levels. */
  createPool(input: PoolInput): Promise<PoolStatus>;
  updatePool(input: PoolUpdateInput): Promise<PoolStatus>;
  /** Refused (CONFLICT, details.reason 'pool_not_empty', agents, pools) while agents or pools are in it. */
  deletePool(poolId: string, actor: Actor): Promise<PoolStatus>;
  poolStatus(poolId: string): Promise<PoolStatus | null>;
  listPools(): Promise<PoolStatus[]>;
  /**
   * Puts the agent in `poolId` (null: in no pool). Its open holds stay charged
   * to the pools they were made under, and settle there.
   */
  moveAgent(agentId: string, poolId: string | null, actor: Actor): Promise<AgentSnapshot>;
  /** Every event still in the outbox, oldest first per shard (tests, and the drain later). */
  readOutbox(shard?: number): Promise<OutboxEntry[]>;
  /** Holds freed so far because their lease passed (all shards; a metric). */
  expiredLeasesFreed(): Promise<number>;
  /**
   * One bounded step of the background sweep of `shard`, from `cursor` ('0':
   * the start): frees the expired holds of the agents it visits and forgets
   * their idempotency records past their time. Call again with the returned
   * cursor until it is '0'.
   */
  sweepShard(shard: number, cursor: string): Promise<SweepResult>;
  /** Test only: shift the engine's clock (added to Redis TIME by the scripts). */
  setClockOffsetForTests(ms: number): void;
  close(): Promise<void>;
}
