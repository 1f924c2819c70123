/**
 * The CLI's commands (docs/cli.md): what `runCli` (src/cli/run.ts)
 * dispatches to. run.ts imports each file when its command runs, so that an
 * operator command does not load the server.
 */
export { adminToken } from './admin-token.js';
export { AGENTS } from './agents.js';
export { AUDIT } from './audit.js';
export { DASHBOARD } from './dashboard.js';
export { demo } from './demo.js';
export { authorize, DENIED_EXIT, release, settle, usage } from './gate.js';
export { health, metrics, openapi, ready } from './ops.js';
export { POLICY } from './policy.js';
export { POOLS } from './pools.js';
export { serve } from './serve.js';
export { SESSIONS } from './sessions.js';
export { spend } from './spend.js';
export { status } from './status.js';
export { WEBHOOKS } from './webhooks.js';
export { worker } from './worker.js';
