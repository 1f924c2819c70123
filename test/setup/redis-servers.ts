/**
 * Private Redis instances for tests.
 *
 * Tests never use a shared Redis (the one on 6379 belongs to other people and
 * processes). Each helper here spawns its own `redis-server` on a free
 * 127.0.0.1 port, in its own temporary directory, without persistence, and
 * removes everything again on `stop()`. Processes that are still running
 * when the test process exits are killed by an `exit` handler.
 *
 *   startRedis()    one standalone node (noeviction, no RDB, no AOF)
 *   startCluster()  three masters, all 16384 slots assigned, no replicas
 *
 * A Cluster with replicas, for the failover tests, is in
 * ./redis-cluster-replicas.ts (built on RedisProcess and startOnFreePorts).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const CLUSTER_READY_TIMEOUT_MS = 30_000;

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** The server's working directory (temporary; removed by `stop()`). */
  readonly dir: string;
  /** Kill the server (SIGTERM, then SIGKILL) and remove its directory. Idempotent. */
  stop(): Promise<void>;
  /**
   * Kill the server (if running) and start it again on the same port with the
   * same arguments. Its directory is kept (a cluster node keeps its
   * nodes.conf); works after `stop()` too, which is how an outage test takes
   * Redis away for a while and brings it back. Data does not survive (no
   * persistence).
   */
  restart(): Promise<void>;
  /**
   * Sends `signal` (default SIGKILL: no shutdown, no save, the sockets cut)
   * and resolves once the process is gone. The directory stays, so
   * `restart()` brings the node back, empty, with its nodes.conf.
   */
  crash(signal?: NodeJS.Signals): Promise<void>;
}

export interface RedisClusterNode {
  host: string;
  port: number;
}

export interface RedisCluster {
  /** Seed nodes, the shape `new Redis.Cluster(nodes)` takes. */
  readonly nodes: RedisClusterNode[];
  /** The three masters, for tests that want to restart one of them. */
  readonly servers: RedisServer[];
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: string[];
}

// ---------------------------------------------------------------------------
// Cleanup if the test process goes away without calling stop()

const live = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHandlerInstalled = false;

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL and rmSync are.
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of liveDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
  });
}

// ---------------------------------------------------------------------------
// Ports

/**
 * `n` distinct free TCP ports on 127.0.0.1: bind n listeners to port 0 at the
 * same time (so the kernel cannot hand out one port twice), read their ports,
 * release them. Another process may still grab one before redis binds it;
 * startRedis() retries with new ports when that happens.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, HOST, () => resolve());
      });
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no TCP address');
      ports.push(address.port);
    }
    return ports;
  } finally {
    await Promise.all(
      servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
    );
  }
}

// ---------------------------------------------------------------------------
// A minimal RESP client (no connection pool, no retries: exactly one command)

function encodeCommand(args: string[]): string {
  let out = `*${args.length}\r\n`;
  for (const arg of args) out += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
  return out;
}

export type RespValue = string | number | null | RespValue[];

/**
 * Parses one RESP2 reply starting at buf[at]: its value and the offset after
 * it, or undefined if the buffer does not hold all of it yet. An error reply
 * is returned as an Error.
 */
function parseReply(buf: Buffer, at = 0): { value: RespValue | Error; end: number } | undefined {
  const lineEnd = buf.indexOf('\r\n', at);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buf[at] ?? 0);
  const line = buf.subarray(at + 1, lineEnd).toString();
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new Error(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return undefined;
      return { value: buf.subarray(next, next + len).toString(), end: next + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let end = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, end);
        if (item === undefined) return undefined;
        if (item.value instanceof Error) return item;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      return { value: new Error(`unexpected RESP reply type ${JSON.stringify(type)}`), end: next };
  }
}

/**
 * Sends one command to 127.0.0.1:port on a fresh connection and resolves with
 * its reply (bulk and simple strings as strings, integers as numbers, arrays
 * as arrays); an error reply rejects. For readiness checks, not for tests.
 */
export function redisCommand(port: number, args: string[], timeoutMs = 2_000): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | undefined, value: RespValue = null) => {
      if (done) return;
      done = true;
      socket.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    socket.setTimeout(timeoutMs, () => finish(new Error(`timeout on ${args[0]} to :${port}`)));
    socket.once('error', (err) => finish(err));
    socket.once('connect', () => socket.write(encodeCommand(args)));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const reply = parseReply(buf);
      if (reply === undefined) return;
      if (reply.value instanceof Error) finish(reply.value);
      else finish(undefined, reply.value);
    });
    socket.once('end', () => finish(new Error(`connection to :${port} closed before a reply`)));
  });
}

