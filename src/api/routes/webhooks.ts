import { randomBytes } from 'node:crypto';
import { alertBody } from '../../alerts/sign.js';
import type { DeadLetterRow, Webhook, WebhookStore } from '../../audit/store/webhooks.js';
import { isTollgateError, TollgateError } from '../../errors.js';
import type { Tollgate } from '../../index.js';
import { PublicDetailsError } from '../errors.js';
import { defineRoute, type Route } from '../route.js';
import {
  type BudgetAlertEventWire,
  CreateWebhookRequest,
  DELIVERY_ID,
  DeadLetterListSchema,
  DeadLetterParams,
  DeadLetterQuery,
  type DeadLetterWire,
  DeletedWebhookSchema,
  RetriedDeadLetterSchema,
  type WEBHOOK_EVENTS,
  WebhookListSchema,
  WebhookParams,
  WebhookSchema,
  type WebhookWire,
} from './webhooks.schemas.js';

/**
 * Webhooks (docs/operations.md, "Alerts"): where budget alerts are POSTed,
 * signed with the webhook's secret, and the deliveries that failed every
 * attempt (dead letters), which can be sent again. Admin only. Kept in the
 * durable store: every API process and worker sees the same.
 */
const TAG = 'webhooks';

/** The store's webhooks, or 503 STORE_UNAVAILABLE `{store: "not configured"}`. */
function webhooksOf(tollgate: Tollgate): WebhookStore {
  const w = tollgate.store?.webhooks;
  if (w === undefined) {
    throw new PublicDetailsError(
      'STORE_UNAVAILABLE',
      'No durable store is configured on this server: webhooks are kept there (Redis mode: set DATABASE_URL, or run tollgate serve --with-worker)',
      { store: 'not configured' },
    );
  }
  return w;
}

/** A store call; a failure that is not already one of ours is the store being away (503). */
async function stored<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (isTollgateError(e)) throw e;
    throw new TollgateError('STORE_UNAVAILABLE', 'The durable store is not answering');
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

function webhookToWire(w: Webhook): WebhookWire {
  return {
    id: w.webhookId,
    url: w.url,
    events: w.events as (typeof WEBHOOK_EVENTS)[number][],
    created_at: iso(w.createdAt),
  };
}

function deadLetterToWire(d: DeadLetterRow): DeadLetterWire {
  return {
    id: `${d.eventId}.${d.webhookId}`,
    webhook_id: d.webhookId,
    // The same JSON the receiver is sent.
    event: JSON.parse(alertBody(d.event)) as BudgetAlertEventWire,
    run: d.run,
    attempts: d.attempts,
    last_status: d.lastStatus,
    last_error: d.lastError,
    failed_at: iso(d.failedAt),
  };
}

export const webhookRoutes: Route[] = [
  defineRoute({
    method: 'post',
    path: '/v1/webhooks',
    auth: 'admin',
    tag: TAG,
    summary: 'Register a webhook',
    description: [
      'Budget alerts (`budget_alert`: the budget of an agent or a pool crossed a threshold of its limit, the policy `alerts.thresholds`, by default 50, 80 and 100 %) are POSTed to `url` as JSON (BudgetAlertEvent), once per alert and webhook, with the headers `Tollgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` and `Tollgate-Event-Id`. A 2xx is delivered; anything else is retried with exponential backoff (8 attempts over about an hour by default), then kept as a dead letter (GET /v1/webhooks/dead-letters). docs/operations.md shows how to verify the signature.',
      'Only alerts stored after the webhook exists are sent to it. The secret is write-only: no answer shows it again.',
    ].join('\n\n'),
    body: CreateWebhookRequest,
    status: 201,
    response: WebhookSchema,
    handler: async ({ body, tollgate }) => {
      const store = webhooksOf(tollgate);
      const w = {
        webhookId: `wh_${randomBytes(12).toString('hex')}`,
        url: body.url,
        secret: body.secret,
        events: [...body.events],
        createdAt: Date.now(),
      };
      await stored(store.addWebhook(w));
      return webhookToWire(w);
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/webhooks',
    auth: 'admin',
    tag: TAG,
    summary: 'List webhooks',
    description: 'Every webhook, oldest first, without its secret.',
    response: WebhookListSchema,
    handler: async ({ tollgate }) => ({
      webhooks: (await stored(webhooksOf(tollgate).webhooks())).map(webhookToWire),
    }),
  }),
  defineRoute({
    method: 'delete',
    path: '/v1/webhooks/:id',
    auth: 'admin',
    tag: TAG,
    summary: 'Delete a webhook',
    description:
      'Nothing more is sent to it: its deliveries still pending and its dead letters are deleted with it. Unknown id: 404 NOT_FOUND.',
    params: WebhookParams,
    response: DeletedWebhookSchema,
    errors: ['NOT_FOUND'],
    handler: async ({ params, tollgate }) => {
      if (!(await stored(webhooksOf(tollgate).deleteWebhook(params.id)))) {
        throw new TollgateError('NOT_FOUND', `Webhook ${params.id} not found`, {
          webhook_id: params.id,
        });
      }
      return { id: params.id, deleted: true as const };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/webhooks/dead-letters',
    auth: 'admin',
    tag: TAG,
    summary: 'List dead letters',
    description:
      'Deliveries whose every attempt failed, the latest first: the event as it is sent, the webhook, the attempts of the last run, the receiver’s last status (null: no answer) and error.',
    query: DeadLetterQuery,
    response: DeadLetterListSchema,
    handler: async ({ query, tollgate }) => ({
      dead_letters: (
        await stored(webhooksOf(tollgate).deadLetters({ limit: query.limit ?? 100 }))
      ).map(deadLetterToWire),
    }),
  }),
  defineRoute({
    method: 'post',
    path: '/v1/webhooks/dead-letters/:id/retry',
    auth: 'admin',
    tag: TAG,
    summary: 'Send a dead letter again',
    description: [
      'Starts a new run of the delivery: pending again, its attempts from 0, the same retries and backoff (the same event id and body, a new signature). It is queued at once in embedded mode, within a couple of seconds by the audit worker in Redis mode.',
      'Unknown delivery: 404 NOT_FOUND. A delivery that is not a dead letter (pending, or delivered): 409 CONFLICT, details `{reason: "not_dead", status}`; nothing changes, so retrying twice sends it once.',
    ].join('\n\n'),
    params: DeadLetterParams,
    status: 202,
    response: RetriedDeadLetterSchema,
    errors: ['NOT_FOUND', 'CONFLICT'],
    handler: async ({ params, tollgate }) => {
      const [, eventId, webhookId] = DELIVERY_ID.exec(params.id) as unknown as [
        string,
        string,
        string,
      ];
      const r = await stored(webhooksOf(tollgate).retryDeadLetter(eventId, webhookId, Date.now()));
      if (r === null) {
        throw new TollgateError('NOT_FOUND', `Delivery ${params.id} not found`, { id: params.id });
      }
      if (!('run' in r)) {
        throw new TollgateError(
          'CONFLICT',
          `Delivery ${params.id} is ${r.status}, not a dead letter`,
          {
            reason: 'not_dead',
            status: r.status,
          },
        );
      }
      // In this process (embedded): queued now; else the worker's next look at the store queues it.
      await tollgate.alerts?.resume().catch(() => undefined);
      return { id: params.id, status: 'pending' as const, run: r.run };
    },
  }),
];
