import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import type { Engine } from '../engine/types.js';
import { TollgateError } from '../errors.js';
import { digestKey, keyMatches } from '../identity/api-key.js';

/**
 * Who is calling. The admin token reaches every route; an agent key reaches
 * only routes that name its agent, and never the admin-only ones. Agent keys
 * are `tg_` and 43 base64url characters (src/identity/api-key.ts).
 */
export type Caller =
  | { kind: 'admin'; actor: 'admin' }
  | { kind: 'agent'; actor: 'agent'; token: string; keyDigest: string };

export const AGENT_KEY = /^tg_[A-Za-z0-9_-]{43}$/;
const BEARER = /^Bearer[ \t]+([\x21-\x7e]{1,512})[ \t]*$/i;

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export function unauthenticated(message: string): TollgateError {
  return new TollgateError('UNAUTHENTICATED', message);
}

/** Compares the admin token in constant time (digests: equal lengths, nothing leaks by length). */
export function adminMatcher(adminToken: string): (token: string) => boolean {
  const expected = sha256(adminToken);
  return (token) => timingSafeEqual(sha256(token), expected);
}

/** The caller, from `Authorization: Bearer <token>`; throws UNAUTHENTICATED. */
export function authenticate(req: Request, isAdmin: (token: string) => boolean): Caller {
  const header = req.headers.authorization;
  if (header === undefined || header === '') {
    throw unauthenticated('Missing Authorization: Bearer <token>');
  }
  const m = BEARER.exec(header);
  const token = m?.[1];
  if (token === undefined)
    throw unauthenticated('Malformed Authorization header (expected Bearer <token>)');
  if (isAdmin(token)) return { kind: 'admin', actor: 'admin' };
  if (!AGENT_KEY.test(token)) throw unauthenticated('Invalid token');
  return { kind: 'agent', actor: 'agent', token, keyDigest: digestKey(token) };
}

/** Admin-only routes: an agent key is refused (403), whoever's it is. */
export function requireAdmin(caller: Caller): void {
  if (caller.kind !== 'admin') {
    throw new TollgateError('FORBIDDEN', 'This route needs the admin token');
  }
}

/**
 * Routes that name an agent, for an agent key: the key must be that agent's
 * current key. A key that is not (another agent's, a rotated one, one of a
 * deleted agent) is refused the same way, 401, so a caller learns neither
 * whether the agent exists nor whose key it holds.
 */
export async function requireAgentKey(
  engine: Engine,
  caller: Caller,
  agentId: string,
): Promise<void> {
  if (caller.kind === 'admin') return;
  const raw = await engine.getAgent(agentId);
  if (!raw || !keyMatches(caller.token, raw.keyDigest)) {
    throw notThisAgentsKey(agentId);
  }
}

export function notThisAgentsKey(agentId: string): TollgateError {
  return new TollgateError('UNAUTHENTICATED', 'Invalid agent key', { agent_id: agentId });
}
