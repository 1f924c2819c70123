/**
 * What the dashboard's browser tests of actions and history share (not a test
 * file): Debian's Chromium driven by playwright-core as browser.test.ts does,
 * a page opened on a server with errors and off-server requests collected,
 * sign-in, reading text, and waiting for the audit drain.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';
import type { Api } from '../api/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const REPORTS = join(import.meta.dirname, '../../reports');
export const TOKEN_KEY = 'tollgate.adminToken';
export const READ = 'test-read-token-0123456789abcdef';

// biome-ignore lint/suspicious/noExplicitAny: response JSON, checked field by field
export type Json = any;

/** The few DOM members the page functions use (the project's lib has no DOM types). */
export interface Node {
  textContent: string | null;
  hidden: boolean;
  disabled: boolean;
  value: string;
  dataset: Record<string, string | undefined>;
  querySelector(s: string): Node | null;
  querySelectorAll(s: string): ArrayLike<Node>;
  getAttribute(name: string): string | null;
  removeAttribute(name: string): void;
}

export function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

export interface Opened {
  context: BrowserContext;
  page: Page;
  /** Page errors and requests to anything but the server. */
  errors: string[];
}

export async function openPage(browser: Browser, base: string): Promise<Opened> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(base) && !url.startsWith('data:') && !url.startsWith('blob:')) {
      errors.push(`request off the server: ${url}`);
    }
  });
  const res = await page.goto(`${base}/dashboard`);
  expect(res?.status()).toBe(200);
  return { context, page, errors };
}

/** Signs in and waits until the page knows what the token may do (its badge). */
export async function signIn(page: Page, token: string, access: 'admin' | 'read-only') {
  await page.waitForSelector('#login:not([hidden])');
  await page.fill('#token', token);
  await page.click('#login-submit');
  await page.waitForSelector('#main:not([hidden])');
  // A page function (not expect.poll): sign-in also runs in hooks.
  await page.waitForFunction(
    `document.getElementById('access').textContent === ${JSON.stringify(access)}`,
    undefined,
    { timeout: 10_000 },
  );
}

export const textOf = (page: Page, selector: string): Promise<string> =>
  page.$eval(selector, (e) => (e as unknown as Node).textContent ?? '');

export const isDisabled = (page: Page, selector: string): Promise<boolean> =>
  page.$eval(selector, (e) => (e as unknown as Node).disabled);

/** Waits until nothing decided is left undrained. */
export async function drained(api: Api, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    const r = await api.call('GET', '/v1/audit/lag');
    if (r.status === 200 && r.body.backlog + r.body.pending === 0) return;
    last = r.text;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the audit backlog did not drain in ${timeoutMs} ms: ${last}`);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(REPORTS, { recursive: true });
  await page.screenshot({ path: join(REPORTS, name), fullPage: true });
}
