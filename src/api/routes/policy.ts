import { isTollgateError, TollgateError } from '../../errors.js';
import { formatPath, type PolicyDoc, PolicyError, type PolicyWarning } from '../../policy/index.js';
import type { PolicyChangeResult, PolicyState } from '../../policy-store/index.js';
import { PublicDetailsError } from '../errors.js';
import { defineRoute, type Route } from '../route.js';
import {
  PolicyChangeQuery,
  PolicyChangeSchema,
  type PolicyChangeWire,
  PolicyDocument,
  PolicyRoleEntry,
  PolicyRoleParams,
  PolicyStateSchema,
  type PolicyStateWire,
  type PolicyWarningWire,
  ShadowAgentsRequest,
} from './policy.schemas.js';

/**
 * The policy changed at runtime (docs/policy.md, "Changing the policy at
 * runtime"): the version in force, a whole new document, one role. Admin
 * only. Stored in the durable store with its version and actor, audited
 * (`policy_changed`), applied at once here and by every other API process
 * within about a second (src/policy-store).
 */
const TAG = 'policy';

const iso = (ms: number) => new Date(ms).toISOString();

export function warningToWire(w: PolicyWarning): PolicyWarningWire {
  return { code: w.code, path: w.path, message: w.message };
}

function stateToWire(s: PolicyState): PolicyStateWire {
  return {
    version: s.version,
    source: s.source,
    set_by: s.setBy,
    set_at: s.setAt === null ? null : iso(s.setAt),
    file: s.file ?? null,
    policy: s.policy.doc as unknown as Record<string, unknown>,
    warnings: s.policy.warnings.map(warningToWire),
  };
}

function changeToWire(r: PolicyChangeResult): PolicyChangeWire {
  return {
    version: r.version,
    previous_version: r.previousVersion,
    changed: r.changed,
    dry_run: r.dryRun,
    changes: r.changes.map((c) => ({ ...c })),
    warnings: r.warnings.map(warningToWire),
    agents_updated: r.agentsUpdated,
    agents_failed: r.agentsFailed,
    pools: { created: [...r.pools.created], updated: [...r.pools.updated] },
  };
}

/**
 * A change's errors at the edge: the policy's problems, all of them, as 400
 * VALIDATION_FAILED `details.issues` (`path` within the body: `rename` maps a
 * document path to it); no store: 503 `{store: "not configured"}`.
 */
async function changing(
  p: Promise<PolicyChangeResult>,
  rename: (path: string) => string,
): Promise<PolicyChangeWire> {
  try {
    return changeToWire(await p);
  } catch (e) {
    if (e instanceof PolicyError) {
      throw new TollgateError('VALIDATION_FAILED', e.message, {
        issues: e.issues.map((i) => ({ path: rename(i.path), message: i.message })),
      });
    }
    if (
      isTollgateError(e) &&
      e.code === 'STORE_UNAVAILABLE' &&
      e.details?.store === 'not configured'
    ) {
      throw new PublicDetailsError('STORE_UNAVAILABLE', e.message, { store: 'not configured' });
    }
    // The store's own failures are STORE_UNAVAILABLE already (src/audit/store/db.ts mapDbError).
    throw e;
  }
}

const ERRORS = ['VALIDATION_FAILED', 'CONFLICT'] as const;

/** A change's options from its query (the actor: `admin`). */
function changeOptions(query: { expected_version?: number; dry_run?: boolean }) {
  return {
    actor: 'admin',
    ...(query.expected_version !== undefined ? { expectedVersion: query.expected_version } : {}),
    dryRun: query.dry_run === true,
  };
}

export const policyRoutes: Route[] = [
  defineRoute({
    method: 'get',
    path: '/v1/policy',
    auth: 'admin',
    tag: TAG,
    summary: 'The policy in force',
    description:
      'The merged document in force, its version (0: none set at runtime: the file the server started with, or the defaults), who set it and when, and its warnings (unknown operations in permissions, roles of the guide with no operation).',
    response: PolicyStateSchema,
    handler: ({ tollgate }) => stateToWire(tollgate.policies.get()),
  }),
  defineRoute({
    method: 'put',
    path: '/v1/policy',
    auth: 'admin',
    tag: TAG,
    summary: 'Set the whole policy',
    description: [
      'The body is a whole policy document, as a policy file (merged onto the built-in defaults, not onto the policy in force): roles, permissions, budgets, estimates, prices, pools. It is checked as a whole: every problem at once (400 VALIDATION_FAILED, `details.issues`, each with its `path` in the body), nothing applied. Declared pools that exist beneath another parent are problems too.',
      'A document equal to the one in force stores nothing (`changed: false`). Otherwise it is stored as the next version (who set it, when) with a `policy_changed` audit event, applies at once on this process and within about a second on every other one; its declared pools are created or updated, and the agents of a role whose limits changed take the new limits, except those they were given on their own (docs/policy.md, "Changing the policy at runtime").',
      '`expected_version`: the version the change is made on; another in force is 409 CONFLICT. `dry_run=true`: check and compare only. In Redis mode the server needs its durable store (DATABASE_URL), else 503.',
    ].join('\n\n'),
    query: PolicyChangeQuery,
    body: PolicyDocument,
    response: PolicyChangeSchema,
    errors: ERRORS,
    handler: ({ body, query, tollgate }) =>
      changing(tollgate.policies.set(body, changeOptions(query)), (path) =>
        path === '' ? 'body' : `body.${path}`,
      ),
  }),
  defineRoute({
    method: 'patch',
    path: '/v1/policy/roles/:role',
    auth: 'admin',
    tag: TAG,
    summary: 'Change one role of the policy',
    description:
      "The body's fields replace the role's in the policy in force (`permissions` and `models` replace the lists); a role the policy does not name is added, and needs `session_token_limit` and `daily_cost_limit`. Then as PUT /v1/policy: checked as a whole, stored as the next version, audited, applied everywhere.",
    params: PolicyRoleParams,
    query: PolicyChangeQuery,
    body: PolicyRoleEntry,
    response: PolicyChangeSchema,
    errors: ERRORS,
    handler: ({ params, body, query, tollgate }) => {
      const prefix = formatPath(['roles', params.role]);
      return changing(tollgate.policies.setRole(params.role, body, changeOptions(query)), (path) =>
        path === prefix
          ? 'params.role'
          : path.startsWith(`${prefix}.`)
            ? `body.${path.slice(prefix.length + 1)}`
            : path,
      );
    },
  }),
  defineRoute({
    method: 'put',
    path: '/v1/policy/shadow-agents',
    auth: 'admin',
    tag: TAG,
    summary: 'Set the agents in shadow mode',
    description:
      'The body\'s `agents` replace the policy\'s `shadow_agents` (the rest of the policy in force is kept): their denials, but a suspension, are let pass, held as allowed, audited with `would_deny` and counted as `would_deny` (docs/operations.md, "Shadow mode"). A role is put in shadow mode with PATCH /v1/policy/roles/:role `{"shadow": true}`. Then as PUT /v1/policy: stored as the next version, audited, applied everywhere.',
    query: PolicyChangeQuery,
    body: ShadowAgentsRequest,
    response: PolicyChangeSchema,
    errors: ERRORS,
    handler: ({ body, query, tollgate }) =>
      changing(
        tollgate.policies.set(
          (doc: PolicyDoc) => ({ ...doc, shadow_agents: body.agents }),
          changeOptions(query),
        ),
        (path) => (path.startsWith('shadow_agents') ? `body.agents${path.slice(13)}` : path),
      ),
  }),
];
