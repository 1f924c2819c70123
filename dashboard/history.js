// History: the spend of a range of UTC days from the audit store
// (GET /v1/dashboard/history: by day, and over the range by role, model and
// operation; by default the last 30 days, at most 92, the server says so),
// read when the page opens and when the operator asks for another range. Each
// table can be saved as CSV, exactly what it shows (csv.js).

import { api, describeError, Refused } from './api.js';
import { stackedBars } from './chart.js';
import { download, toCsv } from './csv.js';
import { serverNow } from './fleet.js';
import { $, el, fmtInt, fmtTime, fmtUsd } from './format.js';

const DEFAULT_DAYS = 30;
const DAY_MS = 86_400_000;
const BAR_COLOR = '#2563eb';

/** The last answer shown (what the CSV buttons save), and whether one was ever asked for. */
const state = { shown: null, loaded: false, seq: 0 };

const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);

/** The default range: the last DEFAULT_DAYS UTC days, today (the server's) included. */
function lastDays() {
  const to = Math.floor(serverNow() / DAY_MS) * DAY_MS;
  return { from: isoDay(to - (DEFAULT_DAYS - 1) * DAY_MS), to: isoDay(to) };
}

/** A table's rows: key, cost, tokens in and out, events (and CSV rows of the same). */
const TABLES = {
  day: { id: 'h-day', head: 'date', rows: (h) => h.days.map((d) => [d.date, d]) },
  role: { id: 'h-role', head: 'role', rows: (h) => h.by_role.map((r) => [r.key ?? '(none)', r]) },
  model: {
    id: 'h-model',
    head: 'model',
    rows: (h) => h.by_model.map((r) => [r.key ?? '(none)', r]),
  },
  operation: {
    id: 'h-operation',
    head: 'operation',
    rows: (h) => h.by_operation.map((r) => [r.key ?? '(none)', r]),
  },
};

function fillTable(t, h) {
  const rows = t.rows(h);
  const trs = rows.map(([key, r]) => {
    const tr = el('tr');
    tr.dataset.key = key;
    tr.append(
      el('td', '', key),
      el('td', 'num', fmtUsd(r.cost)),
      el('td', 'num', fmtInt(r.input_tokens)),
      el('td', 'num', fmtInt(r.output_tokens)),
      el('td', 'num', fmtInt(r.events)),
    );
    return tr;
  });
  if (trs.length === 0) {
    const tr = el('tr', 'empty');
    const td = el('td', 'sub', 'No spend in this range');
    td.colSpan = 5;
    tr.append(td);
    trs.push(tr);
  }
  $(t.id).tBodies[0].replaceChildren(...trs);
}

function draw(h) {
  state.shown = h;
  $('h-range').textContent = `${h.from} to ${h.to} UTC · ${fmtUsd(h.total)}`;
  const n = h.days.length;
  $('h-chart').replaceChildren(
    stackedBars({
      columns: n,
      series: [{ name: 'spend', color: BAR_COLOR, values: h.days.map((d) => d.cost) }],
      label: (i) => h.days[i].date.slice(5),
      tickEvery: Math.max(1, Math.ceil(n / 10)),
      title: (i, _s, v) => `${h.days[i].date}: ${fmtUsd(v)}`,
      attrs: (i) => ({ 'data-date': h.days[i].date }),
      ariaLabel: `Spend by day from ${h.from} to ${h.to}`,
      empty: 'No spend recorded in this range',
    }),
  );
  for (const t of Object.values(TABLES)) fillTable(t, h);
  for (const b of document.querySelectorAll('#history button[data-csv]')) b.disabled = false;
}

/** Reads the range in the form and shows it; a refused token rejects (the caller signs out). */
export async function loadHistory() {
  state.loaded = true;
  const seq = ++state.seq;
  const from = $('h-from').value;
  const to = $('h-to').value;
  const q = new URLSearchParams();
  if (from !== '') q.set('from', from);
  if (to !== '') q.set('to', to);
  $('h-sub').textContent = 'Loading…';
  try {
    const h = await api(`/v1/dashboard/history?${q}`);
    if (seq !== state.seq) return;
    draw(h);
    $('h-from').value = h.from;
    $('h-to').value = h.to;
    $('h-sub').textContent = `as of ${fmtTime(serverNow())} UTC (Show again to refresh)`;
    $('history').classList.remove('unavailable');
  } catch (e) {
    if (seq !== state.seq) return;
    if (e instanceof Refused && e.status === 401) throw e;
    $('h-sub').textContent = `Not shown: ${describeError(e)}`;
    $('history').classList.add('unavailable');
  }
}

/** The first load after sign-in (the default range); later ones come from the form. */
export function historyOnce(onError) {
  if (state.loaded) return;
  const d = lastDays();
  $('h-from').value = d.from;
  $('h-to').value = d.to;
  $('h-to').max = d.to;
  loadHistory().catch(onError);
}

function saveCsv(kind) {
  const h = state.shown;
  if (h === null) return;
  const t = TABLES[kind];
  const rows = t
    .rows(h)
    .map(([key, r]) => [
      key,
      (r.cost_micros / 1e6).toFixed(6),
      r.input_tokens,
      r.output_tokens,
      r.events,
    ]);
  download(
    `tollgate-spend-by-${kind}-${h.from}-to-${h.to}.csv`,
    toCsv([t.head, 'cost_usd', 'input_tokens', 'output_tokens', 'events'], rows),
  );
}

export function setupHistory(onError) {
  $('h-form').addEventListener('submit', (e) => {
    e.preventDefault();
    loadHistory().catch(onError);
  });
  $('h-last30').addEventListener('click', () => {
    const d = lastDays();
    $('h-from').value = d.from;
    $('h-to').value = d.to;
    loadHistory().catch(onError);
  });
  for (const b of document.querySelectorAll('#history button[data-csv]')) {
    b.addEventListener('click', () => saveCsv(b.dataset.csv));
  }
}

export function resetHistory() {
  state.shown = null;
  state.loaded = false;
  state.seq++;
  for (const t of Object.values(TABLES)) $(t.id).tBodies[0].replaceChildren();
  $('h-chart').replaceChildren();
  $('h-range').textContent = '';
  $('h-sub').textContent = '';
  for (const b of document.querySelectorAll('#history button[data-csv]')) b.disabled = true;
}
