/**
 * An error answer of the Tollgate API (`{"error":{"code","message","details"}}`),
 * or no answer: `NETWORK_ERROR` (status 0: nothing answered at the URL, or not
 * in time) and `HTTP_ERROR` (something answered that is not the API's error
 * envelope, or a body that is not JSON). `method` and `url` say which request.
 */
export class TollgateApiError extends Error {
  readonly method: string | undefined;
  readonly url: string | undefined;

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    request?: { method: string; url: string },
  ) {
    super(message);
    this.name = 'TollgateApiError';
    this.method = request?.method;
    this.url = request?.url;
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
