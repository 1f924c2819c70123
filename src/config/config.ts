import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { DEFAULT_HTTP_TIMEOUTS } from '../api/server.js';
import { DEFAULT_FAILOVER_RETRY_MS } from '../engine/redis/scripts.js';
import type { TollgateOptions } from '../tollgate.js';
import { type GatewayUpstreams, gatewayUpstreams } from './gateway.js';

export type { GatewayUpstreams };

/**
 * The server's configuration, from the environment (and, for a CLI, flags
 * that override it). Every variable is parsed by one zod schema; a bad value
 * throws a ConfigError whose message names the variable.
 */
export interface Config {
  /** `embedded`: no Redis (MemoryEngine); `redis`: REDIS_URL; `cluster`: REDIS_CLUSTER_NODES. */
  mode: 'embedded' | 'redis' | 'cluster';
  redisUrl: string | undefined;
  /** `host:port` entries, parsed. */
  redisClusterNodes: { host: string; port: number }[] | undefined;
  databaseUrl: string | undefined;
  /** Where PGlite keeps its data when there is no DATABASE_URL. Default `./.tollgate`. */
  dataDir: string;
  adminToken: string;
  /**
   * True when no TOLLGATE_ADMIN_TOKEN was given (embedded mode only): `adminToken`
   * is then a fresh random one, which `tollgate serve` does not use: it keeps
   * the data folder's token instead (src/cli/admin-token.ts, docs/embedded.md).
   */
  adminTokenGenerated: boolean;
  /**
   * The read-only operator token (TOLLGATE_READ_TOKEN): `/metrics`, the
   * dashboard's data and the read routes, nothing that changes state
   * (docs/api.md). Undefined: none.
   */
  readToken: string | undefined;
  /** A policy file (JSON or YAML); undefined: the defaults. */
  policyPath: string | undefined;
  port: number;
  /** Accept a Redis whose maxmemory-policy is not noeviction (not recommended). */
  allowEviction: boolean;
  /** Redis: replicas that must acknowledge a write that settles money before it is answered. Default 0. */
  redisWaitReplicas: number;
  /** Redis: how long a call is repeated while Redis fails over (ms; 0: never). Default 8000. */
  redisFailoverRetryMs: number;
  /** HTTP: the request line and headers must arrive within this (ms). */
  httpHeadersTimeoutMs: number;
  /** HTTP: the whole request must arrive within this (ms); also the idle-socket limit. */
  httpRequestTimeoutMs: number;
  /** HTTP: an idle keep-alive connection is closed after this (ms). */
  httpKeepAliveTimeoutMs: number;
  /**
   * PostgreSQL: the statement timeout of the audit store's reads (GET
   * /v1/audit, the dashboard's spend), ms. Undefined: the store's default, 5 s.
   */
  auditReadTimeoutMs: number | undefined;
  /** The model gateway's upstreams (docs/gateway.md): undefined when no API key is set. */
  gateway: GatewayUpstreams;
}

