import { DECISION_FIELDS, isPositionalDecision, UNIT_SEPARATOR } from '../engine/outbox-format.js';
import * as values from './event-fast-values.js';
import {
  type AgentState,
  ALERT_BUDGETS,
  type AuditEvent,
  type BudgetAlert,
  EVENT_TYPES,
  EVENT_VERSION,
  type EventType,
  MAX_THRESHOLD_PCT,
  poolParts,
  STATE_TYPES,
} from './event-types.js';

/**
 * The drain's fast path: one event's text from the outbox
 * (`name US value US …`, src/engine/outbox-format.ts) straight to an
 * AuditEvent, with no intermediate record and no zod run. The zod schema
 * (OutboxFields in src/audit/event.ts) stays the definition: FastEventParser
 * is a hand-written copy of it (same fields, same defaults, same checks and
 * conversions) that accepts only what the schema accepts and then returns
 * exactly what `parseOutboxFields(unpackEvent(text))` returns
 * (test/audit/event-fast.test.ts checks this on generated and mutated events).
 * Anything it does not accept (a bad event, an unknown field, a text that does
 * not split into pairs) is handed to the schema, which gives the verdict and
 * the precise error (docs/audit.md, "Parsing: the schema, and a fast path
 * that agrees with it").
 *
 * SLOT_NAMES: every field an outbox event may name (the schema's, checked
 * when src/audit/event.ts loads); a field's slot is its index here (SLOT).
 */
export const SLOT_NAMES = [
  'event_id',
  'at',
  'type',
  'agent_id',
  'actor',
  'session_id',
  'role',
  'operation',
  'allowed',
  'error_code',
  'exceeded',
  'estimated_tokens',
  'input_tokens',
  'output_tokens',
  'cost',
  'model',
  'reservation_id',
  'request_id',
  'result',
  'session_utilization',
  'daily_utilization',
  'tokens_used',
  'operations_blocked',
  'session_started_at',
  'status',
  'session_token_limit',
  'daily_cost_limit',
  'key_digest',
  'created_at',
  'metadata',
  'overrun_tokens',
  'overrun_cost',
  'estimated',
  'priced_as',
  'requests_per_minute',
  'tokens_per_minute',
  'monthly_cost_limit',
  'time_zone',
  'pools',
  'from_pool_id',
  'parent_id',
  'root_id',
  'daily_limit_micros',
  'monthly_limit_micros',
  'pool_id',
  'budget',
  'threshold_pct',
  'period',
  'used',
  'limit',
  'would_deny',
] as const;
type SlotName = (typeof SLOT_NAMES)[number];

/** Each field's slot, by name: `SLOT.cost` is the index of 'cost' in SLOT_NAMES. */
const SLOT = Object.freeze(Object.fromEntries(SLOT_NAMES.map((n, i) => [n, i]))) as {
  readonly [K in SlotName]: number;
};
const SLOTS = SLOT_NAMES.length;
/** A field name read from a text → its slot (a Map: a name like `__proto__` is just unknown). */
const SLOT_OF = new Map<string, number>(SLOT_NAMES.map((n, i) => [n, i]));
/** Each slot's name as char codes, to compare in place (no substring). */
const NAME_CODES = SLOT_NAMES.map((n) => Uint16Array.from(n, (c) => c.charCodeAt(0)));
/** The slots of DECISION_FIELDS, in their order (the positional decision's values). */
const DECISION_SLOTS = DECISION_FIELDS.map((f) => SLOT[f]);
const TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);
const BUDGET_SET: ReadonlySet<string> = new Set(ALERT_BUDGETS);
/** How many leading field positions a parser remembers the slot of (see FastEventParser.order). */
const REMEMBERED = 64;

/**
 * The separator and the value readers, bound to this module's own constants.
 * Compiled by tsc and run by Node, using the imports directly is as fast; run
 * through tsx (the benchmarks) or vitest, the parser measured 1.6× slower
 * with them, which would move bench:audit's figures (docs/audit.md).
 */
const SEP = UNIT_SEPARATOR;
const { BAD, boolAt, intAt, isEventId, numAt } = values;
const US = SEP.charCodeAt(0);

/** Whether `slot`'s name, then a separator, starts at `pos`. */
function nameAt(t: string, pos: number, slot: number): boolean {
  const codes = NAME_CODES[slot] as Uint16Array;
  const n = codes.length;
  if (t.charCodeAt(pos + n) !== US) return false; // NaN past the end: false too
  for (let i = 0; i < n; i++) if (t.charCodeAt(pos + i) !== codes[i]) return false;
  return true;
}

/**
 * The fast path with its working buffers: one parser per drain (it parses
 * one event at a time, synchronously), never shared, so each remembers the
 * field order of its own events (`order`). A parser made per event measured
 * about 2.5× slower (docs/audit.md): the drain keeps one.
 */
