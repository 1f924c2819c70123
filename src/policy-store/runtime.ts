import { MAX_POLICY_CHANGES } from '../audit/event-types.js';
import type { AuditStore, PolicyVersionStore, StoredPolicy } from '../audit/store/types.js';
import { type PoolSync, syncPolicyPools } from '../budget/pools.js';
import type { Actor, Engine } from '../engine/types.js';
import { isTollgateError, TollgateError } from '../errors.js';
import { createPolicy, type Policy, type PolicyDoc, type PolicyWarning } from '../policy/index.js';
import { applyToAgents } from './agents.js';
import { checkPolicyDocument } from './check.js';
import { diffPolicyDocs, type PolicyFieldChange } from './diff.js';
import type { LivePolicy } from './live.js';

/** Where the policy in force came from. */
export type PolicySource = 'runtime' | 'file' | 'options' | 'defaults';

/** The policy in force and where it came from (GET /v1/policy). */
export interface PolicyState {
  /** The policy in force (immutable; `tg.policy` always answers from it). */
  policy: Policy;
  /** Its stored version; 0: not stored (the file's, the options' or the defaults). */
  version: number;
  /** Who set it: the actor of a stored version, else `file`, `options` or `defaults`. */
  setBy: string;
  /** ms when it was stored; null when not stored. */
  setAt: number | null;
  source: PolicySource;
  /** The policy file given at startup (TOLLGATE_POLICY), if any. */
  file?: string;
}

/** What a change did (or, with `dryRun`, would do). */
export interface PolicyChangeResult {
  /** The version in force after it (unchanged for a dry run or a change that changes nothing). */
  version: number;
  /** The version it was made on (0: the file's or the defaults). */
  previousVersion: number;
  /** False when the document equals the one in force (nothing stored) or for a dry run. */
  changed: boolean;
  dryRun: boolean;
  /** The fields that differ from the version it was made on. */
  changes: PolicyFieldChange[];
  /** The new policy's warnings, and the roles held by agents that it does not name. */
  warnings: PolicyWarning[];
  /** Agents that took their role's new limits (a `limits_changed` event each). */
  agentsUpdated: number;
  /** Agents that could not be updated (the engine failed): they keep their limits. */
  agentsFailed: number;
  /** The declared pools created or updated (docs/policy.md, "Pools"). */
  pools: PoolSync;
}

export interface PolicyChangeOptions {
  /**
   * Who sets it, as stored and audited (`admin` through the API). Default:
   * the Tollgate's actor. 1–64 letters, digits, `.`, `_`, `:`, `@` or `-`.
   */
  actor?: string;
  /** The version it is made on (GET /v1/policy's `version`): another one in force is CONFLICT. */
  expectedVersion?: number;
  /** Check and compare only: nothing stored, applied or written. */
  dryRun?: boolean;
}

export interface PolicyRuntimeOptions {
  engine: Engine;
  live: LivePolicy;
  /** The durable store; none: changes are kept in this process only (embedded mode only). */
  store?: AuditStore;
  /** Whether other processes share the engine (Redis): then a change needs the store. */
  shared: boolean;
  /** The actor of the engine writes a change makes (pools, agents' limits) by default. */
  actor: Actor;
  source: Exclude<PolicySource, 'runtime'>;
  file?: string;
  warn: (message: string) => void;
}

const ACTOR = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/;
const ACTORS: ReadonlySet<string> = new Set(['admin', 'agent', 'library', 'system']);
/** Tries of a change whose base another process changed meanwhile (no expectedVersion given). */
const ATTEMPTS = 3;

const iso = (ms: number) => new Date(ms).toISOString();

