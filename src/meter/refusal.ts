/**
 * The answers Tollgate gives instead of the provider's: a denial, or a request
 * it cannot meter. Each is an HTTP error in the provider's own JSON shape with
 * `x-should-retry: false`, so the SDK raises it as an API error and does not
 * retry it (docs/models.md, "Denials"); except a rate limit's 429, which the
 * SDK waits for and retries (docs/limits.md).
 */
import type { Decision } from '../guard/decision.js';
import type { ModelApi } from '../models/types.js';
import { providerOf } from './endpoint.js';

type Denied = Extract<Decision, { allowed: false }>;

/**
 * The HTTP status and error type of a denial: 402 for a budget, 429 for a rate
 * limit (the provider's own rate-limit type), 403 for everything else.
 */
export function denialStatus(d: Denied, api?: ModelApi): { status: number; type: string } {
  if (d.error_code === 'BUDGET_EXCEEDED') return { status: 402, type: 'budget_exceeded' };
  if (d.error_code === 'RATE_LIMITED') {
    const type =
      api !== undefined && providerOf(api) === 'anthropic'
        ? 'rate_limit_error'
        : 'rate_limit_exceeded';
    return { status: 429, type };
  }
  return { status: 403, type: 'permission_denied' };
}

/**
 * An error answer in the provider's shape; `extra` goes inside the error
 * object. `retryAfterMs`: a rate limit's wait, sent as `retry-after` (s,
 * rounded up) and `retry-after-ms`, without `x-should-retry: false`, so that
 * the SDK waits and retries as it does on the provider's own 429.
 */
export function errorResponse(
  api: ModelApi,
  status: number,
  type: string,
  message: string,
  extra: Record<string, unknown> = {},
  retryAfterMs?: number,
): Response {
  const error = { message, type, ...extra };
  const body =
    providerOf(api) === 'anthropic'
      ? { type: 'error', error }
      : { error: { ...error, code: extra.code ?? type, param: null } };
  const headers: Record<string, string> =
    retryAfterMs === undefined
      ? { 'x-should-retry': 'false' }
      : {
          'retry-after': String(Math.ceil(retryAfterMs / 1000)),
          'retry-after-ms': String(retryAfterMs),
        };
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers, 'x-tollgate-refused': type },
  });
}

/** A denial: the decision inside the error (`error.decision`). */
export function denialResponse(api: ModelApi, d: Denied): Response {
  const { status, type } = denialStatus(d, api);
  return errorResponse(
    api,
    status,
    type,
    d.reason,
    { code: d.error_code, decision: d },
    d.error_code === 'RATE_LIMITED' ? (d.retry_after_ms ?? 0) : undefined,
  );
}
