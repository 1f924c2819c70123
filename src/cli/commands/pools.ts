import type { PoolDetail, PoolRecord } from '../../client/index.js';
import { pairs, table, tokens, usd } from '../format.js';
import { count, dollars } from '../options.js';
import { type Command, type Group, UsageError } from '../remote.js';

/** `tollgate pools …`: shared budgets over agents and pools (docs/limits.md, "Pools"; admin token). */

function limitText(used: number, limit: number | null, pct: number): string {
  return limit === null ? `${usd(used)} (no limit)` : `${usd(used)} / ${usd(limit)} (${pct}%)`;
}

export function poolLines(p: PoolRecord | PoolDetail): string[] {
  const r = p.rate_limits;
  const rates = [
    r?.requests_per_minute ? `${tokens(r.requests_per_minute)} requests/min` : '',
    r?.tokens_per_minute ? `${tokens(r.tokens_per_minute)} tokens/min` : '',
  ].filter((x) => x !== '');
  const detail = 'agent_ids' in p;
  return pairs([
    ['pool', p.pool_id],
    ['parent', p.parent_id ?? '(none: a root)'],
    ['depth', `${p.depth} (root ${p.root_id})`],
    ['time zone', p.time_zone],
    [
      `daily ${p.daily.date}`,
      `${limitText(p.daily.cost_used, p.daily.cost_limit, p.daily.utilization_pct)}, reserved ${usd(p.daily.cost_reserved)}${p.is_daily_exhausted ? '  EXHAUSTED' : ''}`,
    ],
    [
      `monthly ${p.monthly.month}`,
      `${limitText(p.monthly.cost_used, p.monthly.cost_limit, p.monthly.utilization_pct)}, reserved ${usd(p.monthly.cost_reserved)}${p.is_monthly_exhausted ? '  EXHAUSTED' : ''}`,
    ],
    ['rate limits', rates.length > 0 ? rates.join(', ') : '(none)'],
    [
      'agents',
      detail && p.agent_ids.length > 0 ? `${p.agents}: ${p.agent_ids.join(', ')}` : `${p.agents}`,
    ],
    [
      'pools',
      detail && p.pool_ids.length > 0 ? `${p.pools}: ${p.pool_ids.join(', ')}` : `${p.pools}`,
    ],
    ['created', p.created_at],
    ...(p.is_over_limit
      ? ([['over limit', 'used past a cost limit: every authorize beneath it is denied']] as const)
      : []),
  ]);
}

const SETTINGS = {
  'daily-cost-limit': { type: 'string' },
  'monthly-cost-limit': { type: 'string' },
  'requests-per-minute': { type: 'string' },
  'tokens-per-minute': { type: 'string' },
  'time-zone': { type: 'string' },
} as const;

const SETTINGS_HELP = [
  "  --daily-cost-limit <usd>     USD per day, the pool's local day (0: none)",
  '  --monthly-cost-limit <usd>   USD per month (0: none)',
  '  --requests-per-minute <n>    authorizes per minute by every agent beneath it (0: none)',
  '  --tokens-per-minute <n>      tokens held per minute by every agent beneath it (0: none)',
  "  --time-zone <tz>             IANA zone of the pool's day and month (default UTC)",
].join('\n');

function settings(option: (name: string) => string | undefined) {
  return {
    daily_cost_limit: dollars('--daily-cost-limit', option('daily-cost-limit')),
    monthly_cost_limit: dollars('--monthly-cost-limit', option('monthly-cost-limit')),
    requests_per_minute: count('--requests-per-minute', option('requests-per-minute')),
    tokens_per_minute: count('--tokens-per-minute', option('tokens-per-minute')),
    time_zone: option('time-zone'),
  };
}

