import type { RequestListener, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

/** Default HTTP timeouts of `startServer` (milliseconds). */
export const DEFAULT_HTTP_TIMEOUTS = {
  /** The request line and headers must arrive within this (Node's `server.headersTimeout`). */
  headersTimeoutMs: 20_000,
  /**
   * The whole request, body included, must arrive within this
   * (`server.requestTimeout`); a connection silent both ways this long is cut
   * (`server.timeout`).
   */
  requestTimeoutMs: 30_000,
  /** An idle keep-alive connection is closed after this (`server.keepAliveTimeout`). */
  keepAliveTimeoutMs: 5_000,
} as const;

export type HttpTimeouts = { -readonly [K in keyof typeof DEFAULT_HTTP_TIMEOUTS]: number };

export interface StartServerOptions {
  /** The app (createApp) or any request listener. */
  app: RequestListener;
  port: number;
  /** Default: every interface. */
  host?: string;
  /** Closed after the server has stopped (e.g. the Tollgate: `tollgate.close()`). */
  tollgate?: { close(): Promise<void> };
  /** Signals that start a graceful shutdown. Default SIGTERM and SIGINT; [] for none. */
  signals?: readonly NodeJS.Signals[];
  /** In-flight requests get this long to finish before their connections are cut. Default 10 000 ms. */
  shutdownTimeoutMs?: number;
  /** Called once the shutdown is complete (e.g. to exit the process). */
  onShutdown?: (error?: unknown) => void;
  /** HTTP timeouts; each defaults to DEFAULT_HTTP_TIMEOUTS. headersTimeoutMs ≤ requestTimeoutMs. */
  timeouts?: Partial<HttpTimeouts>;
}

export interface RunningServer {
  server: Server;
  /** The port listened on (useful with port 0). */
  port: number;
  /**
   * Graceful shutdown: stop accepting connections, let in-flight requests
   * finish (idle keep-alive connections close at once), then close the
   * Tollgate. Idempotent: every call returns the same promise.
   */
  close(): Promise<void>;
}

/** Listens, and shuts down gracefully on SIGTERM/SIGINT. */
export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  const t = { ...DEFAULT_HTTP_TIMEOUTS, ...opts.timeouts };
  for (const [name, ms] of Object.entries(t)) {
    if (!Number.isInteger(ms) || ms <= 0)
      throw new RangeError(`${name} must be a positive integer`);
  }
  if (t.headersTimeoutMs > t.requestTimeoutMs) {
    throw new RangeError('headersTimeoutMs must be <= requestTimeoutMs');
  }
  // A slow client cannot hold a connection (and its descriptor) for long:
  // Node checks the header and request deadlines every
  // connectionsCheckingInterval (default 30 s, far too coarse), then reports
  // the expiry as a clientError, whose handler below destroys the socket.
  const server = createServer(
    {
      headersTimeout: t.headersTimeoutMs,
      requestTimeout: t.requestTimeoutMs,
      keepAliveTimeout: t.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.max(
        50,
        Math.min(1_000, Math.floor(t.headersTimeoutMs / 4)),
      ),
    },
    opts.app,
  );
  // A connection silent both ways (e.g. a client that never reads its response).
  server.timeout = t.requestTimeoutMs;
  // The response in flight on each socket: bytes of our own must not be mixed into it.
  const current = new WeakMap<Duplex, ServerResponse>();
  // Bytes that are not HTTP, headers or a body not received in time: answer
  // with the error envelope if nothing else was sent on the socket, then
  // destroy it at once. (`socket.end()` alone half-closes: a client that
  // never reads nor closes would keep the descriptor forever.)
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code !== 'ECONNRESET' && socket.writable && !current.get(socket)?.headersSent) {
      socket.write(clientErrorResponse(err, t));
    }
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  // In-flight responses, so that a shutdown can ask their connections to close when they end.
  let draining = false;
  const active = new Set<ServerResponse>();
  server.on('request', (req, res: ServerResponse) => {
    if (draining) res.setHeader('Connection', 'close');
    active.add(res);
    current.set(req.socket, res);
    res.on('close', () => {
      active.delete(res);
      if (current.get(req.socket) === res) current.delete(req.socket);
    });
  });
  const signals = opts.signals ?? ['SIGTERM', 'SIGINT'];
  const shutdownTimeoutMs = opts.shutdownTimeoutMs ?? 10_000;

  let closing: Promise<void> | undefined;
  const onSignal = () => {
    void close();
  };
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const s of signals) process.off(s, onSignal);
      let error: unknown;
      try {
        await new Promise<void>((resolve) => {
          draining = true;
          for (const res of active) if (!res.headersSent) res.setHeader('Connection', 'close');
          const force = setTimeout(() => server.closeAllConnections(), shutdownTimeoutMs);
          // Keep-alive connections that went idle after the close began.
          const sweep = setInterval(() => server.closeIdleConnections(), 100);
          server.close(() => {
            clearTimeout(force);
            clearInterval(sweep);
            resolve();
          });
          server.closeIdleConnections();
        });
        await opts.tollgate?.close();
      } catch (e) {
        error = e;
      }
      opts.onShutdown?.(error);
      if (error !== undefined) throw error;
    })();
    return closing;
  };
  for (const s of signals) process.on(s, onSignal);
  return { server, port, close };
}

/** The raw 400 for a clientError, in the API's error envelope. */
function clientErrorResponse(err: NodeJS.ErrnoException, t: HttpTimeouts): string {
  const message =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? `Request not received in time (headers within ${t.headersTimeoutMs} ms, the whole request within ${t.requestTimeoutMs} ms)`
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? 'Request headers too large'
        : 'Malformed HTTP request';
  const body = JSON.stringify({ error: { code: 'VALIDATION_FAILED', message, details: {} } });
  return `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}
