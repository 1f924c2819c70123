/**
 * The insert's column arrays in PostgreSQL's binary format
 * (src/audit/store/pg-binary.ts): what it refuses to write (the text literal
 * goes instead, and the server judges it as before), and a round trip of edge
 * values through PostgreSQL and PGlite (which gets plain arrays), read back
 * equal.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/event.js';
import { type AuditStore, createStore } from '../../src/audit/store/index.js';
import { encodeBinaryArray } from '../../src/audit/store/pg-binary.js';
import { PostgresStore } from '../../src/audit/store/postgres.js';
import { COLUMN_NAMES, toColumns } from '../../src/audit/store/queries.js';
import { eventId, RandomPool } from '../../src/engine/random.js';

const databaseUrl = inject('databaseUrl');

describe('encodeBinaryArray', () => {
  it('writes the array header and elements (NULL as length -1)', () => {
    const b = encodeBinaryArray('bigint', [1, null, -2]) as Buffer;
    expect([...Array.from({ length: 5 }, (_, i) => b.readInt32BE(4 * i))]).toEqual([
      1, 1, 20, 3, 1,
    ]);
    expect(b.readInt32BE(20)).toBe(8);
    expect(b.readBigInt64BE(24)).toBe(1n);
    expect(b.readInt32BE(32)).toBe(-1);
    expect(b.readInt32BE(36)).toBe(8);
    expect(b.readBigInt64BE(40)).toBe(-2n);
    expect(b.length).toBe(48);
    const t = encodeBinaryArray('text', ['ab', 'é']) as Buffer;
    expect(t.readInt32BE(4)).toBe(0); // no NULLs
    expect(t.subarray(20).toString('hex')).toBe(
      `00000002${'ab'.replace(/./g, (c) => c.charCodeAt(0).toString(16))}00000002c3a9`,
    );
  });

  it('returns undefined for a value it cannot write as the text form reads (the literal goes instead)', () => {
    expect(encodeBinaryArray('uuid', ['not-a-uuid'])).toBeUndefined();
    expect(encodeBinaryArray('uuid', ['{01a21718-f580-71a0-87bf-ff7ab50cc300}'])).toBeUndefined();
    expect(encodeBinaryArray('bigint', [1.5])).toBeUndefined();
    expect(encodeBinaryArray('bigint', [2 ** 53])).toBeUndefined();
    expect(encodeBinaryArray('bigint', ['1'])).toBeUndefined();
    expect(encodeBinaryArray('smallint', [40_000])).toBeUndefined();
    expect(encodeBinaryArray('boolean', ['t'])).toBeUndefined();
    expect(encodeBinaryArray('text', [1])).toBeUndefined();
    expect(encodeBinaryArray('jsonb', [{}])).toBeUndefined();
    expect(encodeBinaryArray('double precision', ['1'])).toBeUndefined();
    expect(encodeBinaryArray('uuid', ['01A21718-F580-71A0-87BF-FF7AB50CC300'])).toBeDefined();
  });
});

const pool = new RandomPool();

function event(over: Partial<AuditEvent>, n: number): AuditEvent {
  const at = 1_795_695_371_993 + n;
  return {
    v: 1,
    event_id: eventId(at, pool.eventTail(), n),
    at,
    type: 'usage',
    agent_id: 'edge-agent',
    actor: 'library',
    session_id: 'edge-agent.000001aabbccddee',
    role: 'coder',
    operation: 'read_file',
    allowed: null,
    error_code: null,
    exceeded: null,
    estimated_tokens: null,
    input_tokens: 10,
    output_tokens: 5,
    cost: 7,
    model: 'm',
    reservation_id: null,
    request_id: null,
    result: 'success',
    session_utilization: 0.01,
    daily_utilization: 0.02,
    tokens_used: null,
    operations_blocked: null,
    session_started_at: null,
    state: null,
    overrun_tokens: null,
    overrun_cost: null,
    estimated: null,
    priced_as: null,
    ...over,
  };
}

const EDGES: Partial<AuditEvent>[] = [
  {},
  { cost: -9_007_199_254_740_991, input_tokens: 9_007_199_254_740_991, output_tokens: 0 },
  { cost: -1, input_tokens: 4_294_967_296, output_tokens: 4_294_967_295 },
  { session_utilization: 1e-300, daily_utilization: -0.5 },
  { session_utilization: 1e300, daily_utilization: 123456.789 },
  { actor: '', model: 'é💩 "quoted" \\ back,slash {braces}', result: 'x'.repeat(200) },
  { allowed: true, type: 'decision', estimated_tokens: 1000, error_code: null },
  { allowed: false, type: 'decision', error_code: 'RBAC_DENIED', exceeded: 'daily' },
  { agent_id: 'NULL', role: 'null', operation: ' spaced ' },
  { type: 'settle', overrun_tokens: 9_007_199_254_740_991, overrun_cost: 0 },
  { type: 'settle', overrun_tokens: 0, overrun_cost: 4_294_967_296 },
  { type: 'settle', estimated: true, priced_as: 'gpt-4o-mini' },
  { type: 'settle', estimated: false, priced_as: 'é "quoted" \\ back,slash {braces}' },
  {
    type: 'budget_alert',
    alert: {
      pool_id: 'é "quoted" \\ pool',
      budget: 'monthly',
      threshold_pct: 100,
      period: '202612',
      used: 9_007_199_254_740_991,
      limit: 0,
    },
  },
  {
    type: 'agent_registered',
    session_started_at: 1_795_695_371_000,
    state: {
      role: 'coder',
      status: 'active',
      session_id: 'edge-agent.000001aabbccddee',
      session_started_at: 1_795_695_371_000,
      session_token_limit: 80_000,
      daily_cost_limit: 8_000_000,
      key_digest: 'ab'.repeat(32),
      created_at: 1_795_695_370_000,
      metadata: '{"note":"é💩","q":"\\"x\\""}',
    },
  },
];

describe('toColumns', () => {
  it('one array per column, in the insert order, a value per event; a repeated id dropped', () => {
    const events = EDGES.map((over, n) => event(over, n));
    const cols = toColumns([...events, events[3] as AuditEvent]);
    expect(cols).toHaveLength(COLUMN_NAMES.length);
    COLUMN_NAMES.forEach((name, j) => {
      const expected = events.map((e) => {
        const v = (e as unknown as Record<string, unknown>)[name];
        // alert: budget_alert only; policy: policy_changed only (absent on other events: NULL).
        if (name === 'alert' || name === 'policy' || name === 'pool')
          return v === undefined ? null : JSON.stringify(v);
        // Pools (migration 8): absent on events that name none (NULL).
        if (name === 'pool_id' || name === 'from_pool_id')
          return v === undefined ? null : (v ?? '');
        if (name === 'pools') return v === undefined ? null : (v as string[]).join('|');
        // Shadow mode (migration 9): only on the decisions it let pass.
        if (name === 'would_deny') return v ?? null;
        return name === 'state' && v !== null ? JSON.stringify(v) : v;
      });
      expect(cols[j], name).toEqual(expected);
    });
  });
});

describe.each([{ kind: 'postgres' as const }, { kind: 'pglite' as const }])(
  'edge values through $kind',
  ({ kind }) => {
    let store: AuditStore;
    let dir: string | undefined;
    const schema = `tg_bin_${randomBytes(4).toString('hex')}`;

    beforeAll(async () => {
      if (kind === 'postgres') {
        store = await createStore({ databaseUrl, schema });
      } else {
        dir = mkdtempSync(join(tmpdir(), 'tollgate-bin-'));
        store = await createStore({ dataDir: dir });
      }
    });

    afterAll(async () => {
      if (store instanceof PostgresStore) await store.pool.query(`DROP SCHEMA ${schema} CASCADE`);
      await store?.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it('stores them and reads them back equal; a second insert adds nothing', async () => {
      const events = EDGES.map((over, n) => event(over, n));
      expect(await store.insertEvents(events)).toBe(events.length);
      const page = await store.queryEvents({ agentId: 'edge-agent', limit: 1000 });
      const others = await store.queryEvents({ agentId: 'NULL', limit: 1000 });
      const stored = [...page.events, ...others.events].sort((a, b) =>
        a.event_id.localeCompare(b.event_id),
      );
      expect(stored).toEqual([...events].sort((a, b) => a.event_id.localeCompare(b.event_id)));
      expect(await store.insertEvents(events)).toBe(0);
      const [agent] = await store.agents();
      expect(agent?.metadata).toBe('{"note":"é💩","q":"\\"x\\""}');
    });

    it('a value a column cannot hold is refused by the server as data (SQLSTATE class 22)', async () => {
      const bad = event({ agent_id: 'edge-bad', cost: 1.5 }, 100);
      const err = await store.insertEvents([bad]).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toMatch(/^22/);
    });
  },
);
