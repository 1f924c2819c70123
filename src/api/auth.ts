import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import type { Engine } from '../engine/types.js';
import { isTollgateError, TollgateError } from '../errors.js';
import { API_KEY, agentOfKey, digestKey, keyMatches } from '../identity/api-key.js';

/**
 * Who is calling. The admin token reaches every route; the read-only token
 * (TOLLGATE_READ_TOKEN) only the GET routes of READ_ROUTES (read-token.ts);
 * an agent key reaches only routes that name its agent, and never the
 * admin-only ones. Agent keys
 * are `tg_<agentId>.<43 base64url characters>` (src/identity/api-key.ts): a
 * key names the agent it claims to belong to, so the server tells "another
 * agent's key" (403) from "not a valid key" (401) without a lookup.
 *
 * An agent caller is only *claimed* by the token's shape: `agentId` says whose
 * key it would be, and it is verified against that agent's stored digest
 * (here by lookup, or by the deciding script from `keyDigest`) before the
 * route does anything for it.
 */
export type Caller =
  | { kind: 'admin'; actor: 'admin' }
  | { kind: 'reader'; actor: 'reader' }
  | { kind: 'agent'; actor: 'agent'; agentId: string; token: string; keyDigest: string };

/** The shape of an agent key (group 1: its agent, group 2: the secret). */
export const AGENT_KEY = API_KEY;
const BEARER = /^Bearer[ \t]+([\x21-\x7e]{1,512})[ \t]*$/i;

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export function unauthenticated(message: string): TollgateError {
  return new TollgateError('UNAUTHENTICATED', message);
}

/**
 * Where the admin token's SHA-256 digest comes from when the token itself is
 * not kept (embedded mode's token file, src/cli/admin-token.ts). Read at
 * every check, so a rotation takes effect at once.
 */
export interface AdminTokenDigest {
  /** The current digest: 32 bytes. */
  sha256(): Buffer;
}

/** The admin token, or its digest. */
export type AdminCredential = string | AdminTokenDigest;

/** SHA-256 of a token, as the server compares it (and as a token file keeps it). */
export function digestAdminToken(token: string): Buffer {
  return sha256(token);
}

/**
 * Compares the admin token (or the read-only token: any operator token) in
 * constant time: SHA-256 digests of equal length, nothing leaks by length.
 * Given a digest source, the candidate's digest is compared with the
 * current one the same way.
 */
export function adminMatcher(admin: AdminCredential): (token: string) => boolean {
  if (typeof admin === 'string') {
    const expected = sha256(admin);
    return (token) => timingSafeEqual(sha256(token), expected);
  }
  return (token) => {
    const candidate = sha256(token);
    const expected = admin.sha256();
    return expected.length === candidate.length && timingSafeEqual(candidate, expected);
  };
}

/** The Bearer token of a request, or undefined (no header, or not `Bearer <token>`). */
export function bearerToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  return header === undefined ? undefined : BEARER.exec(header)?.[1];
}

/**
 * The caller, from `Authorization: Bearer <token>`; throws UNAUTHENTICATED
 * for a missing or malformed header and for a token that is neither the
 * admin token, nor the read-only token (`isReader`, when there is one), nor
 * shaped like an agent key. Touches no store.
 */
export function authenticate(
  req: Request,
  isAdmin: (token: string) => boolean,
  isReader?: (token: string) => boolean,
): Caller {
  const header = req.headers.authorization;
  if (header === undefined || header === '') {
    throw unauthenticated('Missing Authorization: Bearer <token>');
  }
  const token = bearerToken(req);
  if (token === undefined)
    throw unauthenticated('Malformed Authorization header (expected Bearer <token>)');
  if (isAdmin(token)) return { kind: 'admin', actor: 'admin' };
  if (isReader?.(token) === true) return { kind: 'reader', actor: 'reader' };
  const agentId = agentOfKey(token);
  if (agentId === undefined) throw unauthenticated('Invalid token');
  return { kind: 'agent', actor: 'agent', agentId, token, keyDigest: digestKey(token) };
}

