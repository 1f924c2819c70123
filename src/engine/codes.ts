import { TollgateError } from '../errors.js';
import { MAX_POOL_DEPTH } from './ids.js';
import type {
  AuthorizeResult,
  DenialCode,
  EngineStatus,
  Exceeded,
  LimitLevel,
  PoolPeriod,
  RateExceeded,
  ReservationState,
  WouldDeny,
} from './types.js';

/**
 * The status codes every operation answers with, named once for Lua
 * (lua/includes/codes.lua) and once here; both engines map them to results
 * and errors through this one module (docs/engine.md#codes). RedisEngine reads
 * them from each script's reply; MemoryEngine's functions reach the same
 * codes and build their results and errors with the same builders.
 */
export const Code = {
  OK: 0,
  AGENT_NOT_FOUND: 1,
  AGENT_SUSPENDED: 2,
  RBAC_DENIED: 3,
  BUDGET_SESSION: 4,
  BUDGET_DAILY: 5,
  UNAUTHENTICATED: 6,
  IDEMPOTENCY_CONFLICT: 7,
  REPLAYED: 8,
  RESERVATION_NOT_FOUND: 9,
  ALREADY_CLOSED: 10,
  CONFLICT: 11,
  SESSION_NOT_FOUND: 12,
  INVALID_FIELD: 13,
  /** No agent, and the shard has no ready marker: Redis may have lost it (nothing written; recover, call again). */
  SHARD_NOT_READY: 14,
  /** Recovery scripts: the shard's ready marker is set, nothing to restore. */
  SHARD_READY: 15,
  /** beginRecovery: another process holds the shard's recovery lock. */
  RECOVERY_BUSY: 16,
  /** authorize: the denial an earlier run of this nonce or request id recorded. */
  REPLAYED_DENIAL: 17,
  /** settle by operation: no open hold for it (or its usage id names a usage); nothing written. */
  NO_HOLD: 18,
  /** settle: the model given is not the hold's (nothing written; VALIDATION_FAILED). */
  MODEL_MISMATCH: 19,
  /** authorize: the agent's requests per minute (a RATE_LIMITED denial). */
  RATE_REQUESTS: 20,
  /** authorize: the agent's tokens per minute (a RATE_LIMITED denial). */
  RATE_TOKENS: 21,
  /** authorize: the agent's monthly cost limit (a BUDGET_EXCEEDED denial, `exceeded: 'monthly'`). */
  BUDGET_MONTHLY: 22,
  /** authorize: a pool's daily cost limit (BUDGET_EXCEEDED, `exceeded: 'pool'`, period daily; the pool id follows). */
  POOL_DAILY: 23,
  /** authorize: a pool's monthly cost limit (BUDGET_EXCEEDED, `exceeded: 'pool'`, period monthly). */
  POOL_MONTHLY: 24,
  /** authorize: a pool's requests per minute (RATE_LIMITED, level the pool). */
  POOL_RATE_REQUESTS: 25,
  /** authorize: a pool's tokens per minute (RATE_LIMITED, level the pool). */
  POOL_RATE_TOKENS: 26,
  /** A pool named does not exist (NOT_FOUND; nothing written). */
  POOL_NOT_FOUND: 27,
  /** createPool: the id is taken by a pool with other settings (CONFLICT pool_exists). */
  POOL_EXISTS: 28,
  /** createPool: the parent is at the deepest level already (VALIDATION_FAILED parent_id). */
  POOL_TOO_DEEP: 29,
  /** deletePool: agents or pools are in it (CONFLICT pool_not_empty, with their counts). */
  POOL_NOT_EMPTY: 30,
  /** No agent here, but the agent's home shard says where it lives: the shard follows (nothing written). */
  ELSEWHERE: 31,
  /** The agent is being moved to another shard: call again shortly (nothing written). */
  MOVING: 32,
  /** A directory claim too old to create under: claim again (nothing written). */
  STALE_CLAIM: 34,
  /** authorize: a denial let pass by shadow mode, held as if allowed; its code and pool ('' none) follow. */
  SHADOW: 35,
} as const;
export type Code = (typeof Code)[keyof typeof Code];

