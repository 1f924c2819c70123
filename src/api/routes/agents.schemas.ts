import { z } from 'zod';
import { API_KEY, agentOfKey } from '../../identity/api-key.js';
import { PolicyWarningSchema } from './policy.schemas.js';
import {
  AgentId,
  BudgetStatusSchema,
  isoTime,
  MonthlyCostLimit,
  named,
  PerMinute,
  PoolId,
  Role,
  TimeZone,
} from './shared.schemas.js';

/** The schemas of the agents routes (routes/agents.ts): registry and lifecycle. */

export const ApiKey = z
  .string()
  .max(111)
  .regex(API_KEY)
  .describe(
    'An agent key made by the caller, shaped as the server makes them: `tg_<agent_id>.<secret>`, the secret 256 random bits in base64url (43 characters, no padding).',
  );

const METADATA_MAX_CHARS = 16_384;
const METADATA_MAX_DEPTH = 8;

/** Depth of a parsed JSON value, iteratively (a hostile body cannot overflow the stack). */
function depthExceeds(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (d > max) return true;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return false;
}

export const Metadata = z
  .record(z.string().max(128), z.unknown())
  .superRefine((v, ctx) => {
    if (depthExceeds(v, METADATA_MAX_DEPTH)) {
      ctx.addIssue({ code: 'custom', message: `nested deeper than ${METADATA_MAX_DEPTH} levels` });
      return;
    }
    if (JSON.stringify(v).length > METADATA_MAX_CHARS) {
      ctx.addIssue({
        code: 'custom',
        message: `larger than ${METADATA_MAX_CHARS} characters as JSON`,
      });
    }
  })
  .describe(
    `Free-form JSON object (at most ${METADATA_MAX_CHARS} characters, ${METADATA_MAX_DEPTH} levels).`,
  );

// ── requests ───────────────────────────────────────────────────────────────

export const ListAgentsQuery = z.strictObject({
  role: Role.optional().describe('Only agents of this role.'),
  status: z.enum(['active', 'suspended']).optional().describe('Only agents in this status.'),
  pool_id: PoolId.optional().describe('Only agents directly in this pool.'),
});

export const RegisterAgentRequest = named(
  'RegisterAgentRequest',
  z
    .strictObject({
      agent_id: AgentId,
      role: Role,
      metadata: Metadata.optional(),
      api_key: ApiKey.optional().describe(
        'The agent key, made by the caller (default: the server makes one). Only its digest is stored. A registration sent again with the same key answers the same agent (201, the same body) and writes nothing; so a retry is safe.',
      ),
      time_zone: TimeZone.optional().describe(
        "IANA time zone of the agent's day and month (docs/limits.md); default: the role's (`UTC`).",
      ),
      monthly_cost_limit: MonthlyCostLimit.describe(
        "USD per month, local to the agent's time zone; 0: none; default: the role's.",
      ),
      requests_per_minute: PerMinute.describe(
        "Authorizes per minute (docs/limits.md); 0: none; default: the role's.",
      ),
      tokens_per_minute: PerMinute.describe(
        "Tokens held per minute, corrected by settles (docs/limits.md); 0: none; default: the role's.",
      ),
      pool_id: PoolId.optional().describe(
        'The pool the agent joins (docs/limits.md, "Pools"); it must exist (else 404, nothing written). Default: none.',
      ),
    })
    .superRefine((v, ctx) => {
      if (v.api_key !== undefined && agentOfKey(v.api_key) !== v.agent_id) {
        ctx.addIssue({ code: 'custom', path: ['api_key'], message: 'names another agent' });
      }
    }),
);

export const UpdateAgentRequest = named(
  'UpdateAgentRequest',
  z
    .strictObject({
      role: Role.optional().describe(
        'The new role: the agent takes its permissions and its limits (session, daily, rate, monthly, time zone) from the policy, as a registration does; limits set with PUT /v1/agents/:id/budget are replaced.',
      ),
      metadata: Metadata.optional().describe('Replaces the metadata as a whole (not merged).'),
    })
    .refine((v) => v.role !== undefined || v.metadata !== undefined, {
      message: 'give role or metadata',
    }),
);

// ── answers ────────────────────────────────────────────────────────────────

export const AgentRecordSchema = named(
  'AgentRecord',
  z.strictObject({
    agent_id: z.string(),
    role: z.string(),
    pool_id: z.string().nullable().describe('The pool the agent is in; null: none.'),
    status: z.enum(['active', 'suspended']),
    permissions: z.array(z.string()),
    session_id: z.string(),
    created_at: isoTime,
    metadata: z.record(z.string(), z.unknown()),
    warnings: z
      .array(PolicyWarningSchema)
      .optional()
      .describe(
        'Registration or a role change with a role the policy does not name (`unknown_role`): the agent gets the `default` role\'s budget and no permissions (docs/policy.md, "Unknown roles"). Absent otherwise.',
      ),
  }),
);

export const AgentWithKeySchema = named(
  'AgentWithKey',
  AgentRecordSchema.extend({
    api_key: z.string().describe('The agent key. Shown only in this response: keep it.'),
  }),
);

export const AgentListSchema = named(
  'AgentList',
  z.strictObject({ agents: z.array(AgentRecordSchema) }),
);

export const VerifySchema = named(
  'Verification',
  z.strictObject({ valid: z.boolean(), reason: z.string().nullable() }),
);

export const DeletedSchema = named(
  'DeletedAgent',
  z.strictObject({
    agent_id: z.string(),
    deleted: z.literal(true),
    budget_status: BudgetStatusSchema,
  }),
);

/** An agent as the API shows it (never its key's digest). */
export type AgentRecord = z.output<typeof AgentRecordSchema>;
/** An agent record with its key: only the answers of registration and key rotation. */
export type AgentWithKey = z.output<typeof AgentWithKeySchema>;
export type AgentList = z.output<typeof AgentListSchema>;
export type Verification = z.output<typeof VerifySchema>;
export type DeletedAgent = z.output<typeof DeletedSchema>;
export type RegisterAgentBody = z.input<typeof RegisterAgentRequest>;
export type UpdateAgentBody = z.input<typeof UpdateAgentRequest>;
