import { parseArgs } from 'node:util';
import { z } from 'zod';
import { TollgateApiError, TollgateClient } from '../client/index.js';
import type { Out } from './output.js';

/**
 * What the commands share (docs/cli.md): where the API is and which token to
 * send (flag, else environment, zod-checked), argument parsing, --help and
 * --json, and the exit codes: 0 done, 1 the API (or the network) said no, 2
 * the command was called wrongly (usage or configuration); a command may
 * answer another (authorize: 3 when denied).
 */

export const DEFAULT_URL = 'http://localhost:8080';

export const CONNECTION_HELP = `Connection (flag, else environment variable):
  --url <url>       TOLLGATE_URL: the API (default ${DEFAULT_URL})
  --token <token>   TOLLGATE_ADMIN_TOKEN: the admin token (an agent's own key
                    also works for the routes an agent may call on itself, the
                    read-only token for the reads)
  --json            machine output: the API's JSON answer
  -h, --help        this text`;

const LOCAL_HELP = `  --json            machine output (JSON)
  -h, --help        this text`;

/** A command called wrongly (bad flag, missing argument, bad --metadata…): exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A bad or missing TOLLGATE_URL / TOLLGATE_ADMIN_TOKEN (or flag): exit 2. */
export class CliConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliConfigError';
  }
}

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

const Url = z
  .string()
  .trim()
  .refine(isHttpUrl, {
    error: (i) => `expected an http:// or https:// URL, got ${JSON.stringify(i.input)}`,
  });

const Token = z
  .string({
    error: "is not set: the server's admin token is needed (--token or TOLLGATE_ADMIN_TOKEN)",
  })
  .min(1, { error: 'is empty' })
  .max(4096, { error: 'is too long' })
  .regex(/^[\x21-\x7e]+$/, { error: 'must be printable ASCII without spaces' });

const ConnectionSchema = z.object({ url: Url, token: Token });
const OptionalTokenSchema = z.object({ url: Url, token: Token.optional() });

export interface Connection {
  baseUrl: string;
  /** '' when none is needed and none was given (the open routes). */
  token: string;
}

function blank(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}

/**
 * The API's address and token: a flag wins over its variable; empty
 * variables count as unset. Throws CliConfigError naming each bad input
 * (never echoing a token). `tokenRequired: false`: the open routes.
 */
export function loadConnection(
  env: NodeJS.ProcessEnv,
  flags: { url?: string; token?: string },
  tokenRequired = true,
): Connection {
  const names = {
    url: flags.url !== undefined ? '--url' : 'TOLLGATE_URL',
    token: flags.token !== undefined ? '--token' : 'TOLLGATE_ADMIN_TOKEN',
  };
  const r = (tokenRequired ? ConnectionSchema : OptionalTokenSchema).safeParse({
    url: flags.url ?? blank(env.TOLLGATE_URL) ?? DEFAULT_URL,
    token: flags.token ?? blank(env.TOLLGATE_ADMIN_TOKEN),
  });
  if (!r.success) {
    const issues = r.error.issues.map((i) => {
      const key = i.path[0] === 'url' ? 'url' : 'token';
      return `${names[key]}: ${i.message}`;
    });
    throw new CliConfigError(`invalid configuration: ${issues.join('; ')}`);
  }
  return { baseUrl: r.data.url, token: r.data.token ?? '' };
}

type OptionSpec = { type: 'string' | 'boolean' };

export interface CommandSpec {
  /** The usage line, e.g. `tollgate agents show <id>`. */
  usage: string;
  /** One sentence or more on what it does. */
  description: string;
  /** The positional arguments, required, by name. */
  args: readonly string[];
  /** Positional arguments that may follow them. */
  optionalArgs?: readonly string[];
  /** Options beyond --url, --token, --json and --help. */
  options?: Record<string, OptionSpec>;
  /** Help lines for those options. */
  optionsHelp?: string;
  /** An example line for --help. */
  example?: string;
  /** `open`: a route that needs no token (sent when given). `local`: no API at all. */
  auth?: 'token' | 'open' | 'local';
}

export interface CommandContext {
  out: Out;
  env: NodeJS.ProcessEnv;
  /** The positional arguments: all of `spec.args`, then those of `spec.optionalArgs` given. */
  args: string[];
  /** A string option's value (undefined when not given). */
  option(name: string): string | undefined;
  /** A boolean option (false when not given). */
  flag(name: string): boolean;
  json: boolean;
  /** The SDK client; checks the connection configuration on first use. */
  client(): TollgateClient;
  /** The exit code when the command ends without throwing (default 0). */
  exit(code: number): void;
}

/** A command: its spec and what it does (exit 0 unless it says otherwise with `ctx.exit`). */
export interface Command {
  spec: CommandSpec;
  action(ctx: CommandContext): Promise<void>;
}

/** Commands under one word (`tollgate agents …`), and what the word does alone (`tollgate audit`). */
export interface Group {
  name: string;
  summary: string;
  commands: ReadonlyMap<string, Command>;
  main?: Command;
}

