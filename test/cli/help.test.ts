/**
 * Every command's --help (and -h) prints its usage and exits 0 without
 * acting: no connection to the API, Redis or PostgreSQL (all three point at
 * a TCP server that counts connections), no file written (the data folder
 * and, for the child processes, the working directory stay empty), no file
 * read (`policy check --help` does not look for a file named --help).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandPaths, runCli } from '../../src/cli/index.js';
import { capture } from '../support/capture.js';

/** Commands that parse their own line (servers, admin-token): --help must come before bad flags. */
const OWN_PARSERS = new Set(['serve', 'worker', 'admin-token']);
/** Commands that log rather than answer: no --json. */
const NO_JSON = new Set(['serve', 'worker']);
const TSX = pathToFileURL(resolve('node_modules/tsx/dist/loader.mjs')).href;

let counter: Server;
let connections = 0;
let env: NodeJS.ProcessEnv;
const dirs: string[] = [];
let dataDir: string;

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tg-help-'));
  dirs.push(d);
  return d;
}

beforeAll(async () => {
  counter = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((r) => counter.listen(0, '127.0.0.1', () => r()));
  const port = (counter.address() as { port: number }).port;
  dataDir = tempDir();
  env = {
    TOLLGATE_URL: `http://127.0.0.1:${port}`,
    TOLLGATE_ADMIN_TOKEN: 'help-test-admin-token-0123456789',
    REDIS_URL: `redis://127.0.0.1:${port}`,
    REDIS_CLUSTER_NODES: '',
    DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/none`,
    TOLLGATE_DATA_DIR: dataDir,
    TOLLGATE_POLICY: join(dataDir, 'no-such-policy.yaml'),
  };
});

afterAll(async () => {
  await new Promise<void>((r) => counter.close(() => r()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('--help on every command', () => {
  it('lists the commands it checks (every command runCli dispatches to)', async () => {
    const paths = (await commandPaths()).map((p) => p.join(' '));
    for (const c of [
      'serve',
      'demo',
      'policy check',
      'policy shadow-agents',
      'agents register',
      'agents set-role',
      'agents set-metadata',
      'agents set-limits',
      'agents move',
      'sessions start',
      'sessions end',
      'authorize',
      'settle',
      'release',
      'usage',
      'audit',
      'audit lag',
      'spend',
      'dashboard',
      'dashboard spend',
      'pools create',
      'health',
      'metrics',
    ]) {
      expect(paths).toContain(c);
    }
  });

  it('prints the usage and exits 0, acting on nothing (in process)', async () => {
    const paths = await commandPaths();
    for (const path of paths) {
      const forms = [
        [...path, '--help'],
        [...path, '-h'],
        // --help wins over a bad line: it never acts, and never fails.
        ...(OWN_PARSERS.has(path[0] ?? '') ? [] : [[...path, 'x', 'y', 'z', '--bogus', '--help']]),
      ];
      for (const argv of forms) {
        const out = capture();
        const code = await runCli(argv, env, out);
        const what = argv.join(' ');
        expect(code, what).toBe(0);
        expect(out.errors, what).toEqual([]);
        expect(out.values, what).toEqual([]);
        expect(out.stdout.startsWith(`Usage: tollgate ${path.join(' ')}`), what).toBe(true);
        if (!NO_JSON.has(path[0] ?? '')) expect(out.stdout, what).toContain('--json');
      }
    }
    expect(connections).toBe(0);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('a group word alone with --help lists its commands (exit 0)', async () => {
    for (const group of ['agents', 'sessions', 'pools', 'policy', 'audit', 'dashboard']) {
      const out = capture();
      expect(await runCli([group, '--help'], env, out), group).toBe(0);
      expect(out.stdout, group).toMatch(/^Usage: tollgate /);
    }
    expect(connections).toBe(0);
  });

  // The real binary: the cases the issue found, and commands that need no server.
  it.each(
    [
      ['demo', '--help'],
      ['policy', 'check', '--help'],
      ['serve', '-h'],
      ['admin-token', 'rotate', '--help'],
      ['agents', 'register', '--help'],
    ].map((argv) => [argv.join(' '), argv] as const),
  )(
    'the real CLI: tollgate %s exits 0 with its usage, no connection, no file',
    { timeout: 60_000 },
    async (_name, argv) => {
      const cwd = tempDir();
      const { code, stdout, stderr } = await runProcess(argv, cwd);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout).toMatch(/^Usage: tollgate /);
      expect(connections).toBe(0);
      expect(readdirSync(cwd)).toEqual([]);
      expect(readdirSync(dataDir)).toEqual([]);
    },
  );
});

/** `tollgate <argv>` from source, in `cwd`, to its end. */
function runProcess(
  argv: readonly string[],
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(
    process.execPath,
    // tsx by path: the working directory (empty) has no node_modules.
    ['--import', TSX, resolve('src/cli/main.ts'), ...argv],
    { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 50_000);
  return new Promise((r) =>
    proc.once('close', (code) => {
      clearTimeout(timer);
      r({ code, stdout, stderr });
    }),
  );
}
