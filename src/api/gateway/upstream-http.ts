/**
 * How the gateway reaches a provider by default (docs/gateway.md): requests
 * over node:http and node:https with keep-alive agents of its own, answered
 * as src/meter/upstream.ts reads an answer, as Node's `fetch` would answer
 * them. A JSON answer is read as text straight from the socket; a stream is
 * made only for a body read as one (a streamed answer, an answer passed on).
 * Node's `fetch` (undici's WHATWG layer: a Request, a Response and their
 * streams) cost the gateway's hop to the upstream ~3× as much
 * (docs/decisions.md, "Model calls").
 *
 * As `fetch`: the body is read as the upstream sends it (never buffered
 * beyond what the reader has not taken yet), an abort fails the request or
 * the body with the signal's reason, an upstream that cuts its answer fails
 * the body. The answer's head waits at most `timeoutMs`, and so does each
 * chunk of its body (fetch's 5 minutes); then the request fails. No redirect
 * is followed and no encoding asked for (the gateway forwards no
 * `accept-encoding`).
 */
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import {
  type AnswerHeaders,
  NULL_BODY_STATUSES,
  type UpstreamAnswer,
  type UpstreamFetch,
} from '../../meter/upstream.js';

/** How long the upstream may stay silent (fetch's head and body timeouts). */
export const UPSTREAM_IDLE_MS = 300_000;

/** How long an idle connection is kept for the next call (undici's default). */
const KEEP_ALIVE_MS = 4_000;

