import { Counter, type Registry } from 'prom-client';

/**
 * The role spend counters (docs/metrics.md): what every usage recorded
 * through this process cost and used, by the agent's role: settles
 * (`POST /v1/settle`, the gateway's), and usage with nothing held
 * (`POST /v1/usage`). A replay counts nothing. The role label is bounded by
 * the policy in force (a role it does not name is `other`); every role it
 * names is there from the start, at 0 (a role added at runtime: from the
 * next scrape).
 */

/** Usage recorded for an agent, as the code that recorded it saw it. */
export interface SpendObservation {
  /** The agent's role (its budget status's). */
  role: string;
  /** What the usage cost, micro-dollars. */
  costMicros: number;
  inputTokens: number;
  outputTokens: number;
}

/** Counts one recorded usage (see SpendObservation). */
export type SpendRecorder = (s: SpendObservation) => void;

const USD = 1_000_000;

/** A count as a counter increment: a finite number above 0, else 0. */
export function amount(n: number | undefined): number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0;
}

export interface RoleSpendMetrics {
  spent: SpendRecorder;
  /** Makes each role's series present (at 0 until it spends); called on every scrape. */
  present(roles: Iterable<string>): void;
}

/**
 * Registers `tollgate_role_spend_usd_total` and `tollgate_role_tokens_total`;
 * `roleLabel`: a role as a label.
 */
export function roleSpendMetrics(
  registers: Registry[],
  roleLabel: (role: string) => string,
): RoleSpendMetrics {
  const spend = new Counter({
    name: 'tollgate_role_spend_usd_total',
    help: 'Cost (USD) of the usage recorded through this process (settles, the gateway’s included, and usage without a hold), by the agent’s role.',
    labelNames: ['role'] as const,
    registers,
  });
  const tokens = new Counter({
    name: 'tollgate_role_tokens_total',
    help: 'Tokens of the same usage, by the agent’s role and kind: input, output.',
    labelNames: ['role', 'kind'] as const,
    registers,
  });
  return {
    spent: (s) => {
      const role = roleLabel(s.role);
      spend.inc({ role }, amount(s.costMicros) / USD);
      tokens.inc({ role, kind: 'input' }, amount(s.inputTokens));
      tokens.inc({ role, kind: 'output' }, amount(s.outputTokens));
    },
    present: (roles) => {
      for (const role of roles) {
        spend.inc({ role }, 0);
        tokens.inc({ role, kind: 'input' }, 0);
        tokens.inc({ role, kind: 'output' }, 0);
      }
    },
  };
}
