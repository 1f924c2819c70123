import type { AuthorizeBody, Decision, SettleBody } from '../../client/index.js';
import { pairs, tokens, usd } from '../format.js';
import { count, jsonObject, oneOf, required } from '../options.js';
import type { Command } from '../remote.js';

/** A required count flag, `--<flag> <n>`: missing or not a count is a usage error naming it. */
function requiredCount(option: (name: string) => string | undefined, flag: string): number {
  return required(`--${flag}`, count(`--${flag}`, option(flag)), `--${flag} <n>`);
}

/**
 * `tollgate authorize|settle|release|usage`: the gate routes, for scripts and
 * for trying a policy by hand (the admin token, or the agent's own key).
 */

const RESULTS = ['success', 'failure'] as const;

/** Exit code of `authorize` when the answer is no (a decision, not an error). */
export const DENIED_EXIT = 3;

function decisionLines(d: Decision, agent: string, operation: string): string[] {
  if (d.allowed) {
    const s = d.budget_status.session;
    return [
      `Allowed: ${operation} for ${agent}${d.replayed ? ' (replayed: an earlier decision of this request id)' : ''}.`,
      ...pairs([
        ['reservation', d.reservation_id],
        ['expires', d.expires_at],
        ['state', d.reservation_state],
        ['model', d.model],
        ...(d.held_tokens
          ? ([
              ['held', `${tokens(d.held_tokens.input)} in / ${tokens(d.held_tokens.output)} out`],
            ] as [string, string][])
          : []),
        [
          'session',
          `${tokens(s.tokens_used)} used, ${tokens(s.tokens_reserved)} reserved of ${tokens(s.tokens_limit)}`,
        ],
      ]),
    ];
  }
  return [
    `Denied: ${d.error_code}${d.exceeded ? ` (${d.exceeded}${d.level && d.level !== 'agent' ? ` of ${d.level}` : ''})` : ''}: ${d.reason}`,
    ...(d.suggestion ? [`Suggestion: ${d.suggestion}`] : []),
    ...(d.retry_after_ms !== undefined ? [`Retry after: ${tokens(d.retry_after_ms)} ms`] : []),
  ];
}

export const authorize: Command = {
  spec: {
    usage:
      'tollgate authorize <agent> <operation> [--estimated-tokens <n>] [--model <model>] [--hold <json>] [--request-id <id>]',
    description: [
      'Asks whether the agent may do the operation (POST /v1/authorize); a yes holds',
      'the estimate under a reservation id until `tollgate settle` or',
      '`tollgate release` (or its lease ends). Exit 0 when allowed, 3 when denied.',
    ].join('\n'),
    args: ['agent', 'operation'],
    options: {
      'estimated-tokens': { type: 'string' },
      model: { type: 'string' },
      hold: { type: 'string' },
      'request-id': { type: 'string' },
    },
    optionsHelp: [
      "  --estimated-tokens <n>   tokens to hold (default: the policy's estimate)",
      '  --model <model>          the model the tokens are priced at (required with model_call)',
      '  --hold <json>            model_call only: {"input_tokens":…, "output_tokens"?:…,',
      '                           "choices"?:…, "cache_write"?:"none"|"5m"|"1h"}',
      '  --request-id <id>        makes a retry safe: the same id answers the same decision',
    ].join('\n'),
    example: 'tollgate authorize coder-7 write_file --estimated-tokens 3000',
  },
  async action({ out, args, option, json, client, exit }) {
    const [agent = '', operation = ''] = args;
    const hold = jsonObject('--hold', option('hold'));
    const body: AuthorizeBody = {
      agent_id: agent,
      operation,
      estimated_tokens: count('--estimated-tokens', option('estimated-tokens')),
      model: option('model'),
      request_id: option('request-id'),
      ...(hold ? { hold: hold as AuthorizeBody['hold'] } : {}),
    };
    const d = await client().authorize(body);
    if (json) out.json(d);
    else for (const l of decisionLines(d, agent, operation)) out.line(l);
    if (!d.allowed) exit(DENIED_EXIT);
  },
};

