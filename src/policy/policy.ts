import { type AlertThresholds, alertThresholds } from '../engine/alerts.js';
import type { Profile } from '../engine/profile.js';
import type { PriceTable } from '../models/price-table.js';
import { DEFAULT_ALERT_THRESHOLDS } from './defaults.js';
import { usdToMicros } from './money.js';
import {
  compareNames,
  DEFAULT_MODEL,
  DEFAULT_OUTPUT_CAP,
  DEFAULT_ROLE,
  WILDCARD_PERMISSION,
} from './names.js';
import { type PoolDeclaration, poolDeclarations } from './pools.js';
import { policyPrices } from './prices.js';
import { compileProfiles } from './profiles.js';
import { resolvePolicyDoc } from './resolve.js';
import type { PolicyDoc } from './schema.js';
import { type PolicyWarning, policyWarnings } from './warnings.js';

/** A role's limits; money in integer micro-dollars. */
export interface RoleBudget {
  sessionTokenLimit: number;
  dailyCostLimitMicros: number;
}

/** A role's rate limits (docs/limits.md); 0: none. */
export interface RoleRates {
  requestsPerMinute: number;
  tokensPerMinute: number;
}

/** A role's periods (docs/limits.md): its monthly cost limit (0: none) and time zone. */
export interface RolePeriods {
  monthlyLimitMicros: number;
  /** IANA name; 'UTC' when the role gives none. */
  timeZone: string;
}

/** A model's prices in integer micro-dollars per million tokens. */
export interface ModelRates {
  model: string;
  inputMicrosPerMillion: number;
  outputMicrosPerMillion: number;
}

/** The in-memory policy: lookups only, every answer precomputed. */
export interface Policy {
  /** The merged, parsed document (snake_case, as in the file). Deep-frozen. */
  readonly doc: PolicyDoc;
  /** The lease of a budget hold, in milliseconds. */
  readonly leaseMs: number;
  /** The role's budget; a role the policy does not name gets `default`'s. */
  roleBudget(role: string): RoleBudget;
  /** The role's rate limits; a role the policy does not name gets `default`'s. */
  roleRates(role: string): RoleRates;
  /** The role's monthly limit and time zone; a role the policy does not name gets `default`'s. */
  rolePeriods(role: string): RolePeriods;
  /** The role's permission entries (may include `*`); a role the policy does not name gets none. */
  permissions(role: string): readonly string[];
  isAllowed(role: string, operation: string): boolean;
  /** Every role whose permissions include the operation or `*`; sorted; the same array on every call. */
  rolesAllowed(operation: string): readonly string[];
  /** The token estimate; `default_estimate` for an operation the policy does not name. */
  estimate(operation: string): number;
  /** The model's rates; for no model or an unknown one, the `default` entry's (`model: 'default'`). */
  rates(model?: string): ModelRates;
  /**
   * What an authorize of the operation with the model passes the engine: the
   * operation, the model's rates, the lease and the roles allowed, compiled
   * and checked when the policy was loaded (src/policy/profiles.ts). For
   * `model_call`: `rates.model` is `model` itself (no model: `default`) at the
   * price table's base rates, the roles those allowed `model_call` whose
   * `models` globs match it; compiled on first use, kept in a bounded LRU; a
   * model name the engine refuses is VALIDATION_FAILED.
   */
  profile(operation: string, model?: string): Profile;
  /**
   * Model prices (src/models `createPriceTable`): the package's real prices,
   * the policy's `models` entries in their place by exact name, and an unknown
   * model priced at the `default` entry.
   */
  readonly prices: PriceTable;
  /**
   * Output tokens a model call of the role holds when its request sets no
   * limit: the role's `max_output_tokens`, else `default`'s, else 4,096.
   */
  outputCap(role: string): number;
  /** The role's model globs (`roles.<role>.models`); undefined: any model. */
  modelGlobs(role: string): readonly string[] | undefined;
  /** Every role named in the policy except `default`, sorted. */
  knownRoles(): readonly string[];
  /**
   * Shadow mode (docs/operations.md, "Shadow mode"): the roles with `shadow:
   * true` and the agents of `shadow_agents`, sorted; their denials (but a
   * suspension) are let pass, audited and counted as `would_deny`.
   */
  readonly shadow: { readonly roles: readonly string[]; readonly agents: readonly string[] };
  /**
   * The budget alert thresholds (docs/operations.md, "Alerts"): `alerts.thresholds`,
   * else DEFAULT_ALERT_THRESHOLDS; what every settle and recorded usage passes the engine.
   */
  readonly alerts: AlertThresholds;
  /**
   * The pools the file declares (docs/policy.md, "Pools"), each after its
   * parent, in engine units; created or updated at startup (`createTollgate`).
   */
  readonly pools: readonly PoolDeclaration[];
  /**
   * What the policy may get wrong though it is valid, by name (docs/policy.md,
   * "Warnings"): a permission naming an operation the policy does not know, a
   * role of the guide with no operation. Never a reason to refuse it.
   */
  readonly warnings: readonly PolicyWarning[];
}

const NO_PERMISSIONS: readonly string[] = Object.freeze([]);

function frozenSorted(list: Iterable<string>): readonly string[] {
  return Object.freeze([...list].sort(compareNames));
}

