/**
 * The /dashboard page's pools (docs/dashboard.md): a row per pool, in tree
 * order, with its spend and limits for the day and the month and its rate
 * limits, the agents in it beneath it; agents in no pool in #rows as before.
 * A real browser (Debian's Chromium, as browser.test.ts) on an embedded
 * server (MemoryEngine, no store: the audit-derived parts show "unavailable").
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, type Api, startApi } from '../api/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const REPORTS = join(import.meta.dirname, '../../reports');
const ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'];

// biome-ignore lint/suspicious/noExplicitAny: response JSON, checked field by field
type Json = any;

/** The few DOM members the page functions below use (the project's lib has no DOM types). */
interface Node {
  textContent: string | null;
  hidden: boolean;
  className: string;
  dataset: Record<string, string | undefined>;
  querySelector(s: string): Node | null;
  querySelectorAll(s: string): ArrayLike<Node>;
}

interface PoolView {
  pool: string;
  head: string;
  status: string;
  depthClass: string;
  daily: string;
  monthly: string;
  dailyBarHidden: boolean;
  rates: string;
  members: string;
  agents: string[];
}

/** Each pool tbody in page order: its head row's parts and its agents' ids. */
function readPools(page: Page): Promise<PoolView[]> {
  return page.$$eval('#agents tbody.pool', (bodies) =>
    (bodies as unknown as Node[]).map((b) => {
      const text = (s: string) => b.querySelector(s)?.textContent ?? '';
      return {
        pool: b.dataset.pool ?? '',
        head: text('tr.pool-head'),
        status: text('tr.pool-head .badge'),
        depthClass: b.querySelector('tr.pool-head')?.className ?? '',
        daily: text('.pool-daily .pool-fig'),
        monthly: text('.pool-monthly .pool-fig'),
        dailyBarHidden: b.querySelector('.pool-daily .bar')?.hidden ?? true,
        rates: text('.pool-rates'),
        members: text('.pool-members'),
        agents: Array.from(b.querySelectorAll('tr[data-agent]')).map(
          (tr) => tr.dataset.agent ?? '',
        ),
      };
    }),
  );
}

const unpooled = (page: Page) =>
  page.$$eval('#rows tr', (trs) => (trs as unknown as Node[]).map((tr) => tr.dataset.agent ?? ''));

let browser: Browser;
let api: Api;
let context: BrowserContext;
let page: Page;
const errors: string[] = [];
/** Ids unique to this run, sorted as the page sorts them. */
const tag = Date.now().toString(36);
const ids = { a: `a-${tag}`, aKid: `a-${tag}-kid`, b: `b-${tag}`, c: `c-${tag}` };

async function call(method: string, path: string, body?: unknown): Promise<Json> {
  const r = await api.call(method, path, { body });
  expect(r.status, `${method} ${path}: ${r.text}`).toBeLessThan(300);
  return r.body;
}

async function agentIn(poolId: string | null, id: string): Promise<string> {
  const body = await call('POST', '/v1/agents', {
    agent_id: id,
    role: 'coder',
    ...(poolId !== null ? { pool_id: poolId } : {}),
  });
  return body.api_key;
}

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  api = await startApi({ tollgate: { redis: undefined } });
  await call('POST', '/v1/pools', {
    pool_id: ids.a,
    daily_cost_limit: 10,
    monthly_cost_limit: 100,
    requests_per_minute: 60,
  });
  await call('POST', '/v1/pools', { pool_id: ids.aKid, parent_id: ids.a, tokens_per_minute: 5000 });
  await call('POST', '/v1/pools', { pool_id: ids.b });
  await call('POST', '/v1/pools', { pool_id: ids.c, daily_cost_limit: 0.01 });
  await agentIn(ids.a, `pa1-${tag}`);
  const key = await agentIn(ids.a, `pa2-${tag}`);
  await agentIn(ids.aKid, `pk1-${tag}`);
  await agentIn(null, `free1-${tag}`);
  await agentIn(null, `free2-${tag}`);
  // Some spend in pool a: a hold settled ($0.0045 + $0.003).
  const d = await api.call('POST', '/v1/authorize', {
    token: key,
    body: { agent_id: `pa2-${tag}`, operation: 'read_file', estimated_tokens: 1000 },
  });
  expect(d.body.allowed, d.text).toBe(true);
  await call('POST', '/v1/settle', {
    reservation_id: d.body.reservation_id,
    input_tokens: 1500,
    output_tokens: 200,
    result: 'success',
  });
  // Pool c used past its limit: a small hold settled with much more.
  const cKey = await agentIn(ids.c, `pc1-${tag}`);
  const h = await api.call('POST', '/v1/authorize', {
    token: cKey,
    body: { agent_id: `pc1-${tag}`, operation: 'read_file', estimated_tokens: 100 },
  });
  expect(h.body.allowed, h.text).toBe(true);
  await call('POST', '/v1/settle', {
    reservation_id: h.body.reservation_id,
    input_tokens: 10_000,
    output_tokens: 0,
    result: 'success',
  });

  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  expect((await page.goto(`${api.base}/dashboard`))?.status()).toBe(200);
  await page.waitForSelector('#login:not([hidden])');
  await page.fill('#token', ADMIN);
  await page.click('#login-submit');
  await page.waitForSelector('#main:not([hidden])');
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await api?.close();
});

