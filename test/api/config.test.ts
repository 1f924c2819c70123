import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_DATA_DIR,
  DEFAULT_PORT,
  describeConfig,
  loadConfig,
  tollgateOptions,
} from '../../src/config/index.js';

const TOKEN = 'a-long-enough-admin-token';

function error(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('defaults: embedded mode, port 8080, ./.tollgate, a generated admin token', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      mode: 'embedded',
      redisUrl: undefined,
      redisClusterNodes: undefined,
      databaseUrl: undefined,
      dataDir: DEFAULT_DATA_DIR,
      policyPath: undefined,
      port: DEFAULT_PORT,
      allowEviction: false,
      adminTokenGenerated: true,
    });
    expect(c.adminToken.length).toBeGreaterThanOrEqual(32);
    expect(loadConfig({}).adminToken).not.toBe(c.adminToken);
    expect(tollgateOptions(c)).toEqual({
      allowEviction: false,
      store: { databaseUrl: undefined, dataDir: join(DEFAULT_DATA_DIR, 'pglite') },
    });
  });

  it('reads every variable', () => {
    const c = loadConfig({
      REDIS_URL: 'redis://:secret@redis.internal:6380/2',
      DATABASE_URL: 'postgres://u:pw@db/tollgate',
      TOLLGATE_DATA_DIR: '/var/lib/tollgate',
      TOLLGATE_ADMIN_TOKEN: TOKEN,
      TOLLGATE_POLICY: './policy.yaml',
      PORT: '9090',
      TOLLGATE_ALLOW_EVICTION: 'yes',
      TOLLGATE_HTTP_HEADERS_TIMEOUT_MS: '5000',
      TOLLGATE_HTTP_REQUEST_TIMEOUT_MS: '6000',
      TOLLGATE_HTTP_KEEP_ALIVE_TIMEOUT_MS: '7000',
      TOLLGATE_REDIS_WAIT_REPLICAS: '1',
      TOLLGATE_REDIS_FAILOVER_RETRY_MS: '9000',
      TOLLGATE_OPENAI_API_KEY: 'sk-openai-secret',
      TOLLGATE_ANTHROPIC_BASE_URL: 'http://anthropic.internal/v1',
      TOLLGATE_ANTHROPIC_API_KEY: 'sk-ant-secret',
    });
    expect(c).toEqual({
      mode: 'redis',
      redisUrl: 'redis://:secret@redis.internal:6380/2',
      redisClusterNodes: undefined,
      databaseUrl: 'postgres://u:pw@db/tollgate',
      dataDir: '/var/lib/tollgate',
      adminToken: TOKEN,
      adminTokenGenerated: false,
      policyPath: './policy.yaml',
      port: 9090,
      allowEviction: true,
      httpHeadersTimeoutMs: 5000,
      httpRequestTimeoutMs: 6000,
      httpKeepAliveTimeoutMs: 7000,
      redisWaitReplicas: 1,
      redisFailoverRetryMs: 9000,
      gateway: {
        openai: { baseUrl: 'https://api.openai.com/v1', apiKey: 'sk-openai-secret' },
        anthropic: { baseUrl: 'http://anthropic.internal/v1', apiKey: 'sk-ant-secret' },
      },
    });
    expect(tollgateOptions(c)).toEqual({
      redis: 'redis://:secret@redis.internal:6380/2',
      policy: './policy.yaml',
      allowEviction: true,
      waitReplicas: 1,
      failoverRetryMs: 9000,
    });
    const shown = JSON.stringify(describeConfig(c));
    expect(shown).not.toContain('secret');
    expect(shown).toContain('http://anthropic.internal/v1');
    expect(shown).not.toContain(':pw@');
    expect(shown).not.toContain(TOKEN);
  });

  it('parses cluster nodes', () => {
    const c = loadConfig({
      REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-b:7001,[::1]:7002',
      TOLLGATE_ADMIN_TOKEN: TOKEN,
    });
    expect(c.mode).toBe('cluster');
    expect(c.redisClusterNodes).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-b', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
    expect(tollgateOptions(c).redis).toEqual({
      clusterNodes: ['10.0.0.1:7000', 'redis-b:7001', '::1:7002'],
    });
  });

  it('treats empty values as unset', () => {
    const c = loadConfig({ REDIS_URL: '', PORT: '  ', TOLLGATE_ADMIN_TOKEN: '' });
    expect(c.mode).toBe('embedded');
    expect(c.port).toBe(DEFAULT_PORT);
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ PORT: '-1' }, 'PORT'],
    [{ PORT: '80.5' }, 'PORT'],
    [{ REDIS_URL: 'http://x', TOLLGATE_ADMIN_TOKEN: TOKEN }, 'REDIS_URL'],
    [{ REDIS_URL: 'not a url', TOLLGATE_ADMIN_TOKEN: TOKEN }, 'REDIS_URL'],
    [{ REDIS_CLUSTER_NODES: 'a:1,b', TOLLGATE_ADMIN_TOKEN: TOKEN }, 'REDIS_CLUSTER_NODES'],
    [{ REDIS_CLUSTER_NODES: 'a:99999', TOLLGATE_ADMIN_TOKEN: TOKEN }, 'REDIS_CLUSTER_NODES'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ TOLLGATE_ADMIN_TOKEN: 'short' }, 'TOLLGATE_ADMIN_TOKEN'],
    [{ TOLLGATE_ADMIN_TOKEN: 'has spaces in the token' }, 'TOLLGATE_ADMIN_TOKEN'],
    [{ TOLLGATE_ALLOW_EVICTION: 'maybe' }, 'TOLLGATE_ALLOW_EVICTION'],
    [{ REDIS_URL: 'redis://localhost:6379' }, 'TOLLGATE_ADMIN_TOKEN'],
    [{ REDIS_CLUSTER_NODES: 'a:1' }, 'TOLLGATE_ADMIN_TOKEN'],
  ])('refuses %j naming %s', (env, variable) => {
    const e = error(() => loadConfig(env));
    expect(e.message).toMatch(/^Invalid configuration: /);
    expect(e.message).toContain(variable);
    expect(e.issues.map((i) => i.variable).join(' ')).toContain(variable);
  });

  it('refuses REDIS_URL and REDIS_CLUSTER_NODES together', () => {
    const e = error(() =>
      loadConfig({
        REDIS_URL: 'redis://a:1',
        REDIS_CLUSTER_NODES: 'a:1',
        TOLLGATE_ADMIN_TOKEN: TOKEN,
      }),
    );
    expect(e.message).toContain('REDIS_URL');
    expect(e.message).toContain('REDIS_CLUSTER_NODES');
  });

  it('Redis replicas and failover retry: defaults, range, Redis only', () => {
    const redis = { REDIS_URL: 'redis://r:6379', TOLLGATE_ADMIN_TOKEN: TOKEN };
    expect(loadConfig(redis)).toMatchObject({ redisWaitReplicas: 0, redisFailoverRetryMs: 8_000 });
    expect(tollgateOptions(loadConfig(redis))).toMatchObject({
      waitReplicas: 0,
      failoverRetryMs: 8_000,
    });
    const c = loadConfig(
      { ...redis, TOLLGATE_REDIS_WAIT_REPLICAS: '2' },
      { redisFailoverRetryMs: '0' },
    );
    expect(tollgateOptions(c)).toMatchObject({ waitReplicas: 2, failoverRetryMs: 0 });
    expect(describeConfig(c)).toMatchObject({ redisWaitReplicas: 2, redisFailoverRetryMs: 0 });
    // The in-process engine has neither.
    const embedded = tollgateOptions(loadConfig({ TOLLGATE_REDIS_WAIT_REPLICAS: '1' }));
    expect(embedded).not.toHaveProperty('waitReplicas');
    expect(embedded).not.toHaveProperty('failoverRetryMs');
    expect(error(() => loadConfig({ TOLLGATE_REDIS_WAIT_REPLICAS: 'one' })).message).toContain(
      'TOLLGATE_REDIS_WAIT_REPLICAS: expected replicas 0-16, got one',
    );
    expect(error(() => loadConfig({}, { redisFailoverRetryMs: '700000' })).message).toContain(
      'TOLLGATE_REDIS_FAILOVER_RETRY_MS (--redis-failover-retry-ms): expected milliseconds 0-600000',
    );
  });

  it('HTTP timeouts: defaults, range, headers not over the request timeout', () => {
    expect(loadConfig({})).toMatchObject({
      httpHeadersTimeoutMs: 20_000,
      httpRequestTimeoutMs: 30_000,
      httpKeepAliveTimeoutMs: 5_000,
    });
    expect(
      error(() => loadConfig({ TOLLGATE_HTTP_KEEP_ALIVE_TIMEOUT_MS: '50' })).message,
    ).toContain('TOLLGATE_HTTP_KEEP_ALIVE_TIMEOUT_MS: expected milliseconds 100-3600000, got 50');
    const e = error(() =>
      loadConfig({ TOLLGATE_HTTP_REQUEST_TIMEOUT_MS: '1000' }, { httpHeadersTimeoutMs: '2000' }),
    );
    expect(e.message).toContain(
      'TOLLGATE_HTTP_HEADERS_TIMEOUT_MS (--http-headers-timeout-ms) / TOLLGATE_HTTP_REQUEST_TIMEOUT_MS',
    );
    expect(e.message).toContain('must not exceed');
  });

  it('reports every bad variable at once', () => {
    const e = error(() => loadConfig({ PORT: 'x', TOLLGATE_ALLOW_EVICTION: 'x' }));
    expect(e.issues.map((i) => i.variable).sort()).toEqual(['PORT', 'TOLLGATE_ALLOW_EVICTION']);
  });

  it('overrides (CLI flags) win over the environment and are named with their flag', () => {
    const c = loadConfig(
      { PORT: '1000', TOLLGATE_ALLOW_EVICTION: 'false' },
      { port: 2000, allowEviction: true, policyPath: undefined },
    );
    expect(c.port).toBe(2000);
    expect(c.allowEviction).toBe(true);
    const e = error(() => loadConfig({}, { port: 'abc' }));
    expect(e.message).toContain('PORT (--port)');
  });

  it('TOLLGATE_READ_TOKEN: optional, checked as the admin token, not the admin token, masked', () => {
    expect(loadConfig({}).readToken).toBeUndefined();
    expect(loadConfig({ TOLLGATE_READ_TOKEN: '  ' }).readToken).toBeUndefined();
    const read = 'a-long-enough-read-token';
    const c = loadConfig({ TOLLGATE_ADMIN_TOKEN: TOKEN, TOLLGATE_READ_TOKEN: read });
    expect(c.readToken).toBe(read);
    const shown = JSON.stringify(describeConfig(c));
    expect(shown).not.toContain(read);
    expect(describeConfig(c)).toMatchObject({ readToken: '***' });
    expect(describeConfig(loadConfig({})).readToken).toBeUndefined();
    const short = error(() => loadConfig({ TOLLGATE_READ_TOKEN: 'short' }));
    expect(short.issues).toEqual([
      { variable: 'TOLLGATE_READ_TOKEN', message: 'must be at least 16 characters' },
    ]);
    const same = error(() =>
      loadConfig({ TOLLGATE_ADMIN_TOKEN: TOKEN, TOLLGATE_READ_TOKEN: ` ${TOKEN}` }),
    );
    expect(same.issues[0]?.variable).toBe('TOLLGATE_READ_TOKEN');
    expect(same.message).toContain('must differ from TOLLGATE_ADMIN_TOKEN');
    expect(loadConfig({}, { readToken: read }).readToken).toBe(read);
  });
});
