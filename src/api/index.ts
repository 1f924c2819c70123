export { type AppDeps, apiRoutes, BODY_LIMIT_BYTES, createApp } from './app.js';
export { auditLag, eventToWire, pageToWire } from './audit.js';
export {
  type AdminCredential,
  type AdminTokenDigest,
  AGENT_KEY,
  type Caller,
  digestAdminToken,
} from './auth.js';
export { type ErrorBody, type HttpError, STATUS_OF, toHttpError } from './errors.js';
export { type LazyStoreOptions, lazyStore } from './lazy-store.js';
export { buildOpenApi } from './openapi.js';
export type { Auth, Route } from './route.js';
export * as schemas from './schemas.js';
export { type RunningServer, type StartServerOptions, startServer } from './server.js';