/** The operations: each is `lua/<op>-<n>.lua`, `src/engine/redis/ops/<op>.ts` and `src/engine/memory/<op>.ts`. */
export type OpName =
  | 'authorize'
  | 'settle'
  | 'release'
  | 'recordUsage'
  | 'getStatus'
  | 'registerAgent'
  | 'updateAgent'
  | 'deleteAgent'
  | 'startSession'
  | 'listAgents'
  | 'sweepShard'
  | 'createPool'
  | 'updatePool'
  | 'deletePool'
  | 'getPool'
  | 'listPools'
  | 'moveAgent';

// ---- Results ----

export interface Denial {
  code: DenialCode;
  exceeded?: Exceeded | RateExceeded;
  level?: LimitLevel;
  /** A pool's cost limit: which period (the pool id comes with the code). */
  period?: PoolPeriod;
}

const DENIALS: Partial<Record<number, Denial>> = {
  [Code.AGENT_NOT_FOUND]: { code: 'AGENT_NOT_FOUND' },
  [Code.AGENT_SUSPENDED]: { code: 'AGENT_SUSPENDED' },
  [Code.RBAC_DENIED]: { code: 'RBAC_DENIED' },
  [Code.BUDGET_SESSION]: { code: 'BUDGET_EXCEEDED', exceeded: 'session' },
  [Code.BUDGET_DAILY]: { code: 'BUDGET_EXCEEDED', exceeded: 'daily' },
  [Code.BUDGET_MONTHLY]: { code: 'BUDGET_EXCEEDED', exceeded: 'monthly' },
  [Code.RATE_REQUESTS]: { code: 'RATE_LIMITED', exceeded: 'requests_per_minute', level: 'agent' },
  [Code.RATE_TOKENS]: { code: 'RATE_LIMITED', exceeded: 'tokens_per_minute', level: 'agent' },
  [Code.POOL_DAILY]: { code: 'BUDGET_EXCEEDED', exceeded: 'pool', period: 'daily' },
  [Code.POOL_MONTHLY]: { code: 'BUDGET_EXCEEDED', exceeded: 'pool', period: 'monthly' },
  [Code.POOL_RATE_REQUESTS]: { code: 'RATE_LIMITED', exceeded: 'requests_per_minute' },
  [Code.POOL_RATE_TOKENS]: { code: 'RATE_LIMITED', exceeded: 'tokens_per_minute' },
};

/** Whether a denial code is a pool's (its reply names the pool). */
export function isPoolDenial(code: number): boolean {
  return code >= Code.POOL_DAILY && code <= Code.POOL_RATE_TOKENS;
}

/** The denial a code stands for (authorize), or undefined when it is not one. */
export function denialOf(code: number): Denial | undefined {
  return DENIALS[code];
}

/**
 * authorize's answer for a denial code: `replayed` when an earlier run
 * recorded it; the status is null only for AGENT_NOT_FOUND. A rate limit's
 * carries `retryAfterMs` (the ms until its limits would allow the request).
 * A pool's names it (`poolId`): its `level`, and for a cost limit its
 * `poolId` and `period`.
 */
export function denied(
  code: number,
  replayed: boolean,
  status: EngineStatus | null,
  retryAfterMs = 0,
  poolId = '',
): AuthorizeResult {
  const denial = DENIALS[code];
  if (denial === undefined) throw unexpected('authorize', code);
  if (isPoolDenial(code)) {
    if (denial.code === 'RATE_LIMITED') {
      return {
        allowed: false,
        code: denial.code,
        exceeded: denial.exceeded,
        level: poolId,
        retryAfterMs,
        replayed,
        status,
      };
    }
    return {
      allowed: false,
      code: denial.code,
      exceeded: denial.exceeded,
      level: poolId,
      poolId,
      period: denial.period,
      replayed,
      status,
    };
  }
  if (denial.code === 'RATE_LIMITED') {
    return { allowed: false, ...denial, retryAfterMs, replayed, status };
  }
  return { allowed: false, ...denial, replayed, status };
}

/** The denial shadow mode let pass (authorize's SHADOW: its code, and its pool or ''). */
export function wouldDenyOf(code: number, poolId = ''): WouldDeny {
  const denial = DENIALS[code];
  if (denial === undefined || code === Code.AGENT_NOT_FOUND || code === Code.AGENT_SUSPENDED) {
    throw unexpected('authorize', code);
  }
  const w: WouldDeny = { code: denial.code as WouldDeny['code'] };
  if (denial.exceeded !== undefined) w.exceeded = denial.exceeded;
  if (poolId !== '') w.poolId = poolId;
  return w;
}

