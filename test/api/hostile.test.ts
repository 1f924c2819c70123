import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes, STATUS_OF } from '../../src/api/index.js';
import type { Route } from '../../src/api/route.js';
import { ERROR_CODES as API_ERROR_CODES } from '../../src/api/schemas.js';
import { ADMIN, type Api, type Reply, startApi } from './harness.js';

/**
 * Hostile input against every route of the table, with the admin token and
 * with an agent key:
 *
 * - generated (fast-check, fixed seeds): thousands of bodies, query strings
 *   and path ids (wrong types, negatives, "NaN"/"Infinity" as text, 1e308,
 *   2^63, raw 1e400, nesting 100 deep, unknown and prototype fields, ids with
 *   `{`, `}`, `:`, `.`, `%`, unicode, very long strings, empty bodies, arrays
 *   and scalars instead of objects);
 * - hand-written: every field with every bad value, raw JSON that
 *   JSON.stringify cannot produce (20 000 levels deep), lying headers.
 *
 * None may be a 5xx; every refusal is an error envelope (docs/api.md, "Errors")
 * `{"error":{"code","message","details"}}` whose status is its code's, with
 * no stack trace; nothing reaches the internal-error log.
 */
/** The request error codes of docs/api.md ("Errors"): INTERNAL is not one a client may see. */
const CLIENT_CODES = API_ERROR_CODES.filter((c) => c !== 'INTERNAL');
const ERROR_CODES: ReadonlySet<string> = new Set(CLIENT_CODES);

// Deterministic pseudo-random choices (mulberry32), so a failure replays.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const deepArray = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const deepObject = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;

/** Values that are wrong for every field of every schema (or wrong for most, and harmless if not). */
const BAD_VALUES: unknown[] = [
  null,
  true,
  -1,
  -0.5,
  1.5,
  'NaN',
  'Infinity',
  '1e999',
  1e308,
  Number.MAX_SAFE_INTEGER + 2,
  -1e21,
  '',
  ' ',
  'x'.repeat(5000),
  [],
  [1, 2],
  {},
  { $gt: '' },
  '../../etc/passwd',
  'a:b',
  '{s1}',
  'a.b.c',
  '\u0000',
  '\ud800',
  'ﬀ',
  '<script>alert(1)</script>',
  "' OR 1=1 --",
];

/** Raw JSON texts spliced in as a field's value (what JSON.stringify cannot produce). */
const RAW_VALUES = [
  '1e400',
  '-1e400',
  '123456789012345678901234567890',
  deepArray(2000),
  deepObject(2000),
];

const ODD_IDS = [
  '..',
  '%2e%2e',
  'a%00b',
  '%ZZ',
  '%',
  'x'.repeat(300),
  '%7Bs1%7D',
  'a:b',
  'a.b',
  '%F0%9F%92%A9',
  '-leading-dash',
  'a%2Fb',
  ' ',
  'NaN',
];

interface Case {
  name: string;
  method: string;
  path: string;
  raw?: string;
  headers?: Record<string, string>;
}

function validBody(r: Route, agentId: string): Record<string, unknown> {
  const rid = `${agentId}.0123456789abcdef`;
  switch (`${r.method} ${r.path}`) {
    case 'post /v1/agents':
      return { agent_id: agentId, role: 'coder', metadata: { a: 1 } };
    case 'put /v1/agents/:id/budget':
      return { session_token_limit: 1000, daily_cost_limit: 1 };
    case 'post /v1/authorize':
      return {
        agent_id: agentId,
        operation: 'write_file',
        estimated_tokens: 10,
        model: 'm',
        request_id: 'r1',
      };
    case 'post /v1/settle':
      return {
        reservation_id: rid,
        input_tokens: 1,
        output_tokens: 1,
        model: 'm',
        result: 'success',
      };
    case 'post /v1/release':
      return { reservation_id: rid };
    case 'post /v1/webhooks':
      return { url: 'http://127.0.0.1:9/hook', secret: 's'.repeat(16), events: ['budget_alert'] };
    case 'post /v1/usage':
      return {
        agent_id: agentId,
        operation: 'op',
        input_tokens: 1,
        output_tokens: 1,
        model: 'm',
        result: 'success',
      };
    default:
      return {};
  }
}

