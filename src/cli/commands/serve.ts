import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createApp, startServer } from '../../api/index.js';
import { watchEngineDrain } from '../../audit/drain/monitor.js';
import {
  type ConfigOverrides,
  describeConfig,
  loadConfig,
  tollgateOptions,
} from '../../config/index.js';
import { createTollgate } from '../../tollgate.js';
import { lockDataFolder, ownsDataFolder, type ServeAdmin, serveAdmin } from '../data-folder.js';
import type { Out } from '../output.js';
import { auditReadStore } from '../read-store.js';
import { outLog, startWorkerFor, workerRedis } from './worker.js';

export const SERVE_HELP = `Usage: tollgate serve [options]

Runs the HTTP API. With no Redis configured it runs the embedded engine (single
process, not shared; one process per data folder) and, unless one is given,
makes an admin token once and keeps its digest in <data dir>/admin-token.sha256
(tollgate admin-token rotate makes a new one).

Options (each also an environment variable):
  --port <n>                    PORT (default 8080)
  --redis-url <url>             REDIS_URL: one Redis
  --redis-cluster-nodes <list>  REDIS_CLUSTER_NODES: host:port,host:port,... (Redis Cluster)
  --admin-token <token>         TOLLGATE_ADMIN_TOKEN (required with Redis)
  --read-token <token>          TOLLGATE_READ_TOKEN: the read-only operator token
                                (the dashboard, /metrics, GET routes; docs/api.md)
  --policy <file>               TOLLGATE_POLICY: a policy file (JSON or YAML)
  --database-url <url>          DATABASE_URL: the durable store (PostgreSQL); none: PGlite
  --audit-read-timeout-ms <ms>  TOLLGATE_AUDIT_READ_TIMEOUT_MS: statement timeout of audit reads (default 5000)
  --redis-wait-replicas <n>     TOLLGATE_REDIS_WAIT_REPLICAS: replicas a money write waits for (default 0)
  --redis-failover-retry-ms <ms>  TOLLGATE_REDIS_FAILOVER_RETRY_MS: how long a call is repeated across a failover (default 8000)
  --data-dir <dir>              TOLLGATE_DATA_DIR: PGlite's folder is <dir>/pglite (default ./.tollgate)
  --allow-eviction              TOLLGATE_ALLOW_EVICTION: accept a Redis that may evict keys
  --http-headers-timeout-ms <n> TOLLGATE_HTTP_HEADERS_TIMEOUT_MS: headers must arrive within (20000)
  --http-request-timeout-ms <n> TOLLGATE_HTTP_REQUEST_TIMEOUT_MS: the whole request within (30000)
  --http-keep-alive-timeout-ms <n>
                                TOLLGATE_HTTP_KEEP_ALIVE_TIMEOUT_MS: idle keep-alive (5000)
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
      'read-token': { type: 'string' },
      policy: { type: 'string' },
      'database-url': { type: 'string' },
      'audit-read-timeout-ms': { type: 'string' },
      'redis-wait-replicas': { type: 'string' },
      'redis-failover-retry-ms': { type: 'string' },
      'data-dir': { type: 'string' },
      'allow-eviction': { type: 'boolean' },
      'http-headers-timeout-ms': { type: 'string' },
      'http-request-timeout-ms': { type: 'string' },
      'http-keep-alive-timeout-ms': { type: 'string' },
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
    readToken: values['read-token'],
    policyPath: values.policy,
    databaseUrl: values['database-url'],
    auditReadTimeoutMs: values['audit-read-timeout-ms'],
    redisWaitReplicas: values['redis-wait-replicas'],
    redisFailoverRetryMs: values['redis-failover-retry-ms'],
    dataDir: values['data-dir'],
    allowEviction: values['allow-eviction'],
    httpHeadersTimeoutMs: values['http-headers-timeout-ms'],
    httpRequestTimeoutMs: values['http-request-timeout-ms'],
    httpKeepAliveTimeoutMs: values['http-keep-alive-timeout-ms'],
  };
  const config = loadConfig(env, overrides);
  if (values['with-worker']) workerRedis(config); // refuses embedded mode before anything starts
  // One owner per data folder, locked before anything in it is opened (src/cli/data-folder.ts).
  const folderLock = ownsDataFolder(config, values['with-worker'] === true)
    ? await lockDataFolder(config, `tollgate serve${values['with-worker'] ? ' --with-worker' : ''}`)
    : undefined;
  let admin: ServeAdmin;
  try {
    admin = serveAdmin(config);
  } catch (e) {
    folderLock?.release();
    throw e;
  }
  const releaseFolder = () => {
    admin.stop();
    folderLock?.release();
  };
  // Redis mode: the store GET /v1/audit reads (see src/cli/read-store.ts).
  const reads = auditReadStore(config, values['with-worker'] === true);
  const tollgate = await createTollgate({
    ...tollgateOptions(config),
    ...(reads ? { store: reads.store } : {}),
  }).catch(async (e: unknown) => {
    await reads?.store.close();
    releaseFolder();
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
        releaseFolder();
        throw e;
      })
    : undefined;
  // Redis mode, no worker here: log each shard whose drain stops advancing, and when it drains again.
  const drainWatch = auditWorker ? undefined : watchEngineDrain(tollgate.engine, outLog(out));
  // On shutdown: the worker finishes its current batches before the engine closes.
  const closable = {
    close: async () => {
      drainWatch?.stop();
      try {
        await auditWorker?.close();
        await tollgate.close();
      } finally {
        await reads?.store.close();
        releaseFolder();
      }
    },
  };
  const app = createApp({
    tollgate,
    adminToken: admin.admin,
    readToken: config.readToken,
    gateway: { upstreams: config.gateway },
    ...(auditWorker ? { metrics: { worker: auditWorker } } : {}),
  });
  let failed = false;
  const done = new Promise<void>((resolve) => {
    void startServer({
      app,
      port: config.port,
      timeouts: {
        headersTimeoutMs: config.httpHeadersTimeoutMs,
        requestTimeoutMs: config.httpRequestTimeoutMs,
        keepAliveTimeoutMs: config.httpKeepAliveTimeoutMs,
      },
      tollgate: closable,
      onShutdown: () => resolve(),
    }).then(
      (running) => {
        const url = `http://localhost:${running.port}`;
        try {
          admin.save(); // a token made now is kept only once it is about to be shown
        } catch (e) {
          failed = true;
          out.error(`tollgate: cannot keep the admin token: ${(e as Error).message}`);
          void running.close().catch(() => undefined);
          return;
        }
        if (config.mode === 'embedded') {
          out.line(
            [
              `Tollgate listening on ${url}`,
              `Dashboard: ${url}/dashboard (the admin token)`,
              'Mode: EMBEDDED (in-process engine): a single process, not shared between workers.',
              `      Agents, keys, today's spend and sessions are kept in ${config.databaseUrl ? 'PostgreSQL' : join(config.dataDir, 'pglite')};`,
              '      holds in flight are lost on restart. Set REDIS_URL to share budgets.',
              admin.banner,
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
        failed = true;
        const e = err as NodeJS.ErrnoException;
        out.error(
          `tollgate: cannot listen on port ${config.port}: ${e.code === 'EADDRINUSE' ? 'the port is in use (EADDRINUSE)' : e.message}`,
        );
        void closable.close().then(
          () => resolve(),
          (closeErr: unknown) => {
            out.error(`tollgate: while stopping: ${(closeErr as Error).message}`);
            resolve();
          },
        );
      },
    );
  });
  await done;
  return failed ? 1 : 0;
}
