import { Code, failure } from '../../codes.js';
import { agentZone } from '../../periods.js';
import type { AgentSnapshot, UpdateInput } from '../../types.js';
import { checkUpdate } from '../../validate.js';
import type { OpContext } from './context.js';
import { runLocated } from './locate.js';
import { snapshotOf } from './registerAgent.js';

/** UpdateInput's fields and their names in lua/updateAgent-2.lua (ARGV pairs). */
const FIELDS = {
  role: 'role',
  status: 'status',
  sessionTokenLimit: 's_limit',
  dailyLimitMicros: 'd_limit',
  requestsPerMinute: 'rpm',
  tokensPerMinute: 'tpm',
  monthlyLimitMicros: 'm_limit',
  keyDigest: 'digest',
  metadata: 'meta',
} as const;

/**
 * Changes an agent's role, status, limits, key digest or metadata
 * (lua/updateAgent-2.lua); setting what is set changes nothing (`replayed`).
 */
export async function updateAgent(ctx: OpContext, i: UpdateInput): Promise<AgentSnapshot> {
  checkUpdate(i);
  const pairs: (string | number)[] = [];
  for (const [name, field] of Object.entries(FIELDS)) {
    const v = i.set[name as keyof typeof FIELDS];
    if (v !== undefined) pairs.push(field, v);
  }
  // The zone goes as its offsets' text, written now (src/engine/periods.ts zoneTextAt).
  if (i.set.timeZone !== undefined) {
    pairs.push('zone', agentZone(i.set.timeZone, Date.now() + Number(ctx.offsetMs)).text);
  }
  const r = await runLocated(ctx, i.agentId, 'updateAgent', (k) => [k.agent, k.outbox], [
    ctx.offsetMs,
    i.agentId,
    i.event,
    ctx.rnd.eventTail(),
    i.actor,
    ...pairs,
  ]);
  if (r[0] !== Code.OK) throw failure(Number(r[0]), { op: 'updateAgent', agentId: i.agentId });
  return snapshotOf(ctx, i.agentId, r);
}
