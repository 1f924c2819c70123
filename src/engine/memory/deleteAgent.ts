import { Code, failure } from '../codes.js';
import type { Actor, EngineStatus } from '../types.js';
import { checkAgentId } from '../validate.js';
import { stateEvent } from './events.js';
import { statusNow } from './getStatus.js';
import { closePools } from './pools.js';
import type { MemoryState } from './state.js';

/**
 * deleteAgent-4.lua: remove the agent with everything kept under it: its
 * leases, its reservations (open or closed), request ids and usage ids (an
 * agent registered again under the id starts clean). The day's spend stays
 * until it expires. Returns the last state (expired leases not freed).
 */
export function deleteAgent(st: MemoryState, agentId: string, actor: Actor): EngineStatus {
  checkAgentId(agentId);
  st.tick();
  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  if (!sc || !a) throw failure(Code.AGENT_NOT_FOUND, { op: 'deleteAgent', agentId });
  // Its holds go with it: what they hold under pools is freed there; it leaves its pool.
  for (const r of sc.leases) {
    if (r.st === 'open' && r.pools.length > 0) closePools(st, r.pools, r.cost, true, 0, null);
  }
  const pool = a.pools.length > 0 ? st.pools.get(a.pools[0] as string) : undefined;
  if (pool !== undefined) pool.agents -= 1;

  sc.res.clear();
  sc.req.clear();
  sc.use.clear();
  sc.leases = [];
  sc.agent = null;
  st.removeFromIndex(sc);
  stateEvent(st, sc.shard, st.rnd.eventTailBits(), 0, 'agent_deleted', agentId, a, actor);
  const status = statusNow(st, sc, a);
  st.dropIfEmpty(sc);
  return status;
}
