import type { SetLimitsBody } from '../../client/index.js';
import { agentLines, statusLines } from '../format.js';
import { count, dollars, jsonObject } from '../options.js';
import { type Command, UsageError } from '../remote.js';

/** `tollgate agents set-role|set-metadata|set-limits`: what changes an agent in place (admin token). */

export const setRole: Command = {
  spec: {
    usage: 'tollgate agents set-role <id> <role>',
    description: [
      "Gives the agent another role (PATCH /v1/agents/:id): the role's permissions",
      'and its limits from the policy (session, daily, rate, monthly, time zone), as',
      'at registration; limits set with `agents set-limits` are replaced. Prints the',
      'updated record. The same role again changes nothing.',
    ].join('\n'),
    args: ['id', 'role'],
    example: 'tollgate agents set-role coder-7 reviewer',
  },
  async action({ out, args, json, client }) {
    const a = await client().updateAgent(args[0] ?? '', { role: args[1] ?? '' });
    if (json) return out.json(a);
    for (const l of [`Agent ${a.agent_id} now has role ${a.role}.`, ...agentLines(a)]) out.line(l);
  },
};

export const setMetadata: Command = {
  spec: {
    usage: 'tollgate agents set-metadata <id> <json>',
    description:
      "Replaces the agent's metadata with a JSON object (PATCH /v1/agents/:id; not\nmerged: give every key to keep). Prints the updated record.",
    args: ['id', 'json'],
    example: `tollgate agents set-metadata coder-7 '{"team":"payments","tier":2}'`,
  },
  async action({ out, args, json, client }) {
    const metadata = jsonObject('<json>', args[1]) ?? {};
    const a = await client().updateAgent(args[0] ?? '', { metadata });
    if (json) return out.json(a);
    for (const l of [`Agent ${a.agent_id}'s metadata replaced.`, ...agentLines(a)]) out.line(l);
  },
};

export const setLimits: Command = {
  spec: {
    usage:
      'tollgate agents set-limits <id> [--session-token-limit <n>] [--daily-cost-limit <usd>] [--monthly-cost-limit <usd>] [--requests-per-minute <n>] [--tokens-per-minute <n>] [--time-zone <tz>]',
    description: [
      "Overrides the agent's limits in place of its role's (PUT /v1/agents/:id/budget):",
      'any of them, at least one. Prints the budget status after the change.',
    ].join('\n'),
    args: ['id'],
    options: {
      'session-token-limit': { type: 'string' },
      'daily-cost-limit': { type: 'string' },
      'monthly-cost-limit': { type: 'string' },
      'requests-per-minute': { type: 'string' },
      'tokens-per-minute': { type: 'string' },
      'time-zone': { type: 'string' },
    },
    optionsHelp: [
      '  --session-token-limit <n>    tokens per session',
      "  --daily-cost-limit <usd>     USD per day (the agent's local day)",
      '  --monthly-cost-limit <usd>   USD per month (0 removes it)',
      '  --requests-per-minute <n>    authorizes per minute (0 removes it)',
      '  --tokens-per-minute <n>      tokens held per minute (0 removes it)',
      "  --time-zone <tz>             IANA zone of the agent's day and month, e.g. Europe/Berlin",
    ].join('\n'),
    example: 'tollgate agents set-limits coder-7 --daily-cost-limit 20 --requests-per-minute 60',
  },
  async action({ out, args, option, json, client }) {
    const body: SetLimitsBody = {
      session_token_limit: count('--session-token-limit', option('session-token-limit')),
      daily_cost_limit: dollars('--daily-cost-limit', option('daily-cost-limit')),
      monthly_cost_limit: dollars('--monthly-cost-limit', option('monthly-cost-limit')),
      requests_per_minute: count('--requests-per-minute', option('requests-per-minute')),
      tokens_per_minute: count('--tokens-per-minute', option('tokens-per-minute')),
      time_zone: option('time-zone'),
    };
    if (Object.values(body).every((v) => v === undefined)) {
      throw new UsageError('give at least one limit (see --help)');
    }
    const s = await client().setLimits(args[0] ?? '', body);
    if (json) return out.json(s);
    for (const l of [`Limits of ${s.agent_id} set.`, ...statusLines(s)]) out.line(l);
  },
};

export const move: Command = {
  spec: {
    usage: 'tollgate agents move <id> (<pool-id> | --no-pool)',
    description: [
      'Puts the agent in a pool (PUT /v1/agents/:id/pool), or in none with --no-pool.',
      'Its open holds stay charged to the pools they were made under; its next',
      'authorize checks the new pool and those above it.',
    ].join('\n'),
    args: ['id'],
    optionalArgs: ['pool-id'],
    options: { 'no-pool': { type: 'boolean' } },
    optionsHelp: '  --no-pool   take the agent out of its pool',
    example: 'tollgate agents move coder-7 eng',
  },
  async action({ out, args, flag, json, client }) {
    const [id = '', pool] = args;
    if ((pool === undefined) === !flag('no-pool')) {
      throw new UsageError('give a <pool-id> or --no-pool (one of them)');
    }
    const a = await client().moveAgent(id, pool ?? null);
    if (json) return out.json(a);
    out.line(
      a.pool_id
        ? `Agent ${a.agent_id} is in pool ${a.pool_id}.`
        : `Agent ${a.agent_id} is in no pool.`,
    );
  },
};
