// The agents table's rows (GET /v1/dashboard): built once per agent and
// updated in place, only the cells of a row whose figures changed touched.
// Sorting and filtering are view.js's; where a row sits (beneath its pool) too.

import { barEl, el, fmtInt, fmtUsd, setBar } from './format.js';

/**
 * The status a row shows: SUSPENDED (by an admin), OVER when the agent used
 * past a limit (session tokens or today's cost above it: `is_over_limit`, e.g.
 * a settle above its estimate), else the server's (BLOCKED: today's cost limit
 * reached; ACTIVE).
 */
export function shownStatus(a) {
  if (a.status === 'SUSPENDED') return a.status;
  return a.budget_status.is_over_limit === true ? 'OVER' : a.status;
}

/** agent id → { tr, cells, data, sig } */
export const rows = new Map();
/** The last poll's rows, as GET /v1/dashboard answered them. */
export const table = { agents: [] };
const knownRoles = new Set();
let onOpen = () => {};

/** What a click on an agent's id does (the drill-down). */
export function setOpenHandler(fn) {
  onOpen = fn;
}

function makeRow(id) {
  const tr = el('tr');
  tr.dataset.agent = id;
  const open = el('button', 'link agent-id', id);
  open.type = 'button';
  open.addEventListener('click', () => onOpen(id));
  const cId = el('td');
  cId.append(open);
  const cRole = el('td', 'role');
  const badge = el('span', 'badge');
  const cStatus = el('td', 'status');
  cStatus.append(badge);
  const sBar = barEl();
  const sPct = el('span', 'pct');
  const cSession = el('td', 'bar-cell session');
  cSession.append(sBar, sPct);
  const dBar = barEl();
  const dPct = el('span', 'pct');
  const cDaily = el('td', 'bar-cell daily');
  cDaily.append(dBar, dPct);
  const cCost = el('td', 'num cost');
  const cBlocked = el('td', 'num ops-blocked');
  tr.append(cId, cRole, cStatus, cSession, cDaily, cCost, cBlocked);
  return { tr, cRole, badge, sBar, sPct, dBar, dPct, cCost, cBlocked, data: null, sig: '' };
}

function updateRow(r, a) {
  const b = a.budget_status;
  const status = shownStatus(a);
  const sig = [
    a.role,
    status,
    b.session.tokens_overrun,
    b.daily.cost_overrun,
    b.session.tokens_used,
    b.session.tokens_reserved,
    b.session.tokens_limit,
    b.daily.cost_used,
    b.daily.cost_reserved,
    b.daily.cost_limit,
    a.operations_blocked,
  ].join('|');
  r.data = a;
  if (sig === r.sig) return;
  r.sig = sig;
  r.tr.dataset.status = status;
  r.cRole.textContent = a.role;
  r.badge.textContent = status;
  r.badge.className = `badge ${status.toLowerCase()}`;
  r.badge.title =
    status === 'OVER'
      ? `used past a limit: ${fmtInt(b.session.tokens_overrun ?? 0)} tokens over their holds this session, ${fmtUsd(b.daily.cost_overrun ?? 0)} over today`
      : '';
  const s = b.session;
  setBar(
    r.sBar,
    s.tokens_used,
    s.tokens_reserved,
    s.tokens_limit,
    `session ${s.session_id}: ${fmtInt(s.tokens_used)} used + ${fmtInt(s.tokens_reserved)} reserved of ${fmtInt(s.tokens_limit)} tokens`,
  );
  r.sPct.textContent = a.session_utilization;
  const d = b.daily;
  setBar(
    r.dBar,
    d.cost_used,
    d.cost_reserved,
    d.cost_limit,
    `${d.date}: ${fmtUsd(d.cost_used)} used + ${fmtUsd(d.cost_reserved)} reserved of ${fmtUsd(d.cost_limit)}`,
  );
  r.dPct.textContent = a.daily_utilization;
  r.cCost.textContent = a.cost_used;
  r.cBlocked.textContent = fmtInt(a.operations_blocked);
}

/** The poll's rows: new agents get a row, gone ones lose theirs. Returns whether a new role appeared. */
export function renderRows(agents) {
  table.agents = agents;
  const present = new Set();
  let newRole = false;
  for (const a of agents) {
    present.add(a.agent_id);
    let r = rows.get(a.agent_id);
    if (r === undefined) {
      r = makeRow(a.agent_id);
      rows.set(a.agent_id, r);
    }
    updateRow(r, a);
    if (!knownRoles.has(a.role)) {
      knownRoles.add(a.role);
      newRole = true;
    }
  }
  for (const [id, r] of rows) {
    if (!present.has(id)) {
      r.tr.remove();
      rows.delete(id);
    }
  }
  return newRole;
}

/** The roles seen so far, sorted (the role filter's options). */
export const roles = () => [...knownRoles].sort();

/** Marks the row whose drill-down is open. */
export function select(id) {
  for (const r of rows.values()) r.tr.classList.toggle('selected', r.data?.agent_id === id);
}

export function resetAgents() {
  for (const r of rows.values()) r.tr.remove();
  rows.clear();
  table.agents = [];
}
