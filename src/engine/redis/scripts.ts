import type { Cluster, Redis } from 'ioredis';
import { loadScript } from './lua.js';

/**
 * The scripts, each defined once on the client with `defineCommand` (run by
 * EVALSHA, loaded on first use on every node). One entry per lua/ file; the
 * key count is the number in the file name.
 */
const SCRIPTS = {
  authorizeBatch: { file: 'authorizeBatch-1', keys: 1 },
  settle: { file: 'settle-3', keys: 3 },
  release: { file: 'release-3', keys: 3 },
  recordUsage: { file: 'recordUsage-3', keys: 3 },
  getStatus: { file: 'getStatus-3', keys: 3 },
  registerAgent: { file: 'registerAgent-3', keys: 3 },
  updateAgent: { file: 'updateAgent-2', keys: 2 },
  deleteAgent: { file: 'deleteAgent-4', keys: 4 },
  startSession: { file: 'startSession-3', keys: 3 },
  listAgents: { file: 'listAgents-1', keys: 1 },
  sweepShard: { file: 'sweepShard-2', keys: 2 },
  beginRecovery: { file: 'beginRecovery-2', keys: 2 },
  restoreAgent: { file: 'restoreAgent-3', keys: 3 },
  endRecovery: { file: 'endRecovery-2', keys: 2 },
} as const;

export type ScriptName = keyof typeof SCRIPTS;
export type Scalar = string | number;
/** { code, details, statusTuple } — see the lua headers. */
export type ScriptReply = [number, Scalar[], Scalar[]];
/** listAgents: one row per agent, or 14 (SHARD_NOT_READY). */
export type ListReply = [string, number, string, Scalar[]][] | number;

/** Replies whose shape is not ScriptReply (see the lua headers). */
interface OtherReplies {
  /** Each decision's values in turn, then the call's time (see the lua header; runBuffer). */
  authorizeBatch: unknown[];
  listAgents: ListReply;
  /** { nextCursor, agentsVisited, holdsFreed } */
  sweepShard: [string, number, number];
  /** { code, nowMs } */
  beginRecovery: [number, number];
  /** { code } */
  restoreAgent: [number];
  /** { code, nowMs } */
  endRecovery: [number, number];
}
export type ReplyOf<S extends ScriptName> = S extends keyof OtherReplies
  ? OtherReplies[S]
  : ScriptReply;

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
 * that the keys, and the keys authorizeBatch derives from its arguments, share
 * one slot).
 */
export type ScriptObserver = (
  script: ScriptName,
  keys: readonly string[],
  args: readonly Scalar[],
) => void;

type Custom = Record<string, (...args: Scalar[]) => Promise<unknown>>;

export class Scripts {
  private readonly client: Custom;

  constructor(
    client: Redis | Cluster,
    private readonly observer?: ScriptObserver,
  ) {
    for (const [name, def] of Object.entries(SCRIPTS)) {
      client.defineCommand(`tg_${name}`, { numberOfKeys: def.keys, lua: loadScript(def.file) });
    }
    this.client = client as unknown as Custom;
  }

  run<S extends ScriptName>(
    name: S,
    keys: ScriptKeys<S>,
    args: readonly Scalar[],
  ): Promise<ReplyOf<S>> {
    this.observer?.(name, keys, args);
    const fn = this.client[`tg_${name}`];
    if (!fn) throw new Error(`script ${name} is not defined`);
    return fn.call(this.client, ...(keys as string[]), ...args) as Promise<ReplyOf<S>>;
  }

  /** As run, but every bulk string of the reply comes as a Buffer (binary values). */
  runBuffer(name: ScriptName, keys: readonly string[], args: readonly Scalar[]): Promise<unknown> {
    this.observer?.(name, keys, args);
    const fn = this.client[`tg_${name}Buffer`];
    if (!fn) throw new Error(`script ${name} is not defined`);
    return fn.call(this.client, ...keys, ...args);
  }
}
