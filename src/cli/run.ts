import { ConfigError } from '../config/index.js';
import {
  adminToken,
  agents,
  audit,
  demo,
  policyCheck,
  serve,
  status,
  worker,
} from './commands/index.js';
import type { Out } from './output.js';

const HELP = `tollgate: budget and permission gate for fleets of AI agents

Usage:
  tollgate serve [--port 8080]  run the HTTP API (embedded engine unless REDIS_URL or
                                REDIS_CLUSTER_NODES is set); tollgate serve --help
  tollgate worker               run the audit worker: Redis outboxes into PostgreSQL
                                (DATABASE_URL) or PGlite; tollgate worker --help
  tollgate demo                 run the integration guide's scenario (embedded engine,
                                or Redis when REDIS_URL is set)
  tollgate policy check <file>  validate a policy file (JSON or YAML)
  tollgate admin-token rotate [--data-dir <dir>]
                                embedded mode: a new admin token (shown once); a running
                                server on that data folder takes it at once

Operating a running API (admin token; each command takes --help, --json):
  tollgate agents register <id> --role <role> [--metadata <json>]
                                register an agent; prints its API key (shown once)
  tollgate agents list          the agents (--role, --status to filter)
  tollgate agents show <id>     one agent's record
  tollgate agents suspend <id>  deny every authorize for it until resumed
  tollgate agents resume <id>   undo suspend
  tollgate agents rotate-key <id>
                                a new API key (shown once); the old one stops working
  tollgate agents delete <id>   remove the agent and its key
  tollgate status <agent>       the agent's budget status
  tollgate audit [--agent <id>] [--type <type>] [--allowed true|false] [--from <time>]
                 [--to <time>] [--limit <n>] [--cursor <c>]
                                the audit events, newest first, a page at a time
  tollgate audit lag            the audit backlog: events not yet stored, per shard

  tollgate --help               this text

Environment (server): REDIS_URL or REDIS_CLUSTER_NODES (none: embedded engine),
TOLLGATE_ADMIN_TOKEN, TOLLGATE_POLICY (a policy file), PORT.
Environment (operator commands): TOLLGATE_URL (default http://localhost:8080) or --url,
TOLLGATE_ADMIN_TOKEN or --token.
Exit codes: 0 done, 1 failed (the API's "CODE: message"), 2 usage or configuration error.`;

/** Runs one CLI command; returns the exit code. */

export async function runCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  out: Out,
): Promise<number> {
  const [cmd, sub, arg] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    out.line(HELP);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === 'serve') return serve(out, argv.slice(1), env);
  if (cmd === 'worker') return worker(out, argv.slice(1), env);
  if (cmd === 'admin-token') return adminToken(out, argv.slice(1), env);
  if (cmd === 'demo') return demo(out, env.REDIS_URL || undefined);
  if (cmd === 'agents') return agents(out, argv.slice(1), env);
  if (cmd === 'status') return status(out, argv.slice(1), env);
  if (cmd === 'audit') return audit(out, argv.slice(1), env);
  if (cmd === 'policy' && sub === 'check') return policyCheck(out, arg);
  if (cmd === 'policy' && (sub === undefined || sub === '--help')) {
    out.line('Usage: tollgate policy check <file>');
    return sub === undefined ? 2 : 0;
  }
  out.error(`unknown command: ${argv.join(' ')}\n\n${HELP}`);
  return 2;
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
