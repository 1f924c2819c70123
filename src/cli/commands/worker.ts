import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type AuditWorker,
  type AuditWorkerOptions,
  startAuditWorker,
  type WorkerLog,
  type WorkerRedisTarget,
} from '../../audit/drain/index.js';
import { type AuditStore, createStore } from '../../audit/store/index.js';
import { type Config, ConfigError, describeConfig, loadConfig } from '../../config/index.js';
import { lockDataFolder, ownsDataFolder } from '../data-folder.js';
import type { Out } from '../output.js';

export const WORKER_HELP = `Usage: tollgate worker [options]

Runs the audit worker: drains every shard's outbox (Redis streams) into the
store, PostgreSQL when DATABASE_URL is set, else PGlite in TOLLGATE_DATA_DIR,
and runs the background sweep that frees holds whose lease passed on agents
no call touches. Run one or more (each drain runs in one place at a time);
stops cleanly on SIGTERM/SIGINT after the current batch.

Options (each also an environment variable):
  --redis-url <url>             REDIS_URL: one Redis
  --redis-cluster-nodes <list>  REDIS_CLUSTER_NODES: host:port,host:port,... (Redis Cluster)
  --database-url <url>          DATABASE_URL: PostgreSQL (none: PGlite)
  --audit-read-timeout-ms <ms>  TOLLGATE_AUDIT_READ_TIMEOUT_MS: statement timeout of audit reads (default 5000)
  --data-dir <dir>              TOLLGATE_DATA_DIR: PGlite's folder is <dir>/pglite (default ./.tollgate)
  --concurrency <n>             drains run at once by this process (default 4)
  --every-ms <ms>               how often outboxes are checked (default 200)
  --batch <n>                   events per insert (at most 1000), and about that many per read (default 1000)
  --lock-ms <ms>                a drain whose worker is silent this long is handed on (default 10000)
  --max-backoff-ms <ms>         longest wait between retries while the store is down (default 10000)
  --sweep-every-ms <ms>         how often expired holds are swept (default 30000; 0: never)
  -h, --help                    this text`;

function intOption(
  name: string,
  v: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (v === undefined) return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError([
      { variable: `--${name}`, message: `expected an integer ${min}-${max}` },
    ]);
  }
  return n;
}

/** --sweep-every-ms: 0 (never) or 1 s to 1 h. */
function sweepEvery(v: string | undefined): number | undefined {
  return v === '0' ? 0 : intOption('sweep-every-ms', v, 1_000, 3_600_000);
}

/** The store the worker writes to: PostgreSQL (DATABASE_URL) or PGlite in <data dir>/pglite. */
export function storeOptions(config: Config): {
  databaseUrl?: string;
  dataDir?: string;
  readTimeoutMs?: number;
} {
  const timeout =
    config.auditReadTimeoutMs !== undefined ? { readTimeoutMs: config.auditReadTimeoutMs } : {};
  return config.databaseUrl !== undefined
    ? { databaseUrl: config.databaseUrl, ...timeout }
    : { dataDir: join(config.dataDir, 'pglite'), ...timeout };
}

/** The Redis the worker drains; a ConfigError in embedded mode (no Redis, nothing to drain). */
export function workerRedis(config: Config): WorkerRedisTarget {
  if (config.redisClusterNodes !== undefined) {
    return { clusterNodes: config.redisClusterNodes.map((n) => `${n.host}:${n.port}`) };
  }
  if (config.redisUrl !== undefined) return config.redisUrl;
  throw new ConfigError([
    {
      variable: 'REDIS_URL / REDIS_CLUSTER_NODES',
      message:
        'the audit worker drains Redis outboxes: set one (embedded mode drains inside tollgate serve)',
    },
  ]);
}

/**
 * Starts the audit worker for a loaded configuration (Redis or Cluster mode).
 * `store`: one the caller shares with it (and closes), e.g. `serve
 * --with-worker` sharing its PGlite with the API; else the worker opens its own.
 */
export function startWorkerFor(
  config: Config,
  log: WorkerLog,
  tuning: Partial<AuditWorkerOptions> = {},
  store?: AuditStore,
): Promise<AuditWorker> {
  return startAuditWorker({
    ...tuning,
    redis: workerRedis(config),
    store: store ?? (() => createStore(storeOptions(config))),
    ...(store !== undefined ? { ownsStore: false } : {}),
    log,
  });
}

/** A worker log that writes one JSON line per event to the CLI's output. */
export function outLog(out: Out): WorkerLog {
  return (level, message, data) => {
    const line = JSON.stringify({ level, msg: message, ...data });
    if (level === 'info') out.line(line);
    else out.error(line);
  };
}

/** `tollgate worker`: the audit worker until SIGTERM/SIGINT. */
export async function worker(
  out: Out,
  args: string[],
  env: NodeJS.ProcessEnv,
  onReady?: (w: AuditWorker) => void,
): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'redis-url': { type: 'string' },
      'redis-cluster-nodes': { type: 'string' },
      'database-url': { type: 'string' },
      'audit-read-timeout-ms': { type: 'string' },
      'data-dir': { type: 'string' },
      concurrency: { type: 'string' },
      'every-ms': { type: 'string' },
      batch: { type: 'string' },
      'lock-ms': { type: 'string' },
      'max-backoff-ms': { type: 'string' },
      'sweep-every-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    out.line(WORKER_HELP);
    return 0;
  }
  let config: Config;
  let tuning: Partial<AuditWorkerOptions>;
  try {
    config = loadConfig(env, {
      redisUrl: values['redis-url'],
      redisClusterNodes: values['redis-cluster-nodes'],
      databaseUrl: values['database-url'],
      auditReadTimeoutMs: values['audit-read-timeout-ms'],
      dataDir: values['data-dir'],
      // The worker serves no API: an admin token is neither needed nor used.
      adminToken: 'unused-by-the-audit-worker',
    });
    const lockMs = intOption('lock-ms', values['lock-ms'], 1_000, 600_000);
    tuning = {
      concurrency: intOption('concurrency', values.concurrency, 1, 256),
      everyMs: intOption('every-ms', values['every-ms'], 10, 60_000),
      batch: intOption('batch', values.batch, 1, 1000),
      lockDurationMs: lockMs,
      stalledIntervalMs: lockMs === undefined ? undefined : Math.max(500, Math.floor(lockMs / 2)),
      maxBackoffMs: intOption('max-backoff-ms', values['max-backoff-ms'], 100, 600_000),
      sweepEveryMs: sweepEvery(values['sweep-every-ms']),
    };
    workerRedis(config);
  } catch (e) {
    if (e instanceof ConfigError) {
      out.error(`tollgate worker: ${e.message}`);
      return 2;
    }
    throw e;
  }
  // PGlite (no DATABASE_URL): one owner per data folder (src/cli/data-folder.ts).
  const folderLock = ownsDataFolder(config, true)
    ? await lockDataFolder(config, 'tollgate worker')
    : undefined;
  const w = await startWorkerFor(config, outLog(out), tuning).catch((e: unknown) => {
    folderLock?.release();
    throw e;
  });
  const { adminToken: _unused, port: _port, ...shown } = describeConfig(config);
  out.line(`Tollgate audit worker ready (consumer ${w.consumer})`);
  out.json(shown);
  onReady?.(w);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  out.line('Tollgate audit worker stopping: finishing the current batches');
  try {
    await w.close();
  } finally {
    folderLock?.release();
  }
  out.line(`Tollgate audit worker stopped: ${JSON.stringify(w.stats())}`);
  return 0;
}
