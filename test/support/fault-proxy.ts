/**
 * A TCP proxy in front of one Redis node (or any TCP server) that can lose a
 * reply: the fault "the command ran, its answer never came back".
 *
 *   const proxy = await FaultProxy.start({ host, port });
 *   const fired = proxy.armDropNextReply({ match: agentId });
 *   await op();            // through a client connected to proxy.port
 *   await fired;           // the drop happened
 *
 * Armed, the first client→server write that matches (default: any) is
 * forwarded to the server as it is; the first reply bytes that come back on
 * that connection are dropped and both sockets (client and upstream) are
 * destroyed. ioredis sees a closed connection with the command unanswered,
 * reconnects and (autoResendUnfulfilledCommands, its default) sends the same
 * command again: the server runs it twice.
 *
 * A reply that says the command did not run (NOSCRIPT: EVALSHA before the
 * script was loaded on that node; MOVED/ASK/TRYAGAIN/CLUSTERDOWN/LOADING) is
 * passed through and the proxy stays armed: the command that follows (the
 * fallback EVAL, the redirected command) is the one whose reply is dropped.
 *
 * Proxies made by proxyCluster share one arming: the first matching write on
 * any of them takes it.
 */
import net from 'node:net';

export interface DropOptions {
  /**
   * Which write counts as "the command": text it contains (the agent id, a
   * script argument), or a predicate on the written bytes. Default: any write.
   */
  match?: string | ((written: Buffer) => boolean);
  /** Matching writes to let through (answered) before the one whose reply is dropped. Default 0. */
  skip?: number;
}

export interface Drop {
  /** The first 200 bytes of the write whose reply was dropped (RESP, for messages). */
  command: string;
  /** The first 200 bytes of the dropped reply. */
  reply: string;
}

interface Armed {
  match: (b: Buffer) => boolean;
  skip: number;
  resolve: (d: Drop) => void;
}

/** Where an armed drop waits; shared by the proxies of one Cluster. */
export interface Arming {
  current?: Armed;
}

/** Error replies of commands that did not run (the client sends another command after them). */
const NOT_RUN = /^-(NOSCRIPT|MOVED|ASK|TRYAGAIN|CLUSTERDOWN|LOADING) /;

function matcher(m: DropOptions['match']): (b: Buffer) => boolean {
  if (m === undefined) return () => true;
  if (typeof m === 'string') return (b) => b.includes(m);
  return m;
}

/** Arms `arming` (see FaultProxy.armDropNextReply). */
export function arm(arming: Arming, opts: DropOptions = {}): Promise<Drop> {
  return new Promise<Drop>((resolve) => {
    arming.current = { match: matcher(opts.match), skip: opts.skip ?? 0, resolve };
  });
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  /** Set when this connection carried the armed command: its next reply is dropped. */
  doomed?: { command: Buffer; armed: Armed };
}

export class FaultProxy {
  private readonly pairs = new Set<Pair>();
  /** Replies dropped so far. */
  dropped = 0;
  /** Connections accepted so far (a reconnect after a drop adds one). */
  accepted = 0;

  private constructor(
    private readonly server: net.Server,
    readonly target: { host: string; port: number },
    readonly host: string,
    readonly port: number,
    private readonly arming: Arming,
  ) {}