export const settle: Command = {
  spec: {
    usage:
      'tollgate settle <reservation-id> --input-tokens <n> --output-tokens <n> [--result success|failure] [--model <model> …]',
    description: [
      'Records what the operation really used and frees its hold (POST /v1/settle).',
      'Usage above the hold is recorded (an overrun), never refused. The same settle',
      'again records nothing (`already_closed`).',
    ].join('\n'),
    args: ['reservation-id'],
    options: {
      'input-tokens': { type: 'string' },
      'output-tokens': { type: 'string' },
      result: { type: 'string' },
      model: { type: 'string' },
      'cache-read-tokens': { type: 'string' },
      'cache-write-tokens': { type: 'string' },
      'cache-write-1h-tokens': { type: 'string' },
      'reasoning-tokens': { type: 'string' },
      estimated: { type: 'boolean' },
    },
    optionsHelp: [
      '  --input-tokens <n>           input tokens used (required)',
      '  --output-tokens <n>          output tokens used (required)',
      '  --result success|failure     default success',
      "  --model <model>              a model call's settle: the hold's model, priced by the server",
      '  --cache-read-tokens <n>      with --model: part of the input read from the prompt cache',
      '  --cache-write-tokens <n>     with --model: part of the input written to it',
      '  --cache-write-1h-tokens <n>  with --model: part of those with a one-hour lifetime',
      '  --reasoning-tokens <n>       with --model: part of the output spent reasoning',
      "  --estimated                  with --model: the usage was not seen (the hold's tokens)",
    ].join('\n'),
    example: 'tollgate settle coder-7.4f2a9c01d3b5e6f7 --input-tokens 1200 --output-tokens 900',
  },
  async action({ out, args, option, flag, json, client }) {
    const body: SettleBody = {
      reservation_id: args[0] ?? '',
      input_tokens: requiredCount(option, 'input-tokens'),
      output_tokens: requiredCount(option, 'output-tokens'),
      result: oneOf('--result', option('result'), RESULTS) ?? 'success',
      model: option('model'),
      cache_read_tokens: count('--cache-read-tokens', option('cache-read-tokens')),
      cache_write_tokens: count('--cache-write-tokens', option('cache-write-tokens')),
      cache_write_1h_tokens: count('--cache-write-1h-tokens', option('cache-write-1h-tokens')),
      reasoning_tokens: count('--reasoning-tokens', option('reasoning-tokens')),
      estimated: flag('estimated') ? true : undefined,
    };
    const r = await client().settle(body);
    if (json) return out.json(r);
    out.line(
      r.outcome === 'settled'
        ? `Settled ${r.reservation_id}: cost ${usd(r.cost)}${r.overrun_tokens > 0 ? `, overrun ${tokens(r.overrun_tokens)} tokens (${usd(r.overrun_cost)})` : ''}.`
        : `${r.reservation_id} was already settled (cost ${usd(r.cost)}): nothing recorded again.`,
    );
  },
};

export const release: Command = {
  spec: {
    usage: 'tollgate release <reservation-id>',
    description:
      'Frees a hold without usage (POST /v1/release): the operation did not run.\nA hold already settled or released answers `already_closed`.',
    args: ['reservation-id'],
    example: 'tollgate release coder-7.4f2a9c01d3b5e6f7',
  },
  async action({ out, args, json, client }) {
    const r = await client().release(args[0] ?? '');
    if (json) return out.json(r);
    out.line(
      r.outcome === 'released'
        ? `Released ${r.reservation_id}.`
        : `${r.reservation_id} was already closed: nothing released.`,
    );
  },
};

export const usage: Command = {
  spec: {
    usage:
      'tollgate usage <agent> --input-tokens <n> --output-tokens <n> [--operation <op>] [--model <model>] [--result success|failure] [--usage-id <id>]',
    description: [
      "Records usage with nothing held (POST /v1/usage, the guide's deductBudget):",
      'it counts against the session and the day, never refused.',
    ].join('\n'),
    args: ['agent'],
    options: {
      'input-tokens': { type: 'string' },
      'output-tokens': { type: 'string' },
      operation: { type: 'string' },
      model: { type: 'string' },
      result: { type: 'string' },
      'usage-id': { type: 'string' },
    },
    optionsHelp: [
      '  --input-tokens <n>        input tokens used (required)',
      '  --output-tokens <n>       output tokens used (required)',
      '  --operation <op>          what was done',
      '  --model <model>           priced at this model (default: the policy default)',
      '  --result success|failure  default success',
      '  --usage-id <id>           makes a retry safe: the same id counts once',
    ].join('\n'),
    example: 'tollgate usage coder-7 --input-tokens 500 --output-tokens 200 --operation read_file',
  },
  async action({ out, args, option, json, client }) {
    const r = await client().recordUsage({
      agent_id: args[0] ?? '',
      input_tokens: requiredCount(option, 'input-tokens'),
      output_tokens: requiredCount(option, 'output-tokens'),
      operation: option('operation'),
      model: option('model'),
      result: oneOf('--result', option('result'), RESULTS),
      usage_id: option('usage-id'),
    });
    if (json) return out.json(r);
    out.line(
      r.replayed
        ? `This usage id was recorded before (cost ${usd(r.cost)}): nothing counted again.`
        : `Recorded usage for ${args[0]}: cost ${usd(r.cost)}.`,
    );
  },
};
