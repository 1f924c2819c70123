/**
 * The data-folder lock (src/lock/folder-lock.ts) and the admin token file
 * (src/cli/admin-token.ts), in process: how a lock file left behind is
 * judged (dead pid, reused pid, our own pid from an earlier life, another
 * pid namespace with and without a heartbeat), and the library refusing a
 * second owner of a PGlite folder.
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { adminMatcher } from '../../src/api/auth.js';
import {
  AdminTokenFileError,
  adminTokenSource,
  readAdminTokenFile,
  writeNewAdminToken,
} from '../../src/cli/admin-token.js';
import { createTollgate } from '../../src/index.js';
import {
  FolderLockedError,
  folderLockHolder,
  LOCK_FILE,
  type LockHolder,
  lockFolder,
  processStart,
} from '../../src/lock/index.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tg-lock-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The lock file this process would write, with `over` changed. */
function lockFileOf(dir: string, over: Partial<LockHolder>): LockHolder {
  const mine = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as LockHolder;
  return { ...mine, nonce: 'planted', ...over };
}

/** Takes and releases a lock in `dir` once, so that its file shows this process's identity. */
async function myIdentity(dir: string): Promise<LockHolder> {
  const lock = await lockFolder(dir);
  const me = lockFileOf(dir, {});
  lock.release();
  return me;
}

function plant(dir: string, holder: LockHolder, mtime?: Date): void {
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify(holder));
  if (mtime) utimesSync(join(dir, LOCK_FILE), mtime, mtime);
}

/** A pid that was alive and is not any more. */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => p.once('exit', r));
  return p.pid as number;
}

const linux = processStart(process.pid) !== null;

describe('lockFolder', () => {
  it('refuses a second owner in this process, naming it; free again after release', async () => {
    const dir = tempDir();
    const lock = await lockFolder(dir, { owner: 'test owner' });
    const err = await lockFolder(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FolderLockedError);
    expect((err as FolderLockedError).holder).toMatchObject({
      pid: process.pid,
      owner: 'test owner',
    });
    expect((err as Error).message).toContain(`process ${process.pid}`);
    expect((await folderLockHolder(dir))?.pid).toBe(process.pid);
    lock.release();
    lock.release(); // idempotent
    expect(await folderLockHolder(dir)).toBeUndefined();
    (await lockFolder(dir)).release();
  });

  it('takes over a lock whose process is gone', async () => {
    const dir = tempDir();
    const me = await myIdentity(dir);
    plant(dir, { ...me, pid: await deadPid(), nonce: 'dead' });
    expect(await folderLockHolder(dir)).toBeUndefined();
    const lock = await lockFolder(dir);
    expect(lockFileOf(dir, {}).pid).toBe(process.pid);
    lock.release();
  });

  it('takes over a lock naming this pid from an earlier life (a container pid 1)', async () => {
    const dir = tempDir();
    plant(dir, { ...(await myIdentity(dir)), nonce: 'earlier-life' });
    (await lockFolder(dir)).release();
  });

  it.runIf(linux)('a live pid counts only with its recorded start time (pid reuse)', async () => {
    const dir = tempDir();
    const me = await myIdentity(dir);
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      const pid = other.pid as number;
      await new Promise((r) => setTimeout(r, 100));
      plant(dir, { ...me, pid, start: processStart(pid), nonce: 'live' });
      const err = await lockFolder(dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FolderLockedError);
      expect((err as Error).message).toContain(`process ${pid}`);
      plant(dir, { ...me, pid, start: '1', nonce: 'reused' });
      (await lockFolder(dir)).release();
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('another pid namespace: stale when its heartbeat stopped, held while it beats', async () => {
    const dir = tempDir();
    const me = await myIdentity(dir);
    const foreign = { ...me, host: 'elsewhere', pidns: 'pid:[1]', pid: 1, heartbeatMs: 200 };
    // Old mtime: stale at once.
    plant(dir, { ...foreign, nonce: 'old' }, new Date(Date.now() - 60_000));
    (await lockFolder(dir)).release();
    // Fresh but not beating: stale after the holder missed its heartbeats.
    plant(dir, { ...foreign, nonce: 'silent' });
    const t0 = Date.now();
    (await lockFolder(dir)).release();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    // Beating: held, named with its host.
    plant(dir, { ...foreign, nonce: 'beating' });
    const beat = setInterval(() => {
      const now = new Date();
      utimesSync(join(dir, LOCK_FILE), now, now);
    }, 100);
    try {
      const err = await lockFolder(dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FolderLockedError);
      expect((err as Error).message).toContain('process 1 on elsewhere');
    } finally {
      clearInterval(beat);
    }
  });

  it('a garbled lock file: waited for while young, then taken over', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), '');
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(dir, LOCK_FILE), old, old);
    (await lockFolder(dir)).release();
  });
});

describe('createTollgate with a PGlite folder', () => {
  it('refuses a second owner of the folder until the first closes', {
    timeout: 60_000,
  }, async () => {
    const dataDir = join(tempDir(), 'pglite');
    const tg = await createTollgate({ store: { dataDir } });
    try {
      await expect(createTollgate({ store: { dataDir } })).rejects.toBeInstanceOf(
        FolderLockedError,
      );
    } finally {
      await tg.close();
    }
    const again = await createTollgate({ store: { dataDir } });
    await again.close();
  });
});

describe('the admin token file', () => {
  it('keeps the digest only, mode 0600, and is read back', () => {
    const dir = tempDir();
    const { token, record } = writeNewAdminToken(dir);
    const path = join(dir, 'admin-token.sha256');
    const text = readFileSync(path, 'utf8');
    expect(text).not.toContain(token);
    expect(text).toContain(record.sha256.toString('hex'));
    expect(readAdminTokenFile(path)).toEqual(record);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('a broken file is named, with the way out', () => {
    const dir = tempDir();
    const path = join(dir, 'admin-token.sha256');
    writeFileSync(path, 'sha256 nothex\n');
    expect(() => readAdminTokenFile(path)).toThrow(AdminTokenFileError);
    expect(() => readAdminTokenFile(path)).toThrow(/tollgate admin-token rotate/);
  });

  it('the server checks a digest in constant time and takes a rotation while running', async () => {
    const dir = tempDir();
    const first = adminTokenSource(dir, { pollMs: 50 });
    expect(first.token).toMatch(/^tga_/);
    const token1 = first.token as string;
    const isAdmin = adminMatcher(first.source);
    expect(isAdmin(token1)).toBe(true);
    expect(isAdmin(`${token1}x`)).toBe(false);
    // Kept only once saved (the server saves it when it prints it).
    expect(existsSync(join(dir, 'admin-token.sha256'))).toBe(false);
    first.save();
    // A second start finds the file: no new token.
    const later = adminTokenSource(dir);
    later.source.stop();
    expect(later.token).toBeUndefined();
    const { token: token2 } = writeNewAdminToken(dir);
    const deadline = Date.now() + 5_000;
    while (isAdmin(token1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(isAdmin(token1)).toBe(false);
    expect(isAdmin(token2)).toBe(true);
    // Removed while serving: the last digest stays.
    rmSync(join(dir, 'admin-token.sha256'));
    await new Promise((r) => setTimeout(r, 200));
    expect(isAdmin(token2)).toBe(true);
    first.source.stop();
  });
});