/** The configuration's inputs: each an environment variable and a CLI flag. */
export const CONFIG_VARIABLES = {
  redisUrl: { env: 'REDIS_URL', flag: '--redis-url' },
  redisClusterNodes: { env: 'REDIS_CLUSTER_NODES', flag: '--redis-cluster-nodes' },
  databaseUrl: { env: 'DATABASE_URL', flag: '--database-url' },
  dataDir: { env: 'TOLLGATE_DATA_DIR', flag: '--data-dir' },
  adminToken: { env: 'TOLLGATE_ADMIN_TOKEN', flag: '--admin-token' },
  readToken: { env: 'TOLLGATE_READ_TOKEN', flag: '--read-token' },
  policyPath: { env: 'TOLLGATE_POLICY', flag: '--policy' },
  port: { env: 'PORT', flag: '--port' },
  allowEviction: { env: 'TOLLGATE_ALLOW_EVICTION', flag: '--allow-eviction' },
  redisWaitReplicas: { env: 'TOLLGATE_REDIS_WAIT_REPLICAS', flag: '--redis-wait-replicas' },
  redisFailoverRetryMs: {
    env: 'TOLLGATE_REDIS_FAILOVER_RETRY_MS',
    flag: '--redis-failover-retry-ms',
  },
  httpHeadersTimeoutMs: {
    env: 'TOLLGATE_HTTP_HEADERS_TIMEOUT_MS',
    flag: '--http-headers-timeout-ms',
  },
  httpRequestTimeoutMs: {
    env: 'TOLLGATE_HTTP_REQUEST_TIMEOUT_MS',
    flag: '--http-request-timeout-ms',
  },
  httpKeepAliveTimeoutMs: {
    env: 'TOLLGATE_HTTP_KEEP_ALIVE_TIMEOUT_MS',
    flag: '--http-keep-alive-timeout-ms',
  },
  auditReadTimeoutMs: {
    env: 'TOLLGATE_AUDIT_READ_TIMEOUT_MS',
    flag: '--audit-read-timeout-ms',
  },
  openaiBaseUrl: { env: 'TOLLGATE_OPENAI_BASE_URL', flag: '--openai-base-url' },
  openaiApiKey: { env: 'TOLLGATE_OPENAI_API_KEY', flag: '--openai-api-key' },
  anthropicBaseUrl: { env: 'TOLLGATE_ANTHROPIC_BASE_URL', flag: '--anthropic-base-url' },
  anthropicApiKey: { env: 'TOLLGATE_ANTHROPIC_API_KEY', flag: '--anthropic-api-key' },
} as const;

export type ConfigKey = keyof typeof CONFIG_VARIABLES;

/** Values that override the environment (CLI flags); undefined entries are ignored. */
export type ConfigOverrides = Partial<Record<ConfigKey, string | number | boolean | undefined>>;

