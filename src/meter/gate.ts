/**
 * What the metered call asks of Tollgate (docs/models.md, "The fetch and the
 * gateway"): hold a model call, settle it from its usage, or release it. The
 * library and the gateway answer through the Guard (priced in process); the
 * SDK answers over HTTP (priced by the server). The call never prices.
 */
import type { Decision } from '../guard/decision.js';
import type { ModelCallSettle as GuardSettle } from '../guard/model-call.js';
import type { CacheWrite } from '../models/request-types.js';

/** A model call's hold, in tokens: the gate prices it with the model's rates. */
export interface ModelCallHold {
  model: string;
  /** Input tokens counted offline (docs/models.md, "The hold"). */
  inputTokens: number;
  /** The request's output limit times its choices; undefined: none set (the role's cap is held). */
  outputTokens?: number;
  /** How many choices the role's cap is held for when `outputTokens` is undefined (chat's `n`). */
  choices?: number;
  /** The longest prompt-cache write the request asks for. */
  cacheWrite: CacheWrite;
}

/**
 * A model call's settle as the meter makes it: the Guard's
 * (src/guard/model-call.ts), always saying whether it is an estimate and how
 * the call ended.
 */
export type ModelCallSettle = GuardSettle & Required<Pick<GuardSettle, 'estimated' | 'result'>>;

/** The decision of a model call; when allowed, the tokens held (for an estimated settle). */
export type ModelDecision = Decision & { held_tokens?: { input: number; output: number } };

export interface ModelGate {
  authorize(hold: ModelCallHold): Promise<ModelDecision>;
  settle(reservationId: string, settle: ModelCallSettle): Promise<unknown>;
  release(reservationId: string): Promise<unknown>;
}
