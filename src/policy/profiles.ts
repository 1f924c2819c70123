import { checkModel } from '../engine/ids.js';
import { compileProfile, type Profile } from '../engine/profile.js';
import { MAX_RATE } from '../engine/validate.js';
import { Lru } from '../models/lru.js';
import { DEFAULT_MAX_CACHED_MODELS, type PriceTable } from '../models/price-table.js';
import { anyGlobMatches } from './glob.js';
import { DEFAULT_MODEL, MODEL_CALL } from './names.js';
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
  /** The price table model calls are priced with. */
  prices: PriceTable;
  /** The model globs of a role (`roles.<role>.models`); undefined: any model. */
  modelGlobs(role: string): readonly string[] | undefined;
  /** Shadow mode (docs/operations.md): the roles and the agents in it; every profile carries them. */
  shadowRoles: readonly string[];
  shadowAgents: readonly string[];
}

/**
 * The authorize profiles of a policy (src/engine/profile.ts), compiled once
 * when the policy is loaded: one per operation it names and model it prices,
 * each checked and frozen. `profile(operation, model)` looks one up: an
 * unknown model is the `default` model's (as `rates` says); an operation the
 * policy does not name is allowed to the roles with `*` only, and its profile
 * is compiled for the call (not kept: such names are the caller's, unbounded).
 *
 * `model_call` is apart (modelCallProfiles): its profiles are per model name.
 */
export function compileProfiles(
  src: ProfileSource,
): (operation: string, model?: string) => Profile {
  const byOperation = new Map<string, ReadonlyMap<string, Profile>>();
  const defaultModel = src.rates().model;
  for (const operation of src.operations) {
    if (operation === MODEL_CALL) continue;
    const byModel = new Map<string, Profile>();
    for (const [model, rates] of src.models) {
      byModel.set(
        model,
        compileProfile({
          operation,
          rates,
          leaseMs: src.leaseMs,
          allowedRoles: src.rolesAllowed(operation),
          shadowRoles: src.shadowRoles,
          shadowAgents: src.shadowAgents,
        }),
      );
    }
    byOperation.set(operation, byModel);
  }
  const modelCall = modelCallProfiles(src);
  return (operation, model) => {
    if (operation === MODEL_CALL) return modelCall(model ?? DEFAULT_MODEL);
    const byModel = byOperation.get(operation);
    if (byModel === undefined) {
      return compileProfile({
        operation,
        rates: src.rates(model),
        leaseMs: src.leaseMs,
        allowedRoles: src.rolesAllowed(operation),
        shadowRoles: src.shadowRoles,
        shadowAgents: src.shadowAgents,
      });
    }
    return (
      (model === undefined ? undefined : byModel.get(model)) ??
      (byModel.get(defaultModel) as Profile)
    );
  };
}

/**
 * The profiles of `model_call`, one per model name: `rates.model` is the name
 * asked (so decisions and events carry it), its rates are the price table's
 * base input and output rates (at most the engine's MAX_RATE; a model call's
 * hold and settle are priced by the guard from the table, these only label
 * it), and its roles are those allowed `model_call` whose model globs match the
 * name. A name the engine would refuse is VALIDATION_FAILED. Compiled on first
 * use and kept in a bounded LRU of this policy (names come from callers).
 */
function modelCallProfiles(src: ProfileSource): (model: string) => Profile {
  const cache = new Lru<string, Profile>(DEFAULT_MAX_CACHED_MODELS);
  return (model) => {
    const known = cache.get(model);
    if (known !== undefined) return known;
    checkModel(model);
    const base = src.prices.lookup(model).price.rates;
    const profile = compileProfile({
      operation: MODEL_CALL,
      rates: {
        model,
        inputMicrosPerMillion: Math.min(base.inputMicrosPerMillion, MAX_RATE),
        outputMicrosPerMillion: Math.min(base.outputMicrosPerMillion, MAX_RATE),
      },
      leaseMs: src.leaseMs,
      allowedRoles: src
        .rolesAllowed(MODEL_CALL)
        .filter((role) => anyGlobMatches(src.modelGlobs(role), model)),
      shadowRoles: src.shadowRoles,
      shadowAgents: src.shadowAgents,
    });
    cache.set(model, profile);
    return profile;
  };
}
