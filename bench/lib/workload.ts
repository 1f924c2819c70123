/**
 * The load the benchmarks put through Tollgate, in one place: the agents
 * (WORKLOAD.agents of them, role `coder`, limits that never deny), the
 * decision (`guard.checkPermission(agent, 'read_file', { estimatedTokens })`)
 * and the settle of its hold (`guard.recordOperation(…, reservation_id)`),
 * round-robin over the agents; and the outbox streams they fill (nobody
 * drains them in a benchmark unless it says so).
 */
import type { Cluster, Redis } from 'ioredis';
import { outboxKey } from '../../src/engine/keys.js';
import type { Engine } from '../../src/engine/types.js';
import { createTollgate, type Tollgate, type TollgateOptions } from '../../src/index.js';

export const WORKLOAD = {
  agents: 1_000,
  role: 'coder',
  operation: 'read_file',
  /**
   * Limits that never deny in a run; with BENCH_RATE_LIMITS=1, rate limits too
   * (1e9 requests and tokens per minute: checked on every decision, never denying).
   */
  limits: {
    sessionTokenLimit: 1e12,
    dailyCostLimit: 1e6,
    ...(process.env.BENCH_RATE_LIMITS === '1'
      ? { requestsPerMinute: 1e9, tokensPerMinute: 1e9 }
      : {}),
  },
  /** Tokens each decision estimates, and the usage each settle records. */
  estimatedTokens: 1_000,
  usage: { inputTokens: 800, outputTokens: 200 },
} as const;

/** `bench-0000` … : the agent ids (also the peer's keys). */
export function agentIds(n: number = WORKLOAD.agents): string[] {
  return Array.from({ length: n }, (_, i) => `bench-${String(i).padStart(4, '0')}`);
}

export interface Workload {
  tollgate: Tollgate;
  agents: string[];
  shards: number;
  /** One decision for `agentId`; throws unless allowed; the reservation id. */
  decide(agentId: string, estimatedTokens?: number): Promise<string>;
  /** Settles the hold `decide` made; throws unless settled. */
  settle(agentId: string, reservationId: string): Promise<void>;
  /** A decision for the agent at `seq` (round-robin). */
  authorize(seq: number): Promise<void>;
  /** A decision then its settle, for the agent at `seq`. */
  pair(seq: number): Promise<void>;
  /** Exactly `n` decisions, `concurrency` at a time; how long they took. */
  fill(n: number, concurrency: number): Promise<{ ms: number; perSec: number }>;
}

/** createTollgate(opts) with the agents registered (on failure it is closed and the error thrown). */
export async function setupWorkload(
  opts: TollgateOptions,
  agents: string[] = agentIds(),
): Promise<Workload> {
  const tollgate = await createTollgate(opts);
  try {
    await registerAgents(tollgate, agents);
  } catch (err) {
    await tollgate.close();
    throw err;
  }
  const { guard } = tollgate;
  const n = agents.length;
  const decide = async (agentId: string, estimatedTokens: number = WORKLOAD.estimatedTokens) => {
    const d = await guard.checkPermission(agentId, WORKLOAD.operation, { estimatedTokens });
    if (!d.allowed) throw new Error(`authorize denied for ${agentId}: ${d.error_code} ${d.reason}`);
    return d.reservation_id;
  };
  const settle = async (agentId: string, reservationId: string) => {
    const r = await guard.recordOperation(
      agentId,
      WORKLOAD.operation,
      WORKLOAD.usage,
      'success',
      reservationId,
    );
    if (r.outcome !== 'settled') throw new Error(`settle of ${reservationId}: ${r.outcome}`);
  };
  const authorize = async (seq: number) => {
    await decide(agents[seq % n] as string);
  };
  return {
    tollgate,
    agents,
    shards: tollgate.engine.shards,
    decide,
    settle,
    authorize,
    async pair(seq) {
      const agentId = agents[seq % n] as string;
      await settle(agentId, await decide(agentId));
    },
    async fill(total, concurrency) {
      let next = 0;
      const loop = async () => {
        for (let seq = next++; seq < total; seq = next++) await authorize(seq);
      };
      const t0 = performance.now();
      await Promise.all(Array.from({ length: Math.min(concurrency, total) }, loop));
      const ms = performance.now() - t0;
      return { ms, perSec: (total * 1000) / ms };
    },
  };
}

/** Registers agents with WORKLOAD's role and limits, 250 at a time. */
export async function registerAgents(tollgate: Tollgate, ids: readonly string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 250) {
    await Promise.all(
      ids
        .slice(i, i + 250)
        .map((id) => tollgate.identity.registerAgent(id, WORKLOAD.role, {}, WORKLOAD.limits)),
    );
  }
}

/**
 * A decision straight on an engine, below the library (bench/engine/instructions.ts):
 * its hold lasts `leaseMs`.
 */
export function engineAuthorize(engine: Engine, agentId: string, leaseMs: number) {
  return engine.authorize({
    agentId,
    operation: WORKLOAD.operation,
    estimatedTokens: 1,
    rates: { model: 'm', inputMicrosPerMillion: 1, outputMicrosPerMillion: 1 },
    leaseMs,
    allowedRoles: [WORKLOAD.role],
    actor: 'library',
  });
}

type Client = Redis | Cluster;

/** Empties every outbox stream, so that a measurement starts from nothing. */
export async function trimOutboxes(client: Client, shards: number): Promise<void> {
  await Promise.all(
    Array.from({ length: shards }, (_, s) => client.xtrim(outboxKey(s), 'MAXLEN', 0)),
  );
}

/** Entries in the outbox streams (XLEN: the drain deletes what it stores). */
export async function outboxTotal(client: Client, shards: number): Promise<number> {
  const lengths = await Promise.all(
    Array.from({ length: shards }, (_, s) => client.xlen(outboxKey(s))),
  );
  return lengths.reduce((a, b) => a + b, 0);
}