function concretePath(r: Route, agentId: string, id?: string): string {
  return r.path.replace(':id', id ?? agentId).replace(':sid', `${agentId}.0123456789abcdef`);
}

function cases(routes: Route[], agentId: string): Case[] {
  const rand = rng(20261124);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const out: Case[] = [];
  for (const r of routes) {
    const method = r.method.toUpperCase();
    const path = concretePath(r, agentId);
    const body = validBody(r, agentId);
    const fields = Object.keys(body);
    // Every field, every bad value.
    for (const f of fields) {
      for (const v of BAD_VALUES) {
        out.push({
          name: `${method} ${r.path} ${f}=${JSON.stringify(v)?.slice(0, 20)}`,
          method,
          path,
          raw: JSON.stringify({ ...body, [f]: v }),
        });
      }
      for (const raw of RAW_VALUES) {
        const text = JSON.stringify({ ...body, [f]: '__RAW__' }).replace('"__RAW__"', raw);
        out.push({
          name: `${method} ${r.path} ${f}=raw:${raw.slice(0, 12)}`,
          method,
          path,
          raw: text,
        });
      }
      const { [f]: _dropped, ...without } = body;
      out.push({
        name: `${method} ${r.path} without ${f}`,
        method,
        path,
        raw: JSON.stringify(without),
      });
    }
    // Unknown fields, prototype keys, whole-body shapes.
    for (const extra of ['extra', '__proto__', 'constructor', 'AGENT_ID', 'agent_id ']) {
      out.push({
        name: `${method} ${r.path} +${extra}`,
        method,
        path,
        raw: JSON.stringify(body)
          .replace(/^\{/, `{${JSON.stringify(extra)}:{"polluted":true},`)
          .replace(/,\}$/, '}'),
      });
    }
    for (const raw of [
      '[]',
      '[{}]',
      '1',
      '"x"',
      'null',
      'true',
      '{',
      '{"a":1,}',
      "{'a':1}",
      deepArray(20_000),
      deepObject(5000),
      '\u0000',
    ]) {
      out.push({ name: `${method} ${r.path} body ${raw.slice(0, 10)}`, method, path, raw });
    }
    // Query strings.
    for (const q of [
      'x=1',
      'role=a&role=b',
      'status=',
      'status[]=active',
      '__proto__[x]=1',
      `role=${'r'.repeat(500)}`,
      '%ZZ=1',
    ]) {
      out.push({ name: `${method} ${r.path}?${q.slice(0, 20)}`, method, path: `${path}?${q}` });
    }
    // Odd ids in the path.
    if (r.path.includes(':id')) {
      for (const id of ODD_IDS) {
        out.push({
          name: `${method} ${r.path} id=${id.slice(0, 12)}`,
          method,
          path: concretePath(r, agentId, id),
          raw: JSON.stringify(body),
        });
      }
    }
    if (r.path.includes(':sid')) {
      for (const sid of [
        'x',
        `${agentId}.XYZ`,
        `${agentId}.0123456789abcdefff`,
        '%ZZ',
        `${agentId}%2E0123456789abcdef%00`,
      ]) {
        out.push({
          name: `${method} ${r.path} sid=${sid.slice(0, 12)}`,
          method,
          path: r.path.replace(':id', agentId).replace(':sid', sid),
        });
      }
    }
    // Odd headers.
    out.push({
      name: `${method} ${r.path} gzip lie`,
      method,
      path,
      raw: JSON.stringify(body),
      headers: { 'content-encoding': 'gzip' },
    });
    out.push({
      name: `${method} ${r.path} charset`,
      method,
      path,
      raw: JSON.stringify(body),
      headers: { 'content-type': 'application/json; charset=latin9' },
    });
    out.push({
      name: `${method} ${r.path} random`,
      method,
      path,
      raw: pick(['\u00ff\u00fe', '{"a":"\\ud800"}', '{"a":"\\u0000"}']),
    });
  }
  return out;
}

// ── generated input (fast-check) ─────────────────────────────────────────────

