/**
 * The dashboard acts (docs/dashboard.md, "Actions"), in a real browser
 * (Debian's Chromium, playwright-core) on an embedded server (MemoryEngine,
 * PGlite, the in-process drain and alert deliveries): suspend and resume,
 * change an agent's and a pool's limits, rotate a key, retry a webhook dead
 * letter, each driven by clicks and confirmed in the dialog, its effect
 * checked through the API. The read-only token: every action button disabled,
 * and a forced one answered 403, shown in the dialog, nothing changed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemoryEngine } from '../../src/engine/memory/index.js';
import {
  alertFields,
  appendToMemoryOutbox,
  type Receiver,
  startReceiver,
} from '../alerts/helpers.js';
import { ADMIN, type Api, startApi } from '../api/harness.js';
import {
  isDisabled,
  type Json,
  launch,
  type Node,
  type Opened,
  openPage,
  READ,
  screenshot,
  signIn,
  TOKEN_KEY,
  textOf,
} from './page.js';

const tag = Date.now().toString(36);
const ids = { a: `act-a-${tag}`, b: `act-b-${tag}`, pool: `act-pool-${tag}` };

let browser: Browser;
let api: Api;
let dir: string;
let receiver: Receiver;
let admin: Opened;
/** The agents' keys, as registered (and after a rotation). */
const keys: Record<string, string> = {};

async function call(method: string, path: string, body?: unknown): Promise<Json> {
  const r = await api.call(method, path, { body });
  expect(r.status, `${method} ${path}: ${r.text}`).toBeLessThan(300);
  return r.body;
}

/** Opens an agent's drill-down and waits for its actions to be usable (or not, read-only). */
async function drillInto(page: Page, id: string): Promise<void> {
  await page.click(`tr[data-agent="${id}"] button.agent-id`);
  await page.waitForSelector('#drill:not([hidden])');
  await expect.poll(() => textOf(page, '#drill-id')).toBe(id);
}

/** Clicks the dialog's confirming button and waits for it to close. */
async function confirm(page: Page): Promise<void> {
  await page.click('#dialog-ok');
  await page.waitForSelector('#dialog', { state: 'hidden' });
}

const dialogOpen = (page: Page) =>
  page.$eval('#dialog', (d) => (d as unknown as { open: boolean }).open);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-dash-actions-'));
  browser = await launch();
  api = await startApi({
    tollgate: {
      redis: undefined,
      store: { dataDir: dir },
      drain: { intervalMs: 50 },
      // One attempt: a delivery to a receiver that is down is a dead letter at once.
      alerts: { attempts: 1, backoffMs: 50, timeoutMs: 1_000, resumeEveryMs: 50, log: () => {} },
    },
    app: { readToken: READ },
  });
  receiver = await startReceiver('down');
  for (const id of [ids.a, ids.b]) {
    keys[id] = (await call('POST', '/v1/agents', { agent_id: id, role: 'coder' })).api_key;
  }
  await call('POST', '/v1/pools', { pool_id: ids.pool, daily_cost_limit: 10 });
  admin = await openPage(browser, api.base);
  await signIn(admin.page, ADMIN, 'admin');
});

