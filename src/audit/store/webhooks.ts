import type { BudgetAlert } from '../event-types.js';
import { type Db, SqlArray } from './db.js';

/**
 * Webhooks and their alert deliveries in the store (migration 6; src/alerts
 * sends them). The rows of `alert_deliveries` are made by insertEvents, in the
 * statement that stores the budget_alert events (insert.ts, "Alerts rule"):
 * one per new alert event and matching webhook. Everything after that goes
 * through here: handing them to the delivery queue, each attempt's outcome,
 * the dead letters and their retries. Times are ms of the process clock.
 */

/** A webhook as shown: its secret never leaves the store but to sign. */
export interface Webhook {
  webhookId: string;
  url: string;
  /** The event types it receives (budget_alert). */
  events: string[];
  createdAt: number;
}

export interface NewWebhook extends Webhook {
  secret: string;
}

/** One alert event to one webhook, in one run (1, then +1 per retry of its dead letter). */
export interface DeliveryKey {
  eventId: string;
  webhookId: string;
  run: number;
}

/** The stored budget_alert event a delivery carries. */
export interface AlertEventRow {
  eventId: string;
  /** ms, the event's time. */
  at: number;
  agentId: string;
  alert: BudgetAlert;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'dead';

/** A delivery with what it takes to send it. */
export interface DeliveryToSend {
  status: DeliveryStatus;
  run: number;
  /** Attempts made in this run. */
  attempts: number;
  url: string;
  secret: string;
  event: AlertEventRow;
}

/** A delivery whose last attempt failed with no attempt left. */
export interface DeadLetterRow {
  eventId: string;
  webhookId: string;
  run: number;
  attempts: number;
  /** The receiver's last HTTP status (null: no answer: refused, timed out, …). */
  lastStatus: number | null;
  lastError: string | null;
  /** ms: when the last attempt failed. */
  failedAt: number;
  event: AlertEventRow;
}

export type AttemptOutcome = 'delivered' | 'failed' | 'dead';

export interface WebhookStore {
  addWebhook(w: NewWebhook): Promise<void>;
  /** Every webhook, oldest first. */
  webhooks(): Promise<Webhook[]>;
  /** Deletes a webhook and its deliveries; false when there was none. */
  deleteWebhook(webhookId: string): Promise<boolean>;
  /**
   * Pending deliveries to hand to the queue, oldest first, at most `limit`:
   * those of `eventIds` (a batch just stored); with `all`, every pending one
   * after `after` (a process starting: its queue may have lost them); else
   * those whose run has not been queued yet (a retried dead letter).
   */
  toQueue(q: {
    eventIds?: readonly string[];
    all?: boolean;
    after?: { createdAt: number; eventId: string; webhookId: string };
    limit: number;
  }): Promise<(DeliveryKey & { createdAt: number })[]>;
  /** Notes that these runs are in the queue. */
  markQueued(keys: readonly DeliveryKey[]): Promise<void>;
  /** The delivery with its webhook and event; null when either is gone. */
  delivery(eventId: string, webhookId: string): Promise<DeliveryToSend | null>;
  /**
   * Records an attempt of `key.run` (`failed`: still pending); false when the
   * delivery is no longer pending in that run (nothing written).
   */
  recordAttempt(
    key: DeliveryKey,
    r: {
      outcome: AttemptOutcome;
      attempts: number;
      status: number | null;
      error: string | null;
      atMs: number;
    },
  ): Promise<boolean>;
  /** Dead letters, the latest first. */
  deadLetters(q: { limit: number }): Promise<DeadLetterRow[]>;
  /**
   * A dead letter back to pending in a new run (attempts from 0): its run, or
   * the delivery's status when it is not dead (nothing changed), or null when
   * there is no such delivery.
   */
  retryDeadLetter(
    eventId: string,
    webhookId: string,
    atMs: number,
  ): Promise<{ run: number } | { status: DeliveryStatus } | null>;
}

/** The methods, for wrappers that forward them (lazyStore). */
export const WEBHOOK_STORE_METHODS = [
  'addWebhook',
  'webhooks',
  'deleteWebhook',
  'toQueue',
  'markQueued',
  'delivery',
  'recordAttempt',
  'deadLetters',
  'retryDeadLetter',
] as const satisfies readonly (keyof WebhookStore)[];

type Row = Record<string, unknown>;
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const jsonOf = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T;

function eventOf(r: Row): AlertEventRow {
  return {
    eventId: r.event_id as string,
    at: num(r.at),
    agentId: r.agent_id as string,
    alert: jsonOf<BudgetAlert>(r.alert),
  };
}

const QUEUE_COLUMNS = 'event_id, webhook_id, run, created_at';
const TO_QUEUE_OF_EVENTS = `
SELECT ${QUEUE_COLUMNS} FROM alert_deliveries
 WHERE event_id = ANY($1::uuid[]) AND status = 'pending'
 ORDER BY created_at, event_id, webhook_id LIMIT $2`;
const TO_QUEUE_ALL = `
SELECT ${QUEUE_COLUMNS} FROM alert_deliveries
 WHERE status = 'pending' AND (created_at, event_id, webhook_id) > ($1::bigint, $2::uuid, $3::text)
 ORDER BY created_at, event_id, webhook_id LIMIT $4`;
const TO_QUEUE_NEW_RUNS = `
SELECT ${QUEUE_COLUMNS} FROM alert_deliveries
 WHERE status = 'pending' AND queued_run < run
 ORDER BY created_at, event_id, webhook_id LIMIT $1`;
const MARK_QUEUED = `
UPDATE alert_deliveries d SET queued_run = greatest(d.queued_run, k.run)
  FROM unnest($1::uuid[], $2::text[], $3::integer[]) AS k(event_id, webhook_id, run)
 WHERE d.event_id = k.event_id AND d.webhook_id = k.webhook_id`;
const DELIVERY = `
SELECT d.status, d.run, d.attempts, w.url, w.secret, e.event_id, e.at, e.agent_id, e.alert
  FROM alert_deliveries d
  JOIN webhooks w ON w.webhook_id = d.webhook_id
  JOIN audit_events e ON e.event_id = d.event_id
 WHERE d.event_id = $1::uuid AND d.webhook_id = $2`;
const RECORD_ATTEMPT = `
UPDATE alert_deliveries
   SET status = $4::text, attempts = $5::integer, last_status = $6::integer, last_error = $7::text,
       updated_at = $8::bigint,
       delivered_at = CASE WHEN $4::text = 'delivered' THEN $8::bigint ELSE delivered_at END
 WHERE event_id = $1::uuid AND webhook_id = $2 AND run = $3::integer AND status = 'pending'`;
const DEAD_LETTERS = `
SELECT d.event_id, d.webhook_id, d.run, d.attempts, d.last_status, d.last_error, d.updated_at,
       e.at, e.agent_id, e.alert
  FROM alert_deliveries d JOIN audit_events e ON e.event_id = d.event_id
 WHERE d.status = 'dead'
 ORDER BY d.updated_at DESC, d.event_id DESC, d.webhook_id DESC LIMIT $1`;
const RETRY = `
UPDATE alert_deliveries SET status = 'pending', run = run + 1, attempts = 0, updated_at = $3::bigint
 WHERE event_id = $1::uuid AND webhook_id = $2 AND status = 'dead'
RETURNING run`;

const STATUS_OF: Record<AttemptOutcome, DeliveryStatus> = {
  delivered: 'delivered',
  failed: 'pending',
  dead: 'dead',
};

/** The WebhookStore over a store's connections: `db` for writes and the delivery path, `reads` for listings. */
export function webhookStore(db: Db, reads: Db = db): WebhookStore {
  return {
    async addWebhook(w) {
      await db.command(
        'INSERT INTO webhooks (webhook_id, url, secret, events, created_at) VALUES ($1, $2, $3, $4::text[], $5::bigint)',
        [w.webhookId, w.url, w.secret, new SqlArray('text', w.events), w.createdAt],
      );
    },
    async webhooks() {
      const rows = await reads.query<Row>(
        'SELECT webhook_id, url, events, created_at FROM webhooks ORDER BY created_at, webhook_id',
      );
      return rows.map((r) => ({
        webhookId: r.webhook_id as string,
        url: r.url as string,
        events: [...(r.events as string[])],
        createdAt: num(r.created_at),
      }));
    },
    async deleteWebhook(webhookId) {
      return (await db.command('DELETE FROM webhooks WHERE webhook_id = $1', [webhookId])) > 0;
    },
    async toQueue(q) {
      let rows: Row[];
      if (q.eventIds !== undefined) {
        if (q.eventIds.length === 0) return [];
        rows = await db.query<Row>(TO_QUEUE_OF_EVENTS, [new SqlArray('uuid', q.eventIds), q.limit]);
      } else if (q.all) {
        const a = q.after ?? {
          createdAt: -1,
          eventId: '00000000-0000-0000-0000-000000000000',
          webhookId: '',
        };
        rows = await db.query<Row>(TO_QUEUE_ALL, [a.createdAt, a.eventId, a.webhookId, q.limit]);
      } else {
        rows = await db.query<Row>(TO_QUEUE_NEW_RUNS, [q.limit]);
      }
      return rows.map((r) => ({
        eventId: r.event_id as string,
        webhookId: r.webhook_id as string,
        run: num(r.run),
        createdAt: num(r.created_at),
      }));
    },
    async markQueued(keys) {
      if (keys.length === 0) return;
      await db.command(MARK_QUEUED, [
        new SqlArray(
          'uuid',
          keys.map((k) => k.eventId),
        ),
        new SqlArray(
          'text',
          keys.map((k) => k.webhookId),
        ),
        new SqlArray(
          'integer',
          keys.map((k) => k.run),
        ),
      ]);
    },
    async delivery(eventId, webhookId) {
      const r = (await db.query<Row>(DELIVERY, [eventId, webhookId]))[0];
      if (r === undefined) return null;
      return {
        status: r.status as DeliveryStatus,
        run: num(r.run),
        attempts: num(r.attempts),
        url: r.url as string,
        secret: r.secret as string,
        event: eventOf(r),
      };
    },
    async recordAttempt(key, r) {
      const n = await db.command(RECORD_ATTEMPT, [
        key.eventId,
        key.webhookId,
        key.run,
        STATUS_OF[r.outcome],
        r.attempts,
        r.status,
        r.error,
        r.atMs,
      ]);
      return n > 0;
    },
    async deadLetters(q) {
      const rows = await reads.query<Row>(DEAD_LETTERS, [q.limit]);
      return rows.map((r) => ({
        eventId: r.event_id as string,
        webhookId: r.webhook_id as string,
        run: num(r.run),
        attempts: num(r.attempts),
        lastStatus: r.last_status === null ? null : num(r.last_status),
        lastError: (r.last_error ?? null) as string | null,
        failedAt: num(r.updated_at),
        event: eventOf(r),
      }));
    },
    async retryDeadLetter(eventId, webhookId, atMs) {
      const rows = await db.query<Row>(RETRY, [eventId, webhookId, atMs]);
      const r = rows[0];
      if (r !== undefined) return { run: num(r.run) };
      const now = await db.query<Row>(
        'SELECT status FROM alert_deliveries WHERE event_id = $1::uuid AND webhook_id = $2',
        [eventId, webhookId],
      );
      const s = now[0];
      return s === undefined ? null : { status: s.status as DeliveryStatus };
    },
  };
}
