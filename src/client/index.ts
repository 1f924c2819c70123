export {
  type AuditEntry,
  type AuditLag,
  type AuditPage,
  type AuditQuery,
  auditQueryString,
  type ClientOptions,
  newApiKey,
  newSessionId,
  type ReleaseAnswer,
  type RunUsage,
  type SettleAnswer,
  TollgateClient,
  type UsageAnswer,
} from './client.js';
export { PermissionDenied, TollgateApiError } from './errors.js';
export type { HttpOptions } from './http.js';
