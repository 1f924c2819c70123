// The Tollgate dashboard: one plain ES module, no dependencies, no build.
// It reads the /v1 API of the server that serves it, with the admin token
// the operator types in (kept in this tab's sessionStorage only), and polls:
//
//   every second   GET /v1/dashboard          rows, statuses, bars, fleet totals
//                  GET /v1/audit/lag          audit backlog
//                  GET /v1/audit?type=decision&from=…   decisions of the last minute (new ones only)
//   every 5 s      GET /v1/dashboard/spend?date=…       the chart
//                  GET /v1/spend?from=…&group_by=model  the day's spend by model, beside it
//   drill-down     GET /v1/agents/:id, GET /v1/audit?agent_id=…  (every 2 s while open)
//
// Rows are built once per agent and updated in place; text is only ever set
// with textContent (never HTML). See docs/dashboard.md.

const POLL_MS = 1000;
const CHART_EVERY = 5;
const DRILL_EVERY = 2;
const TOKEN_KEY = 'tollgate.adminToken';
const WINDOW_MS = 60_000;
const DECISION_PAGE = 1000;
const MAX_DECISION_PAGES = 5;
const DRILL_EVENTS = 20;
/** Models listed beside the chart (the costliest); the rest are summed in one line. */
const MODEL_ROWS = 10;
const PALETTE = [
  '#2563eb',
  '#d97706',
  '#059669',
  '#db2777',
  '#7c3aed',
  '#0891b2',
  '#65a30d',
  '#dc2626',
  '#4b5563',
  '#c026d3',
];
const SVG = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);

// ── API ─────────────────────────────────────────────────────────────────────

/** The server refused the token (401, or 403: an agent key). */
class Refused extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let token = null;

async function api(path) {
  const res = await fetch(path, {
    headers: { authorization: `Bearer ${token}` },
    cache: 'no-store',
    credentials: 'omit',
  });
  let body;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  if (res.status === 401 || res.status === 403) {
    throw new Refused(res.status, body?.error?.code ?? '', body?.error?.message ?? '');
  }
  if (!res.ok) {
    const e = new Error(body?.error?.message ?? `HTTP ${res.status}`);
    e.status = res.status;
    e.code = body?.error?.code;
    throw e;
  }
  return body;
}

// ── formatting ──────────────────────────────────────────────────────────────

const intFmt = new Intl.NumberFormat('en-US');
const fmtInt = (n) => intFmt.format(n);

function fmtUsd(n) {
  if (!Number.isFinite(n)) return '–';
  if (n === 0) return '$0';
  if (Math.abs(n) < 1) return `$${n.toFixed(4)}`;
  return `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

const pad2 = (n) => String(n).padStart(2, '0');
function fmtTime(ms) {
  const d = new Date(ms);
  return `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}
