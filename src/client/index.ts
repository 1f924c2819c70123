export {
  type AuditEntry,
  type AuditLag,
  type AuditPage,
  type AuditQuery,
  auditQueryString,
  type ClientOptions,
  type ReleaseAnswer,
  type RunUsage,
  type SettleAnswer,
  TollgateClient,
} from './client.js';
export { PermissionDenied, TollgateApiError } from './errors.js';
export type { HttpOptions } from './http.js';
