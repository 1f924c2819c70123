import { Code, notReady, unexpected } from '../../codes.js';
import { indexKey } from '../../keys.js';
import type { AgentSnapshot } from '../../types.js';
import { storeErrors } from '../store-errors.js';
import { type OpContext, type ReplyValue, text } from './context.js';

/** Every agent with its status, all shards read in parallel, sorted by agent id. */
export async function listAgents(ctx: OpContext): Promise<AgentSnapshot[]> {
  const shards = Array.from({ length: ctx.shards }, (_, s) => s);
  const replies = await Promise.all(shards.map((s) => listShard(ctx, s)));
  const out: AgentSnapshot[] = [];
  for (const r of replies) {
    // { nowMs, agentId, createdMs, metadata, state, agentId, … } (lua/listAgents-1.lua)
    const now = r[0];
    for (let j = 1; j + 3 < r.length; j += 4) {
      out.push({
        status: ctx.status(text(r[j]), r[j + 3], now),
        createdMs: Number(r[j + 1]),
        metadata: text(r[j + 2]),
      });
    }
  }
  return out.sort((a, b) => a.status.agentId.localeCompare(b.status.agentId));
}

/** lua/listAgents-1.lua for one shard; a shard without its ready marker is restored first. */
async function listShard(ctx: OpContext, shard: number): Promise<ReplyValue[]> {
  const list = () => ctx.run('listAgents', [indexKey(shard)], [ctx.offsetMs]);
  const r = (await list()) as ReplyValue[] | number;
  if (typeof r !== 'number') return r;
  if (r !== Code.SHARD_NOT_READY) throw unexpected('listAgents', r);
  await storeErrors(ctx.recover(shard));
  const again = (await list()) as ReplyValue[] | number;
  if (typeof again === 'number') throw notReady(shard);
  return again;
}
