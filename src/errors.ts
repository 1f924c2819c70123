/**
 * Request and infrastructure failures: typed errors with a `code`. "Over budget"
 * and "not allowed" are never errors; they are ordinary decision results.
 * The codes are listed here once; the HTTP status of each is mapped in one
 * place (src/api/errors.ts), and the API's error schema takes this list
 * (src/api/routes/shared.schemas.ts).
 */
export const ERROR_CODES = [
  'VALIDATION_FAILED',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'RESERVATION_NOT_FOUND',
  'CONFLICT',
  'IDEMPOTENCY_CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'STORE_UNAVAILABLE',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class TollgateError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'TollgateError';
    this.code = code;
    this.details = details;
  }
}

export function isTollgateError(e: unknown): e is TollgateError {
  return e instanceof TollgateError;
}
