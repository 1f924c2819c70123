import { statusLines } from '../format.js';
import type { Command } from '../remote.js';

/** `tollgate status <agent>`: GET /v1/agents/:id/budget. */
export const status: Command = {
  spec: {
    usage: 'tollgate status <agent>',
    description:
      "Shows an agent's budget status: the session's tokens and today's cost (used,\nreserved, limit, remaining) and the operations blocked.",
    args: ['agent'],
    example: 'tollgate status coder-7',
  },
  async action({ out, args, json, client }) {
    const s = await client().getBudgetStatus(args[0] ?? '');
    if (json) return out.json(s);
    for (const line of statusLines(s)) out.line(line);
  },
};
