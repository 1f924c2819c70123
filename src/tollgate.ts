import {
  type EmbeddedDrain,
  restoreFromStore,
  startEmbeddedDrain,
} from './audit/embedded/index.js';
import { storeRecovery } from './audit/recovery/index.js';
import type { AuditStore, StoreOptions } from './audit/store/index.js';
import { type SweepTimer, startSweepTimer } from './audit/sweep.js';
import { Budget } from './budget/index.js';
import {
  type Actor,
  createEngine,
  type Engine,
  type EngineOptions,
  MemoryEngine,
  RedisEngine,
} from './engine/index.js';
import { Guard } from './guard/index.js';
import { Identity } from './identity/index.js';
import { openLockedStore } from './lock/index.js';
import { createMeteredFetch, guardGate, lazyTokenCounter } from './meter/index.js';
import { createPolicy, loadPolicy, type Policy } from './policy/index.js';

export interface TollgateOptions extends EngineOptions {
  /** A Policy, a path to a policy file (JSON or YAML), or a policy document; none: the defaults. */
  policy?: Policy | string | Record<string, unknown>;
  /** A ready engine (overrides `redis`). */
  engine?: Engine;
  /** Who the audit trail names for calls made through this instance. Default 'library'. */
  actor?: Actor;
  /**
   * The durable store (an AuditStore, or where to open one: PostgreSQL by URL,
   * else PGlite in a folder), exposed as `tg.store` for reading the ledger.
   * Embedded mode: the engine is restored from it before anything is decided,
   * and an in-process drain moves every event into it. None (embedded):
   * nothing is kept across a restart. With Redis, the worker writes it, and
   * a shard that lost its data is restored from it (docs/recovery.md).
   * A PGlite folder opened here is locked (`<dataDir>/tollgate.lock`): a
   * second owner, in this process or another, gets FolderLockedError.
   */
  store?: AuditStore | StoreOptions;
  /** The embedded drain's pace (default every 200 ms, batches of 1,000). */
  drain?: { intervalMs?: number; batch?: number };
  /**
   * The in-process engine (MemoryEngine): the background sweep that frees
   * holds whose lease passed on agents no call touches, on an unref'd timer
   * (default every 30 s); false: none. In Redis mode the audit worker sweeps.
   */
  sweep?: { everyMs?: number } | false;
}

export interface Tollgate {
  readonly engine: Engine;
  readonly policy: Policy;
  readonly identity: Identity;
  readonly budget: Budget;
  readonly guard: Guard;
  /** The durable store, when one was given. */
  readonly store?: AuditStore;
  /** Embedded mode with a store: the in-process drain (its stats show the backlog). */
  readonly drain?: EmbeddedDrain;
  /** Embedded mode (MemoryEngine): the background sweep's timer (its stats count the holds freed). */
  readonly sweep?: SweepTimer;
  /**
   * A `fetch` for `new OpenAI({ fetch })` or `new Anthropic({ fetch })` that
   * meters the agent's model calls (docs/models.md, "The fetch and the
   * gateway"): each call is held from its request and settled from its usage.
   */
  fetch(options: ModelFetchOptions): typeof globalThis.fetch;
  /** Stops the sweep and the drain (after a last flush), closes a store it opened, then the engine. */
  close(): Promise<void>;
}

export interface ModelFetchOptions {
  /** The agent whose budget pays for the calls. */
  agentId: string;
  /** The fetch that reaches the provider (default: the global fetch). */
  fetch?: typeof globalThis.fetch;
  /** A settle that failed after the provider answered (default: console.error). */
  onError?: (error: unknown) => void;
}

function isStore(s: AuditStore | StoreOptions): s is AuditStore {
  return typeof (s as AuditStore).insertEvents === 'function';
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
 * The one place that wires Tollgate (ARCHITECTURE.md): a Redis URL, client or
 * Cluster gives RedisEngine; none gives the in-process MemoryEngine. The
 * package's root (src/index.ts) exports it with the public names.
 */
export async function createTollgate(opts: TollgateOptions = {}): Promise<Tollgate> {
  const policy = await resolvePolicy(opts.policy);
  const engine = opts.engine ?? (await createEngine(opts));
  if (engine instanceof RedisEngine && opts.warn) engine.configureRecovery({ warn: opts.warn });
  const deps = { engine, policy, actor: opts.actor ?? ('library' as Actor) };
  const durable = await attachStore(engine, opts);
  const sweep =
    engine instanceof MemoryEngine && opts.sweep !== false
      ? startSweepTimer(engine, { everyMs: opts.sweep?.everyMs })
      : undefined;
  const guard = new Guard(deps);
  const counter = lazyTokenCounter();
  return {
    engine,
    policy,
    identity: new Identity(deps),
    budget: new Budget(deps),
    guard,
    store: durable?.store,
    drain: durable?.drain,
    sweep,
    fetch: (o) =>
      createMeteredFetch({
        gate: guardGate(guard, o.agentId),
        counter,
        fetch: o.fetch,
        onError: o.onError,
      }),
    close: async () => {
      try {
        await sweep?.stop();
        await durable?.close();
      } finally {
        await engine.close();
      }
    },
  };
}

/**
 * The durable store, when given: opened if need be and exposed for reads.
 * Embedded mode: restore the engine from it, then drain the outbox into it
 * (ARCHITECTURE.md, rules 'Redis decides; the store remembers and restores' and
 * 'Embedded by default').
 */
async function attachStore(
  engine: Engine,
  opts: TollgateOptions,
): Promise<{ store: AuditStore; drain?: EmbeddedDrain; close(): Promise<void> } | undefined> {
  if (opts.store === undefined) return undefined;
  const owned = !isStore(opts.store);
  const store = isStore(opts.store) ? opts.store : await openLockedStore(opts.store);
  const closeStore = async () => {
    if (owned) await store.close();
  };
  if (engine instanceof RedisEngine) {
    engine.configureRecovery({ source: storeRecovery(store, { shards: engine.shards }) });
  }
  if (!(engine instanceof MemoryEngine)) return { store, close: closeStore };
  try {
    await restoreFromStore(engine, store);
  } catch (e) {
    await closeStore();
    throw e;
  }
  const drain = startEmbeddedDrain({ engine, store, ...opts.drain });
  return {
    store,
    drain,
    close: async () => {
      await drain.stop();
      try {
        await drain.flush();
      } finally {
        await closeStore();
      }
    },
  };
}
