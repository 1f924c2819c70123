import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createApp, startServer } from '../../api/index.js';
import {
  type ConfigOverrides,
  describeConfig,
  loadConfig,
  tollgateOptions,
} from '../../config/index.js';
import { createTollgate } from '../../index.js';
import type { Out } from '../output.js';
import { auditReadStore } from '../read-store.js';
import { outLog, startWorkerFor, workerRedis } from './worker.js';

export const SERVE_HELP = `Usage: tollgate serve [options]

Runs the HTTP API. With no Redis configured it runs the embedded engine (single
process, not shared) and generates an admin token unless one is given.

Options (each also an environment variable):
  --port <n>                    PORT (default 8080)
  --redis-url <url>             REDIS_URL: one Redis
  --redis-cluster-nodes <list>  REDIS_CLUSTER_NODES: host:port,host:port,... (Redis Cluster)
  --admin-token <token>         TOLLGATE_ADMIN_TOKEN (required with Redis)
  --policy <file>               TOLLGATE_POLICY: a policy file (JSON or YAML)
  --database-url <url>          DATABASE_URL: the durable store (PostgreSQL); none: PGlite
  --data-dir <dir>              TOLLGATE_DATA_DIR: PGlite's folder is <dir>/pglite (default ./.tollgate)
  --allow-eviction              TOLLGATE_ALLOW_EVICTION: accept a Redis that may evict keys
  --with-worker                 also run the audit worker in this process (Redis mode; see
                                tollgate worker --help)
  -h, --help                    this text`;

/** `tollgate serve`: the API until SIGTERM/SIGINT. */
export async function serve(
  out: Out,
  args: string[],
  env: NodeJS.ProcessEnv,
  onReady?: (port: number, close: () => Promise<void>) => void,
): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      'redis-url': { type: 'string' },
      'redis-cluster-nodes': { type: 'string' },
      'admin-token': { type: 'string' },
      policy: { type: 'string' },
      'database-url': { type: 'string' },
      'data-dir': { type: 'string' },
      'allow-eviction': { type: 'boolean' },
      'with-worker': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    out.line(SERVE_HELP);
    return 0;
  }
  const overrides: ConfigOverrides = {
    port: values.port,
    redisUrl: values['redis-url'],
    redisClusterNodes: values['redis-cluster-nodes'],
    adminToken: values['admin-token'],
    policyPath: values.policy,
    databaseUrl: values['database-url'],
    dataDir: values['data-dir'],
    allowEviction: values['allow-eviction'],
  };
  const config = loadConfig(env, overrides);
  if (values['with-worker']) workerRedis(config); // refuses embedded mode before anything starts
  // Redis mode: the store GET /v1/audit reads (see src/cli/read-store.ts).
  const reads = auditReadStore(config, values['with-worker'] === true);
  const tollgate = await createTollgate({
    ...tollgateOptions(config),
    ...(reads ? { store: reads.store } : {}),
  }).catch(async (e: unknown) => {
    await reads?.store.close();
    throw e;
  });
  const auditWorker = values['with-worker']
    ? await startWorkerFor(
        config,
        outLog(out),
        // The background sweep runs with the API's engine (its recovery reads the store).
        { engine: tollgate.engine },
        reads?.sharedWithWorker ? reads.store : undefined,
      ).catch(async (e: unknown) => {
        await tollgate.close();
        await reads?.store.close();
        throw e;
      })
    : undefined;
  // On shutdown: the worker finishes its current batches before the engine closes.
  const closable = {
    close: async () => {
      try {
        await auditWorker?.close();
        await tollgate.close();
      } finally {
        await reads?.store.close();
      }
    },
  };
  const app = createApp({
    tollgate,
    adminToken: config.adminToken,
    ...(auditWorker ? { metrics: { worker: auditWorker } } : {}),
  });
  const done = new Promise<void>((resolve) => {
    void startServer({
      app,
      port: config.port,
      tollgate: closable,
      onShutdown: () => resolve(),
    }).then(
      (running) => {
        const url = `http://localhost:${running.port}`;
        if (config.mode === 'embedded') {
          out.line(
            [
              `Tollgate listening on ${url}`,
              `Dashboard: ${url}/dashboard (the admin token below)`,
              'Mode: EMBEDDED (in-process engine): a single process, not shared between workers.',
              `      Agents, keys, today's spend and sessions are kept in ${config.databaseUrl ? 'PostgreSQL' : join(config.dataDir, 'pglite')};`,
              '      holds in flight are lost on restart. Set REDIS_URL to share budgets.',
              `Admin token: ${config.adminToken}${config.adminTokenGenerated ? ' (generated; set TOLLGATE_ADMIN_TOKEN to choose one)' : ''}`,
            ].join('\n'),
          );
        } else {
          out.line(`Tollgate listening on ${url}`);
          out.line(`Dashboard: ${url}/dashboard (the admin token)`);
          out.line(
            `Audit reads (GET /v1/audit): ${
              reads === undefined
                ? 'none (set DATABASE_URL, or run with --with-worker to share its PGlite)'
                : reads.sharedWithWorker
                  ? `${join(config.dataDir, 'pglite')}, shared with the in-process worker`
                  : 'PostgreSQL (DATABASE_URL)'
            }`,
          );
          out.json(describeConfig(config));
          if (auditWorker) out.line(`Audit worker: in process (consumer ${auditWorker.consumer})`);
        }
        onReady?.(running.port, running.close);
      },
      (err: unknown) => {
        out.error(`tollgate: cannot listen: ${(err as Error).message}`);
        void closable.close().then(() => resolve());
      },
    );
  });
  await done;
  return 0;
}