/** A JSON text spliced in as is (numbers JSON.stringify cannot write, deep nesting). */
class Raw {
  constructor(readonly text: string) {}
}
/** An object as its entries, so `__proto__` and duplicate keys reach the wire as keys. */
class Obj {
  constructor(readonly entries: readonly (readonly [string, unknown])[]) {}
}

function toJson(v: unknown): string {
  if (v instanceof Raw) return v.text;
  if (v instanceof Obj) {
    return `{${v.entries.map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(',')}}`;
  }
  if (Array.isArray(v)) return `[${v.map(toJson).join(',')}]`;
  if (v !== null && typeof v === 'object') return toJson(new Obj(Object.entries(v)));
  return JSON.stringify(v) ?? 'null';
}

/** Percent-encodes every byte but the unreserved ones (lone surrogates become U+FFFD). */
function pct(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_.~-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function nested(depth: number, kind: 'array' | 'object' | 'mixed', leaf: string): Raw {
  let text = leaf;
  for (let d = 0; d < depth; d++) {
    const arr = kind === 'array' || (kind === 'mixed' && d % 2 === 0);
    text = arr ? `[${text}]` : `{"a":${text}}`;
  }
  return new Raw(text);
}

const ODD_CHARS = [...'{}:.%/\\?#&=+ _-~!$\'"()*,;@[]|^`<>aZ09', '\u0000', '\u00e9', '\u{1f4a9}'];

/** Strings that are wrong as ids, names and numbers, short enough for a URL. */
const oddString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '{s1}',
    '{',
    '}',
    'a:b',
    'tg:{s0}:agent:x',
    '.',
    '..',
    'a.b',
    'a.0123456789abcdef',
    '-leading',
    '_leading',
    'NaN',
    'Infinity',
    '-Infinity',
    '1e308',
    '9223372036854775808',
    '-1',
    '0x10',
    'null',
    'undefined',
    '__proto__',
    'constructor',
    '\u0000',
    '\ud800',
    '\u202e',
    'ﬀ',
    'İ',
    '<script>',
    "' OR 1=1 --",
    '../../etc/passwd',
  ),
  fc.string({ unit: fc.constantFrom(...ODD_CHARS), minLength: 1, maxLength: 80 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
  fc.integer({ min: 65, max: 1500 }).map((n) => 'x'.repeat(n)),
);

/** Numbers (and numbers in disguise) that a count, a limit or a cost may not be, or barely may. */
const oddNumber: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    -1,
    -0,
    0,
    0.5,
    -1.5,
    1.000001,
    1e308,
    -1e308,
    2 ** 63,
    -(2 ** 63),
    2 ** 53,
    2 ** 53 + 2,
    Number.MAX_SAFE_INTEGER,
    Number.MIN_VALUE,
    1e21,
    10_000_000,
    10_000_001,
    1e12,
    1e12 + 1,
    1_000_000,
    1_000_000.01,
    'NaN',
    'Infinity',
    '-Infinity',
    '1e308',
    '2e63',
    '9223372036854775808',
    '10',
  ),
  fc
    .constantFrom(
      '1e400',
      '-1e400',
      '1e-400',
      '9223372036854775808',
      '123456789012345678901234567890',
      '1.7976931348623159e308',
      '-0.0',
      '1E2',
      '0e0',
    )
    .map((t) => new Raw(t)),
  fc.integer(),
  fc.integer({ min: -1, max: 20_000 }),
  fc.double(), // NaN and ±Infinity reach the wire as null
);

/** Structures: arrays instead of objects, objects instead of scalars, nesting up to 100 deep. */
const oddShape = (leaf: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc.array(leaf, { maxLength: 4 }),
    fc.dictionary(oddString, leaf, { maxKeys: 4 }),
    fc.constantFrom([], {}, [[]], [{}], { $gt: '' }, { __proto__: null, polluted: true }),
    fc
      .tuple(
        fc.oneof(fc.integer({ min: 1, max: 100 }), fc.constant(100)),
        fc.constantFrom('array' as const, 'object' as const, 'mixed' as const),
        fc.constantFrom('1', '"x"', 'null', '{}', '[]'),
      )
      .map(([d, k, l]) => nested(d, k, l)),
  );

