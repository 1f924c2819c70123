/**
 * The dashboard remembers (docs/dashboard.md, "History"), in a real browser
 * (Debian's Chromium, playwright-core) on an embedded server (MemoryEngine,
 * PGlite, the in-process drain): spend seeded over several days (the engine's
 * test clock shifted back whole days), then the page's history for the last
 * 30 days and for a range the operator picks, checked against
 * GET /v1/dashboard/history and, independently, GET /v1/spend; a range too
 * long is refused plainly; each table's CSV is what the table shows.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, type Api, startApi } from '../api/harness.js';
import {
  drained,
  type Json,
  launch,
  type Node,
  type Opened,
  openPage,
  READ,
  screenshot,
  signIn,
  textOf,
} from './page.js';

const DAY = 86_400_000;
const tag = Date.now().toString(36);
/** Days back from today with spend: today, yesterday, 3 and 6 days ago, and 40 (outside 30). */
const DAYS_AGO = [40, 6, 3, 1, 0];
const AGENTS = [
  { id: `h-coder-${tag}`, role: 'coder' },
  { id: `h-tester-${tag}`, role: 'tester' },
  { id: `h-review-${tag}`, role: 'reviewer' },
];

let browser: Browser;
let api: Api;
let dir: string;
let opened: Opened;

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const today = () => Math.floor(Date.now() / DAY) * DAY;

async function history(query = ''): Promise<Json> {
  const r = await api.call('GET', `/v1/dashboard/history${query}`);
  expect(r.status, r.text).toBe(200);
  return r.body;
}

/** Spend of every agent on `daysAgo`: usage with nothing held (by model), and a hold settled. */
async function spendOn(daysAgo: number): Promise<void> {
  const tg = api.tg;
  tg.engine.setClockOffsetForTests(-daysAgo * DAY);
  for (const [i, a] of AGENTS.entries()) {
    const input = 1000 * (i + 1) + 37 * daysAgo;
    await tg.guard.recordOperation(a.id, i === 0 ? 'run_tests' : 'read_file', {
      inputTokens: input,
      outputTokens: 200 + daysAgo,
      model: ['model-a', 'model-b'][(i + daysAgo) % 2],
    });
    const d = await tg.guard.checkPermission(a.id, 'read_file', { estimatedTokens: 500 });
    expect(d.allowed).toBe(true);
    if (d.allowed) {
      await tg.guard.recordOperation(
        a.id,
        'read_file',
        { inputTokens: 300, outputTokens: 100 + i },
        'success',
        d.reservation_id,
      );
    }
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-dash-history-'));
  browser = await launch();
  api = await startApi({
    tollgate: {
      redis: undefined,
      store: { dataDir: dir },
      drain: { intervalMs: 50 },
      policy: {
        models: {
          'model-a': { input_per_million: 2, output_per_million: 10 },
          'model-b': { input_per_million: 5, output_per_million: 25 },
        },
      },
    },
    app: { readToken: READ },
  });
  try {
    api.tg.engine.setClockOffsetForTests(-(DAYS_AGO[0] as number) * DAY);
    for (const a of AGENTS) {
      await api.tg.identity.registerAgent(a.id, a.role, {}, { dailyCostLimit: 1000 });
    }
    for (const d of DAYS_AGO) await spendOn(d);
  } finally {
    api.tg.engine.setClockOffsetForTests(0);
  }
  await drained(api);
  opened = await openPage(browser, api.base);
  await signIn(opened.page, ADMIN, 'admin');
});

