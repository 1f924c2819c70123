/**
 * The SDK's metered fetch (docs/models.md, "The fetch and the gateway"): the
 * same metered call as the library's, whose gate is the HTTP API. The server
 * prices the hold and the settle with its policy's price table; this process
 * only counts the request's tokens (offline) and reads the usage.
 */
import type { AuthorizeBody, SettleBody } from '../api/routes/gate.schemas.js';
import type { ModelGate } from '../meter/gate.js';

/** What the gate needs of the SDK: its gate routes. */
export interface GateRoutes {
  authorize(body: AuthorizeBody): Promise<unknown>;
  settle(body: SettleBody): Promise<unknown>;
  release(reservationId: string): Promise<unknown>;
}

export function httpGate(client: GateRoutes, agentId: string): ModelGate {
  return {
    authorize: async (h) =>
      (await client.authorize({
        agent_id: agentId,
        operation: 'model_call',
        model: h.model,
        hold: {
          input_tokens: h.inputTokens,
          ...(h.outputTokens === undefined ? {} : { output_tokens: h.outputTokens }),
          ...(h.choices === undefined || h.choices === 1 ? {} : { choices: h.choices }),
          cache_write: h.cacheWrite,
        },
      })) as Awaited<ReturnType<ModelGate['authorize']>>,
    settle: (reservationId, s) =>
      client.settle({
        reservation_id: reservationId,
        model: s.model,
        input_tokens: s.usage.inputTokens,
        output_tokens: s.usage.outputTokens,
        cache_read_tokens: s.usage.cacheReadTokens,
        cache_write_tokens: s.usage.cacheWriteTokens,
        ...(s.usage.cacheWrite1hTokens === undefined
          ? {}
          : { cache_write_1h_tokens: s.usage.cacheWrite1hTokens }),
        ...(s.usage.reasoningTokens === undefined
          ? {}
          : { reasoning_tokens: s.usage.reasoningTokens }),
        estimated: s.estimated,
        result: s.result,
      }),
    release: (reservationId) => client.release(reservationId),
  };
}
