import type { Db } from './db.js';

/**
 * The versioned schema, one list for PostgreSQL and PGlite. A migration is
 * never edited once released: changes are a new entry with the next version.
 *
 * Units: times are bigint ms of Redis time (the same numbers the engine and
 * the events carry, exact, no time zone); money is bigint micro-dollars;
 * tokens are bigint.
 */
export interface Migration {
  version: number;
  name: string;
  /** One or more statements, run with the simple protocol inside the migration transaction. */
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'audit ledger, agent registry, session summaries',
    sql: `
CREATE TABLE audit_events (
  event_id            uuid PRIMARY KEY,
  v                   smallint NOT NULL,
  at                  bigint NOT NULL,
  type                text NOT NULL,
  agent_id            text NOT NULL,
  actor               text,
  session_id          text,
  role                text,
  operation           text,
  allowed             boolean,
  error_code          text,
  exceeded            text,
  estimated_tokens    bigint,
  input_tokens        bigint,
  output_tokens       bigint,
  cost                bigint,
  model               text,
  reservation_id      text,
  request_id          text,
  result              text,
  session_utilization double precision,
  daily_utilization   double precision,
  tokens_used         bigint,
  operations_blocked  bigint,
  session_started_at  bigint,
  state               jsonb
);
-- Keyset pages on (at, event_id), per agent and overall.
CREATE INDEX audit_events_agent_at ON audit_events (agent_id, at, event_id);
CREATE INDEX audit_events_at ON audit_events (at, event_id);

-- The registry, projected from the state-carrying events (latest at wins).
-- agent_deleted leaves a tombstone (deleted_at set) so that an older event
-- delivered late cannot bring the agent back.
CREATE TABLE agents (
  agent_id            text PRIMARY KEY,
  role                text NOT NULL,
  status              text NOT NULL,
  session_id          text NOT NULL,
  session_started_at  bigint NOT NULL,
  session_token_limit bigint NOT NULL,
  daily_cost_limit    bigint NOT NULL,
  key_digest          text NOT NULL,
  created_at          bigint NOT NULL,
  metadata            text NOT NULL,
  updated_at          bigint NOT NULL,
  event_id            uuid NOT NULL,
  deleted_at          bigint
);

-- The session log, projected from session_ended events.
CREATE TABLE session_summaries (
  agent_id            text NOT NULL,
  session_id          text NOT NULL,
  started_at          bigint NOT NULL,
  ended_at            bigint NOT NULL,
  tokens_used         bigint NOT NULL,
  cost                bigint NOT NULL,
  operations_blocked  bigint NOT NULL,
  event_id            uuid NOT NULL,
  PRIMARY KEY (agent_id, session_id)
);
`,
  },
  {
    version: 2,
    name: 'settle overruns (usage above the hold)',
    sql: `
-- Settle events: tokens and micro-dollars above the hold (0 within it); NULL on other events
-- and on events stored before this version.
ALTER TABLE audit_events ADD COLUMN overrun_tokens bigint, ADD COLUMN overrun_cost bigint;
`,
  },
  {
    version: 3,
    name: 'audit read indexes by kind (type, and a decision allowed or denied)',
    sql: `
-- An event's kind: its type, and for a decision '+' (allowed) or '-' (denied)
-- (EVENT_KIND in queries.ts, which must stay this expression exactly). Every
-- filter of GET /v1/audit (agent, type, allowed, a time range) is then an
-- equality on a prefix of one index followed by the page order (at, event_id).
CREATE INDEX audit_events_agent_kind_at ON audit_events
  (agent_id, (type || CASE WHEN allowed THEN '+' WHEN NOT allowed THEN '-' ELSE '' END), at, event_id);
CREATE INDEX audit_events_kind_at ON audit_events
  ((type || CASE WHEN allowed THEN '+' WHEN NOT allowed THEN '-' ELSE '' END), at, event_id);
`,
  },
  {
    version: 4,
    name: 'settle labels of metered model calls (estimated usage, the model priced as)',
    sql: `
-- Settle events: whether the usage is an estimate (a stream cut before its usage arrived),
-- and the model whose price was used; NULL on other events and on events stored before
-- this version. Spend by model (spend.ts) is a range scan of (at, event_id): no index.
ALTER TABLE audit_events ADD COLUMN estimated boolean, ADD COLUMN priced_as text;
`,
  },
  {
    version: 5,
    name: 'agent rate limits, monthly cost limit and time zone',
    sql: `
-- The registry's rate limits (per minute, 0: none), monthly cost limit (micro-dollars,
-- 0: none) and time zone (IANA name); agents projected before this version, and events
-- appended before their state carried them, have none (UTC).
ALTER TABLE agents
  ADD COLUMN requests_per_minute bigint NOT NULL DEFAULT 0,
  ADD COLUMN tokens_per_minute   bigint NOT NULL DEFAULT 0,
  ADD COLUMN monthly_cost_limit  bigint NOT NULL DEFAULT 0,
  ADD COLUMN time_zone           text NOT NULL DEFAULT 'UTC';
`,
  },
  {
    version: 6,
    name: 'budget alerts: the crossing on the event, webhooks, their deliveries',
    sql: `
-- budget_alert events: the crossing (pool_id, budget, threshold_pct, period, used, limit);
-- NULL on other events (a catalog change, as 2 and 4).
ALTER TABLE audit_events ADD COLUMN alert jsonb;

-- Receivers of alerts (src/alerts; docs/operations.md). The secret signs each delivery and
-- never leaves the server. events: the event types sent (budget_alert).
CREATE TABLE webhooks (
  webhook_id  text PRIMARY KEY,
  url         text NOT NULL,
  secret      text NOT NULL,
  events      text[] NOT NULL,
  created_at  bigint NOT NULL
);

-- One row per (alert event, webhook), projected by insertEvents from the events it newly
-- stored (a duplicate delivery of an outbox entry adds none). status: pending, delivered or
-- dead (a dead letter). run: 1, then +1 per retry of a dead letter; queued_run: the last run
-- handed to the delivery queue (a pending row with queued_run < run is still to be queued).
-- attempts, last_status, last_error: the current run's. Times: ms, the process clock.
CREATE TABLE alert_deliveries (
  event_id     uuid NOT NULL,
  webhook_id   text NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
  status       text NOT NULL DEFAULT 'pending',
  run          integer NOT NULL DEFAULT 1,
  queued_run   integer NOT NULL DEFAULT 0,
  attempts     integer NOT NULL DEFAULT 0,
  last_status  integer,
  last_error   text,
  created_at   bigint NOT NULL,
  updated_at   bigint NOT NULL,
  delivered_at bigint,
  PRIMARY KEY (event_id, webhook_id)
);
CREATE INDEX alert_deliveries_webhook ON alert_deliveries (webhook_id);
CREATE INDEX alert_deliveries_pending ON alert_deliveries (created_at) WHERE status = 'pending';
CREATE INDEX alert_deliveries_dead ON alert_deliveries (updated_at) WHERE status = 'dead';
`,
  },
  {
    version: 7,
    name: 'policy versions set at runtime, and the policy_changed event',
    sql: `
-- The policy set through the API or the library (src/policy-store; docs/policy.md,
-- "Changing the policy at runtime"): each version is the whole merged document, who set it
-- and when (ms, the storing process's clock), and the id of its policy_changed event. Every
-- API process polls max(version) (the primary key) and loads a newer one.
CREATE TABLE policy_versions (
  version   integer PRIMARY KEY,
  doc       jsonb NOT NULL,
  actor     text NOT NULL,
  at        bigint NOT NULL,
  event_id  uuid NOT NULL
);

-- policy_changed events: the version, the one it replaced and the fields that changed;
-- NULL on other events (a catalog change, as 2, 4 and 6).
ALTER TABLE audit_events ADD COLUMN policy jsonb;
`,
  },
  {
    version: 8,
    name: 'pools: the pool events, the levels a settle charged, the pool registry',
    sql: `
-- Pools (docs/limits.md, "Pools"; a catalog change, as 2, 4, 6 and 7: NULL on other events and
-- on events stored before this version). pool_id: a pool event's pool, agent_moved's new pool
-- ('' for none), a denial's pool; from_pool_id: the pool agent_moved left ('' for none);
-- pools: settle, release and usage under pools, the levels charged leaf first, joined by '|'
-- (a pool's spend per local day and month is summed from it, pools.ts); pool: a pool event's
-- settings (parent_id, root_id, limits, time_zone).
ALTER TABLE audit_events
  ADD COLUMN pool_id text, ADD COLUMN from_pool_id text, ADD COLUMN pools text, ADD COLUMN pool jsonb;
-- A pool's spend is a range scan of the settles and usage under pools only.
CREATE INDEX audit_events_pools_at ON audit_events (at) WHERE pools IS NOT NULL;

-- The pool registry, projected from pool_created, pool_updated and pool_deleted (latest at
-- wins, as the agents'); pool_deleted leaves a tombstone (deleted_at). created_at: the at of
-- the latest pool_created (a pool deleted and created again starts afresh).
CREATE TABLE pools (
  pool_id              text PRIMARY KEY,
  parent_id            text,
  root_id              text NOT NULL,
  daily_cost_limit     bigint NOT NULL,
  monthly_cost_limit   bigint NOT NULL,
  requests_per_minute  bigint NOT NULL,
  tokens_per_minute    bigint NOT NULL,
  time_zone            text NOT NULL,
  created_at           bigint NOT NULL,
  updated_at           bigint NOT NULL,
  event_id             uuid NOT NULL,
  deleted_at           bigint
);
`,
  },
  {
    version: 9,
    name: 'shadow mode: the denial a decision let pass',
    sql: `
-- Shadow mode (docs/operations.md, "Shadow mode"; a catalog change, as 2, 4, 6, 7 and 8: NULL
-- on other events and on events stored before this version). would_deny: an allowed decision
-- of an agent in shadow mode, the error code the rules would have denied it with.
ALTER TABLE audit_events ADD COLUMN would_deny text;
`,
  },
];

