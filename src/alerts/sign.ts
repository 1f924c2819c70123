import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AlertEventRow } from '../audit/store/webhooks.js';

/**
 * What a delivery carries (docs/operations.md, "Alerts"): the event as JSON,
 * and a signature over a timestamp and that body, so that the receiver knows
 * it comes from a holder of the webhook's secret and is recent.
 *
 *   Tollgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *   Tollgate-Event-Id:  <event_id>   (the same on every attempt: dedupe on it)
 */
export const SIGNATURE_HEADER = 'Tollgate-Signature';
export const EVENT_ID_HEADER = 'Tollgate-Event-Id';
/** How old a signature's timestamp may be for verifySignature by default, seconds. */
export const DEFAULT_TOLERANCE_S = 300;

/** The body of a budget alert's delivery: the event's fields, in this order, as JSON. */
export function alertBody(e: AlertEventRow): string {
  return JSON.stringify({
    v: 1,
    event_id: e.eventId,
    type: 'budget_alert',
    at: e.at,
    agent_id: e.agentId,
    pool_id: e.alert.pool_id,
    budget: e.alert.budget,
    threshold_pct: e.alert.threshold_pct,
    period: e.alert.period,
    used: e.alert.used,
    limit: e.alert.limit,
  });
}

/** The Tollgate-Signature header of `body` at `t` (unix seconds). */
export function signatureHeader(secret: string, body: string, t: number): string {
  const v1 = createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');
  return `t=${t},v1=${v1}`;
}

/**
 * Whether `header` signs `body` with `secret` and its timestamp is within
 * `toleranceS` of `nowS` (the receiver's side; docs/operations.md has the
 * same check to copy, without this package).
 */
export function verifySignature(
  header: string,
  body: string | Buffer,
  secret: string,
  opts: { toleranceS?: number; nowS?: number } = {},
): boolean {
  const parts = new Map<string, string>();
  for (const kv of header.split(',')) {
    const i = kv.indexOf('=');
    if (i > 0) parts.set(kv.slice(0, i).trim(), kv.slice(i + 1).trim());
  }
  const t = Number(parts.get('t'));
  const now = opts.nowS ?? Date.now() / 1000;
  if (!Number.isSafeInteger(t) || Math.abs(now - t) > (opts.toleranceS ?? DEFAULT_TOLERANCE_S)) {
    return false;
  }
  const expected = createHmac('sha256', secret).update(`${t}.`).update(body).digest();
  const given = Buffer.from(parts.get('v1') ?? '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