/** authorize's REPLAYED `resState` values (lua/authorize-1.lua), in order. */
export const RES_STATES: readonly ReservationState[] = ['open', 'settled', 'released', 'expired'];

const SETTLE_OUTCOMES: Partial<Record<number, 'settled' | 'already_closed' | 'no_hold'>> = {
  [Code.OK]: 'settled',
  [Code.ALREADY_CLOSED]: 'already_closed',
  [Code.NO_HOLD]: 'no_hold',
};

/** settle's outcome for a code that is a result (OK, ALREADY_CLOSED, NO_HOLD). */
export function settleOutcome(code: number): 'settled' | 'already_closed' | 'no_hold' {
  const o = SETTLE_OUTCOMES[code];
  if (o === undefined) throw unexpected('settle', code);
  return o;
}

/** release's outcome for a code that is a result (OK, ALREADY_CLOSED). */
export function releaseOutcome(code: number): 'released' | 'already_closed' {
  if (code === Code.OK) return 'released';
  if (code === Code.ALREADY_CLOSED) return 'already_closed';
  throw unexpected('release', code);
}

/**
 * How many values one decision of lua/authorize-1.lua's flat reply holds,
 * by its code: 1 for the codes that write nothing and carry no state, 2 for
 * ELSEWHERE (its shard), 6 for REPLAYED, 5 for REPLAYED_DENIAL and SHADOW, 4
 * for a pool's denial (its pool id last), 3 for the others (OK, the denials).
 */
export function authorizeReplyLength(code: unknown): number {
  if (
    code === Code.AGENT_NOT_FOUND ||
    code === Code.UNAUTHENTICATED ||
    code === Code.IDEMPOTENCY_CONFLICT ||
    code === Code.SHARD_NOT_READY ||
    code === Code.MOVING
  ) {
    return 1;
  }
  if (code === Code.ELSEWHERE) return 2;
  if (code === Code.REPLAYED) return 6;
  if (code === Code.REPLAYED_DENIAL || code === Code.SHADOW) return 5;
  return typeof code === 'number' && isPoolDenial(code) ? 4 : 3;
}

/**
 * How many values one settle of lua/settle-1.lua's flat reply holds, by its
 * code; 0 for a code settle never answers.
 */
export function settleReplyLength(code: unknown): number {
  switch (code) {
    case Code.AGENT_NOT_FOUND:
    case Code.UNAUTHENTICATED:
    case Code.RESERVATION_NOT_FOUND:
    case Code.INVALID_FIELD:
    case Code.SHARD_NOT_READY:
    case Code.MOVING:
      return 1;
    case Code.ELSEWHERE:
    case Code.NO_HOLD:
    case Code.MODEL_MISMATCH:
      return 2;
    case Code.OK:
    case Code.ALREADY_CLOSED:
    case Code.IDEMPOTENCY_CONFLICT:
      return 7;
    default:
      return 0;
  }
}

// ---- Errors ----

/** What a settle that conflicts answers as `details.recorded`. */
export type Recorded =
  | { state: 'released' }
  | { state: 'settled'; input_tokens: number; output_tokens: number; result: string; cost: number }
  | { state: string };

/** What an error names: the call's own ids, as the caller gave them. */
export interface Subject {
  op: OpName;
  agentId: string;
  /** release, and settle of a reservation. */
  reservationId?: string;
  /** recordUsage, and settle by operation. */
  usageId?: string;
  /** startSession: the new session's id. */
  sessionId?: string;
  /** startSession: the session to end. */
  endSessionId?: string;
  /** settle of a reservation, IDEMPOTENCY_CONFLICT: what was recorded. */
  recorded?: Recorded;
  /** settle, MODEL_MISMATCH: the model the hold was made for. */
  holdModel?: string;
  /** The pool the call names (POOL_NOT_FOUND, POOL_EXISTS, POOL_NOT_EMPTY). */
  poolId?: string;
  /** POOL_NOT_EMPTY: agents and pools directly in the pool. */
  agents?: number;
  pools?: number;
}

