import type { Actor, AgentSnapshot, Engine, EngineStatus, UpdateInput } from '../engine/types.js';
import { isTollgateError } from '../errors.js';
import { type Policy, type PolicyWarning, unknownRoleWarning } from '../policy/index.js';

/**
 * What a policy change does to the agents already registered (docs/policy.md,
 * "Changing the policy at runtime"). Permissions, estimates and prices are
 * read from the policy at each decision, so they apply at once; an agent's
 * limits are stored with it (at registration, or when given a role), so a
 * role's new limits are written here to each agent of the role that follows
 * the role, field by field: a limit equal to the old role's is the role's and
 * takes the new value; a limit that differs was set for the agent (PUT
 * /v1/agents/:id/budget) and is kept.
 */

/** The limits an agent takes from its role, as the engine stores them. */
type RoleLimits = Required<
  Pick<
    UpdateInput['set'],
    | 'sessionTokenLimit'
    | 'dailyLimitMicros'
    | 'requestsPerMinute'
    | 'tokensPerMinute'
    | 'monthlyLimitMicros'
    | 'timeZone'
  >
>;

const LIMIT_FIELDS = [
  'sessionTokenLimit',
  'dailyLimitMicros',
  'requestsPerMinute',
  'tokensPerMinute',
  'monthlyLimitMicros',
  'timeZone',
] as const satisfies readonly (keyof RoleLimits & keyof EngineStatus)[];

function roleLimits(p: Policy, role: string): RoleLimits {
  const budget = p.roleBudget(role);
  const rates = p.roleRates(role);
  const periods = p.rolePeriods(role);
  return {
    sessionTokenLimit: budget.sessionTokenLimit,
    dailyLimitMicros: budget.dailyCostLimitMicros,
    requestsPerMinute: rates.requestsPerMinute,
    tokensPerMinute: rates.tokensPerMinute,
    monthlyLimitMicros: periods.monthlyLimitMicros,
    timeZone: periods.timeZone,
  };
}

/** The roles (the `default` role's stand-ins included) whose limits differ between two policies. */
export function rolesWithNewLimits(
  before: Policy,
  after: Policy,
  roles: Iterable<string>,
): Set<string> {
  const out = new Set<string>();
  for (const role of roles) {
    const a = roleLimits(before, role);
    const b = roleLimits(after, role);
    if (LIMIT_FIELDS.some((f) => a[f] !== b[f])) out.add(role);
  }
  return out;
}

/** What an agent of its role takes from the new policy: the fields that still equal the old role's. */
export function followedLimits(
  status: EngineStatus,
  before: Policy,
  after: Policy,
): Partial<RoleLimits> {
  const a = roleLimits(before, status.role);
  const b = roleLimits(after, status.role);
  const set: Partial<RoleLimits> = {};
  for (const f of LIMIT_FIELDS) {
    if (a[f] !== b[f] && status[f] === a[f]) (set as Record<string, unknown>)[f] = b[f];
  }
  return set;
}

export interface AgentsOutcome {
  /** Agents whose limits were written (one `limits_changed` event each). */
  updated: number;
  /** Agents whose role the new policy does not name (one warning per role). */
  warnings: PolicyWarning[];
  /** Agents that could not be updated (deleted meanwhile: skipped; anything else: counted here). */
  failed: number;
}

/** At most this many agent writes in flight. */
const CONCURRENCY = 16;

/**
 * Applies a policy change to the registered agents: each agent of a role whose
 * limits changed takes the new limits it follows (followedLimits), in one
 * `limits_changed` write (actor: `actor`); and every role held by agents that
 * the new policy does not name is warned about, with how many hold it. Reads
 * the agents only when a role's limits changed or a role went away.
 */
export async function applyToAgents(
  engine: Engine,
  before: Policy,
  after: Policy,
  actor: Actor,
): Promise<AgentsOutcome> {
  const outcome: AgentsOutcome = { updated: 0, warnings: [], failed: 0 };
  const known = new Set(after.knownRoles());
  const gone = before.knownRoles().some((r) => !known.has(r));
  const changedDefault = rolesWithNewLimits(before, after, ['default']).size > 0;
  const changed = rolesWithNewLimits(before, after, before.knownRoles());
  if (!gone && !changedDefault && changed.size === 0) return outcome;

  const agents: AgentSnapshot[] = await engine.listAgents();
  const unknown = new Map<string, number>();
  const work: { agentId: string; set: Partial<RoleLimits> }[] = [];
  for (const { status } of agents) {
    if (!known.has(status.role)) unknown.set(status.role, (unknown.get(status.role) ?? 0) + 1);
    const set = followedLimits(status, before, after);
    if (Object.keys(set).length > 0) work.push({ agentId: status.agentId, set });
  }
  for (const [role, count] of [...unknown].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const w = unknownRoleWarning(role, after.knownRoles(), `agents[role=${role}]`);
    outcome.warnings.push({
      ...w,
      message: `${count} registered agent${count === 1 ? '' : 's'}: ${w.message}`,
    });
  }
  let next = 0;
  const run = async () => {
    while (next < work.length) {
      const item = work[next++] as (typeof work)[number];
      try {
        await engine.updateAgent({
          agentId: item.agentId,
          event: 'limits_changed',
          set: item.set,
          actor,
        });
        outcome.updated++;
      } catch (e) {
        // Deleted since it was listed: nothing to update.
        if (isTollgateError(e) && e.code === 'NOT_FOUND') continue;
        outcome.failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, work.length) }, run));
  return outcome;
}