/** Admin-only routes: an agent key is refused (403), whoever's it is, valid or not. */
export function requireAdmin(caller: Caller): void {
  if (caller.kind !== 'admin') {
    throw new TollgateError('FORBIDDEN', 'This route needs the admin token');
  }
}

/** What only an operator reads (`/metrics`): the admin token or the read-only token (403 otherwise). */
export function requireOperator(caller: Caller): void {
  if (caller.kind === 'agent') {
    throw new TollgateError(
      'FORBIDDEN',
      'This route needs the admin token or the read-only token (TOLLGATE_READ_TOKEN)',
    );
  }
}

/**
 * A route naming `agentId`, for an agent key of another agent: 403, decided
 * from the key's shape alone, before any store is read, and the same whether
 * `agentId` exists or not (nothing leaks about other agents).
 */
export function requireSameAgent(caller: Caller, agentId: string): void {
  if (caller.kind === 'agent' && caller.agentId !== agentId) {
    throw new TollgateError('FORBIDDEN', 'An agent key reaches only its own agent', {
      agent_id: agentId,
    });
  }
}

/**
 * Routes that name an agent, for an agent key of that agent: the key must be
 * the agent's current key. A key that is not (forged, rotated, one of a
 * deleted agent) is refused with 401.
 */
export async function requireAgentKey(
  engine: Engine,
  caller: Caller,
  agentId: string,
): Promise<void> {
  if (caller.kind !== 'agent') return;
  requireSameAgent(caller, agentId);
  const raw = await engine.getAgent(agentId);
  if (!raw || !keyMatches(caller.token, raw.keyDigest)) {
    throw notThisAgentsKey(agentId);
  }
}

/** The key names this agent but is not its current key (or the agent is gone): 401. */
function notThisAgentsKey(agentId: string): TollgateError {
  return new TollgateError('UNAUTHENTICATED', 'Invalid agent key', { agent_id: agentId });
}

/** What the library passes to the engine for this caller: an agent key's digest, or nothing. */
export function callerKey(caller: Caller | undefined): { keyDigest?: string } {
  return caller?.kind === 'agent' ? { keyDigest: caller.keyDigest } : {};
}

/**
 * Routes whose engine call checks the agent key (`verify: 'engine'`: the
 * deciding script compares the digest, and a wrong one is the engine's own
 * 401). The one place where what the engine answers for an agent key whose
 * agent does not exist becomes 401, the answer for any key that is not its
 * agent's current key (a revoked key: its agent was deleted). The named agent
 * is the key's own: a key naming another agent was refused with 403 before.
 * For an agent key:
 * - a decision denied AGENT_NOT_FOUND, or NOT_FOUND: 401;
 * - RESERVATION_NOT_FOUND when the agent does not exist: 401 (the scripts
 *   check the key right after loading the agent: a missing reservation of an
 *   existing agent got past that check; of a missing agent, it did not).
 * The admin token gets the engine's answers as they are.
 */
export async function verifiedByEngine<T>(
  caller: Caller | undefined,
  agentId: string,
  engine: Engine,
  call: Promise<T>,
): Promise<T> {
  let answer: T;
  try {
    answer = await call;
  } catch (e) {
    if (caller?.kind === 'agent' && isTollgateError(e)) {
      if (e.code === 'NOT_FOUND') throw notThisAgentsKey(agentId);
      if (e.code === 'RESERVATION_NOT_FOUND' && !(await engine.getAgent(agentId))) {
        throw notThisAgentsKey(agentId);
      }
    }
    throw e;
  }
  if (caller?.kind === 'agent' && deniedAgentNotFound(answer)) throw notThisAgentsKey(agentId);
  return answer;
}

/** A decision (src/guard/decision.ts) denied because the agent does not exist. */
function deniedAgentNotFound(answer: unknown): boolean {
  const d = answer as { allowed?: unknown; error_code?: unknown } | null;
  return d?.allowed === false && d.error_code === 'AGENT_NOT_FOUND';
}
