// Today's spend: by hour and role (GET /v1/dashboard/spend, the chart) and by
// model beside it (GET /v1/spend?group_by=model), both from the audit store.

import { table } from './agents.js';
import { api, Refused } from './api.js';
import { colorOf, stackedBars } from './chart.js';
import { serverNow } from './fleet.js';
import { $, el, fmtInt, fmtUsd, pad2 } from './format.js';

/** Models listed beside the chart (the costliest); the rest are summed in one line. */
const MODEL_ROWS = 10;

let chartSig = '';
let byModelSig = '';

function drawChart(spend, currentHour) {
  const sig = JSON.stringify([spend, currentHour]);
  if (sig === chartSig) return;
  chartSig = sig;
  $('chart-date').textContent = `${spend.date} UTC · ${fmtUsd(spend.total)}`;
  // Colours by role name order, so that a role keeps its colour whatever hour it first spends in.
  for (const r of spend.roles) colorOf(r.role);
  const root = stackedBars({
    columns: 24,
    series: spend.roles.map((r) => ({ name: r.role, values: r.hours })),
    label: (h) => pad2(h),
    tickEvery: 3,
    title: (h, role, v) => `${role}, ${pad2(h)}:00–${pad2(h + 1)}:00 UTC: ${fmtUsd(v)}`,
    attrs: (h, role) => ({ 'data-role': role, 'data-hour': h }),
    highlight: currentHour,
    ariaLabel: `Spend by hour on ${spend.date}`,
    empty: 'No spend recorded yet today',
  });
  $('chart').replaceChildren(root);
  $('legend').replaceChildren(
    ...spend.roles.map((r) => {
      const item = el('span', 'item');
      const sw = el('span', 'swatch');
      sw.style.background = colorOf(r.role);
      item.append(sw, el('span', '', `${r.role} ${fmtUsd(r.total)}`));
      return item;
    }),
  );
}

export function chartUnavailable(e) {
  chartSig = '';
  $('chart').replaceChildren(el('p', 'sub', `Spend by hour unavailable: ${e.message}`));
  $('legend').replaceChildren();
}

/** The day's spend by model: the costliest MODEL_ROWS, then the rest summed. */
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

/** Both reads; a refused token rejects (the loop signs out), any other failure is shown in place. */
export async function pollToday() {
  const date =
    table.agents[0]?.budget_status.daily.date ?? new Date(serverNow()).toISOString().slice(0, 10);
  const [spend, byModel] = await Promise.allSettled([
    api(`/v1/dashboard/spend?date=${encodeURIComponent(date)}`),
    api(`/v1/spend?from=${encodeURIComponent(date)}&group_by=model`),
  ]);
  if (byModel.status === 'fulfilled') drawByModel(byModel.value);
  else if (byModel.reason instanceof Refused) throw byModel.reason;
  else byModelUnavailable(byModel.reason);
  if (spend.status === 'rejected') throw spend.reason;
  const now = new Date(serverNow());
  drawChart(spend.value, now.toISOString().slice(0, 10) === date ? now.getUTCHours() : undefined);
}

export function resetToday() {
  chartSig = '';
  byModelSig = '';
}
