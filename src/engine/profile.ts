import type { Actor, AuthorizeInput, Rates } from './types.js';
import { checkProfile } from './validate.js';

/**
 * What every authorize of one operation and model shares: the operation, the
 * model's rates, the hold's lease, the roles allowed and the roles and agents
 * in shadow mode (docs/operations.md, "Shadow mode"), checked once and
 * frozen, with the values lua/authorize-1.lua takes for it (docs/engine.md#profiles).
 * A policy compiles one per operation and model when it is loaded
 * (src/policy/profiles.ts); an authorize given raw values compiles its own.
 */
export interface Profile {
  readonly operation: string;
  readonly rates: Readonly<Rates>;
  readonly leaseMs: number;
  /** The roles allowed for the operation. */
  readonly allowedRoles: readonly string[];
  /** Shadow mode: the roles and the agents whose denials (but a suspension) are let pass. */
  readonly shadowRoles: ReadonlySet<string>;
  readonly shadowAgents: ReadonlySet<string>;
  /** The rate a hold is priced at: the higher of the two, so a hold never under-reserves. */
  readonly holdRate: number;
  /** The values as one text: profiles with equal values have equal keys. */
  readonly key: string;
  /** lua/authorize-1.lua's profile values for each actor. */
  readonly script: Readonly<Record<Actor, ScriptProfile>>;
}

/** One actor's profile as lua/authorize-1.lua takes it (ARGV p … p+8). */
export interface ScriptProfile {
  /**
   * operation, model, inRate, outRate, leaseMs, actor, the allowed roles as
   * `|a|b|`, the shadow roles and the shadow agents (each `|a|b|`, '' for none).
   */
  readonly args: readonly (string | number)[];
  /** The values as one text: a batch sends each distinct profile once. */
  readonly key: string;
}

/** What a profile is made of. */
export interface ProfileValues {
  operation: string;
  rates: Rates;
  leaseMs: number;
  allowedRoles: readonly string[];
  /** Shadow mode (docs/operations.md): roles and agent ids; absent: none. */
  shadowRoles?: readonly string[];
  shadowAgents?: readonly string[];
}

/** Names between bars (`|a|b|`), '' for none: names never hold '|' (src/engine/ids.ts). */
function barred(names: readonly string[]): string {
  return names.length === 0 ? '' : `|${names.join('|')}|`;
}

const ACTORS: readonly Actor[] = ['admin', 'agent', 'library', 'system'];

/** Checks the values (VALIDATION_FAILED) and builds their frozen profile. */
export function compileProfile(v: ProfileValues): Profile {
  checkProfile(v);
  const rates = Object.freeze({
    model: v.rates.model,
    inputMicrosPerMillion: v.rates.inputMicrosPerMillion,
    outputMicrosPerMillion: v.rates.outputMicrosPerMillion,
  });
  const allowedRoles = Object.freeze([...v.allowedRoles]);
  const roles = `|${allowedRoles.join('|')}|`;
  const shadowRoles = [...new Set(v.shadowRoles ?? [])].sort();
  const shadowAgents = [...new Set(v.shadowAgents ?? [])].sort();
  // Shadow lists after the roles, each in its own brackets: the key text stays unambiguous.
  const shadow = `[${barred(shadowRoles)}][${barred(shadowAgents)}]`;
  const key = `${v.operation}|${rates.model}|${rates.inputMicrosPerMillion}|${rates.outputMicrosPerMillion}|${v.leaseMs}`;
  const script = {} as Record<Actor, ScriptProfile>;
  for (const actor of ACTORS) {
    const args = Object.freeze([
      v.operation,
      rates.model,
      rates.inputMicrosPerMillion,
      rates.outputMicrosPerMillion,
      v.leaseMs,
      actor,
      roles,
      barred(shadowRoles),
      barred(shadowAgents),
    ]);
    // Names never hold '|', '[' or ']' (src/engine/ids.ts): the text is unambiguous.
    script[actor] = Object.freeze({ args, key: `${key}|${actor}|${roles}${shadow}` });
  }
  return Object.freeze({
    operation: v.operation,
    rates,
    leaseMs: v.leaseMs,
    allowedRoles,
    shadowRoles: new Set(shadowRoles),
    shadowAgents: new Set(shadowAgents),
    holdRate: Math.max(rates.inputMicrosPerMillion, rates.outputMicrosPerMillion),
    key: `${key}|${roles}${shadow}`,
    script: Object.freeze(script),
  });
}

/** An authorize's profile: the one it carries, else its raw values compiled (no cache). */
export function profileOf(i: AuthorizeInput): Profile {
  return i.profile !== undefined ? i.profile : compileProfile(i);
}
