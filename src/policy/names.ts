import { AGENT_ID, MAX_POOL_DEPTH, MODEL, OPERATION, ROLE } from '../engine/ids.js';
import { MAX_SHADOW_AGENTS } from '../engine/validate.js';

/**
 * Names that may appear in a policy: roles, operations and models, with the
 * engine's own patterns (src/engine/ids.ts), so every name a policy accepts
 * the engine accepts too.
 */

/** A role name: 1–64 letters, digits, `_` or `-`, starting with a letter or digit. */
export const ROLE_NAME_PATTERN = ROLE;

/** An operation name: like a role name, and may also contain `.`. */
export const OPERATION_NAME_PATTERN = OPERATION;

/** A model name: 1–128 letters, digits, `.`, `_`, `:`, `/` or `-`, starting with a letter or digit. */
export const MODEL_NAME_PATTERN = MODEL;

/** A pool id: an agent id's pattern (pools and agents are separate namespaces). */
export const POOL_ID_PATTERN = AGENT_ID;

/** An agent id (`shadow_agents`): 1–64 letters, digits, `_` or `-`, starting with a letter or digit. */
export const AGENT_ID_PATTERN = AGENT_ID;

/**
 * Levels of pools (the engine's): a root is level 1. Most agents
 * `shadow_agents` may name (the engine's: every authorize call carries them).
 */
export { MAX_POOL_DEPTH, MAX_SHADOW_AGENTS };

/**
 * A model glob in a role's `models`: model-name characters plus `*` (any run
 * of characters) and `?` (one character), 1–128 of them, matched against the
 * whole name (src/policy/glob.ts).
 */
export const MODEL_GLOB_PATTERN = /^[A-Za-z0-9._:/*?-]{1,128}$/;

/** The operation of a model call: its hold is priced from the request, not from an estimate. */
export const MODEL_CALL = 'model_call';

/** Output tokens held for a model call whose request sets no limit, when the policy names none. */
export const DEFAULT_OUTPUT_CAP = 4096;

/** The permission entry that grants every operation. */
export const WILDCARD_PERMISSION = '*';

/** The role whose budget applies to any role the policy does not name. */
export const DEFAULT_ROLE = 'default';

/** The model whose rates apply to any model the policy does not name. */
export const DEFAULT_MODEL = 'default';

/** Ordinal (code unit) comparison, independent of locale. */
export function compareNames(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}
