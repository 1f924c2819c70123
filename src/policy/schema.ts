import { z } from 'zod';
import { MAX_ALERT_PCT, MAX_ALERT_THRESHOLDS } from '../engine/alerts.js';
import { isTimeZone } from '../engine/periods.js';
import { decimalPlaces } from './money.js';
import {
  AGENT_ID_PATTERN,
  DEFAULT_MODEL,
  DEFAULT_ROLE,
  MAX_SHADOW_AGENTS,
  MODEL_GLOB_PATTERN,
  MODEL_NAME_PATTERN,
  OPERATION_NAME_PATTERN,
  POOL_ID_PATTERN,
  ROLE_NAME_PATTERN,
  WILDCARD_PERMISSION,
} from './names.js';
import { poolTreeIssues } from './pools.js';

/** Bounds of every number in a policy. */
export const LIMITS = {
  sessionTokenLimitMax: 1e12,
  dailyCostLimitMaxUsd: 1e6,
  estimateMax: 10_000_000,
  priceMaxUsdPerMillion: 500,
  maxDecimals: 6,
  leaseSecondsMin: 1,
  leaseSecondsMax: 86_400,
  outputCapMax: 1_000_000,
  tierStartMax: 10_000_000,
  perMinuteMax: 1_000_000_000,
} as const;

function positiveInteger(max: number) {
  const expected = 'expected a positive integer';
  return z
    .number({ error: expected })
    .int({ error: expected })
    .positive({ error: expected })
    .max(max, { error: `expected a positive integer no greater than ${max}` });
}

function usdAmount(max: number, unit: string) {
  const expected = `expected a number of ${unit} from 0 to ${max}`;
  return z
    .number({ error: expected })
    .min(0, { error: expected })
    .max(max, { error: expected })
    .refine((v) => decimalPlaces(v) <= LIMITS.maxDecimals, {
      error: `expected at most ${LIMITS.maxDecimals} decimal places`,
    });
}

const sessionTokenLimit = positiveInteger(LIMITS.sessionTokenLimitMax);
const perMinuteMessage = `expected an integer from 0 (no limit) to ${LIMITS.perMinuteMax}`;
/** A rate limit (docs/limits.md): requests or tokens per minute, 0 = none. */
const perMinute = z
  .number({ error: perMinuteMessage })
  .int({ error: perMinuteMessage })
  .min(0, { error: perMinuteMessage })
  .max(LIMITS.perMinuteMax, { error: perMinuteMessage });
const dailyCostLimit = usdAmount(LIMITS.dailyCostLimitMaxUsd, 'USD');
/** USD a month, local to the role's zone; 0 = none. */
const monthlyCostLimit = usdAmount(LIMITS.dailyCostLimitMaxUsd, 'USD');
const timeZoneMessage =
  'expected an IANA time zone name that this runtime knows, e.g. Europe/Berlin';
/** The zone of the role's day and month (docs/limits.md); absent: UTC. */
const timeZone = z
  .string({ error: timeZoneMessage })
  .refine((v) => isTimeZone(v), { error: timeZoneMessage });
const tokenEstimate = positiveInteger(LIMITS.estimateMax);
const price = usdAmount(LIMITS.priceMaxUsdPerMillion, 'USD per million tokens');
const leaseSecondsMessage = `expected an integer number of seconds from ${LIMITS.leaseSecondsMin} to ${LIMITS.leaseSecondsMax}`;
const leaseSeconds = z
  .number({ error: leaseSecondsMessage })
  .int({ error: leaseSecondsMessage })
  .min(LIMITS.leaseSecondsMin, { error: leaseSecondsMessage })
  .max(LIMITS.leaseSecondsMax, { error: leaseSecondsMessage });

const roleName = z.string().regex(ROLE_NAME_PATTERN, {
  error:
    'invalid role name: expected 1-64 letters, digits, "_" or "-", starting with a letter or digit',
});
const operationName = z.string().regex(OPERATION_NAME_PATTERN, {
  error:
    'invalid operation name: expected 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
});
const modelName = z.string().regex(MODEL_NAME_PATTERN, {
  error:
    'invalid model name: expected 1-128 letters, digits, ".", "_", ":", "/" or "-", starting with a letter or digit',
});

