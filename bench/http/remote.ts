/**
 * Starts the server under test: in a child process (default; its event loop
 * and CPU are its own, and its usage is read over IPC) or, with
 * BENCH_HTTP_SERVER=inline, in this process next to the load generator.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startProfile, stopProfile } from '../lib/profiler.js';
import type { FromChild, ToChild } from './child.js';
import { startBenchServer } from './server.js';
import type { ServerUsage } from './usage.js';

export type ServerMode = 'child' | 'inline';

export interface UsageSource {
  port: number;
  engine: 'redis' | 'memory';
  /** The engine's shard count (one audit outbox stream each). */
  shards: number;
  mode: ServerMode;
  /** The server's own CPU and event loop; in inline mode, this whole process. */
  usage(): Promise<ServerUsage>;
  /** A CPU profile of the server process (inline: this process) from now… */
  profileStart(): Promise<void>;
  /** …to now, written to `file`. */
  profileStop(file: string): Promise<void>;
  close(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

export function serverMode(): ServerMode {
  return process.env.BENCH_HTTP_SERVER === 'inline' ? 'inline' : 'child';
}

export async function launchServer(redisUrl: string | undefined): Promise<UsageSource> {
  if (serverMode() === 'inline') {
    const s = await startBenchServer(redisUrl);
    return {
      ...s,
      mode: 'inline',
      usage: async () => s.usage(),
      profileStart: startProfile,
      profileStop: stopProfile,
    };
  }
  const child = fork(CHILD, redisUrl ? [redisUrl] : [], {
    execArgv: ['--import', 'tsx'],
    stdio: 'inherit',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  /** The next message of `type` (an 'error' rejects; so does the child's exit). */
  const next = <T extends FromChild['type']>(type: T) =>
    new Promise<Extract<FromChild, { type: T }>>((resolve, reject) => {
      const onMessage = (m: FromChild) => {
        if (m.type !== type && m.type !== 'error') return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (m.type === 'error') reject(new Error(`server child: ${m.message}`));
        else resolve(m as Extract<FromChild, { type: T }>);
      };
      const onExit = (code: number | null) => {
        child.off('message', onMessage);
        reject(new Error(`server child exited (${code}) while waiting for '${type}'`));
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const ask = <T extends FromChild['type']>(m: ToChild, type: T) => {
    const reply = next(type);
    child.send(m);
    return reply;
  };

  let ready: Extract<FromChild, { type: 'ready' }>;
  try {
    ready = await next('ready');
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    port: ready.port,
    engine: ready.engine,
    shards: ready.shards,
    mode: 'child',
    usage: async () => (await ask({ type: 'usage' }, 'usage')).usage,
    profileStart: async () => {
      await ask({ type: 'profile-start' }, 'ok');
    },
    profileStop: async (file) => {
      await ask({ type: 'profile-stop', file }, 'ok');
    },
    async close() {
      if (child.exitCode === null && child.connected)
        child.send({ type: 'stop' } satisfies ToChild);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
