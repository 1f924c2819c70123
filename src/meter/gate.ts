/**
 * What the metered call asks of Tollgate (docs/models.md, "The fetch and the
 * gateway"): hold a model call, settle it from its usage, or release it. The
 * library and the gateway answer through the Guard (priced in process); the
 * SDK answers over HTTP (priced by the server). The call never prices.
 */
import type { Decision } from '../guard/decision.js';
import type { CacheWrite } from '../models/request-types.js';
import type { Usage } from '../models/types.js';

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

/** A model call's settle: the provider's usage, or the hold's tokens when `estimated`. */
export interface ModelCallSettle {
  model: string;
  usage: Usage;
  /** The usage was not seen (a stream cut or aborted before it): the hold is charged. */
  estimated: boolean;
  result: 'success' | 'failure';
  /**
   * Called synchronously just before the settle is written to the store,
   * ahead of anything sent after it through the same Tollgate (the library's
   * engine, in process: SettleInput.onSending); a gate that cannot tell (the
   * SDK's, over HTTP) never calls it, and the call waits for the settle's
   * answer.
   */
  onSending?: () => void;
}

/** The decision of a model call; when allowed, the tokens held (for an estimated settle). */
export type ModelDecision = Decision & { held_tokens?: { input: number; output: number } };

export interface ModelGate {
  authorize(hold: ModelCallHold): Promise<ModelDecision>;
  settle(reservationId: string, settle: ModelCallSettle): Promise<unknown>;
  release(reservationId: string): Promise<unknown>;
}