/**
 * A mapping from names to entries. `z.record` checks no entry whose key fails
 * its pattern, so a bad name would hide its entry's problems until the name is
 * fixed: here the names are checked beside the entries (a check that runs
 * even when entries failed), and every problem is listed at once.
 */
function namedRecord<V extends z.ZodType>(name: z.ZodType<string>, entry: V) {
  const names = z.superRefine<Record<string, unknown>>(
    (record, ctx) => {
      if (typeof record !== 'object' || record === null || Array.isArray(record)) return;
      for (const key of Object.keys(record)) {
        const r = name.safeParse(key);
        if (!r.success) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: r.error.issues[0]?.message ?? 'invalid name',
          });
        }
      }
    },
    { when: () => true },
  );
  return z.record(z.string(), entry).check(names);
}

const modelGlobMessage =
  'expected a model name or a glob ("*" any run of characters, "?" one character): 1-128 letters, digits, ".", "_", ":", "/", "-", "*" or "?"';
const modelGlobList = z.array(
  z.string({ error: modelGlobMessage }).regex(MODEL_GLOB_PATTERN, { error: modelGlobMessage }),
  { error: 'expected a list of model names or globs' },
);
const outputCap = positiveInteger(LIMITS.outputCapMax);

const permissionMessage = `expected an operation name or "${WILDCARD_PERMISSION}"`;
const permission = z
  .string({ error: permissionMessage })
  .refine((p) => p === WILDCARD_PERMISSION || OPERATION_NAME_PATTERN.test(p), {
    error: permissionMessage,
  });
const permissionList = z.array(permission, { error: 'expected a list of operation names' });

/** Shadow mode (docs/operations.md, "Shadow mode"): the role's denials are let pass, audited. */
const shadow = z.boolean({ error: 'expected true or false' });
const agentIdMessage =
  'invalid agent id: expected 1-64 letters, digits, "_" or "-", starting with a letter or digit';
/** Shadow mode per agent: their denials are let pass, audited. */
const shadowAgents = z
  .array(z.string({ error: agentIdMessage }).regex(AGENT_ID_PATTERN, { error: agentIdMessage }), {
    error: 'expected a list of agent ids',
  })
  .max(MAX_SHADOW_AGENTS, {
    error: `expected at most ${MAX_SHADOW_AGENTS} agent ids (put more agents in shadow by their role)`,
  });

/** Budget alerts (docs/operations.md, "Alerts"): the thresholds, in percent of each limit. */
const thresholdMessage = `expected an integer percentage from 1 to ${MAX_ALERT_PCT}`;
const alertThreshold = z
  .number({ error: thresholdMessage })
  .int({ error: thresholdMessage })
  .min(1, { error: thresholdMessage })
  .max(MAX_ALERT_PCT, { error: thresholdMessage });
const alertThresholdList = z
  .array(alertThreshold, { error: 'expected a list of percentages, e.g. [50, 80, 100]' })
  .max(MAX_ALERT_THRESHOLDS, { error: `expected at most ${MAX_ALERT_THRESHOLDS} thresholds` })
  .superRefine((list, ctx) => {
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1] as number;
      if ((list[i] as number) <= prev) {
        ctx.addIssue({
          code: 'custom',
          path: [i],
          message: `expected thresholds in increasing order: above the previous one's ${prev}`,
        });
      }
    }
  });
/** `alerts`: absent, or without `thresholds`, the defaults' (src/policy/defaults.ts). */
const alertsSection = z.strictObject(
  { thresholds: alertThresholdList.optional() },
  { error: 'expected a mapping: { thresholds: [ … ] }' },
);

/**
 * The `default` role carries no permissions and no model list: a role the
 * policy does not name gets no permissions, ever; nor `shadow` (shadow mode
 * is for a role the policy names, or agents by id). Run even when other
 * fields failed (so every problem is listed at once): `roles` may be anything.
 */
const defaultRoleIsBudgetOnly = z.superRefine<{ roles?: unknown }>(
  (file, ctx) => {
    const roles = file.roles;
    if (typeof roles !== 'object' || roles === null || !Object.hasOwn(roles, DEFAULT_ROLE)) return;
    const entry = (roles as Record<string, unknown>)[DEFAULT_ROLE];
    if (typeof entry !== 'object' || entry === null) return;
    for (const key of ['permissions', 'models', 'shadow'] as const) {
      if ((entry as Record<string, unknown>)[key] !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['roles', DEFAULT_ROLE, key],
          message:
            key === 'shadow'
              ? `the "${DEFAULT_ROLE}" role cannot be in shadow mode (name the agents' role, or list the agents in shadow_agents)`
              : `the "${DEFAULT_ROLE}" role cannot carry ${key} (roles not named in the policy get no permissions)`,
        });
      }
    }
  },
  { when: () => true },
);

