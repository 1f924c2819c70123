/**
 * A Cluster master SIGKILLed under load (docs/recovery.md, "Faults"): a
 * private 6-node Cluster (3 masters, 3 replicas, cluster-node-timeout 2 s),
 * 64 workers doing authorize + settle pairs on 50 agents, and the master of
 * one shard killed in the middle.
 *
 * - Through the library (createTollgate on the Cluster), and through three
 *   `tollgate serve` processes with the SDK: no error other than
 *   STORE_UNAVAILABLE reaches a caller, every acknowledged settle is counted
 *   exactly once, nothing stays held (a settle that failed is retried with
 *   the same reservation id, an authorize with the same request id), and the
 *   refusal window (first to last failed operation) is at most the node
 *   timeout + 2 s (printed; with `failoverRetryMs: 0`, only printed).
 * - With `waitReplicas: 1`: the same, and every settle acknowledged before the
 *   failover is in the new master's data (settling it again answers
 *   already_closed).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TollgateApiError, TollgateClient } from '../../src/client/index.js';
import { isTollgateError } from '../../src/errors.js';
import { createTollgate, RedisEngine, type Tollgate } from '../../src/index.js';
import {
  CLUSTER_NODE_TIMEOUT_MS,
  type ReplicatedCluster,
  startReplicatedCluster,
} from '../setup/redis-cluster-replicas.js';
import { uid } from '../support/engines.js';
import {
  describeLoad,
  type LoadResult,
  type PairOps,
  refusalWindow,
  runPairs,
} from '../support/failover-load.js';
import { spawnServe, stopProcess } from '../support/serve-process.js';
import { keySlot } from '../support/slot.js';

const AGENTS = 50;
const WORKERS = 64;
/** Load before the kill, and after the failover. */
const BEFORE_KILL_MS = 1_500;
const AFTER_FAILOVER_MS = 2_000;
const ADMIN = 'failover-admin-token-0123456789ab';
const LIMITS = { sessionTokenLimit: 1e12, dailyCostLimit: 1e6 };
const OPERATION = 'read_file';
/** The bound the issue sets on the refusal window. */
const REFUSAL_BOUND_MS = CLUSTER_NODE_TIMEOUT_MS + 2_000;

/** The Cluster slot of a shard's keys (`tg:{s<n>}:…`). */
const slotOfShard = (shard: number) => keySlot(`tg:{s${shard}}:ready`);

let cluster: ReplicatedCluster;
const log = (line: string) => process.stdout.write(`[failover] ${line}\n`);

