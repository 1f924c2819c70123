/**
 * What the benchmark does through the library, for either engine: register
 * the agents, then "authorize" (checkPermission) and "pair" (checkPermission
 * then recordOperation with its reservation id), round-robin over the agents.
 */
import { createTollgate, type Tollgate, type TollgateOptions } from '../../src/index.js';
import { registerAgents } from '../lib/agents.js';
import { agentIds, CONFIG } from './config.js';

export interface GuardLoad {
  tollgate: Tollgate;
  agents: string[];
  authorize(seq: number): Promise<void>;
  pair(seq: number): Promise<void>;
}

export async function setupTollgate(opts: TollgateOptions): Promise<GuardLoad> {
  const tollgate = await createTollgate(opts);
  const agents = agentIds();
  await registerAgents(tollgate, agents, CONFIG.role, CONFIG.limits);
  const { guard } = tollgate;
  const n = agents.length;
  const context = { estimatedTokens: CONFIG.estimatedTokens };

  const authorizeOnce = async (agentId: string) => {
    const d = await guard.checkPermission(agentId, CONFIG.operation, context);
    if (!d.allowed) throw new Error(`authorize denied for ${agentId}: ${d.error_code} ${d.reason}`);
    return d.reservation_id;
  };

  return {
    tollgate,
    agents,
    async authorize(seq) {
      await authorizeOnce(agents[seq % n] as string);
    },
    async pair(seq) {
      const agentId = agents[seq % n] as string;
      const reservationId = await authorizeOnce(agentId);
      const r = await guard.recordOperation(
        agentId,
        CONFIG.operation,
        CONFIG.usage,
        'success',
        reservationId,
      );
      if (r.outcome !== 'settled') throw new Error(`settle of ${reservationId}: ${r.outcome}`);
    },
  };
}
