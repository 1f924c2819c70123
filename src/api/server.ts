import type { RequestListener, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

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
  const server = createServer(opts.app);
  // A slow client cannot hold a connection forever.
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
  // Bytes that are not HTTP never reach the app: answer them with the same envelope.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify({
      error: { code: 'VALIDATION_FAILED', message: 'Malformed HTTP request', details: {} },
    });
    socket.end(
      `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
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
  server.on('request', (_req, res: ServerResponse) => {
    if (draining) res.setHeader('Connection', 'close');
    active.add(res);
    res.on('close', () => active.delete(res));
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
