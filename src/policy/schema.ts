import { z } from 'zod';
import { decimalPlaces } from './money.js';
import {
  DEFAULT_MODEL,
  DEFAULT_ROLE,
  MODEL_NAME_PATTERN,
  OPERATION_NAME_PATTERN,
  ROLE_NAME_PATTERN,
  WILDCARD_PERMISSION,
} from './names.js';

/** Bounds of every number in a policy. */
export const LIMITS = {
  sessionTokenLimitMax: 1e12,
  dailyCostLimitMaxUsd: 1e6,
  estimateMax: 10_000_000,
  priceMaxUsdPerMillion: 500,
  maxDecimals: 6,
  leaseSecondsMin: 1,
  leaseSecondsMax: 86_400,
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
const dailyCostLimit = usdAmount(LIMITS.dailyCostLimitMaxUsd, 'USD');
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

const permissionMessage = `expected an operation name or "${WILDCARD_PERMISSION}"`;
const permission = z
  .string({ error: permissionMessage })
  .refine((p) => p === WILDCARD_PERMISSION || OPERATION_NAME_PATTERN.test(p), {
    error: permissionMessage,
  });
const permissionList = z.array(permission, { error: 'expected a list of operation names' });

const defaultRoleHasNoPermissions = (
  roles: Record<string, { permissions?: unknown }> | undefined,
  ctx: z.RefinementCtx,
): void => {
  const entry =
    roles !== undefined && Object.hasOwn(roles, DEFAULT_ROLE) ? roles[DEFAULT_ROLE] : undefined;
  if (entry?.permissions !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['roles', DEFAULT_ROLE, 'permissions'],
      message: `the "${DEFAULT_ROLE}" role cannot carry permissions (roles not named in the policy get none)`,
    });
  }
};

// ---- The file: every section and field optional, merged onto the defaults. ----

const roleFileEntry = z.strictObject({
  session_token_limit: sessionTokenLimit.optional(),
  daily_cost_limit: dailyCostLimit.optional(),
  permissions: permissionList.optional(),
});

const operationEntry = z.strictObject({ estimated_tokens: tokenEstimate });

const modelFileEntry = z.strictObject({
  input_per_million: price.optional(),
  output_per_million: price.optional(),
});

export const policyFileSchema = z
  .strictObject({
    version: z.literal(1, { error: 'expected 1' }).optional(),
    roles: z.record(roleName, roleFileEntry).optional(),
    operations: z.record(operationName, operationEntry).optional(),
    default_estimate: tokenEstimate.optional(),
    models: z.record(modelName, modelFileEntry).optional(),
    reservation_lease_seconds: leaseSeconds.optional(),
  })
  .superRefine((file, ctx) => defaultRoleHasNoPermissions(file.roles, ctx));

/** A policy file as parsed (snake_case, partial). */
export type PolicyFile = z.infer<typeof policyFileSchema>;

// ---- The merged document: complete. ----

const roleDocEntry = z.strictObject({
  session_token_limit: sessionTokenLimit,
  daily_cost_limit: dailyCostLimit,
  permissions: permissionList.optional(),
});

const modelDocEntry = z.strictObject({
  input_per_million: price,
  output_per_million: price,
});

export const policyDocSchema = z
  .strictObject({
    version: z.literal(1, { error: 'expected 1' }),
    roles: z.record(roleName, roleDocEntry),
    operations: z.record(operationName, operationEntry),
    default_estimate: tokenEstimate,
    models: z.record(modelName, modelDocEntry),
    reservation_lease_seconds: leaseSeconds,
  })
  .superRefine((doc, ctx) => {
    defaultRoleHasNoPermissions(doc.roles, ctx);
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

const TOP_KEYS = Object.keys(policyFileSchema.shape);
const ENTRY_KEYS: Record<string, readonly string[]> = {
  roles: Object.keys(roleFileEntry.shape),
  operations: Object.keys(operationEntry.shape),
  models: Object.keys(modelFileEntry.shape),
};

/** The keys allowed in the object at `path` (for "unknown key" messages). */
export function allowedKeysAt(path: readonly PropertyKey[]): readonly string[] | undefined {
  if (path.length === 0) return TOP_KEYS;
  const section = path[0];
  if (path.length === 2 && typeof section === 'string' && Object.hasOwn(ENTRY_KEYS, section)) {
    return ENTRY_KEYS[section];
  }
  return undefined;
}
