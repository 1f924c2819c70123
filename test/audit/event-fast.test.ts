/**
 * The drain's fast path (fastParseOutboxText, src/audit/event.ts) against the
 * schema it copies: for any text, when the fast path returns an event, the
 * schema (unpackEvent, then parseOutboxFields) accepts the text and returns
 * exactly that event; and for the texts the scripts write, the fast path does
 * return one. parseOutboxText (fast path, else the schema) behaves as the
 * schema: the same event, or the same error.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AuditEvent,
  EVENT_TYPES,
  fastParseOutboxText,
  parseOutboxFields,
  parseOutboxText,
  SLOT_NAMES,
} from '../../src/audit/event.js';
import {
  DECISION_FIELDS,
  DECISION_TAG,
  packDecision,
  packEvent,
  UNIT_SEPARATOR,
  unpackEvent,
} from '../../src/engine/outbox-format.js';
import { createTollgate } from '../../src/index.js';
import { ENGINE_KINDS, makeEngine, uid } from '../support/engines.js';

/** The schema's field names (the fast path's slots). */
const NAMES = SLOT_NAMES;

const UUID7 = '01a21718-f580-71a0-87bf-ff7ab50cc300';

/** Values that sit on the edges of the schema's checks. */
const EDGE_VALUES = [
  '',
  '0',
  '1',
  '-1',
  '-0',
  '007',
  '42',
  '1.5',
  '0.62',
  '0.00',
  '100.00',
  '.5',
  '5.',
  '.',
  '..',
  '1.2.3',
  '1e3',
  '1E3',
  ' 12',
  '12 ',
  '+5',
  '0x10',
  '0b1',
  'NaN',
  'Infinity',
  '-Infinity',
  '9007199254740991',
  '9007199254740992',
  '9007199254740993',
  '123456789012345',
  '1234567890123456',
  '0.123456789012345',
  '0.1234567890123456',
  '99999999999999999999',
  '1795695371993',
  'true',
  'x',
  'active',
  'suspended',
  'decision',
  'nope',
  UUID7,
  UUID7.toUpperCase(),
  '01a21718-f580-61a0-87bf-ff7ab50cc300', // version 6
  '01a21718-f580-71a0-c7bf-ff7ab50cc300', // bad variant
  '01a21718-f580-71a0-97bf-ff7ab50cc300',
  '01a21718-f580-71a0-a7bf-ff7ab50cc300',
  '01a21718-f580-71a0-b7bf-ff7ab50cc300',
  '01a21718-f580-71a0-87bf-ff7ab50cc30g',
  '01a21718-f580-71a0-87bf-ff7ab50cc30',
  '01a21718-f580-71a0-87bf-ff7ab50cc3000',
  '01a21718f-580-71a0-87bf-ff7ab50cc300',
  '01a21718-f580-71a0-87bf-ff7ab50cc30é',
  'bench-0001',
  '{"team":"a"}',
  'é',
  '\u{1f4a9}',
  '__proto__',
];

const value: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...EDGE_VALUES) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }).filter((s) => !s.includes(UNIT_SEPARATOR)) },
);

/** A name: one of the schema's, sometimes another. */
const name: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 1, arbitrary: fc.constantFrom('extra', '__proto__', 'constructor', 'e', 'v', 'state') },
);

const INT_FIELDS = new Set([
  'at',
  'estimated_tokens',
  'input_tokens',
  'output_tokens',
  'cost',
  'tokens_used',
  'operations_blocked',
  'session_started_at',
  'session_token_limit',
  'daily_cost_limit',
  'created_at',
  'overrun_tokens',
  'overrun_cost',
  'requests_per_minute',
  'tokens_per_minute',
  'monthly_cost_limit',
]);
const NUM_FIELDS = new Set(['session_utilization', 'daily_utilization']);

