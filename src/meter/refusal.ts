/**
 * The answers Tollgate gives instead of the provider's: a denial, or a request
 * it cannot meter. Each is an HTTP error in the provider's own JSON shape with
 * `x-should-retry: false`, so the SDK raises it as an API error and does not
 * retry it (docs/models.md, "Denials").
 */
import type { Decision } from '../guard/decision.js';
import type { ModelApi } from '../models/types.js';
import { providerOf } from './endpoint.js';

type Denied = Extract<Decision, { allowed: false }>;

/** The HTTP status and error type of a denial: 402 for a budget, 403 for everything else. */
export function denialStatus(d: Denied): { status: number; type: string } {
  return d.error_code === 'BUDGET_EXCEEDED'
    ? { status: 402, type: 'budget_exceeded' }
    : { status: 403, type: 'permission_denied' };
}

/** An error answer in the provider's shape; `extra` goes inside the error object. */
export function errorResponse(
  api: ModelApi,
  status: number,
  type: string,
  message: string,
  extra: Record<string, unknown> = {},
): Response {
  const error = { message, type, ...extra };
  const body =
    providerOf(api) === 'anthropic'
      ? { type: 'error', error }
      : { error: { ...error, code: extra.code ?? type, param: null } };
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      'content-type': 'application/json',
      'x-should-retry': 'false',
      'x-tollgate-refused': type,
    },
  });
}

/** A denial: the decision inside the error (`error.decision`). */
export function denialResponse(api: ModelApi, d: Denied): Response {
  const { status, type } = denialStatus(d);
  return errorResponse(api, status, type, d.reason, { code: d.error_code, decision: d });
}
