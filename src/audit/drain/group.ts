import { EVENT_FIELD, OutboxFormatError, unpackEvent } from '../../engine/outbox-format.js';
import {
  type AuditEvent,
  EventParseError,
  type FastEventParser,
  parseOutboxText,
} from '../event.js';
import type { AuditStore } from '../store/types.js';
import type { DeadLetter } from './redis-outbox.js';

/**
 * One insert group of a drain (src/audit/drain/drain.ts): entries whose
 * events are inserted (≤ `batch` per insert), then acknowledged together. The
 * events are kept as parallel arrays (no wrapper object per event).
 */
export interface Group {
  /** The entries, to acknowledge. */
  ids: string[];
  /** The parsed events, in outbox order. */
  evs: AuditEvent[];
  /** Per event: its entry's id and its text (for a dead letter if the store refuses it). */
  from: string[];
  texts: string[];
  dead: DeadLetter[];
  /** Events read (parsed, or dead-lettered as unreadable). */
  events: number;
}

export function newGroup(): Group {
  return { ids: [], evs: [], from: [], texts: [], dead: [], events: 0 };
}

/** Parses one event's text into the group; a bad one becomes its dead letter. */
function addEvent(g: Group, id: string, text: string, fast: FastEventParser): void {
  g.events++;
  let event: AuditEvent;
  try {
    event = parseOutboxText(text, fast);
  } catch (e) {
    if (e instanceof OutboxFormatError) {
      g.dead.push({ id, fields: {}, error: e.message, event: text });
      return;
    }
    if (e instanceof EventParseError) {
      g.dead.push({ id, fields: e.fields, error: e.message, event: text });
      return;
    }
    throw e;
  }
  g.evs.push(event);
  g.from.push(id);
  g.texts.push(text);
}

/**
 * Adds one stream entry's events to the group (`flat`: its `e`, <event>
 * pairs, src/engine/outbox-format.ts). Fields other than `e` are not events:
 * they become one dead letter, beside the entry's events or (an entry with no
 * `e` field at all) instead of them.
 */
export function addEntry(
  g: Group,
  id: string,
  flat: readonly string[],
  fast: FastEventParser,
): void {
  let stray: Record<string, string> | undefined;
  let hasEvents = false;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = flat[i] as string;
    const value = flat[i + 1] as string;
    if (name === EVENT_FIELD) {
      hasEvents = true;
      addEvent(g, id, value, fast);
    } else {
      stray ??= {};
      stray[name] = value;
    }
  }
  if (stray === undefined) return;
  const names = Object.keys(stray).join(', ');
  g.dead.push({
    id,
    fields: stray,
    error: hasEvents
      ? `Bad outbox entry: fields beside its events: ${names}`
      : `Bad outbox entry: ${names}: no ${JSON.stringify(EVENT_FIELD)} field, no events`,
  });
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity constraint): this data, not the database. */
function isDataError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Stores `g.evs[lo, hi)` in one insert. If the database refuses the data
 * itself (a value out of range, a constraint), splits the range in halves and
 * goes on down to the single event it refuses, which is returned to be
 * dead-lettered; the rest is stored. Any other error (the store is down) is
 * thrown: nothing is acknowledged, and the entries are retried.
 */
async function insertSplitting(
  store: AuditStore,
  g: Group,
  lo: number,
  hi: number,
): Promise<{ inserted: number; refused: DeadLetter[] }> {
  if (hi <= lo) return { inserted: 0, refused: [] };
  try {
    const slice = lo === 0 && hi === g.evs.length ? g.evs : g.evs.slice(lo, hi);
    return { inserted: await store.insertEvents(slice), refused: [] };
  } catch (e) {
    if (!isDataError(e)) throw e;
    if (hi - lo === 1) {
      const text = g.texts[lo] as string;
      const error = `store: ${message(e)}`;
      return {
        inserted: 0,
        refused: [{ id: g.from[lo] as string, fields: unpackEvent(text), error, event: text }],
      };
    }
    const mid = lo + Math.ceil((hi - lo) / 2);
    const a = await insertSplitting(store, g, lo, mid);
    const b = await insertSplitting(store, g, mid, hi);
    return { inserted: a.inserted + b.inserted, refused: [...a.refused, ...b.refused] };
  }
}

/**
 * Inserts a group's events, at most `batch` per insert. The events the store
 * refuses as data join the group's dead letters; `inserted` counts the rows
 * the store did not have before, `refused` the events it refused.
 */
export async function insertGroup(
  store: AuditStore,
  g: Group,
  batch: number,
): Promise<{ inserted: number; refused: number }> {
  let inserted = 0;
  let refused = 0;
  const n = g.evs.length;
  for (let k = 0; k < n; k += batch) {
    const r = await insertSplitting(store, g, k, Math.min(n, k + batch));
    inserted += r.inserted;
    refused += r.refused.length;
    for (const d of r.refused) g.dead.push(d);
  }
  return { inserted, refused };
}