beforeAll(async () => {
  cluster = await startReplicatedCluster();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

async function registerAgents(tg: Tollgate, prefix: string): Promise<string[]> {
  const ids = Array.from({ length: AGENTS }, () => uid(prefix));
  await Promise.all(ids.map((id) => tg.identity.registerAgent(id, 'coder', {}, LIMITS)));
  return ids;
}

function libraryOps(tg: Tollgate): PairOps {
  return {
    authorize: async (agentId, requestId, estimatedTokens) => {
      const d = await tg.guard.checkPermission(agentId, OPERATION, { estimatedTokens, requestId });
      return d.allowed ? { reservationId: d.reservation_id } : { denied: d.error_code };
    },
    settle: async (reservationId, agentId, inputTokens, outputTokens) => {
      const r = await tg.guard.recordOperation(
        agentId,
        OPERATION,
        { inputTokens, outputTokens },
        'success',
        reservationId,
      );
      return r.outcome;
    },
    codeOf: (e) => (isTollgateError(e) ? e.code : `${(e as Error).name}: ${(e as Error).message}`),
  };
}

/**
 * Load, kill the master of shard `shard` after BEFORE_KILL_MS, wait for its
 * failover, `afterFailover` (e.g. bring the old master back), load for
 * AFTER_FAILOVER_MS more, stop. The load's result and the failover's times.
 */
async function loadThroughFailover(
  ops: PairOps,
  agents: string[],
  shard: number,
  afterFailover: () => Promise<void> = async () => {},
) {
  let stop = false;
  const load = runPairs({ ops, agents, workers: WORKERS, done: () => stop });
  let times = { killedAtMs: 0, failedOverAtMs: 0, port: 0, newPort: 0 };
  try {
    await new Promise((r) => setTimeout(r, BEFORE_KILL_MS));
    const slot = slotOfShard(shard);
    const { server, killedAtMs } = await cluster.killMasterOf(slot);
    const { master, atMs } = await cluster.waitForFailover(slot, server);
    times = { killedAtMs, failedOverAtMs: atMs, port: server.port, newPort: master.port };
    await afterFailover();
    await new Promise((r) => setTimeout(r, AFTER_FAILOVER_MS));
  } finally {
    stop = true;
  }
  const result = await load;
  const window = refusalWindow(result.failures);
  log(
    `${describeLoad(`shard ${shard}`, result)}; master :${times.port} killed, ` +
      `:${times.newPort} took over after ${times.failedOverAtMs - times.killedAtMs} ms`,
  );
  return { result, window, ...times };
}

/** The books: acknowledged settle tokens == the agents' session tokens_used; nothing held. */
async function expectBooksBalance(tg: Tollgate, agents: string[], r: LoadResult): Promise<void> {
  const detail = JSON.stringify({
    unexpected: r.unexpected.slice(0, 5),
    unsettled: r.unsettled.length,
    denials: r.denials,
  });
  expect(r.unexpected, detail).toEqual([]);
  expect(r.unsettled, detail).toEqual([]);
  expect(r.denials, detail).toEqual({});
  expect(r.pairs).toBeGreaterThan(50);
  const ackedByAgent = new Map<string, number>();
  for (const s of r.acked.values()) {
    ackedByAgent.set(s.agentId, (ackedByAgent.get(s.agentId) ?? 0) + s.tokens);
  }
  for (const id of agents) {
    const s = await tg.engine.status(id);
    expect(s, id).not.toBeNull();
    expect({ id, used: s?.sessionTokensUsed }).toEqual({ id, used: ackedByAgent.get(id) ?? 0 });
    expect({ id, reserved: s?.sessionTokensReserved }).toEqual({ id, reserved: 0 });
    expect({ id, reserved: s?.dailyReservedMicros }).toEqual({ id, reserved: 0 });
  }
}

describe('a Cluster master SIGKILLed under load, through the library', () => {
  // The default: the library repeats a call for 6 s while Redis fails over,
  // so callers mostly see a slower answer, and the refusal window is bounded
  // as the issue asks. 0: every failover error reaches the caller, who
  // retries it with the same ids; that window (how long Redis takes to fail
  // over, which the machine's load stretches) is printed, not bounded.
  it.each([
    { retry: 'the default failoverRetryMs', failoverRetryMs: undefined, shard: 0 },
    { retry: 'failoverRetryMs: 0', failoverRetryMs: 0, shard: 3 },
  ])(
    '$retry: 0 errors but STORE_UNAVAILABLE, every acknowledged settle counted once, nothing held',
    {
      timeout: 90_000,
    },
    async ({ failoverRetryMs, shard }) => {
      await cluster.waitHealthy(); // a node killed before rejoins, as a replica
      const warnings: string[] = [];
      const tg = await createTollgate({
        redis: { clusterNodes: cluster.nodes },
        failoverRetryMs,
        warn: (m) => warnings.push(m),
      });
      try {
        const agents = await registerAgents(tg, 'fo');
        // (A new deployment's shards are marked ready as they are first used.)
        const recoveries = (tg.engine as RedisEngine).shardRecoveries().total;
        warnings.length = 0;
        const run = await loadThroughFailover(libraryOps(tg), agents, shard);
        await expectBooksBalance(tg, agents, run.result);
        if (failoverRetryMs === undefined) {
          expect(run.window, 'refusal window (ms)').toBeLessThanOrEqual(REFUSAL_BOUND_MS);
        }
        // No shard lost its data: nothing was found without its ready marker.
        expect((tg.engine as RedisEngine).shardRecoveries().total).toBe(recoveries);
        expect(warnings).toEqual([]);
      } finally {
        await tg.close();
      }
    },
  );

  it('with waitReplicas: 1, no acknowledged settle is lost', { timeout: 90_000 }, async () => {
    await cluster.waitHealthy();
    const tg = await createTollgate({
      redis: { clusterNodes: cluster.nodes },
      waitReplicas: 1,
      warn: () => undefined, // a new deployment's "no ready marker" notes
    });
    try {
      expect(tg.engine).toBeInstanceOf(RedisEngine);
      const agents = await registerAgents(tg, 'fw');
      // The new master has no replica until the old one rejoins (WAIT 1 cannot
      // be met): bring it back at once, as an operator (or a supervisor) would.
      const run = await loadThroughFailover(libraryOps(tg), agents, 6, () => cluster.waitHealthy());
      await expectBooksBalance(tg, agents, run.result);
      // Every settle acknowledged up to the failover is in the new master's
      // data: settling it again (the same usage) answers already_closed.
      const acked = [...run.result.acked].filter(([, s]) => s.atMs <= run.failedOverAtMs);
      expect(acked.length).toBeGreaterThan(50);
      const outcomes: Record<string, number> = {};
      const ops = libraryOps(tg);
      for (let i = 0; i < acked.length; i += 64) {
        await Promise.all(
          acked.slice(i, i + 64).map(async ([id, s]) => {
            const o = await ops.settle(id, s.agentId, s.inputTokens, s.outputTokens);
            outcomes[o] = (outcomes[o] ?? 0) + 1;
          }),
        );
      }
      expect(outcomes).toEqual({ already_closed: acked.length });
      log(
        `waitReplicas 1: ${acked.length} settles acknowledged up to the failover, all in the new master`,
      );
      expect(run.window, 'refusal window (ms)').toBeLessThanOrEqual(REFUSAL_BOUND_MS);
    } finally {
      await tg.close();
    }
  });
});

describe('a Cluster master SIGKILLed under load, through three API processes and the SDK', () => {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];

  afterAll(async () => {
    await Promise.all(children.map(stopProcess));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('0 errors but 503 STORE_UNAVAILABLE, every acknowledged settle counted once, nothing held', {
    timeout: 90_000,
  }, async () => {
    await cluster.waitHealthy();
    const urls = await Promise.all(
      [0, 1, 2].map(async () => {
        const dir = mkdtempSync(join(tmpdir(), 'tg-failover-'));
        dirs.push(dir);
        const { proc, output } = await spawnServe(
          {
            REDIS_URL: '',
            REDIS_CLUSTER_NODES: cluster.seedList,
            DATABASE_URL: '',
            TOLLGATE_POLICY: '',
            TOLLGATE_DATA_DIR: dir,
            TOLLGATE_ADMIN_TOKEN: ADMIN,
            PORT: '',
          },
          /Tollgate listening on http:\/\/localhost:\d+\n[\s\S]*\}\s*$/,
        );
        children.push(proc);
        return /Tollgate listening on (http:\/\/localhost:\d+)/.exec(output())?.[1] ?? '';
      }),
    );
    const tg = await createTollgate({ redis: { clusterNodes: cluster.nodes } });
    try {
      const agents = await registerAgents(tg, 'fa');
      const clients = urls.map((baseUrl) => new TollgateClient({ baseUrl, token: ADMIN }));
      let next = 0;
      const client = () => clients[next++ % clients.length] as TollgateClient;
      const ops: PairOps = {
        authorize: async (agentId, requestId, estimatedTokens) => {
          const d = await client().authorize({
            agent_id: agentId,
            operation: OPERATION,
            estimated_tokens: estimatedTokens,
            request_id: requestId,
          });
          return d.allowed ? { reservationId: d.reservation_id } : { denied: d.error_code };
        },
        settle: async (reservationId, _agentId, inputTokens, outputTokens) =>
          (
            await client().settle({
              reservation_id: reservationId,
              input_tokens: inputTokens,
              output_tokens: outputTokens,
              result: 'success',
            })
          ).outcome,
        codeOf: (e) =>
          e instanceof TollgateApiError
            ? e.status === 503
              ? e.code
              : `${e.status} ${e.code}`
            : `${(e as Error).name}: ${(e as Error).message}`,
      };
      const run = await loadThroughFailover(ops, agents, 9);
      await expectBooksBalance(tg, agents, run.result);
      expect(run.window, 'refusal window (ms)').toBeLessThanOrEqual(REFUSAL_BOUND_MS);
      for (const proc of children) expect(proc.exitCode).toBeNull();
    } finally {
      await tg.close();
    }
  });
});
