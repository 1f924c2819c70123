import { Cluster, type Redis } from 'ioredis';
import { loadScript } from './lua.js';
import { isFailoverReply, isRetryableStoreError } from './store-errors.js';

/**
 * The scripts, each defined once on the client with `defineCommand` (run by
 * EVALSHA, loaded on first use on every node). One entry per lua/ file; the
 * key count is the number in the file name.
 */
const SCRIPTS = {
  authorize: { file: 'authorize-1', keys: 1 },
  settle: { file: 'settle-1', keys: 1 },
  release: { file: 'release-3', keys: 3 },
  recordUsage: { file: 'recordUsage-3', keys: 3 },
  getStatus: { file: 'getStatus-3', keys: 3 },
  registerAgent: { file: 'registerAgent-3', keys: 3 },
  updateAgent: { file: 'updateAgent-2', keys: 2 },
  deleteAgent: { file: 'deleteAgent-4', keys: 4 },
  startSession: { file: 'startSession-3', keys: 3 },
  listAgents: { file: 'listAgents-1', keys: 1 },
  sweepShard: { file: 'sweepShard-2', keys: 2 },
  closeLeftHold: { file: 'closeLeftHold-1', keys: 1 },
  beginRecovery: { file: 'beginRecovery-2', keys: 2 },
  restoreAgent: { file: 'restoreAgent-3', keys: 3 },
  restorePool: { file: 'restorePool-2', keys: 2 },
  restoreDirectory: { file: 'restoreDirectory-2', keys: 2 },
  endRecovery: { file: 'endRecovery-2', keys: 2 },
  claimAgent: { file: 'claimAgent-2', keys: 2 },
  pointAgent: { file: 'pointAgent-1', keys: 1 },
  moveAgent: { file: 'moveAgent-2', keys: 2 },
  freezeAgent: { file: 'freezeAgent-3', keys: 3 },
  copyAgent: { file: 'copyAgent-3', keys: 3 },
  dropAgent: { file: 'dropAgent-2', keys: 2 },
  thawAgent: { file: 'thawAgent-1', keys: 1 },
  findPool: { file: 'findPool-1', keys: 1 },
  claimPool: { file: 'claimPool-1', keys: 1 },
  unclaimPool: { file: 'unclaimPool-1', keys: 1 },
  createPool: { file: 'createPool-2', keys: 2 },
  updatePool: { file: 'updatePool-2', keys: 2 },
  deletePool: { file: 'deletePool-2', keys: 2 },
  getPool: { file: 'getPool-1', keys: 1 },
  listPools: { file: 'listPools-1', keys: 1 },
} as const;

export type ScriptName = keyof typeof SCRIPTS;
export type Scalar = string | number;

/**
 * The replies `run` reads as text (see the lua headers); the others are read
 * with `runBuffer` (binary: they carry the packed agent state).
 */
interface TextReplies {
  /** { nextCursor, agentsVisited, holdsFreed } */
  sweepShard: [string, number, number];
  /** { code, nowMs } */
  beginRecovery: [number, number];
  /** { code } */
  restoreAgent: [number];
  /** { code } */
  restorePool: [number];
  /** { code } */
  restoreDirectory: [number];
  /** { code, nowMs } */
  endRecovery: [number, number];
}
export type ReplyOf<S extends ScriptName> = S extends keyof TextReplies ? TextReplies[S] : unknown;

type KeysOf<N> = N extends 1
  ? [string]
  : N extends 2
    ? [string, string]
    : N extends 3
      ? [string, string, string]
      : N extends 4
        ? [string, string, string, string]
        : [string, string, string, string, string];

/** A tuple of exactly as many keys as the script's file name says. */
export type ScriptKeys<S extends ScriptName> = KeysOf<(typeof SCRIPTS)[S]['keys']>;

/**
 * Called before every script call with its keys and arguments (tests check
 * that the keys, and the keys authorize derives from its arguments, share
 * one slot).
 */
export type ScriptObserver = (
  script: ScriptName,
  keys: readonly string[],
  args: readonly Scalar[],
) => void;

type Custom = Record<string, (...args: Scalar[]) => Promise<unknown>>;

/**
 * How long a script call is tried again while the store answers with a
 * failover's error (a Cluster master failing over, a node restarting, the
 * connection cut): a failover takes the cluster-node-timeout plus 1.5–2.5 s
 * (measured, test/engine/failover.test.ts), so this rides out one with a
 * node timeout of 5 s. Every script is safe to run twice with the same
 * arguments (the ids in them), so the call is repeated as it was.
 */
export const DEFAULT_FAILOVER_RETRY_MS = 8_000;
const FIRST_BACKOFF_MS = 25;
const MAX_BACKOFF_MS = 500;

