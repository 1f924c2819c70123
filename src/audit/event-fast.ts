import { DECISION_FIELDS, isPositionalDecision } from '../engine/outbox-format.js';
import {
  type AgentState,
  type AuditEvent,
  EVENT_TYPES,
  EVENT_VERSION,
  type EventType,
  STATE_TYPES,
} from './event-types.js';

/**
 * The drain's fast path: one event's text from the outbox
 * (`name US value US …`, src/engine/outbox-format.ts) straight to an
 * AuditEvent, with no intermediate record and no zod run. The zod schema
 * (OutboxFields in src/audit/event.ts) stays the definition: `fastParseOutboxText` is a hand-written copy of
 * it (same fields, same defaults, same checks and conversions) that accepts
 * only what the schema accepts and then returns exactly what
 * `parseOutboxFields(unpackEvent(text))` returns (test/audit/event-fast.test.ts
 * checks this on generated and mutated events). Anything it does not accept
 * (a bad event, an unknown field, a text that does not split into pairs) is
 * handed to the schema, which gives the verdict and the precise error.
 * SLOT_NAMES: every field an outbox event may name (the schema's, checked
 * when src/audit/event.ts loads), in the fast path's slot order.
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
] as const;
const SLOTS = SLOT_NAMES.length;
const SLOT = new Map<string, number>(SLOT_NAMES.map((n, i) => [n, i]));
const TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);
/** Not a value: the fast path gives up and the schema decides. */
const BAD = -1.5;
const POW10 = Array.from({ length: 16 }, (_, k) => 10 ** k);

/** optInt of a text: '' → null, a safe integer, else BAD. */
function fastInt(v: string): number | null {
  if (v === '') return null;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : BAD;
}
/** optNum of a text: '' → null, a finite number, else BAD. */
function fastNum(v: string): number | null {
  if (v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : BAD;
}

/**
 * Where each field's value lies in the text being parsed: [start, end) by
 * slot, start -1 when the field is absent (its default, '', applies). Reused:
 * the drain parses one event at a time, synchronously.
 */
const starts = new Int32Array(SLOTS);
const ends = new Int32Array(SLOTS);
/** The slot of the field at each position in the last event: the next one most likely has the same. */
const order = new Int8Array(64).fill(-1);
/** Each slot's name as char codes, to compare in place (no substring). */
const NAME_CODES = SLOT_NAMES.map((n) => Uint16Array.from(n, (c) => c.charCodeAt(0)));
const US = 0x1f;

/** Whether `slot`'s name, then a separator, starts at `pos`. */
function nameAt(t: string, pos: number, slot: number): boolean {
  const codes = NAME_CODES[slot] as Uint16Array;
  const n = codes.length;
  if (t.charCodeAt(pos + n) !== US) return false; // NaN past the end: false too
  for (let i = 0; i < n; i++) if (t.charCodeAt(pos + i) !== codes[i]) return false;
  return true;
}

/** Lower-case hex digits (0-9, a-f). */
const LOWER_HEX = new Uint8Array(128);
for (const c of '0123456789abcdef') LOWER_HEX[c.charCodeAt(0)] = 1;

/** The schema's event_id pattern (a lower-case UUIDv7: 8-4-4-4-12, version 7, variant 8-b), without a regular expression. */
function isEventId(v: string): boolean {
  if (v.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = v.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return false;
    } else if (c >= 128 || LOWER_HEX[c] !== 1) {
      return false;
    }
  }
  const variant = v.charCodeAt(19);
  return (
    v.charCodeAt(14) === 55 &&
    (variant === 56 || variant === 57 || variant === 97 || variant === 98)
  );
}

/** fastInt of text[s, e) (absent: null), reading plain digits without making a string. */
function intAt(t: string, s: number, e: number): number | null {
  if (s < 0 || s === e) return null;
  if (e - s <= 15) {
    let n = 0;
    for (let i = s; i < e; i++) {
      const d = t.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return fastInt(t.slice(s, e));
      n = n * 10 + d;
    }
    return n;
  }
  return fastInt(t.slice(s, e));
}

/**
 * fastNum of text[s, e) (absent: null): `digits[.digits]` with at most 15
 * digits is read directly (n / 10^k, both exact, so the quotient rounds to the
 * same double as Number() reading the decimal); anything else goes to Number().
 */
function numAt(t: string, s: number, e: number): number | null {
  if (s < 0 || s === e) return null;
  let n = 0;
  let digits = 0;
  let dot = -1;
  for (let i = s; i < e; i++) {
    const c = t.charCodeAt(i);
    if (c === 46 && dot < 0) {
      dot = i;
      continue;
    }
    const d = c - 48;
    if (d < 0 || d > 9) return fastNum(t.slice(s, e));
    n = n * 10 + d;
    digits++;
  }
  if (digits === 0 || digits > 15) return fastNum(t.slice(s, e));
  return dot < 0 ? n : n / (POW10[e - dot - 1] as number);
}

/** optText of a slot: absent or '' → null. */
function textAt(t: string, slot: number): string | null {
  const s = starts[slot] as number;
  const e = ends[slot] as number;
  return s < 0 || s === e ? null : t.slice(s, e);
}

/** The raw text of a slot ('' when absent: the schema's default). */
function rawAt(t: string, slot: number): string {
  const s = starts[slot] as number;
  return s < 0 ? '' : t.slice(s, ends[slot]);
}

