/**
 * Decisions through the library: one `createTollgate({ redis })` with the
 * agents registered, and `fill(n)`, which makes exactly n decisions with
 * `guard.checkPermission` from many concurrent loops, so that each shard's
 * outbox holds what the deciding script appended (one decision event each).
 */
import type { Redis } from 'ioredis';
import { outboxKey } from '../../src/engine/keys.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { registerAgents } from '../lib/agents.js';
import { agentIds, CONFIG } from './config.js';

export interface Decider {
  tollgate: Tollgate;
  agents: string[];
  shards: number;
  /** One decision for the agent at `seq` (round-robin); throws unless allowed. */
  decide(seq: number): Promise<void>;
  /** Exactly `n` decisions, `concurrency` at a time; returns how long it took. */
  fill(n: number, concurrency?: number): Promise<{ ms: number; perSec: number }>;
}

export async function setupDecider(redisUrl: string): Promise<Decider> {
  const tollgate = await createTollgate({ redis: redisUrl });
  const agents = agentIds();
  await registerAgents(tollgate, agents, CONFIG.role, CONFIG.limits);
  const { guard } = tollgate;
  const context = { estimatedTokens: CONFIG.estimatedTokens };
  const decide = async (seq: number) => {
    const agent = agents[seq % agents.length] as string;
    const d = await guard.checkPermission(agent, CONFIG.operation, context);
    if (!d.allowed) throw new Error(`decision denied for ${agent}: ${d.error_code} ${d.reason}`);
  };
  return {
    tollgate,
    agents,
    shards: tollgate.engine.shards,
    decide,
    async fill(n, concurrency = CONFIG.fillConcurrency) {
      let next = 0;
      const loop = async () => {
        for (let seq = next++; seq < n; seq = next++) await decide(seq);
      };
      const t0 = performance.now();
      await Promise.all(Array.from({ length: Math.min(concurrency, n) }, loop));
      const ms = performance.now() - t0;
      return { ms, perSec: (n * 1000) / ms };
    },
  };
}

/** Total entries in the outboxes (XLEN: the drain deletes what it stores). */
export async function outboxTotal(admin: Redis, shards: number): Promise<number> {
  const p = admin.pipeline();
  for (let s = 0; s < shards; s++) p.xlen(outboxKey(s));
  const replies = (await p.exec()) ?? [];
  return replies.reduce((sum, [err, v]) => {
    if (err) throw err;
    return sum + Number(v);
  }, 0);
}

/** Empties every outbox (registration events, the ceiling's calls) so a run starts from nothing. */
export async function trimOutboxes(admin: Redis, shards: number): Promise<void> {
  const p = admin.pipeline();
  for (let s = 0; s < shards; s++) p.xtrim(outboxKey(s), 'MAXLEN', 0);
  await p.exec();
}
