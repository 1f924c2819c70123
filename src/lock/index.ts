export {
  describeHolder,
  type FolderLock,
  FolderLockedError,
  folderLockHolder,
  LOCK_FILE,
  type LockHolder,
  type LockOptions,
  lockFolder,
  processStart,
} from './folder-lock.js';
export { openLockedStore } from './locked-store.js';
