import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  type Stats,
  unlinkSync,
  unwatchFile,
  watchFile,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { type AdminTokenDigest, digestAdminToken } from '../api/auth.js';
import { generateAdminToken } from '../config/index.js';

/**
 * Embedded mode's admin token, kept across restarts: generated once, shown
 * once, and stored as its SHA-256 digest in `<data dir>/admin-token.sha256`
 * (mode 0600), never in clear. The server compares a presented token's
 * digest with it (src/api/auth.ts) and re-reads the file when it changes, so
 * `tollgate admin-token rotate` takes effect on a running server at once.
 */
export const ADMIN_TOKEN_FILE = 'admin-token.sha256';

export interface AdminTokenRecord {
  /** SHA-256 of the token (32 bytes). */
  sha256: Buffer;
  /** When the token was made. */
  created: Date;
}

/** The token file is there but is not one (edited, truncated). */
export class AdminTokenFileError extends Error {
  readonly code = 'ADMIN_TOKEN_FILE_INVALID';
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(
      `${path}: ${reason}; run \`tollgate admin-token rotate\` to make a new token (or delete the file: the next start makes one)`,
    );
    this.name = 'AdminTokenFileError';
  }
}

export function adminTokenPath(dataDir: string): string {
  return join(dataDir, ADMIN_TOKEN_FILE);
}

/** The file's record; undefined when there is none. Throws AdminTokenFileError for a bad one. */
export function readAdminTokenFile(path: string): AdminTokenRecord | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AdminTokenFileError(path, `cannot be read (${(e as NodeJS.ErrnoException).code})`);
  }
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([a-z0-9]+)[ \t]+(\S+)[ \t]*$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) fields.set(m[1], m[2]);
  }
  const hex = fields.get('sha256') ?? '';
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new AdminTokenFileError(path, 'no sha256 digest in it');
  const created = new Date(fields.get('created') ?? '');
  if (Number.isNaN(created.getTime())) {
    throw new AdminTokenFileError(path, 'no valid creation time in it');
  }
  return { sha256: Buffer.from(hex, 'hex'), created };
}

/** A new token and its record (nothing written yet). */
function newAdminToken(): { token: string; record: AdminTokenRecord } {
  const token = generateAdminToken();
  return { token, record: { sha256: digestAdminToken(token), created: new Date() } };
}

/**
 * Makes a new token and stores its digest (a new file written aside, then
 * renamed over the old one: a reader sees the old digest or the new one).
 * Returns the token: the only time it exists in clear.
 */
export function writeNewAdminToken(dataDir: string): { token: string; record: AdminTokenRecord } {
  const made = newAdminToken();
  saveAdminToken(dataDir, made.record);
  return made;
}

function saveAdminToken(dataDir: string, record: AdminTokenRecord): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = adminTokenPath(dataDir);
  const text = [
    '# Tollgate admin token (embedded mode): its SHA-256 digest; the token itself is not kept.',
    '# A new token: `tollgate admin-token rotate` (a running server takes it at once).',
    `sha256 ${record.sha256.toString('hex')}`,
    `created ${record.created.toISOString()}`,
    '',
  ].join('\n');
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export interface AdminTokenSource extends AdminTokenDigest {
  readonly path: string;
  /** The record now in use. */
  current(): AdminTokenRecord;
  /** Stops watching the file. */
  stop(): void;
}

/**
 * The digest to check the admin token against, from the data folder's token
 * file: the one there, or (none yet) a new token, returned once in `token`
 * and written by `save()` (called once the server is up and about to print
 * it: a start that fails before leaves no token nobody saw). The file is
 * watched (polled every `pollMs`): a rotated token replaces the digest
 * within that time. A file removed or broken while serving leaves the last
 * good digest in place.
 */
export function adminTokenSource(
  dataDir: string,
  opts: { pollMs?: number } = {},
): { source: AdminTokenSource; token?: string; save(): void } {
  const path = adminTokenPath(dataDir);
  const found = readAdminTokenFile(path);
  const made = found === undefined ? newAdminToken() : undefined;
  let record = found ?? (made as { record: AdminTokenRecord }).record;
  let saved = made === undefined;
  const save = () => {
    if (saved) return;
    saveAdminToken(dataDir, record);
    saved = true;
  };
  const onChange = (now: Stats) => {
    if (now.nlink === 0 && now.mtimeMs === 0) return; // removed: keep the last digest
    try {
      record = readAdminTokenFile(path) ?? record;
    } catch {
      // broken meanwhile: keep the last good digest
    }
  };
  watchFile(path, { interval: opts.pollMs ?? 500, persistent: false }, onChange);
  const source: AdminTokenSource = {
    path,
    sha256: () => record.sha256,
    current: () => record,
    stop: () => unwatchFile(path, onChange),
  };
  return made ? { source, token: made.token, save } : { source, save };
}