const oddScalar: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false),
  oddNumber,
  oddString,
);

const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: oddScalar },
  { weight: 2, arbitrary: oddShape(oddScalar) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  // Very long strings: up to past the 64 KiB body limit (413).
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 70_000 }).map((n) => 'y'.repeat(n)) },
);

const UNKNOWN_KEYS = [
  'extra',
  '__proto__',
  'constructor',
  'prototype',
  'AGENT_ID',
  'agent_id ',
  'agentId',
  '',
  'a.b',
  '{s1}',
  'tg:',
] as const;
const unknownKey = fc.oneof(fc.constantFrom(...UNKNOWN_KEYS), oddString);

type Edit = { key: string; op: 'set'; value: unknown } | { key: string; op: 'drop' };

/** The route's valid body with one to three fields set to odd values, dropped, or added. */
function mutatedBody(base: Record<string, unknown>): fc.Arbitrary<Obj> {
  const fields = Object.keys(base);
  const key = fields.length > 0 ? fc.oneof(fc.constantFrom(...fields), unknownKey) : unknownKey;
  const edit: fc.Arbitrary<Edit> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ key, op: fc.constant('set' as const), value: oddValue }) },
    { weight: 1, arbitrary: fc.record({ key, op: fc.constant('drop' as const) }) },
  );
  return fc.array(edit, { minLength: 1, maxLength: 3 }).map((edits) => {
    const entries: [string, unknown][] = Object.entries(base);
    for (const e of edits) {
      const i = entries.findIndex(([k]) => k === e.key);
      if (e.op === 'drop') {
        if (i >= 0) entries.splice(i, 1);
      } else if (i >= 0 && e.key !== '__proto__') entries[i] = [e.key, e.value];
      else entries.push([e.key, e.value]);
    }
    return new Obj(entries);
  });
}

/** What a request carries as its body: nothing, an empty text, or JSON text. */
type Body = { kind: 'none' } | { kind: 'text'; text: string };

function bodyArb(base: Record<string, unknown>): fc.Arbitrary<Body> {
  const json = (a: fc.Arbitrary<unknown>) =>
    a.map((v): Body => ({ kind: 'text', text: toJson(v) }));
  return fc.oneof(
    { weight: 8, arbitrary: json(mutatedBody(base)) },
    { weight: 1, arbitrary: fc.constant<Body>({ kind: 'none' }) },
    { weight: 1, arbitrary: fc.constant<Body>({ kind: 'text', text: '' }) },
    // A whole body that is not an object: an array, a scalar, a deep structure.
    { weight: 2, arbitrary: json(fc.oneof(oddScalar, oddShape(oddValue))) },
    // Objects of unknown keys only.
    { weight: 1, arbitrary: json(fc.dictionary(unknownKey, oddValue, { minKeys: 1, maxKeys: 5 })) },
    // The valid body itself (some requests must get through to the engine).
    { weight: 2, arbitrary: fc.constant<Body>({ kind: 'text', text: toJson(base) }) },
  );
}

/** A query string (without `?`): known and unknown keys, odd values, broken escapes. */
const queryArb: fc.Arbitrary<string> = fc.oneof(
  // Most requests carry none, so that their bodies are what gets judged.
  { weight: 6, arbitrary: fc.constant('') },
  {
    weight: 4,
    arbitrary: fc
      .array(
        fc.tuple(
          fc.oneof(
            fc.constantFrom('role', 'status', 'agent_id', 'role[]', 'status[0]', 'a[b]'),
            unknownKey,
          ),
          fc.oneof(
            fc.constantFrom('active', 'suspended', 'coder', ''),
            oddString,
            oddNumber.map((n) => (n instanceof Raw ? n.text : String(n))),
          ),
        ),
        { minLength: 1, maxLength: 4 },
      )
      .map((pairs) => pairs.map(([k, v]) => `${pct(k)}=${pct(v)}`).join('&')),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '%ZZ=1',
      'role=%',
      '&&&',
      '=',
      '==1',
      'role=a&role=b',
      'status=active&status=suspended',
      '__proto__[x]=1',
      'constructor[prototype][x]=1',
      'role=%F0%9F%92%A9',
      'role=%C0%AE',
      'x',
    ),
  },
);

