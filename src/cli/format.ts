import type { BudgetStatus } from '../budget/status.js';
import type { AgentRecord } from '../identity/index.js';

/** Readable (non --json) output of the operator commands. */

/** Left-aligned columns; the first row is the header. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** `key  value` lines with the keys padded to one width. */
export function pairs(
  entries: readonly (readonly [string, string])[],
  indent = '',
  minWidth = 0,
): string[] {
  const width = Math.max(minWidth, ...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${indent}${`${k}:`.padEnd(width + 1)}  ${v}`);
}

export function tokens(n: number): string {
  return n.toLocaleString('en-US');
}

/** USD with at least 2 and at most 6 decimals (money is micro-dollars inside). */
export function usd(n: number): string {
  return `$${n.toFixed(6).replace(/0{1,4}$/, '')}`;
}

export function agentLines(a: AgentRecord): string[] {
  const meta = a.metadata && Object.keys(a.metadata).length > 0 ? JSON.stringify(a.metadata) : '{}';
  return pairs([
    ['agent', a.agent_id],
    ['role', a.role],
    ['status', a.status],
    ['pool', a.pool_id ?? '(none)'],
    ['permissions', a.permissions.length > 0 ? a.permissions.join(', ') : '(none)'],
    ['session', a.session_id],
    ['created', a.created_at],
    ['metadata', meta],
  ]);
}

export function agentTable(agents: readonly AgentRecord[]): string[] {
  return table([
    ['AGENT', 'ROLE', 'STATUS', 'SESSION', 'CREATED'],
    ...agents.map((a) => [a.agent_id, a.role, a.status, a.session_id, a.created_at]),
  ]);
}

export function statusLines(s: BudgetStatus): string[] {
  const { session: t, daily: d } = s;
  // Overruns (usage settled above its hold) are shown only when there are any.
  const tokensOverrun: [string, string][] =
    t.tokens_overrun > 0 ? [['overrun', tokens(t.tokens_overrun)]] : [];
  const costOverrun: [string, string][] =
    d.cost_overrun > 0 ? [['overrun', usd(d.cost_overrun)]] : [];
  return [
    `Agent ${s.agent_id} (role ${s.role})`,
    `Session ${t.session_id}${s.is_session_exhausted ? '  EXHAUSTED' : ''}`,
    ...pairs(
      [
        [
          'tokens used',
          `${tokens(t.tokens_used)} / ${tokens(t.tokens_limit)} (${t.utilization_pct}%)`,
        ],
        ['reserved', tokens(t.tokens_reserved)],
        ['remaining', tokens(t.tokens_remaining)],
        ...tokensOverrun,
      ],
      '  ',
      11,
    ),
    `Daily ${d.date} (resets ${d.resets_at})${s.is_daily_exhausted ? '  EXHAUSTED' : ''}`,
    ...pairs(
      [
        ['cost used', `${usd(d.cost_used)} / ${usd(d.cost_limit)} (${d.utilization_pct}%)`],
        ['reserved', usd(d.cost_reserved)],
        ['remaining', usd(d.cost_remaining)],
        ...costOverrun,
      ],
      '  ',
      11,
    ),
    `Operations blocked: ${s.operations_blocked}`,
    ...(s.is_over_limit ? ['Over limit: used past a limit, the next authorize is denied'] : []),
  ];
}
