import { issuesFromZod, PolicyError } from './errors.js';
import { allowedKeysAt, type PolicyDoc, policyDocSchema } from './schema.js';

function nullPrototype<T>(record: Record<string, T>): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, record);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * Checks a complete (merged) document and returns it deep-frozen, its name-keyed
 * records without a prototype (so `doc.roles.toString` is undefined, not a function).
 */
export function finalizeDoc(candidate: unknown, source?: string): PolicyDoc {
  const parsed = policyDocSchema.safeParse(candidate, { reportInput: true });
  if (!parsed.success) {
    throw PolicyError.fromIssues(issuesFromZod(parsed.error, allowedKeysAt), source);
  }
  const doc = parsed.data;
  return deepFreeze({
    ...doc,
    roles: nullPrototype(doc.roles),
    operations: nullPrototype(doc.operations),
    models: nullPrototype(doc.models),
    ...(doc.pools !== undefined ? { pools: nullPrototype(doc.pools) } : {}),
  });
}
