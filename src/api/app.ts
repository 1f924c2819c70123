import { readFileSync } from 'node:fs';
import express, { type Express } from 'express';
import type { AlertDelivery } from '../alerts/index.js';
import type { Tollgate } from '../index.js';
import { createMetrics, InFlight, type MetricsOptions } from '../metrics/index.js';
import { type AdminCredential, adminMatcher, digestAdminToken } from './auth.js';
import { dashboardRouter } from './dashboard.js';
import { type ErrorLogger, errorHandler, notFoundHandler } from './errors.js';
import { type GatewayOptions, gatewayRouter } from './gateway/index.js';
import { metricsRouter } from './metrics-route.js';
import { buildOpenApi } from './openapi.js';
import { readOnlyGuard } from './read-token.js';
import { mountRoutes, type Route } from './route.js';
import { agentRoutes } from './routes/agents.js';
import { auditRoutes } from './routes/audit.js';
import { budgetRoutes } from './routes/budget.js';
import { gateRoutes } from './routes/gate.js';
import { healthRoutes } from './routes/health.js';
import { policyRoutes } from './routes/policy.js';
import { poolRoutes } from './routes/pools.js';
import { webhookRoutes } from './routes/webhooks.js';

export interface AppDeps {
  tollgate: Tollgate;
  /**
   * The token that reaches every route (compared in constant time), or the
   * source of its SHA-256 digest (a token file the server does not keep in clear).
   */
  adminToken: AdminCredential;
  /**
   * The read-only operator token (TOLLGATE_READ_TOKEN, docs/api.md): GET
   * /metrics, the dashboard's data and the read routes of READ_ROUTES
   * (read-token.ts); 403 on anything else. Compared in constant time. It must
   * differ from the admin token. Default: none.
   */
  readToken?: string;
  /**
   * Fail closed: a request the store has not answered by then gets 503
   * STORE_UNAVAILABLE. Default 10 000 ms.
   */
  requestTimeoutMs?: number;
  /** How long /readyz waits for the engine. Default 2 000 ms. */
  readyTimeoutMs?: number;
  /** Where internal errors (bugs, never client errors) are reported. Default console.error. */
  logError?: ErrorLogger;
  /**
   * GET /metrics (docs/metrics.md): the admin or the read-only token unless
   * `open`; `false` turns metrics off. Default: on, a token, no per-agent series.
   */
  metrics?: false | (Omit<MetricsOptions, 'tollgate'> & { open?: boolean });
  /**
   * The model gateway (docs/gateway.md): its upstreams and provider keys
   * (`upstreams: {}` serves it with none configured). Default: not served.
   */
  gateway?: Omit<GatewayOptions, 'tollgate' | 'logError' | 'metrics'>;
}

/** Bodies larger than this are refused with 413 PAYLOAD_TOO_LARGE. */
export const BODY_LIMIT_BYTES = 64 * 1024;

function packageVersion(): string {
  try {
    const url = new URL('../../package.json', import.meta.url);
    const pkg = JSON.parse(readFileSync(url, 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Every route of the API, in the order they are documented. */
export function apiRoutes(opts: {
  readyTimeoutMs: number;
  openapi: () => Record<string, unknown>;
}): Route[] {
  return [
    ...agentRoutes,
    ...budgetRoutes,
    ...poolRoutes,
    ...gateRoutes,
    ...auditRoutes,
    ...webhookRoutes,
    ...policyRoutes,
    ...healthRoutes(opts),
  ];
}

/**
 * The HTTP API (Express 5) on a Tollgate. Every body, query and path
 * parameter is parsed once by a strict zod schema; every error goes through
 * src/api/errors.ts.
 */
export function createApp(deps: AppDeps): Express {
  const admin = deps.adminToken as unknown;
  const valid =
    typeof admin === 'string'
      ? admin.length > 0
      : typeof (admin as { sha256?: unknown } | undefined)?.sha256 === 'function';
  if (!valid) {
    throw new Error('createApp: adminToken is required');
  }
  const isReader = readerMatcher(deps.readToken, deps.adminToken);
  const logError: ErrorLogger =
    deps.logError ?? ((message, error) => console.error(`tollgate api: ${message}`, error));
  let openapi: Record<string, unknown> | undefined;
  const routes = apiRoutes({
    readyTimeoutMs: deps.readyTimeoutMs ?? 2_000,
    openapi: () => {
      openapi ??= buildOpenApi(routes, packageVersion());
      return openapi;
    },
  });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });

  const isAdmin = adminMatcher(deps.adminToken);
  const metricsOpts = deps.metrics === false ? undefined : (deps.metrics ?? {});
  const metrics = metricsOpts && createMetrics({ ...metricsOpts, tollgate: deps.tollgate });
  if (metrics) app.use(metrics.http);
  // Alert deliveries sent by this process (embedded mode, serve --with-worker) count here.
  if (metrics) {
    const worker = metricsOpts?.worker as { alerts?: AlertDelivery } | undefined;
    for (const a of [deps.tollgate.alerts, worker?.alerts]) {
      a?.observe((outcome) => metrics.alertDelivery(outcome));
    }
  }
  // Before every router: the read-only token changes nothing, on any route (read-token.ts).
  if (isReader) app.use(readOnlyGuard(isReader));

  const router = express.Router({ caseSensitive: true, strict: false });
  mountRoutes(router, routes, {
    tollgate: deps.tollgate,
    isAdmin,
    isReader,
    requestTimeoutMs: deps.requestTimeoutMs ?? 10_000,
    bodyLimitBytes: BODY_LIMIT_BYTES,
    metrics,
  });
  // The gateway's settles on their way: counted before a scrape answers (none to wait for without metrics).
  const inFlight = metrics ? new InFlight() : undefined;
  if (metrics) {
    app.use(metricsRouter(metrics, { isAdmin, isReader, open: metricsOpts?.open, inFlight }));
  }
  if (deps.gateway) {
    app.use(
      gatewayRouter({
        gateTimeoutMs: deps.requestTimeoutMs,
        ...deps.gateway,
        tollgate: deps.tollgate,
        logError,
        metrics,
        inFlight,
      }),
    );
  }
  app.use(router);
  app.use(dashboardRouter());
  app.use(notFoundHandler);
  app.use(errorHandler(logError));
  return app;
}

/** The read-only token's matcher; undefined without one. Refuses an empty one and the admin token. */
function readerMatcher(
  readToken: string | undefined,
  admin: AdminCredential,
): ((token: string) => boolean) | undefined {
  if (readToken === undefined) return undefined;
  if (typeof readToken !== 'string' || readToken.length === 0) {
    throw new Error('createApp: readToken must be a non-empty string');
  }
  const adminDigest = typeof admin === 'string' ? digestAdminToken(admin) : admin.sha256();
  if (digestAdminToken(readToken).equals(adminDigest)) {
    throw new Error('createApp: readToken must differ from the admin token');
  }
  return adminMatcher(readToken);
}
