import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Agent API keys: `tg_` and 256 random bits (base64url), shown once. Only the
 * SHA-256 digest is stored; comparisons are constant time.
 */
export function generateApiKey(): string {
  return `tg_${randomBytes(32).toString('base64url')}`;
}

export function digestKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function keyMatches(key: string, digest: string): boolean {
  const a = Buffer.from(digestKey(key), 'hex');
  const b = Buffer.from(digest, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