export class FastEventParser {
  /** Where each field's value lies in the text being parsed: [start, end) by slot, start -1 when absent (its default, '', applies). */
  private readonly starts = new Int32Array(SLOTS);
  private readonly ends = new Int32Array(SLOTS);
  /** The slot of the field at each position in the last event: the next one most likely has the same. */
  private readonly order = new Int8Array(REMEMBERED).fill(-1);

  /**
   * `t` parsed as `parseOutboxFields(unpackEvent(t))` would, or undefined
   * when it is anything but a plain valid event (then ask the schema).
   */
  parse(t: string): AuditEvent | undefined {
    this.starts.fill(-1);
    if (isPositionalDecision(t)) return this.markDecision(t) ? this.event(t) : undefined;
    return this.markNamed(t) ? this.event(t) : undefined;
  }

  /** Marks the values of a named text (`name US value US …`); false when a name is unknown or a pair is broken. */
  private markNamed(t: string): boolean {
    const { starts, ends, order } = this;
    const end = t.length;
    let pos = 0;
    for (let k = 0; ; k++) {
      let slot = k < REMEMBERED ? (order[k] as number) : -1;
      let sep: number;
      if (slot >= 0 && nameAt(t, pos, slot)) {
        sep = pos + (NAME_CODES[slot] as Uint16Array).length;
      } else {
        sep = t.indexOf(SEP, pos);
        if (sep < 0) return false; // a name with no value (or the empty text)
        const found = SLOT_OF.get(t.slice(pos, sep));
        if (found === undefined) return false; // an unknown (or empty) name
        slot = found;
        if (k < REMEMBERED) order[k] = slot;
      }
      const next = t.indexOf(SEP, sep + 1);
      starts[slot] = sep + 1;
      ends[slot] = next < 0 ? end : next;
      if (next < 0) return true;
      pos = next + 1;
      if (pos === end) return false; // a trailing separator: an empty name
    }
  }

  /** Marks the values of a positional decision (all of DECISION_FIELDS, no more). */
  private markDecision(t: string): boolean {
    const { starts, ends } = this;
    const end = t.length;
    let pos = 0;
    const n = DECISION_SLOTS.length;
    for (let k = 0; k < n; k++) {
      const slot = DECISION_SLOTS[k] as number;
      const next = t.indexOf(SEP, pos);
      if (next < 0 !== (k === n - 1)) return false; // too few or too many values
      starts[slot] = pos;
      ends[slot] = next < 0 ? end : next;
      pos = next + 1;
    }
    return true;
  }

  /** optInt of a slot: absent or '' → null, BAD when not a safe integer. */
  private int(t: string, slot: number): number | null {
    return intAt(t, this.starts[slot] as number, this.ends[slot] as number);
  }

  /** optNum of a slot: absent or '' → null, BAD when not a finite number. */
  private num(t: string, slot: number): number | null {
    return numAt(t, this.starts[slot] as number, this.ends[slot] as number);
  }

  /** optText of a slot: absent or '' → null. */
  private text(t: string, slot: number): string | null {
    const s = this.starts[slot] as number;
    const e = this.ends[slot] as number;
    return s < 0 || s === e ? null : t.slice(s, e);
  }

  /** The raw text of a slot ('' when absent: the schema's default). */
  private raw(t: string, slot: number): string {
    const s = this.starts[slot] as number;
    return s < 0 ? '' : t.slice(s, this.ends[slot]);
  }

  /** optBool of a slot: '1' → true, '0' → false, anything else (or absent) null. */
  private bool(t: string, slot: number): boolean | null {
    return boolAt(t, this.starts[slot] as number, this.ends[slot] as number);
  }

