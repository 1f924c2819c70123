/**
 * The CLI's commands, one file each (docs/cli.md): what `runCli`
 * (src/cli/run.ts) dispatches to.
 */
export { adminToken } from './admin-token.js';
export { agents } from './agents.js';
export { audit } from './audit.js';
export { demo } from './demo.js';
export { policyCheck } from './policy.js';
export { serve } from './serve.js';
export { status } from './status.js';
export { worker } from './worker.js';
