import type { Policy } from '../policy/index.js';

/**
 * A Policy whose every lookup answers from the policy current now: the one
 * object the library parts and the API hold (`tg.policy`, the deps of the
 * guard, identity, budget and pools, the gateway), so that a policy changed
 * at runtime applies to every one of them at once, without a restart.
 * Swapping is one assignment: a lookup sees the old policy or the new one,
 * never a mix (each Policy is immutable).
 */
export interface LivePolicy {
  /** The delegating Policy. */
  readonly policy: Policy;
  /** The policy current now (itself immutable). */
  current(): Policy;
  /** Makes `next` current. */
  swap(next: Policy): void;
}

export function livePolicy(initial: Policy): LivePolicy {
  let cur = initial;
  const policy: Policy = Object.freeze({
    get doc() {
      return cur.doc;
    },
    get leaseMs() {
      return cur.leaseMs;
    },
    get prices() {
      return cur.prices;
    },
    get pools() {
      return cur.pools;
    },
    get warnings() {
      return cur.warnings;
    },
    get shadow() {
      return cur.shadow;
    },
    get alerts() {
      return cur.alerts;
    },
    roleBudget: (role: string) => cur.roleBudget(role),
    roleRates: (role: string) => cur.roleRates(role),
    rolePeriods: (role: string) => cur.rolePeriods(role),
    permissions: (role: string) => cur.permissions(role),
    isAllowed: (role: string, operation: string) => cur.isAllowed(role, operation),
    rolesAllowed: (operation: string) => cur.rolesAllowed(operation),
    estimate: (operation: string) => cur.estimate(operation),
    rates: (model?: string) => cur.rates(model),
    profile: (operation: string, model?: string) => cur.profile(operation, model),
    outputCap: (role: string) => cur.outputCap(role),
    modelGlobs: (role: string) => cur.modelGlobs(role),
    knownRoles: () => cur.knownRoles(),
  });
  return {
    policy,
    current: () => cur,
    swap: (next) => {
      cur = next;
    },
  };
}
