import { z } from 'zod';
import { MAX_SHADOW_AGENTS } from '../../engine/validate.js';
import { AgentId, isoTime, named, Role } from './shared.schemas.js';

/** The schemas of the policy routes (routes/policy.ts): the policy in force, changed at runtime. */

export const PolicyWarningSchema = named(
  'PolicyWarning',
  z
    .strictObject({
      code: z
        .enum(['unknown_operation', 'no_operations', 'unknown_role'])
        .describe(
          '`unknown_operation`: a permission names an operation no `operations` entry names (a typo?); `no_operations`: a role of the integration guide that may run no operation but `model_call`; `unknown_role`: a role the policy does not name (its agents get the `default` budget and no permissions).',
        ),
      path: z.string().describe('Where: the field of the policy, or of the request.'),
      message: z.string().describe('What, by name, with the nearest known name.'),
    })
    .describe('A warning never refuses anything (docs/policy.md, "Warnings").'),
);

// ── requests ───────────────────────────────────────────────────────────────

export const PolicyDocument = named(
  'PolicyDocument',
  z
    .record(z.string(), z.unknown())
    .describe(
      'A policy document, as a policy file (docs/policy.md, "The file"), in JSON: merged onto the built-in defaults, checked as a whole. GET /v1/policy\'s `policy` can be sent back as it is.',
    ),
);

export const PolicyRoleEntry = named(
  'PolicyRoleEntry',
  z
    .record(z.string(), z.unknown())
    .describe(
      'A role\'s fields, as `roles.<role>` of a policy file: those given replace the role\'s (`permissions` and `models` replace the lists); a role the policy does not name needs `session_token_limit` and `daily_cost_limit`. `shadow: true` puts the role in shadow mode (docs/operations.md, "Shadow mode").',
    ),
);

export const PolicyChangeQuery = z.strictObject({
  expected_version: z
    .string()
    .regex(/^\d{1,9}$/, { message: 'expected a version number' })
    .transform(Number)
    .optional()
    .describe(
      "The version the change is made on (GET /v1/policy's `version`): when another version is in force, 409 CONFLICT and nothing changes.",
    ),
  dry_run: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional()
    .describe(
      '`true`: check and compare only (every problem, the changes, the warnings); nothing changes.',
    ),
});

export const PolicyRoleParams = z.strictObject({ role: Role });

export const ShadowAgentsRequest = named(
  'ShadowAgentsRequest',
  z.strictObject({
    agents: z
      .array(AgentId)
      .max(MAX_SHADOW_AGENTS)
      .describe(
        `The agents in shadow mode, by id (at most ${MAX_SHADOW_AGENTS}): the policy's \`shadow_agents\`, replaced whole; [] for none. Their denials (but a suspension) are let pass, audited and counted as \`would_deny\` (docs/operations.md, "Shadow mode").`,
      ),
  }),
);

// ── answers ────────────────────────────────────────────────────────────────

export const PolicyStateSchema = named(
  'PolicyState',
  z.strictObject({
    version: z
      .number()
      .int()
      .describe('The version in force; 0: none was set at runtime (the file or the defaults).'),
    source: z
      .enum(['runtime', 'file', 'options', 'defaults'])
      .describe(
        '`runtime`: a version set at runtime, kept in the store (it wins over the file at startup); `file`: the policy file the server started with; `options`: given to createTollgate; `defaults`: the built-in defaults.',
      ),
    set_by: z
      .string()
      .describe("Who set it: `admin` through the API, the library's actor; else the source."),
    set_at: isoTime.nullable().describe('When it was set; null when not set at runtime.'),
    file: z.string().nullable().describe('The policy file the server started with, if any.'),
    policy: z
      .record(z.string(), z.unknown())
      .describe('The merged document in force (snake_case, as a policy file).'),
    warnings: z.array(PolicyWarningSchema),
  }),
);

export const PolicyFieldChangeSchema = z.strictObject({
  path: z
    .string()
    .describe('The field, dotted (`roles.coder.daily_cost_limit`); a list is one field.'),
  before: z.unknown().optional().describe('Its value before; absent: the field is new.'),
  after: z.unknown().optional().describe('Its value after; absent: the field is gone.'),
});

export const PolicyChangeSchema = named(
  'PolicyChange',
  z.strictObject({
    version: z.number().int().describe('The version in force after the change.'),
    previous_version: z.number().int().describe('The version the change was made on.'),
    changed: z
      .boolean()
      .describe('False for a dry run, or a document equal to the one in force (nothing stored).'),
    dry_run: z.boolean(),
    changes: z
      .array(PolicyFieldChangeSchema)
      .describe('The fields that differ from the version it was made on.'),
    warnings: z.array(PolicyWarningSchema),
    agents_updated: z
      .number()
      .int()
      .describe(
        "Agents of a role whose limits changed that took the new limits (those of their limits still equal to the role's old ones); one `limits_changed` event each.",
      ),
    agents_failed: z
      .number()
      .int()
      .describe('Agents that could not be updated (the engine failed): they keep their limits.'),
    pools: z
      .strictObject({ created: z.array(z.string()), updated: z.array(z.string()) })
      .describe("The declared pools created or updated to the document's settings."),
  }),
);

export type PolicyStateWire = z.output<typeof PolicyStateSchema>;
export type PolicyChangeWire = z.output<typeof PolicyChangeSchema>;
export type PolicyWarningWire = z.output<typeof PolicyWarningSchema>;
