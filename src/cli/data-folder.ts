import { resolve } from 'node:path';
import type { AdminCredential } from '../api/auth.js';
import type { Config } from '../config/index.js';
import { describeHolder, type FolderLock, FolderLockedError, lockFolder } from '../lock/index.js';
import { adminTokenSource } from './admin-token.js';

/** Another process owns the data folder: `tollgate serve` / `worker` stop at start (exit 1). */
export class DataFolderInUseError extends Error {
  readonly code = 'DATA_FOLDER_IN_USE';
  constructor(
    readonly dataDir: string,
    readonly holder: FolderLockedError['holder'],
  ) {
    super(
      `the data folder ${resolve(dataDir)} is in use by ${describeHolder(holder)}; one process at a time may own it: stop that one, or give this one another --data-dir (TOLLGATE_DATA_DIR)`,
    );
    this.name = 'DataFolderInUseError';
  }
}

/**
 * Does this process own the data folder? Embedded mode does (its PGlite, its
 * admin token file); Redis mode does when it opens PGlite there (`worker`,
 * or `serve --with-worker`, with no DATABASE_URL).
 */
export function ownsDataFolder(config: Config, opensPglite: boolean): boolean {
  return config.mode === 'embedded' || (opensPglite && config.databaseUrl === undefined);
}

/**
 * Takes `<data dir>/tollgate.lock` (src/lock/folder-lock.ts) before anything
 * in the folder is opened; DataFolderInUseError when another process has it.
 */
export async function lockDataFolder(config: Config, owner: string): Promise<FolderLock> {
  try {
    return await lockFolder(config.dataDir, { owner });
  } catch (e) {
    if (e instanceof FolderLockedError) throw new DataFolderInUseError(config.dataDir, e.holder);
    throw e;
  }
}

export interface ServeAdmin {
  /** What the API checks the admin token against. */
  admin: AdminCredential;
  /** The banner's line(s) about it: the token only when it was made just now. */
  banner: string;
  /** Keeps a token made now (its digest, in the data folder): call once serving, before the banner. */
  save(): void;
  stop(): void;
}

/**
 * The admin token `tollgate serve` checks. Given by the operator
 * (TOLLGATE_ADMIN_TOKEN, --admin-token): that one, never printed. Embedded
 * mode without one: the data folder's token file (src/cli/admin-token.ts),
 * made and printed once on the first start.
 */
export function serveAdmin(config: Config): ServeAdmin {
  if (config.mode !== 'embedded' || !config.adminTokenGenerated) {
    return {
      admin: config.adminToken,
      banner: 'Admin token: given (TOLLGATE_ADMIN_TOKEN or --admin-token); not shown',
      save: () => undefined,
      stop: () => undefined,
    };
  }
  const { source, token, save } = adminTokenSource(config.dataDir);
  const rotate = '`tollgate admin-token rotate` makes a new one';
  const banner =
    token !== undefined
      ? `Admin token: ${token}\n      (new: shown only now, keep it; its SHA-256 digest is in ${source.path}; ${rotate})`
      : `Admin token: unchanged since ${source.current().created.toISOString()}; its digest is in ${source.path}; ${rotate}`;
  return { admin: source, banner, save, stop: () => source.stop() };
}
