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

export function conflict(agentId: string): TollgateError {
  return new TollgateError('CONFLICT', `Agent ${agentId} already exists`, { agent_id: agentId });
}

export function sessionNotFound(sessionId: string | undefined): TollgateError {
  return new TollgateError('NOT_FOUND', 'Session not found or already ended', {
    session_id: sessionId,
  });
}

/** The script's `digest ~= '' and a.digest ~= digest`. */
export function wrongKey(given: string | undefined, digest: string): boolean {
  return given !== undefined && given !== '' && given !== digest;
}
