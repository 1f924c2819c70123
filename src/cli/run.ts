import { ConfigError } from '../config/index.js';
import type { Out } from './output.js';
import { type Command, type Group, runCommand, runGroup } from './remote.js';

const HELP = `tollgate: budget and permission gate for fleets of AI agents

Usage:
  tollgate serve [--port 8080]  run the HTTP API (embedded engine unless REDIS_URL or
                                REDIS_CLUSTER_NODES is set)
  tollgate worker               run the audit worker: Redis outboxes into PostgreSQL
                                (DATABASE_URL) or PGlite
  tollgate demo                 run the integration guide's scenario (embedded engine,
                                or Redis when REDIS_URL is set)
  tollgate policy check <file>  validate a policy file (JSON or YAML)
  tollgate admin-token rotate [--data-dir <dir>]
                                embedded mode: a new admin token (shown once); a running
                                server on that data folder takes it at once

Operating a running API (the admin token, or an agent's key for its own agent):
  tollgate agents register <id> --role <role> [--metadata <json>]
                                register an agent; prints its API key (shown once)
  tollgate agents list          the agents (--role, --status to filter)
  tollgate agents show <id>     one agent's record
  tollgate agents verify <id>   whether it exists and is active
  tollgate agents set-role <id> <role>
                                another role: its permissions and limits
  tollgate agents set-metadata <id> <json>
                                replace its metadata
  tollgate agents set-limits <id> [--daily-cost-limit <usd>] [--session-token-limit <n>] …
                                override its limits
  tollgate agents move <id> (<pool-id> | --no-pool)
                                put it in a pool, or in none
  tollgate agents suspend <id>  deny every authorize for it until resumed
  tollgate agents resume <id>   undo suspend
  tollgate agents rotate-key <id>
                                a new API key (shown once); the old one stops working
  tollgate agents delete <id>   remove the agent and its key
  tollgate policy get|set <file>|diff <file>|set-role <role> <json>
                                the policy in force: read it, change it, compare a file
                                with it (diff exits 1 on differences)
  tollgate pools list|show <id>|create <id>|update <id>|delete <id>
                                pools: shared budgets over many agents
  tollgate sessions start <agent>
                                a new session (a fresh session budget)
  tollgate sessions end <agent> [<session-id>]
                                end the current session; prints its summary
  tollgate status <agent>       the agent's budget status
  tollgate authorize <agent> <operation> [--estimated-tokens <n>]
                                may it? a yes holds the estimate (exit 3 when denied)
  tollgate settle <reservation-id> --input-tokens <n> --output-tokens <n>
                                what it really used; frees the hold
  tollgate release <reservation-id>
                                free a hold without usage
  tollgate usage <agent> --input-tokens <n> --output-tokens <n>
                                record usage with nothing held
  tollgate audit [--agent <id>] [--type <type>] [--allowed true|false] [--from <time>]
                 [--to <time>] [--limit <n>] [--cursor <c>]
                                the audit events, newest first, a page at a time
  tollgate audit lag            the audit backlog: events not yet stored, per shard
  tollgate spend [--group-by model|role|operation|agent_id] [--from <time>] [--to <time>]
                                spend from the audit store, summed
  tollgate dashboard            the fleet, one row per agent
  tollgate dashboard spend [--date <YYYY-MM-DD>]
                                a day's spend by hour and role
  tollgate dashboard history [--from <YYYY-MM-DD>] [--to <YYYY-MM-DD>]
                                spend of a range of days by day, role, model, operation
  tollgate webhooks list|add <url>|delete <id>|dead-letters|retry <delivery-id>
                                where budget alerts go, and the deliveries that failed
  tollgate health | ready       liveness and readiness (no token needed)
  tollgate openapi              the OpenAPI document
  tollgate metrics              the Prometheus metrics

  tollgate --help               this text; every command takes --help (and --json,
                                but serve and worker, which log)

Environment (server): REDIS_URL or REDIS_CLUSTER_NODES (none: embedded engine),
TOLLGATE_ADMIN_TOKEN, TOLLGATE_POLICY (a policy file), PORT.
Environment (operator commands): TOLLGATE_URL (default http://localhost:8080) or --url,
TOLLGATE_ADMIN_TOKEN or --token.
Exit codes: 0 done, 1 failed (the API's "CODE: message"), 2 usage or configuration error.`;

