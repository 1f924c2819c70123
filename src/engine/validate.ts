import { TollgateError } from '../errors.js';
import { Code, failure } from './codes.js';
import {
  checkAgentId,
  checkCount,
  checkModel,
  checkOperation,
  checkParentId,
  checkPoolId,
  checkPricedAs,
  checkRequestId,
  checkRole,
  checkUsageId,
  MAX_POOL_DEPTH,
  parseScopedId,
  type ScopedId,
} from './ids.js';
import type { ProfileValues } from './profile.js';
import type {
  AuthorizeInput,
  PoolInput,
  PoolUpdateInput,
  Rates,
  RegisterInput,
  ReleaseInput,
  SessionInput,
  SettleInput,
  UpdateInput,
  UsageInput,
} from './types.js';

/**
 * The checks both engines make before touching any state: ids against their
 * strict patterns, counts within the bounds that keep every script's integer
 * arithmetic exact (tokens per call <= 1e7, rates <= 5e8 micro-dollars per
 * million, limits <= 1e12).
 */
export const MAX_TOKENS = 10_000_000;
export const MAX_RATE = 500_000_000;
export const MAX_LIMIT = 1_000_000_000_000;
/**
 * The most a priced hold or settle may cost (micro-dollars): what a call's
 * tokens cost at the bounds, 2 × MAX_TOKENS × MAX_RATE / 1e6 ($10,000).
 */
export const MAX_COST = (2 * MAX_TOKENS * MAX_RATE) / 1_000_000;
const MAX_LEASE_MS = 86_400_000;
/**
 * Most expired holds one call frees (both engines' default `maxFreePerCall`):
 * one Redis call that frees this many runs about 55M instructions
 * (bench/engine/instructions.ts), so the bound keeps a call short.
 */
export const MAX_FREE_PER_CALL = 2048;
const MAX_METADATA = 16_384;

function checkRates(r: Rates): void {
  checkModel(r.model);
  checkCount(r.inputMicrosPerMillion, 'input_rate', MAX_RATE);
  checkCount(r.outputMicrosPerMillion, 'output_rate', MAX_RATE);
}

function checkDigest(d: string | undefined): void {
  if (d !== undefined && !/^[0-9a-f]{64}$/.test(d)) {
    throw new TollgateError('VALIDATION_FAILED', 'Invalid key digest', { field: 'key_digest' });
  }
}

function checkMetadata(m: string): void {
  if (m.length > MAX_METADATA) {
    throw new TollgateError('VALIDATION_FAILED', 'metadata is too large', {
      field: 'metadata',
      max: MAX_METADATA,
    });
  }
}

/**
 * Most agents in shadow mode by id (docs/operations.md, "Shadow mode"): every
 * authorize call carries the list, so it is kept short; roles cover more.
 */
export const MAX_SHADOW_AGENTS = 100;

/** Most requests or tokens per minute a rate limit may be (docs/limits.md: every TAT stays exact). */
export const MAX_PER_MINUTE = 1_000_000_000;

/** The rate limits and the monthly limit, where given (also the restores' check of a stored agent). */
export function checkPerMinute(s: {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  monthlyLimitMicros?: number;
}): void {
  if (s.monthlyLimitMicros !== undefined)
    checkCount(s.monthlyLimitMicros, 'monthly_cost_limit', MAX_LIMIT);
  if (s.requestsPerMinute !== undefined)
    checkCount(s.requestsPerMinute, 'requests_per_minute', MAX_PER_MINUTE);
  if (s.tokensPerMinute !== undefined)
    checkCount(s.tokensPerMinute, 'tokens_per_minute', MAX_PER_MINUTE);
}

export function checkRegister(i: RegisterInput): void {
  checkAgentId(i.agentId);
  checkRole(i.role);
  checkCount(i.sessionTokenLimit, 'session_token_limit', MAX_LIMIT);
  checkCount(i.dailyLimitMicros, 'daily_cost_limit', MAX_LIMIT);
  checkPerMinute(i);
  if (i.poolId !== undefined) checkPoolId(i.poolId);
  checkDigest(i.keyDigest);
  checkMetadata(i.metadata);
}

/** A pool's limits, where given: 0 or absent means none. */
function checkPoolLimits(s: {
  dailyLimitMicros?: number;
  monthlyLimitMicros?: number;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}): void {
  if (s.dailyLimitMicros !== undefined)
    checkCount(s.dailyLimitMicros, 'daily_cost_limit', MAX_LIMIT);
  checkPerMinute(s);
}

export function checkPool(i: PoolInput): void {
  checkPoolId(i.poolId);
  if (i.parentId !== undefined) checkParentId(i.parentId);
  checkPoolLimits(i);
}

export function checkPoolUpdate(i: PoolUpdateInput): void {
  checkPoolId(i.poolId);
  checkPoolLimits(i.set);
}

export function checkUpdate(i: UpdateInput): void {
  checkAgentId(i.agentId);
  const s = i.set;
  if (s.role !== undefined) checkRole(s.role);
  if (s.status !== undefined && s.status !== 'active' && s.status !== 'suspended') {
    throw new TollgateError('VALIDATION_FAILED', 'Invalid status', { field: 'status' });
  }
  if (s.sessionTokenLimit !== undefined)
    checkCount(s.sessionTokenLimit, 'session_token_limit', MAX_LIMIT);
  if (s.dailyLimitMicros !== undefined)
    checkCount(s.dailyLimitMicros, 'daily_cost_limit', MAX_LIMIT);
  checkPerMinute(s);
  checkDigest(s.keyDigest);
  if (s.metadata !== undefined) checkMetadata(s.metadata);
}

