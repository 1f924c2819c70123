/**
 * Who calls the gateway: an agent, by its own Tollgate key, sent where its
 * provider's SDK sends a key — `Authorization: Bearer` (OpenAI's clients) or
 * `x-api-key` (Anthropic's); either is taken on both prefixes. The key names
 * its agent (src/identity/api-key.ts); the deciding script checks its digest.
 * The admin token is not an agent's key, and is refused like any other
 * string that is not one. `x-tollgate-agent-id`, when sent, must name the
 * key's own agent (403 otherwise).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { TollgateError } from '../../errors.js';
import { agentOfKey, digestKey } from '../../identity/api-key.js';

export interface GatewayCaller {
  agentId: string;
  keyDigest: string;
}

const BEARER = /^Bearer[ \t]+([\x21-\x7e]{1,512})[ \t]*$/i;

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export function gatewayCaller(headers: IncomingHttpHeaders): GatewayCaller {
  const bearer = BEARER.exec(one(headers.authorization) ?? '')?.[1];
  const token = bearer ?? one(headers['x-api-key'])?.trim();
  if (token === undefined || token === '') {
    throw new TollgateError(
      'UNAUTHENTICATED',
      "Missing the agent's Tollgate key (Authorization: Bearer, or x-api-key)",
    );
  }
  const agentId = agentOfKey(token);
  if (agentId === undefined) throw new TollgateError('UNAUTHENTICATED', 'Invalid agent key');
  const named = one(headers['x-tollgate-agent-id']);
  if (named !== undefined && named !== agentId) {
    throw new TollgateError('FORBIDDEN', 'An agent key reaches only its own agent', {
      agent_id: named,
    });
  }
  return { agentId, keyDigest: digestKey(token) };
}
