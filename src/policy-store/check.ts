import { poolParentConflicts } from '../budget/pools.js';
import type { Engine } from '../engine/types.js';
import {
  createPolicy,
  declaredPools,
  formatPath,
  POOL_ID_PATTERN,
  type Policy,
  PolicyError,
  type PolicyIssue,
} from '../policy/index.js';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks a policy document as a whole before anything is applied: the
 * schema's problems (createPolicy lists every one), and each declared pool
 * that exists in the engine beneath another parent than declared (read from
 * the document as given, so that they are listed even when the schema
 * failed: one round of fixing). Throws PolicyError listing them all.
 */
export async function checkPolicyDocument(engine: Engine, doc: unknown): Promise<Policy> {
  const issues: PolicyIssue[] = [];
  let policy: Policy | undefined;
  try {
    policy = createPolicy(doc);
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    issues.push(...e.issues);
  }
  const declared = declaredPools(isRecord(doc) ? doc.pools : undefined).filter(
    (d) => POOL_ID_PATTERN.test(d.id) && (d.parent === undefined || POOL_ID_PATTERN.test(d.parent)),
  );
  const conflicts = await poolParentConflicts(
    engine,
    declared.map((d) => ({ poolId: d.id, parentId: d.parent ?? null })),
  );
  for (const c of conflicts) {
    const at = declared.find((d) => d.id === c.poolId)?.at ?? c.poolId;
    issues.push({ path: formatPath(['pools', at, 'parent']), message: c.message });
  }
  if (issues.length > 0 || policy === undefined) throw PolicyError.fromIssues(issues);
  return policy;
}
