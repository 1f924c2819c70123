/**
 * A fresh PostgreSQL database for one test run: `tollgate_test_<random>` on
 * the local server (127.0.0.1:5432, trust auth, user postgres; override the
 * admin connection with TOLLGATE_TEST_PG_ADMIN_URL), created through the
 * `postgres` database and dropped (WITH (FORCE): leftover connections are
 * cut) at teardown. .ci/run makes sure that server is up.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  /** URL of the fresh database. */
  url: string;
  name: string;
  drop(): Promise<void>;
}

async function admin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
  } catch (e) {
    throw new Error(
      `PostgreSQL is not reachable at ${adminUrl.replace(/:[^:@/]*@/, ':***@')} (${
        (e as Error).message
      }). The tests need a local PostgreSQL (see docs/store.md; .ci/run starts one).`,
    );
  }
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

export async function createTestDatabase(
  adminUrl = process.env.TOLLGATE_TEST_PG_ADMIN_URL || DEFAULT_ADMIN_URL,
): Promise<TestDatabase> {
  const name = `tollgate_test_${randomBytes(6).toString('hex')}`;
  await admin(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    drop: async () => {
      await admin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