afterAll(async () => {
  await opened?.context.close();
  await browser?.close();
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A history table as the page shows it: one `[key, cost, tokens in, tokens out, events]` per row. */
function readTable(page: Page, id: string): Promise<string[][]> {
  return page.$$eval(`#${id} tbody tr:not(.empty)`, (trs) =>
    (trs as unknown as Node[]).map((tr) =>
      Array.from(tr.querySelectorAll('td')).map((td) => td.textContent ?? ''),
    ),
  );
}

/** The same rows from the API's answer, formatted as the page formats them. */
function expectedRows(rows: Json[], keyOf: (r: Json) => string): string[][] {
  const usd = (n: number) =>
    n === 0
      ? '$0'
      : n < 1
        ? `$${n.toFixed(4)}`
        : `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  const int = (n: number) => n.toLocaleString('en-US');
  return rows.map((r) => [
    keyOf(r),
    usd(r.cost),
    int(r.input_tokens),
    int(r.output_tokens),
    int(r.events),
  ]);
}

/** The page's history agrees with the API's answer `h`: range, chart, every table. */
async function expectShown(page: Page, h: Json): Promise<void> {
  await expect
    .poll(() => textOf(page, '#h-range'), { timeout: 10_000 })
    .toContain(`${h.from} to ${h.to} UTC`);
  const key = (r: Json) => r.key ?? '(none)';
  expect(await readTable(page, 'h-role')).toEqual(expectedRows(h.by_role, key));
  expect(await readTable(page, 'h-model')).toEqual(expectedRows(h.by_model, key));
  expect(await readTable(page, 'h-operation')).toEqual(expectedRows(h.by_operation, key));
  expect(await readTable(page, 'h-day')).toEqual(expectedRows(h.days, (d) => d.date));
  const bars = await page.$$eval('#h-chart rect[data-date]', (rects) =>
    (rects as unknown as Node[]).map((r) => r.getAttribute('data-date')),
  );
  expect(bars).toEqual(h.days.filter((d: Json) => d.cost > 0).map((d: Json) => d.date));
}

describe('the dashboard history', () => {
  it('shows the last 30 days by day, role, model and operation, as the API sums them', async () => {
    const { page } = opened;
    const h = await history();
    expect(h.to).toBe(isoDay(today()));
    expect(h.days).toHaveLength(30);
    await expectShown(page, h);
    // The days seeded within the range have spend; the one 40 days ago is not in it.
    const spent = h.days.filter((d: Json) => d.events > 0).map((d: Json) => d.date);
    expect(spent).toEqual([6, 3, 1, 0].map((n) => isoDay(today() - n * DAY)));
    expect(h.by_role.map((r: Json) => r.key).sort()).toEqual(['coder', 'reviewer', 'tester']);
    expect(h.by_model.map((r: Json) => r.key).sort()).toEqual(['default', 'model-a', 'model-b']);
    // Every sum is the same total, and the ledger's GET /v1/spend agrees with each.
    const sum = (rows: Json[]) => rows.reduce((s: number, r: Json) => s + r.cost_micros, 0);
    for (const rows of [h.days, h.by_role, h.by_model, h.by_operation]) {
      expect(sum(rows)).toBe(h.total_micros);
    }
    const from = Date.parse(h.from);
    const to = Date.parse(h.to) + DAY;
    for (const [group, rows] of [
      ['role', h.by_role],
      ['model', h.by_model],
      ['operation', h.by_operation],
    ] as const) {
      const r = await api.call('GET', `/v1/spend?from=${from}&to=${to}&group_by=${group}`);
      expect(r.body.rows, group).toEqual(rows);
    }
    expect(await textOf(page, '#h-range')).toContain(
      `$${(h.total_micros / 1e6).toFixed(h.total < 1 ? 4 : 2)}`,
    );
    await screenshot(page, 'dashboard-history.png');
  });

  it('shows a range the operator picks; a range too long is refused plainly', async () => {
    const { page } = opened;
    const from = isoDay(today() - 45 * DAY);
    const to = isoDay(today() - 2 * DAY);
    await page.fill('#h-from', from);
    await page.fill('#h-to', to);
    await page.click('#h-show');
    const h = await history(`?from=${from}&to=${to}`);
    expect(h.days.filter((d: Json) => d.events > 0).map((d: Json) => d.date)).toEqual(
      [40, 6, 3].map((n) => isoDay(today() - n * DAY)),
    );
    await expectShown(page, h);

    await page.fill('#h-from', isoDay(today() - 100 * DAY));
    await page.click('#h-show');
    await expect
      .poll(() => textOf(page, '#h-sub'))
      .toMatch(/^Not shown: 400 VALIDATION_FAILED: .*query\.from: the range is at most 92 days$/);
    // What was shown stays shown.
    await expectShown(page, h);
    await page.click('#h-last30');
    await expectShown(page, await history());
    expect(opened.errors).toEqual([]);
  });

  it('saves each table as CSV: what it shows, the cost exact', async () => {
    const { page } = opened;
    const h = await history();
    await expectShown(page, h);
    const csvOf = async (kind: string) => {
      if (kind === 'day') await page.click('#h-days summary');
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.click(`#history button[data-csv="${kind}"]`),
      ]);
      expect(download.suggestedFilename()).toBe(
        `tollgate-spend-by-${kind}-${h.from}-to-${h.to}.csv`,
      );
      return readFileSync(await download.path(), 'utf8');
    };
    const want = (head: string, rows: Json[], keyOf: (r: Json) => string) =>
      `${[
        `${head},cost_usd,input_tokens,output_tokens,events`,
        ...rows.map((r) =>
          [
            keyOf(r),
            (r.cost_micros / 1e6).toFixed(6),
            r.input_tokens,
            r.output_tokens,
            r.events,
          ].join(','),
        ),
      ].join('\r\n')}\r\n`;
    const key = (r: Json) => r.key ?? '(none)';
    expect(await csvOf('role')).toBe(want('role', h.by_role, key));
    expect(await csvOf('model')).toBe(want('model', h.by_model, key));
    expect(await csvOf('operation')).toBe(want('operation', h.by_operation, key));
    const days = await csvOf('day');
    expect(days).toBe(want('date', h.days, (d) => d.date));
    expect(days.split('\r\n')).toHaveLength(32); // header, 30 days, and the final line end
    expect(opened.errors).toEqual([]);
  });

  it('is open to the read-only token', async () => {
    const r = await api.call('GET', '/v1/dashboard/history', { token: READ });
    expect(r.status, r.text).toBe(200);
    const reader = await openPage(browser, api.base);
    try {
      await signIn(reader.page, READ, 'read-only');
      await expectShown(reader.page, r.body);
      expect(reader.errors).toEqual([]);
    } finally {
      await reader.context.close();
    }
  });
});