  /** A proxy on a free 127.0.0.1 port in front of `target` (`arming`: shared with other proxies). */
  static async start(
    target: { host: string; port: number },
    arming: Arming = {},
  ): Promise<FaultProxy> {
    let self: FaultProxy | undefined;
    const server = net.createServer((client) => self?.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address() as net.AddressInfo;
    self = new FaultProxy(server, target, '127.0.0.1', address.port, arming);
    return self;
  }

  /** `redis://127.0.0.1:<proxy port>` */
  get url(): string {
    return `redis://${this.host}:${this.port}`;
  }

  /** Open client connections. */
  get connections(): number {
    return this.pairs.size;
  }

  /**
   * Drops the reply to the next (matching) command, then cuts that
   * connection. The promise resolves when the drop has happened; arming again
   * replaces an armed drop that has not fired (its promise never resolves).
   */
  armDropNextReply(opts: DropOptions = {}): Promise<Drop> {
    return arm(this.arming, opts);
  }

  /** Disarms a drop that has not fired (no effect on one that is under way). */
  disarm(): void {
    this.arming.current = undefined;
  }

  /** Destroys every open connection (both sides); new connections are still accepted. */
  cutAll(): void {
    for (const p of this.pairs) this.destroy(p);
  }

  /** Stops accepting, cuts every connection. */
  async close(): Promise<void> {
    this.disarm();
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    client.setNoDelay(true);
    const upstream = net.connect(this.target.port, this.target.host);
    upstream.setNoDelay(true);
    const pair: Pair = { client, upstream };
    this.pairs.add(pair);
    // Client bytes that arrive before the upstream connects are buffered by the socket.
    client.on('data', (chunk: Buffer) => {
      const a = this.arming.current;
      if (a !== undefined && pair.doomed === undefined && a.match(chunk)) {
        if (a.skip > 0) a.skip--;
        else {
          this.arming.current = undefined;
          pair.doomed = { command: chunk, armed: a };
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      const d = pair.doomed;
      if (d === undefined) {
        client.write(chunk);
        return;
      }
      if (NOT_RUN.test(chunk.subarray(0, 16).toString('latin1'))) {
        // The command did not run: pass the error on, stay armed for the one that follows.
        pair.doomed = undefined;
        this.arming.current = d.armed;
        client.write(chunk);
        return;
      }
      this.dropped++;
      this.destroy(pair);
      d.armed.resolve({
        command: d.command.subarray(0, 200).toString('latin1'),
        reply: chunk.subarray(0, 200).toString('latin1'),
      });
    });
    const end = () => this.destroy(pair);
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  }

  private destroy(p: Pair): void {
    if (!this.pairs.delete(p)) return;
    p.client.destroy();
    p.upstream.destroy();
  }
}

/**
 * One proxy per Cluster node and the ioredis `natMap` that sends a Cluster
 * client through them: the nodes announce their real addresses in CLUSTER
 * SLOTS, the map turns each into its proxy's.
 */
export async function proxyCluster(nodes: { host: string; port: number }[]): Promise<{
  proxies: FaultProxy[];
  natMap: Record<string, { host: string; port: number }>;
  /** Seed nodes: the proxies. */
  seeds: { host: string; port: number }[];
  /** Arms every proxy at once: the first matching write on any of them is the command. */
  armDropNextReply(opts?: DropOptions): Promise<Drop>;
  disarm(): void;
  /** Replies dropped by all the proxies. */
  readonly dropped: number;
  cutAll(): void;
  /** The proxy in front of the node that serves `port` (a real node port). */
  proxyOf(port: number): FaultProxy;
  close(): Promise<void>;
}> {
  const arming: Arming = {};
  const proxies = await Promise.all(nodes.map((n) => FaultProxy.start(n, arming)));
  const natMap: Record<string, { host: string; port: number }> = {};
  for (const p of proxies) {
    natMap[`${p.target.host}:${p.target.port}`] = { host: p.host, port: p.port };
    // Some setups announce the node as localhost.
    natMap[`localhost:${p.target.port}`] = { host: p.host, port: p.port };
  }
  return {
    proxies,
    natMap,
    seeds: proxies.map((p) => ({ host: p.host, port: p.port })),
    armDropNextReply: (opts) => arm(arming, opts),
    disarm: () => {
      arming.current = undefined;
    },
    get dropped() {
      return proxies.reduce((n, p) => n + p.dropped, 0);
    },
    cutAll: () => {
      for (const p of proxies) p.cutAll();
    },
    proxyOf: (port) => {
      const p = proxies.find((x) => x.target.port === port);
      if (p === undefined) throw new Error(`no proxy for node port ${port}`);
      return p;
    },
    close: async () => {
      await Promise.all(proxies.map((p) => p.close()));
    },
  };
}
