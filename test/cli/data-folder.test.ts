/**
 * `tollgate serve` in embedded mode owns its data folder, run as real
 * processes: one owner at a time (a second start exits 1 naming the folder
 * and the holder's pid), no lock left blocking after SIGKILL, an admin token
 * kept across restarts as a digest, `tollgate admin-token rotate`, and the
 * startup failures that must exit non-zero with one line.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { digestAdminToken } from '../../src/api/auth.js';
import { readAdminTokenFile } from '../../src/cli/admin-token.js';
import { runCli } from '../../src/cli/index.js';
import { capture } from '../support/capture.js';
import {
  runCliProcess,
  type ServeProcess,
  spawnServe,
  stopProcess,
} from '../support/serve-process.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tg-folder-'));
  dirs.push(d);
  return d;
}
/** Started servers, killed at the end (the tests of a describe share one). */
const children = new Set<ChildProcess>();
afterAll(async () => {
  // Gone before their folders are removed (a server writes to its folder until it exits).
  const alive = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  await Promise.all(
    alive.map((c) => new Promise((resolve) => c.once('exit', resolve).kill('SIGKILL'))),
  );
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const EMBEDDED = { REDIS_URL: '', REDIS_CLUSTER_NODES: '', DATABASE_URL: '' };
const READY = /Admin token: .+/;
/** A stack trace line. */
const STACK = /\n\s+at /;

async function start(dataDir: string, env: NodeJS.ProcessEnv = {}, args: string[] = []) {
  const s = await spawnServe(
    { TOLLGATE_ADMIN_TOKEN: '', ...EMBEDDED, TOLLGATE_DATA_DIR: dataDir, ...env },
    READY,
    args,
    // A start on a loaded CI machine (three test workers on two cores) can pass 30 s.
    { startTimeoutMs: 60_000 },
  );
  children.add(s.proc);
  const url = /listening on (\S+)/.exec(s.output())?.[1] ?? '';
  return { ...s, url };
}

/** The status of an admin-only call with this token. */
async function adminStatus(url: string, token: string): Promise<number> {
  const res = await fetch(`${url}/v1/agents`, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function exited(s: ServeProcess): Promise<number | null> {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) {
    return Promise.resolve(s.proc.exitCode);
  }
  return new Promise((r) => s.proc.once('exit', (code) => r(code)));
}

describe('tollgate serve (embedded): one owner per data folder, a kept admin token', () => {
  const dir = tempDir();
  let first: Awaited<ReturnType<typeof start>>;
  let token1 = '';
  let token2 = '';

  it('the first start makes an admin token and prints it once', { timeout: 90_000 }, async () => {
    first = await start(dir);
    token1 = /Admin token: (tga_\S+)/.exec(first.output())?.[1] ?? '';
    expect(token1).toMatch(/^tga_[\w-]{43}$/);
    expect(first.output().split(token1)).toHaveLength(2); // once
    expect(first.output()).toContain(join(dir, 'admin-token.sha256'));
    // What the next start reads: the digest of the token printed, never the token.
    const kept = readAdminTokenFile(join(dir, 'admin-token.sha256'));
    expect(kept?.sha256.equals(digestAdminToken(token1))).toBe(true);
    expect(await adminStatus(first.url, token1)).toBe(200);
    expect(await adminStatus(first.url, `${token1}x`)).toBe(401);
  });

  it('a second serve on the same folder exits 1 naming the folder and the pid', {
    timeout: 90_000,
  }, async () => {
    const r = await runCliProcess(['serve', '--port', '0'], {
      ...EMBEDDED,
      TOLLGATE_ADMIN_TOKEN: '',
      TOLLGATE_DATA_DIR: dir,
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain(`the data folder ${dir} is in use by process ${first.proc.pid}`);
    expect(r.output).toContain('tollgate serve');
    expect(r.output.trim().split('\n')).toHaveLength(1);
    expect(r.output).not.toContain('tga_');
    // The owner is untouched.
    expect(await adminStatus(first.url, token1)).toBe(200);
  });

  it('admin-token rotate prints a new token once; the running server drops the old one', {
    timeout: 60_000,
  }, async () => {
    const out = capture();
    expect(await runCli(['admin-token', 'rotate', '--data-dir', dir], {}, out)).toBe(0);
    const printed = out.stdout;
    token2 = /New admin token: (tga_\S+)/.exec(printed)?.[1] ?? '';
    expect(token2).toMatch(/^tga_/);
    expect(printed.split(token2)).toHaveLength(2); // once
    expect(printed).toContain(`process ${first.proc.pid}`);
    await until('the old token to be refused', async () => {
      return (await adminStatus(first.url, token1)) === 401;
    });
    expect(await adminStatus(first.url, token2)).toBe(200);
  });

  it('after SIGKILL the next start is not blocked, keeps the token (the rotated one) and does not print it', {
    timeout: 90_000,
  }, async () => {
    const gone = exited(first);
    first.proc.kill('SIGKILL');
    await gone;
    expect(existsSync(join(dir, 'tollgate.lock'))).toBe(true); // left behind, stale
    const second = await start(dir);
    expect(second.output()).toMatch(/Admin token: unchanged since \d{4}-\d\d-\d\dT/);
    expect(second.output()).toContain('tollgate admin-token rotate');
    expect(second.output()).not.toContain('tga_');
    expect(await adminStatus(second.url, token2)).toBe(200);
    expect(await adminStatus(second.url, token1)).toBe(401);

    // A clean stop removes the lock.
    second.proc.kill('SIGTERM');
    expect(await exited(second)).toBe(0);
    expect(existsSync(join(dir, 'tollgate.lock'))).toBe(false);
    expect(existsSync(join(dir, 'pglite', 'tollgate.lock'))).toBe(false);
  });
});

describe('tollgate serve: startup failures exit non-zero with one line', () => {
  let busy: Server;
  let port = 0;
  afterAll(() => busy?.close());

  async function occupy(): Promise<number> {
    busy = createServer();
    await new Promise<void>((r) => busy.listen(0, r));
    const address = busy.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  it('a busy port, embedded mode: exit 1', { timeout: 90_000 }, async () => {
    port = await occupy();
    const dir = tempDir();
    const r = await runCliProcess(['serve', '--port', String(port)], {
      ...EMBEDDED,
      TOLLGATE_ADMIN_TOKEN: '',
      TOLLGATE_DATA_DIR: dir,
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain(`tollgate: cannot listen on port ${port}: the port is in use`);
    expect(r.output).not.toMatch(STACK);
    // Nothing left behind that would block the next start, and no token nobody saw.
    expect(existsSync(join(dir, 'tollgate.lock'))).toBe(false);
    expect(existsSync(join(dir, 'admin-token.sha256'))).toBe(false);
  });

  it('a busy port, Redis mode: exit 1, and the given admin token is not printed', {
    timeout: 90_000,
  }, async () => {
    const token = 'operator-given-admin-token-5a1e7';
    const r = await runCliProcess(['serve', '--port', String(port)], {
      REDIS_URL: inject('redisUrl'),
      REDIS_CLUSTER_NODES: '',
      DATABASE_URL: '',
      TOLLGATE_ADMIN_TOKEN: token,
      TOLLGATE_DATA_DIR: tempDir(),
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain(`tollgate: cannot listen on port ${port}: the port is in use`);
    expect(r.output).not.toMatch(STACK);
    expect(r.output).not.toContain(token);
  });

  it('Redis unreachable, a bad policy, a bad configuration: one line each, non-zero', {
    timeout: 90_000,
  }, async () => {
    const dir = tempDir();
    const base = { ...EMBEDDED, TOLLGATE_ADMIN_TOKEN: '', TOLLGATE_DATA_DIR: dir };
    const [policy, config, redis] = await Promise.all([
      runCliProcess(['serve', '--port', '0'], { ...base, TOLLGATE_POLICY: join(dir, 'nope.yaml') }),
      runCliProcess(['serve', '--port', 'eighty'], base),
      runCliProcess(['serve', '--port', '0'], {
        ...base,
        REDIS_URL: 'redis://127.0.0.1:1',
        TOLLGATE_ADMIN_TOKEN: 'operator-given-admin-token-5a1e7',
      }),
    ]);
    expect(policy).toMatchObject({ code: 1 });
    expect(policy.output).toMatch(/^tollgate: Cannot read policy file .*nope\.yaml/);
    expect(config).toMatchObject({ code: 2 });
    expect(config.output).toMatch(/^tollgate: Invalid configuration: PORT \(--port\)/);
    expect(redis.code).toBe(1);
    expect(redis.output).toMatch(/^tollgate: .*Redis/);
    for (const r of [policy, config, redis]) {
      expect(r.output.trim().split('\n')).toHaveLength(1);
      expect(r.output).not.toContain('operator-given-admin-token-5a1e7');
    }
  });
});

describe('tollgate serve (embedded) with an operator-given admin token', () => {
  it('never prints it, uses it, and writes no token file', { timeout: 90_000 }, async () => {
    const dir = tempDir();
    const token = 'flag-given-admin-token-0123456789';
    const s = await start(dir, { TOLLGATE_ADMIN_TOKEN: '' }, ['--admin-token', token]);
    expect(s.output()).toContain('Admin token: given');
    expect(s.output()).not.toContain(token);
    expect(await adminStatus(s.url, token)).toBe(200);
    expect(existsSync(join(dir, 'admin-token.sha256'))).toBe(false);
    await stopProcess(s.proc);
    expect(s.output()).not.toContain(token);
  });
});
