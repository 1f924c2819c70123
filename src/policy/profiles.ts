import { compileProfile, type Profile } from '../engine/profile.js';
import type { ModelRates } from './policy.js';

/** What a policy's profiles are compiled from (policy.ts has them as lookups). */
export interface ProfileSource {
  /** Every operation the policy names (estimates and permissions), `*` aside. */
  operations: Iterable<string>;
  /** Every model's rates, `default` included. */
  models: ReadonlyMap<string, ModelRates>;
  leaseMs: number;
  rolesAllowed(operation: string): readonly string[];
  rates(model?: string): ModelRates;
}

/**
 * The authorize profiles of a policy (src/engine/profile.ts), compiled once
 * when the policy is loaded: one per operation it names and model it prices,
 * each checked and frozen. `profile(operation, model)` looks one up: an
 * unknown model is the `default` model's (as `rates` says); an operation the
 * policy does not name is allowed to the roles with `*` only, and its profile
 * is compiled for the call (not kept: such names are the caller's, unbounded).
 */
export function compileProfiles(
  src: ProfileSource,
): (operation: string, model?: string) => Profile {
  const byOperation = new Map<string, ReadonlyMap<string, Profile>>();
  const defaultModel = src.rates().model;
  for (const operation of src.operations) {
    const byModel = new Map<string, Profile>();
    for (const [model, rates] of src.models) {
      byModel.set(
        model,
        compileProfile({
          operation,
          rates,
          leaseMs: src.leaseMs,
          allowedRoles: src.rolesAllowed(operation),
        }),
      );
    }
    byOperation.set(operation, byModel);
  }
  return (operation, model) => {
    const byModel = byOperation.get(operation);
    if (byModel === undefined) {
      return compileProfile({
        operation,
        rates: src.rates(model),
        leaseMs: src.leaseMs,
        allowedRoles: src.rolesAllowed(operation),
      });
    }
    return (
      (model === undefined ? undefined : byModel.get(model)) ??
      (byModel.get(defaultModel) as Profile)
    );
  };
}
