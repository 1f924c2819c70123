/** An error answer of the Tollgate API (`{"error":{"code","message","details"}}`), or no answer. */
export class TollgateApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'TollgateApiError';
  }
}

/** Thrown by `run` when the decision is a denial (the guide's executor does the same). */
export class PermissionDenied extends Error {
  readonly code: string;
  constructor(readonly decision: { error_code: string; reason: string }) {
    super(`Permission denied: ${decision.reason} (${decision.error_code})`);
    this.name = 'PermissionDenied';
    this.code = decision.error_code;
  }
}
