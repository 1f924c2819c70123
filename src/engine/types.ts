/**
 * The Engine: one method per atomic operation, in raw units (tokens, integer
 * micro-dollars, ms of the engine's clock). RedisEngine runs the lua/ scripts;
 * MemoryEngine does the same in process. Both give the same results.
 *
 * Denials are results, not errors. Request errors (an agent or reservation
 * that does not exist, a conflict) and infrastructure failures throw a
 * TollgateError with a code.
 */
export type Actor = 'admin' | 'agent' | 'library' | 'system';
export type AgentStatus = 'active' | 'suspended';
export type DenialCode = 'AGENT_NOT_FOUND' | 'AGENT_SUSPENDED' | 'RBAC_DENIED' | 'BUDGET_EXCEEDED';
export type Exceeded = 'session' | 'daily';

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
  nowMs: number;
}

export interface AgentSnapshot {
  status: EngineStatus;
  createdMs: number;
  /** JSON text as stored. */
  metadata: string;
}

export interface RegisterInput {
  agentId: string;
  role: string;
  sessionTokenLimit: number;
  dailyLimitMicros: number;
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
    keyDigest?: string;
    metadata?: string;
  };
}

export interface SessionInput {
  agentId: string;
  /** When given, the session to end: it must be the current one. */
  endSessionId?: string;
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
}

export interface AuthorizeInput {
  agentId: string;
  operation: string;
  estimatedTokens: number;
  rates: Rates;
  leaseMs: number;
  /** Roles the policy allows for the operation. */
  allowedRoles: readonly string[];
  requestId?: string;
  /** sha-256 hex of the caller's agent key; absent for admin and library callers. */
  keyDigest?: string;
  actor: Actor;
}

export type AuthorizeResult =
  | {
      allowed: true;
      reservationId: string;
      leaseEndMs: number;
      holdCostMicros: number;
      /** True when the request id was seen before: the earlier hold is returned, nothing new held. */
      replayed: boolean;
      status: EngineStatus;
    }
  | {
      allowed: false;
      code: DenialCode;
      exceeded?: Exceeded;
      /** Null only for AGENT_NOT_FOUND. */
      status: EngineStatus | null;
    };

export interface SettleInput {
  /** The hold to settle; absent: the agent's oldest open hold for `operation`. */
  reservationId?: string;
  /** Required without a reservation id; with one, it must be the reservation's agent. */
  agentId?: string;
  operation?: string;
  inputTokens: number;
  outputTokens: number;
  /** Rates to price the usage; absent: the hold's model. */
  rates?: Rates;
  result: 'success' | 'failure';
  keyDigest?: string;
  actor: Actor;
}

export interface SettleResult {
  /** `no_hold`: settle by operation found no open hold (nothing recorded). */
  outcome: 'settled' | 'already_closed' | 'no_hold';
  reservationId: string;
  costMicros: number;
  status: EngineStatus;
}

export interface ReleaseInput {
  reservationId: string;
  keyDigest?: string;
  actor: Actor;
}

export interface ReleaseResult {
  outcome: 'released' | 'already_closed';
  reservationId: string;
  status: EngineStatus;
}

export interface UsageInput {
  agentId: string;
  operation?: string;
  inputTokens: number;
  outputTokens: number;
  rates: Rates;
  result: 'success' | 'failure';
  keyDigest?: string;
  actor: Actor;
}

export interface UsageResult {
  costMicros: number;
  status: EngineStatus;
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
  /** Every event still in the outbox, oldest first per shard (tests, and the drain later). */
  readOutbox(shard?: number): Promise<OutboxEntry[]>;
  /** Holds freed so far because their lease passed (all shards; a metric). */
  expiredLeasesFreed(): Promise<number>;
  /** Test only: shift the engine's clock (added to Redis TIME by the scripts). */
  setClockOffsetForTests(ms: number): void;
  close(): Promise<void>;
}
