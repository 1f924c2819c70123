import { GUIDE_ROLES_WITHOUT_OPERATIONS } from './defaults.js';
import { formatPath, type PolicyIssue } from './errors.js';
import { compareNames, DEFAULT_ROLE, MODEL_CALL, WILDCARD_PERMISSION } from './names.js';
import type { PolicyDoc } from './schema.js';

/**
 * What a valid policy may still get wrong, said by name (docs/policy.md,
 * "Warnings"): a warning never refuses a policy.
 *
 * - `unknown_operation`: a role's permission names an operation that no
 *   `operations` entry names and that is not built in (`model_call`): most
 *   likely a typo (`read_flie`); it is granted as written.
 * - `no_operations`: one of the guide's roles whose RBAC matrix grants it
 *   nothing still has no operation but `model_call`.
 * - `unknown_role`: a role the policy does not name, held by an agent or given
 *   at registration: the agent gets the `default` budget and no permissions.
 */
export type PolicyWarningCode = 'unknown_operation' | 'no_operations' | 'unknown_role';

export interface PolicyWarning extends PolicyIssue {
  code: PolicyWarningCode;
}

/** The operations a policy knows: its `operations` entries and the built-in `model_call`. */
export function knownOperations(doc: PolicyDoc): Set<string> {
  return new Set([...Object.keys(doc.operations), MODEL_CALL]);
}

/** Edit distance (insertions, deletions, substitutions), case-insensitive. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + cost,
      );
    }
    prev = row;
  }
  return prev[y.length] as number;
}

/** The candidate nearest to `name` (fewest edits, then by name); undefined when there is none. */
export function nearestName(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = distance(name, c);
    if (
      d < bestDistance ||
      (d === bestDistance && best !== undefined && compareNames(c, best) < 0)
    ) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** The warnings of a merged document (unknown operations, the guide's roles without operations). */
export function policyWarnings(doc: PolicyDoc): PolicyWarning[] {
  const warnings: PolicyWarning[] = [];
  const known = knownOperations(doc);
  for (const [role, entry] of Object.entries(doc.roles)) {
    if (role === DEFAULT_ROLE) continue;
    const permissions = entry.permissions ?? [];
    permissions.forEach((op, i) => {
      if (op === WILDCARD_PERMISSION || known.has(op)) return;
      const near = nearestName(op, known);
      warnings.push({
        code: 'unknown_operation',
        path: formatPath(['roles', role, 'permissions', i]),
        message: `role ${role}: unknown operation "${op}": no operations entry names it${
          near === undefined ? '' : ` (nearest known: "${near}")`
        }; it is granted as written and held at default_estimate`,
      });
    });
    if (
      GUIDE_ROLES_WITHOUT_OPERATIONS.includes(role) &&
      permissions.every((op) => op === MODEL_CALL)
    ) {
      warnings.push({
        code: 'no_operations',
        path: formatPath(['roles', role, 'permissions']),
        message: `role ${role} may run no operation but model_call: the integration guide's RBAC matrix grants it none; grant its operations in roles.${role}.permissions (docs/policy.md, "Roles with a budget but no operations")`,
      });
    }
  }
  return warnings;
}

/**
 * The warning for a role the policy does not name (`path`: where it was met,
 * e.g. `body.role` or `agents.a-1.role`): its agent gets the `default` budget
 * and no permissions; names the nearest known role and lists them.
 */
export function unknownRoleWarning(
  role: string,
  knownRoles: readonly string[],
  path: string,
): PolicyWarning {
  const near = nearestName(role, knownRoles);
  return {
    code: 'unknown_role',
    path,
    message: `role "${role}" is not named by the policy: its agents get the default role's budget and no permissions${
      near === undefined ? '' : ` (nearest known: "${near}")`
    }; known roles: ${knownRoles.join(', ')}`,
  };
}