afterAll(async () => {
  await admin?.context.close();
  await browser?.close();
  await receiver?.close();
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the dashboard acts, with the admin token', () => {
  it('suspends and resumes an agent, each confirmed; Cancel sends nothing', async () => {
    const { page } = admin;
    await drillInto(page, ids.a);
    await expect.poll(() => isDisabled(page, '#act-suspend')).toBe(false);
    expect(await page.isVisible('#act-resume')).toBe(false);

    await page.click('#act-suspend');
    expect(await dialogOpen(page)).toBe(true);
    expect(await textOf(page, '#dialog-title')).toBe(`Suspend ${ids.a}?`);
    await page.click('#dialog-cancel');
    expect(await dialogOpen(page)).toBe(false);
    expect((await call('GET', `/v1/agents/${ids.a}`)).status).toBe('active');

    await page.click('#act-suspend');
    await confirm(page);
    expect((await call('GET', `/v1/agents/${ids.a}`)).status).toBe('suspended');
    expect(await textOf(page, '#notice')).toContain(`Suspended ${ids.a}.`);
    await expect
      .poll(() => textOf(page, `tr[data-agent="${ids.a}"] .badge`), { timeout: 3_000 })
      .toBe('SUSPENDED');
    await page.waitForSelector('#act-resume:not([hidden])');

    await page.click('#act-resume');
    await confirm(page);
    expect((await call('GET', `/v1/agents/${ids.a}`)).status).toBe('active');
    await expect
      .poll(() => textOf(page, `tr[data-agent="${ids.a}"] .badge`), { timeout: 3_000 })
      .toBe('ACTIVE');
  });

  it("changes an agent's limits: the form holds those in force, the changes are confirmed, only they are sent", async () => {
    const { page } = admin;
    const before = await call('GET', `/v1/agents/${ids.a}/budget`);
    await page.click('#act-limits');
    const value = (name: string) => page.inputValue(`#dialog-body input[name="${name}"]`);
    expect(await value('session_token_limit')).toBe(String(before.session.tokens_limit));
    expect(await value('daily_cost_limit')).toBe(String(before.daily.cost_limit));
    expect(await value('monthly_cost_limit')).toBe('');
    expect(await value('requests_per_minute')).toBe('');

    // A value that is not a number: said in the dialog, nothing sent.
    await page.fill('#dialog-body input[name="daily_cost_limit"]', 'lots');
    await page.click('#dialog-ok');
    expect(await textOf(page, '#dialog-error')).toContain('Daily cost: "lots" is not a number');
    await page.fill('#dialog-body input[name="daily_cost_limit"]', '7.5');
    await page.fill('#dialog-body input[name="requests_per_minute"]', '120');
    await page.fill('#dialog-body input[name="monthly_cost_limit"]', '50');
    await page.click('#dialog-ok');
    const review = await textOf(page, '#dialog-body');
    expect(review).toContain(`Daily cost: $${before.daily.cost_limit} → $7.5`);
    expect(review).toContain('Requests per minute: none → 120/min');
    expect(review).toContain('Monthly cost: none → $50');
    expect(review).not.toContain('Session tokens');
    expect((await call('GET', `/v1/agents/${ids.a}/budget`)).daily.cost_limit).toBe(
      before.daily.cost_limit,
    );
    await confirm(page);
    const after = await call('GET', `/v1/agents/${ids.a}/budget`);
    expect(after.daily.cost_limit).toBe(7.5);
    expect(after.monthly.cost_limit).toBe(50);
    expect(after.rate_limits).toEqual({ requests_per_minute: 120, tokens_per_minute: null });
    expect(after.session.tokens_limit).toBe(before.session.tokens_limit);
    expect(await textOf(page, '#notice')).toContain(`Limits of agent ${ids.a} changed`);

    // Emptied: the limit removed (sent as 0).
    await page.click('#act-limits');
    expect(await value('requests_per_minute')).toBe('120');
    await page.fill('#dialog-body input[name="requests_per_minute"]', '');
    await page.click('#dialog-ok');
    expect(await textOf(page, '#dialog-body')).toContain('Requests per minute: 120/min → none');
    await confirm(page);
    expect((await call('GET', `/v1/agents/${ids.a}/budget`)).rate_limits).toBeNull();
  });

  it('rotates a key: the new one shown once with a copy button; the old one stops working', async () => {
    const { page, context } = admin;
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: api.base });
    const old = keys[ids.a] as string;
    const verify = (key: string) => api.call('GET', `/v1/agents/${ids.a}/verify`, { token: key });
    expect((await verify(old)).status).toBe(200);

    await page.click('#act-rotate');
    await page.click('#dialog-ok');
    await page.waitForSelector('#new-key');
    const key = await page.inputValue('#new-key');
    expect(key).toMatch(new RegExp(`^tg_${ids.a}\\.[A-Za-z0-9_-]{43}$`));
    expect(await textOf(page, '#dialog-body')).toContain('won’t be shown again');
    await page.click('#copy-key');
    await expect.poll(() => textOf(page, '.copy-said')).toBe('Copied to the clipboard.');
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(key);
    expect((await verify(old)).status).toBe(401);
    const fresh = await verify(key);
    expect(fresh.status, fresh.text).toBe(200);
    expect(fresh.body.valid).toBe(true);
    keys[ids.a] = key;
    await screenshot(page, 'dashboard-key.png');

    // Closed: the key is gone from the page.
    await page.click('#dialog-cancel');
    expect(await dialogOpen(page)).toBe(false);
    expect(await page.$('#new-key')).toBeNull();
    expect(await page.content()).not.toContain(key);
  });

  it("changes a pool's limits from its row", async () => {
    const { page } = admin;
    await page.click('#drill-close');
    const edit = `tbody[data-pool="${ids.pool}"] .pool-edit`;
    await page.waitForSelector(edit);
    await expect.poll(() => isDisabled(page, edit)).toBe(false);
    await page.click(edit);
    expect(await page.inputValue('#dialog-body input[name="daily_cost_limit"]')).toBe('10');
    await page.fill('#dialog-body input[name="daily_cost_limit"]', '12');
    await page.fill('#dialog-body input[name="tokens_per_minute"]', '5000');
    await page.click('#dialog-ok');
    expect(await textOf(page, '#dialog-body')).toContain('Daily cost: $10 → $12');
    await confirm(page);
    const pool = await call('GET', `/v1/pools/${ids.pool}`);
    expect(pool.daily.cost_limit).toBe(12);
    expect(pool.rate_limits.tokens_per_minute).toBe(5000);
    await expect
      .poll(() => textOf(page, `tbody[data-pool="${ids.pool}"] .pool-rates`), { timeout: 3_000 })
      .toBe('5,000 tokens/min');
  });

  it('lists a webhook dead letter and sends it again once confirmed', async () => {
    const { page } = admin;
    const hook = await call('POST', '/v1/webhooks', {
      url: receiver.url,
      secret: 'dashboard-secret-0123456789',
      events: ['budget_alert'],
    });
    const fields = alertFields({ agent_id: ids.b, threshold_pct: '80' });
    appendToMemoryOutbox(api.tg.engine as MemoryEngine, fields);
    const id = `${fields.event_id}.${hook.id}`;
    const row = `#dl-table tr[data-id="${id}"]`;
    await page.waitForSelector(row, { timeout: 15_000 });
    expect(await textOf(page, row)).toContain(`agent ${ids.b}: daily budget at 80 %`);
    await page.click(`${row} button.retry`);
    expect(await textOf(page, '#dialog-body')).toContain(`to webhook ${hook.id}`);
    await receiver.mode('up');
    await confirm(page);
    expect(await textOf(page, '#notice')).toContain('Dead letter queued again (run 2)');
    await expect.poll(() => receiver.delivered().length, { timeout: 10_000 }).toBe(1);
    await page.waitForSelector(row, { state: 'detached', timeout: 10_000 });
    const dead = await call('GET', '/v1/webhooks/dead-letters');
    expect(dead.dead_letters.map((d: Json) => d.id)).not.toContain(id);
    expect(admin.errors).toEqual([]);
  });
});

