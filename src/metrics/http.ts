import type { RequestHandler } from 'express';
import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * The HTTP metrics (docs/metrics.md): every response by method, route
 * pattern and status, its duration, and the 503 STORE_UNAVAILABLE answers.
 */

/** HTTP request duration: 1 ms to 10 s. */
export const HTTP_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

/** The route label of a request no route matched (never the raw path). */
export const UNMATCHED_ROUTE = 'unmatched';

const NANOS_PER_SECOND = 1e9;

/**
 * The route label: the pattern of the route that answered (`req.route.path`,
 * prefixed by the literal mount path of a sub-router), never the path that
 * was asked for; a request that no route took is `unmatched`, or `<mount>/*`
 * inside a sub-router (static files).
 */
function routeOf(req: Parameters<RequestHandler>[0]): string {
  const route = (req as { route?: { path?: unknown } }).route;
  const base = req.baseUrl ?? '';
  if (route !== undefined && typeof route.path === 'string') return `${base}${route.path}`;
  return base === '' ? UNMATCHED_ROUTE : `${base}/*`;
}

/** Registers the HTTP metrics; returns the middleware that counts every request (mount it first). */
export function httpMetrics(registers: Registry[]): RequestHandler {
  const requests = new Counter({
    name: 'tollgate_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers,
  });
  const seconds = new Histogram({
    name: 'tollgate_http_request_duration_seconds',
    help: 'HTTP request duration, from arrival to the last byte of the answer, by method and route pattern.',
    labelNames: ['method', 'route'] as const,
    buckets: [...HTTP_BUCKETS],
    registers,
  });
  const storeUnavailable = new Counter({
    name: 'tollgate_store_unavailable_total',
    help: 'Answers 503 STORE_UNAVAILABLE (Redis, or the audit store on /v1/audit, did not answer), by route pattern.',
    labelNames: ['route'] as const,
    registers,
  });
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.once('finish', () => {
      const s = Number(process.hrtime.bigint() - start) / NANOS_PER_SECOND;
      const route = routeOf(req);
      const method = req.method;
      requests.inc({ method, route, status: String(res.statusCode) });
      seconds.observe({ method, route }, s);
      // 503 is STORE_UNAVAILABLE's status, and no other code's (src/api/errors.ts).
      if (res.statusCode === 503) storeUnavailable.inc({ route });
    });
    next();
  };
}