/** Builds the lookups of a finished document. */
export function policyFromDoc(doc: PolicyDoc): Policy {
  const budgets = new Map<string, RoleBudget>();
  const roleRates = new Map<string, RoleRates>();
  const rolePeriods = new Map<string, RolePeriods>();
  const grants = new Map<string, readonly string[]>();
  const grantSets = new Map<string, ReadonlySet<string>>();
  const outputCaps = new Map<string, number>();
  const globs = new Map<string, readonly string[]>();
  for (const [role, entry] of Object.entries(doc.roles)) {
    if (entry.max_output_tokens !== undefined) outputCaps.set(role, entry.max_output_tokens);
    if (entry.models !== undefined) globs.set(role, Object.freeze([...entry.models]));
    budgets.set(
      role,
      Object.freeze({
        sessionTokenLimit: entry.session_token_limit,
        dailyCostLimitMicros: usdToMicros(entry.daily_cost_limit),
      }),
    );
    roleRates.set(
      role,
      Object.freeze({
        requestsPerMinute: entry.requests_per_minute ?? 0,
        tokensPerMinute: entry.tokens_per_minute ?? 0,
      }),
    );
    rolePeriods.set(
      role,
      Object.freeze({
        monthlyLimitMicros: usdToMicros(entry.monthly_cost_limit ?? 0),
        timeZone: entry.time_zone ?? 'UTC',
      }),
    );
    if (role === DEFAULT_ROLE) continue;
    const list = Object.freeze([...(entry.permissions ?? [])]);
    grants.set(role, list);
    grantSets.set(role, new Set(list));
  }
  const defaultBudget = budgets.get(DEFAULT_ROLE);
  if (defaultBudget === undefined) throw new Error('policy document has no default role');

  const roles = frozenSorted(grants.keys());
  const wildcardRoles = frozenSorted(
    roles.filter((r) => grantSets.get(r)?.has(WILDCARD_PERMISSION)),
  );
  const namedOperations = new Set(Object.keys(doc.operations));
  for (const list of grants.values()) for (const op of list) namedOperations.add(op);
  namedOperations.delete(WILDCARD_PERMISSION);
  const allowedByOperation = new Map<string, readonly string[]>();
  for (const op of namedOperations) {
    const allowed = roles.filter((r) => {
      const set = grantSets.get(r);
      return set !== undefined && (set.has(op) || set.has(WILDCARD_PERMISSION));
    });
    allowedByOperation.set(op, frozenSorted(allowed));
  }

  const estimates = new Map<string, number>(
    Object.entries(doc.operations).map(([op, entry]) => [op, entry.estimated_tokens]),
  );
  const rateTable = new Map<string, ModelRates>();
  for (const [model, entry] of Object.entries(doc.models)) {
    rateTable.set(
      model,
      Object.freeze({
        model,
        inputMicrosPerMillion: usdToMicros(entry.input_per_million),
        outputMicrosPerMillion: usdToMicros(entry.output_per_million),
      }),
    );
  }
  const defaultRates = rateTable.get(DEFAULT_MODEL);
  if (defaultRates === undefined) throw new Error('policy document has no default model');
  const leaseMs = doc.reservation_lease_seconds * 1000;
  const defaultOutputCap = outputCaps.get(DEFAULT_ROLE) ?? DEFAULT_OUTPUT_CAP;
  const prices = policyPrices(doc.models);
  const modelGlobs = (role: string) => (role === DEFAULT_ROLE ? undefined : globs.get(role));
  const rolesAllowed = (operation: string) => allowedByOperation.get(operation) ?? wildcardRoles;
  const rates = (model?: string) =>
    model === undefined ? defaultRates : (rateTable.get(model) ?? defaultRates);
  const shadow = Object.freeze({
    roles: frozenSorted(roles.filter((r) => doc.roles[r]?.shadow === true)),
    agents: frozenSorted(new Set(doc.shadow_agents ?? [])),
  });

  return Object.freeze({
    doc,
    leaseMs,
    roleBudget: (role: string) => budgets.get(role) ?? defaultBudget,
    roleRates: (role: string) =>
      roleRates.get(role) ??
      roleRates.get(DEFAULT_ROLE) ?? { requestsPerMinute: 0, tokensPerMinute: 0 },
    rolePeriods: (role: string) =>
      rolePeriods.get(role) ??
      rolePeriods.get(DEFAULT_ROLE) ?? { monthlyLimitMicros: 0, timeZone: 'UTC' },
    permissions: (role: string) => grants.get(role) ?? NO_PERMISSIONS,
    isAllowed: (role: string, operation: string) => {
      const set = grantSets.get(role);
      return set !== undefined && (set.has(operation) || set.has(WILDCARD_PERMISSION));
    },
    rolesAllowed,
    estimate: (operation: string) => estimates.get(operation) ?? doc.default_estimate,
    rates,
    profile: compileProfiles({
      operations: namedOperations,
      models: rateTable,
      leaseMs,
      rolesAllowed,
      rates,
      prices,
      modelGlobs,
      shadowRoles: shadow.roles,
      shadowAgents: shadow.agents,
    }),
    prices,
    outputCap: (role: string) => outputCaps.get(role) ?? defaultOutputCap,
    modelGlobs,
    knownRoles: () => roles,
    shadow,
    alerts: alertThresholds(doc.alerts?.thresholds ?? DEFAULT_ALERT_THRESHOLDS),
    pools: poolDeclarations(doc.pools),
    warnings: Object.freeze(policyWarnings(doc)),
  });
}

/**
 * A policy from a file document (snake_case) merged onto the defaults; no input means the
 * defaults. `source` (e.g. the file's path) goes into error messages. Throws PolicyError.
 */
export function createPolicy(input?: unknown, source?: string): Policy {
  return policyFromDoc(resolvePolicyDoc(input, source));
}
