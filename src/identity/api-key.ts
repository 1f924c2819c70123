import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { checkAgentId } from '../engine/ids.js';
import { TollgateError } from '../errors.js';

/**
 * Agent API keys name their agent: `tg_<agentId>.<secret>`, where the secret
 * is 256 random bits in base64url (43 characters, no padding). Agent ids
 * never hold a `.`, so the split is unambiguous. The agent part is not a
 * secret: it only tells the server whose key a token claims to be (so that
 * another agent's valid key is 403, not 401); the secret is what is checked.
 * Only the SHA-256 digest of the whole key is stored; comparisons are
 * constant time. Keys are shown once.
 */
export const API_KEY =
  /^tg_([A-Za-z0-9][A-Za-z0-9_-]{0,63})\.([A-Za-z0-9_-]{42}[AEIMQUYcgkosw048])$/;

/** A new key for `agentId` (a valid agent id, else VALIDATION_FAILED). */
export function generateApiKey(agentId: string): string {
  checkAgentId(agentId);
  return `tg_${agentId}.${randomBytes(32).toString('base64url')}`;
}

/**
 * A key the caller made for `agentId` (so that a retried registration finds
 * its first run): it must be shaped exactly as generateApiKey makes them
 * (`tg_<agentId>.<43 base64url characters of 256 bits>`) and name this agent;
 * else VALIDATION_FAILED. Returns the key.
 */
export function checkApiKey(key: unknown, agentId: string): string {
  if (typeof key !== 'string' || key.length > 111 || !API_KEY.test(key)) {
    throw new TollgateError('VALIDATION_FAILED', 'Invalid api_key', {
      field: 'api_key',
      pattern: API_KEY.source,
    });
  }
  if (agentOfKey(key) !== agentId) {
    throw new TollgateError('VALIDATION_FAILED', 'api_key names another agent', {
      field: 'api_key',
    });
  }
  return key;
}

/**
 * The agent a token claims to be a key of, or undefined when the token is not
 * shaped like an agent key. Says nothing about whether the key is valid.
 */
export function agentOfKey(token: string): string | undefined {
  if (typeof token !== 'string' || token.length > 111) return undefined;
  return API_KEY.exec(token)?.[1];
}

export function digestKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function keyMatches(key: string, digest: string): boolean {
  const a = Buffer.from(digestKey(key), 'hex');
  const b = Buffer.from(digest, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
