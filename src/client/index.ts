export { type ClientOptions, type RunUsage, TollgateClient } from './client.js';
export { PermissionDenied, TollgateApiError } from './errors.js';
export type { HttpOptions } from './http.js';
export {
  type AgentsQuery,
  type AuditQuery,
  auditQueryString,
  type DashboardHistoryQueryInput,
  type DashboardSpendQueryInput,
  type DeadLetterQueryInput,
  newApiKey,
  newSessionId,
  type SetPolicyOptions,
  type SpendQuery,
  type TimeInput,
} from './queries.js';
/** The wire types of the routes' bodies and answers (their zod schemas' input and output). */
export type * from './types.js';
