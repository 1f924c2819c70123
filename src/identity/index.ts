export { API_KEY, checkApiKey, digestKey, generateApiKey, keyMatches } from './api-key.js';
export {
  Identity,
  type IdentityDeps,
  type LimitsInput,
  type RegisterOptions,
  type SessionSummary,
} from './identity.js';
export { type AgentRecord, parseMetadata, toAgentRecord } from './record.js';
