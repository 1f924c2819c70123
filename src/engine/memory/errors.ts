import { TollgateError } from '../../errors.js';

/** The request errors, with the codes, messages and details RedisEngine throws. */
export function notFound(agentId: string): TollgateError {
  return new TollgateError('NOT_FOUND', `Agent ${agentId} not found`, { agent_id: agentId });
}

export function reservationNotFound(i: { reservationId?: string }): TollgateError {
  return new TollgateError('RESERVATION_NOT_FOUND', 'Reservation not found', {
    reservation_id: i.reservationId,
  });
}

export function unauthenticated(agentId: string): TollgateError {
  return new TollgateError('UNAUTHENTICATED', 'Invalid agent key', { agent_id: agentId });
}

export function idempotencyConflict(agentId: string): TollgateError {
  return new TollgateError(
    'IDEMPOTENCY_CONFLICT',
    'request_id was already used for a different request',
    { agent_id: agentId },
  );
}

/** A usage id recorded before with other values (or by the other kind of call). */
export function usageConflict(agentId: string, usageId: string): TollgateError {
  return new TollgateError(
    'IDEMPOTENCY_CONFLICT',
    'usage_id was already used for a different usage',
    { agent_id: agentId, usage_id: usageId },
  );
}

/** A settle of a reservation settled with other usage, or released. */
export function settleConflict(
  reservationId: string,
  recorded: Record<string, unknown>,
): TollgateError {
  const message =
    recorded.state === 'released'
      ? 'Reservation was released'
      : 'Reservation was already settled with other usage';
  return new TollgateError('IDEMPOTENCY_CONFLICT', message, {
    reservation_id: reservationId,
    recorded,
  });
}

export function conflict(agentId: string): TollgateError {
  return new TollgateError('CONFLICT', `Agent ${agentId} already exists`, { agent_id: agentId });
}

export function sessionNotFound(sessionId: string | undefined): TollgateError {
  return new TollgateError('NOT_FOUND', 'Session not found or already ended', {
    session_id: sessionId,
  });
}

/** A new session id that is (or was) another session's: refused, nothing written. */
export function sessionTaken(sessionId: string): TollgateError {
  return new TollgateError('CONFLICT', 'session_id is already used', { session_id: sessionId });
}

/** The script's `digest ~= '' and a.digest ~= digest`. */
export function wrongKey(given: string | undefined, digest: string): boolean {
  return given !== undefined && given !== '' && given !== digest;
}
