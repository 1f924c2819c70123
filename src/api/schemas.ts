/**
 * Every schema of the HTTP API, for callers that want them all (tests, the
 * `schemas` export of src/api): each route group keeps its own beside its
 * routes (`routes/<group>.schemas.ts`), the shared ones are in
 * `routes/shared.schemas.ts`. Import those directly inside src/.
 */
export * from './routes/agents.schemas.js';
export * from './routes/audit.schemas.js';
export * from './routes/budget.schemas.js';
export * from './routes/gate.schemas.js';
export * from './routes/health.schemas.js';
export * from './routes/pools.schemas.js';
export * from './routes/shared.schemas.js';
export * from './routes/webhooks.schemas.js';
