// Sorting and filtering of the agents table: filters hide rows (they stay in
// place); sorting moves rows only when the order changed. An agent in a pool
// sits beneath its pool's row (the pool's tbody, pools.js); the others in #rows.

import { roles, rows, shownStatus, table } from './agents.js';
import { $, fmtInt } from './format.js';
import { poolGroups } from './pools.js';

const view = { sort: 'id', dir: 1, role: '', status: '', q: '' };
/** `<pool>\0<agent id>` in the order the rows are in the DOM. */
let domOrder = [];

const STATUS_RANK = { OVER: 0, BLOCKED: 1, SUSPENDED: 2, ACTIVE: 3 };
const SORTS = {
  id: () => 0,
  role: (a, b) => (a.role < b.role ? -1 : a.role > b.role ? 1 : 0),
  status: (a, b) => STATUS_RANK[shownStatus(a)] - STATUS_RANK[shownStatus(b)],
  session: (a, b) =>
    a.budget_status.session.utilization_pct - b.budget_status.session.utilization_pct,
  daily: (a, b) => a.budget_status.daily.utilization_pct - b.budget_status.daily.utilization_pct,
  cost: (a, b) => a.budget_status.daily.cost_used - b.budget_status.daily.cost_used,
  blocked: (a, b) => a.operations_blocked - b.operations_blocked,
};

export function refreshRoleFilter() {
  const select = $('f-role');
  const current = select.value;
  const known = roles();
  while (select.options.length > 1) select.remove(1);
  for (const role of known) select.add(new Option(role, role));
  select.value = known.includes(current) ? current : '';
}

/** Filters (hidden rows stay in place) and sorts (moves rows only when the order changed). */
export function applyView() {
  const tbody = $('rows');
  const cmp = SORTS[view.sort];
  const agents = [...table.agents].sort((a, b) => {
    const c = cmp(a, b) * view.dir;
    if (c !== 0) return c;
    return a.agent_id < b.agent_id ? -view.dir : a.agent_id > b.agent_id ? view.dir : 0;
  });
  const q = view.q.toLowerCase();
  let shown = 0;
  for (const a of agents) {
    const r = rows.get(a.agent_id);
    const visible =
      (view.role === '' || a.role === view.role) &&
      (view.status === '' || shownStatus(a) === view.status) &&
      (q === '' || a.agent_id.toLowerCase().includes(q));
    if (r.tr.hidden === visible) r.tr.hidden = !visible;
    if (visible) shown++;
  }
  const placeOf = (a) => (poolGroups.has(a.budget_status.pool_id) ? a.budget_status.pool_id : '');
  const order = agents.map((a) => `${placeOf(a)}\u0000${a.agent_id}`);
  if (order.length !== domOrder.length || order.some((k, i) => k !== domOrder[i])) {
    const frags = new Map();
    for (const a of agents) {
      const place = placeOf(a);
      if (!frags.has(place)) frags.set(place, document.createDocumentFragment());
      frags.get(place).append(rows.get(a.agent_id).tr);
    }
    for (const [place, frag] of frags) {
      (place === '' ? tbody : poolGroups.get(place).tbody).append(frag);
    }
    domOrder = order;
  }
  $('shown').textContent =
    shown === agents.length
      ? `${fmtInt(agents.length)} agents`
      : `${fmtInt(shown)} of ${fmtInt(agents.length)} agents`;
}

export function setupView() {
  for (const th of document.querySelectorAll('#agents th[data-sort]')) {
    th.querySelector('button').addEventListener('click', () => {
      const key = th.dataset.sort;
      if (view.sort === key) view.dir = -view.dir;
      else {
        view.sort = key;
        view.dir = key === 'id' || key === 'role' ? 1 : -1;
      }
      for (const other of document.querySelectorAll('#agents th[data-sort]')) {
        other.removeAttribute('aria-sort');
      }
      th.setAttribute('aria-sort', view.dir === 1 ? 'ascending' : 'descending');
      applyView();
    });
  }
  $('f-role').addEventListener('change', (e) => {
    view.role = e.target.value;
    applyView();
  });
  $('f-status').addEventListener('change', (e) => {
    view.status = e.target.value;
    applyView();
  });
  $('f-id').addEventListener('input', (e) => {
    view.q = e.target.value.trim();
    applyView();
  });
}

export function resetView() {
  domOrder = [];
}