export interface ConfigIssue {
  /** The environment variable (or flag) at fault. */
  variable: string;
  message: string;
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[]) {
    super(`Invalid configuration: ${issues.map((i) => `${i.variable}: ${i.message}`).join('; ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export const DEFAULT_PORT = 8080;
export const DEFAULT_DATA_DIR = './.tollgate';
/** An admin (or read-only) token shorter than this is refused: it guards every agent. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

function hasProtocol(value: string, protocols: readonly string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

const text = z.string().trim().min(1);

const redisUrl = text.refine((v) => hasProtocol(v, ['redis:', 'rediss:']), {
  message: 'expected a redis:// or rediss:// URL',
});

const httpUrl = text.refine((v) => hasProtocol(v, ['http:', 'https:']), {
  message: 'expected an http:// or https:// URL',
});

const databaseUrl = text.refine((v) => hasProtocol(v, ['postgres:', 'postgresql:']), {
  message: 'expected a postgres:// or postgresql:// URL',
});

const clusterNodes = text.transform((v, ctx) => {
  const nodes: { host: string; port: number }[] = [];
  for (const part of v.split(',')) {
    const entry = part.trim();
    const m = HOST_PORT.exec(entry);
    const port = m ? Number(m[2]) : Number.NaN;
    if (!m?.[1] || !Number.isInteger(port) || port < 1 || port > 65535) {
      ctx.addIssue({
        code: 'custom',
        message: `expected host:port,host:port,… (bad entry ${JSON.stringify(entry)})`,
      });
      return z.NEVER;
    }
    nodes.push({ host: m[1].replace(/^\[|\]$/g, ''), port });
  }
  return nodes;
});

const port = z.union([z.number(), text]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : /^\d{1,5}$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    ctx.addIssue({ code: 'custom', message: `expected a port number 0-65535, got ${String(v)}` });
    return z.NEVER;
  }
  return n;
});

/** A duration in milliseconds: 100 ms to 1 hour. */
const millis = z.union([z.number(), text]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : /^\d{1,7}$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < 100 || n > 3_600_000) {
    ctx.addIssue({
      code: 'custom',
      message: `expected milliseconds 100-3600000, got ${String(v)}`,
    });
    return z.NEVER;
  }
  return n;
});

/** A whole number from `min` to `max` (`what` names it in the message). */
const wholeNumber = (min: number, max: number, what: string) =>
  z.union([z.number(), text]).transform((v, ctx) => {
    const n = typeof v === 'number' ? v : /^\d{1,9}$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: `expected ${what} ${min}-${max}, got ${String(v)}` });
      return z.NEVER;
    }
    return n;
  });

export const DEFAULT_REDIS_WAIT_REPLICAS = 0;
export const DEFAULT_REDIS_FAILOVER_RETRY_MS = DEFAULT_FAILOVER_RETRY_MS;

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);
const bool = z.union([z.boolean(), text]).transform((v, ctx) => {
  if (typeof v === 'boolean') return v;
  const s = v.toLowerCase();
  if (TRUE.has(s)) return true;
  if (FALSE.has(s)) return false;
  ctx.addIssue({
    code: 'custom',
    message: `expected true/false (or 1/0, yes/no, on/off), got ${JSON.stringify(v)}`,
  });
  return z.NEVER;
});

const adminToken = text
  .min(MIN_ADMIN_TOKEN_LENGTH, {
    message: `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`,
  })
  .max(512, { message: 'must be at most 512 characters' })
  .regex(/^[\x21-\x7e]+$/, { message: 'must be printable ASCII without spaces' });

/** The raw inputs, one schema per variable. */
const InputSchema = z.object({
  redisUrl: redisUrl.optional(),
  redisClusterNodes: clusterNodes.optional(),
  databaseUrl: databaseUrl.optional(),
  dataDir: text.optional(),
  adminToken: adminToken.optional(),
  readToken: adminToken.optional(),
  policyPath: text.optional(),
  port: port.optional(),
  allowEviction: bool.optional(),
  redisWaitReplicas: wholeNumber(0, 16, 'replicas').optional(),
  redisFailoverRetryMs: wholeNumber(0, 600_000, 'milliseconds').optional(),
  httpHeadersTimeoutMs: millis.optional(),
  httpRequestTimeoutMs: millis.optional(),
  httpKeepAliveTimeoutMs: millis.optional(),
  auditReadTimeoutMs: millis.optional(),
  openaiBaseUrl: httpUrl.optional(),
  openaiApiKey: text.optional(),
  anthropicBaseUrl: httpUrl.optional(),
  anthropicApiKey: text.optional(),
});

function blankToUndefined(v: unknown): unknown {
  return typeof v === 'string' && v.trim() === '' ? undefined : v;
}

function nameOf(key: ConfigKey, fromOverride: boolean): string {
  const v = CONFIG_VARIABLES[key];
  return fromOverride ? `${v.env} (${v.flag})` : v.env;
}

/**
 * Reads the configuration from `env` (default `process.env`), `overrides`
 * (CLI flags) taking precedence. Empty values count as unset. Throws
 * ConfigError naming each bad variable.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: ConfigOverrides = {},
): Config {
  const raw: Record<string, unknown> = {};
  const overridden = new Set<ConfigKey>();
  for (const key of Object.keys(CONFIG_VARIABLES) as ConfigKey[]) {
    const o = blankToUndefined(overrides[key]);
    if (o !== undefined) {
      raw[key] = o;
      overridden.add(key);
    } else {
      raw[key] = blankToUndefined(env[CONFIG_VARIABLES[key].env]);
    }
  }
  const parsed = InputSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => {
      const key = i.path[0] as ConfigKey;
      const message =
        i.code === 'invalid_type' || i.code === 'invalid_union' ? 'invalid value' : i.message;
      return { variable: nameOf(key, overridden.has(key)), message };
    });
    throw new ConfigError(issues);
  }
  const c = parsed.data;
  if (c.redisUrl !== undefined && c.redisClusterNodes !== undefined) {
    throw new ConfigError([
      {
        variable: `${nameOf('redisUrl', overridden.has('redisUrl'))} / ${nameOf('redisClusterNodes', overridden.has('redisClusterNodes'))}`,
        message: 'set only one of REDIS_URL (one Redis) and REDIS_CLUSTER_NODES (a Redis Cluster)',
      },
    ]);
  }
  const http = {
    headers: c.httpHeadersTimeoutMs ?? DEFAULT_HTTP_TIMEOUTS.headersTimeoutMs,
    request: c.httpRequestTimeoutMs ?? DEFAULT_HTTP_TIMEOUTS.requestTimeoutMs,
  };
  if (http.headers > http.request) {
    throw new ConfigError([
      {
        variable: `${nameOf('httpHeadersTimeoutMs', overridden.has('httpHeadersTimeoutMs'))} / ${nameOf('httpRequestTimeoutMs', overridden.has('httpRequestTimeoutMs'))}`,
        message: `the headers timeout (${http.headers} ms) must not exceed the request timeout (${http.request} ms)`,
      },
    ]);
  }
  const mode =
    c.redisClusterNodes !== undefined ? 'cluster' : c.redisUrl !== undefined ? 'redis' : 'embedded';
  if (c.adminToken === undefined && mode !== 'embedded') {
    throw new ConfigError([
      {
        variable: nameOf('adminToken', false),
        message: `required with ${mode === 'cluster' ? 'REDIS_CLUSTER_NODES' : 'REDIS_URL'} (only embedded mode generates one)`,
      },
    ]);
  }
  if (c.readToken !== undefined && c.readToken === c.adminToken) {
    throw new ConfigError([
      {
        variable: nameOf('readToken', overridden.has('readToken')),
        message: 'must differ from TOLLGATE_ADMIN_TOKEN (the read-only token changes nothing)',
      },
    ]);
  }
  return {
    mode,
    redisUrl: c.redisUrl,
    redisClusterNodes: c.redisClusterNodes,
    databaseUrl: c.databaseUrl,
    dataDir: c.dataDir ?? DEFAULT_DATA_DIR,
    adminToken: c.adminToken ?? generateAdminToken(),
    adminTokenGenerated: c.adminToken === undefined,
    readToken: c.readToken,
    policyPath: c.policyPath,
    port: c.port ?? DEFAULT_PORT,
    allowEviction: c.allowEviction ?? false,
    redisWaitReplicas: c.redisWaitReplicas ?? DEFAULT_REDIS_WAIT_REPLICAS,
    redisFailoverRetryMs: c.redisFailoverRetryMs ?? DEFAULT_REDIS_FAILOVER_RETRY_MS,
    httpHeadersTimeoutMs: http.headers,
    httpRequestTimeoutMs: http.request,
    httpKeepAliveTimeoutMs: c.httpKeepAliveTimeoutMs ?? DEFAULT_HTTP_TIMEOUTS.keepAliveTimeoutMs,
    auditReadTimeoutMs: c.auditReadTimeoutMs,
    gateway: gatewayUpstreams(c),
  };
}

/** A fresh admin token (256 random bits), for embedded mode. */
export function generateAdminToken(): string {
  return `tga_${randomBytes(32).toString('base64url')}`;
}

/** The `createTollgate` options this configuration asks for (engine and policy). */
export function tollgateOptions(config: Config): TollgateOptions {
  const redis =
    config.redisClusterNodes !== undefined
      ? { clusterNodes: config.redisClusterNodes.map((n) => `${n.host}:${n.port}`) }
      : config.redisUrl;
  return {
    ...(redis !== undefined ? { redis } : {}),
    ...(config.policyPath !== undefined ? { policy: config.policyPath } : {}),
    // Embedded mode keeps its agents and spend in the durable store across restarts.
    ...(config.mode === 'embedded'
      ? {
          store: {
            databaseUrl: config.databaseUrl,
            dataDir: join(config.dataDir, 'pglite'),
            ...(config.auditReadTimeoutMs !== undefined
              ? { readTimeoutMs: config.auditReadTimeoutMs }
              : {}),
          },
        }
      : {}),
    allowEviction: config.allowEviction,
    // Redis only (the in-process engine has no replicas and no failover).
    ...(redis !== undefined
      ? {
          waitReplicas: config.redisWaitReplicas,
          failoverRetryMs: config.redisFailoverRetryMs,
        }
      : {}),
  };
}