// ---- The file: every section and field optional, merged onto the defaults. ----

const roleFileEntry = z.strictObject({
  session_token_limit: sessionTokenLimit.optional(),
  daily_cost_limit: dailyCostLimit.optional(),
  requests_per_minute: perMinute.optional(),
  tokens_per_minute: perMinute.optional(),
  monthly_cost_limit: monthlyCostLimit.optional(),
  time_zone: timeZone.optional(),
  permissions: permissionList.optional(),
  models: modelGlobList.optional(),
  max_output_tokens: outputCap.optional(),
  shadow: shadow.optional(),
});

const operationEntry = z.strictObject({ estimated_tokens: tokenEstimate });

/** The cache rates of a model or tier: absent, the input rate (one-hour writes: the cache write rate). */
const cacheRates = {
  cache_read_per_million: price.optional(),
  cache_write_per_million: price.optional(),
  cache_write_1h_per_million: price.optional(),
};

const tierStartMessage = `expected an integer number of input tokens from 0 to ${LIMITS.tierStartMax}`;
const tierEntry = z.strictObject({
  above_input_tokens: z
    .number({ error: tierStartMessage })
    .int({ error: tierStartMessage })
    .min(0, { error: tierStartMessage })
    .max(LIMITS.tierStartMax, { error: tierStartMessage }),
  input_per_million: price,
  output_per_million: price,
  ...cacheRates,
});

const tierList = z
  .array(tierEntry, { error: 'expected a list of tiers' })
  .superRefine((tiers, ctx) => {
    for (let i = 1; i < tiers.length; i++) {
      const prev = tiers[i - 1]?.above_input_tokens ?? -1;
      if ((tiers[i]?.above_input_tokens ?? 0) <= prev) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'above_input_tokens'],
          message: `expected tiers in ascending order: above the previous tier's ${prev}`,
        });
      }
    }
  });

const modelFileEntry = z.strictObject({
  input_per_million: price.optional(),
  output_per_million: price.optional(),
  ...cacheRates,
  tiers: tierList.optional(),
});

// ---- Pools (docs/limits.md, "Pools"): shared budgets the agents join explicitly. ----

const poolIdMessage =
  'invalid pool id: expected 1-64 letters, digits, "_" or "-", starting with a letter or digit';
const poolId = z.string({ error: poolIdMessage }).regex(POOL_ID_PATTERN, { error: poolIdMessage });

/** A pool's settings; each absent one is none (`time_zone`: UTC). */
const poolFields = {
  parent: poolId.optional(),
  daily_cost_limit: dailyCostLimit.optional(),
  monthly_cost_limit: monthlyCostLimit.optional(),
  requests_per_minute: perMinute.optional(),
  tokens_per_minute: perMinute.optional(),
  time_zone: timeZone.optional(),
};
/** In a list, each entry names its pool. */
const poolListEntry = z.strictObject({ pool_id: poolId, ...poolFields });
/** In a mapping, the key names the pool (`pool_id`, if given, must be the key). */
const poolMapEntry = z.strictObject({ pool_id: poolId.optional(), ...poolFields });
/** The merged document's form: a mapping whose keys name the pools. */
const poolDocEntry = z.strictObject(poolFields);

const poolsMessage = 'expected a list of pools, or a mapping of pool ids to pools';
const poolsSection = z.union(
  [z.array(poolListEntry, { error: poolsMessage }), namedRecord(poolId, poolMapEntry)],
  { error: poolsMessage },
);

/**
 * Parents are declared in the file, at most three levels, ids unique (run even
 * when other fields failed, so every problem is listed at once).
 */
const poolTree = z.superRefine<{ pools?: unknown }>(
  (file, ctx) => {
    for (const issue of poolTreeIssues(file.pools)) {
      ctx.addIssue({ code: 'custom', path: ['pools', ...issue.path], message: issue.message });
    }
  },
  { when: () => true },
);

