/**
 * The Cluster part of bench:engine: Tollgate through the library on a private
 * 3-master Redis Cluster, with the Cluster client's auto-pipelining off (what
 * src/engine/connect.ts makes) and on, alternating over several rounds; then
 * on a Cluster with replicas (3 masters + 3 replicas), with and without
 * `waitReplicas: 1`.
 *
 *   npx tsx bench/engine/cluster-part.ts     this part alone (its own section)
 */
import { Cluster } from 'ioredis';
import { CLUSTER_OPTIONS } from '../../src/engine/connect.js';
import { type RedisClusterNode, redisCommand } from '../../test/setup/redis-servers.js';
import { type BenchContext, isMain, runBench } from '../lib/harness.js';
import { alternate } from '../lib/rounds.js';
import { privateCluster } from '../lib/services.js';
import { setupWorkload, trimOutboxes } from '../lib/workload.js';
import { clusterSection } from './cluster-report.js';
import { CONFIG } from './config.js';
import { logMeasurement, type Measurement, measure } from './measure.js';

export type ClusterKind = 'Cluster, 3 masters' | 'Cluster, 3 masters + 3 replicas';

export interface ClusterRow extends Measurement {
  cluster: ClusterKind;
  autoPipelining: boolean;
  waitReplicas: number;
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

/** authorize and pair at each level through one client; the Cluster emptied first. */
async function runConfig(
  nodes: RedisClusterNode[],
  cluster: ClusterKind,
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
    // ASYNC: a large data set is freed in the background (the client's command timeout is 800 ms).
    await Promise.all(client.nodes('master').map((n) => n.flushall('ASYNC')));
    const ours = await setupWorkload({ redis: client, waitReplicas, warn: () => undefined });
    const rows: ClusterRow[] = [];
    try {
      for (const op of ['authorize', 'pair'] as const) {
        for (const c of levels) {
          await trimOutboxes(client, ours.shards);
          const m = await measure('tollgate/cluster', op, c, ours[op], {
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
  } finally {
    client.disconnect();
  }
}

/**
 * Both Clusters, one after the other. On the 3-master Cluster, auto-pipelining
 * off and on alternate (the machine drifts); on the Cluster with replicas, one
 * of each, at the highest level, with waitReplicas 0 and 1.
 */
export async function clusterPart(ctx: BenchContext): Promise<ClusterRow[]> {
  const levels = CONFIG.cluster.concurrency;
  const plain = await privateCluster(ctx, false);
  const rounds = await alternate(
    CONFIG.cluster.rounds,
    () => runConfig(plain.nodes, 'Cluster, 3 masters', false, 0, levels),
    () => runConfig(plain.nodes, 'Cluster, 3 masters', true, 0, levels),
    { rate: () => Number.NaN, swap: true },
  );
  await plain.stop();
  const rows = rounds.rounds.flatMap((r) => [...r.ours, ...r.peer]);
  const replicated = await privateCluster(ctx, true);
  const top = [levels[levels.length - 1] as number];
  for (const wait of [0, 1]) {
    for (const ap of [false, true]) {
      rows.push(
        ...(await runConfig(replicated.nodes, 'Cluster, 3 masters + 3 replicas', ap, wait, top)),
      );
    }
  }
  await replicated.stop();
  return rows;
}

if (isMain(import.meta.url)) {
  runBench('bench/engine (Cluster)', async (ctx) => {
    ctx.publish(clusterSection(ctx, await clusterPart(ctx)));
  });
}