  /** The event whose values are marked in `t`, or undefined (see parse). */
  private event(t: string): AuditEvent | undefined {
    const { starts } = this;
    // Required: event_id (a UUIDv7), at, type (one of EVENT_TYPES), agent_id.
    if (
      (starts[SLOT.event_id] as number) < 0 ||
      (starts[SLOT.at] as number) < 0 ||
      (starts[SLOT.agent_id] as number) < 0
    ) {
      return undefined;
    }
    const eventId = this.raw(t, SLOT.event_id);
    const type = this.raw(t, SLOT.type);
    if (!isEventId(eventId) || !TYPE_SET.has(type)) return undefined;
    const at = this.int(t, SLOT.at);
    const estimated = this.int(t, SLOT.estimated_tokens);
    const input = this.int(t, SLOT.input_tokens);
    const output = this.int(t, SLOT.output_tokens);
    const cost = this.int(t, SLOT.cost);
    const sUtil = this.num(t, SLOT.session_utilization);
    const dUtil = this.num(t, SLOT.daily_utilization);
    const tokensUsed = this.int(t, SLOT.tokens_used);
    const blocked = this.int(t, SLOT.operations_blocked);
    const sStart = this.int(t, SLOT.session_started_at);
    const overTokens = this.int(t, SLOT.overrun_tokens);
    const overCost = this.int(t, SLOT.overrun_cost);
    if (
      at === BAD ||
      estimated === BAD ||
      input === BAD ||
      output === BAD ||
      cost === BAD ||
      sUtil === BAD ||
      dUtil === BAD ||
      tokensUsed === BAD ||
      blocked === BAD ||
      sStart === BAD ||
      overTokens === BAD ||
      overCost === BAD
    ) {
      return undefined;
    }
    const role = this.raw(t, SLOT.role);
    const sessionId = this.raw(t, SLOT.session_id);
    let state: AgentState | null = null;
    if (STATE_TYPES.has(type as EventType)) {
      const status = this.raw(t, SLOT.status);
      const sLimit = this.int(t, SLOT.session_token_limit);
      const dLimit = this.int(t, SLOT.daily_cost_limit);
      const created = this.int(t, SLOT.created_at);
      const rpm = this.int(t, SLOT.requests_per_minute);
      const tpm = this.int(t, SLOT.tokens_per_minute);
      const mLimit = this.int(t, SLOT.monthly_cost_limit);
      if (
        (status !== 'active' && status !== 'suspended') ||
        sStart === null ||
        sLimit === null ||
        sLimit === BAD ||
        dLimit === null ||
        dLimit === BAD ||
        created === null ||
        created === BAD ||
        rpm === BAD ||
        tpm === BAD ||
        mLimit === BAD
      ) {
        return undefined;
      }
      state = {
        role,
        status,
        session_id: sessionId,
        session_started_at: sStart,
        session_token_limit: sLimit,
        daily_cost_limit: dLimit,
        key_digest: this.raw(t, SLOT.key_digest),
        created_at: created,
        metadata: this.raw(t, SLOT.metadata),
      };
      // Absent from events appended before they existed: set only when given (as the schema does).
      if (rpm !== null) state.requests_per_minute = rpm;
      if (tpm !== null) state.tokens_per_minute = tpm;
      if (mLimit !== null) state.monthly_cost_limit = mLimit;
      const zone = this.text(t, SLOT.time_zone);
      if (zone !== null) state.time_zone = zone;
      const pool = this.text(t, SLOT.pool_id);
      if (pool !== null) state.pool_id = pool;
    }
    let alert: BudgetAlert | undefined;
    if (type === 'budget_alert') {
      alert = this.alert(t);
      if (alert === undefined) return undefined;
    }
    const event: AuditEvent = {
      v: EVENT_VERSION,
      event_id: eventId,
      at: at ?? 0,
      type: type as EventType,
      agent_id: this.raw(t, SLOT.agent_id),
      actor: this.text(t, SLOT.actor),
      session_id: sessionId === '' ? null : sessionId,
      role: role === '' ? null : role,
      operation: this.text(t, SLOT.operation),
      allowed: this.bool(t, SLOT.allowed),
      error_code: this.text(t, SLOT.error_code),
      exceeded: this.text(t, SLOT.exceeded),
      estimated_tokens: estimated,
      input_tokens: input,
      output_tokens: output,
      cost,
      model: this.text(t, SLOT.model),
      reservation_id: this.text(t, SLOT.reservation_id),
      request_id: this.text(t, SLOT.request_id),
      result: this.text(t, SLOT.result),
      session_utilization: sUtil,
      daily_utilization: dUtil,
      tokens_used: tokensUsed,
      operations_blocked: blocked,
      session_started_at: sStart,
      state,
      overrun_tokens: overTokens,
      overrun_cost: overCost,
      estimated: this.bool(t, SLOT.estimated),
      priced_as: this.text(t, SLOT.priced_as),
    };
    const pools = poolParts(type as EventType, (name) => this.raw(t, SLOT[name]));
    if (pools === undefined) return undefined;
    Object.assign(event, pools);
    const wouldDeny = this.text(t, SLOT.would_deny);
    if (wouldDeny !== null) event.would_deny = wouldDeny;
    if (alert !== undefined) event.alert = alert;
    return event;
  }

  /** A budget_alert's crossing (BudgetAlertSchema's checks), or undefined when it is not valid. */
  private alert(t: string): BudgetAlert | undefined {
    const budget = this.raw(t, SLOT.budget);
    const pct = this.int(t, SLOT.threshold_pct);
    const used = this.int(t, SLOT.used);
    const limit = this.int(t, SLOT.limit);
    const period = this.raw(t, SLOT.period);
    if (
      !BUDGET_SET.has(budget) ||
      period === '' ||
      pct === null ||
      pct === BAD ||
      pct < 1 ||
      pct > MAX_THRESHOLD_PCT ||
      used === null ||
      used === BAD ||
      used < 0 ||
      limit === null ||
      limit === BAD ||
      limit < 0
    ) {
      return undefined;
    }
    return {
      pool_id: this.raw(t, SLOT.pool_id),
      budget: budget as BudgetAlert['budget'],
      threshold_pct: pct,
      period,
      used,
      limit,
    };
  }
}

/**
 * One text through a parser made for it (for tests and one-off reads; a
 * drain keeps one FastEventParser for all its events).
 */
export function fastParseOutboxText(t: string): AuditEvent | undefined {
  return new FastEventParser().parse(t);
}
