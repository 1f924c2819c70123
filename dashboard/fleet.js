// The fleet's cards: spend today against the sum of the daily limits, the
// agents by status (GET /v1/dashboard), and the audit backlog (GET
// /v1/audit/lag), whose measured_at also gives the server's clock.

import { shownStatus } from './agents.js';
import { $, fmtAge, fmtInt, fmtUsd, setBar } from './format.js';

/** The server's clock as this page knows it: offset from the browser's, and the backlog's age. */
export const serverClock = { offset: 0, oldestAgeMs: 0 };

/** The server's time now, ms. */
export const serverNow = () => Date.now() + serverClock.offset;

export function renderFleet(agents) {
  let used = 0;
  let reserved = 0;
  let limit = 0;
  const n = { ACTIVE: 0, SUSPENDED: 0, BLOCKED: 0, OVER: 0 };
  for (const a of agents) {
    used += a.budget_status.daily.cost_used;
    reserved += a.budget_status.daily.cost_reserved;
    limit += a.budget_status.daily.cost_limit;
    n[shownStatus(a)]++;
  }
  $('spend-used').textContent = fmtUsd(used);
  $('spend-limit').textContent = fmtUsd(limit);
  setBar(
    $('spend-bar'),
    used,
    reserved,
    limit,
    `${fmtUsd(used)} used + ${fmtUsd(reserved)} reserved of ${fmtUsd(limit)}`,
  );
  $('spend-sub').textContent =
    `${limit > 0 ? ((used / limit) * 100).toFixed(1) : '0.0'}% of the daily limits · ${fmtUsd(reserved)} reserved`;
  $('n-active').textContent = fmtInt(n.ACTIVE);
  $('n-suspended').textContent = fmtInt(n.SUSPENDED);
  $('n-blocked').textContent = fmtInt(n.BLOCKED);
  $('n-over').textContent = fmtInt(n.OVER);
  $('agents-sub').textContent =
    `${fmtInt(agents.length)} in all · blocked: daily cost limit reached · over: used past a limit`;
}

/** The backlog card; `sentAt`, `receivedAt`: when the request left and its answer came (browser clock). */
export function renderLag(lag, sentAt, receivedAt) {
  serverClock.offset = Date.parse(lag.measured_at) - (sentAt + receivedAt) / 2;
  serverClock.oldestAgeMs = lag.oldest_age_ms;
  $('backlog').textContent = fmtInt(lag.backlog);
  const parts = [`oldest ${fmtAge(lag.oldest_age_ms)}`];
  if (lag.pending > 0) parts.push(`${fmtInt(lag.pending)} being stored`);
  if (lag.dead_letters > 0) parts.push(`${fmtInt(lag.dead_letters)} dead letters`);
  if (lag.drain !== null && lag.drain.failures > 0) {
    parts.push(`drain failing (${lag.drain.failures}×): ${lag.drain.last_error ?? ''}`);
  }
  parts.push(`${lag.engine}, ${lag.shards.length} shards`);
  $('backlog-sub').textContent = parts.join(' · ');
  $('card-backlog').classList.toggle('warn', lag.dead_letters > 0 || lag.oldest_age_ms > 10_000);
}

export function lagUnavailable(e) {
  $('backlog-sub').textContent = `unavailable: ${e.message}`;
}
