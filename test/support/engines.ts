import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, inject } from 'vitest';
import { MemoryEngine } from '../../src/engine/memory/index.js';
import { RedisEngine } from '../../src/engine/redis/index.js';
import type { Engine } from '../../src/engine/types.js';
import { unpackState } from './packed-state.js';

export interface ScriptCall {
  script: string;
  keys: readonly string[];
  args: readonly (string | number)[];
}

export interface EngineUnderTest {
  engine: Engine;
  /** Every script call made (Redis engines), for the slot and "before Redis" checks. */
  calls: ScriptCall[];
  /** A raw client on the same store (Redis engines), for key-level checks. */
  raw?: Redis | Cluster;
  close(): Promise<void>;
}

export type EngineKind = 'memory' | 'redis' | 'cluster';

/**
 * The engines a parametrized suite runs on in this vitest project: the unit
 * project provides `['memory']`, the integration project `['redis',
 * 'cluster']` (vitest.config.ts), so each kind runs once (docs/testing.md).
 */
export const ENGINE_KINDS: EngineKind[] = engineKinds();

function engineKinds(): EngineKind[] {
  const kinds = inject('engineKinds');
  if (kinds === undefined || kinds.length === 0) {
    throw new Error(
      'no engineKinds provided: run the tests through vitest.config.ts (docs/testing.md)',
    );
  }
  return kinds;
}

export function redisClient(kind: 'redis' | 'cluster'): Redis | Cluster {
  return kind === 'redis'
    ? new Redis(inject('redisUrl'), { enableAutoPipelining: true })
    : new Cluster(inject('clusterNodes'), { enableAutoPipelining: true });
}

export async function makeEngine(
  kind: EngineKind,
  opts: { maxFreePerCall?: number } = {},
): Promise<EngineUnderTest> {
  if (kind === 'memory') {
    const engine = new MemoryEngine(opts);
    return { engine, calls: [], close: () => engine.close() };
  }
  const calls: ScriptCall[] = [];
  const client = redisClient(kind);
  const engine = new RedisEngine({
    client,
    ownsClient: true,
    maxFreePerCall: opts.maxFreePerCall,
    observer: (script, keys, args) => calls.push({ script, keys: [...keys], args: [...args] }),
  });
  return { engine, calls, raw: client, close: () => engine.close() };
}

/**
 * The suite once per engine kind of the project (ENGINE_KINDS), each on an
 * engine of its own (makeEngine): made before its tests, closed after them.
 * `body` reads it through `ut()`.
 */
export function describeWithEngine(
  body: (ut: () => EngineUnderTest, kind: EngineKind) => void,
): void {
  describe.each(ENGINE_KINDS)('%s engine', (kind) => {
    let current: EngineUnderTest | undefined;
    beforeAll(async () => {
      current = await makeEngine(kind);
    });
    afterAll(async () => {
      await current?.close();
    });
    body(() => {
      if (current === undefined) throw new Error('the engine is not made');
      return current;
    }, kind);
  });
}

/** A fresh agent id per test, so test files can share one Redis. */
export function uid(prefix = 'ag'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/** A hash's fields; an agent hash's packed state `s` is spread into its named fields. */
async function hashWithState(node: Redis, key: string): Promise<Record<string, string>> {
  const h = await node.hgetall(key);
  if (h.s === undefined) return h;
  const packed = await node.hgetBuffer(key, 's');
  const { s: _packed, ...rest } = h;
  return { ...rest, ...(packed ? unpackState(packed) : {}) };
}

/** Every key (with its value) of one agent, on a Redis engine: the before/after check of a denial. */
export async function agentKeyspace(
  raw: Redis | Cluster,
  agentKey: string,
): Promise<Record<string, unknown>> {
  const nodes = raw instanceof Cluster ? raw.nodes('master') : [raw];
  const out: Record<string, unknown> = {};
  for (const node of nodes) {
    const keys = await node.keys(`${agentKey.replace(/[{}[\]*?]/g, '\\$&')}*`);
    for (const key of keys) {
      const type = await node.type(key);
      out[key] =
        type === 'hash'
          ? await hashWithState(node, key)
          : type === 'zset'
            ? await node.zrange(key, 0, -1, 'WITHSCORES')
            : type === 'string'
              ? await node.get(key)
              : type;
    }
  }
  return out;
}
