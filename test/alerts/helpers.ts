/**
 * The alert tests' helpers (not a test file): a webhook receiver on loopback
 * that can be down (connection refused), failing (503) or up; budget_alert
 * events appended to an outbox the way the engine appends its events (the
 * deciding scripts will emit them: until then, only here, never in src/);
 * and the signature check of docs/operations.md, loaded from the page itself.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Cluster, Redis } from 'ioredis';
import { outboxKey } from '../../src/engine/keys.js';
import type { MemoryEngine } from '../../src/engine/memory/index.js';
import type { MemoryState } from '../../src/engine/memory/state.js';
import { appendEvent, FieldsEvent } from '../../src/engine/memory/stored-event.js';
import { EVENT_FIELD, packEvent } from '../../src/engine/outbox-format.js';
import { eventId, RandomPool } from '../../src/engine/random.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

// ---------------------------------------------------------------- receiver

export interface Received {
  headers: IncomingHttpHeaders;
  /** The body exactly as received. */
  body: Buffer;
  /** The status this receiver answered with. */
  status: number;
  path: string;
}

/** `up`: 204; `503`: 503; `down`: not listening (connection refused); `redirect`: 307 to `location`. */
export type Mode = 'up' | '503' | 'down' | 'redirect';

export interface Receiver {
  readonly url: string;
  readonly port: number;
  /** Every request that reached it (`down` gets none). */
  readonly requests: Received[];
  /** Those answered 2xx. */
  delivered(): Received[];
  mode(m: Mode, location?: string): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(initial: Mode = 'up', path = '/hook'): Promise<Receiver> {
  const requests: Received[] = [];
  let mode: Mode = initial;
  let location = '';
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // Redirect mode: 307 to `location`, unless this request is the target of a redirect to a path here.
      const target = mode === 'redirect' && location.startsWith('/') && location === req.url;
      const status = mode === 'up' || target ? 204 : mode === 'redirect' ? 307 : 503;
      requests.push({
        headers: req.headers,
        body: Buffer.concat(chunks),
        status,
        path: req.url ?? '',
      });
      if (status === 307) res.setHeader('location', location);
      res.writeHead(status).end();
    });
  });
  server.keepAliveTimeout = 100;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const stop = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  const listen = () => new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  if (initial === 'down') await stop();
  return {
    url: `http://127.0.0.1:${port}${path}`,
    port,
    requests,
    delivered: () => requests.filter((r) => r.status >= 200 && r.status < 300),
    async mode(m, loc) {
      if (loc !== undefined) location = loc;
      if (m === 'down' && mode !== 'down') await stop();
      if (m !== 'down' && mode === 'down') await listen();
      mode = m;
    },
    async close() {
      if (mode !== 'down') await stop();
      mode = 'down';
    },
  };
}

// ---------------------------------------------------------------- events

const rnd = new RandomPool();

/** A budget_alert event's outbox fields, as the deciding script will write them. */
export function alertFields(over: Partial<Record<string, string>> = {}): Record<string, string> {
  const at = Date.now();
  return {
    event_id: eventId(at, rnd.eventTail(), 0),
    at: String(at),
    type: 'budget_alert',
    agent_id: `al-${randomBytes(4).toString('hex')}`,
    pool_id: '',
    budget: 'daily',
    threshold_pct: '80',
    period: '20261207',
    used: '800000',
    limit: '1000000',
    ...over,
  } as Record<string, string>;
}

/** Embedded mode: the event appended to MemoryEngine's in-process outbox, as its operations append theirs. */
export function appendToMemoryOutbox(
  engine: MemoryEngine,
  fields: Record<string, string>,
  shard = 0,
): void {
  const st = (engine as unknown as { st: MemoryState }).st;
  appendEvent(st.outbox, new FieldsEvent(st, shard, fields));
}

/** Redis mode: one outbox entry holding the event, as lua/includes/events.lua appends a call's events. */
export async function appendToRedisOutbox(
  redis: Redis | Cluster,
  fields: Record<string, string>,
  shard = 0,
): Promise<string> {
  return (await redis.xadd(outboxKey(shard), '*', EVENT_FIELD, packEvent(fields))) as string;
}

// ---------------------------------------------------------------- the documented check

export type Verify = (rawBody: Buffer | string, header: string, secret: string) => boolean;

/**
 * The signature check of docs/operations.md, run as written: its code block
 * (the one that exports verifyTollgateSignature) saved as a module and imported.
 */
export async function documentedVerify(): Promise<Verify> {
  const page = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
  const blocks = [...page.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  const code = blocks.find((b) => b.includes('export function verifyTollgateSignature'));
  if (code === undefined) throw new Error('docs/operations.md: no verifyTollgateSignature block');
  const file = join(mkdtempSync(join(tmpdir(), 'tg-verify-')), 'verify.mjs');
  writeFileSync(file, code);
  const mod = (await import(pathToFileURL(file).href)) as { verifyTollgateSignature: Verify };
  return mod.verifyTollgateSignature;
}