describe('the read-only token', () => {
  let reader: Opened;

  beforeAll(async () => {
    reader = await openPage(browser, api.base);
    await signIn(reader.page, READ, 'read-only');
  });
  afterAll(() => reader?.context.close());

  /** Forces a disabled button (as a user could with the developer tools) and confirms. */
  async function force(page: Page, selector: string): Promise<void> {
    expect(await isDisabled(page, selector), selector).toBe(true);
    await page.$eval(selector, (b) => (b as unknown as Node).removeAttribute('disabled'));
    await page.click(selector);
  }

  /** The dialog says the API's 403, and stays open; then closed. */
  async function expect403(page: Page): Promise<void> {
    await page.waitForSelector('#dialog-error:not([hidden])');
    const said = await textOf(page, '#dialog-error');
    expect(said).toContain('403 FORBIDDEN');
    expect(said).toContain('read-only token');
    await page.click('#dialog-cancel');
  }

  it('shows every action disabled, and the dead letters as needing the admin token', async () => {
    const { page } = reader;
    await drillInto(page, ids.b);
    for (const b of ['#act-suspend', '#act-limits', '#act-rotate']) {
      expect(await isDisabled(page, b), b).toBe(true);
    }
    expect(await page.getAttribute('#act-suspend', 'title')).toContain('admin token');
    expect(await isDisabled(page, `tbody[data-pool="${ids.pool}"] .pool-edit`)).toBe(true);
    expect(await textOf(page, '#dl-sub')).toContain('need the admin token');
    expect(await page.$$('#dl-table button')).toHaveLength(0);
  });

  it('refuses every action forced anyway: the API answers 403, the page says so, nothing changes', async () => {
    const { page } = reader;
    const before = {
      agent: await call('GET', `/v1/agents/${ids.b}`),
      budget: await call('GET', `/v1/agents/${ids.b}/budget`),
      pool: await call('GET', `/v1/pools/${ids.pool}`),
    };

    await force(page, '#act-suspend');
    await page.click('#dialog-ok');
    await expect403(page);

    await force(page, '#act-limits');
    await page.fill('#dialog-body input[name="daily_cost_limit"]', '99');
    await page.click('#dialog-ok');
    await page.click('#dialog-ok');
    await expect403(page);

    await force(page, '#act-rotate');
    await page.click('#dialog-ok');
    await expect403(page);

    await page.click('#drill-close');
    await force(page, `tbody[data-pool="${ids.pool}"] .pool-edit`);
    await page.fill('#dialog-body input[name="daily_cost_limit"]', '99');
    await page.click('#dialog-ok');
    await page.click('#dialog-ok');
    await expect403(page);

    // A dead letter's retry, sent with the page's token: 403 as well.
    const status = await page.evaluate(
      `fetch('/v1/webhooks/dead-letters/01a21767-1012-7a92-9e7b-b8e1164aef00.wh_${'0'.repeat(24)}/retry', {
        method: 'POST', headers: { authorization: 'Bearer ' + sessionStorage.getItem('${TOKEN_KEY}') },
      }).then((r) => r.status)`,
    );
    expect(status).toBe(403);

    // Nothing changed; the page is still signed in with the read-only token.
    expect(await call('GET', `/v1/agents/${ids.b}`)).toEqual(before.agent);
    expect((await call('GET', `/v1/agents/${ids.b}/budget`)).daily).toEqual(before.budget.daily);
    expect((await call('GET', `/v1/pools/${ids.pool}`)).daily.cost_limit).toBe(
      before.pool.daily.cost_limit,
    );
    const verify = await api.call('GET', `/v1/agents/${ids.b}/verify`, { token: keys[ids.b] });
    expect(verify.status).toBe(200);
    expect(await page.isVisible('#main')).toBe(true);
    expect(await page.evaluate(`sessionStorage.getItem('${TOKEN_KEY}')`)).toBe(READ);
    expect(reader.errors).toEqual([]);
    await screenshot(page, 'dashboard-read-only.png');
  });
});
