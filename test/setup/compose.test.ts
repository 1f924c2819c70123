import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string> | string[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string | string[] };
  ports?: string[];
  volumes?: string[];
}

const compose = parse(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8'), {
  // Aliases are expanded by the parser; keep the limit generous but finite.
  maxAliasCount: 100,
}) as { services: Record<string, Service>; volumes?: Record<string, unknown> };

const services = compose.services;
const command = (s: Service | undefined) =>
  Array.isArray(s?.command) ? s.command.join(' ') : (s?.command ?? '');

describe('docker-compose.yml', () => {
  it('has the four services', () => {
    expect(Object.keys(services).sort()).toEqual(['api', 'postgres', 'redis', 'worker']);
  });

  it('runs Redis 7.0 with AOF (fsync every second) and noeviction, on a volume', () => {
    const redis = services.redis;
    expect(redis?.image).toBe('redis:7.0');
    const cmd = command(redis);
    expect(cmd).toMatch(/^redis-server\b/);
    expect(cmd).toMatch(/--appendonly yes\b/);
    expect(cmd).toMatch(/--appendfsync everysec\b/);
    expect(cmd).toMatch(/--maxmemory-policy noeviction\b/);
    expect(redis?.volumes?.some((v) => v.endsWith(':/data'))).toBe(true);
    expect(redis?.healthcheck?.test).toBeDefined();
  });

  it('runs PostgreSQL 15 with the tollgate database and a healthcheck', () => {
    const pg = services.postgres as Service & { environment: Record<string, string> };
    expect(pg.image).toBe('postgres:15');
    expect(pg.environment.POSTGRES_DB).toBe('tollgate');
    expect(pg.healthcheck?.test).toBeDefined();
    expect(pg.volumes?.length).toBeGreaterThan(0);
  });

  it('builds api and worker from the same build and image, with the same environment', () => {
    const { api, worker } = services;
    expect(api?.build).toBeDefined();
    expect(worker?.build).toEqual(api?.build);
    expect(worker?.image).toBe(api?.image);
    expect(worker?.environment).toEqual(api?.environment);
    expect(command(api)).toBe('serve --port 8080');
    expect(command(worker)).toBe('worker');
    expect(api?.ports).toContain('8080:8080');
  });

  it('points api and worker at the compose Redis and PostgreSQL, admin token required', () => {
    for (const name of ['api', 'worker']) {
      const env = services[name]?.environment as Record<string, string>;
      expect(env.REDIS_URL).toBe('redis://redis:6379');
      expect(env.DATABASE_URL).toBe('postgres://postgres@postgres:5432/tollgate');
      // compose interpolation: refuse to start without a token
      expect(env.TOLLGATE_ADMIN_TOKEN).toBe(`$\{TOLLGATE_ADMIN_TOKEN:?set TOLLGATE_ADMIN_TOKEN}`);
      const deps = services[name]?.depends_on as Record<string, { condition?: string }>;
      expect(deps.redis?.condition).toBe('service_healthy');
      expect(deps.postgres?.condition).toBe('service_healthy');
    }
  });

  it('does not publish Redis or PostgreSQL on the host', () => {
    expect(services.redis?.ports).toBeUndefined();
    expect(services.postgres?.ports).toBeUndefined();
  });
});
