/**
 * The outbox entry format (src/engine/outbox-format.ts, lua/includes/events.lua):
 * an entry is `e`, <event>, `e`, <event>, …; an event is its names and values
 * joined by the unit separator.
 */
import { describe, expect, it } from 'vitest';
import {
  EVENT_FIELD,
  OutboxFormatError,
  packEvent,
  UNIT_SEPARATOR,
  unpackEntry,
  unpackEvent,
} from '../../src/engine/index.js';

const US = '\x1f';

const decision = {
  event_id: '0190a5b2-3c4d-7abc-8def-0123456789ab',
  at: '1720000000000',
  type: 'decision',
  agent_id: 'a-1',
  session_id: 'a-1.000001aabbccddee',
  operation: 'read_file',
  allowed: '1',
  error_code: '',
  exceeded: '',
  metadata: '{"team":"a","n":[1,2]}',
  actor: 'library',
};
const release = {
  event_id: '0190a5b2-3c4d-7abc-8def-0123456789ac',
  at: '1720000000000',
  type: 'release',
  agent_id: 'a-1',
  result: 'lease_expired',
};

describe('outbox format', () => {
  it('the separator is the ASCII unit separator, the field name `e`', () => {
    expect(UNIT_SEPARATOR).toBe(US);
    expect(EVENT_FIELD).toBe('e');
  });

  it('round trip: packEvent then unpackEvent gives the fields, in order, empty values kept', () => {
    const text = packEvent(decision);
    expect(text.startsWith(`event_id${US}${decision.event_id}${US}at${US}`)).toBe(true);
    const back = unpackEvent(text);
    expect(back).toEqual(decision);
    expect(Object.keys(back)).toEqual(Object.keys(decision));
    expect(packEvent(back)).toBe(text);
  });

  it('reads the text the scripts write (a trailing empty value included)', () => {
    const text = ['event_id', 'x', 'at', '17', 'type', 'usage', 'operation', '', 'actor', ''].join(
      US,
    );
    expect(unpackEvent(text)).toEqual({
      event_id: 'x',
      at: '17',
      type: 'usage',
      operation: '',
      actor: '',
    });
  });

  it('an entry with several events: all of them, in order', () => {
    const flat = ['e', packEvent(release), 'e', packEvent(decision), 'e', packEvent(release)];
    expect(unpackEntry(flat)).toEqual([release, decision, release]);
    expect(unpackEntry(['e', packEvent(decision)])).toEqual([decision]);
    expect(unpackEntry([])).toEqual([]);
  });

  it('a bad event: not name/value pairs, or an empty name', () => {
    expect(() => unpackEvent(`event_id${US}x${US}at`)).toThrow(OutboxFormatError);
    expect(() => unpackEvent('')).toThrow(/Bad outbox event: 1 parts/);
    expect(() => unpackEvent(`event_id${US}x${US}${US}v`)).toThrow(/empty name/);
    expect(() => unpackEvent('event_id=x')).toThrow(OutboxFormatError);
    // In an entry: the whole entry is refused (the drain goes event by event instead).
    expect(() => unpackEntry(['e', packEvent(decision), 'e', `type${US}x${US}at`])).toThrow(
      OutboxFormatError,
    );
  });

  it('an entry with fields other than `e` (the earlier flat format, a hand-written XADD) is refused', () => {
    expect(() => unpackEntry(['event_id', 'x', 'type', 'decision'])).toThrow(
      /field "event_id", expected "e"/,
    );
    expect(() => unpackEntry(['e', packEvent(decision), 'x', '1'])).toThrow(OutboxFormatError);
    expect(() => unpackEntry(['e'])).toThrow(/1 fields and values/);
  });

  it('a repeated name: the last value wins', () => {
    expect(unpackEvent(['a', '1', 'a', '2'].join(US))).toEqual({ a: '2' });
  });

  it('packEvent refuses what could not be read back', () => {
    expect(() => packEvent({ a: `x${US}y` })).toThrow(OutboxFormatError);
    expect(() => packEvent({ '': 'x' })).toThrow(OutboxFormatError);
  });
});
