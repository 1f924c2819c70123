/**
 * A private Redis Cluster with replicas, for the failover tests: six
 * redis-server processes (three masters, one replica each), started by the
 * test that needs it (not by the global setup) and stopped after it.
 *
 *   --cluster-node-timeout 2000        a dead master is failed over in ~3 s
 *   --repl-diskless-sync-delay 0       a (re)joining replica syncs at once
 *   redis-cli --cluster create … --cluster-replicas 1
 *
 * Helpers: the master (and replicas) of a slot, SIGKILL of that master,
 * waiting for its failover, restarting a node empty (no persistence: the
 * node keeps only its nodes.conf, so its id and its role), and waiting until
 * the cluster is whole again.
 */
import {
  createCluster,
  type RedisClusterNode,
  type RedisServer,
  redisCommand,
  sleep,
  startOnFreePorts,
} from './redis-servers.js';

export const CLUSTER_NODE_TIMEOUT_MS = 2_000;
const READY_TIMEOUT_MS = 45_000;

export interface ClusterNodeView {
  id: string;
  port: number;
  flags: string[];
  /** The master's id for a replica, '-' for a master. */
  masterId: string;
  /** Slot ranges [from, to] served (masters). */
  slots: [number, number][];
}

export interface ReplicatedCluster {
  /** Every node's address (seeds for `new Cluster(nodes)` or REDIS_CLUSTER_NODES). */
  readonly nodes: RedisClusterNode[];
  /** The six servers. */
  readonly servers: RedisServer[];
  readonly nodeTimeoutMs: number;
  /** `host:port,host:port,…` of every node (REDIS_CLUSTER_NODES). */
  readonly seedList: string;
  /** The master of `slot`, as the live nodes see it (they must agree). */
  masterOf(slot: number): Promise<RedisServer>;
  /** The replicas of `master`, as the live nodes see them. */
  replicasOf(master: RedisServer): Promise<RedisServer[]>;
  /** SIGKILLs the master of `slot`: the server, and when (Date.now()). */
  killMasterOf(slot: number): Promise<{ server: RedisServer; killedAtMs: number }>;
  /**
   * Waits until every live node agrees that a node other than `old` is the
   * master of `slot` and reports cluster_state:ok; the new master and when.
   */
  waitForFailover(
    slot: number,
    old: RedisServer,
    timeoutMs?: number,
  ): Promise<{ master: RedisServer; atMs: number }>;
  /**
   * SIGKILL `server`, then start it again on its port, with no data, at once
   * (its nodes.conf kept: the same node id, the role it had). Resolves when it
   * answers PING again; how long it was down (ms).
   */
  restartEmpty(server: RedisServer): Promise<number>;
  /**
   * Waits until all six nodes run, every node reports cluster_state:ok and
   * all slots, there are three masters with slots, and each has a replica
   * whose link is up and not syncing.
   */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** CLUSTER NODES as seen by the node on `port`. */
export async function clusterNodes(port: number): Promise<ClusterNodeView[]> {
  const text = String(await redisCommand(port, ['CLUSTER', 'NODES'], 1_000));
  const out: ClusterNodeView[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    if (f.length < 8) continue;
    const address = f[1] ?? '';
    const slots: [number, number][] = [];
    for (const s of f.slice(8)) {
      if (s.startsWith('[')) continue; // a slot being migrated
      const [from, to] = s.split('-').map(Number);
      if (from !== undefined && Number.isInteger(from)) slots.push([from, to ?? from]);
    }
    out.push({
      id: f[0] ?? '',
      port: Number(/:(\d+)@/.exec(address)?.[1]),
      flags: (f[2] ?? '').split(','),
      masterId: f[3] ?? '-',
      slots,
    });
  }
  return out;
}

/** INFO <section> of the node on `port`, as key → value. */
export async function nodeInfo(port: number, section: string): Promise<Map<string, string>> {
  const text = String(await redisCommand(port, ['INFO', section], 1_000));
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

const serves = (n: ClusterNodeView, slot: number) =>
  n.slots.some(([from, to]) => slot >= from && slot <= to);
const failed = (n: ClusterNodeView) => n.flags.includes('fail') || n.flags.includes('fail?');

/**
 * Starts the six nodes on free ports, creates the cluster with
 * `redis-cli --cluster create … --cluster-replicas 1`, and waits until it is
 * healthy (waitHealthy). Stop it with `stop()`.
 */
export async function startReplicatedCluster(): Promise<ReplicatedCluster> {
  const servers: RedisServer[] = [];
  const down = new Set<RedisServer>();
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  const byPort = (port: number) => {
    const s = servers.find((x) => x.port === port);
    if (s === undefined) throw new Error(`no server on port ${port}`);
    return s;
  };
  const live = () => servers.filter((s) => !down.has(s));

  /** Every live node's view (a node that does not answer: undefined). */
  const views = () => Promise.all(live().map((s) => clusterNodes(s.port).catch(() => undefined)));

  const masterOf = async (slot: number): Promise<RedisServer> => {
    const seen = new Set<number>();
    for (const view of await views()) {
      const m = view?.find((n) => n.flags.includes('master') && !failed(n) && serves(n, slot));
      if (m) seen.add(m.port);
    }
    if (seen.size !== 1)
      throw new Error(`nodes disagree on the master of slot ${slot}: ${[...seen]}`);
    return byPort([...seen][0] as number);
  };

  const replicasOf = async (master: RedisServer): Promise<RedisServer[]> => {
    const view = await clusterNodes(master.port);
    const id = view.find((n) => n.port === master.port)?.id;
    return view
      .filter((n) => n.masterId === id && n.flags.includes('slave') && !failed(n))
      .map((n) => byPort(n.port));
  };

  const waitForFailover = async (
    slot: number,
    old: RedisServer,
    timeoutMs = 30_000,
  ): Promise<{ master: RedisServer; atMs: number }> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = await Promise.all(
        live().map(async (s) => {
          const [view, info] = await Promise.all([
            clusterNodes(s.port),
            redisCommand(s.port, ['CLUSTER', 'INFO'], 1_000).then(String),
          ]);
          if (!/^cluster_state:ok\r?$/m.test(info)) return undefined;
          return view.find((n) => n.flags.includes('master') && !failed(n) && serves(n, slot))
            ?.port;
        }),
      ).catch(() => [undefined]);
      const port = found[0];
      if (port !== undefined && port !== old.port && found.every((p) => p === port)) {
        return { master: byPort(port), atMs: Date.now() };
      }
      if (Date.now() > deadline) {
        throw new Error(`slot ${slot} not failed over within ${timeoutMs} ms (seen ${found})`);
      }
      await sleep(50);
    }
  };

