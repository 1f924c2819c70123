import { statusLines } from '../format.js';
import type { Out } from '../output.js';
import { type CommandSpec, runCommand } from '../remote.js';

export const STATUS_SPEC: CommandSpec = {
  usage: 'tollgate status <agent>',
  description:
    "Shows an agent's budget status: the session's tokens and today's cost (used,\nreserved, limit, remaining) and the operations blocked.",
  args: ['agent'],
  example: 'tollgate status coder-7',
};

/** `tollgate status <agent>`: GET /v1/agents/:id/budget. */
export function status(out: Out, argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return runCommand(out, env, argv, STATUS_SPEC, async ({ args, json, client }) => {
    const s = await client().getBudgetStatus(args[0] ?? '');
    if (json) return out.json(s);
    for (const line of statusLines(s)) out.line(line);
  });
}
