import type { AgentRecord } from '../../client/index.js';
import { agentLines, agentTable, tokens, usd } from '../format.js';
import { dollars, jsonObject, oneOf, required } from '../options.js';
import type { Out } from '../output.js';
import type { Command, CommandContext, Group } from '../remote.js';
import { move, setLimits, setMetadata, setRole } from './agents-update.js';

/** `tollgate agents …`: the agent registry over the SDK (admin token). */

function keyLines(title: string, apiKey: string): string[] {
  return [title, `  ${apiKey}`];
}

export function print(out: Out, lines: readonly string[]): void {
  for (const l of lines) out.line(l);
}

const register: Command = {
  spec: {
    usage:
      'tollgate agents register <id> --role <role> [--metadata <json>] [--pool <id>] [--time-zone <tz>] [--monthly-cost-limit <usd>]',
    description:
      "Registers an agent with its role's budget and a first session; prints the\nagent and its API key. The key is shown only once.",
    args: ['id'],
    options: {
      role: { type: 'string' },
      metadata: { type: 'string' },
      pool: { type: 'string' },
      'time-zone': { type: 'string' },
      'monthly-cost-limit': { type: 'string' },
    },
    optionsHelp: [
      "  --role <role>                the agent's role (required), e.g. coder",
      '  --metadata <json>            a JSON object kept with the agent, e.g. \'{"team":"payments"}\'',
      '  --pool <id>                  the pool it joins (it must exist; default: none)',
      "  --time-zone <tz>             IANA zone of the agent's day and month (default: the role's, UTC)",
      "  --monthly-cost-limit <usd>   USD a month (0: none; default: the role's)",
    ].join('\n'),
    example: `tollgate agents register coder-7 --role coder --metadata '{"team":"payments"}'`,
  },
  async action({ out, args, option, json, client }) {
    const role = required('--role', option('role'), '--role <role>');
    const metadata = jsonObject('--metadata', option('metadata'));
    const timeZone = option('time-zone');
    const pool = option('pool');
    const monthly = dollars('--monthly-cost-limit', option('monthly-cost-limit'));
    const a = await client().registerAgent({
      agent_id: args[0] ?? '',
      role,
      ...(metadata ? { metadata } : {}),
      ...(pool === undefined ? {} : { pool_id: pool }),
      ...(timeZone === undefined ? {} : { time_zone: timeZone }),
      ...(monthly === undefined ? {} : { monthly_cost_limit: monthly }),
    });
    if (json) return out.json(a);
    const { api_key: apiKey, ...record } = a;
    print(out, [
      `Registered agent ${a.agent_id}.`,
      ...agentLines(record),
      ...keyLines('API key (shown once: store it now, it cannot be shown again):', apiKey),
    ]);
  },
};

const list: Command = {
  spec: {
    usage: 'tollgate agents list [--role <role>] [--status active|suspended] [--pool <id>]',
    description: 'Lists the registered agents, sorted by id.',
    args: [],
    options: { role: { type: 'string' }, status: { type: 'string' }, pool: { type: 'string' } },
    optionsHelp: [
      '  --role <role>                    only agents of this role',
      '  --status <active|suspended>      only agents in this status',
      '  --pool <id>                      only agents directly in this pool',
    ].join('\n'),
    example: 'tollgate agents list --status suspended',
  },
  async action({ out, option, json, client }) {
    const role = option('role');
    const status = oneOf('--status', option('status'), ['active', 'suspended'] as const);
    const pool = option('pool');
    const answer = await client().listAgents({ role, status, pool_id: pool });
    const agents = [...answer.agents].sort((a, b) =>
      a.agent_id < b.agent_id ? -1 : a.agent_id > b.agent_id ? 1 : 0,
    );
    if (json) return out.json({ agents });
    if (agents.length === 0) {
      out.line(role || status || pool ? 'No agents match.' : 'No agents registered.');
      return;
    }
    print(out, [...agentTable(agents), `${agents.length} agent${agents.length === 1 ? '' : 's'}`]);
  },
};

