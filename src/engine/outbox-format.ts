/**
 * The outbox entry format of lua/includes/events.lua. A script call appends
 * ONE stream entry to its shard's outbox, whatever the number of events it
 * emitted; the entry's fields are `e`, <event>, `e`, <event>, … in the order
 * the events happened. Each <event> is one text,
 * `name US value US name US value …` (US = \x1f, the ASCII unit separator,
 * which no value holds), starting with `event_id` and `at`; or, for the
 * decision event (authorize's, the hot path), positional: `decision US
 * <event_id> US <at> US …` (DECISION_FIELDS).
 *
 * Pure and allocation-light: it runs in the drain's hot loop (one `split` per
 * event, no regular expression).
 */

/** The field name of every event of an entry. */
export const EVENT_FIELD = 'e';
/** Separates the names and values inside one event's text. */
export const UNIT_SEPARATOR = '\x1f';

/**
 * The decision event, positional (lua/authorize-1.lua, the hot path: no
 * field names to build, append, read and parse): `decision US value US …`,
 * the values of these fields in this order, the first being the type itself.
 * No field name is `decision`, so a text starting with it is this format.
 * `unpackEvent` gives it the same fields, in the same order, as the named
 * format would.
 */
export const DECISION_FIELDS = [
  'type',
  'event_id',
  'at',
  'agent_id',
  'session_id',
  'role',
  'operation',
  'allowed',
  'error_code',
  'exceeded',
  'estimated_tokens',
  'cost',
  'model',
  'reservation_id',
  'request_id',
  'session_utilization',
  'daily_utilization',
  'actor',
] as const;
/** The positional decision's first part (its type): see DECISION_FIELDS. */
export const DECISION_TAG = 'decision';
const DECISION_PREFIX = `${DECISION_TAG}\x1f`;
/** DECISION_FIELDS in the named format's order (event_id, at, type, …). */
const DECISION_NAMED_ORDER = [1, 2, 0, ...DECISION_FIELDS.keys()].filter(
  (k, i, all) => all.indexOf(k) === i,
);

/** Whether `text` is a positional decision event (DECISION_FIELDS). */
export function isPositionalDecision(text: string): boolean {
  return text.startsWith(DECISION_PREFIX);
}

/** A stream entry or an event text that is not in the outbox format. */
export class OutboxFormatError extends Error {
  override readonly name = 'OutboxFormatError';
}

/**
 * The fields of one event text, in their order. Throws OutboxFormatError when
 * the text does not split into name/value pairs (an odd number of parts: the
 * empty text too) or a name is empty. A repeated name: its last value wins.
 * The fields' meaning is not checked here (src/audit/event.ts does that).
 */
export function unpackEvent(text: string): Record<string, string> {
  const parts = text.split(UNIT_SEPARATOR);
  const n = parts.length;
  if (isPositionalDecision(text)) {
    if (n !== DECISION_FIELDS.length) {
      throw new OutboxFormatError(
        `Bad outbox event: a decision of ${n} values, expected ${DECISION_FIELDS.length} (${preview(text)})`,
      );
    }
    const out: Record<string, string> = {};
    for (const k of DECISION_NAMED_ORDER) out[DECISION_FIELDS[k] as string] = parts[k] as string;
    return out;
  }
  if ((n & 1) === 1) {
    throw new OutboxFormatError(
      `Bad outbox event: ${n} parts, expected name/value pairs (${preview(text)})`,
    );
  }
  const out: Record<string, string> = {};
  for (let i = 0; i < n; i += 2) {
    const name = parts[i] as string;
    if (name === '') throw new OutboxFormatError(`Bad outbox event: empty name (${preview(text)})`);
    out[name] = parts[i + 1] as string;
  }
  return out;
}

/**
 * The events of one stream entry, in order. `flat` is the entry's field
 * array as ioredis returns it (`[name, value, name, value, …]`). Strict: a
 * field other than `e`, an odd-length array or a bad event throws
 * OutboxFormatError (the whole entry is refused; the drain, which must not
 * lose an entry's good events, unpacks event by event with `unpackEvent`).
 * An entry with no fields has no events.
 */
export function unpackEntry(flat: readonly string[]): Record<string, string>[] {
  const n = flat.length;
  if ((n & 1) === 1) throw new OutboxFormatError(`Bad outbox entry: ${n} fields and values`);
  const out: Record<string, string>[] = new Array(n >> 1);
  for (let i = 0; i < n; i += 2) {
    if (flat[i] !== EVENT_FIELD) {
      throw new OutboxFormatError(
        `Bad outbox entry: field ${JSON.stringify(flat[i])}, expected ${JSON.stringify(EVENT_FIELD)}`,
      );
    }
    out[i >> 1] = unpackEvent(flat[i + 1] as string);
  }
  return out;
}

/**
 * The text of one event (the inverse of `unpackEvent`), for tests, entries
 * written by hand and dead letters replayed. Throws OutboxFormatError if a
 * name is empty or a name or value holds the separator.
 */
export function packEvent(fields: Readonly<Record<string, string>>): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(fields)) {
    if (name === '' || name.includes(UNIT_SEPARATOR) || value.includes(UNIT_SEPARATOR)) {
      throw new OutboxFormatError(`Cannot pack outbox field ${JSON.stringify(name)}`);
    }
    parts.push(name, value);
  }
  return parts.join(UNIT_SEPARATOR);
}

/**
 * The positional text of a decision event (the inverse of `unpackEvent` for
 * it), for tests. `fields` must have every DECISION_FIELDS name (type
 * `decision`) and no other; throws OutboxFormatError otherwise.
 */
export function packDecision(fields: Readonly<Record<string, string>>): string {
  const names = Object.keys(fields);
  if (
    fields.type !== DECISION_TAG ||
    names.length !== DECISION_FIELDS.length ||
    !DECISION_FIELDS.every((f) => f in fields)
  ) {
    throw new OutboxFormatError('Cannot pack as a positional decision: not its fields');
  }
  const values = DECISION_FIELDS.map((f) => fields[f] as string);
  if (values.some((v) => v.includes(UNIT_SEPARATOR))) {
    throw new OutboxFormatError('Cannot pack a value holding the separator');
  }
  return values.join(UNIT_SEPARATOR);
}

function preview(text: string): string {
  const t = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return JSON.stringify(t);
}
