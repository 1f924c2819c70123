import { table, tokens, usd } from '../format.js';
import { oneOf } from '../options.js';
import type { Command } from '../remote.js';

/** `tollgate spend`: GET /v1/spend, the store's spend summed by model, role, operation or agent. */

const GROUPS = ['model', 'role', 'operation', 'agent_id'] as const;

export const spend: Command = {
  spec: {
    usage:
      'tollgate spend [--from <time>] [--to <time>] [--group-by model|role|operation|agent_id] [--agent <id>]',
    description: [
      'Spend from the audit store: the settle and usage events in [from, to) (default:',
      'today, UTC), their cost and tokens summed per model (or role, operation,',
      "agent), most costly first. With an agent key as --token: that agent's only.",
    ].join('\n'),
    args: [],
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      'group-by': { type: 'string' },
      agent: { type: 'string' },
    },
    optionsHelp: [
      "  --from <time>        at or after: ISO 8601 (2025-06-01, 2025-06-01T12:00:00Z) or ms; default today's UTC midnight",
      '  --to <time>          before (exclusive): as --from; default 24 hours after --from',
      '  --group-by <key>     model (default), role, operation or agent_id',
      "  --agent <id>         one agent's spend",
    ].join('\n'),
    example: 'tollgate spend --group-by role --from 2026-03-01 --to 2026-04-01',
  },
  async action({ out, option, json, client }) {
    const s = await client().spend({
      from: option('from'),
      to: option('to'),
      group_by: oneOf('--group-by', option('group-by'), GROUPS),
      agent_id: option('agent'),
    });
    if (json) return out.json(s);
    out.line(
      `Spend by ${s.group_by}${s.agent_id ? ` of ${s.agent_id}` : ''}, ${s.from} to ${s.to}:`,
    );
    if (s.rows.length === 0) {
      out.line('No spend in this period.');
      return;
    }
    const total = s.rows.reduce((a, r) => a + r.cost_micros, 0) / 1_000_000;
    for (const l of table([
      [s.group_by.toUpperCase(), 'COST', 'INPUT', 'OUTPUT', 'EVENTS', 'ESTIMATED'],
      ...s.rows.map((r) => [
        r.key ?? '(none)',
        usd(r.cost),
        tokens(r.input_tokens),
        tokens(r.output_tokens),
        tokens(r.events),
        tokens(r.estimated_events),
      ]),
    ])) {
      out.line(l);
    }
    out.line(`Total ${usd(total)}`);
  },
};
