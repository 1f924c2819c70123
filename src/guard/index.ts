export { type Decision, toDecision } from './decision.js';
export {
  Guard,
  type GuardDeps,
  type PermissionContext,
  PermissionDeniedError,
  type RecordResult,
  type Usage,
} from './guard.js';
