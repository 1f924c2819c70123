import { Code, isPoolDenial } from '../codes.js';
import type { Profile } from '../profile.js';
import { agentRate, type Tat } from '../rate.js';
import { checkPools, type PoolCheck } from './pools.js';
import type { AgentRec, MemoryState } from './state.js';

/**
 * Shadow mode in MemoryEngine (docs/operations.md, "Shadow mode"): the twin of
 * lua/includes/shadow.lua. A denial of an agent whose role or id the profile
 * names in shadow is held as if allowed; AGENT_SUSPENDED (an operator's act)
 * never is. A rate limit that denies keeps its arrival time (as a denial
 * does); every limit that would pass counts the request.
 */

type Tats = { rTat: Tat; tTat: Tat };

/** Whether denial `code` of agent `agentId` (role `role`) is let pass by profile `p`. */
export function shadowApplies(p: Profile, role: string, agentId: string, code: number): boolean {
  if (code === Code.OK || code === Code.AGENT_SUSPENDED) return false;
  return p.shadowRoles.has(role) || p.shadowAgents.has(agentId);
}

/**
 * The checks denial `code` skipped (nothing is changed): after a budget's or
 * the role's denial, the agent's rate limits (`tats`: their new arrival times;
 * null when they deny or there are none: then the caller's stay); then, after
 * any of the agent's, each pool. `pools`: the pool check that denied, if one
 * did. `poolTats`: the arrival times of the levels below the one that denies,
 * if any (holdPools leaves the rest); null when the agent is in no pool.
 */
export function shadowRest(
  st: MemoryState,
  a: AgentRec,
  code: number,
  estimate: number,
  holdCost: number,
  pools: PoolCheck | null,
): { tats: Tats | null; poolTats: Tats[] | null } {
  if (isPoolDenial(code)) return { tats: null, poolTats: pools?.tats ?? null };
  let tats: Tats | null = null;
  if (code !== Code.RATE_REQUESTS && code !== Code.RATE_TOKENS && (a.rpm > 0 || a.tpm > 0)) {
    const r = agentRate(a, estimate, st.now);
    if (r.code === null) tats = { rTat: r.rTat, tTat: r.tTat };
  }
  const poolTats = a.pools.length > 0 ? checkPools(st, a.pools, holdCost, estimate).tats : null;
  return { tats, poolTats };
}