export const policyFileSchema = z
  .strictObject({
    version: z.literal(1, { error: 'expected 1' }).optional(),
    roles: namedRecord(roleName, roleFileEntry).optional(),
    operations: namedRecord(operationName, operationEntry).optional(),
    default_estimate: tokenEstimate.optional(),
    models: namedRecord(modelName, modelFileEntry).optional(),
    reservation_lease_seconds: leaseSeconds.optional(),
    pools: poolsSection.optional(),
    shadow_agents: shadowAgents.optional(),
    alerts: alertsSection.optional(),
  })
  .check(defaultRoleIsBudgetOnly)
  .check(poolTree);

/** A policy file as parsed (snake_case, partial). */
export type PolicyFile = z.infer<typeof policyFileSchema>;

// ---- The merged document: complete. ----

const roleDocEntry = z.strictObject({
  session_token_limit: sessionTokenLimit,
  daily_cost_limit: dailyCostLimit,
  requests_per_minute: perMinute.optional(),
  tokens_per_minute: perMinute.optional(),
  monthly_cost_limit: monthlyCostLimit.optional(),
  time_zone: timeZone.optional(),
  permissions: permissionList.optional(),
  models: modelGlobList.optional(),
  max_output_tokens: outputCap.optional(),
  shadow: shadow.optional(),
});

const modelDocEntry = z.strictObject({
  input_per_million: price,
  output_per_million: price,
  ...cacheRates,
  tiers: tierList.optional(),
});

export const policyDocSchema = z
  .strictObject({
    version: z.literal(1, { error: 'expected 1' }),
    roles: namedRecord(roleName, roleDocEntry),
    operations: namedRecord(operationName, operationEntry),
    default_estimate: tokenEstimate,
    models: namedRecord(modelName, modelDocEntry),
    reservation_lease_seconds: leaseSeconds,
    pools: namedRecord(poolId, poolDocEntry).optional(),
    shadow_agents: shadowAgents.optional(),
    alerts: alertsSection.optional(),
  })
  .check(defaultRoleIsBudgetOnly)
  .check(poolTree)
  .superRefine((doc, ctx) => {
    if (!Object.hasOwn(doc.roles, DEFAULT_ROLE)) {
      ctx.addIssue({ code: 'custom', path: ['roles', DEFAULT_ROLE], message: 'required' });
    }
    if (!Object.hasOwn(doc.models, DEFAULT_MODEL)) {
      ctx.addIssue({ code: 'custom', path: ['models', DEFAULT_MODEL], message: 'required' });
    }
  });

/** The merged, parsed policy document (snake_case, as in the file). */
export type PolicyDoc = z.infer<typeof policyDocSchema>;
export type RoleEntry = PolicyDoc['roles'][string];
export type ModelEntry = PolicyDoc['models'][string];
export type TierEntry = NonNullable<ModelEntry['tiers']>[number];
/** A pool of the merged document (its id is the key). */
export type PoolEntry = z.infer<typeof poolDocEntry>;

const TOP_KEYS = Object.keys(policyFileSchema.shape);
const ENTRY_KEYS: Record<string, readonly string[]> = {
  roles: Object.keys(roleFileEntry.shape),
  operations: Object.keys(operationEntry.shape),
  models: Object.keys(modelFileEntry.shape),
};

const TIER_KEYS = Object.keys(tierEntry.shape);
const POOL_LIST_KEYS = Object.keys(poolListEntry.shape);
const POOL_MAP_KEYS = Object.keys(poolMapEntry.shape);
const ALERT_KEYS = Object.keys(alertsSection.shape);

/** The keys allowed in the object at `path` (for "unknown key" messages). */
export function allowedKeysAt(path: readonly PropertyKey[]): readonly string[] | undefined {
  if (path.length === 0) return TOP_KEYS;
  const section = path[0];
  if (section === 'alerts' && path.length === 1) return ALERT_KEYS;
  if (section === 'models' && path.length === 4 && path[2] === 'tiers') return TIER_KEYS;
  if (section === 'pools' && path.length === 2) {
    return typeof path[1] === 'number' ? POOL_LIST_KEYS : POOL_MAP_KEYS;
  }
  if (path.length === 2 && typeof section === 'string' && Object.hasOwn(ENTRY_KEYS, section)) {
    return ENTRY_KEYS[section];
  }
  return undefined;
}
