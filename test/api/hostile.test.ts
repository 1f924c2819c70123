import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes, STATUS_OF } from '../../src/api/index.js';
import type { Route } from '../../src/api/route.js';
import { type Api, type Reply, startApi } from './harness.js';

/**
 * Hostile-input smoke: a few hundred generated bad requests (wrong types,
 * negatives, "NaN" as text, huge numbers, deep nesting, unknown fields, odd
 * ids) against every route. None may be a 5xx; every refusal is a DESIGN
 * error envelope whose status is its code's.
 */
const ERROR_CODES = new Set(Object.keys(STATUS_OF).filter((c) => c !== 'INTERNAL'));

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

let api: Api;
const internal: unknown[] = [];
beforeAll(async () => {
  api = await startApi({ app: { logError: (_m, e) => internal.push(e) } });
});
afterAll(() => api.close());

function checkReply(c: Case, res: Reply): void {
  expect(res.status, c.name).toBeLessThan(500);
  expect(res.text, c.name).not.toMatch(/\n\s+at |node_modules|\.ts:\d/);
  if (res.status >= 400) {
    const code = res.body?.error?.code;
    expect(ERROR_CODES.has(code), `${c.name}: ${res.text.slice(0, 200)}`).toBe(true);
    expect(STATUS_OF[code as keyof typeof STATUS_OF], c.name).toBe(res.status);
    expect(typeof res.body.error.message, c.name).toBe('string');
    expect(typeof res.body.error.details, c.name).toBe('object');
  }
}

describe('hostile input', () => {
  it('a few hundred bad requests: no 5xx, every refusal a DESIGN error', async () => {
    const { id } = await api.agent('coder');
    const routes = apiRoutes({ readyTimeoutMs: 1000, openapi: () => ({}) });
    const all = cases(routes, id);
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
    const routes = apiRoutes({ readyTimeoutMs: 1000, openapi: () => ({}) });
    const all = cases(routes, id).filter((_, i) => i % 3 === 0);
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