/**
 * What a profile is made of (src/engine/profile.ts): checked once, when it
 * is compiled (a policy's, when the policy is loaded).
 */
export function checkProfile(p: ProfileValues): void {
  checkOperation(p.operation);
  checkRates(p.rates);
  checkCount(p.leaseMs, 'lease_ms', MAX_LEASE_MS, 1);
  for (const r of p.allowedRoles) checkRole(r);
  for (const r of p.shadowRoles ?? []) checkRole(r);
  const agents = p.shadowAgents ?? [];
  if (agents.length > MAX_SHADOW_AGENTS) {
    throw new TollgateError('VALIDATION_FAILED', `At most ${MAX_SHADOW_AGENTS} shadow agents`, {
      field: 'shadow_agents',
      max: MAX_SHADOW_AGENTS,
    });
  }
  for (const id of agents) checkAgentId(id);
}

/**
 * The values of an authorize that its profile does not hold. `agentIdKnown`:
 * the caller knows the agent id passed its check before (it is a key of the
 * engine's state), so its pattern is not tested again.
 */
export function checkAuthorize(i: AuthorizeInput, agentIdKnown = false): void {
  if (!agentIdKnown) checkAgentId(i.agentId);
  checkCount(i.estimatedTokens, 'estimated_tokens', MAX_TOKENS, 1);
  if (i.holdCostMicros !== undefined) checkCount(i.holdCostMicros, 'hold_cost_micros', MAX_COST);
  if (i.requestId !== undefined) checkRequestId(i.requestId);
  checkDigest(i.keyDigest);
}

/** A shard of the deployment (recoverShard, sweepShard). */
export function checkShard(shard: number, shards: number): void {
  if (!Number.isSafeInteger(shard) || shard < 0 || shard >= shards) {
    throw new TollgateError('VALIDATION_FAILED', `No shard ${shard}`, { field: 'shard', shard });
  }
}

/** Returns the agent and the reservation's nonce ('' when settling by operation). */
export function checkSettle(i: SettleInput): ScopedId {
  checkCount(i.inputTokens, 'input_tokens', MAX_TOKENS);
  checkCount(i.outputTokens, 'output_tokens', MAX_TOKENS);
  if (i.costMicros !== undefined) checkCount(i.costMicros, 'cost_micros', MAX_COST);
  if (i.estimated !== undefined && typeof i.estimated !== 'boolean') {
    throw new TollgateError('VALIDATION_FAILED', 'Invalid estimated', { field: 'estimated' });
  }
  if (i.pricedAs !== undefined) checkPricedAs(i.pricedAs);
  if (i.model !== undefined) checkModel(i.model);
  checkDigest(i.keyDigest);
  checkResult(i.result);
  if (i.usageId !== undefined) checkUsageId(i.usageId);
  if (i.reservationId === undefined) {
    checkOperation(i.operation);
    return { agentId: checkAgentId(i.agentId), nonce: '' };
  }
  const scoped = parseScopedId(i.reservationId, 'reservation_id');
  if (i.agentId !== undefined && scoped.agentId !== i.agentId) {
    throw failure(Code.RESERVATION_NOT_FOUND, {
      op: 'settle',
      agentId: i.agentId,
      reservationId: i.reservationId,
    });
  }
  return scoped;
}

export function checkRelease(i: ReleaseInput): ScopedId {
  checkDigest(i.keyDigest);
  return parseScopedId(i.reservationId, 'reservation_id');
}

export function checkUsage(i: UsageInput): void {
  checkAgentId(i.agentId);
  if (i.operation !== undefined) checkOperation(i.operation);
  checkCount(i.inputTokens, 'input_tokens', MAX_TOKENS);
  checkCount(i.outputTokens, 'output_tokens', MAX_TOKENS);
  if (i.costMicros !== undefined) checkCount(i.costMicros, 'cost_micros', MAX_COST);
  checkRates(i.rates);
  checkDigest(i.keyDigest);
  checkResult(i.result);
  if (i.usageId !== undefined) checkUsageId(i.usageId);
}

/**
 * A session start or end: the agent, and the new session's id when the caller
 * made it (`<agentId>.<16 hex>`, of this agent). The session to end is only
 * compared with the current one (an unknown one is NOT_FOUND).
 */
export function checkSession(i: SessionInput): void {
  checkAgentId(i.agentId);
  if (i.sessionId !== undefined && parseScopedId(i.sessionId, 'session_id').agentId !== i.agentId) {
    throw new TollgateError('VALIDATION_FAILED', 'session_id belongs to another agent', {
      field: 'session_id',
    });
  }
}

export function checkResult(r: string): void {
  if (r !== 'success' && r !== 'failure') {
    throw new TollgateError('VALIDATION_FAILED', 'Invalid result', { field: 'result' });
  }
}

export { checkAgentId, checkPoolId, MAX_POOL_DEPTH };
