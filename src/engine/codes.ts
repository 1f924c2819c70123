import type { DenialCode, Exceeded } from './types.js';

/**
 * The status codes every script returns as the first element of its reply
 * (see each lua/*.lua header; named in lua/includes/codes.lua), mapped to
 * TypeScript in this one place.
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
} as const;
export type Code = (typeof Code)[keyof typeof Code];

export interface Denial {
  code: DenialCode;
  exceeded?: Exceeded;
}

const DENIALS: Partial<Record<number, Denial>> = {
  [Code.AGENT_NOT_FOUND]: { code: 'AGENT_NOT_FOUND' },
  [Code.AGENT_SUSPENDED]: { code: 'AGENT_SUSPENDED' },
  [Code.RBAC_DENIED]: { code: 'RBAC_DENIED' },
  [Code.BUDGET_SESSION]: { code: 'BUDGET_EXCEEDED', exceeded: 'session' },
  [Code.BUDGET_DAILY]: { code: 'BUDGET_EXCEEDED', exceeded: 'daily' },
};

export function denialOf(code: number): Denial | undefined {
  return DENIALS[code];
}