export function commandHelp(spec: CommandSpec): string {
  return [
    `Usage: ${spec.usage} [options]`,
    '',
    spec.description,
    '',
    ...(spec.optionsHelp ? ['Options:', spec.optionsHelp, ''] : []),
    ...(spec.auth === 'local' ? ['Output:', LOCAL_HELP] : [CONNECTION_HELP]),
    ...(spec.example ? ['', 'Example:', `  ${spec.example}`] : []),
  ].join('\n');
}

export function groupHelp(g: Group): string {
  const all = [...(g.main ? [g.main] : []), ...g.commands.values()];
  const remote = all.some((c) => c.spec.auth !== 'local');
  return [
    `Usage: tollgate ${g.name} <command> [options]`,
    '',
    g.summary,
    '',
    'Commands:',
    ...all.map((c) => `  ${c.spec.usage}`),
    '',
    remote
      ? 'Each command takes --help and --json. Exit codes: 0 done, 1 the API refused\n(prints "CODE: message"), 2 a usage or configuration error.'
      : 'Each command takes --help and --json.',
    ...(remote ? ['', CONNECTION_HELP] : []),
  ].join('\n');
}

const HELP_WORDS = new Set(['--help', '-h']);

/** --help or -h among the words (before a `--`, after which words are arguments). */
function helpAsked(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).some((a) => HELP_WORDS.has(a));
}

/** `tollgate <group> <command> …` (or the group's own command); returns the exit code. */
export function runGroup(
  out: Out,
  env: NodeJS.ProcessEnv,
  argv: readonly string[],
  g: Group,
): Promise<number> {
  const [sub, ...rest] = argv;
  const cmd = sub === undefined ? undefined : g.commands.get(sub);
  if (cmd) return runCommand(out, env, rest, cmd);
  const help = helpAsked(argv);
  if (g.main && (sub === undefined || sub.startsWith('-') || help)) {
    return runCommand(out, env, argv, g.main);
  }
  if (sub === undefined || help || sub === 'help') {
    out.line(groupHelp(g));
    return Promise.resolve(sub === undefined ? 2 : 0);
  }
  out.error(`tollgate: unknown command: ${g.name} ${sub}\n\n${groupHelp(g)}`);
  return Promise.resolve(2);
}

/** One line naming what failed: the code, the message (every field of a 400), the status and the request. */
export function apiErrorLine(e: TollgateApiError): string {
  const issues = (e.details as { issues?: unknown } | undefined)?.issues;
  let message = e.message;
  if (Array.isArray(issues) && issues.length > 1) {
    const fields = issues.map(
      (i: { path?: unknown; message?: unknown }) => `${i.path}: ${i.message}`,
    );
    message = `Invalid request: ${fields.join('; ')}`;
  }
  // NETWORK_ERROR and HTTP_ERROR name the request in their message already.
  const where =
    e.status > 0 && e.code !== 'HTTP_ERROR' && e.url !== undefined
      ? ` (HTTP ${e.status} from ${e.method} ${e.url})`
      : '';
  return `${e.code}: ${message}${where}`;
}

function parse(argv: readonly string[], spec: CommandSpec) {
  return parseArgs({
    args: [...argv],
    options: {
      ...(spec.auth === 'local' ? {} : { url: { type: 'string' }, token: { type: 'string' } }),
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      ...spec.options,
    },
    strict: true,
    allowPositionals: true,
  });
}

/** Parses `argv` for the command, runs it, and maps every failure to its message and exit code. */
export async function runCommand(
  out: Out,
  env: NodeJS.ProcessEnv,
  argv: readonly string[],
  { spec, action }: Command,
): Promise<number> {
  try {
    let parsed: ReturnType<typeof parse>;
    try {
      parsed = parse(argv, spec);
    } catch (e) {
      // --help wins over whatever else is wrong with the line: it never acts.
      if (helpAsked(argv)) {
        out.line(commandHelp(spec));
        return 0;
      }
      throw new UsageError((e as Error).message);
    }
    const values = parsed.values as Record<string, string | boolean | undefined>;
    if (values.help === true) {
      out.line(commandHelp(spec));
      return 0;
    }
    const { positionals } = parsed;
    const most = spec.args.length + (spec.optionalArgs?.length ?? 0);
    if (positionals.length < spec.args.length) {
      throw new UsageError(`missing <${spec.args[positionals.length]}>`);
    }
    if (positionals.length > most) {
      throw new UsageError(`unexpected argument: ${positionals[most]}`);
    }
    const str = (name: string) => (typeof values[name] === 'string' ? values[name] : undefined);
    let client: TollgateClient | undefined;
    let code = 0;
    await action({
      out,
      env,
      args: positionals,
      option: str,
      flag: (name) => values[name] === true,
      json: values.json === true,
      client: () => {
        client ??= new TollgateClient(
          loadConnection(env, { url: str('url'), token: str('token') }, spec.auth !== 'open'),
        );
        return client;
      },
      exit: (c) => {
        code = c;
      },
    });
    return code;
  } catch (e) {
    if (e instanceof UsageError) {
      out.error(`tollgate: ${e.message}\nUsage: ${spec.usage} (see --help)`);
      return 2;
    }
    if (e instanceof CliConfigError) {
      out.error(`tollgate: ${e.message}`);
      return 2;
    }
    if (e instanceof TollgateApiError) {
      out.error(apiErrorLine(e));
      return 1;
    }
    out.error(`tollgate: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}
