// Changing limits, each change confirmed before it is sent: an agent's
// (PUT /v1/agents/:id/budget: session tokens, daily and monthly cost, requests
// and tokens per minute) and a pool's (PATCH /v1/pools/:id: daily and monthly
// cost, requests and tokens per minute). The form is filled with the limits
// in force; only the fields changed are sent. An empty optional field is "no
// limit" (sent as 0, which removes it). The server checks every value (a bad
// one: 400, shown in the dialog).

import { refresh, report } from './act.js';
import { api } from './api.js';
import { openDialog, step } from './dialog.js';
import { el, fmtInt } from './format.js';

/** A limit's field: its wire name, label, unit and value in force (null: none). */
const field = (key, label, unit, current, optional) => ({ key, label, unit, current, optional });

function agentFields(b) {
  const r = b.rate_limits;
  return [
    field('session_token_limit', 'Session tokens', 'tokens', b.session.tokens_limit, false),
    field('daily_cost_limit', 'Daily cost', 'usd', b.daily.cost_limit, false),
    field('monthly_cost_limit', 'Monthly cost', 'usd', b.monthly?.cost_limit ?? null, true),
    field(
      'requests_per_minute',
      'Requests per minute',
      'rate',
      r?.requests_per_minute ?? null,
      true,
    ),
    field('tokens_per_minute', 'Tokens per minute', 'rate', r?.tokens_per_minute ?? null, true),
  ];
}

function poolFields(p) {
  const r = p.rate_limits;
  return [
    field('daily_cost_limit', 'Daily cost', 'usd', p.daily.cost_limit, true),
    field('monthly_cost_limit', 'Monthly cost', 'usd', p.monthly.cost_limit, true),
    field(
      'requests_per_minute',
      'Requests per minute',
      'rate',
      r?.requests_per_minute ?? null,
      true,
    ),
    field('tokens_per_minute', 'Tokens per minute', 'rate', r?.tokens_per_minute ?? null, true),
  ];
}

/** A limit as the dialog says it: `$8`, `80,000 tokens`, `60/min`, or `none`. */
function say(f, v) {
  if (v === null) return 'none';
  if (f.unit === 'usd') return `$${v}`;
  return f.unit === 'tokens' ? `${fmtInt(v)} tokens` : `${fmtInt(v)}/min`;
}

function form(fields) {
  const f = el('form', 'limits-form');
  f.noValidate = true;
  for (const x of fields) {
    const label = el('label', '', x.label);
    const input = el('input');
    input.name = x.key;
    input.type = 'text';
    input.inputMode = x.unit === 'usd' ? 'decimal' : 'numeric';
    input.autocomplete = 'off';
    input.spellcheck = false;
    input.value = x.current === null ? '' : String(x.current);
    input.placeholder = x.optional ? 'none' : '';
    label.append(
      input,
      el('small', '', x.unit === 'usd' ? 'USD' : x.unit === 'rate' ? '/ min' : ''),
    );
    f.append(label);
  }
  f.append(
    el(
      'p',
      'sub',
      'Empty: no limit (where allowed). The server checks every value before it applies any.',
    ),
  );
  return f;
}

/** The fields whose value changed: `[{f, from, to}]`; throws on a value that is not a number. */
function changes(fields, formEl) {
  const out = [];
  for (const f of fields) {
    const text = formEl.elements[f.key].value.trim();
    let v = null;
    if (text !== '') {
      v = Number(text);
      if (!Number.isFinite(v) || v < 0)
        throw new Error(`${f.label}: "${text}" is not a number ≥ 0`);
      if (f.unit !== 'usd' && !Number.isInteger(v)) throw new Error(`${f.label}: a whole number`);
    } else if (!f.optional) {
      throw new Error(`${f.label}: a value is needed`);
    }
    if (v === 0 && f.optional) v = null;
    if (v !== f.current) out.push({ f, from: f.current, to: v });
  }
  return out;
}

function changeList(list) {
  const ul = el('ul', 'changes');
  for (const c of list) {
    ul.append(el('li', '', `${c.f.label}: ${say(c.f, c.from)} → ${say(c.f, c.to)}`));
  }
  return ul;
}

/** The form, then the changes to confirm, then the request. */
function editLimits({ title, what, fields, send }) {
  const f = form(fields);
  openDialog({
    title,
    body: [f],
    ok: 'Review changes',
    onOk: () => {
      const list = changes(fields, f);
      if (list.length === 0) throw new Error('nothing changed');
      const body = {};
      for (const c of list) body[c.f.key] = c.to ?? 0;
      step({
        title: `${title}: confirm`,
        body: [el('p', '', `Change the limits of ${what}?`), changeList(list)],
        ok: 'Apply',
        onOk: async () => {
          await send(body);
          report(
            `Limits of ${what} changed: ${list.map((c) => `${c.f.label.toLowerCase()} ${say(c.f, c.to)}`).join(', ')}`,
          );
          refresh();
        },
      });
    },
  });
}

/** The dashboard row `a` of the agent whose limits to change. */
export function editAgentLimits(a) {
  const id = a.agent_id;
  editLimits({
    title: `Limits of ${id}`,
    what: `agent ${id}`,
    fields: agentFields(a.budget_status),
    send: (body) => api(`/v1/agents/${encodeURIComponent(id)}/budget`, { method: 'PUT', body }),
  });
}

/** The pool status `p` (from GET /v1/dashboard's pools) whose limits to change. */
export function editPoolLimits(p) {
  if (p === undefined) return;
  editLimits({
    title: `Limits of pool ${p.pool_id}`,
    what: `pool ${p.pool_id}`,
    fields: poolFields(p),
    send: (body) => api(`/v1/pools/${encodeURIComponent(p.pool_id)}`, { method: 'PATCH', body }),
  });
}
