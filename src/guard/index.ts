export { type Decision, toDecision } from './decision.js';
export {
  type CallerKey,
  Guard,
  type GuardDeps,
  type PermissionContext,
  PermissionDeniedError,
  type RecordResult,
  type Usage,
} from './guard.js';
export type { ModelCall, ModelCallSettle, ModelSettleAnswer } from './model-call.js';
