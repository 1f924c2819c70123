/**
 * Model calls through the Guard (docs/models.md, "The fetch and the gateway"):
 * a hold priced from its tokens with the policy's price table, and a settle
 * priced from the provider's usage, so cached tokens, cache writes and tiers
 * cost what the provider charges. The engine gets the costs in micro-dollars
 * (docs/engine.md#priced-holds-and-settles); the caller gives only tokens.
 */
import type { SettleAnswer } from '../api/routes/gate.schemas.js';
import { MODEL } from '../engine/ids.js';
import { TollgateError } from '../errors.js';
import { usageCostMicros } from '../models/cost.js';
import { holdCost } from '../models/hold.js';
import type { CacheWrite } from '../models/request-types.js';
import type { Usage } from '../models/types.js';
import { DEFAULT_MODEL, MODEL_CALL } from '../policy/names.js';
import { type Decision, settleAnswer, toDecision } from './decision.js';
import type { CallerKey, GuardDeps } from './guard.js';

/** A model call to hold, in tokens. */
export interface ModelCall extends CallerKey {
  model: string;
  /** Input tokens counted offline (src/models `holdTokens`). */
  inputTokens: number;
  /** The request's output limit times its choices; undefined: none set (the role's `outputCap` is held). */
  outputTokens?: number;
  /** The choices the role's cap is held for when `outputTokens` is undefined (chat's `n`; default 1). */
  choices?: number;
  /** The longest prompt-cache write the request asks for (default `none`). */
  cacheWrite?: CacheWrite;
  requestId?: string;
}

/** A model call's settle: the provider's usage (src/models `Usage`). */
export interface ModelCallSettle {
  /** The hold's model. */
  model: string;
  usage: Usage;
  /** The usage was not seen (a stream cut or aborted before it): these are the hold's tokens, charged. */
  estimated?: boolean;
  result?: 'success' | 'failure';
  /**
   * Called synchronously just before the settle is written to the store,
   * ahead of anything sent after it through the same Tollgate (the engine's
   * SettleInput.onSending, in process); a gate that cannot tell (the SDK's,
   * over HTTP) never calls it, and the call waits for the settle's answer.
   */
  onSending?: () => void;
}

/** A model call's settle answer: the model settled and the name whose price was used. */
export type ModelSettleAnswer = SettleAnswer & { model: string; priced_as: string };

function invalid(field: string, message: string): TollgateError {
  return new TollgateError('VALIDATION_FAILED', message, { field });
}

function checkChoices(choices: number | undefined): number {
  const n = choices ?? 1;
  if (!Number.isSafeInteger(n) || n < 1 || n > 128) {
    throw invalid('choices', 'Invalid choices: an integer from 1 to 128');
  }
  return n;
}

/** Output tokens to hold: the request's limit, else the agent's role's cap; undefined: no agent. */
async function outputTokensOf(
  deps: GuardDeps,
  agentId: string,
  call: ModelCall,
): Promise<number | undefined> {
  if (call.outputTokens !== undefined) return call.outputTokens;
  const choices = checkChoices(call.choices);
  const status = await deps.engine.status(agentId);
  return status === null ? undefined : deps.policy.outputCap(status.role) * choices;
}

export async function authorizeModelCall(
  deps: GuardDeps,
  agentId: string,
  call: ModelCall,
  iso: (ms: number) => string,
): Promise<Decision> {
  // The profile first: a model name the engine refuses is VALIDATION_FAILED before any read.
  const profile = deps.policy.profile(MODEL_CALL, call.model);
  const outputTokens = await outputTokensOf(deps, agentId, call);
  if (outputTokens === undefined) {
    const none = {
      allowed: false,
      code: 'AGENT_NOT_FOUND',
      replayed: false,
      status: null,
    } as const;
    return toDecision(none, agentId, MODEL_CALL, profile.rates.model, iso);
  }
  const tokens = { inputTokens: call.inputTokens, outputTokens };
  let holdCostMicros: number;
  try {
    const price = deps.policy.prices.lookup(call.model).price;
    holdCostMicros = holdCost(
      { ...tokens, cacheWrite: call.cacheWrite ?? 'none' },
      price,
    ).costMicros;
  } catch (err) {
    if (err instanceof RangeError) throw invalid('tokens', err.message);
    throw err;
  }
  const r = await deps.engine.authorize({
    agentId,
    profile,
    estimatedTokens: tokens.inputTokens + tokens.outputTokens,
    requestId: call.requestId,
    keyDigest: call.keyDigest,
    holdCostMicros,
    actor: deps.actor,
  });
  const d = toDecision(r, agentId, MODEL_CALL, profile.rates.model, iso);
  return d.allowed ? { ...d, held_tokens: { input: tokens.inputTokens, output: outputTokens } } : d;
}

export async function settleModelCall(
  deps: GuardDeps,
  reservationId: string,
  call: ModelCallSettle,
  key: CallerKey,
): Promise<ModelSettleAnswer> {
  if (typeof call.model !== 'string' || !MODEL.test(call.model)) {
    throw invalid('model', 'Invalid model');
  }
  const lookup = deps.policy.prices.lookup(call.model);
  let costMicros: number;
  try {
    costMicros = usageCostMicros(call.usage, lookup.price);
  } catch (err) {
    if (err instanceof RangeError) throw invalid('usage', err.message);
    throw err;
  }
  const pricedAs = lookup.unknown ? DEFAULT_MODEL : lookup.pricedAs;
  const s = await deps.engine.settle({
    reservationId,
    inputTokens: call.usage.inputTokens,
    outputTokens: call.usage.outputTokens,
    costMicros,
    estimated: call.estimated,
    // A price-table id the engine's name pattern refuses is not recorded (the usage still is).
    pricedAs: MODEL.test(pricedAs) ? pricedAs : undefined,
    model: call.model,
    result: call.result ?? 'success',
    keyDigest: key.keyDigest,
    actor: deps.actor,
    alerts: deps.policy.alerts,
    onSending: call.onSending,
  });
  if (s.outcome === 'no_hold') {
    throw new TollgateError('RESERVATION_NOT_FOUND', 'Reservation not found', {
      reservation_id: reservationId,
    });
  }
  return { ...settleAnswer(s, s.outcome, reservationId), model: call.model, priced_as: pricedAs };
}