/** A path id: mostly the one the test means (so requests reach the handlers), else odd. */
function idArb(id: string): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(id) },
    { weight: 4, arbitrary: oddString.map(pct) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('%ZZ', '%', '%00', '%2F', '%2E%2E', '%7Bs1%7D', '%C0%AE', '..'),
    },
  );
}

function sidArb(id: string): fc.Arbitrary<string> {
  const hex = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), maxLength: 20 });
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(`${id}.0123456789abcdef`) },
    { weight: 3, arbitrary: hex.map((h) => `${id}.${h}`) },
    { weight: 3, arbitrary: oddString.map(pct) },
  );
}

/** Plain data (a route's name, not its object), so a counterexample prints readably. */
interface Generated {
  route: string;
  method: string;
  path: string;
  body: Body;
  token: string;
}

function requestArb(routes: Route[], id: string, tokens: fc.Arbitrary<string>) {
  return fc.constantFrom(...routes).chain((route) =>
    fc
      .record({
        pathId: idArb(id),
        sid: sidArb(id),
        query: queryArb,
        body: bodyArb(validBody(route, id)),
        token: tokens,
      })
      .map(
        ({ pathId, sid, query, body, token }): Generated => ({
          route: `${route.method} ${route.path}`,
          method: route.method.toUpperCase(),
          path: route.path.replace(':id', pathId).replace(':sid', sid) + (query ? `?${query}` : ''),
          body,
          token,
        }),
      ),
  );
}

let api: Api;
const internal: unknown[] = [];
beforeAll(async () => {
  api = await startApi({
    // A store, so that /v1/audit answers from it (no store is a deliberate 503).
    tollgate: { store: { dataDir: mkdtempSync(join(tmpdir(), 'tg-hostile-')) } },
    app: { logError: (_m, e) => internal.push(e) },
  });
});
afterAll(() => api.close());

const NO_STACK = /\n\s+at |node_modules|\.ts:\d/;

/** No 5xx, no stack; a refusal is the error envelope with its code's status. */
function checkReply(c: { name: string }, res: Reply): void {
  expect(res.status, c.name).toBeLessThan(500);
  expect(res.text, c.name).not.toMatch(NO_STACK);
  if (res.status >= 400) {
    const code = res.body?.error?.code;
    expect(ERROR_CODES.has(code), `${c.name}: ${res.text.slice(0, 200)}`).toBe(true);
    expect(STATUS_OF[code as keyof typeof STATUS_OF], c.name).toBe(res.status);
    expect(Object.keys(res.body).sort(), c.name).toEqual(['error']);
    expect(Object.keys(res.body.error).sort(), c.name).toEqual(['code', 'details', 'message']);
    expect(typeof res.body.error.message, c.name).toBe('string');
    expect(res.body.error.details, c.name).toBeTypeOf('object');
    expect(res.body.error.details, c.name).not.toBeNull();
    expect(Array.isArray(res.body.error.details), c.name).toBe(false);
  } else {
    expect(res.status, c.name).toBeGreaterThanOrEqual(200);
    expect(res.body, `${c.name}: ${res.text.slice(0, 200)}`).toBeDefined();
  }
}

const SEED = 20261124;
const ALL_ROUTES = apiRoutes({ readyTimeoutMs: 1000, openapi: () => ({}) });

/** Runs `numRuns` generated requests; returns how many got each status and each route. */
async function fuzz(
  arb: fc.Arbitrary<Generated>,
  numRuns: number,
  seed: number,
): Promise<{ statuses: Map<number, number>; perRoute: Map<string, number>; runs: number }> {
  const statuses = new Map<number, number>();
  const perRoute = new Map<string, number>();
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(arb, async (g) => {
      const res = await api.call(g.method, g.path, {
        token: g.token,
        ...(g.body.kind === 'text' ? { raw: g.body.text } : {}),
      });
      const name = `${g.method} ${g.path.slice(0, 200)} body=${g.body.kind === 'text' ? g.body.text.slice(0, 200) : '(none)'}`;
      checkReply({ name }, res);
      runs += 1;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      perRoute.set(g.route, (perRoute.get(g.route) ?? 0) + 1);
    }),
    { numRuns, seed },
  );
  return { statuses, perRoute, runs };
}

