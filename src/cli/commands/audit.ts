import { EVENT_TYPES, type EventType } from '../../audit/event.js';
import type { AuditEntry, AuditLag, AuditQuery } from '../../client/index.js';
import { table, tokens, usd } from '../format.js';
import { oneOf } from '../options.js';
import type { Command, CommandSpec, Group } from '../remote.js';
import { UsageError } from '../remote.js';

/** `tollgate audit`: the audit ledger (GET /v1/audit) and its backlog (GET /v1/audit/lag). */

export const AUDIT_SPEC: CommandSpec = {
  usage:
    'tollgate audit [--agent <id>] [--incarnations current|all] [--type <type>] [--allowed true|false] [--from <time>] [--to <time>] [--limit <n>] [--cursor <c>]',
  description: [
    'Lists stored audit events, newest first, one page at a time; prints the',
    'cursor of the next page. Filters combine. With an agent key as --token,',
    "only that agent's events. Events appear once the drain has stored them",
    '(`tollgate audit lag` shows what is still on its way).',
  ].join('\n'),
  args: [],
  options: {
    agent: { type: 'string' },
    incarnations: { type: 'string' },
    type: { type: 'string' },
    allowed: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
  },
  optionsHelp: [
    "  --agent <id>             one agent's events",
    '  --incarnations <which>   with --agent: current (default: since it was last registered) or all',
    `  --type <type>            ${EVENT_TYPES.join(', ')}`,
    '  --allowed true|false     decisions allowed, or denied',
    '  --from <time>            at or after: ISO 8601 (2025-06-01T12:00:00Z, 2025-06-01) or ms',
    '  --to <time>              before (exclusive): as --from',
    '  --limit <n>              events per page, 1-1000 (default 100)',
    '  --cursor <c>             the page after this cursor (printed under the previous page)',
  ].join('\n'),
  example: 'tollgate audit --agent coder-7 --type decision --allowed false --limit 20',
};

export const AUDIT_LAG_SPEC: CommandSpec = {
  usage: 'tollgate audit lag',
  description:
    'Shows the audit backlog: events decided but not yet stored, per shard, and\nthe age of the oldest (admin token).',
  args: [],
  example: 'tollgate audit lag --json',
};

function auditQuery(option: (name: string) => string | undefined): AuditQuery {
  const q: AuditQuery = {};
  const agent = option('agent');
  if (agent !== undefined) q.agent_id = agent;
  const incarnations = oneOf('--incarnations', option('incarnations'), ['current', 'all'] as const);
  if (incarnations !== undefined) q.incarnations = incarnations;
  const type = option('type');
  if (type !== undefined) {
    if (!(EVENT_TYPES as readonly string[]).includes(type)) {
      throw new UsageError(`--type: expected one of ${EVENT_TYPES.join(', ')}`);
    }
    q.type = type as EventType;
  }
  const allowed = option('allowed');
  if (allowed !== undefined) {
    if (allowed !== 'true' && allowed !== 'false') {
      throw new UsageError(`--allowed: expected true or false, got ${JSON.stringify(allowed)}`);
    }
    q.allowed = allowed === 'true';
  }
  const from = option('from');
  if (from !== undefined) q.from = from;
  const to = option('to');
  if (to !== undefined) q.to = to;
  const limit = option('limit');
  if (limit !== undefined) {
    const n = /^\d{1,4}$/.test(limit) ? Number(limit) : Number.NaN;
    if (!(n >= 1 && n <= 1000)) {
      throw new UsageError(`--limit: expected an integer from 1 to 1000, got ${limit}`);
    }
    q.limit = n;
  }
  const cursor = option('cursor');
  if (cursor !== undefined) q.cursor = cursor;
  return q;
}

function outcome(e: AuditEntry): string {
  if (e.allowed === true) return 'allowed';
  if (e.allowed === false) {
    const why = e.error_code ?? 'denied';
    return `denied ${why}${e.exceeded ? ` (${e.exceeded})` : ''}`;
  }
  if (e.result !== null) return e.result;
  if (e.state !== null) return e.state.status;
  return '';
}

function tokenCell(e: AuditEntry): string {
  if (e.input_tokens !== null || e.output_tokens !== null) {
    return `${tokens(e.input_tokens ?? 0)} in / ${tokens(e.output_tokens ?? 0)} out`;
  }
  if (e.tokens_used !== null) return `${tokens(e.tokens_used)} used`;
  if (e.estimated_tokens !== null) return `${tokens(e.estimated_tokens)} est`;
  return '';
}

export function auditTable(events: readonly AuditEntry[]): string[] {
  return table([
    ['TIME', 'TYPE', 'AGENT', 'OPERATION', 'OUTCOME', 'TOKENS', 'COST', 'ACTOR'],
    ...events.map((e) => [
      e.at,
      e.type,
      e.agent_id,
      e.operation ?? '',
      outcome(e),
      tokenCell(e),
      e.cost === null ? '' : usd(e.cost),
      e.actor ?? '',
    ]),
  ]);
}

function lagLines(l: AuditLag): string[] {
  const lines = [
    `Audit backlog (${l.engine} engine, ${l.measured_at}): ${tokens(l.backlog)} event${l.backlog === 1 ? '' : 's'} not yet stored` +
      (l.backlog > 0 ? `, oldest ${tokens(l.oldest_age_ms)} ms` : '') +
      `; ${tokens(l.pending)} pending, ${tokens(l.dead_letters)} dead letter${l.dead_letters === 1 ? '' : 's'}`,
  ];
  const busy = l.shards.filter((s) => s.backlog > 0 || s.dead_letters > 0);
  if (busy.length > 0) {
    lines.push(
      ...table([
        ['SHARD', 'BACKLOG', 'PENDING', 'OLDEST MS', 'DEAD'],
        ...busy.map((s) => [
          String(s.shard),
          tokens(s.backlog),
          tokens(s.pending),
          tokens(s.oldest_age_ms),
          tokens(s.dead_letters),
        ]),
      ]),
    );
  }
  if (l.drain !== null) {
    const d = l.drain;
    lines.push(
      `Embedded drain: ${tokens(d.drained)} drained (${tokens(d.inserted)} new), ${tokens(d.rejected)} rejected, ` +
        `last success ${d.last_success_at ?? 'never'}` +
        (d.failures > 0 ? `; FAILING (${d.failures} in a row): ${d.last_error ?? ''}` : ''),
    );
  }
  return lines;
}

const lag: Command = {
  spec: AUDIT_LAG_SPEC,
  async action({ out, json, client }) {
    const l = await client().auditLag();
    if (json) return out.json(l);
    for (const line of lagLines(l)) out.line(line);
  },
};

const list: Command = {
  spec: AUDIT_SPEC,
  async action({ out, option, json, client }) {
    const query = auditQuery(option);
    const page = await client().audit(query);
    if (json) return out.json(page);
    if (page.events.length === 0) {
      out.line(query.cursor !== undefined ? 'No more events.' : 'No events match.');
      return;
    }
    for (const line of auditTable(page.events)) out.line(line);
    const n = page.events.length;
    out.line(`${n} event${n === 1 ? '' : 's'}`);
    out.line(
      page.next_cursor !== undefined
        ? `Next page: --cursor ${page.next_cursor}`
        : 'Last page (no next cursor).',
    );
  },
};

/** `tollgate audit [options]` and `tollgate audit lag`. */
export const AUDIT: Group = {
  name: 'audit',
  summary: 'The audit ledger (GET /v1/audit) and its backlog (GET /v1/audit/lag).',
  main: list,
  commands: new Map<string, Command>([['lag', lag]]),
};
