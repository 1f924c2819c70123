import { Budget } from './budget/index.js';
import { createEngine, type Engine, type EngineOptions } from './engine/index.js';
import type { Actor } from './engine/types.js';
import { Guard } from './guard/index.js';
import { Identity } from './identity/index.js';
import { createPolicy, loadPolicy, type Policy } from './policy/index.js';

export interface TollgateOptions extends EngineOptions {
  /** A Policy, a path to a policy file (JSON or YAML), or a policy document; none: the defaults. */
  policy?: Policy | string | Record<string, unknown>;
  /** A ready engine (overrides `redis`). */
  engine?: Engine;
  /** Who the audit trail names for calls made through this instance. Default 'library'. */
  actor?: Actor;
}

export interface Tollgate {
  readonly engine: Engine;
  readonly policy: Policy;
  readonly identity: Identity;
  readonly budget: Budget;
  readonly guard: Guard;
  close(): Promise<void>;
}

function isPolicy(p: unknown): p is Policy {
  return typeof p === 'object' && p !== null && 'rolesAllowed' in p && 'rates' in p;
}

async function resolvePolicy(p: TollgateOptions['policy']): Promise<Policy> {
  if (p === undefined) return createPolicy();
  if (typeof p === 'string') return loadPolicy(p);
  if (isPolicy(p)) return p;
  return createPolicy(p, 'options.policy');
}

/**
 * The one place that wires Tollgate: a Redis URL, client or Cluster gives
 * RedisEngine; none gives the in-process MemoryEngine.
 */
export async function createTollgate(opts: TollgateOptions = {}): Promise<Tollgate> {
  const policy = await resolvePolicy(opts.policy);
  const engine = opts.engine ?? (await createEngine(opts));
  const deps = { engine, policy, actor: opts.actor ?? ('library' as Actor) };
  return {
    engine,
    policy,
    identity: new Identity(deps),
    budget: new Budget(deps),
    guard: new Guard(deps),
    close: () => engine.close(),
  };
}

export * from './budget/index.js';
export * from './engine/index.js';
export { type ErrorCode, isTollgateError, TollgateError } from './errors.js';
export * from './guard/index.js';
export * from './identity/index.js';
export * from './policy/index.js';
