import type { BudgetStatus } from '../../budget/status.js';
import type { AgentRecord } from '../../identity/index.js';
import { agentLines, agentTable, tokens, usd } from '../format.js';
import type { Out } from '../output.js';
import {
  CONNECTION_HELP,
  type CommandContext,
  type CommandSpec,
  runCommand,
  UsageError,
} from '../remote.js';

/** `tollgate agents …`: the agent registry over the SDK (admin token). */

interface Sub {
  spec: CommandSpec;
  action(ctx: CommandContext): Promise<void>;
}

function parseMetadata(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--metadata: not valid JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new UsageError(`--metadata: expected a JSON object such as '{"team":"payments"}'`);
  }
  return v as Record<string, unknown>;
}

/** GET /v1/agents answers `{agents: […]}`; accept a bare array too. */
function agentsOf(answer: unknown): AgentRecord[] {
  if (Array.isArray(answer)) return answer as AgentRecord[];
  const list = (answer as { agents?: unknown } | undefined)?.agents;
  return Array.isArray(list) ? (list as AgentRecord[]) : [];
}

function keyLines(title: string, apiKey: string): string[] {
  return [title, `  ${apiKey}`];
}

function print(out: Out, lines: string[]): void {
  for (const l of lines) out.line(l);
}

const register: Sub = {
  spec: {
    usage: 'tollgate agents register <id> --role <role> [--metadata <json>]',
    description:
      "Registers an agent with its role's budget and a first session; prints the\nagent and its API key. The key is shown only once.",
    args: ['id'],
    options: { role: { type: 'string' }, metadata: { type: 'string' } },
    optionsHelp: [
      "  --role <role>     the agent's role (required), e.g. coder",
      '  --metadata <json> a JSON object kept with the agent, e.g. \'{"team":"payments"}\'',
    ].join('\n'),
    example: `tollgate agents register coder-7 --role coder --metadata '{"team":"payments"}'`,
  },
  async action({ out, args, option, json, client }) {
    const role = option('role');
    if (role === undefined || role === '') throw new UsageError('missing --role <role>');
    const metadata = parseMetadata(option('metadata'));
    const agentId = args[0] ?? '';
    const a = await client().registerAgent({
      agent_id: agentId,
      role,
      ...(metadata ? { metadata } : {}),
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

const list: Sub = {
  spec: {
    usage: 'tollgate agents list [--role <role>] [--status active|suspended]',
    description: 'Lists the registered agents, sorted by id.',
    args: [],
    options: { role: { type: 'string' }, status: { type: 'string' } },
    optionsHelp: [
      '  --role <role>                    only agents of this role',
      '  --status <active|suspended>      only agents in this status',
    ].join('\n'),
    example: 'tollgate agents list --status suspended',
  },
  async action({ out, option, json, client }) {
    const role = option('role');
    const status = option('status');
    if (status !== undefined && status !== 'active' && status !== 'suspended') {
      throw new UsageError(`--status: expected active or suspended, got ${JSON.stringify(status)}`);
    }
    const agents = agentsOf(await client().listAgents())
      .filter(
        (a) =>
          (role === undefined || a.role === role) && (status === undefined || a.status === status),
      )
      .sort((a, b) => (a.agent_id < b.agent_id ? -1 : a.agent_id > b.agent_id ? 1 : 0));
    if (json) return out.json({ agents });
    if (agents.length === 0) {
      out.line(role || status ? 'No agents match.' : 'No agents registered.');
      return;
    }
    print(out, [...agentTable(agents), `${agents.length} agent${agents.length === 1 ? '' : 's'}`]);
  },
};

const show: Sub = {
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

function lifecycle(
  verb: 'suspend' | 'resume',
  description: string,
  call: (ctx: CommandContext, id: string) => Promise<AgentRecord>,
): Sub {
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

const rotateKey: Sub = {
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

const remove: Sub = {
  spec: {
    usage: 'tollgate agents delete <id>',
    description:
      'Deletes the agent, its holds and its key, and prints its last budget status.\nIt cannot be undone.',
    args: ['id'],
    example: 'tollgate agents delete coder-7',
  },
  async action({ out, args, json, client }) {
    const r = (await client().deleteAgent(args[0] ?? '')) as {
      agent_id?: string;
      budget_status?: BudgetStatus | null;
    };
    if (json) return out.json(r);
    const id = r.agent_id ?? args[0];
    const s = r.budget_status;
    out.line(
      s
        ? `Deleted agent ${id} (session tokens used ${tokens(s.session.tokens_used)}, cost today ${usd(s.daily.cost_used)}).`
        : `Deleted agent ${id}.`,
    );
  },
};

const SUBCOMMANDS = new Map<string, Sub>([
  ['register', register],
  ['list', list],
  ['show', show],
  ['suspend', suspend],
  ['resume', resume],
  ['rotate-key', rotateKey],
  ['delete', remove],
]);

export const AGENTS_HELP = `Usage: tollgate agents <command> [options]

Manage the agents of a running Tollgate API (needs the admin token).

Commands:
${[...SUBCOMMANDS.values()].map((s) => `  ${s.spec.usage}`).join('\n')}

Each command takes --help. Exit codes: 0 done, 1 the API refused (prints
"CODE: message"), 2 a usage or configuration error.

${CONNECTION_HELP}`;

/** `tollgate agents <command> …`; returns the exit code. */
export function agents(out: Out, argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    out.line(AGENTS_HELP);
    return Promise.resolve(sub === undefined ? 2 : 0);
  }
  const cmd = SUBCOMMANDS.get(sub);
  if (!cmd) {
    out.error(`tollgate: unknown command: agents ${sub}\n\n${AGENTS_HELP}`);
    return Promise.resolve(2);
  }
  return runCommand(out, env, rest, cmd.spec, (ctx) => cmd.action(ctx));
}
