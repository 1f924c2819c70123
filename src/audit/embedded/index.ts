export {
  DrainFlushError,
  type DrainStats,
  type EmbeddedDrain,
  type EmbeddedDrainOptions,
  type OutboxSource,
  startEmbeddedDrain,
} from './drain.js';
export { dayStartOf, type Restorable, restoreFromStore, snapshotFromStore } from './restore.js';