/** The abort's reason, as fetch fails with it. */
function reasonOf(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/**
 * The head's fields as fetch's Headers gives them: names in lower case and in
 * order, the values of a repeated name joined by ', ' (set-cookie's one by one).
 */
class RawHeaders implements AnswerHeaders {
  #fields: [string, string[]][] | undefined;

  constructor(private readonly raw: readonly string[]) {}

  get(name: string): string | null {
    const lower = name.toLowerCase();
    let value: string | null = null;
    for (let i = 0; i < this.raw.length; i += 2) {
      if ((this.raw[i] as string).toLowerCase() !== lower) continue;
      const v = this.raw[i + 1] as string;
      value = value === null ? v : `${value}, ${v}`;
    }
    return value;
  }

  forEach(callback: (value: string, name: string) => void): void {
    if (this.#fields === undefined) {
      const byName = new Map<string, string[]>();
      for (let i = 0; i < this.raw.length; i += 2) {
        const name = (this.raw[i] as string).toLowerCase();
        const values = byName.get(name);
        if (values === undefined) byName.set(name, [this.raw[i + 1] as string]);
        else values.push(this.raw[i + 1] as string);
      }
      this.#fields = [...byName].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    }
    for (const [name, values] of this.#fields) {
      if (name === 'set-cookie') for (const v of values) callback(v, name);
      else callback(values.join(', '), name);
    }
  }
}

/**
 * An answer over node:http. Its chunks are kept until the body is asked for,
 * as text (`text()`) or as a stream (`body`), whichever comes first.
 */
class HttpAnswer implements UpstreamAnswer {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly headers: RawHeaders;
  #chunks: Buffer[] = [];
  #ended = false;
  #error: { reason: unknown } | undefined;
  /** undefined: not asked for yet. */
  #stream: ReadableStream<Uint8Array> | null | undefined;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #waiting: { resolve: (text: string) => void; reject: (reason: unknown) => void } | undefined;
  #used = false;

  constructor(
    private readonly res: IncomingMessage,
    private readonly stop: () => void,
  ) {
    this.status = res.statusCode ?? 0;
    this.ok = this.status >= 200 && this.status <= 299;
    this.statusText = res.statusMessage ?? '';
    this.headers = new RawHeaders(res.rawHeaders);
    if (NULL_BODY_STATUSES.has(this.status)) {
      this.#stream = null;
      res.resume();
      return;
    }
    res.on('data', (chunk: Buffer) => {
      if (this.#error !== undefined) return;
      const c = this.#controller;
      if (c === undefined) {
        this.#chunks.push(chunk);
        return;
      }
      c.enqueue(chunk);
      if ((c.desiredSize ?? 0) <= 0) res.pause();
    });
    res.once('end', () => {
      if (this.#error !== undefined) return;
      this.#ended = true;
      this.#controller?.close();
      const w = this.#waiting;
      if (w !== undefined) w.resolve(this.#text());
    });
  }

  /** The body failed (an abort, a cut, a timeout, cancelled): whoever reads it sees `reason`. */
  fail(reason: unknown): void {
    if (this.#ended || this.#error !== undefined) return;
    this.#error = { reason };
    this.#controller?.error(reason);
    this.#waiting?.reject(reason);
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#stream !== undefined) return this.#stream;
    const stream = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#controller = c;
        for (const chunk of this.#chunks) c.enqueue(chunk);
        this.#chunks = [];
        if (this.#error !== undefined) c.error(this.#error.reason);
        else if (this.#ended) c.close();
      },
      pull: () => {
        this.res.resume();
      },
      cancel: (reason: unknown) => {
        // Nothing more is read: the request ends (its socket is not reused).
        this.#error ??= { reason };
        this.stop();
      },
    });
    this.#stream = stream;
    return stream;
  }

  text(): Promise<string> {
    if (this.#used) return Promise.reject(new TypeError('The body has already been read'));
    this.#used = true;
    const stream = this.#stream;
    if (stream === null) return Promise.resolve('');
    // Asked for as a stream first: read it, as fetch would.
    if (stream !== undefined) return new Response(stream).text();
    if (this.#error !== undefined) return Promise.reject(this.#error.reason);
    if (this.#ended) return Promise.resolve(this.#text());
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }

  #text(): string {
    const chunks = this.#chunks;
    this.#chunks = [];
    const text = (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).toString(
      'utf8',
    );
    // As fetch's text() decodes: a leading byte order mark is not text.
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }
}

export function upstreamHttp(timeoutMs = UPSTREAM_IDLE_MS): UpstreamFetch<HttpAnswer> {
  const agents = {
    'http:': new http.Agent({ keepAlive: true, timeout: KEEP_ALIVE_MS }),
    'https:': new https.Agent({ keepAlive: true, timeout: KEEP_ALIVE_MS }),
  };
  return (url, init) =>
    new Promise<HttpAnswer>((resolve, reject) => {
      const u = new URL(url);
      const protocol = u.protocol;
      if (protocol !== 'http:' && protocol !== 'https:') {
        reject(new TypeError(`the upstream's URL is not http(s): ${url}`));
        return;
      }
      const signal = init.signal ?? undefined;
      if (signal?.aborted) {
        reject(reasonOf(signal));
        return;
      }
      const headers: Record<string, string> = {};
      init.headers.forEach((value, name) => {
        headers[name] = value;
      });
      if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
      const req: ClientRequest = (protocol === 'https:' ? https : http).request({
        protocol,
        hostname: u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        method: init.method,
        headers,
        agent: agents[protocol],
      });
      let answer: HttpAnswer | undefined;
      let done = false;
      /** Ends the request, failing whichever waits: the answer's head or its body. */
      const fail = (reason: unknown) => {
        if (done) return;
        done = true;
        signal?.removeEventListener('abort', onAbort);
        req.destroy();
        if (answer === undefined) reject(reason);
        else answer.fail(reason);
      };
      const onAbort = () => fail(reasonOf(signal as AbortSignal));
      signal?.addEventListener('abort', onAbort, { once: true });
      req.setTimeout(timeoutMs, () =>
        fail(new Error(`the upstream was silent for ${timeoutMs} ms`)),
      );
      req.on('error', fail);
      req.once('response', (res) => {
        res.on('error', fail);
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 599) {
          fail(new TypeError(`the upstream answered status ${status}`));
          return;
        }
        answer = new HttpAnswer(res, () => fail(undefined));
        res.once('close', () => {
          // Closed before its end: the upstream cut the answer.
          if (!res.complete) fail(new TypeError('the upstream cut its answer'));
          done = true;
          signal?.removeEventListener('abort', onAbort);
        });
        resolve(answer);
      });
      req.end(init.body);
    });
}
