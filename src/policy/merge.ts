import { issueAt, type PolicyIssue } from './errors.js';
import { DEFAULT_ROLE } from './names.js';
import type { ModelEntry, PolicyDoc, PolicyFile, RoleEntry } from './schema.js';

export interface MergeResult {
  /** The merged document, not yet checked as a whole (see finalizeDoc). */
  doc: PolicyDoc;
  issues: PolicyIssue[];
}

const NOT_IN_DEFAULTS = 'required for an entry that is not in the defaults';

function ownEntries<T>(record: Record<string, T> | undefined): [string, T][] {
  return record === undefined ? [] : Object.entries(record);
}

function lookup<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function unique(list: readonly string[]): string[] {
  return [...new Set(list)];
}

function mergeRoles(
  base: PolicyDoc['roles'],
  file: PolicyFile['roles'],
  issues: PolicyIssue[],
): PolicyDoc['roles'] {
  const roles: PolicyDoc['roles'] = { ...base };
  for (const [name, entry] of ownEntries(file)) {
    const prior = lookup(base, name);
    const session = entry.session_token_limit ?? prior?.session_token_limit;
    const daily = entry.daily_cost_limit ?? prior?.daily_cost_limit;
    if (session === undefined)
      issues.push(issueAt(['roles', name, 'session_token_limit'], NOT_IN_DEFAULTS));
    if (daily === undefined)
      issues.push(issueAt(['roles', name, 'daily_cost_limit'], NOT_IN_DEFAULTS));
    if (session === undefined || daily === undefined) continue;
    const merged: RoleEntry = { session_token_limit: session, daily_cost_limit: daily };
    const permissions = entry.permissions ?? prior?.permissions;
    if (permissions !== undefined) merged.permissions = permissions;
    roles[name] = merged;
  }
  // Normal form: every role but `default` carries a (deduplicated) permission list.
  for (const [name, entry] of Object.entries(roles)) {
    if (name !== DEFAULT_ROLE)
      roles[name] = { ...entry, permissions: unique(entry.permissions ?? []) };
  }
  return roles;
}

function mergeModels(
  base: PolicyDoc['models'],
  file: PolicyFile['models'],
  issues: PolicyIssue[],
): PolicyDoc['models'] {
  const models: PolicyDoc['models'] = { ...base };
  for (const [name, entry] of ownEntries(file)) {
    const prior = lookup(base, name);
    const input = entry.input_per_million ?? prior?.input_per_million;
    const output = entry.output_per_million ?? prior?.output_per_million;
    if (input === undefined)
      issues.push(issueAt(['models', name, 'input_per_million'], NOT_IN_DEFAULTS));
    if (output === undefined)
      issues.push(issueAt(['models', name, 'output_per_million'], NOT_IN_DEFAULTS));
    if (input === undefined || output === undefined) continue;
    const merged: ModelEntry = { input_per_million: input, output_per_million: output };
    models[name] = merged;
  }
  return models;
}

/**
 * Merges a parsed file onto a base document: per role and per model, the fields given
 * override (`permissions` replaces the list); operations are added or replaced; scalars
 * given replace the base's. A role or model that the base does not have needs every field.
 */
export function mergePolicy(base: PolicyDoc, file: PolicyFile): MergeResult {
  const issues: PolicyIssue[] = [];
  const doc: PolicyDoc = {
    version: 1,
    roles: mergeRoles(base.roles, file.roles, issues),
    operations: { ...base.operations, ...file.operations },
    default_estimate: file.default_estimate ?? base.default_estimate,
    models: mergeModels(base.models, file.models, issues),
    reservation_lease_seconds: file.reservation_lease_seconds ?? base.reservation_lease_seconds,
  };
  return { doc, issues };
}