/** WAIT saw fewer replicas than asked in time (named like Redis's NOREPLICAS: retryable). */
export class WaitError extends Error {
  override readonly name = 'ReplyError';
}

export class Scripts {
  private readonly client: Custom;
  private readonly retryMs: number;
  /**
   * A lost connection is a failover's on a Cluster (a master dies, its
   * replica takes over): repeated there. One Redis that is away is down:
   * the call fails at once (fail closed, fast).
   */
  private readonly retryConnections: boolean;

  constructor(
    private readonly raw: Redis | Cluster,
    private readonly observer?: ScriptObserver,
    retryMs = DEFAULT_FAILOVER_RETRY_MS,
  ) {
    for (const [name, def] of Object.entries(SCRIPTS)) {
      raw.defineCommand(`tg_${name}`, { numberOfKeys: def.keys, lua: loadScript(def.file) });
    }
    this.client = raw as unknown as Custom;
    this.retryMs = retryMs;
    this.retryConnections = raw instanceof Cluster;
  }

  run<S extends ScriptName>(
    name: S,
    keys: ScriptKeys<S>,
    args: readonly Scalar[],
  ): Promise<ReplyOf<S>> {
    return this.call(`tg_${name}`, name, keys, args) as Promise<ReplyOf<S>>;
  }

  /**
   * As run, then WAIT for `replicas` replicas to acknowledge the call's writes
   * (sent on the same connection, after the script, in one pipeline), at most
   * `timeoutMs`. Fewer replicas in time: a retryable error (NOREPLICAS): the
   * write is on the master, and repeating the call (the same ids) is safe.
   * `binary`: bulk strings come as Buffers (as runBuffer).
   */
  async runWaiting<S extends ScriptName>(
    name: S,
    keys: readonly string[],
    args: readonly Scalar[],
    replicas: number,
    timeoutMs: number,
    binary = false,
  ): Promise<ReplyOf<S>> {
    this.observer?.(name, keys, args);
    const run = async (): Promise<unknown> => {
      const pipeline = this.raw.pipeline() as unknown as Record<
        string,
        (...a: unknown[]) => unknown
      > & { call(...a: unknown[]): unknown; exec(): Promise<[Error | null, unknown][] | null> };
      const script = pipeline[binary ? `tg_${name}Buffer` : `tg_${name}`];
      if (!script) throw new Error(`script ${name} is not defined`);
      script.call(pipeline, ...keys, ...args);
      pipeline.call('WAIT', replicas, timeoutMs);
      const res = await pipeline.exec();
      const [scriptErr, reply] = res?.[0] ?? [new Error('no reply'), undefined];
      if (scriptErr) throw scriptErr;
      const [waitErr, acked] = res?.[1] ?? [new Error('no WAIT reply'), 0];
      if (waitErr) throw waitErr;
      if (Number(acked) < replicas) {
        throw new WaitError(
          `NOREPLICAS ${acked} of ${replicas} replicas acknowledged the write within ${timeoutMs} ms`,
        );
      }
      return reply;
    };
    return (await run().catch((e: unknown) => this.retry(run, e))) as ReplyOf<S>;
  }

  /** As run, but every bulk string of the reply comes as a Buffer (binary values). */
  runBuffer(name: ScriptName, keys: readonly string[], args: readonly Scalar[]): Promise<unknown> {
    return this.call(`tg_${name}Buffer`, name, keys, args);
  }

  private call(
    command: string,
    name: ScriptName,
    keys: readonly string[],
    args: readonly Scalar[],
  ): Promise<unknown> {
    this.observer?.(name, keys, args);
    const fn = this.client[command];
    if (!fn) throw new Error(`script ${name} is not defined`);
    const once = () => fn.call(this.client, ...keys, ...args);
    // The usual call pays nothing for the retries: they start only on a failure.
    return once().catch((e: unknown) => this.retry(once, e));
  }

  /** Tries `once` again, with a growing pause, while its error is a failover's and time is left. */
  private async retry(once: () => Promise<unknown>, first: unknown): Promise<unknown> {
    const deadline = Date.now() + this.retryMs;
    let error = first;
    for (let pause = FIRST_BACKOFF_MS; ; pause = Math.min(pause * 2, MAX_BACKOFF_MS)) {
      const failover =
        isFailoverReply(error) || (this.retryConnections && isRetryableStoreError(error));
      if (!failover || Date.now() + pause > deadline) throw error;
      await new Promise((r) => setTimeout(r, pause));
      try {
        return await once();
      } catch (e) {
        error = e;
      }
    }
  }
}
