import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inject } from 'vitest';
import { type AppDeps, createApp } from '../../src/api/index.js';
import { createTollgate, type Tollgate, type TollgateOptions } from '../../src/index.js';
import { uid } from '../support/engines.js';

export const ADMIN = 'test-admin-token-0123456789abcdef';

export interface Reply {
  status: number;
  headers: Headers;
  /** Parsed JSON (undefined when the body is not JSON). */
  // biome-ignore lint/suspicious/noExplicitAny: response JSON, checked by each test
  body: any;
  text: string;
}

export interface RequestOptions {
  token?: string | null;
  body?: unknown;
  /** Sent as is (for malformed JSON and the like). */
  raw?: string | Uint8Array;
  headers?: Record<string, string>;
}

export interface Api {
  base: string;
  tg: Tollgate;
  call(method: string, path: string, opts?: RequestOptions): Promise<Reply>;
  /** Registers an agent (admin) and returns its id and key. */
  agent(role?: string, id?: string): Promise<{ id: string; key: string }>;
  close(): Promise<void>;
}

/** A Tollgate on the run's private Redis, behind the API on a free port. */
export async function startApi(
  opts: { tollgate?: TollgateOptions; app?: Partial<AppDeps> } = {},
): Promise<Api> {
  const tg = await createTollgate({ redis: inject('redisUrl'), ...opts.tollgate });
  const app = createApp({ tollgate: tg, adminToken: ADMIN, ...opts.app });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const call = async (method: string, path: string, o: RequestOptions = {}): Promise<Reply> => {
    const headers: Record<string, string> = { ...o.headers };
    const token = o.token === undefined ? ADMIN : o.token;
    if (token !== null) headers.authorization ??= `Bearer ${token}`;
    let body: string | Uint8Array | undefined;
    if (o.raw !== undefined) body = o.raw;
    else if (o.body !== undefined) body = JSON.stringify(o.body);
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    const {
      status,
      headers: h,
      text,
    } = body !== undefined && (method === 'GET' || method === 'HEAD')
      ? await rawRequest(base + path, method, headers, body)
      : await fetch(base + path, { method, headers, body }).then(async (res) => ({
          status: res.status,
          headers: res.headers,
          text: await res.text(),
        }));
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status, headers: h, body: parsed, text };
  };

  const agent = async (role = 'coder', id = uid('api')) => {
    const r = await call('POST', '/v1/agents', { body: { agent_id: id, role } });
    if (r.status !== 201) throw new Error(`register ${id}: ${r.status} ${r.text}`);
    return { id, key: r.body.api_key as string };
  };

  return {
    base,
    tg,
    call,
    agent,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await tg.close();
    },
  };
}

/** An error envelope (docs/api.md, "Errors") with this code. */
export function isError(r: Reply, code: string): boolean {
  return (
    r.body?.error?.code === code &&
    typeof r.body.error.message === 'string' &&
    typeof r.body.error.details === 'object'
  );
}

/** A request fetch will not send (a GET with a body). */
function rawRequest(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string | Uint8Array,
): Promise<{ status: number; headers: Headers; text: string }> {
  return new Promise((resolve, reject) => {
    const length = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
    const req = request(
      url,
      { method, headers: { ...headers, 'content-length': length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
          resolve({
            status: res.statusCode ?? 0,
            headers: h,
            text: Buffer.concat(chunks).toString(),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
