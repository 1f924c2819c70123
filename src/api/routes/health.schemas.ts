import { z } from 'zod';
import { AuditLagSchema } from './audit.schemas.js';
import { named } from './shared.schemas.js';

/** The schemas of the open routes (routes/health.ts): liveness, readiness, the OpenAPI document. */

export const HealthSchema = named('Health', z.strictObject({ status: z.literal('ok') }));

export const AuditLagUnavailableSchema = named(
  'AuditLagUnavailable',
  z.strictObject({ error: z.string().describe('Why the backlog could not be read.') }),
);

export const DrainHealthSchema = named(
  'DrainHealth',
  z
    .strictObject({
      status: z
        .enum(['ok', 'degraded', 'unknown'])
        .describe(
          '`degraded`: some shard has events waiting whose oldest is `stalled_after_ms` old or more (its drain has not advanced for that long); `unknown`: the backlog could not be read.',
        ),
      stalled_after_ms: z.number().int(),
      degraded: z
        .array(
          z.strictObject({
            shard: z.number().int(),
            backlog: z.number().int(),
            oldest_age_ms: z.number().int(),
          }),
        )
        .describe('The degraded shards (empty when none).'),
    })
    .describe(
      'Whether the audit drain keeps up, from the outboxes (every API process reads the same). Reported, never a reason for 503: see docs/recovery.md.',
    ),
);

/** Every time this process found a Redis shard without its ready marker (docs/recovery.md). */
export const ShardRecoveriesSchema = named(
  'ShardRecoveries',
  z.strictObject({
    total: z.number().int().describe('Shards found without their ready marker since the start.'),
    recent: z
      .array(
        z.strictObject({
          shard: z.number().int(),
          at: z.string().describe('When (ISO 8601).'),
          outcome: z
            .enum(['restored', 'unrestored'])
            .describe('`restored` from the durable store; `unrestored`: no store was configured.'),
          restored: z.number().int().describe('Agents restored.'),
        }),
      )
      .describe('The last ones, oldest first (at most 64).'),
  }),
);

export const ReadySchema = named(
  'Ready',
  z.strictObject({
    status: z.literal('ready'),
    engine: z.enum(['memory', 'redis']),
    policy: z.literal('loaded'),
    drain: DrainHealthSchema,
    shard_recoveries: ShardRecoveriesSchema.optional().describe(
      'Redis: every time this process found a shard without its ready marker (Redis lost the shard, or a new deployment), and what was restored.',
    ),
    audit: z
      .union([AuditLagSchema, AuditLagUnavailableSchema])
      .describe('The audit backlog (reported, never a reason for 503).'),
  }),
);

export const OpenApiDocumentSchema = z
  .looseObject({ openapi: z.string(), paths: z.record(z.string(), z.unknown()) })
  .describe('An OpenAPI 3.1 document.');

export type DrainHealthWire = z.output<typeof DrainHealthSchema>;
export type ShardRecoveriesWire = z.output<typeof ShardRecoveriesSchema>;