/**
 * `text` parsed as `parseOutboxFields(unpackEvent(text))` would, or undefined
 * when it is anything but a plain valid event (then ask the schema). Exported
 * for the equivalence test; use `parseOutboxText`.
 */
export function fastParseOutboxText(t: string): AuditEvent | undefined {
  starts.fill(-1);
  const end = t.length;
  if (isPositionalDecision(t)) {
    if (!slotsOfDecision(t)) return undefined;
    return fromSlots(t);
  }
  let pos = 0;
  for (let k = 0; ; k++) {
    let slot = k < 64 ? (order[k] as number) : -1;
    let sep: number;
    if (slot >= 0 && nameAt(t, pos, slot)) {
      sep = pos + (NAME_CODES[slot] as Uint16Array).length;
    } else {
      sep = t.indexOf('\x1f', pos);
      if (sep < 0) return undefined; // a name with no value (or the empty text)
      const found = SLOT.get(t.slice(pos, sep));
      if (found === undefined) return undefined; // an unknown (or empty) name
      slot = found;
      if (k < 64) order[k] = slot;
    }
    const next = t.indexOf('\x1f', sep + 1);
    starts[slot] = sep + 1;
    ends[slot] = next < 0 ? end : next;
    if (next < 0) break;
    pos = next + 1;
    if (pos === end) return undefined; // a trailing separator: an empty name
  }
  return fromSlots(t);
}

/** The slots of DECISION_FIELDS, in their order. */
const DECISION_SLOTS = DECISION_FIELDS.map((f) => SLOT.get(f) as number);

/** Marks the values of a positional decision (all of DECISION_FIELDS, no more) in starts/ends. */
function slotsOfDecision(t: string): boolean {
  const end = t.length;
  let pos = 0;
  const n = DECISION_SLOTS.length;
  for (let k = 0; k < n; k++) {
    const slot = DECISION_SLOTS[k] as number;
    const next = t.indexOf('\x1f', pos);
    if (next < 0 !== (k === n - 1)) return false; // too few or too many values
    starts[slot] = pos;
    ends[slot] = next < 0 ? end : next;
    pos = next + 1;
  }
  return true;
}

/** The event whose values starts/ends mark in `t`, or undefined (see fastParseOutboxText). */
function fromSlots(t: string): AuditEvent | undefined {
  // Required: event_id (a UUIDv7), at, type (one of EVENT_TYPES), agent_id.
  if ((starts[0] as number) < 0 || (starts[1] as number) < 0 || (starts[3] as number) < 0) {
    return undefined;
  }
  const eventId = rawAt(t, 0);
  const type = rawAt(t, 2);
  if (!isEventId(eventId) || !TYPE_SET.has(type)) return undefined;
  const at = intAt(t, starts[1] as number, ends[1] as number);
  const estimated = intAt(t, starts[11] as number, ends[11] as number);
  const input = intAt(t, starts[12] as number, ends[12] as number);
  const output = intAt(t, starts[13] as number, ends[13] as number);
  const cost = intAt(t, starts[14] as number, ends[14] as number);
  const sUtil = numAt(t, starts[19] as number, ends[19] as number);
  const dUtil = numAt(t, starts[20] as number, ends[20] as number);
  const tokensUsed = intAt(t, starts[21] as number, ends[21] as number);
  const blocked = intAt(t, starts[22] as number, ends[22] as number);
  const sStart = intAt(t, starts[23] as number, ends[23] as number);
  const overTokens = intAt(t, starts[30] as number, ends[30] as number);
  const overCost = intAt(t, starts[31] as number, ends[31] as number);
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
  const role = rawAt(t, 6);
  const sessionId = rawAt(t, 5);
  let state: AgentState | null = null;
  if (STATE_TYPES.has(type as EventType)) {
    const status = rawAt(t, 24);
    const sLimit = intAt(t, starts[25] as number, ends[25] as number);
    const dLimit = intAt(t, starts[26] as number, ends[26] as number);
    const created = intAt(t, starts[28] as number, ends[28] as number);
    if (
      (status !== 'active' && status !== 'suspended') ||
      sStart === null ||
      sLimit === null ||
      sLimit === BAD ||
      dLimit === null ||
      dLimit === BAD ||
      created === null ||
      created === BAD
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
      key_digest: rawAt(t, 27),
      created_at: created,
      metadata: rawAt(t, 29),
    };
  }
  const as = starts[8] as number;
  const allowed =
    as < 0 || (ends[8] as number) - as !== 1
      ? null
      : t.charCodeAt(as) === 49
        ? true
        : t.charCodeAt(as) === 48
          ? false
          : null;
  return {
    v: EVENT_VERSION,
    event_id: eventId,
    at: at ?? 0,
    type: type as EventType,
    agent_id: rawAt(t, 3),
    actor: textAt(t, 4),
    session_id: sessionId === '' ? null : sessionId,
    role: role === '' ? null : role,
    operation: textAt(t, 7),
    allowed,
    error_code: textAt(t, 9),
    exceeded: textAt(t, 10),
    estimated_tokens: estimated,
    input_tokens: input,
    output_tokens: output,
    cost,
    model: textAt(t, 15),
    reservation_id: textAt(t, 16),
    request_id: textAt(t, 17),
    result: textAt(t, 18),
    session_utilization: sUtil,
    daily_utilization: dUtil,
    tokens_used: tokensUsed,
    operations_blocked: blocked,
    session_started_at: sStart,
    state,
    overrun_tokens: overTokens,
    overrun_cost: overCost,
  };
}