// ---------------------------------------------------------------------------
// One redis-server process

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export class RedisProcess implements RedisServer {
  readonly host = HOST;
  readonly url: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly extraArgs: string[],
  ) {
    this.url = `redis://${HOST}:${port}`;
  }

  private get logFile(): string {
    return join(this.dir, 'redis.log');
  }

  /** Spawns redis-server and waits for PING; rejects (and cleans up) if it does not come up. */
  async start(): Promise<void> {
    installExitHandler();
    mkdirSync(this.dir, { recursive: true });
    liveDirs.add(this.dir);
    const args = [
      '--port',
      String(this.port),
      '--bind',
      HOST,
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
      '--logfile',
      this.logFile,
      '--maxmemory-policy',
      'noeviction',
      ...this.extraArgs,
    ];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    // Startup errors (bad arguments) go to stdout/stderr, not to the logfile:
    // keep the last few KB for the error message.
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4096);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    // A forgotten server must not keep the test process alive; the exit
    // handler kills it.
    child.unref();
    (child.stdout as net.Socket | null)?.unref();
    (child.stderr as net.Socket | null)?.unref();
    this.child = child;
    live.add(child);
    let exitInfo: string | undefined;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitInfo = `exited with ${signal ?? `code ${code}`}`;
        live.delete(child);
        resolve();
      });
      child.once('error', (err) => {
        exitInfo = `failed to spawn redis-server: ${err.message}`;
        live.delete(child);
        resolve();
      });
    });

    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (exitInfo !== undefined) {
        this.child = undefined;
        throw new Error(
          `redis-server on port ${this.port} ${exitInfo}\n${output.trim()}\n${tail(this.logFile)}`,
        );
      }
      try {
        if ((await redisCommand(this.port, ['PING'], 500)) === 'PONG') return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(
          `redis-server on port ${this.port} did not answer PING within ${READY_TIMEOUT_MS} ms\n${tail(this.logFile)}`,
        );
      }
      await sleep(25);
    }
  }

  /** SIGTERM, then SIGKILL after STOP_TIMEOUT_MS; resolves once the process is gone. */
  private async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
      await this.exited;
      return;
    }
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(timer);
  }

  async crash(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    await this.exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
    liveDirs.delete(this.dir);
  }

  async restart(): Promise<void> {
    await this.kill();
    // The port was ours a moment ago; redis binds with SO_REUSEADDR, but
    // another process could take it meanwhile: retry a few times.
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await this.start();
        return;
      } catch (err) {
        lastError = err;
        await sleep(200);
      }
    }
    throw lastError;
  }
}

function isAddressInUse(err: unknown): boolean {
  return err instanceof Error && /address already in use/i.test(err.message);
}

/** Starts redis-server processes on fresh free ports, retrying when a port was taken meanwhile. */
export async function startOnFreePorts(
  makeArgs: (ports: number[]) => string[],
  portsNeeded: number,
  dirPrefix: string,
): Promise<RedisProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const ports = await freePorts(portsNeeded);
    const port = ports[0];
    if (port === undefined) throw new Error('no free port');
    const dir = mkdtempSync(join(tmpdir(), dirPrefix));
    const server = new RedisProcess(port, dir, makeArgs(ports));
    try {
      await server.start();
      return server;
    } catch (err) {
      lastError = err;
      await server.stop();
      if (!isAddressInUse(err)) throw err;
    }
  }
  throw lastError;
}

// ---------------------------------------------------------------------------
// Public API

/**
 * Starts a private standalone redis-server on a free port:
 * `--bind 127.0.0.1 --save "" --appendonly no --maxmemory-policy noeviction`
 * in a fresh temp dir, plus `opts.args`. Resolves once it answers PING.
 */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const extra = opts.args ?? [];
  return startOnFreePorts(() => extra, 1, 'tollgate-redis-');
}

/**
 * Starts a private 3-master Redis Cluster (no replicas) on free ports, each
 * node in its own temp dir, and waits until every node reports
 * `cluster_state:ok` with all 16384 slots assigned.
 */
export async function startCluster(): Promise<RedisCluster> {
  const servers: RedisProcess[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    for (let i = 0; i < 3; i++) {
      servers.push(
        await startOnFreePorts(
          // Two ports per node: client port and cluster bus port (explicit,
          // rather than port+10000, which may be out of range or taken).
          (ports) => [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '5000',
            '--cluster-port',
            String(ports[1]),
          ],
          2,
          'tollgate-cluster-',
        ),
      );
    }
    await createCluster(servers, 0, CLUSTER_READY_TIMEOUT_MS);
    await waitForClusterOk(servers.map((s) => s.port));
    return {
      nodes: servers.map((s) => ({ host: s.host, port: s.port })),
      servers,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** `redis-cli --cluster create` over started nodes, with `replicas` replicas per master. */
export async function createCluster(
  servers: readonly { port: number }[],
  replicas: number,
  timeoutMs: number,
): Promise<void> {
  const addresses = servers.map((s) => `${HOST}:${s.port}`);
  try {
    await execFileAsync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...addresses,
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      { timeout: timeoutMs },
    );
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(
      `redis-cli --cluster create failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`,
    );
  }
}

/** Polls CLUSTER INFO on every node until state ok and 16384 slots assigned. */
export async function waitForClusterOk(
  ports: number[],
  timeoutMs = CLUSTER_READY_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const infos = await Promise.all(
      ports.map((port) =>
        redisCommand(port, ['CLUSTER', 'INFO']).then(
          (info) => String(info),
          (err: Error) => `error: ${err.message}`,
        ),
      ),
    );
    const ok = infos.every(
      (info) =>
        /^cluster_state:ok\r?$/m.test(info) && /^cluster_slots_assigned:16384\r?$/m.test(info),
    );
    if (ok) return;
    last = infos
      .map((info, i) => `:${ports[i]} ${info.split('\n').slice(0, 3).join(' ')}`)
      .join('\n');
    if (Date.now() > deadline) {
      throw new Error(`cluster not ok within ${timeoutMs} ms:\n${last}`);
    }
    await sleep(100);
  }
}
