// The pools of GET /v1/dashboard: a pool is a row of its own, spanning the
// table, above the agents in it; each pool is a tbody before #rows (the agents
// in no pool), in tree order: a pool, then the pools beneath it. Built once
// per pool and updated in place. An admin can edit a pool's limits (limits.js).

import { adminButton } from './access.js';
import { $, barEl, byString, el, fmtInt, fmtUsd, setBar } from './format.js';
import { editPoolLimits } from './limits.js';

/** pool id → { tbody, tr, name, badge, dBar, dText, mBar, mText, rates, members, sig, data } */
export const poolGroups = new Map();
/** Pool ids in the order of their tbodies. */
let poolOrder = [];

/** A pool's status word: OVER (used past a cost limit), BLOCKED (a cost limit reached), else ACTIVE. */
export function poolStatus(p) {
  if (p.is_over_limit) return 'OVER';
  return p.is_daily_exhausted || p.is_monthly_exhausted ? 'BLOCKED' : 'ACTIVE';
}

/** Parents before their children, siblings by id: the order the tbodies take. */
export function poolTreeOrder(pools) {
  const children = new Map();
  const ids = new Set(pools.map((p) => p.pool_id));
  for (const p of pools) {
    const parent = p.parent_id !== null && ids.has(p.parent_id) ? p.parent_id : '';
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(p);
  }
  const out = [];
  const walk = (parent) => {
    const list = (children.get(parent) ?? []).sort((a, b) => byString(a.pool_id, b.pool_id));
    for (const p of list) {
      out.push(p);
      walk(p.pool_id);
    }
  };
  walk('');
  return out;
}

function makePoolGroup(id) {
  const tbody = el('tbody', 'pool');
  tbody.dataset.pool = id;
  const tr = el('tr', 'pool-head');
  const td = el('td');
  td.colSpan = 7;
  const name = el('span', 'pool-name', id);
  const badge = el('span', 'badge');
  const dBar = barEl();
  const dText = el('span', 'pool-fig');
  const daily = el('span', 'pool-daily');
  daily.append(el('small', '', 'today '), dBar, dText);
  const mBar = barEl();
  const mText = el('span', 'pool-fig');
  const monthly = el('span', 'pool-monthly');
  monthly.append(el('small', '', 'month '), mBar, mText);
  const rates = el('span', 'pool-rates');
  const members = el('span', 'pool-members');
  const g = { tbody, tr, name, badge, dBar, dText, mBar, mText, rates, members, sig: '' };
  const edit = adminButton('Edit limits', 'link pool-edit', () => editPoolLimits(g.data));
  td.append(name, badge, daily, monthly, rates, members, edit);
  tr.append(td);
  tbody.append(tr);
  return g;
}

/** One period's bar and figures; no limit: the bar is hidden and the spend shown alone. */
function poolPeriod(bar, text, p, label) {
  bar.hidden = p.cost_limit === null;
  if (p.cost_limit !== null) {
    setBar(
      bar,
      p.cost_used,
      p.cost_reserved,
      p.cost_limit,
      `${label}: ${fmtUsd(p.cost_used)} used + ${fmtUsd(p.cost_reserved)} reserved of ${fmtUsd(p.cost_limit)}`,
    );
    text.textContent = `${fmtUsd(p.cost_used)} of ${fmtUsd(p.cost_limit)} (${p.utilization_pct.toFixed(1)}%)`;
  } else {
    text.textContent = `${fmtUsd(p.cost_used)}, no limit`;
  }
}

function updatePoolGroup(g, p) {
  g.data = p;
  const status = poolStatus(p);
  const sig = JSON.stringify([p, status]);
  if (sig === g.sig) return;
  g.sig = sig;
  g.tbody.dataset.status = status;
  g.tr.className = `pool-head depth-${p.depth}`;
  g.name.title = p.parent_id === null ? 'a root pool' : `beneath ${p.parent_id}`;
  g.badge.textContent = status;
  g.badge.className = `badge ${status.toLowerCase()}`;
  poolPeriod(g.dBar, g.dText, p.daily, `${p.daily.date} (${p.time_zone})`);
  poolPeriod(g.mBar, g.mText, p.monthly, `${p.monthly.month} (${p.time_zone})`);
  const r = p.rate_limits;
  g.rates.textContent =
    r === null
      ? 'no rate limits'
      : [
          r.requests_per_minute !== null ? `${fmtInt(r.requests_per_minute)} req/min` : '',
          r.tokens_per_minute !== null ? `${fmtInt(r.tokens_per_minute)} tokens/min` : '',
        ]
          .filter(Boolean)
          .join(' · ');
  g.members.textContent = `${fmtInt(p.agents)} agent${p.agents === 1 ? '' : 's'}${
    p.pools > 0 ? ` · ${fmtInt(p.pools)} pool${p.pools === 1 ? '' : 's'}` : ''
  }`;
}

/** The poll's pools: new ones get a tbody, gone ones lose it (their agents go back to #rows). */
export function renderPools(pools) {
  const ordered = poolTreeOrder(pools);
  const present = new Set();
  for (const p of ordered) {
    present.add(p.pool_id);
    let g = poolGroups.get(p.pool_id);
    if (g === undefined) {
      g = makePoolGroup(p.pool_id);
      poolGroups.set(p.pool_id, g);
    }
    updatePoolGroup(g, p);
  }
  for (const [id, g] of poolGroups) {
    if (!present.has(id)) {
      // Its agents' rows go back to #rows (view.js places them at its next pass).
      for (const tr of [...g.tbody.querySelectorAll('tr[data-agent]')]) $('rows').append(tr);
      g.tbody.remove();
      poolGroups.delete(id);
    }
  }
  const order = ordered.map((p) => p.pool_id);
  if (order.length !== poolOrder.length || order.some((id, i) => id !== poolOrder[i])) {
    const rowsBody = $('rows');
    for (const id of order) rowsBody.before(poolGroups.get(id).tbody);
    poolOrder = order;
  }
}

export function resetPools() {
  for (const g of poolGroups.values()) g.tbody.remove();
  poolGroups.clear();
  poolOrder = [];
}
