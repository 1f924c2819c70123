import type { Config } from './config.js';
import { describeUpstreams } from './gateway.js';

/** The configuration with the secrets masked, for a startup log line. */
export function describeConfig(config: Config): Record<string, unknown> {
  const mask = (url: string | undefined) => {
    if (url === undefined) return undefined;
    try {
      const u = new URL(url);
      if (u.password !== '') u.password = '***';
      return u.toString();
    } catch {
      return '***';
    }
  };
  return {
    mode: config.mode,
    redisUrl: mask(config.redisUrl),
    redisClusterNodes: config.redisClusterNodes?.map((n) => `${n.host}:${n.port}`),
    databaseUrl: mask(config.databaseUrl),
    dataDir: config.dataDir,
    adminToken: '***',
    readToken: config.readToken === undefined ? undefined : '***',
    policyPath: config.policyPath,
    port: config.port,
    allowEviction: config.allowEviction,
    redisWaitReplicas: config.redisWaitReplicas,
    redisFailoverRetryMs: config.redisFailoverRetryMs,
    httpHeadersTimeoutMs: config.httpHeadersTimeoutMs,
    httpRequestTimeoutMs: config.httpRequestTimeoutMs,
    httpKeepAliveTimeoutMs: config.httpKeepAliveTimeoutMs,
    auditReadTimeoutMs: config.auditReadTimeoutMs,
    gateway: describeUpstreams(config.gateway),
  };
}
