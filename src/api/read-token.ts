import type { RequestHandler } from 'express';
import { TollgateError } from '../errors.js';
import { bearerToken } from './auth.js';
import type { Method } from './route.js';

/**
 * The read-only operator token (`TOLLGATE_READ_TOKEN`, docs/api.md "The
 * read-only token"): it opens what an operator watches and nothing that
 * changes state or shows a secret.
 *
 * Two locks, each enough alone:
 * - `readOnlyGuard`, mounted before every router, refuses the token on any
 *   method but GET and HEAD, whatever the path: a route added later, in any
 *   router (the gateway's included), is covered without being listed;
 * - READ_ROUTES: the /v1 routes it may GET (route.ts checks the route's
 *   pattern before its handler); any other, present or added later, is 403.
 *   `GET /metrics` takes it too (metrics-route.ts). The open routes
 *   (`/healthz`, `/readyz`, `/openapi.json`, the `/dashboard` page) need no token.
 */

/** The /v1 routes the read-only token may GET, by their path pattern (docs/api.md lists them). */
export const READ_ROUTES: ReadonlySet<string> = new Set([
  '/v1/agents',
  '/v1/agents/:id',
  '/v1/agents/:id/budget',
  '/v1/pools',
  '/v1/pools/:id',
  '/v1/audit',
  '/v1/audit/lag',
  '/v1/spend',
  '/v1/dashboard',
  '/v1/dashboard/spend',
  '/v1/dashboard/history',
]);

/** Whether the read-only token may call this route. */
export function readable(method: Method, path: string): boolean {
  return method === 'get' && READ_ROUTES.has(path);
}

function refused(method: string, path: string): TollgateError {
  return new TollgateError(
    'FORBIDDEN',
    'The read-only token (TOLLGATE_READ_TOKEN) only reads: this route needs the admin token or an agent key',
    { method, path },
  );
}

/** A route the read-only token may not call: 403 FORBIDDEN. */
export function requireReadable(method: Method, path: string): void {
  if (!readable(method, path)) throw refused(method.toUpperCase(), path);
}

/**
 * Refuses the read-only token on every method but GET and HEAD (403, in the
 * API's error envelope), before any router sees the request. Compares the
 * Bearer token in constant time (`isReader`: auth.ts `adminMatcher`).
 */
export function readOnlyGuard(isReader: (token: string) => boolean): RequestHandler {
  return (req, _res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    const token = bearerToken(req);
    if (token !== undefined && isReader(token)) return next(refused(req.method, req.path));
    next();
  };
}
