import type { PolicyFieldChange } from '../audit/event-types.js';
import { formatPath } from '../policy/index.js';

export type { PolicyFieldChange };

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON equality (lists in order; mappings by key, whatever their order). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => sameJson(v, b[i]));
  }
  if (isMapping(a) && isMapping(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]))
    );
  }
  return false;
}

function walk(
  a: unknown,
  b: unknown,
  path: readonly PropertyKey[],
  out: PolicyFieldChange[],
): void {
  if (isMapping(a) && isMapping(b)) {
    for (const key of Object.keys(a)) {
      if (Object.hasOwn(b, key)) walk(a[key], b[key], [...path, key], out);
      else out.push({ path: formatPath([...path, key]), before: a[key] });
    }
    for (const key of Object.keys(b)) {
      if (!Object.hasOwn(a, key)) out.push({ path: formatPath([...path, key]), after: b[key] });
    }
    return;
  }
  if (!sameJson(a, b)) out.push({ path: formatPath(path), before: a, after: b });
}

/**
 * The fields of a policy document that differ from another's, by dotted path
 * (`roles.coder.daily_cost_limit`), each with its value before and after (a
 * field added has no `before`, one removed no `after`); a list (permissions,
 * models, tiers) is one field. In document order: `before`'s fields, then the
 * fields only `after` has.
 */
export function diffPolicyDocs(before: unknown, after: unknown): PolicyFieldChange[] {
  const out: PolicyFieldChange[] = [];
  walk(before, after, [], out);
  return out;
}