function fmtAge(ms) {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

/** Used and reserved as percents of the limit, for a bar: used clamped to 100, reserved to what is left. */
export function barWidths(used, reserved, limit) {
  if (limit <= 0) return { used: used > 0 ? 100 : 0, reserved: 0 };
  const u = Math.min(100, Math.max(0, (used / limit) * 100));
  const r = Math.min(100 - u, Math.max(0, (reserved / limit) * 100));
  return { used: u, reserved: r };
}

function setBar(bar, used, reserved, limit, title) {
  const w = barWidths(used, reserved, limit);
  const [u, r] = bar.children;
  u.style.width = `${w.used.toFixed(2)}%`;
  r.style.width = `${w.reserved.toFixed(2)}%`;
  bar.classList.toggle('over', limit > 0 ? used >= limit : used > 0);
  bar.title = title;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function barEl() {
  const b = el('div', 'bar');
  b.append(el('span', 'used'), el('span', 'reserved'));
  return b;
}

// ── the agents table ────────────────────────────────────────────────────────

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
const rows = new Map();
/** The ids in the order they are in the DOM. */
let domOrder = [];
const view = { sort: 'id', dir: 1, role: '', status: '', q: '' };
let dashboardRows = [];
const knownRoles = new Set();

function makeRow(id) {
  const tr = el('tr');
  tr.dataset.agent = id;
  const open = el('button', 'link agent-id', id);
  open.type = 'button';
  open.addEventListener('click', () => openDrill(id));
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

function renderRows(agents) {
  dashboardRows = agents;
  const tbody = $('rows');
  const present = new Set();
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
      refreshRoleFilter();
    }
  }
  for (const [id, r] of rows) {
    if (!present.has(id)) {
      r.tr.remove();
      rows.delete(id);
    }
  }
  applyView(tbody);
}

function refreshRoleFilter() {
  const select = $('f-role');
  const current = select.value;
  while (select.options.length > 1) select.remove(1);
  for (const role of [...knownRoles].sort()) select.add(new Option(role, role));
  select.value = knownRoles.has(current) ? current : '';
}

/** Filters (hidden rows stay in place) and sorts (moves rows only when the order changed). */
function applyView(tbody = $('rows')) {
  const cmp = SORTS[view.sort];
  const agents = [...dashboardRows].sort((a, b) => {
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
  const order = agents.map((a) => a.agent_id);
  if (order.length !== domOrder.length || order.some((id, i) => id !== domOrder[i])) {
    const frag = document.createDocumentFragment();
    for (const id of order) frag.append(rows.get(id).tr);
    tbody.append(frag);
    domOrder = order;
  }
  $('shown').textContent =
    shown === agents.length
      ? `${fmtInt(agents.length)} agents`
      : `${fmtInt(shown)} of ${fmtInt(agents.length)} agents`;
}

function setupTable() {
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

// ── fleet header ────────────────────────────────────────────────────────────

function renderFleet(agents) {
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

/** Server time minus this browser's, from /v1/audit/lag's measured_at. */
let clockOffset = 0;
let lastOldestAgeMs = 0;

function renderLag(lag, sentAt, receivedAt) {
  clockOffset = Date.parse(lag.measured_at) - (sentAt + receivedAt) / 2;
  lastOldestAgeMs = lag.oldest_age_ms;
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

// ── decisions of the last minute ────────────────────────────────────────────

// Read from the audit ledger (GET /v1/audit, type=decision, from=…): each
// poll asks only for what is new since the newest decision seen, minus an
// overlap that covers events still on their way to the store (the backlog's
// age); ids already counted are skipped. More than MAX_DECISION_PAGES pages in
// one poll: the count shows "≥" until the gap leaves the window.
const decisions = { seen: new Map(), newestAt: 0, partialUntil: 0 };

async function pollDecisions() {
  const now = Date.now() + clockOffset;
  const windowStart = now - WINDOW_MS;
  const overlap = Math.min(WINDOW_MS, Math.max(2000, lastOldestAgeMs + 1000));
  const from = Math.floor(Math.max(windowStart, decisions.newestAt - overlap));
  let cursor;
  let pages = 0;
  do {
    const q = new URLSearchParams({
      type: 'decision',
      from: String(from),
      limit: String(DECISION_PAGE),
    });
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
  } while (cursor !== undefined && pages < MAX_DECISION_PAGES);
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

function decisionsUnavailable(e) {
  $('dec-allowed').textContent = '–';
  $('dec-denied').textContent = '–';
  $('dec-sub').textContent = `audit ledger unavailable: ${e.message}`;
  $('card-decisions').classList.add('unavailable');
}

// ── the chart ───────────────────────────────────────────────────────────────

const roleColors = new Map();
function colorOf(role) {
  let c = roleColors.get(role);
  if (c === undefined) {
    c = PALETTE[roleColors.size % PALETTE.length];
    roleColors.set(role, c);
  }
  return c;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A round axis maximum (1, 2, 2.5 or 5 × 10^n) at or above max, and its step. */
function niceAxis(max) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  return { top: step * Math.ceil(max / step), step };
}

/** An axis label: as many decimals as the step needs. */
function axisUsd(v, step) {
  let d = 0;
  while (d < 6 && Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) > 1e-6) d++;
  return `$${v.toFixed(d > 0 ? Math.max(2, d) : 0)}`;
}

let chartSig = '';
function drawChart(spend, currentHour) {
  const sig = JSON.stringify([spend, currentHour]);
  if (sig === chartSig) return;
  chartSig = sig;
  $('chart-date').textContent = `${spend.date} UTC · ${fmtUsd(spend.total)}`;
  const W = 960;
  const H = 240;
  const L = 64;
  const R = 8;
  const T = 10;
  const B = 26;
  const bw = (W - L - R) / 24;
  // Colours by role name order, so that a role keeps its colour whatever hour it first spends in.
  for (const r of spend.roles) colorOf(r.role);
  const totals = new Array(24).fill(0);
  for (const r of spend.roles) for (let h = 0; h < 24; h++) totals[h] += r.hours[h];
  const { top, step } = niceAxis(Math.max(...totals));
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const root = svg('svg', {
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-label': `Spend by hour on ${spend.date}`,
    class: 'chart-svg',
  });
  for (let v = 0; v <= top + step / 2; v += step) {
    root.append(
      svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }),
      svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, axisUsd(v, step)),
    );
  }
  if (currentHour !== undefined) {
    root.append(
      svg('rect', { x: L + currentHour * bw, y: T, width: bw, height: H - T - B, class: 'now' }),
    );
  }
  for (let h = 0; h < 24; h++) {
    let base = 0;
    for (const r of spend.roles) {
      const v = r.hours[h];
      if (v <= 0) continue;
      const rect = svg('rect', {
        x: L + h * bw + 2,
        width: bw - 4,
        y: y(base + v),
        height: Math.max(1, y(base) - y(base + v)),
        fill: colorOf(r.role),
        'data-role': r.role,
        'data-hour': h,
      });
      rect.append(svg('title', {}, `${r.role}, ${pad2(h)}:00–${pad2(h + 1)}:00 UTC: ${fmtUsd(v)}`));
      root.append(rect);
      base += v;
    }
    if (h % 3 === 0) {
      root.append(
        svg(
          'text',
          { x: L + h * bw + bw / 2, y: H - 8, 'text-anchor': 'middle', class: 'tick' },
          pad2(h),
        ),
      );
    }
  }
  root.append(svg('line', { x1: L, x2: W - R, y1: y(0), y2: y(0), class: 'axis' }));
  if (spend.roles.length === 0) {
    root.append(
      svg(
        'text',
        { x: (W + L) / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' },
        'No spend recorded yet today',
      ),
    );
  }
  $('chart').replaceChildren(root);
  const legend = $('legend');
  legend.replaceChildren(
    ...spend.roles.map((r) => {
      const item = el('span', 'item');
      const sw = el('span', 'swatch');
      sw.style.background = colorOf(r.role);
      item.append(sw, el('span', '', `${r.role} ${fmtUsd(r.total)}`));
      return item;
    }),
  );
}

function chartUnavailable(e) {
  chartSig = '';
  $('chart').replaceChildren(el('p', 'sub', `Spend by hour unavailable: ${e.message}`));
  $('legend').replaceChildren();
}

async function pollChart() {
  const date =
    dashboardRows[0]?.budget_status.daily.date ??
    new Date(Date.now() + clockOffset).toISOString().slice(0, 10);
  const [spend, byModel] = await Promise.allSettled([
    api(`/v1/dashboard/spend?date=${encodeURIComponent(date)}`),
    api(`/v1/spend?from=${encodeURIComponent(date)}&group_by=model`),
  ]);
  if (byModel.status === 'fulfilled') drawByModel(byModel.value);
  else if (byModel.reason instanceof Refused) throw byModel.reason;
  else byModelUnavailable(byModel.reason);
  if (spend.status === 'rejected') throw spend.reason;
  const now = new Date(Date.now() + clockOffset);
  drawChart(spend.value, now.toISOString().slice(0, 10) === date ? now.getUTCHours() : undefined);
}

// ── spend by model ──────────────────────────────────────────────────────────

let byModelSig = '';

/** The day's spend by model (GET /v1/spend, group_by=model): the costliest MODEL_ROWS, then the rest summed. */
function drawByModel(spend) {
  const sig = JSON.stringify(spend.rows);
  if (sig === byModelSig) return;
  byModelSig = sig;
  const rowOf = (name, cost, input, output, note) => {
    const tr = el('tr');
    const td = el('td', '', name);
    if (note) td.title = note;
    tr.append(
      td,
      el('td', 'num', fmtUsd(cost)),
      el('td', 'num', fmtInt(input)),
      el('td', 'num', fmtInt(output)),
    );
    return tr;
  };
  const shown = spend.rows
    .slice(0, MODEL_ROWS)
    .map((r) =>
      rowOf(
        `${r.key ?? '(none)'}${r.estimated_events > 0 ? ' *' : ''}`,
        r.cost,
        r.input_tokens,
        r.output_tokens,
        r.estimated_events > 0
          ? `${fmtInt(r.estimated_events)} of ${fmtInt(r.events)} estimated`
          : '',
      ),
    );
  const rest = spend.rows.slice(MODEL_ROWS);
  if (rest.length > 0) {
    const sum = (k) => rest.reduce((a, r) => a + r[k], 0);
    shown.push(
      rowOf(
        `${rest.length} more`,
        sum('cost_micros') / 1e6,
        sum('input_tokens'),
        sum('output_tokens'),
      ),
    );
  }
  $('by-model').tBodies[0].replaceChildren(...shown);
  const estimated = spend.rows.some((r) => r.estimated_events > 0);
  $('by-model-sub').textContent =
    spend.rows.length === 0
      ? 'No spend recorded yet today'
      : estimated
        ? '* some usage estimated (a stream cut before its usage)'
        : '\u00a0';
}

function byModelUnavailable(e) {
  byModelSig = '';
  $('by-model').tBodies[0].replaceChildren();
  $('by-model-sub').textContent = `unavailable: ${e.message}`;
}

// ── drill-down ──────────────────────────────────────────────────────────────

let drillId = null;

function fillDl(dl, pairs) {
  const out = [];
  for (const [k, v] of pairs) out.push(el('dt', '', k), el('dd', '', v));
  dl.replaceChildren(...out);
}

function renderDrillBudget() {
  const r = rows.get(drillId);
  if (r === undefined) {
    fillDl($('drill-budget'), [['status', 'no longer listed (deleted?)']]);
    fillDl($('drill-session'), []);
    return;
  }
  const a = r.data;
  const b = a.budget_status;
  fillDl($('drill-budget'), [
    ['status', shownStatus(a)],
    ['over a limit', b.is_over_limit ? 'yes' : 'no'],
    ['role', a.role],
    ['day (UTC)', b.daily.date],
    ['cost used', fmtUsd(b.daily.cost_used)],
    ['cost reserved', fmtUsd(b.daily.cost_reserved)],
    ['daily limit', fmtUsd(b.daily.cost_limit)],
    ['remaining', fmtUsd(b.daily.cost_remaining)],
    ['cost overrun', fmtUsd(b.daily.cost_overrun ?? 0)],
    ['daily utilization', a.daily_utilization],
    ['daily exhausted', b.is_daily_exhausted ? 'yes' : 'no'],
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

async function pollDrill() {
  const id = drillId;
  if (id === null) return;
  const enc = encodeURIComponent(id);
  const [agent, page] = await Promise.allSettled([
    api(`/v1/agents/${enc}`),
    api(`/v1/audit?agent_id=${enc}&limit=${DRILL_EVENTS}`),
  ]);
  for (const p of [agent, page]) {
    if (p.status === 'rejected' && p.reason instanceof Refused) throw p.reason;
  }
  if (id !== drillId) return;
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
    tbody.replaceChildren(
      ...page.value.events.map((e) => {
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
      }),
    );
    $('drill-events-note').textContent =
      page.value.events.length === 0
        ? 'No stored event yet (events appear once drained; see the audit backlog).'
        : `The latest ${page.value.events.length}, newest first.`;
  } else {
    tbody.replaceChildren();
    $('drill-events-note').textContent = `Audit ledger unavailable: ${page.reason.message}`;
  }
}

function openDrill(id) {
  drillId = id;
  $('drill-id').textContent = id;
  $('drill').hidden = false;
  for (const r of rows.values()) r.tr.classList.toggle('selected', r.data?.agent_id === id);
  renderDrillBudget();
  fillDl($('drill-agent'), []);
  $('drill-events').replaceChildren();
  $('drill-events-note').textContent = 'Loading…';
  pollDrill().catch(onPollError);
}

function closeDrill() {
  drillId = null;
  $('drill').hidden = true;
  for (const r of rows.values()) r.tr.classList.remove('selected');
}

// ── the loop ────────────────────────────────────────────────────────────────

let tick = 0;
let timer;
let running = false;
let generation = 0;

function banner(text) {
  const b = $('banner');
  b.textContent = text ?? '';
  b.hidden = text === undefined;
}

function onPollError(e) {
  if (e instanceof Refused) refuse(e);
}

async function poll(gen) {
  const started = Date.now();
  const t = tick++;
  const sent = Date.now();
  const [dash, lag] = await Promise.allSettled([api('/v1/dashboard'), api('/v1/audit/lag')]);
  const received = Date.now();
  if (gen !== generation) return;
  const refused = [dash, lag].find((p) => p.status === 'rejected' && p.reason instanceof Refused);
  if (refused) throw refused.reason;
  if (!sessionStorage.getItem(TOKEN_KEY)) sessionStorage.setItem(TOKEN_KEY, token);
  showMain();
  if (dash.status === 'fulfilled') {
    const t0 = performance.now();
    renderRows(dash.value.agents);
    renderFleet(dash.value.agents);
    if (drillId !== null) renderDrillBudget();
    // For whoever watches the page (the browser test): polls rendered, and the last one's cost.
    const root = document.documentElement.dataset;
    root.renderMs = (performance.now() - t0).toFixed(1);
    root.polls = String(Number(root.polls ?? 0) + 1);
    banner(undefined);
    $('updated').textContent = `live · updated ${fmtTime(received + clockOffset)} UTC`;
    $('live').classList.remove('stale');
  } else {
    banner(`GET /v1/dashboard failed: ${dash.reason.message}`);
    $('live').classList.add('stale');
    $('updated').textContent = `stale · ${dash.reason.message}`;
  }
  if (lag.status === 'fulfilled') renderLag(lag.value, sent, received);
  else $('backlog-sub').textContent = `unavailable: ${lag.reason.message}`;

  const more = [
    pollDecisions().catch((e) =>
      e instanceof Refused ? Promise.reject(e) : decisionsUnavailable(e),
    ),
  ];
  if (t % CHART_EVERY === 0) {
    more.push(
      pollChart().catch((e) => (e instanceof Refused ? Promise.reject(e) : chartUnavailable(e))),
    );
  }
  if (drillId !== null && t % DRILL_EVERY === 0) more.push(pollDrill());
  await Promise.all(more);
  return Date.now() - started;
}

function schedule(gen, delay) {
  timer = setTimeout(async () => {
    if (gen !== generation) return;
    let spent = 0;
    try {
      spent = (await poll(gen)) ?? 0;
    } catch (e) {
      if (e instanceof Refused) {
        refuse(e);
        return;
      }
      $('live').classList.add('stale');
      $('updated').textContent = `stale · ${e.message}`;
    }
    if (gen === generation && running) schedule(gen, Math.max(100, POLL_MS - spent));
  }, delay);
}

function start() {
  running = true;
  generation++;
  tick = 0;
  schedule(generation, 0);
}

function stop() {
  running = false;
  generation++;
  clearTimeout(timer);
}

// ── token ───────────────────────────────────────────────────────────────────

function showLogin() {
  $('login').hidden = false;
  $('main').hidden = true;
  $('live').hidden = true;
  $('signout').hidden = true;
  $('token').focus();
}

function showMain() {
  if (!$('main').hidden) return;
  $('login').hidden = true;
  $('refused').hidden = true;
  $('main').hidden = false;
  $('live').hidden = false;
  $('signout').hidden = false;
}

function forget() {
  stop();
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  closeDrill();
  for (const r of rows.values()) r.tr.remove();
  rows.clear();
  domOrder = [];
  dashboardRows = [];
  decisions.seen.clear();
  decisions.newestAt = 0;
  decisions.partialUntil = 0;
  chartSig = '';
}

function refuse(e) {
  forget();
  const msg = $('refused');
  msg.textContent =
    e.status === 403
      ? `Refused (403 ${e.code}): this token is not the admin token (an agent key reaches only its own agent). The token was cleared.`
      : `Refused (401 ${e.code}): the server does not accept this token. The token was cleared.`;
  msg.hidden = false;
  showLogin();
}

function main() {
  setupTable();
  $('drill-close').addEventListener('click', closeDrill);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && drillId !== null) closeDrill();
  });
  $('signout').addEventListener('click', () => {
    forget();
    $('refused').hidden = true;
    showLogin();
  });
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = $('token').value.trim();
    $('token').value = '';
    if (value === '') return;
    token = value;
    $('refused').hidden = true;
    start();
  });
  token = sessionStorage.getItem(TOKEN_KEY);
  if (token) start();
  else showLogin();
}

main();
