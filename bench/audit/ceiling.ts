/**
 * The best script-call rate, measured here in the same run with bench/engine's
 * own code: the authorize script by EVALSHA from redis-benchmark (pipelined,
 * no Node client; bench/engine/redis-ceiling.ts), the call captured from a
 * real checkPermission. Each call appends one decision event to an outbox,
 * so this is the fastest rate at which events can arrive.
 */
import type { Redis } from 'ioredis';
import {
  authorizeScript,
  type CeilingResult,
  captureScriptCall,
  expectAllowed,
  runCeiling,
} from '../engine/redis-ceiling.js';
import { CONFIG } from './config.js';
import { type Decider, trimOutboxes } from './fill.js';

export async function authorizeCeiling(
  admin: Redis,
  port: number,
  decider: Decider,
): Promise<CeilingResult> {
  const agent = decider.agents[1] as string;
  const guard = decider.tollgate.guard;
  const warm = () => guard.checkPermission(agent, CONFIG.operation, { estimatedTokens: 1 });
  await warm();
  const call = await captureScriptCall(admin, warm, (keysAndArgs) => keysAndArgs.includes(agent));
  try {
    return await runCeiling(admin, port, {
      label: 'tollgate authorize-5 (allowed)',
      script: authorizeScript(),
      call,
      check: expectAllowed,
    });
  } finally {
    // Its calls appended to an outbox: no drain run may see them.
    await trimOutboxes(admin, decider.shards);
  }
}
