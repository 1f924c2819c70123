import type { z } from 'zod';
import type { AuditLagWire, AuditPageWire } from '../api/routes/audit.schemas.js';
import type {
  HealthSchema,
  OpenApiDocumentSchema,
  ReadySchema,
} from '../api/routes/health.schemas.js';
import type {
  PolicyChangeSchema,
  PolicyDocument,
  PolicyFieldChangeSchema,
  PolicyRoleEntry,
  PolicyStateSchema,
  PolicyWarningSchema,
} from '../api/routes/policy.schemas.js';
import type {
  CreateWebhookRequest,
  DeadLetterListSchema,
  DeletedWebhookSchema,
  RetriedDeadLetterSchema,
  WebhookListSchema,
  WebhookSchema,
} from '../api/routes/webhooks.schemas.js';

/**
 * The SDK's types are the API's schemas' (src/api/routes/*.schemas.ts): what
 * a route parses (`z.input`) and what it answers (`z.output`).
 */

export type {
  AgentList,
  AgentRecord,
  AgentWithKey,
  DeletedAgent,
  RegisterAgentBody,
  UpdateAgentBody,
  Verification,
} from '../api/routes/agents.schemas.js';
export type { SpendWire as Spend } from '../api/routes/audit.schemas.js';
export type {
  Dashboard,
  DashboardHistory,
  DashboardSpend,
  SessionStarted,
  SessionSummary,
  SetLimitsBody,
} from '../api/routes/budget.schemas.js';
export type {
  AuthorizeBody,
  Decision,
  ReleaseAnswer,
  SettleAnswer,
  SettleBody,
  UsageAnswer,
  UsageBody,
} from '../api/routes/gate.schemas.js';
export type {
  CreatePoolBody,
  DeletedPool,
  PoolDetail,
  PoolList,
  PoolRecord,
  UpdatePoolBody,
} from '../api/routes/pools.schemas.js';
export type { BudgetStatus } from '../api/routes/shared.schemas.js';

export type AuditPage = AuditPageWire;
export type AuditEntry = AuditPageWire['events'][number];
export type AuditLag = AuditLagWire;
export type Health = z.output<typeof HealthSchema>;
export type Readiness = z.output<typeof ReadySchema>;
export type OpenApiDocument = z.output<typeof OpenApiDocumentSchema>;
export type CreateWebhookBody = z.input<typeof CreateWebhookRequest>;
export type Webhook = z.output<typeof WebhookSchema>;
export type WebhookList = z.output<typeof WebhookListSchema>;
export type DeletedWebhook = z.output<typeof DeletedWebhookSchema>;
export type DeadLetterList = z.output<typeof DeadLetterListSchema>;
export type RetriedDeadLetter = z.output<typeof RetriedDeadLetterSchema>;
export type PolicyState = z.output<typeof PolicyStateSchema>;
export type PolicyWarning = z.output<typeof PolicyWarningSchema>;
export type PolicyChange = z.output<typeof PolicyChangeSchema>;
export type PolicyFieldChange = z.output<typeof PolicyFieldChangeSchema>;
export type PolicyDocumentBody = z.input<typeof PolicyDocument>;
export type PolicyRoleBody = z.input<typeof PolicyRoleEntry>;
