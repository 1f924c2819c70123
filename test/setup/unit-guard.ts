/**
 * The unit project's setup file (vitest.config.ts): the unit project starts no
 * service, so a test in it that asks for one (`inject('redisUrl')`,
 * `inject('clusterNodes')`, `inject('databaseUrl')`, directly or through a
 * helper) fails at once, naming the file's right place, instead of running
 * on `undefined` (docs/testing.md).
 *
 * vitest keeps what `inject` reads in its worker state; this wraps it. If a
 * later vitest keeps it elsewhere, the guard does nothing and `inject` returns
 * undefined as before.
 */
import { SERVICE_KEYS } from './provided.js';

interface WorkerState {
  providedContext?: Record<string | symbol, unknown>;
}

const GUARDED = Symbol.for('tollgate.unitGuard');
const state = (globalThis as { __vitest_worker__?: WorkerState }).__vitest_worker__;
const provided = state?.providedContext;

if (state !== undefined && provided !== undefined && provided[GUARDED] !== true) {
  const services: readonly (string | symbol)[] = SERVICE_KEYS;
  state.providedContext = new Proxy(provided, {
    get(target, key, receiver) {
      if (key === GUARDED) return true;
      if (services.includes(key)) {
        throw new Error(
          `inject('${String(key)}') in the unit project: it starts no service. ` +
            'A test that needs Redis, the Cluster or PostgreSQL belongs to the integration project (vitest.config.ts).',
        );
      }
      return Reflect.get(target, key, receiver);
    },
  });
}
