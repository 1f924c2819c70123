import { DRAIN_STALL_MS, degradedShards } from '../../audit/drain/monitor.js';
import { RedisEngine } from '../../engine/redis/index.js';
import type { Engine } from '../../engine/types.js';
import { TollgateError } from '../../errors.js';
import { auditLag } from '../audit.js';
import { defineRoute, type Route } from '../route.js';
import type { AuditLagWire } from './audit.schemas.js';
import {
  type DrainHealthWire,
  HealthSchema,
  OpenApiDocumentSchema,
  ReadySchema,
  type ShardRecoveriesWire,
} from './health.schemas.js';

/**
 * The drain's health from the backlog: degraded when a shard's oldest
 * undrained event is DRAIN_STALL_MS old or more (src/audit/drain/monitor.ts).
 */
export function drainHealth(audit: AuditLagWire | { error: string }): DrainHealthWire {
  if ('error' in audit) {
    return { status: 'unknown', stalled_after_ms: DRAIN_STALL_MS, degraded: [] };
  }
  const degraded = degradedShards(
    audit.shards.map((s) => ({ shard: s.shard, backlog: s.backlog, oldestAgeMs: s.oldest_age_ms })),
  ).map((s) => ({ shard: s.shard, backlog: s.backlog, oldest_age_ms: s.oldestAgeMs }));
  return {
    status: degraded.length > 0 ? 'degraded' : 'ok',
    stalled_after_ms: DRAIN_STALL_MS,
    degraded,
  };
}

/** A Redis engine's shard recoveries, as /readyz shows them; nothing for MemoryEngine. */
function shardRecoveries(engine: Engine): { shard_recoveries?: ShardRecoveriesWire } {
  if (!(engine instanceof RedisEngine)) return {};
  const r = engine.shardRecoveries();
  return {
    shard_recoveries: {
      total: r.total,
      recent: r.recent.map((x) => ({
        shard: x.shard,
        at: new Date(x.atMs ?? 0).toISOString(),
        outcome: x.outcome === 'restored' ? ('restored' as const) : ('unrestored' as const),
        restored: x.restored,
      })),
    },
  };
}

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
        'The engine answers and the policy is loaded; otherwise 503 STORE_UNAVAILABLE. `audit` reports the undrained audit backlog per shard (as GET /v1/audit/lag): a backlog is reported, never a reason for 503; when it cannot be read, `audit` is `{error}`. `drain` says whether the drain keeps up: `degraded` lists the shards whose oldest undrained event is 10 s old or more (the drain stopped, fails, or is that far behind); still 200, because decisions are unaffected (docs/recovery.md).',
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
          const lag = await audit;
          return {
            status: 'ready' as const,
            engine: tollgate.engine.kind,
            policy: 'loaded' as const,
            drain: drainHealth(lag),
            ...shardRecoveries(tollgate.engine),
            audit: lag,
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