/** A value the field takes in the scripts' events (mostly), for events that get through. */
function validValue(field: string): fc.Arbitrary<string> {
  if (INT_FIELDS.has(field)) {
    return fc.oneof(
      fc.constantFrom('', '0', '1', '42', '007', '1795695371993', '9007199254740991', '-5'),
      fc.nat().map(String),
    );
  }
  if (NUM_FIELDS.has(field)) {
    return fc.oneof(
      fc.constantFrom('', '0.00', '0.62', '100.00', '12.5', '3', '.5', '5.', '0.1234567890123456'),
      fc.tuple(fc.nat(99_999), fc.nat(99)).map(([a, b]) => `${a}.${String(b).padStart(2, '0')}`),
    );
  }
  if (field === 'allowed') return fc.constantFrom('', '0', '1', 'x', '10');
  if (field === 'status') return fc.constantFrom('', 'active', 'suspended', 'gone');
  return value;
}

/** Fields of a valid-looking event, then some changed, added or removed. */
const fields: fc.Arbitrary<[string, string][]> = fc
  .record({
    type: fc.constantFrom(...EVENT_TYPES),
    base: fc.array(
      fc.constantFrom(...NAMES.slice(4)).chain((k) => validValue(k).map((v) => [k, v] as const)),
      { maxLength: 14 },
    ),
    state: fc.boolean(),
    edits: fc.array(fc.tuple(name, value), { maxLength: 3 }),
    drop: fc.array(fc.constantFrom(...NAMES), { maxLength: 2 }),
    shuffle: fc.boolean(),
  })
  .map(({ type, base, state, edits, drop, shuffle }) => {
    const f: Record<string, string> = {
      event_id: UUID7,
      at: '1795695371993',
      type,
      agent_id: 'bench-0001',
    };
    if (state) {
      Object.assign(f, {
        status: 'active',
        session_started_at: '1795695371000',
        session_token_limit: '80000',
        daily_cost_limit: '8000000',
        created_at: '1795695370000',
        key_digest: 'ab'.repeat(32),
        metadata: '{}',
        role: 'coder',
        requests_per_minute: '60',
        tokens_per_minute: '6000',
        monthly_cost_limit: '90000000',
        time_zone: 'America/New_York',
      });
    }
    for (const [k, v] of base) f[k] = v;
    const out = Object.entries(f).filter(([k]) => !drop.includes(k as (typeof NAMES)[number]));
    if (shuffle) out.reverse();
    for (const [k, v] of edits) out.push([k, v]);
    return out;
  });

/** The text as the scripts write it (duplicate names kept: the last one wins in both parsers). */
const join = (pairs: [string, string][]) => pairs.flat().join(UNIT_SEPARATOR);

type Verdict = { event: AuditEvent } | { error: string };

