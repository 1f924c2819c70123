/** Helpers of the pool tests (test/engine/pools*.test.ts). */
import type { AlertThresholds } from '../../src/engine/alerts.js';
import { compileProfile } from '../../src/engine/profile.js';
import type { AuthorizeResult, Engine, PoolStatus } from '../../src/engine/types.js';
import { uid } from './engines.js';

export const DIGEST = 'a'.repeat(64);
/** $1 per million tokens in and out: a hold of N tokens costs N µ$. */
export const PROFILE = compileProfile({
  operation: 'op',
  rates: { model: 'm', inputMicrosPerMillion: 1_000_000, outputMicrosPerMillion: 1_000_000 },
  leaseMs: 60_000,
  allowedRoles: ['coder'],
});

/**
 * PROFILE's operation with a 300 ms lease: a hold that runs out in real time,
 * for sweep tests on the run's shared Redis (a sweep with the clock shifted
 * ahead would free the holds of every other test file's agents on its shard).
 */
export const SHORT_LEASE = compileProfile({
  operation: 'op',
  rates: PROFILE.rates,
  leaseMs: 300,
  allowedRoles: ['coder'],
});

/**
 * Sweeps each of `shards` whole, as the scheduler does, every 50 ms until
 * `freed()` says the hold a test let run out is freed; after 10 s throws with
 * `state()`. The run's shared Redis frees a SHORT_LEASE hold in real time.
 */
export async function sweepUntilFreed(
  engine: Engine,
  shards: readonly number[],
  freed: () => Promise<boolean>,
  state: () => Promise<unknown>,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    for (const shard of shards) {
      let cursor = '0';
      do cursor = (await engine.sweepShard(shard, cursor)).cursor;
      while (cursor !== '0');
    }
    if (await freed()) return;
    if (Date.now() > deadline)
      throw new Error(`not freed in 10 s: ${JSON.stringify(await state())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export type Denied = Extract<AuthorizeResult, { allowed: false }>;

export async function rejects(p: Promise<unknown>): Promise<{ code: string; details: unknown }> {
  try {
    await p;
  } catch (e) {
    return e as { code: string; details: unknown };
  }
  throw new Error('expected a rejection');
}

export async function registerIn(
  engine: Engine,
  poolId: string | undefined,
  opts: { dailyLimitMicros?: number; requestsPerMinute?: number; agentId?: string } = {},
): Promise<string> {
  const id = opts.agentId ?? uid('pa');
  await engine.registerAgent({
    agentId: id,
    role: 'coder',
    sessionTokenLimit: 1_000_000_000,
    dailyLimitMicros: opts.dailyLimitMicros ?? 1_000_000_000,
    requestsPerMinute: opts.requestsPerMinute,
    poolId,
    keyDigest: DIGEST,
    metadata: '{}',
    actor: 'admin',
  });
  return id;
}

/** A new pool under `parentId` (a root without), with these limits; its id. */
export async function createPoolIn(
  engine: Engine,
  parentId?: string,
  limits: Partial<PoolStatus> = {},
): Promise<string> {
  const id = uid('pl');
  await engine.createPool({
    poolId: id,
    parentId,
    dailyLimitMicros: limits.dailyLimitMicros,
    monthlyLimitMicros: limits.monthlyLimitMicros,
    requestsPerMinute: limits.requestsPerMinute,
    tokensPerMinute: limits.tokensPerMinute,
    timeZone: limits.timeZone,
    actor: 'admin',
  });
  return id;
}

export function hold(engine: Engine, agentId: string, tokens: number): Promise<AuthorizeResult> {
  return engine.authorize({ agentId, profile: PROFILE, estimatedTokens: tokens, actor: 'library' });
}

/** A hold of `tokens` (1 µ$ each) and its settle with the same usage, with `alerts`. */
export async function holdAndSettle(
  engine: Engine,
  agentId: string,
  tokens: number,
  alerts: AlertThresholds,
): Promise<void> {
  const r = await hold(engine, agentId, tokens);
  if (!r.allowed) throw new Error(`denied: ${r.code}`);
  await engine.settle({
    reservationId: r.reservationId,
    inputTokens: tokens,
    outputTokens: 0,
    result: 'success',
    actor: 'library',
    alerts,
  });
}
