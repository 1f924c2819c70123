import type { AgentSnapshot } from '../types.js';
import { statusNow } from './getStatus.js';
import type { MemoryState } from './state.js';

/** listAgents-1.lua over every shard: a read, no lease is freed. Sorted by agent id. */
export function listAgents(st: MemoryState): AgentSnapshot[] {
  st.tick();
  const out: AgentSnapshot[] = [];
  for (const ids of st.index) {
    for (const id of ids) {
      const sc = st.scopes.get(id);
      const a = sc?.agent;
      if (!sc || !a) continue;
      out.push({ status: statusNow(st, sc, a), createdMs: a.created, metadata: a.meta });
    }
  }
  return out.sort((x, y) => x.status.agentId.localeCompare(y.status.agentId));
}