function bySchema(text: string): Verdict {
  try {
    return { event: parseOutboxFields(unpackEvent(text)) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

function byParseOutboxText(text: string): Verdict {
  try {
    return { event: parseOutboxText(text) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/**
 * For `runs` texts: when the fast path returns an event, the schema returns
 * the same; parseOutboxText always gives the schema's verdict. Returns how
 * many texts took the fast path.
 */
function agreesWithSchema(texts: fc.Arbitrary<string>, runs: number): number {
  let fast = 0;
  fc.assert(
    fc.property(texts, (text) => {
      const event = fastParseOutboxText(text);
      const schema = bySchema(text);
      if (event !== undefined) {
        fast++;
        expect(schema).toEqual({ event });
      }
      expect(byParseOutboxText(text)).toEqual(schema);
    }),
    { numRuns: runs, seed: 20261126 },
  );
  return fast;
}

describe('fastParseOutboxText', () => {
  it('returns an event only when the schema accepts the text, and then the same event', () => {
    const fast = agreesWithSchema(fields.map(join), 20_000);
    expect(fast).toBeGreaterThan(5_000); // the generator does reach the fast path, often
  });

  it('positional decisions (what authorize writes): the same verdict as the schema', () => {
    const positional = fc
      .record({
        values: fc.tuple(
          ...DECISION_FIELDS.slice(1).map((f) =>
            f === 'event_id'
              ? fc.constantFrom(UUID7, UUID7.toUpperCase(), 'x')
              : f === 'at'
                ? fc.constantFrom('1795695371993', '', '-1', '1.5')
                : f === 'agent_id'
                  ? fc.constantFrom('bench-0001', '')
                  : validValue(f),
          ),
        ),
        cut: fc.constantFrom(0, 0, 0, 1, -1),
      })
      .map(({ values, cut }) => {
        const parts = [DECISION_TAG, ...values];
        if (cut === 1) parts.pop(); // one value short
        if (cut === -1) parts.push('x'); // one too many
        return parts.join(UNIT_SEPARATOR);
      });
    expect(agreesWithSchema(positional, 5_000)).toBeGreaterThan(500);
  });

  it('odd texts: empty, unpaired, empty names, separators at the ends', () => {
    const good = packEvent({ event_id: UUID7, at: '1', type: 'usage', agent_id: 'a' });
    const texts = [
      '',
      UNIT_SEPARATOR,
      'event_id',
      `${good}${UNIT_SEPARATOR}`,
      `${UNIT_SEPARATOR}${good}`,
      `${good}${UNIT_SEPARATOR}${UNIT_SEPARATOR}x`,
      `${good}${UNIT_SEPARATOR}cost`,
      `${good}${UNIT_SEPARATOR}cost${UNIT_SEPARATOR}1${UNIT_SEPARATOR}cost${UNIT_SEPARATOR}2`,
      `${good}${UNIT_SEPARATOR}cost${UNIT_SEPARATOR}1.5${UNIT_SEPARATOR}cost${UNIT_SEPARATOR}2`,
      good,
    ];
    for (const text of texts) {
      const event = fastParseOutboxText(text);
      const schema = bySchema(text);
      if (event !== undefined) expect(schema).toEqual({ event });
      expect(byParseOutboxText(text)).toEqual(schema);
    }
    expect(fastParseOutboxText(good)).toBeDefined();
  });

  it.each(ENGINE_KINDS)('takes every event the %s engine writes', async (kind) => {
    const ut = await makeEngine(kind);
    const tg = await createTollgate({ engine: ut.engine });
    const id = uid('fast');
    try {
      const rec = await tg.identity.registerAgent(id, 'coder', { team: 'a', note: 'é' });
      const d = await tg.guard.checkPermission(id, 'read_file', {
        estimatedTokens: 1000,
        requestId: 'r-1',
      });
      if (!d.allowed) throw new Error('denied');
      await tg.guard.recordOperation(
        id,
        'read_file',
        { inputTokens: 300, outputTokens: 200 },
        'success',
        d.reservation_id,
      );
      await tg.guard.checkPermission(id, 'deploy');
      await tg.budget.deductBudget(id, 10, 10);
      await tg.identity.endSession(rec.session_id);
      await tg.identity.suspendAgent(id);
      await tg.identity.setRole(id, 'tester');
      await tg.identity.deleteAgent(id);
      const events = (await ut.engine.readOutbox()).filter((e) => e.fields.agent_id === id);
      expect(events.length).toBeGreaterThan(8);
      let decisions = 0;
      for (const e of events) {
        const text = packEvent(e.fields);
        expect(fastParseOutboxText(text)).toEqual(parseOutboxFields(e.fields));
        if (e.fields.type === DECISION_TAG) {
          // And as the scripts write a decision: positional.
          const p = packDecision(e.fields);
          expect(unpackEvent(p)).toEqual(e.fields);
          expect(fastParseOutboxText(p)).toEqual(parseOutboxFields(e.fields));
          decisions++;
        }
      }
      expect(decisions).toBe(2);
    } finally {
      await ut.close();
    }
  });
});