/** `p`, or a rejection once `ms` have passed (the store not answering must not hold a start up). */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  p.catch(() => undefined);
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * The policy changed at runtime (docs/policy.md, "Changing the policy at
 * runtime"): `set` checks a whole document (every problem at once: the
 * schema's, and declared pools that exist beneath another parent), stores it
 * as the next version with its `policy_changed` event, applies it here at
 * once, creates or updates its pools and gives the agents of a role whose
 * limits changed the new ones they follow. `refresh` (every second, in each
 * process that shares the engine) applies a newer stored version. At
 * startup (`load`), a stored version wins over the file.
 */
export class PolicyRuntime {
  private version = 0;
  private setBy: string;
  private setAt: number | null = null;
  private source: PolicySource;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private failing = false;
  private closed = false;
  /** A stored version this build cannot use (warned once; the policy in force is kept). */
  private unusable = 0;

  constructor(private readonly o: PolicyRuntimeOptions) {
    this.source = o.source;
    this.setBy = o.source;
  }

  private get policies(): PolicyVersionStore | undefined {
    return this.o.store?.policies;
  }

  get(): PolicyState {
    return {
      policy: this.o.live.current(),
      version: this.version,
      setBy: this.setBy,
      setAt: this.setAt,
      source: this.source,
      ...(this.o.file !== undefined ? { file: this.o.file } : {}),
    };
  }

  /**
   * At startup: the store's newest version, when there is one, wins over the
   * policy given (the file), and the warning says so when they differ. With a
   * shared engine, a store that cannot be read within `waitMs`: the policy
   * given, until a poll reads it (so that the gate starts while PostgreSQL is
   * down); embedded mode fails, as its restore does.
   */
  async load(waitMs = 2_000): Promise<void> {
    const policies = this.policies;
    if (policies === undefined) return;
    let stored: StoredPolicy | null;
    try {
      stored = this.o.shared ? await within(policies.current(), waitMs) : await policies.current();
    } catch (e) {
      if (!this.o.shared) throw e;
      this.failing = true;
      this.o.warn(
        `policy: the store cannot be read (${(e as Error).message}): using ${this.describeGiven()} until it can; a stored version then applies`,
      );
      return;
    }
    if (stored === null) return;
    const given = this.o.live.current();
    if (!this.apply(stored)) return;
    const changes = diffPolicyDocs(stored.doc, given.doc);
    if (changes.length === 0) {
      this.o.warn(
        `policy: using the stored version ${stored.version} (set by ${stored.actor} at ${iso(stored.at)}), the same as ${this.describeGiven()}`,
      );
      return;
    }
    this.o.warn(
      `policy: using the stored version ${stored.version} (set by ${stored.actor} at ${iso(stored.at)}), not ${this.describeGiven()}, which differs from it in ${changes.length} field${changes.length === 1 ? '' : 's'} (${changes
        .slice(0, 3)
        .map((c) => c.path)
        .join(
          ', ',
        )}${changes.length > 3 ? ', …' : ''}); tollgate policy diff shows them, tollgate policy set makes a file the policy`,
    );
  }

  private describeGiven(): string {
    if (this.o.source === 'file') return `the policy file ${this.o.file ?? ''}`.trimEnd();
    return this.o.source === 'options' ? 'the policy given in the options' : 'the defaults';
  }

  /** Makes a stored version the policy in force; false when it cannot be used (warned). */
  private apply(stored: StoredPolicy): boolean {
    let next: Policy;
    try {
      next = createPolicy(stored.doc, `the stored policy version ${stored.version}`);
    } catch (e) {
      this.unusable = stored.version;
      this.o.warn(
        `policy: the stored version ${stored.version} cannot be used (${(e as Error).message}); keeping the policy in force (version ${this.version})`,
      );
      return false;
    }
    this.o.live.swap(next);
    this.version = stored.version;
    this.setBy = stored.actor;
    this.setAt = stored.at;
    this.source = 'runtime';
    return true;
  }

  /** Applies the store's newest version if it is newer than the one in force; true when one was applied. */
  async refresh(): Promise<boolean> {
    const policies = this.policies;
    if (policies === undefined) return false;
    const newest = await policies.currentVersion();
    // Only newer: a poll that read before this process's own change committed must not undo it.
    if (newest <= this.version || newest === this.unusable) return false;
    const stored = await policies.current();
    if (stored === null || stored.version <= this.version) return false;
    if (!this.apply(stored)) return false;
    this.o.warn(
      `policy: version ${stored.version} applied (set by ${stored.actor} at ${iso(stored.at)})`,
    );
    return true;
  }

  /** Polls the store every `everyMs` (an unref'd timer): a newer version applies within about that. */
  startPolling(everyMs: number): void {
    if (this.policies === undefined || this.timer !== undefined || this.closed) return;
    const tick = () => {
      this.polling = this.refresh().then(
        () => {
          if (this.failing) this.o.warn('policy: the store answers again');
          this.failing = false;
        },
        (e: unknown) => {
          if (!this.failing && !this.closed) {
            this.o.warn(
              `policy: cannot read the stored policy (${(e as Error).message}); retrying`,
            );
          }
          this.failing = true;
        },
      );
      void this.polling.finally(() => {
        if (!this.closed) this.timer = setTimeout(tick, everyMs).unref();
      });
    };
    this.timer = setTimeout(tick, everyMs).unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.polling?.catch(() => undefined);
  }

  /** The base of a change: the store's newest version (or, none stored, the policy given at startup). */
  private async base(): Promise<{ version: number; policy: Policy }> {
    const policies = this.policies;
    if (policies === undefined) return { version: this.version, policy: this.o.live.current() };
    const stored = await policies.current();
    // None stored: the change is made on what this process started with (version 0).
    if (stored === null) return { version: 0, policy: this.o.live.current() };
    if (stored.version === this.version) {
      return { version: this.version, policy: this.o.live.current() };
    }
    return {
      version: stored.version,
      policy: createPolicy(stored.doc, `the stored policy version ${stored.version}`),
    };
  }

  /** Checks a document as a whole (check.ts): PolicyError listing every problem. */
  check(doc: unknown): Promise<Policy> {
    return checkPolicyDocument(this.o.engine, doc);
  }

  /**
   * Sets the whole policy: `input` is a document as a policy file is (merged
   * onto the built-in defaults), or a function making one from the document
   * in force (a change to one role). Every problem at once (PolicyError,
   * nothing applied); CONFLICT when `expectedVersion` is not the version in
   * force; STORE_UNAVAILABLE when the engine is shared and there is no store.
   */
  async set(
    input: unknown | ((current: PolicyDoc) => unknown),
    opts: PolicyChangeOptions = {},
  ): Promise<PolicyChangeResult> {
    const actor = opts.actor ?? this.o.actor;
    if (typeof actor !== 'string' || !ACTOR.test(actor)) {
      throw new TollgateError('VALIDATION_FAILED', `Invalid actor ${JSON.stringify(actor)}`, {
        actor,
      });
    }
    const engineActor = ACTORS.has(actor) ? (actor as Actor) : this.o.actor;
    if (this.o.shared && this.policies === undefined && opts.dryRun !== true) {
      throw new TollgateError(
        'STORE_UNAVAILABLE',
        'Changing the policy at runtime needs the durable store (DATABASE_URL): every API process reads it from there',
        { store: 'not configured' },
      );
    }
    for (let attempt = 1; ; attempt++) {
      const base = await this.base();
      const doc =
        typeof input === 'function' ? (input as (d: PolicyDoc) => unknown)(base.policy.doc) : input;
      const next = await this.check(doc);
      if (opts.expectedVersion !== undefined && opts.expectedVersion !== base.version) {
        throw new TollgateError(
          'CONFLICT',
          `The policy is at version ${base.version}, not ${opts.expectedVersion}: read it again (GET /v1/policy) and send the change on it`,
          { version: base.version, expected_version: opts.expectedVersion },
        );
      }
      const changes = diffPolicyDocs(base.policy.doc, next.doc);
      const result: PolicyChangeResult = {
        version: base.version,
        previousVersion: base.version,
        changed: false,
        dryRun: opts.dryRun === true,
        changes,
        warnings: [...next.warnings],
        agentsUpdated: 0,
        agentsFailed: 0,
        pools: { created: [], updated: [] },
      };
      if (opts.dryRun) return result;
      if (changes.length > 0) {
        let stored: StoredPolicy;
        try {
          stored = await this.save(next, actor, base.version, changes);
        } catch (e) {
          const raced = isTollgateError(e) && e.code === 'CONFLICT';
          if (raced && opts.expectedVersion === undefined && attempt < ATTEMPTS) continue;
          throw e;
        }
        // The version is stored: from here on, the change is made.
        this.o.live.swap(next);
        this.version = stored.version;
        this.setBy = stored.actor;
        this.setAt = stored.at;
        this.source = 'runtime';
        result.version = stored.version;
        result.changed = true;
        const agents = await applyToAgents(this.o.engine, base.policy, next, engineActor);
        result.agentsUpdated = agents.updated;
        result.agentsFailed = agents.failed;
        result.warnings.push(...agents.warnings);
      } else if (base.version !== this.version) {
        // This process had not yet polled the version in force: take it now.
        await this.refresh();
      }
      // Unchanged too (a retry after a failure): the declared pools are made to match.
      result.pools = await syncPolicyPools(this.o.engine, next.pools, engineActor);
      return result;
    }
  }

  /** Stores the next version (its policy_changed event with it); without a store, counts it here. */
  private async save(
    next: Policy,
    actor: string,
    expectedVersion: number,
    changes: PolicyFieldChange[],
  ): Promise<StoredPolicy> {
    const at = Date.now();
    const summary = {
      changes: changes.slice(0, MAX_POLICY_CHANGES),
      changes_total: changes.length,
    };
    const policies = this.policies;
    if (policies === undefined) {
      return { version: this.version + 1, doc: next.doc, actor, at, eventId: '' };
    }
    return policies.save({ doc: next.doc, actor, at, expectedVersion, summary });
  }

  /**
   * Changes one role: `entry`'s fields replace the role's (a role the policy
   * does not name is added, and needs its budget), as a policy file's entry
   * does; the rest of the policy in force is kept.
   */
  setRole(
    role: string,
    entry: Record<string, unknown>,
    opts: PolicyChangeOptions = {},
  ): Promise<PolicyChangeResult> {
    return this.set(
      (doc: PolicyDoc) => ({
        ...doc,
        roles: {
          ...doc.roles,
          [role]: { ...(Object.hasOwn(doc.roles, role) ? doc.roles[role] : {}), ...entry },
        },
      }),
      opts,
    );
  }
}
