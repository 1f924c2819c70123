import { issueAt, type PolicyIssue } from './errors.js';
import { DEFAULT_ROLE } from './names.js';
import { poolsToDoc } from './pools.js';
import type { ModelEntry, PolicyDoc, PolicyFile, RoleEntry } from './schema.js';

export interface MergeResult {
  /** The merged document, not yet checked as a whole (see finalizeDoc). */
  doc: PolicyDoc;
  issues: PolicyIssue[];
}

const NOT_IN_DEFAULTS = 'required for an entry that is not in the defaults';

/** The fields a role or model that the base does not have must give. */
const REQUIRED = {
  roles: ['session_token_limit', 'daily_cost_limit'],
  models: ['input_per_million', 'output_per_million'],
} as const;

function ownEntries<T>(record: Record<string, T> | undefined): [string, T][] {
  return record === undefined ? [] : Object.entries(record);
}

function lookup<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function unique(list: readonly string[]): string[] {
  return [...new Set(list)];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The entry's fields that are given (not undefined). */
function given<T extends object>(entry: T): Partial<T> {
  return Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Every role and model in `file` that `base` does not have and that leaves out
 * a field such an entry needs. Reads the file as it came (any shape), so that
 * it can run beside the schema's own checks and every problem is listed at once.
 */
export function missingFieldIssues(file: unknown, base: PolicyDoc): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  if (!isRecord(file)) return issues;
  for (const section of ['roles', 'models'] as const) {
    const entries = file[section];
    if (!isRecord(entries)) continue;
    for (const [name, entry] of Object.entries(entries)) {
      if (!isRecord(entry) || Object.hasOwn(base[section], name)) continue;
      for (const field of REQUIRED[section]) {
        if (entry[field] === undefined)
          issues.push(issueAt([section, name, field], NOT_IN_DEFAULTS));
      }
    }
  }
  return issues;
}

function mergeRoles(base: PolicyDoc['roles'], file: PolicyFile['roles']): PolicyDoc['roles'] {
  const roles: PolicyDoc['roles'] = { ...base };
  for (const [name, entry] of ownEntries(file)) {
    const merged = { ...lookup(base, name), ...given(entry) };
    // missingFieldIssues has reported an entry without its budget.
    if (merged.session_token_limit === undefined || merged.daily_cost_limit === undefined) continue;
    roles[name] = merged as RoleEntry;
  }
  // Normal form: every role but `default` carries a (deduplicated) permission list.
  for (const [name, entry] of Object.entries(roles)) {
    if (name === DEFAULT_ROLE) continue;
    const normal: RoleEntry = { ...entry, permissions: unique(entry.permissions ?? []) };
    if (entry.models !== undefined) normal.models = unique(entry.models);
    roles[name] = normal;
  }
  return roles;
}

function mergeModels(base: PolicyDoc['models'], file: PolicyFile['models']): PolicyDoc['models'] {
  const models: PolicyDoc['models'] = { ...base };
  for (const [name, entry] of ownEntries(file)) {
    const merged = { ...lookup(base, name), ...given(entry) };
    // missingFieldIssues has reported an entry without both prices.
    if (merged.input_per_million === undefined || merged.output_per_million === undefined) continue;
    models[name] = merged as ModelEntry;
  }
  return models;
}

/**
 * Merges a parsed file onto a base document: per role and per model, the fields given
 * override (`permissions` and `models` replace the lists, `tiers` the tiers); operations
 * are added or replaced; scalars given replace the base's; `pools`, `shadow_agents` and
 * `alerts`, when given, replace the base's. A role or model that the base
 * does not have needs its budget or both prices.
 */
export function mergePolicy(base: PolicyDoc, file: PolicyFile): MergeResult {
  const doc: PolicyDoc = {
    version: 1,
    roles: mergeRoles(base.roles, file.roles),
    operations: { ...base.operations, ...file.operations },
    default_estimate: file.default_estimate ?? base.default_estimate,
    models: mergeModels(base.models, file.models),
    reservation_lease_seconds: file.reservation_lease_seconds ?? base.reservation_lease_seconds,
  };
  // Pools: the file's, whole (the defaults declare none).
  const pools = file.pools !== undefined ? poolsToDoc(file.pools) : base.pools;
  if (pools !== undefined) doc.pools = pools;
  // Shadow agents: the file's list, whole (deduplicated).
  const shadowAgents = file.shadow_agents ?? base.shadow_agents;
  if (shadowAgents !== undefined) doc.shadow_agents = unique(shadowAgents);
  // Alerts: the file's section, whole.
  const alerts = file.alerts ?? base.alerts;
  if (alerts !== undefined) doc.alerts = alerts;
  return { doc, issues: missingFieldIssues(file, base) };
}
