/**
 * What one RedisEngine remembers of where things are (docs/engine.md, "Where
 * an agent lives"): the shard of each agent that lives away from its home
 * shard (an agent in a pool lives on its hierarchy's root's shard), and each
 * pool's root. Learnt from the scripts' answers (ELSEWHERE, findPool-1),
 * bounded (cleared past `max` entries), and never trusted: a stale entry
 * meets AGENT_NOT_FOUND or POOL_NOT_FOUND with nothing written, is dropped,
 * and the call is made again from the home shard (ops/locate.ts).
 */
export class Whereabouts {
  private readonly agents = new Map<string, number>();
  private readonly roots = new Map<string, string>();

  constructor(private readonly max = 100_000) {}

  /** The shard the agent was last seen on away from home, if any. */
  shardOf(agentId: string): number | undefined {
    return this.agents.size === 0 ? undefined : this.agents.get(agentId);
  }

  /** The agent lives on `shard` (its home shard: nothing to remember). */
  learn(agentId: string, shard: number, home: number): void {
    if (shard === home) {
      this.agents.delete(agentId);
      return;
    }
    if (this.agents.size >= this.max) this.agents.clear();
    this.agents.set(agentId, shard);
  }

  forget(agentId: string): void {
    this.agents.delete(agentId);
  }

  rootOf(poolId: string): string | undefined {
    return this.roots.get(poolId);
  }

  learnRoot(poolId: string, rootId: string): void {
    if (this.roots.size >= this.max) this.roots.clear();
    this.roots.set(poolId, rootId);
  }

  forgetRoot(poolId: string): void {
    this.roots.delete(poolId);
  }
}
