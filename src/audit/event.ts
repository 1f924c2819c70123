import { z } from 'zod';
import { unpackEvent } from '../engine/outbox-format.js';
import { FastEventParser, SLOT_NAMES } from './event-fast.js';
import {
  type AgentState,
  AgentStateSchema,
  type AuditEvent,
  BudgetAlertSchema,
  EVENT_TYPES,
  EVENT_VERSION,
  poolParts,
  STATE_TYPES,
} from './event-types.js';

export { FastEventParser, fastParseOutboxText, SLOT_NAMES } from './event-fast.js';
export * from './event-types.js';

/**
 * The audit event, version 1: what the scripts append to a shard's outbox
 * (flat text fields, see lua/*.lua and lua/includes/*.lua) parsed once, here,
 * into typed values (AuditEvent, src/audit/event-types.ts). Money is integer
 * micro-dollars; times are ms of Redis time. Events that change an agent carry
 * its new `state`; settle events carry `overrun_tokens` and `overrun_cost`
 * (usage above the hold), `estimated` and `priced_as`; budget_alert events
 * carry `alert` (BudgetAlertSchema). The drain's fast path is src/audit/event-fast.ts.
 */
const text = z.string();
/** '' → null, else the text. */
const optText = text.transform((v) => (v === '' ? null : v));
/** '' → null, else a number (an integer when `integer`). */
function optNumber(integer: boolean) {
  return text.transform((v, ctx) => {
    if (v === '') return null;
    const n = Number(v);
    if (integer ? !Number.isSafeInteger(n) : !Number.isFinite(n)) {
      const what = integer ? 'an integer' : 'a number';
      ctx.addIssue({ code: 'custom', message: `expected ${what}, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return n;
  });
}
const optInt = optNumber(true);
const optNum = optNumber(false);
const optBool = text.transform((v) => (v === '1' ? true : v === '0' ? false : null));

/** The outbox fields as the scripts write them (every value text; absent fields allowed). */
const OutboxFields = z
  .object({
    event_id: z
      .string()
      .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
    at: text,
    type: z.enum(EVENT_TYPES),
    agent_id: text,
    actor: text.default(''),
    session_id: text.default(''),
    role: text.default(''),
    operation: text.default(''),
    allowed: text.default(''),
    error_code: text.default(''),
    exceeded: text.default(''),
    estimated_tokens: text.default(''),
    input_tokens: text.default(''),
    output_tokens: text.default(''),
    cost: text.default(''),
    model: text.default(''),
    reservation_id: text.default(''),
    request_id: text.default(''),
    result: text.default(''),
    session_utilization: text.default(''),
    daily_utilization: text.default(''),
    tokens_used: text.default(''),
    operations_blocked: text.default(''),
    session_started_at: text.default(''),
    status: text.default(''),
    session_token_limit: text.default(''),
    daily_cost_limit: text.default(''),
    key_digest: text.default(''),
    created_at: text.default(''),
    metadata: text.default(''),
    overrun_tokens: text.default(''),
    overrun_cost: text.default(''),
    estimated: text.default(''),
    priced_as: text.default(''),
    requests_per_minute: text.default(''),
    tokens_per_minute: text.default(''),
    monthly_cost_limit: text.default(''),
    time_zone: text.default(''),
    // Pools (event-types.ts poolParts); pool_id is also a budget_alert's.
    pools: text.default(''),
    from_pool_id: text.default(''),
    parent_id: text.default(''),
    root_id: text.default(''),
    daily_limit_micros: text.default(''),
    monthly_limit_micros: text.default(''),
    // budget_alert (the agent's id is agent_id).
    pool_id: text.default(''),
    budget: text.default(''),
    threshold_pct: text.default(''),
    period: text.default(''),
    used: text.default(''),
    limit: text.default(''),
    // A shadow decision (lua/includes/shadow.lua): the denial it let pass.
    would_deny: text.default(''),
  })
  .strict();

// The fast path must know exactly the schema's fields (a field it did not know would only be slow,
// one the schema does not have would be let through): checked once, when this module loads.
if ([...SLOT_NAMES].sort().join() !== Object.keys(OutboxFields.shape).sort().join()) {
  throw new Error('src/audit/event.ts: SLOT_NAMES and the OutboxFields schema differ');
}

export class EventParseError extends Error {
  constructor(
    message: string,
    readonly fields: Record<string, string>,
  ) {
    super(message);
    this.name = 'EventParseError';
  }
}

/** Parses one outbox entry's fields; throws EventParseError naming the bad field. */
export function parseOutboxFields(fields: Record<string, string>): AuditEvent {
  const r = OutboxFields.safeParse(fields);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new EventParseError(
      `Bad outbox entry: ${i?.path.join('.') || '(entry)'}: ${i?.message ?? 'invalid'}`,
      fields,
    );
  }
  const f = r.data;
  const num = (v: string, name: string) => parseWith(optInt, v, name, fields);
  const event: AuditEvent = {
    v: EVENT_VERSION,
    event_id: f.event_id,
    at: num(f.at, 'at') ?? 0,
    type: f.type,
    agent_id: f.agent_id,
    actor: optText.parse(f.actor),
    session_id: optText.parse(f.session_id),
    role: optText.parse(f.role),
    operation: optText.parse(f.operation),
    allowed: optBool.parse(f.allowed),
    error_code: optText.parse(f.error_code),
    exceeded: optText.parse(f.exceeded),
    estimated_tokens: num(f.estimated_tokens, 'estimated_tokens'),
    input_tokens: num(f.input_tokens, 'input_tokens'),
    output_tokens: num(f.output_tokens, 'output_tokens'),
    cost: num(f.cost, 'cost'),
    model: optText.parse(f.model),
    reservation_id: optText.parse(f.reservation_id),
    request_id: optText.parse(f.request_id),
    result: optText.parse(f.result),
    session_utilization: parseWith(optNum, f.session_utilization, 'session_utilization', fields),
    daily_utilization: parseWith(optNum, f.daily_utilization, 'daily_utilization', fields),
    tokens_used: num(f.tokens_used, 'tokens_used'),
    operations_blocked: num(f.operations_blocked, 'operations_blocked'),
    session_started_at: num(f.session_started_at, 'session_started_at'),
    state: null,
    overrun_tokens: num(f.overrun_tokens, 'overrun_tokens'),
    overrun_cost: num(f.overrun_cost, 'overrun_cost'),
    estimated: optBool.parse(f.estimated),
    priced_as: optText.parse(f.priced_as),
  };
  const pools = poolParts(f.type, (name) => f[name]);
  if (pools === undefined) {
    throw new EventParseError(`Bad ${f.type} event: a pool limit is not an integer`, fields);
  }
  Object.assign(event, pools);
  if (f.would_deny !== '') event.would_deny = f.would_deny;
  if (STATE_TYPES.has(f.type)) {
    const s = AgentStateSchema.safeParse({
      role: f.role,
      status: f.status,
      session_id: f.session_id,
      session_started_at: num(f.session_started_at, 'session_started_at'),
      session_token_limit: num(f.session_token_limit, 'session_token_limit'),
      daily_cost_limit: num(f.daily_cost_limit, 'daily_cost_limit'),
      key_digest: f.key_digest,
      created_at: num(f.created_at, 'created_at'),
      metadata: f.metadata,
      ...optionalState(f, fields),
    });
    if (!s.success) {
      const i = s.error.issues[0];
      throw new EventParseError(
        `Bad ${f.type} state: ${i?.path.join('.')}: ${i?.message ?? 'invalid'}`,
        fields,
      );
    }
    event.state = s.data;
  }
  if (f.type === 'budget_alert') {
    const a = BudgetAlertSchema.safeParse({
      pool_id: f.pool_id,
      budget: f.budget,
      threshold_pct: num(f.threshold_pct, 'threshold_pct'),
      period: f.period,
      used: num(f.used, 'used'),
      limit: num(f.limit, 'limit'),
    });
    if (!a.success) {
      const i = a.error.issues[0];
      throw new EventParseError(
        `Bad budget_alert: ${i?.path.join('.')}: ${i?.message ?? 'invalid'}`,
        fields,
      );
    }
    event.alert = a.data;
  }
  return event;
}

/**
 * The state's fields that events appended before they existed lack: each one
 * present only when its outbox field is not '' (the fast parser does the same).
 */
function optionalState(
  f: Record<
    'requests_per_minute' | 'tokens_per_minute' | 'monthly_cost_limit' | 'time_zone' | 'pool_id',
    string
  >,
  fields: Record<string, string>,
): Partial<AgentState> {
  const out: Partial<AgentState> = {};
  for (const k of ['requests_per_minute', 'tokens_per_minute', 'monthly_cost_limit'] as const) {
    const v = parseWith(optInt, f[k], k, fields);
    if (v !== null) out[k] = v;
  }
  if (f.time_zone !== '') out.time_zone = f.time_zone;
  if (f.pool_id !== '') out.pool_id = f.pool_id;
  return out;
}

/**
 * One event's text from an outbox entry, parsed: the fast path, or (for
 * anything it does not take) `unpackEvent` and the schema, which throw
 * OutboxFormatError or EventParseError naming what is wrong. A drain passes
 * its own `fast` parser (one per drain); without one, one is made for the call.
 */
export function parseOutboxText(
  text: string,
  fast: FastEventParser = new FastEventParser(),
): AuditEvent {
  return fast.parse(text) ?? parseOutboxFields(unpackEvent(text));
}

function parseWith<T>(
  schema: z.ZodType<T, string>,
  value: string,
  name: string,
  fields: Record<string, string>,
): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    throw new EventParseError(
      `Bad outbox entry: ${name}: ${r.error.issues[0]?.message ?? 'invalid'}`,
      fields,
    );
  }
  return r.data;
}