const FAILURES: Partial<Record<number, (s: Subject) => TollgateError>> = {
  // A settle or release names a reservation: its agent missing is the reservation missing.
  [Code.AGENT_NOT_FOUND]: (s) =>
    s.reservationId !== undefined
      ? reservationNotFound(s.reservationId)
      : new TollgateError('NOT_FOUND', `Agent ${s.agentId} not found`, { agent_id: s.agentId }),
  [Code.RESERVATION_NOT_FOUND]: (s) => reservationNotFound(s.reservationId),
  [Code.UNAUTHENTICATED]: (s) =>
    new TollgateError('UNAUTHENTICATED', 'Invalid agent key', { agent_id: s.agentId }),
  [Code.IDEMPOTENCY_CONFLICT]: (s) => {
    if (s.op === 'authorize') {
      return new TollgateError(
        'IDEMPOTENCY_CONFLICT',
        'request_id was already used for a different request',
        { agent_id: s.agentId },
      );
    }
    if (s.reservationId === undefined) {
      return new TollgateError(
        'IDEMPOTENCY_CONFLICT',
        'usage_id was already used for a different usage',
        { agent_id: s.agentId, usage_id: s.usageId },
      );
    }
    const recorded = s.recorded ?? { state: '' };
    return new TollgateError(
      'IDEMPOTENCY_CONFLICT',
      recorded.state === 'released'
        ? 'Reservation was released'
        : 'Reservation was already settled with other usage',
      { reservation_id: s.reservationId, recorded },
    );
  },
  [Code.CONFLICT]: (s) =>
    s.op === 'startSession'
      ? new TollgateError('CONFLICT', 'session_id is already used', { session_id: s.sessionId })
      : new TollgateError('CONFLICT', `Agent ${s.agentId} already exists`, {
          agent_id: s.agentId,
        }),
  [Code.MODEL_MISMATCH]: (s) =>
    new TollgateError('VALIDATION_FAILED', 'model is not the model the hold was made for', {
      field: 'model',
      hold_model: s.holdModel,
    }),
  [Code.POOL_NOT_FOUND]: (s) =>
    new TollgateError('NOT_FOUND', `Pool ${s.poolId} not found`, { pool_id: s.poolId }),
  [Code.POOL_EXISTS]: (s) =>
    new TollgateError('CONFLICT', `Pool ${s.poolId} already exists`, {
      pool_id: s.poolId,
      reason: 'pool_exists',
    }),
  [Code.POOL_TOO_DEEP]: () =>
    new TollgateError('VALIDATION_FAILED', `A pool is at most ${MAX_POOL_DEPTH} levels deep`, {
      field: 'parent_id',
      max_depth: MAX_POOL_DEPTH,
    }),
  [Code.POOL_NOT_EMPTY]: (s) =>
    new TollgateError(
      'CONFLICT',
      `pool ${s.poolId} has ${s.agents ?? 0} agents and ${s.pools ?? 0} pools; move or delete them first`,
      { pool_id: s.poolId, reason: 'pool_not_empty', agents: s.agents ?? 0, pools: s.pools ?? 0 },
    ),
  [Code.SESSION_NOT_FOUND]: (s) =>
    new TollgateError('NOT_FOUND', 'Session not found or already ended', {
      session_id: s.endSessionId,
    }),
};

/** The error of a code that is not a result of the operation (both engines throw these). */
export function failure(code: number, s: Subject): TollgateError {
  const make = FAILURES[code];
  return make === undefined ? unexpected(s.op, code) : make(s);
}

function reservationNotFound(reservationId: string | undefined): TollgateError {
  return new TollgateError('RESERVATION_NOT_FOUND', 'Reservation not found', {
    reservation_id: reservationId,
  });
}

/** SHARD_NOT_READY again after the shard was recovered. */
export function notReady(shard: number): TollgateError {
  return new TollgateError(
    'STORE_UNAVAILABLE',
    `Redis shard ${shard} is not ready after recovery`,
    { shard },
  );
}

/** A code the operation never answers: a bug of ours. */
export function unexpected(op: string, code: unknown): TollgateError {
  return new TollgateError('INTERNAL', `Unexpected status ${code} from ${op}`);
}
