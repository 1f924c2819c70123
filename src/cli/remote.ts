import { parseArgs } from 'node:util';
import { z } from 'zod';
import { TollgateApiError, TollgateClient } from '../client/index.js';
import type { Out } from './output.js';

/**
 * What the operator commands (`agents …`, `status`) share: where the API is
 * and which token to send (flag, else environment, zod-checked), argument
 * parsing, and the exit codes: 0 done, 1 the API (or the network) said no,
 * 2 the command was called wrongly (usage or configuration).
 */

export const DEFAULT_URL = 'http://localhost:8080';

export const CONNECTION_HELP = `Connection (flag, else environment variable):
  --url <url>       TOLLGATE_URL: the API (default ${DEFAULT_URL})
  --token <token>   TOLLGATE_ADMIN_TOKEN: the admin token (an agent's own key
                    also works for \`agents show\` and \`status\` of that agent)
  --json            machine output: the API's JSON answer
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

const ConnectionSchema = z.object({
  url: z
    .string()
    .trim()
    .refine(isHttpUrl, {
      error: (i) => `expected an http:// or https:// URL, got ${JSON.stringify(i.input)}`,
    }),
  token: z
    .string({
      error: "is not set: the server's admin token is needed (--token or TOLLGATE_ADMIN_TOKEN)",
    })
    .min(1, { error: 'is empty' })
    .max(4096, { error: 'is too long' })
    .regex(/^[\x21-\x7e]+$/, { error: 'must be printable ASCII without spaces' }),
});

export interface Connection {
  baseUrl: string;
  token: string;
}

function blank(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}

/**
 * The API's address and token: a flag wins over its variable; empty
 * variables count as unset. Throws CliConfigError naming each bad input
 * (never echoing a token).
 */
export function loadConnection(
  env: NodeJS.ProcessEnv,
  flags: { url?: string; token?: string },
): Connection {
  const names = {
    url: flags.url !== undefined ? '--url' : 'TOLLGATE_URL',
    token: flags.token !== undefined ? '--token' : 'TOLLGATE_ADMIN_TOKEN',
  };
  const r = ConnectionSchema.safeParse({
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
  return { baseUrl: r.data.url, token: r.data.token };
}

type OptionSpec = { type: 'string' | 'boolean' };

export interface CommandSpec {
  /** The usage line, e.g. `tollgate agents show <id>`. */
  usage: string;
  /** One sentence or more on what it does. */
  description: string;
  /** The positional arguments, all required, by name. */
  args: readonly string[];
  /** Options beyond --url, --token, --json and --help. */
  options?: Record<string, OptionSpec>;
  /** Help lines for those options. */
  optionsHelp?: string;
  /** An example line for --help. */
  example?: string;
}

export interface CommandContext {
  out: Out;
  /** The positional arguments, as many as `spec.args`. */
  args: string[];
  /** A string option's value (undefined when not given). */
  option(name: string): string | undefined;
  json: boolean;
  /** The SDK client; checks the connection configuration on first use. */
  client(): TollgateClient;
}

export function commandHelp(spec: CommandSpec): string {
  return [
    `Usage: ${spec.usage} [options]`,
    '',
    spec.description,
    '',
    ...(spec.optionsHelp ? ['Options:', spec.optionsHelp, ''] : []),
    CONNECTION_HELP,
    ...(spec.example ? ['', 'Example:', `  ${spec.example}`] : []),
  ].join('\n');
}

/** Parses `argv` for `spec`, runs `action`, and maps every failure to its message and exit code. */
export async function runCommand(
  out: Out,
  env: NodeJS.ProcessEnv,
  argv: readonly string[],
  spec: CommandSpec,
  action: (ctx: CommandContext) => Promise<void>,
): Promise<number> {
  try {
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({
        args: [...argv],
        options: {
          url: { type: 'string' },
          token: { type: 'string' },
          json: { type: 'boolean' },
          help: { type: 'boolean', short: 'h' },
          ...spec.options,
        },
        strict: true,
        allowPositionals: true,
      });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const values = parsed.values as Record<string, string | boolean | undefined>;
    if (values.help === true) {
      out.line(commandHelp(spec));
      return 0;
    }
    const { positionals } = parsed;
    if (positionals.length < spec.args.length) {
      throw new UsageError(`missing <${spec.args[positionals.length]}>`);
    }
    if (positionals.length > spec.args.length) {
      throw new UsageError(`unexpected argument: ${positionals[spec.args.length]}`);
    }
    const str = (name: string) => (typeof values[name] === 'string' ? values[name] : undefined);
    let client: TollgateClient | undefined;
    await action({
      out,
      args: positionals,
      option: str,
      json: values.json === true,
      client: () => {
        client ??= new TollgateClient(
          loadConnection(env, { url: str('url'), token: str('token') }),
        );
        return client;
      },
    });
    return 0;
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
      out.error(`${e.code}: ${e.message}`);
      return 1;
    }
    // Not an API answer (e.g. --url points at something that does not speak JSON).
    out.error(`tollgate: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}
