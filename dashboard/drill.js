// The drill-down of one agent (click its id; Escape or Close to leave): its
// budget status and session from the poll's row, its record
// (GET /v1/agents/:id) and its latest audit events (GET /v1/audit?agent_id=…),
// read every DRILL_EVERY polls while open; and the actions on it (actions.js).

import { showActions } from './actions.js';
import { rows, select, shownStatus } from './agents.js';
import { api, Refused } from './api.js';
import { $, el, fillDl, fmtInt, fmtUsd } from './format.js';

const DRILL_EVENTS = 20;

/** The agent whose drill-down is open, or null. */
export const drill = { id: null };

/** The drilled agent's dashboard row (undefined: none open, or no longer listed). */
export const drilledAgent = () => (drill.id === null ? undefined : rows.get(drill.id)?.data);

export function renderDrillBudget() {
  const r = rows.get(drill.id);
  if (r === undefined) {
    fillDl($('drill-budget'), [['status', 'no longer listed (deleted?)']]);
    fillDl($('drill-session'), []);
    showActions(undefined);
    return;
  }
  const a = r.data;
  const b = a.budget_status;
  showActions(a);
  fillDl($('drill-budget'), [
    ['status', shownStatus(a)],
    ['over a limit', b.is_over_limit ? 'yes' : 'no'],
    ['role', a.role],
    ['pool', b.pool_id ?? '(none)'],
    ['day (UTC)', b.daily.date],
    ['cost used', fmtUsd(b.daily.cost_used)],
    ['cost reserved', fmtUsd(b.daily.cost_reserved)],
    ['daily limit', fmtUsd(b.daily.cost_limit)],
    ['remaining', fmtUsd(b.daily.cost_remaining)],
    ['cost overrun', fmtUsd(b.daily.cost_overrun ?? 0)],
    ['daily utilization', a.daily_utilization],
    ['daily exhausted', b.is_daily_exhausted ? 'yes' : 'no'],
    ['monthly limit', b.monthly?.cost_limit == null ? 'none' : fmtUsd(b.monthly.cost_limit)],
    ['rate limits', rateLimits(b.rate_limits)],
    ['operations blocked', fmtInt(a.operations_blocked)],
    ['resets at', b.daily.resets_at],
  ]);
  const s = b.session;
  fillDl($('drill-session'), [
    ['session id', s.session_id],
    ['tokens used', fmtInt(s.tokens_used)],
    ['tokens reserved', fmtInt(s.tokens_reserved)],
    ['token limit', fmtInt(s.tokens_limit)],
    ['remaining', fmtInt(s.tokens_remaining)],
    ['tokens overrun', fmtInt(s.tokens_overrun ?? 0)],
    ['utilization', a.session_utilization],
    ['session exhausted', b.is_session_exhausted ? 'yes' : 'no'],
  ]);
}

function rateLimits(r) {
  if (r == null) return 'none';
  const parts = [];
  if (r.requests_per_minute !== null) parts.push(`${fmtInt(r.requests_per_minute)} req/min`);
  if (r.tokens_per_minute !== null) parts.push(`${fmtInt(r.tokens_per_minute)} tokens/min`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

function eventRow(e) {
  const tr = el('tr');
  const outcome =
    e.type === 'decision'
      ? e.allowed
        ? 'allowed'
        : `denied ${e.error_code ?? ''}${e.exceeded ? ` (${e.exceeded})` : ''}`
      : `${e.result ?? ''}${e.overrun_tokens > 0 ? ` (+${fmtInt(e.overrun_tokens)} tokens over the hold)` : ''}`;
  const tokens =
    e.input_tokens !== null || e.output_tokens !== null
      ? fmtInt((e.input_tokens ?? 0) + (e.output_tokens ?? 0))
      : e.estimated_tokens !== null
        ? `~${fmtInt(e.estimated_tokens)}`
        : '';
  tr.append(
    el('td', '', e.at.replace('T', ' ').replace('Z', '')),
    el('td', '', e.type),
    el('td', '', e.operation ?? ''),
    el('td', e.allowed === false ? 'no' : '', outcome),
    el('td', 'num', tokens),
    el('td', 'num', e.cost === null ? '' : fmtUsd(e.cost)),
  );
  return tr;
}

export async function pollDrill() {
  const id = drill.id;
  if (id === null) return;
  const enc = encodeURIComponent(id);
  const [agent, page] = await Promise.allSettled([
    api(`/v1/agents/${enc}`),
    api(`/v1/audit?agent_id=${enc}&limit=${DRILL_EVENTS}`),
  ]);
  for (const p of [agent, page]) {
    if (p.status === 'rejected' && p.reason instanceof Refused) throw p.reason;
  }
  if (id !== drill.id) return;
  if (agent.status === 'fulfilled') {
    const g = agent.value;
    fillDl($('drill-agent'), [
      ['record status', g.status],
      ['permissions', g.permissions.join(', ') || '(none)'],
      ['created at', g.created_at],
      ['metadata', JSON.stringify(g.metadata)],
    ]);
  } else {
    fillDl($('drill-agent'), [['record', agent.reason.message]]);
  }
  const tbody = $('drill-events');
  if (page.status === 'fulfilled') {
    tbody.replaceChildren(...page.value.events.map(eventRow));
    $('drill-events-note').textContent =
      page.value.events.length === 0
        ? 'No stored event yet (events appear once drained; see the audit backlog).'
        : `The latest ${page.value.events.length}, newest first.`;
  } else {
    tbody.replaceChildren();
    $('drill-events-note').textContent = `Audit ledger unavailable: ${page.reason.message}`;
  }
}

/** Opens the drill-down of `id`; `onError` gets a refused token from the first read. */
export function openDrill(id, onError) {
  drill.id = id;
  $('drill-id').textContent = id;
  $('drill').hidden = false;
  select(id);
  renderDrillBudget();
  fillDl($('drill-agent'), []);
  $('drill-events').replaceChildren();
  $('drill-events-note').textContent = 'Loading…';
  pollDrill().catch(onError);
}

export function closeDrill() {
  drill.id = null;
  $('drill').hidden = true;
  select(null);
}
