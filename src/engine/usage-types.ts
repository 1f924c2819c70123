/**
 * The settle, release and usage types of the Engine interface
 * (src/engine/types.ts re-exports them): what an operation really used, in
 * raw units, and what the engine answers.
 */
import type { AlertThresholds } from './alerts.js';
import type { Actor, EngineStatus, Rates } from './types.js';

export interface SettleInput {
  /** The hold to settle; absent: the agent's oldest open hold for `operation`. */
  reservationId?: string;
  /** Required without a reservation id; with one, it must be the reservation's agent. */
  agentId?: string;
  operation?: string;
  /**
   * Settle by operation: the caller's id for this usage, made before it sends
   * (absent: the engine makes one). A second run with it answers the first.
   */
  usageId?: string;
  inputTokens: number;
  outputTokens: number;
  /**
   * The usage's exact cost in micro-dollars, priced by trusted code; absent:
   * the tokens at the hold's rates. A repeated settle that gives one must
   * give the recorded cost (docs/engine.md#priced-holds-and-settles).
   */
  costMicros?: number;
  /**
   * Trusted code only, like `costMicros`: the usage is an estimate (a stream
   * cut before its usage arrived); the settle event carries `estimated: true`
   * (false when absent). Not part of a repeat's match.
   */
  estimated?: boolean;
  /**
   * Trusted code only: the model whose price was used (for a model the price
   * table does not know, the policy's default model); the settle event's
   * `priced_as` (null when absent). Not part of a repeat's match.
   */
  pricedAs?: string;
  /**
   * When given, the hold's model (the one its profile named when it was made):
   * another one is VALIDATION_FAILED (`details: { field: 'model', hold_model }`)
   * and nothing is settled. Absent: not checked.
   */
  model?: string;
  result: 'success' | 'failure';
  keyDigest?: string;
  actor: Actor;
  /**
   * The budget alert thresholds (the policy's, `policy.alerts`): a budget of
   * the agent or of the hold's pools that the settle makes cross one fires
   * its alert (docs/operations.md, "Alerts"). Absent: none.
   */
  alerts?: AlertThresholds;
  /**
   * Called once, synchronously, just before the settle's script call is
   * written to the engine's connection to the store, in the same run of
   * JavaScript as that write, before its reply: whatever is started from it
   * asynchronously (a promise it resolves) or arrives later as I/O (a reply
   * to an answer it writes to another process) is sent after the settle on
   * that connection, which keeps order, and sees it; a store call made
   * synchronously inside it would go first. A metered model call hands its
   * answer to its caller then (src/meter/call.ts). Not called when the engine
   * waits for replicas (`waitReplicas`: the caller then waits for the
   * settle), nor by MemoryEngine (its settle is done when its promise
   * resolves). What it throws is dropped.
   */
  onSending?: () => void;
}

/**
 * A settle prices the usage at the hold's model and rates (fixed when the hold
 * was made); the tokens count for the session current at the settle.
 */
export interface SettleResult {
  /**
   * `already_closed`: the same settle was recorded before (or the hold was
   * released and this is a release); nothing recorded again, the recorded
   * cost answered. `no_hold`: settle by operation found no open hold
   * (nothing recorded). A settle that disagrees with the recorded one throws
   * IDEMPOTENCY_CONFLICT (details.recorded).
   */
  outcome: 'settled' | 'already_closed' | 'no_hold';
  reservationId: string;
  costMicros: number;
  /** Tokens settled above the hold's estimate (0 when within it). */
  overrunTokens: number;
  /** Micro-dollars settled above the hold's cost (0 when within it). */
  overrunMicros: number;
  status: EngineStatus;
}

export interface ReleaseInput {
  reservationId: string;
  keyDigest?: string;
  actor: Actor;
}

export interface ReleaseResult {
  outcome: 'released' | 'already_closed';
  reservationId: string;
  status: EngineStatus;
}

export interface UsageInput {
  agentId: string;
  /**
   * The caller's id for this usage, made before it sends (absent: the engine
   * makes one). A second record with the same id answers the first; with
   * other values it throws IDEMPOTENCY_CONFLICT.
   */
  usageId?: string;
  operation?: string;
  inputTokens: number;
  outputTokens: number;
  rates: Rates;
  /** The usage's exact cost in micro-dollars, priced by trusted code; absent: the tokens at `rates`. */
  costMicros?: number;
  result: 'success' | 'failure';
  keyDigest?: string;
  actor: Actor;
  /** The budget alert thresholds (the policy's), for the agent's budgets and its pools'. Absent: none. */
  alerts?: AlertThresholds;
}

export interface UsageResult {
  costMicros: number;
  /** True when the usage id was recorded before: nothing counted again. */
  replayed: boolean;
  status: EngineStatus;
}
