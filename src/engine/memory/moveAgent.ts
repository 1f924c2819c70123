import { Code, failure } from '../codes.js';
import type { Actor, AgentSnapshot } from '../types.js';
import { checkAgentId, checkPoolId } from '../validate.js';
import { statusNow } from './getStatus.js';
import { freeExpired } from './leases.js';
import { movedEvent, type PoolRec } from './pools.js';
import { type MemoryState, saveCounters } from './state.js';

/**
 * moveAgent (lua/moveAgent-*.lua within a shard; across shards the steps of
 * src/engine/redis/ops/moveAgent.ts): puts the agent in `poolId` (null: in no
 * pool). Its open holds stay charged to the pools they were made under and
 * settle there, on whatever shard they are (as Redis does with the pool parts
 * a move to another shard leaves behind: lua/includes/left.lua). An agent
 * lives on its pool hierarchy's shard (its own id's when in no pool), as on
 * Redis. The pool it is in already: nothing written.
 */
export function moveAgent(
  st: MemoryState,
  agentId: string,
  poolId: string | null,
  actor: Actor,
): AgentSnapshot {
  checkAgentId(agentId);
  if (poolId !== null) checkPoolId(poolId);
  st.tick();
  const sc = st.scopes.get(agentId);
  const a = sc?.agent;
  if (!sc || !a) throw failure(Code.AGENT_NOT_FOUND, { op: 'moveAgent', agentId });
  let to: PoolRec | undefined;
  if (poolId !== null) {
    to = st.pools.get(poolId);
    if (to === undefined) throw failure(Code.POOL_NOT_FOUND, { op: 'moveAgent', agentId, poolId });
  }
  const from = a.pools[0] ?? '';
  const snapshot = (replayed: boolean): AgentSnapshot => ({
    status: statusNow(st, sc, a),
    createdMs: a.created,
    metadata: a.meta,
    replayed,
  });
  if (from === (poolId ?? '')) return snapshot(true);

  const shard = to === undefined ? st.shardOf(agentId) : st.shardOf(to.root);
  const tail = st.rnd.eventTailBits();
  let n = 0;
  if (shard !== sc.shard) {
    n = freeExpired(st, sc, a, tail, 0);
    if (st.dirty) saveCounters(a);
  }
  const old = from === '' ? undefined : st.pools.get(from);
  if (old !== undefined) old.agents -= 1;
  if (to !== undefined) to.agents += 1;
  a.pools = to?.chain ?? [];
  st.moveToShard(sc, shard);
  movedEvent(st, shard, tail, n, agentId, poolId ?? '', from, actor);
  return snapshot(false);
}
