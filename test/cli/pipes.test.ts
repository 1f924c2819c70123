/**
 * A reader that goes away (`tollgate … | head -1`) ends the command quietly,
 * exit 0, no EPIPE stack trace: the real CLI as a child process whose stdout
 * pipe is closed before it writes (so every write fails), and the issue's
 * own `| head -1` through bash.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../src/api/index.js';
import { TollgateClient } from '../../src/client/index.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { uid } from '../support/engines.js';

const ADMIN = 'cli-pipes-admin-token-0123456789';
const CLI = ['--import', 'tsx', 'src/cli/main.ts'];

let tg: Tollgate;
let server: Server;
let env: NodeJS.ProcessEnv;
let admin: TollgateClient;
const dataDir = mkdtempSync(join(tmpdir(), 'tg-pipes-'));

beforeAll(async () => {
  tg = await createTollgate({ redis: inject('redisUrl') });
  server = createApp({ tollgate: tg, adminToken: ADMIN }).listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  env = {
    TOLLGATE_URL: base,
    TOLLGATE_ADMIN_TOKEN: ADMIN,
    TOLLGATE_DATA_DIR: dataDir,
    REDIS_URL: '',
    REDIS_CLUSTER_NODES: '',
    DATABASE_URL: '',
  };
  admin = new TollgateClient({ baseUrl: base, token: ADMIN });
});

afterAll(async () => {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  await tg.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Runs the CLI with its stdout closed from the start: every write to it fails (EPIPE). */
function closedStdout(
  args: readonly string[],
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stderr: string }> {
  const proc = spawn(process.execPath, [...CLI, ...args], {
    env: { ...process.env, ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.destroy();
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 50_000);
  return new Promise((resolve) =>
    proc.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}

describe('a closed pipe ends the command quietly', () => {
  it('agents register: exit 0, nothing on stderr, and the agent is registered', {
    timeout: 60_000,
  }, async () => {
    const id = uid('pipe');
    const r = await closedStdout(['agents', 'register', id, '--role', 'coder']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await admin.getAgent(id)).agent_id).toBe(id);
  });

  it.each(
    [['agents', 'list'], ['agents', 'list', '--json'], ['--help'], ['demo']].map(
      (args) => [args.join(' '), args] as const,
    ),
  )('%s: exit 0, nothing on stderr', { timeout: 60_000 }, async (_name, args) => {
    const r = await closedStdout(args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('serve (Redis mode) stops gracefully when its output goes away', {
    timeout: 60_000,
  }, async () => {
    const r = await closedStdout(['serve', '--port', '0'], { REDIS_URL: inject('redisUrl') });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('the issue’s own line: agents register … | head -1 (bash, pipefail)', {
    timeout: 60_000,
  }, async () => {
    const id = uid('head');
    const proc = spawn(
      'bash',
      [
        '-c',
        `set -o pipefail; "$0" "$@" | head -1`,
        process.execPath,
        ...CLI,
        'agents',
        'register',
        id,
        '--role',
        'coder',
      ],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    proc.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => proc.once('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toBe(`Registered agent ${id}.\n`);
  });
});
