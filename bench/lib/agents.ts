import type { Tollgate } from '../../src/index.js';

/**
 * Registers the bench's agents, 250 at a time; on failure closes the Tollgate
 * (the bench owns it) and rethrows.
 */
export async function registerAgents(
  tollgate: Tollgate,
  ids: readonly string[],
  role: string,
  limits: { sessionTokenLimit?: number; dailyCostLimit?: number },
): Promise<void> {
  try {
    for (let i = 0; i < ids.length; i += 250) {
      await Promise.all(
        ids.slice(i, i + 250).map((id) => tollgate.identity.registerAgent(id, role, {}, limits)),
      );
    }
  } catch (err) {
    await tollgate.close();
    throw err;
  }
}
