import { TollgateError } from '../../errors.js';
import { auditLag } from '../audit.js';
import { defineRoute, type Route } from '../route.js';
import { HealthSchema, OpenApiDocumentSchema, ReadySchema } from '../schemas.js';

/** Open routes: liveness, readiness, and the OpenAPI document. */
export function healthRoutes(opts: {
  readyTimeoutMs: number;
  openapi: () => Record<string, unknown>;
}): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/healthz',
      auth: 'open',
      tag: 'operations',
      summary: 'Liveness',
      description: 'The process is up (asks nothing of the store).',
      response: HealthSchema,
      handler: () => ({ status: 'ok' as const }),
    }),
    defineRoute({
      method: 'get',
      path: '/readyz',
      auth: 'open',
      tag: 'operations',
      summary: 'Readiness',
      description:
        'The engine answers and the policy is loaded; otherwise 503 STORE_UNAVAILABLE. `audit` reports the undrained audit backlog per shard (as GET /v1/audit/lag): a backlog is reported, never a reason for 503; when it cannot be read, `audit` is `{error}`.',
      response: ReadySchema,
      handler: async ({ tollgate }) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), opts.readyTimeoutMs);
        });
        // Read at the same time as the probe, within the same deadline.
        const audit = Promise.race([auditLag(tollgate), timeout]).catch(() => ({
          error: 'The audit backlog could not be read',
        }));
        try {
          try {
            await Promise.race([tollgate.engine.status('readyz-probe'), timeout]);
          } catch {
            throw new TollgateError('STORE_UNAVAILABLE', 'The store (Redis) is not answering');
          }
          if (!tollgate.policy) throw new TollgateError('STORE_UNAVAILABLE', 'No policy loaded');
          return {
            status: 'ready' as const,
            engine: tollgate.engine.kind,
            policy: 'loaded' as const,
            audit: await audit,
          };
        } finally {
          clearTimeout(timer);
        }
      },
    }),
    defineRoute({
      method: 'get',
      path: '/openapi.json',
      auth: 'open',
      tag: 'operations',
      summary: 'This API’s OpenAPI 3.1 document',
      response: OpenApiDocumentSchema,
      handler: () => opts.openapi(),
    }),
  ];
}
