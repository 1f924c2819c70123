import { type AuditStore, createStore, type StoreOptions } from '../audit/store/index.js';
import { type LockOptions, lockFolder } from './folder-lock.js';

/** PGlite's default folder (src/audit/store/pglite.ts; not imported, so PGlite loads only when used). */
const DEFAULT_PGLITE_DIR = './.tollgate/pglite';

/**
 * `createStore`, with PGlite's folder locked first (`<dataDir>/tollgate.lock`,
 * src/lock/folder-lock.ts): PGlite admits one process, and two in one folder
 * corrupt it. Throws FolderLockedError when another process (or another
 * store of this one) has it. The store's `close()` releases the lock.
 * PostgreSQL (a database URL): no lock.
 */
export async function openLockedStore(
  opts: StoreOptions,
  lockOpts: LockOptions = {},
): Promise<AuditStore> {
  if (opts.databaseUrl !== undefined && opts.databaseUrl !== '') return createStore(opts);
  const lock = await lockFolder(opts.dataDir ?? DEFAULT_PGLITE_DIR, {
    owner: 'a Tollgate PGlite store',
    ...lockOpts,
  });
  let store: AuditStore;
  try {
    store = await createStore(opts);
  } catch (e) {
    lock.release();
    throw e;
  }
  const close = store.close.bind(store);
  store.close = async () => {
    try {
      await close();
    } finally {
      lock.release();
    }
  };
  return store;
}
