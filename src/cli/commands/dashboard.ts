import { table, tokens, usd } from '../format.js';
import type { Command, Group } from '../remote.js';

/** `tollgate dashboard [spend|history]`: the dashboard's JSON routes, as tables (admin token). */

const rows: Command = {
  spec: {
    usage: 'tollgate dashboard',
    description: [
      'The fleet, one row per agent (GET /v1/dashboard): session and daily',
      'utilization, cost today, operations blocked, ACTIVE / BLOCKED / SUSPENDED.',
      '`tollgate dashboard spend`: a day by hour and role; `history`: a range of days.',
    ].join('\n'),
    args: [],
    example: 'tollgate dashboard --json',
  },
  async action({ out, json, client }) {
    const d = await client().getDashboard();
    if (json) return out.json(d);
    if (d.agents.length === 0) {
      out.line('No agents registered.');
      return;
    }
    const sorted = [...d.agents].sort((a, b) => (a.agent_id < b.agent_id ? -1 : 1));
    for (const l of table([
      ['AGENT', 'ROLE', 'STATUS', 'SESSION', 'DAILY', 'COST TODAY', 'BLOCKED'],
      ...sorted.map((r) => [
        r.agent_id,
        r.role,
        r.status,
        r.session_utilization,
        r.daily_utilization,
        r.cost_used,
        tokens(r.operations_blocked),
      ]),
    ])) {
      out.line(l);
    }
    out.line(`${d.agents.length} agent${d.agents.length === 1 ? '' : 's'}`);
  },
};

const spend: Command = {
  spec: {
    usage: 'tollgate dashboard spend [--date <YYYY-MM-DD>]',
    description:
      "A UTC day's spend per role and hour, from the audit store (GET /v1/dashboard/spend):\nthe dashboard's chart.",
    args: [],
    options: { date: { type: 'string' } },
    optionsHelp: '  --date <YYYY-MM-DD>   the UTC day (default: today)',
    example: 'tollgate dashboard spend --date 2026-03-10',
  },
  async action({ out, option, json, client }) {
    const date = option('date');
    const s = await client().getDashboardSpend(date === undefined ? {} : { date });
    if (json) return out.json(s);
    out.line(`Spend on ${s.date} (UTC): ${usd(s.total)}`);
    if (s.roles.length === 0) return;
    for (const l of table([
      ['ROLE', 'TOTAL', 'BUSIEST HOUR'],
      ...s.roles.map((r) => {
        const peak = r.hours.reduce((best, v, h) => (v > (r.hours[best] ?? 0) ? h : best), 0);
        return [
          r.role,
          usd(r.total),
          `${String(peak).padStart(2, '0')}:00 ${usd(r.hours[peak] ?? 0)}`,
        ];
      }),
    ])) {
      out.line(l);
    }
  },
};

const history: Command = {
  spec: {
    usage: 'tollgate dashboard history [--from <YYYY-MM-DD>] [--to <YYYY-MM-DD>]',
    description:
      'Spend of a range of UTC days (default the last 30, at most 92) by day, and over the\nrange by role, model and operation, from the audit store (GET /v1/dashboard/history).',
    args: [],
    options: { from: { type: 'string' }, to: { type: 'string' } },
    optionsHelp: [
      '  --from <YYYY-MM-DD>   the first UTC day (default: 29 days before --to)',
      '  --to <YYYY-MM-DD>     the last UTC day, included (default: today)',
    ].join('\n'),
    example: 'tollgate dashboard history --from 2026-03-01 --to 2026-03-31',
  },
  async action({ out, option, json, client }) {
    const from = option('from');
    const to = option('to');
    const h = await client().getDashboardHistory({
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to }),
    });
    if (json) return out.json(h);
    out.line(`Spend from ${h.from} to ${h.to} (UTC): ${usd(h.total)}`);
    const spent = h.days.filter((d) => d.events > 0);
    if (spent.length === 0) return;
    for (const l of table([
      ['DAY', 'COST', 'TOKENS IN', 'TOKENS OUT', 'EVENTS'],
      ...spent.map((d) => [
        d.date,
        usd(d.cost),
        tokens(d.input_tokens),
        tokens(d.output_tokens),
        tokens(d.events),
      ]),
    ])) {
      out.line(l);
    }
    for (const [title, rows] of [
      ['ROLE', h.by_role],
      ['MODEL', h.by_model],
      ['OPERATION', h.by_operation],
    ] as const) {
      out.line('');
      for (const l of table([
        [title, 'COST', 'TOKENS IN', 'TOKENS OUT', 'EVENTS'],
        ...rows.map((r) => [
          r.key ?? '(none)',
          usd(r.cost),
          tokens(r.input_tokens),
          tokens(r.output_tokens),
          tokens(r.events),
        ]),
      ])) {
        out.line(l);
      }
    }
  },
};

export const DASHBOARD: Group = {
  name: 'dashboard',
  summary:
    "The dashboard's numbers: the fleet's rows, a day's spend, a range of days' (admin token).",
  main: rows,
  commands: new Map<string, Command>([
    ['spend', spend],
    ['history', history],
  ]),
};