  const waitHealthy = async (timeoutMs = READY_TIMEOUT_MS): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      try {
        const problems: string[] = [];
        for (const s of servers) {
          const info = String(await redisCommand(s.port, ['CLUSTER', 'INFO'], 1_000));
          if (!/^cluster_state:ok\r?$/m.test(info)) problems.push(`:${s.port} not ok`);
          if (!/^cluster_slots_assigned:16384\r?$/m.test(info)) problems.push(`:${s.port} slots`);
          if (!/^cluster_known_nodes:6\r?$/m.test(info)) problems.push(`:${s.port} nodes`);
          const view = await clusterNodes(s.port);
          if (view.some(failed)) problems.push(`:${s.port} sees a failed node`);
          const masters = view.filter((n) => n.flags.includes('master') && n.slots.length > 0);
          if (masters.length !== 3) problems.push(`:${s.port} sees ${masters.length} masters`);
          for (const m of masters) {
            if (!view.some((n) => n.masterId === m.id)) problems.push(`:${m.port} has no replica`);
          }
          const repl = await nodeInfo(s.port, 'replication');
          if (
            repl.get('role') === 'slave' &&
            (repl.get('master_link_status') !== 'up' || repl.get('master_sync_in_progress') !== '0')
          ) {
            problems.push(`:${s.port} replica not in sync`);
          }
        }
        if (problems.length === 0) return;
        last = problems.join(', ');
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`cluster not healthy in ${timeoutMs} ms: ${last}`);
      await sleep(100);
    }
  };

  try {
    for (let i = 0; i < 6; i++) {
      servers.push(
        await startOnFreePorts(
          (ports) => [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            String(CLUSTER_NODE_TIMEOUT_MS),
            '--cluster-port',
            String(ports[1]),
            '--repl-diskless-sync',
            'yes',
            '--repl-diskless-sync-delay',
            '0',
          ],
          2,
          'tollgate-cluster-r-',
        ),
      );
    }
    await createCluster(servers, 1, READY_TIMEOUT_MS);
    await waitHealthy();
    return {
      nodes: servers.map((s) => ({ host: s.host, port: s.port })),
      servers,
      nodeTimeoutMs: CLUSTER_NODE_TIMEOUT_MS,
      seedList: servers.map((s) => `${s.host}:${s.port}`).join(','),
      masterOf,
      replicasOf,
      killMasterOf: async (slot) => {
        const server = await masterOf(slot);
        down.add(server);
        const killedAtMs = Date.now();
        await server.crash('SIGKILL');
        return { server, killedAtMs };
      },
      waitForFailover,
      restartEmpty: async (server) => {
        down.add(server);
        const t0 = Date.now();
        await server.crash('SIGKILL');
        await server.restart();
        down.delete(server);
        return Date.now() - t0;
      },
      waitHealthy: async (timeoutMs) => {
        // A node killed before is brought back (it rejoins as a replica).
        for (const s of [...down]) {
          await s.restart();
          down.delete(s);
        }
        await waitHealthy(timeoutMs);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