/**
 * Key of the transaction-level advisory lock that serialises migrations: two
 * processes starting at once queue on it, and the second finds everything
 * applied. ('tollgate' as 8 ASCII bytes, trimmed to a positive bigint.)
 */
export const MIGRATION_LOCK = 0x746f6c6c67617465n & 0x7fffffffffffffffn;

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/** Checks a schema name: plain lowercase identifiers only (it is spliced, quoted, into DDL). */
export function checkSchemaName(schema: string): string {
  if (!IDENT.test(schema)) throw new Error(`Bad schema name ${JSON.stringify(schema)}`);
  return schema;
}

/**
 * Applies the migrations not yet recorded in `schema_migrations`, all in one
 * transaction under `pg_advisory_xact_lock`: idempotent, and safe when several
 * processes start at once. With `schema`, creates it first (the connection's
 * search_path must already name it). Returns the versions it applied.
 */
export async function migrate(
  db: Db,
  opts: { schema?: string; migrations?: readonly Migration[] } = {},
): Promise<number[]> {
  const list = opts.migrations ?? MIGRATIONS;
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK.toString()]);
    if (opts.schema !== undefined) {
      await tx.exec(`CREATE SCHEMA IF NOT EXISTS "${checkSchemaName(opts.schema)}"`);
    }
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`);
    const rows = await tx.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => Number(r.version)));
    const applied: number[] = [];
    for (const m of [...list].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
        m.version,
        m.name,
      ]);
      applied.push(m.version);
    }
    return applied;
  });
}
