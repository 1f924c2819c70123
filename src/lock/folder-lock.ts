import { randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * One owner per folder: a lock file, `<folder>/tollgate.lock`, created with
 * O_EXCL (`wx`) and holding who owns the folder. Node has no flock, and a
 * lock file outlives a process killed with SIGKILL, so a lock file found at
 * start is judged:
 *
 *  - same machine and pid namespace (Linux: same hostname, boot id and
 *    /proc/self/ns/pid): held while its pid is alive (`process.kill(pid, 0)`)
 *    and that pid's start time (/proc/<pid>/stat) is still the one recorded,
 *    so a reused pid does not count; our own pid counts only when this
 *    process holds the lock (a container's pid 1 after a restart is not).
 *    Elsewhere without /proc: same hostname and a live pid.
 *  - another pid namespace or host (two containers on one volume): pids say
 *    nothing there, so the holder touches the file's mtime every
 *    `heartbeatMs` (5 s); a lock whose mtime is older than 4 heartbeats is
 *    stale, a younger one is watched for 2 heartbeats and stale if it did
 *    not move.
 *
 * A stale lock is removed (under `<lock>.break`, so that two starting
 * processes cannot both remove it and then both create one) and the start
 * goes on. The lock is removed by `release()` and, failing that, when the
 * process exits.
 */
export const LOCK_FILE = 'tollgate.lock';

export interface LockHolder {
  pid: number;
  /** What holds it, e.g. `tollgate serve`. */
  owner: string;
  /** When it took the lock (ISO 8601). */
  since: string;
  host: string;
  /** Linux: the process's start time (/proc/<pid>/stat field 22), its boot id and pid namespace; else null. */
  start: string | null;
  boot: string | null;
  pidns: string | null;
  /** How often the holder touches the file. */
  heartbeatMs: number;
  nonce: string;
}

export interface FolderLock {
  /** The folder (resolved). */
  readonly folder: string;
  /** The lock file. */
  readonly file: string;
  /** Removes the lock file (if it is still ours). Idempotent. */
  release(): void;
}

export class FolderLockedError extends Error {
  readonly code = 'FOLDER_LOCKED';
  constructor(
    readonly folder: string,
    readonly file: string,
    readonly holder: LockHolder,
  ) {
    super(`${folder} is in use by ${describeHolder(holder)}: one process at a time may own it`);
    this.name = 'FolderLockedError';
  }
}

/** `process 1234 (tollgate serve, since 2026-…)`, with the host when it is another one. */
export function describeHolder(h: LockHolder): string {
  const where = h.host !== hostname() ? ` on ${h.host}` : '';
  const me = h.pid === process.pid && where === '' ? ', this process' : '';
  return `process ${h.pid}${where} (${h.owner}, since ${h.since}${me})`;
}

export interface LockOptions {
  /** Shown to whoever finds the folder taken. Default `a Tollgate process`. */
  owner?: string;
  /** Default 5 000 ms. */
  heartbeatMs?: number;
}

const DEFAULT_HEARTBEAT_MS = 5_000;
/** A garbled lock file younger than this is taken to be still being written. */
const WRITING_MS = 2_000;
/** A `.break` file older than this was left by a killed process. */
const BREAK_STALE_MS = 10_000;
/** Give up (a lock that keeps changing hands) after this long. */
const ACQUIRE_TIMEOUT_MS = 60_000;

/** Lock files this process holds, by path. */
const held = new Map<string, LockHolder>();
let exitHook = false;

function readProc(path: string, link = false): string | null {
  try {
    return (link ? readlinkSync(path) : readFileSync(path, 'utf8')).trim() || null;
  } catch {
    return null;
  }
}

/** /proc/<pid>/stat field 22 (start time in clock ticks since boot); null without /proc. */
export function processStart(pid: number): string | null {
  const stat = readProc(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // Field 2 (the command) may hold spaces and parentheses: fields 3.. follow the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[19] ?? null;
}

let self: Omit<LockHolder, 'owner' | 'since' | 'heartbeatMs' | 'nonce'> | undefined;
function identity() {
  self ??= {
    pid: process.pid,
    host: hostname(),
    start: processStart(process.pid),
    boot: readProc('/proc/sys/kernel/random/boot_id'),
    pidns: readProc('/proc/self/ns/pid', true),
  };
  return self;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseHolder(raw: string): LockHolder | undefined {
  try {
    const h = JSON.parse(raw) as Partial<LockHolder>;
    if (!Number.isSafeInteger(h.pid) || typeof h.nonce !== 'string') return undefined;
    return {
      pid: h.pid as number,
      owner: typeof h.owner === 'string' ? h.owner : 'a Tollgate process',
      since: typeof h.since === 'string' ? h.since : 'an unknown time',
      host: typeof h.host === 'string' ? h.host : '',
      start: typeof h.start === 'string' ? h.start : null,
      boot: typeof h.boot === 'string' ? h.boot : null,
      pidns: typeof h.pidns === 'string' ? h.pidns : null,
      heartbeatMs:
        typeof h.heartbeatMs === 'number' && h.heartbeatMs > 0
          ? h.heartbeatMs
          : DEFAULT_HEARTBEAT_MS,
      nonce: h.nonce,
    };
  } catch {
    return undefined;
  }
}

interface Seen {
  raw: string;
  holder: LockHolder | undefined;
  mtimeMs: number;
}

function look(file: string): Seen | undefined {
  try {
    const mtimeMs = statSync(file).mtimeMs;
    const raw = readFileSync(file, 'utf8');
    return { raw, holder: parseHolder(raw), mtimeMs };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Verdict = 'live' | 'stale' | 'again';

/** Is the process that wrote this lock file still there? (See the module comment.) */
async function judge(file: string, seen: Seen, observe: boolean): Promise<Verdict> {
  const h = seen.holder;
  if (h === undefined) return Date.now() - seen.mtimeMs < WRITING_MS ? 'again' : 'stale';
  const me = identity();
  const samePidSpace =
    h.host === me.host &&
    (me.pidns === null
      ? h.pidns === null
      : h.pidns === me.pidns && h.boot !== null && h.boot === me.boot);
  if (samePidSpace) {
    if (h.pid === process.pid) return held.get(file)?.nonce === h.nonce ? 'live' : 'stale';
    if (!alive(h.pid)) return 'stale';
    if (h.start === null) return 'live';
    const start = processStart(h.pid);
    return start === null || start === h.start ? 'live' : 'stale';
  }
  // Another pid namespace or host: the heartbeat.
  if (Date.now() - seen.mtimeMs > 4 * h.heartbeatMs) return 'stale';
  if (!observe) return 'live';
  const until = Date.now() + 2 * h.heartbeatMs + 1_000;
  while (Date.now() < until) {
    await sleep(Math.min(500, h.heartbeatMs / 4));
    const now = look(file);
    if (now === undefined || now.raw !== seen.raw) return 'again';
    if (now.mtimeMs !== seen.mtimeMs) return 'live';
  }
  return 'stale';
}

/** Removes a stale lock file, unless it changed since it was judged. */
function breakStale(file: string, raw: string): void {
  const breaker = `${file}.break`;
  try {
    closeSync(openSync(breaker, 'wx'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    try {
      if (Date.now() - statSync(breaker).mtimeMs > BREAK_STALE_MS) unlinkSync(breaker);
    } catch {
      // gone meanwhile
    }
    return;
  }
  try {
    if (readFileSync(file, 'utf8') === raw) unlinkSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  } finally {
    unlinkSync(breaker);
  }
}

function tryCreate(file: string, holder: LockHolder): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, `${JSON.stringify(holder)}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

function removeIfOurs(file: string, nonce: string): void {
  try {
    if (parseHolder(readFileSync(file, 'utf8'))?.nonce === nonce) unlinkSync(file);
  } catch {
    // already gone
  }
}

function resolveFolder(folder: string): { dir: string; file: string } {
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const dir = realpathSync(folder);
  return { dir, file: join(dir, LOCK_FILE) };
}

/**
 * Takes `<folder>/tollgate.lock` (creating the folder if need be), or throws
 * FolderLockedError naming the process that holds it. A folder this process
 * already holds is refused too.
 */
export async function lockFolder(folder: string, opts: LockOptions = {}): Promise<FolderLock> {
  const { dir, file } = resolveFolder(folder);
  const heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const deadline = Date.now() + ACQUIRE_TIMEOUT_MS;
  for (;;) {
    const mine = held.get(file);
    if (mine !== undefined) throw new FolderLockedError(dir, file, mine);
    const holder: LockHolder = {
      ...identity(),
      owner: opts.owner ?? 'a Tollgate process',
      since: new Date().toISOString(),
      heartbeatMs,
      nonce: randomBytes(12).toString('hex'),
    };
    if (tryCreate(file, holder)) return hold(dir, file, holder);
    const seen = look(file);
    if (seen === undefined) continue;
    const verdict = await judge(file, seen, true);
    if (verdict === 'live' && seen.holder) throw new FolderLockedError(dir, file, seen.holder);
    if (verdict === 'stale') breakStale(file, seen.raw);
    if (Date.now() > deadline)
      throw new Error(`Could not take the lock ${file}: it keeps changing`);
    if (verdict !== 'stale') await sleep(100);
  }
}

function hold(dir: string, file: string, holder: LockHolder): FolderLock {
  held.set(file, holder);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const [f, h] of held) removeIfOurs(f, h.nonce);
    });
  }
  const heartbeat = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(file, now, now);
    } catch {
      // removed by hand: nothing to refresh
    }
  }, holder.heartbeatMs);
  heartbeat.unref();
  let released = false;
  return {
    folder: dir,
    file,
    release: () => {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      if (held.get(file)?.nonce === holder.nonce) held.delete(file);
      removeIfOurs(file, holder.nonce);
    },
  };
}

/**
 * Who holds `<folder>/tollgate.lock` now, if anyone (a stale lock: nobody).
 * Takes nothing and waits for nothing: a holder in another pid namespace
 * counts while its heartbeat is recent.
 */
export async function folderLockHolder(folder: string): Promise<LockHolder | undefined> {
  let resolved: string;
  try {
    resolved = join(realpathSync(folder), LOCK_FILE);
  } catch {
    return undefined;
  }
  const seen = look(resolved);
  if (seen?.holder === undefined) return undefined;
  return (await judge(resolved, seen, false)) === 'live' ? seen.holder : undefined;
}
