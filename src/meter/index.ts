/**
 * Model calls metered at the wire (docs/models.md, "The fetch and the
 * gateway"): one metered call over a gate, given to the SDKs as a `fetch` and
 * served by the gateway.
 */
export { type MeterDeps, meterCall, type OutgoingCall } from './call.js';
export { type LazyTokenCounter, lazyTokenCounter } from './counter.js';
export { meteredApi, providerOf } from './endpoint.js';
export { createMeteredFetch, type MeteredFetchOptions } from './fetch.js';
export type { ModelCallHold, ModelCallSettle, ModelDecision, ModelGate } from './gate.js';
export { guardGate } from './guard-gate.js';
export { denialResponse, denialStatus, errorResponse } from './refusal.js';