const show: Command = {
  spec: {
    usage: 'tollgate agents show <id>',
    description: "Shows one agent's record (role, status, permissions, session, metadata).",
    args: ['id'],
    example: 'tollgate agents show coder-7',
  },
  async action({ out, args, json, client }) {
    const a = await client().getAgent(args[0] ?? '');
    if (json) return out.json(a);
    print(out, agentLines(a));
  },
};

const verify: Command = {
  spec: {
    usage: 'tollgate agents verify <id>',
    description:
      'Says whether the agent may act: it exists and is active (with an agent key as\n--token: and the key is its own). Exit 0 when valid, 1 when not.',
    args: ['id'],
    example: 'tollgate agents verify coder-7',
  },
  async action({ out, args, json, client, exit }) {
    const v = await client().verifyAgent(args[0] ?? '');
    if (json) out.json(v);
    else
      out.line(
        v.valid ? `Agent ${args[0]} is valid.` : `Agent ${args[0]} is not valid: ${v.reason}.`,
      );
    if (!v.valid) exit(1);
  },
};

function lifecycle(
  verb: 'suspend' | 'resume',
  description: string,
  call: (ctx: CommandContext, id: string) => Promise<AgentRecord>,
): Command {
  return {
    spec: {
      usage: `tollgate agents ${verb} <id>`,
      description,
      args: ['id'],
      example: `tollgate agents ${verb} coder-7`,
    },
    async action(ctx) {
      const a = await call(ctx, ctx.args[0] ?? '');
      if (ctx.json) return ctx.out.json(a);
      ctx.out.line(`Agent ${a.agent_id} is ${a.status}.`);
    },
  };
}

const suspend = lifecycle(
  'suspend',
  'Suspends an agent: every authorize for it is denied (AGENT_SUSPENDED) until\nit is resumed.',
  (ctx, id) => ctx.client().suspendAgent(id),
);

const resume = lifecycle('resume', 'Resumes a suspended agent.', (ctx, id) =>
  ctx.client().resumeAgent(id),
);

const rotateKey: Command = {
  spec: {
    usage: 'tollgate agents rotate-key <id>',
    description:
      'Issues a new API key for the agent and prints it (shown once); the old key\nstops working at once.',
    args: ['id'],
    example: 'tollgate agents rotate-key coder-7',
  },
  async action({ out, args, json, client }) {
    const a = await client().rotateKey(args[0] ?? '');
    if (json) return out.json(a);
    print(
      out,
      keyLines(
        `New API key for ${a.agent_id} (shown once; the old key no longer works):`,
        a.api_key,
      ),
    );
  },
};

const remove: Command = {
  spec: {
    usage: 'tollgate agents delete <id>',
    description:
      'Deletes the agent, its holds and its key, and prints its last budget status.\nIt cannot be undone.',
    args: ['id'],
    example: 'tollgate agents delete coder-7',
  },
  async action({ out, args, json, client }) {
    const r = await client().deleteAgent(args[0] ?? '');
    if (json) return out.json(r);
    const s = r.budget_status;
    out.line(
      `Deleted agent ${r.agent_id} (session tokens used ${tokens(s.session.tokens_used)}, cost today ${usd(s.daily.cost_used)}).`,
    );
  },
};

export const AGENTS: Group = {
  name: 'agents',
  summary:
    'Manage the agents of a running Tollgate API (the admin token; an agent key\nreaches `show` and `verify` of its own agent).',
  commands: new Map<string, Command>([
    ['register', register],
    ['list', list],
    ['show', show],
    ['verify', verify],
    ['set-role', setRole],
    ['set-metadata', setMetadata],
    ['set-limits', setLimits],
    ['move', move],
    ['suspend', suspend],
    ['resume', resume],
    ['rotate-key', rotateKey],
    ['delete', remove],
  ]),
};
