/**
 * The gate of the library's fetch and of the gateway: the Guard, in process,
 * which prices holds and settles with the policy's price table. The gateway
 * passes the caller's key digest, checked by the deciding script.
 */
import type { CallerKey, Guard } from '../guard/index.js';
import type { ModelGate } from './gate.js';

export function guardGate(guard: Guard, agentId: string, key: CallerKey = {}): ModelGate {
  return {
    authorize: (hold) => guard.authorizeModelCall(agentId, { ...hold, ...key }),
    settle: (reservationId, s) => guard.settleModelCall(reservationId, s, key),
    release: (reservationId) => guard.release(reservationId, key),
  };
}
