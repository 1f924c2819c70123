import express, { type Router } from 'express';
import type { InFlight, Metrics } from '../metrics/index.js';
import { authenticate, requireOperator } from './auth.js';

export interface MetricsRouteOptions {
  /** Compares a Bearer token with the admin token (auth.ts `adminMatcher`). */
  isAdmin: (token: string) => boolean;
  /** Compares a Bearer token with the read-only token; undefined: there is none. */
  isReader?: (token: string) => boolean;
  /**
   * Serve /metrics without a token (for a scraper on a private network that
   * cannot send one). Default false: the admin or the read-only token, as a Bearer token.
   */
  open?: boolean;
  /** Settles sent and not yet counted (the gateway's): a scrape waits for them, at most 2 s. */
  inFlight?: InFlight;
}

/**
 * `GET /metrics`: the text exposition format of the app's registry. The
 * admin or the read-only token by default (401 without one, 403 for an agent
 * key), the same envelope as every other error (thrown to the app's error handler).
 */
export function metricsRouter(metrics: Metrics, opts: MetricsRouteOptions): Router {
  const router = express.Router({ caseSensitive: true, strict: false });
  router.get('/metrics', async (req, res) => {
    if (opts.open !== true) requireOperator(authenticate(req, opts.isAdmin, opts.isReader));
    await opts.inFlight?.settled(2_000);
    const text = await metrics.scrape();
    res.setHeader('Content-Type', metrics.contentType);
    res.status(200).send(text);
  });
  return router;
}
