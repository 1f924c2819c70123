import { TollgateError } from '../errors.js';

/**
 * Every id that becomes part of a Redis key is checked here, before anything
 * reaches Redis: `{`, `}` and `:` can never change a key's slot or namespace.
 * Reservation and session ids are `<agentId>.<nonce>`; agent ids hold no `.`.
 */
export const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const ROLE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const OPERATION = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
export const MODEL = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
export const NONCE = /^[0-9a-f]{16}$/;
export const SCOPED_ID = /^([A-Za-z0-9][A-Za-z0-9_-]{0,63})\.([0-9a-f]{16})$/;

function check(pattern: RegExp, value: unknown, what: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new TollgateError('VALIDATION_FAILED', `Invalid ${what}`, {
      field: what,
      pattern: pattern.source,
    });
  }
  return value;
}

export const checkAgentId = (v: unknown) => check(AGENT_ID, v, 'agent_id');
/** A pool is at most this many levels deep (a root is level 1). */
export const MAX_POOL_DEPTH = 3;

/** Pool ids follow the agent id's pattern (a namespace of their own). */
export const checkPoolId = (v: unknown) => check(AGENT_ID, v, 'pool_id');
export const checkParentId = (v: unknown) => check(AGENT_ID, v, 'parent_id');
export const checkRole = (v: unknown) => check(ROLE, v, 'role');
export const checkOperation = (v: unknown) => check(OPERATION, v, 'operation');
export const checkRequestId = (v: unknown) => check(REQUEST_ID, v, 'request_id');
/** A usage id follows the request id's pattern. */
export const checkUsageId = (v: unknown) => check(REQUEST_ID, v, 'usage_id');
export const checkModel = (v: unknown) => check(MODEL, v, 'model');
/** The model a settle was priced as follows the model's pattern. */
export const checkPricedAs = (v: unknown) => check(MODEL, v, 'priced_as');

export interface ScopedId {
  agentId: string;
  nonce: string;
}

/** Splits a reservation or session id into its agent and nonce. */
export function parseScopedId(value: unknown, what: 'reservation_id' | 'session_id'): ScopedId {
  const m = typeof value === 'string' ? SCOPED_ID.exec(value) : null;
  if (!m?.[1] || !m[2]) {
    throw new TollgateError('VALIDATION_FAILED', `Invalid ${what}`, {
      field: what,
      pattern: SCOPED_ID.source,
    });
  }
  return { agentId: m[1], nonce: m[2] };
}

/** A non-negative integer no larger than `max` (token counts, limits). */
export function checkCount(value: unknown, what: string, max: number, min = 0): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new TollgateError('VALIDATION_FAILED', `Invalid ${what}`, { field: what, min, max });
  }
  return value;
}