describe('generated hostile input (fast-check)', () => {
  it('the documented request error codes are the API’s (INTERNAL aside)', () => {
    expect([...ERROR_CODES].sort()).toEqual(
      Object.keys(STATUS_OF)
        .filter((c) => c !== 'INTERNAL')
        .sort(),
    );
  });

  it('admin token: 2,000 generated requests over every route, no 5xx, every refusal an error envelope', {
    timeout: 90_000,
  }, async () => {
    const { id } = await api.agent('coder');
    const { statuses, perRoute, runs } = await fuzz(
      requestArb(ALL_ROUTES, id, fc.constant(ADMIN)),
      2000,
      SEED,
    );
    expect(runs).toBe(2000);
    expect(internal).toEqual([]);
    // Every route was hit, most requests were refused as invalid, some got through.
    expect(perRoute.size).toBe(ALL_ROUTES.length);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(runs * 0.5);
    expect([...statuses].filter(([s]) => s < 300).length).toBeGreaterThan(0);
  });

  it('agent key: 2,000 generated requests over every route, no 5xx, every refusal an error envelope', {
    timeout: 90_000,
  }, async () => {
    const own = await api.agent('coder');
    const other = await api.agent('coder');
    const tokens = fc.oneof(
      { weight: 8, arbitrary: fc.constant(own.key) }, // its own key: through to validation
      { weight: 1, arbitrary: fc.constant(other.key) }, // another agent's key: 403
      { weight: 1, arbitrary: fc.constant(`tg_${own.id}.${'A'.repeat(43)}`) }, // forged: 401
    );
    const { statuses, perRoute, runs } = await fuzz(
      requestArb(ALL_ROUTES, own.id, tokens),
      2000,
      SEED + 1,
    );
    expect(runs).toBe(2000);
    expect(internal).toEqual([]);
    expect(perRoute.size).toBe(ALL_ROUTES.length);
    for (const s of [400, 401, 403]) expect(statuses.get(s) ?? 0, `status ${s}`).toBeGreaterThan(0);
    expect([...statuses].filter(([s]) => s < 300).length).toBeGreaterThan(0);
    // The agent is still there and its key still works.
    expect((await api.call('GET', `/v1/agents/${own.id}`, { token: own.key })).status).toBe(200);
  });
});

describe('hand-written hostile input', () => {
  it('every field with every bad value, raw JSON, odd ids and headers: no 5xx, every refusal an error envelope', async () => {
    const { id } = await api.agent('coder');
    const all = cases(ALL_ROUTES, id);
    expect(all.length).toBeGreaterThan(500);
    const statuses = new Map<number, number>();
    // A few at a time: fast, and still some concurrency.
    for (let i = 0; i < all.length; i += 16) {
      const batch = all.slice(i, i + 16);
      const replies = await Promise.all(
        batch.map((c) => api.call(c.method, c.path, { raw: c.raw, headers: c.headers })),
      );
      for (const [j, c] of batch.entries()) {
        const res = replies[j] as Reply;
        checkReply(c, res);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }
    expect(internal).toEqual([]);
    // Nearly all are refused as invalid; the rest are valid requests that happen to pass.
    expect(statuses.get(400) ?? 0).toBeGreaterThan(all.length * 0.8);
    // The agent is still there and usable.
    expect((await api.call('GET', `/v1/agents/${id}`)).status).toBe(200);
  });

  it('the same bad requests with an agent key: no 5xx either', async () => {
    const { id, key } = await api.agent('coder');
    const all = cases(ALL_ROUTES, id).filter((_, i) => i % 3 === 0);
    for (let i = 0; i < all.length; i += 16) {
      const batch = all.slice(i, i + 16);
      const replies = await Promise.all(
        batch.map((c) =>
          api.call(c.method, c.path, { token: key, raw: c.raw, headers: c.headers }),
        ),
      );
      for (const [j, c] of batch.entries()) checkReply(c, replies[j] as Reply);
    }
    expect(internal).toEqual([]);
  });
});
