/**
 * The Cluster part of bench:engine: Tollgate through the library on a private
 * 3-master Redis Cluster, with the Cluster client's auto-pipelining on (what
 * src/engine/connect.ts makes) and off; then on a Cluster with replicas
 * (3 masters + 3 replicas), with and without `waitReplicas: 1`.
 *
 *   npx tsx bench/engine/cluster-part.ts     this part alone (prints its table)
 */
import { fileURLToPath } from 'node:url';
import { Cluster } from 'ioredis';
import { CLUSTER_OPTIONS } from '../../src/engine/connect.js';
import { outboxKey } from '../../src/engine/keys.js';
import { startReplicatedCluster } from '../../test/setup/redis-cluster-replicas.js';
import {
  type RedisClusterNode,
  redisCommand,
  startCluster,
} from '../../test/setup/redis-servers.js';
import { writeClusterReport } from './cluster-report.js';
import { CONFIG } from './config.js';
import { logMeasurement, type Measurement, measure } from './measure.js';
import { setupTollgate } from './tollgate-ops.js';

const log = (text: string) => process.stderr.write(`${text}\n`);

export interface ClusterRow extends Measurement {
  cluster: 'Cluster, 3 masters' | 'Cluster, 3 masters + 3 replicas';
  autoPipelining: boolean;
  waitReplicas: number;
}

/** The concurrency levels of the 3-master runs; the replica runs use the last. */
export const CLUSTER_CONCURRENCY = [64, 512] as const;

/** Empties every master (agents, outboxes, holds) between configurations. */
async function flushAll(client: Cluster): Promise<void> {
  // ASYNC: a large data set is freed in the background (the client's command timeout is 800 ms).
  await Promise.all(client.nodes('master').map((n) => n.flushall('ASYNC')));
}

/** CPU seconds (user + sys) every node of the Cluster used so far, replicas included. */
async function clusterCpuSeconds(nodes: RedisClusterNode[]): Promise<number> {
  const each = await Promise.all(
    nodes.map(async (n) => {
      const info = String(await redisCommand(n.port, ['INFO', 'cpu']));
      const v = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
      return v('used_cpu_user') + v('used_cpu_sys');
    }),
  );
  return each.reduce((a, b) => a + b, 0);
}

async function trimOutboxes(client: Cluster, shards: number): Promise<void> {
  await Promise.all(
    Array.from({ length: shards }, (_, s) => client.xtrim(outboxKey(s), 'MAXLEN', 0)),
  );
}

export async function runConfig(
  nodes: RedisClusterNode[],
  cluster: ClusterRow['cluster'],
  autoPipelining: boolean,
  waitReplicas: number,
  levels: readonly number[],
): Promise<ClusterRow[]> {
  const client = new Cluster(nodes, { ...CLUSTER_OPTIONS, enableAutoPipelining: autoPipelining });
  client.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('cluster client not ready in 10 s')), 10_000);
      client.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await flushAll(client);
    return await measureAll(client, nodes, cluster, autoPipelining, waitReplicas, levels);
  } finally {
    client.disconnect();
  }
}

async function measureAll(
  client: Cluster,
  nodes: RedisClusterNode[],
  cluster: ClusterRow['cluster'],
  autoPipelining: boolean,
  waitReplicas: number,
  levels: readonly number[],
): Promise<ClusterRow[]> {
  const ours = await setupTollgate({ redis: client, waitReplicas, warn: () => undefined });
  const rows: ClusterRow[] = [];
  try {
    for (const op of ['authorize', 'pair'] as const) {
      for (const concurrency of levels) {
        await trimOutboxes(client, ours.tollgate.engine.shards);
        const m = await measure({
          target: 'tollgate/cluster',
          op,
          concurrency,
          run: op === 'authorize' ? ours.authorize : ours.pair,
          serverCpuSeconds: () => clusterCpuSeconds(nodes),
        });
        logMeasurement(
          m,
          `  (${cluster}, auto-pipelining ${autoPipelining ? 'on' : 'off'}, waitReplicas ${waitReplicas})`,
        );
        rows.push({ ...m, cluster, autoPipelining, waitReplicas });
      }
    }
  } finally {
    await ours.tollgate.close();
  }
  return rows;
}

/** Alternating rounds (on, off / off, on) of the 3-master runs; BENCH_CLUSTER_ROUNDS overrides. */
export const CLUSTER_ROUNDS = Math.max(1, Number(process.env.BENCH_CLUSTER_ROUNDS ?? '2') || 2);

/**
 * Both Clusters, started here and stopped at the end. On the 3-master
 * Cluster, auto-pipelining on and off alternate over CLUSTER_ROUNDS rounds
 * (the machine drifts); on the Cluster with replicas, one of each, at the
 * highest concurrency, with waitReplicas 0 and 1.
 */
export async function clusterPart(): Promise<ClusterRow[]> {
  // Ctrl-C: exit, so that the servers' exit handler (test/setup) kills them.
  const onSignal = (signal: NodeJS.Signals) => process.exit(signal === 'SIGINT' ? 130 : 143);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await bothClusters();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function bothClusters(): Promise<ClusterRow[]> {
  const rows: ClusterRow[] = [];
  const plain = await startCluster();
  try {
    log(`private 3-master Cluster on :${plain.nodes.map((n) => n.port).join(', :')}`);
    for (let round = 0; round < CLUSTER_ROUNDS; round++) {
      for (const ap of round % 2 === 0 ? [false, true] : [true, false]) {
        rows.push(
          ...(await runConfig(plain.nodes, 'Cluster, 3 masters', ap, 0, CLUSTER_CONCURRENCY)),
        );
      }
    }
  } finally {
    await plain.stop();
  }
  const replicated = await startReplicatedCluster();
  try {
    log(`private Cluster with replicas on :${replicated.nodes.map((n) => n.port).join(', :')}`);
    const top = [CLUSTER_CONCURRENCY[CLUSTER_CONCURRENCY.length - 1] as number];
    for (const wait of [0, 1]) {
      for (const ap of [false, true]) {
        rows.push(
          ...(await runConfig(replicated.nodes, 'Cluster, 3 masters + 3 replicas', ap, wait, top)),
        );
      }
    }
  } finally {
    await replicated.stop();
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  log(
    `bench/engine, Cluster part: ${CONFIG.durationMs / 1000} s windows after ${CONFIG.warmupMs / 1000} s warm-up`,
  );
  clusterPart()
    .then((rows) => writeClusterReport(rows, (performance.now() - started) / 1000))
    .catch((err: unknown) => {
      process.stderr.write(`failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exitCode = 1;
    });
}
