// Decisions of the last minute, read from the audit ledger (GET /v1/audit,
// type=decision, from=…): each poll asks only for what is new since the
// newest decision seen, minus an overlap that covers events still on their
// way to the store (the backlog's age); ids already counted are skipped. More
// than MAX_PAGES pages in one poll: the count shows "≥" until the gap leaves
// the window.

import { api } from './api.js';
import { serverClock, serverNow } from './fleet.js';
import { $, fmtInt, fmtTime } from './format.js';

const WINDOW_MS = 60_000;
const PAGE = 1000;
const MAX_PAGES = 5;

const decisions = { seen: new Map(), newestAt: 0, partialUntil: 0 };

export async function pollDecisions() {
  const now = serverNow();
  const windowStart = now - WINDOW_MS;
  const overlap = Math.min(WINDOW_MS, Math.max(2000, serverClock.oldestAgeMs + 1000));
  const from = Math.floor(Math.max(windowStart, decisions.newestAt - overlap));
  let cursor;
  let pages = 0;
  do {
    const q = new URLSearchParams({ type: 'decision', from: String(from), limit: String(PAGE) });
    if (cursor !== undefined) q.set('cursor', cursor);
    const page = await api(`/v1/audit?${q}`);
    for (const e of page.events) {
      const at = Date.parse(e.at);
      if (!decisions.seen.has(e.event_id)) {
        decisions.seen.set(e.event_id, { at, allowed: e.allowed === true });
      }
      if (at > decisions.newestAt) decisions.newestAt = at;
    }
    cursor = page.next_cursor;
    pages++;
  } while (cursor !== undefined && pages < MAX_PAGES);
  if (cursor !== undefined) decisions.partialUntil = now + WINDOW_MS;
  let allowed = 0;
  let denied = 0;
  for (const [id, d] of decisions.seen) {
    if (d.at < windowStart) decisions.seen.delete(id);
    else if (d.allowed) allowed++;
    else denied++;
  }
  const atLeast = now < decisions.partialUntil ? '≥' : '';
  $('dec-allowed').textContent = atLeast + fmtInt(allowed);
  $('dec-denied').textContent = atLeast + fmtInt(denied);
  $('dec-sub').textContent = `since ${fmtTime(windowStart)} UTC, as stored in the audit ledger`;
  $('card-decisions').classList.remove('unavailable');
}

export function decisionsUnavailable(e) {
  $('dec-allowed').textContent = '–';
  $('dec-denied').textContent = '–';
  $('dec-sub').textContent = `audit ledger unavailable: ${e.message}`;
  $('card-decisions').classList.add('unavailable');
}

export function resetDecisions() {
  decisions.seen.clear();
  decisions.newestAt = 0;
  decisions.partialUntil = 0;
}