const list: Command = {
  spec: {
    usage: 'tollgate pools list',
    description: 'Lists the pools with their spend today and this month, roots first.',
    args: [],
    example: 'tollgate pools list --json',
  },
  async action({ out, json, client }) {
    const { pools } = await client().listPools();
    if (json) return out.json({ pools });
    if (pools.length === 0) {
      out.line('No pools.');
      return;
    }
    for (const l of table([
      ['POOL', 'PARENT', 'DEPTH', 'DAILY', 'MONTHLY', 'AGENTS', 'POOLS'],
      ...pools.map((p) => [
        p.pool_id,
        p.parent_id ?? '',
        String(p.depth),
        limitText(p.daily.cost_used, p.daily.cost_limit, p.daily.utilization_pct),
        limitText(p.monthly.cost_used, p.monthly.cost_limit, p.monthly.utilization_pct),
        String(p.agents),
        String(p.pools),
      ]),
    ])) {
      out.line(l);
    }
    out.line(`${pools.length} pool${pools.length === 1 ? '' : 's'}`);
  },
};

const show: Command = {
  spec: {
    usage: 'tollgate pools show <id>',
    description: "One pool's status, with the agents in it and the pools beneath it.",
    args: ['id'],
    example: 'tollgate pools show eng',
  },
  async action({ out, args, json, client }) {
    const p = await client().getPool(args[0] ?? '');
    if (json) return out.json(p);
    for (const l of poolLines(p)) out.line(l);
  },
};

const create: Command = {
  spec: {
    usage: 'tollgate pools create <id> [--parent <id>] [--daily-cost-limit <usd>] …',
    description: [
      'Creates a pool: a shared budget over the agents put in it (`agents move`) and',
      'the pools beneath it, up to three levels. Limits left out are none.',
    ].join('\n'),
    args: ['id'],
    options: { parent: { type: 'string' }, ...SETTINGS },
    optionsHelp: `  --parent <id>                the pool it sits beneath (default: a root)\n${SETTINGS_HELP}`,
    example: 'tollgate pools create eng --daily-cost-limit 100 --time-zone Europe/Berlin',
  },
  async action({ out, args, option, json, client }) {
    const p = await client().createPool({
      pool_id: args[0] ?? '',
      parent_id: option('parent'),
      ...settings(option),
    });
    if (json) return out.json(p);
    for (const l of [`Created pool ${p.pool_id}.`, ...poolLines(p)]) out.line(l);
  },
};

const update: Command = {
  spec: {
    usage: 'tollgate pools update <id> [--daily-cost-limit <usd>] [--monthly-cost-limit <usd>] …',
    description: "Changes a pool's limits or time zone (at least one; 0 removes a limit).",
    args: ['id'],
    options: { ...SETTINGS },
    optionsHelp: SETTINGS_HELP,
    example: 'tollgate pools update eng --monthly-cost-limit 2000',
  },
  async action({ out, args, option, json, client }) {
    const body = settings(option);
    if (Object.values(body).every((v) => v === undefined)) {
      throw new UsageError('give at least one limit or --time-zone (see --help)');
    }
    const p = await client().updatePool(args[0] ?? '', body);
    if (json) return out.json(p);
    for (const l of [`Updated pool ${p.pool_id}.`, ...poolLines(p)]) out.line(l);
  },
};

const remove: Command = {
  spec: {
    usage: 'tollgate pools delete <id>',
    description:
      'Deletes an empty pool and prints its last spend. A pool with agents or pools in\nit is refused (CONFLICT): move the agents out and delete the pools beneath first.',
    args: ['id'],
    example: 'tollgate pools delete eng',
  },
  async action({ out, args, json, client }) {
    const r = await client().deletePool(args[0] ?? '');
    if (json) return out.json(r);
    out.line(
      `Deleted pool ${r.pool_id} (spent today ${usd(r.pool_status.daily.cost_used)}, this month ${usd(r.pool_status.monthly.cost_used)}).`,
    );
  },
};

export const POOLS: Group = {
  name: 'pools',
  summary:
    'Pools: shared budgets over many agents, up to three levels (docs/limits.md,\n"Pools"; the admin token). `tollgate agents move` puts an agent in one.',
  commands: new Map<string, Command>([
    ['list', list],
    ['show', show],
    ['create', create],
    ['update', update],
    ['delete', remove],
  ]),
};
