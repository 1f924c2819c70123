import { z } from 'zod';
import { isWebhookUrl } from '../../alerts/send.js';
import { ALERT_BUDGETS, MAX_THRESHOLD_PCT } from '../../audit/event-types.js';
import { MAX_PAGE } from '../../audit/store/queries.js';
import { isoTime, named } from './shared.schemas.js';

/**
 * The schemas of the webhooks routes (routes/webhooks.ts): receivers of
 * budget alerts, the alert event they are sent, and the dead letters
 * (docs/operations.md, "Alerts").
 */

/** The event types a webhook may take. */
export const WEBHOOK_EVENTS = ['budget_alert'] as const;

/** `wh_` and 24 hex digits. */
export const WEBHOOK_ID = /^wh_[0-9a-f]{24}$/;
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** A delivery: `<event_id>.<webhook_id>`. */
export const DELIVERY_ID = new RegExp(`^(${UUID})\\.(wh_[0-9a-f]{24})$`);

export const MIN_SECRET = 16;
export const MAX_SECRET = 256;
export const MAX_URL = 2048;

// ── requests ───────────────────────────────────────────────────────────────

export const WebhookId = z
  .string()
  .regex(WEBHOOK_ID)
  .describe('Webhook id: `wh_` and 24 hex digits.');
export const DeliveryId = z
  .string()
  .regex(DELIVERY_ID)
  .describe('A delivery: `<event_id>.<webhook_id>` (as a dead letter lists it).');

export const WebhookParams = z.strictObject({ id: WebhookId });
export const DeadLetterParams = z.strictObject({ id: DeliveryId });

export const CreateWebhookRequest = named(
  'CreateWebhookRequest',
  z.strictObject({
    url: z
      .string()
      .max(MAX_URL)
      .refine(isWebhookUrl, { message: 'expected an http:// or https:// URL' })
      .describe(
        'Where the events are POSTed: http or https. A redirect is followed only as a 307 or 308 to the same origin.',
      ),
    secret: z
      .string()
      .min(MIN_SECRET)
      .max(MAX_SECRET)
      .describe(
        `Signs every delivery (HMAC-SHA256, the Tollgate-Signature header), ${MIN_SECRET}-${MAX_SECRET} characters. Write-only: never shown again.`,
      ),
    events: z
      .array(z.enum(WEBHOOK_EVENTS))
      .min(1)
      .max(WEBHOOK_EVENTS.length)
      .refine((v) => new Set(v).size === v.length, { message: 'an event type is named twice' })
      .describe('The event types to receive: `budget_alert`.'),
  }),
);

export const DeadLetterQuery = z.strictObject({
  limit: z
    .string()
    .regex(/^\d{1,4}$/, { message: `expected an integer from 1 to ${MAX_PAGE}` })
    .transform(Number)
    .pipe(z.number().int().min(1).max(MAX_PAGE))
    .optional()
    .describe(`Dead letters to list, 1-${MAX_PAGE} (default 100), the latest first.`),
});

// ── answers ────────────────────────────────────────────────────────────────

export const WebhookSchema = named(
  'Webhook',
  z.strictObject({
    id: WebhookId,
    url: z.string(),
    events: z.array(z.enum(WEBHOOK_EVENTS)),
    created_at: isoTime,
  }),
);

export const WebhookListSchema = named(
  'WebhookList',
  z.strictObject({ webhooks: z.array(WebhookSchema).describe('Oldest first. No secrets.') }),
);

export const DeletedWebhookSchema = named(
  'DeletedWebhook',
  z.strictObject({ id: WebhookId, deleted: z.literal(true) }),
);

/** A budget_alert's own fields (the deciding script's crossing). */
export const alertFields = {
  pool_id: z
    .string()
    .describe(
      "The pool whose budget crossed (`daily` or `monthly`, in the pool's time zone); '' for an agent's budget.",
    ),
  budget: z.enum(ALERT_BUDGETS),
  threshold_pct: z
    .number()
    .int()
    .min(1)
    .max(MAX_THRESHOLD_PCT)
    .describe(
      "The threshold crossed, in percent of the limit (the policy's `alerts.thresholds`; default 50, 80, 100).",
    ),
  period: z
    .string()
    .describe('The session id (session budget), the local yyyymmdd (daily) or yyyymm (monthly).'),
  used: z.number().int().describe('Spent: tokens for a session budget, micro-dollars otherwise.'),
  limit: z.number().int().describe('The limit, in the same unit.'),
};

export const BudgetAlertEventSchema = named(
  'BudgetAlertEvent',
  z
    .strictObject({
      v: z.literal(1).describe('Event schema version.'),
      event_id: z.string().describe('UUIDv7; the Tollgate-Event-Id header: dedupe on it.'),
      type: z.literal('budget_alert'),
      at: z.number().int().describe('When the crossing was decided: ms since the epoch.'),
      agent_id: z
        .string()
        .describe(
          "The agent whose budget crossed; for a pool's budget, the agent whose charge crossed it.",
        ),
      ...alertFields,
    })
    .describe('The body of a delivery, exactly (its bytes are what the signature covers).'),
);

export const DeadLetterSchema = named(
  'DeadLetter',
  z.strictObject({
    id: DeliveryId,
    webhook_id: WebhookId,
    event: BudgetAlertEventSchema,
    run: z.number().int().describe('1, then one more per retry asked for.'),
    attempts: z.number().int().describe('Attempts made in that run.'),
    last_status: z
      .number()
      .int()
      .nullable()
      .describe("The receiver's last HTTP status; null when it did not answer."),
    last_error: z.string().nullable().describe('Why the last attempt failed.'),
    failed_at: isoTime.describe('When the last attempt failed.'),
  }),
);

export const DeadLetterListSchema = named(
  'DeadLetterList',
  z.strictObject({ dead_letters: z.array(DeadLetterSchema) }),
);

export const RetriedDeadLetterSchema = named(
  'RetriedDeadLetter',
  z.strictObject({
    id: DeliveryId,
    status: z.literal('pending'),
    run: z.number().int().describe('The new run: its attempts start from 0.'),
  }),
);

export type WebhookWire = z.output<typeof WebhookSchema>;
export type BudgetAlertEventWire = z.output<typeof BudgetAlertEventSchema>;
export type DeadLetterWire = z.output<typeof DeadLetterSchema>;