describe('the /dashboard page with pools', () => {
  it('a row per pool in tree order, its agents beneath it, the others in #rows', async () => {
    await expect.poll(async () => (await readPools(page)).length, { timeout: 5_000 }).toBe(4);
    const pools = await readPools(page);
    expect(pools.map((p) => p.pool)).toEqual([ids.a, ids.aKid, ids.b, ids.c]);
    expect(pools.map((p) => p.agents)).toEqual([
      [`pa1-${tag}`, `pa2-${tag}`],
      [`pk1-${tag}`],
      [],
      [`pc1-${tag}`],
    ]);
    expect(await unpooled(page)).toEqual([`free1-${tag}`, `free2-${tag}`]);
    expect(pools[1]?.depthClass).toContain('depth-2');
    expect(errors).toEqual([]);
  });

  it("each pool row shows the day's and the month's spend against its limits, its rate limits and members", async () => {
    const dash = await call('GET', '/v1/dashboard');
    const a = dash.pools.find((p: Json) => p.pool_id === ids.a);
    expect(a.daily.cost_used).toBeGreaterThan(0);
    const [pa, kid, b, c] = await readPools(page);
    expect(pa).toMatchObject({
      status: 'ACTIVE',
      daily: `$${a.daily.cost_used.toFixed(4)} of $10.00 (${a.daily.utilization_pct.toFixed(1)}%)`,
      monthly: `$${a.monthly.cost_used.toFixed(4)} of $100.00 (${a.monthly.utilization_pct.toFixed(1)}%)`,
      dailyBarHidden: false,
      rates: '60 req/min',
      members: '2 agents · 1 pool',
    });
    expect(kid).toMatchObject({
      rates: '5,000 tokens/min',
      members: '1 agent',
      dailyBarHidden: true,
    });
    expect(kid?.daily).toBe('$0, no limit');
    expect(b).toMatchObject({
      rates: 'no rate limits',
      members: '0 agents',
      daily: '$0, no limit',
    });
    // Used past its daily limit.
    expect(c?.status).toBe('OVER');
    mkdirSync(REPORTS, { recursive: true });
    await page.screenshot({ path: join(REPORTS, 'dashboard-pools.png'), fullPage: true });
  });

  it('follows a move, a new pool and a deleted one within a few polls', async () => {
    await call('PUT', `/v1/agents/free1-${tag}/pool`, { pool_id: ids.b });
    await call('PUT', `/v1/agents/pk1-${tag}/pool`, { pool_id: null });
    await call('DELETE', `/v1/pools/${ids.aKid}`);
    await call('POST', '/v1/pools', { pool_id: `d-${tag}`, parent_id: ids.b });
    await expect
      .poll(async () => (await readPools(page)).map((p) => [p.pool, p.agents]), { timeout: 5_000 })
      .toEqual([
        [ids.a, [`pa1-${tag}`, `pa2-${tag}`]],
        [ids.b, [`free1-${tag}`]],
        [`d-${tag}`, []],
        [ids.c, [`pc1-${tag}`]],
      ]);
    expect((await unpooled(page)).sort()).toEqual([`free2-${tag}`, `pk1-${tag}`].sort());
    // Sorting keeps each agent beneath its pool.
    await page.click('#agents th[data-sort="cost"] button');
    expect((await readPools(page))[0]?.agents.sort()).toEqual([`pa1-${tag}`, `pa2-${tag}`]);
    expect((await unpooled(page)).sort()).toEqual([`free2-${tag}`, `pk1-${tag}`].sort());
    expect(errors).toEqual([]);
  });
});