type Run = (out: Out, argv: readonly string[], env: NodeJS.ProcessEnv) => Promise<number>;

/**
 * The top-level commands. Each module is imported when its command runs, so
 * that an operator command does not load the server (Express, PGlite,
 * BullMQ): `tollgate agents list` starts in a fraction of the time.
 */
type Entry =
  | { kind: 'own'; paths: string[][]; run: Run }
  | { kind: 'group'; load: () => Promise<Group> }
  | { kind: 'command'; load: () => Promise<Command> };

const ENTRIES: Readonly<Record<string, Entry>> = {
  serve: {
    kind: 'own',
    paths: [['serve']],
    run: async (out, argv, env) => (await import('./commands/serve.js')).serve(out, [...argv], env),
  },
  worker: {
    kind: 'own',
    paths: [['worker']],
    run: async (out, argv, env) =>
      (await import('./commands/worker.js')).worker(out, [...argv], env),
  },
  'admin-token': {
    kind: 'own',
    paths: [['admin-token', 'rotate']],
    run: async (out, argv, env) =>
      (await import('./commands/admin-token.js')).adminToken(out, [...argv], env),
  },
  demo: { kind: 'command', load: async () => (await import('./commands/demo.js')).demo },
  policy: { kind: 'group', load: async () => (await import('./commands/policy.js')).POLICY },
  agents: { kind: 'group', load: async () => (await import('./commands/agents.js')).AGENTS },
  sessions: {
    kind: 'group',
    load: async () => (await import('./commands/sessions.js')).SESSIONS,
  },
  pools: { kind: 'group', load: async () => (await import('./commands/pools.js')).POOLS },
  status: { kind: 'command', load: async () => (await import('./commands/status.js')).status },
  authorize: {
    kind: 'command',
    load: async () => (await import('./commands/gate.js')).authorize,
  },
  settle: { kind: 'command', load: async () => (await import('./commands/gate.js')).settle },
  release: { kind: 'command', load: async () => (await import('./commands/gate.js')).release },
  usage: { kind: 'command', load: async () => (await import('./commands/gate.js')).usage },
  audit: { kind: 'group', load: async () => (await import('./commands/audit.js')).AUDIT },
  spend: { kind: 'command', load: async () => (await import('./commands/spend.js')).spend },
  dashboard: {
    kind: 'group',
    load: async () => (await import('./commands/dashboard.js')).DASHBOARD,
  },
  webhooks: {
    kind: 'group',
    load: async () => (await import('./commands/webhooks.js')).WEBHOOKS,
  },
  health: { kind: 'command', load: async () => (await import('./commands/ops.js')).health },
  ready: { kind: 'command', load: async () => (await import('./commands/ops.js')).ready },
  openapi: { kind: 'command', load: async () => (await import('./commands/ops.js')).openapi },
  metrics: { kind: 'command', load: async () => (await import('./commands/ops.js')).metrics },
};

/** Runs one CLI command; returns the exit code. */
export async function runCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  out: Out,
): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    out.line(HELP);
    return cmd === undefined ? 2 : 0;
  }
  const entry = Object.hasOwn(ENTRIES, cmd) ? ENTRIES[cmd] : undefined;
  if (entry === undefined) {
    out.error(`tollgate: unknown command: ${argv.join(' ')}\n\n${HELP}`);
    return 2;
  }
  if (entry.kind === 'own') return entry.run(out, rest, env);
  if (entry.kind === 'group') return runGroup(out, env, rest, await entry.load());
  return runCommand(out, env, rest, await entry.load());
}

/** Every command, as the words that name it (`['agents', 'register']`): what tests run. */
export async function commandPaths(): Promise<string[][]> {
  const paths: string[][] = [];
  for (const [name, entry] of Object.entries(ENTRIES)) {
    if (entry.kind === 'own') paths.push(...entry.paths);
    else if (entry.kind === 'command') paths.push([name]);
    else {
      const g = await entry.load();
      if (g.main) paths.push([name]);
      for (const sub of g.commands.keys()) paths.push([name, sub]);
    }
  }
  return paths;
}

/**
 * What the process prints and exits with when a command throws: one line,
 * no stack. A configuration or usage error exits 2, anything else 1.
 */
export function failure(err: unknown): { code: number; line: string } {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | undefined)?.code;
  const usage =
    err instanceof ConfigError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'));
  return { code: usage ? 2 : 1, line: `tollgate: ${message.split('\n')[0]}` };
}
