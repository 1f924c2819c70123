/**
 * `npm run check:compose` (part of `npm run lint`): docker-compose.yml holds
 * the deployment the README describes (Redis with AOF and noeviction,
 * PostgreSQL, the API and the worker from one image). A check rather than a
 * test: it reads one file and runs nothing (docs/testing.md).
 *
 *   tsx test/setup/check-compose.ts [file]    exit 1 and one line per broken rule
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
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

const file = process.argv[2] ?? fileURLToPath(new URL('../../docker-compose.yml', import.meta.url));
const shown = relative(process.cwd(), file);
const compose = parse(readFileSync(file, 'utf8'), {
  // Aliases are expanded by the parser; keep the limit generous but finite.
  maxAliasCount: 100,
}) as { services: Record<string, Service> };
const services = compose.services;
const command = (s: Service | undefined) =>
  Array.isArray(s?.command) ? s.command.join(' ') : (s?.command ?? '');

const rules: [string, () => void][] = [
  [
    'has the four services',
    () => assert.deepEqual(Object.keys(services).sort(), ['api', 'postgres', 'redis', 'worker']),
  ],
  [
    'runs Redis 7.0 with AOF (fsync every second) and noeviction, on a volume',
    () => {
      const redis = services.redis;
      assert.equal(redis?.image, 'redis:7.0');
      const cmd = command(redis);
      assert.match(cmd, /^redis-server\b/);
      assert.match(cmd, /--appendonly yes\b/);
      assert.match(cmd, /--appendfsync everysec\b/);
      assert.match(cmd, /--maxmemory-policy noeviction\b/);
      assert.equal(
        redis?.volumes?.some((v) => v.endsWith(':/data')),
        true,
      );
      assert.notEqual(redis?.healthcheck?.test, undefined);
    },
  ],
  [
    'runs PostgreSQL 15 with the tollgate database and a healthcheck',
    () => {
      const pg = services.postgres as Service & { environment: Record<string, string> };
      assert.equal(pg.image, 'postgres:15');
      assert.equal(pg.environment.POSTGRES_DB, 'tollgate');
      assert.notEqual(pg.healthcheck?.test, undefined);
      assert.ok((pg.volumes?.length ?? 0) > 0, 'a volume');
    },
  ],
  [
    'builds api and worker from the same build and image, with the same environment',
    () => {
      const { api, worker } = services;
      assert.notEqual(api?.build, undefined);
      assert.deepEqual(worker?.build, api?.build);
      assert.equal(worker?.image, api?.image);
      assert.deepEqual(worker?.environment, api?.environment);
      assert.equal(command(api), 'serve --port 8080');
      assert.equal(command(worker), 'worker');
      assert.ok(api?.ports?.includes('8080:8080'), 'api publishes 8080:8080');
    },
  ],
  [
    'points api and worker at the compose Redis and PostgreSQL, admin token required',
    () => {
      for (const name of ['api', 'worker']) {
        const env = services[name]?.environment as Record<string, string>;
        assert.equal(env.REDIS_URL, 'redis://redis:6379');
        assert.equal(env.DATABASE_URL, 'postgres://postgres@postgres:5432/tollgate');
        // compose interpolation: refuse to start without a token
        assert.equal(
          env.TOLLGATE_ADMIN_TOKEN,
          `$\{TOLLGATE_ADMIN_TOKEN:?set TOLLGATE_ADMIN_TOKEN}`,
        );
        const deps = services[name]?.depends_on as Record<string, { condition?: string }>;
        assert.equal(deps.redis?.condition, 'service_healthy');
        assert.equal(deps.postgres?.condition, 'service_healthy');
      }
    },
  ],
  [
    'does not publish Redis or PostgreSQL on the host',
    () => {
      assert.equal(services.redis?.ports, undefined);
      assert.equal(services.postgres?.ports, undefined);
    },
  ],
];

let broken = 0;
for (const [rule, check] of rules) {
  try {
    check();
  } catch (e) {
    broken++;
    console.error(`${shown}: ${rule}: ${(e as Error).message.replace(/\s*\n\s*/g, ' ')}`);
  }
}
if (broken > 0) process.exit(1);
console.log(`${shown}: the ${rules.length} rules hold`);
